"""Reliability end to end: a misbehaving API server during remediation, and an operator
stopped in the middle of an action and replaced by a new one on the same ledger."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from pathlib import Path
from typing import Any

import pytest

import kubeheal.actions
from kubeheal.clients.kube import KubeConnection
from kubeheal.config import Settings
from kubeheal.engine.playbooks import load_builtin_playbooks
from kubeheal.runtime.operator import Operator, OperatorEvent, OperatorOptions
from kubeheal.store import Ledger
from kubeheal.store import records as rec

RESOLVED = rec.IncidentState.RESOLVED


def _second_workload(r: Any) -> dict[str, Any]:
    """A two-replica Deployment `web` in demo without a PodDisruptionBudget."""
    dep = copy.deepcopy(r.deployment())
    spec = dep["spec"]
    spec["replicas"] = 2
    spec["selector"] = {"matchLabels": {"app": "web"}}
    spec["template"]["metadata"]["labels"] = {"app": "web"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "demo", "labels": {"app": "web"}},
        "spec": spec,
    }


async def test_no_incident_missed_while_the_api_drops_watches_compacts_and_fails(kh: Any) -> None:
    # web is created during the test: its PDB without the grace period a new workload waits
    settings = Settings.model_validate({"detection": {"missing_pdb_grace": "0s"}})
    async with kh.run(settings=settings) as r:
        twin = r.h.twin
        web = _second_workload(r)  # built from sample-app's good template
        twin.api_faults.configure(error_rate=0.3)
        stop = asyncio.Event()

        async def chaos() -> None:
            rounds = 0
            while not stop.is_set():
                twin.store.drop_watches()
                if rounds % 2 == 0:
                    twin.store.compact()
                rounds += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.4)

        chaos_task = asyncio.create_task(chaos())
        try:
            # two problems on two targets while the API misbehaves
            r.create("deployments", web)
            r.inject(kh.BAD_ROLLOUT)
            sample = await r.until(r.closed, what="sample-app's incident to close", timeout=40)
            other = await r.until(
                lambda: r.closed("web"), what="web's incident to close", timeout=40
            )
        finally:
            stop.set()
            await chaos_task
            twin.api_faults.reset()
        assert twin.api_faults.errors_injected > 10
        health = r.h.operator.health()
        assert sum(h["relists_after_gone"] for h in health.values()) > 0, health
        # both healed, each exactly once
        assert sample.state is RESOLVED and sample.resolution is rec.Resolution.AUTO, r.describe()
        assert other.state is RESOLVED and other.resolution is rec.Resolution.AUTO, r.describe()
        assert [a.action for a in r.actions(sample)] == ["rollback_deployment"]
        assert [a.action for a in r.actions(other)] == ["create_pdb"]
        assert len(r.incidents()) == 1 and len(r.incidents("web")) == 1, r.describe()
        assert r.image() == kh.SAMPLE_IMAGE
        assert r.get("poddisruptionbudgets", "demo", "web-kubeheal") is not None


async def test_operator_stopped_mid_action_is_replaced_without_repeating_it(
    kh: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger_path = tmp_path / "ledger.db"
    real_execute = kubeheal.actions.execute
    written = asyncio.Event()

    async def write_then_die(plan: Any, **kw: Any) -> Any:
        await real_execute(plan, **kw)  # the change reaches the cluster ...
        written.set()
        raise asyncio.CancelledError  # ... and the process dies before recording the outcome

    monkeypatch.setattr(kubeheal.actions, "execute", write_then_die)
    async with kh.run(ledger_path=ledger_path) as r:
        r.inject(kh.BAD_ROLLOUT)
        await r.until(written.is_set, what="the rollback to be written")
        await r.h.operator.stop()
        monkeypatch.setattr(kubeheal.actions, "execute", real_execute)
        inc = r.incident()
        assert inc is not None and inc.state is rec.IncidentState.ACTING
        [pending] = r.actions(inc)
        assert pending.state is rec.ActionState.PENDING
        assert r.image() == kh.SAMPLE_IMAGE  # the write happened
        generation = r.deployment()["metadata"]["generation"]
        replica_sets = {rs["metadata"]["name"] for rs in r.list("replicasets", "demo")}

        timeline: list[OperatorEvent] = []
        ledger = Ledger.open(ledger_path)
        successor = Operator(
            connection=KubeConnection.from_kubeconfig(r.h.kubeconfig),
            ledger=ledger,
            settings=Settings(),
            playbooks=load_builtin_playbooks(),
            clock=r.h.now,
            options=OperatorOptions(sweep_interval=kh.SWEEP),
            on_event=timeline.append,
        )
        await successor.start()
        try:
            done = await r.until(r.closed, what="the resumed incident to close")
        finally:
            await successor.stop()
            ledger.close()
        assert done.id == inc.id
        assert done.state is RESOLVED and done.resolution is rec.Resolution.AUTO
        actions = r.actions(done)
        assert len(actions) == 1, actions
        assert actions[0].idempotency_key == pending.idempotency_key
        assert actions[0].state is rec.ActionState.SUCCEEDED
        # the cluster saw one rollback: no further template change, no new ReplicaSet
        assert r.deployment()["metadata"]["generation"] == generation
        assert {rs["metadata"]["name"] for rs in r.list("replicasets", "demo")} == replica_sets
        assert len(r.events("demo", reason="KubehealAction", name="sample-app")) == 1
        # the successor re-ran the pending action with its recorded parameters: a no-op
        assert any(e.kind == "outcome" and "already at the template" in e.message for e in timeline)

"""Graceful shutdown: `Operator.stop` lets the step in flight finish and record its outcome;
a step that does not finish in time is cancelled with its action left pending in the ledger
(plan, transition and action all recorded), for the next leader to resume. Never half-recorded.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import kubeheal.actions
from kubeheal.cli.harness import running_harness
from kubeheal.config import DetectionSettings, Settings
from kubeheal.store import records as rec
from kubeheal.twin.sim.faults import FaultSpec

SETTINGS = Settings(detection=DetectionSettings(missing_pdb=False))


def _image(h: Any) -> str:
    dep = h.twin.store.find(h.twin.store.rtype("apps", "v1", "deployments"), "demo", "sample-app")
    return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


async def test_stop_finishes_the_action_in_flight(
    rk: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = kubeheal.actions.execute
    started = asyncio.Event()

    async def slow(plan: Any, **kw: Any) -> Any:
        started.set()
        await asyncio.sleep(0.5)  # a drain waiting for an eviction, say
        return await real(plan, **kw)

    monkeypatch.setattr(kubeheal.actions, "execute", slow)
    async with running_harness(
        scenario="sample-app", speed=rk.SPEED, settings=SETTINGS, sweep_interval=rk.SWEEP,
        ledger_path=tmp_path / "ledger.db",
    ) as h:  # fmt: skip
        assert h.twin.faults is not None
        h.twin.faults.inject(FaultSpec.model_validate(rk.BAD_ROLLOUT))
        await rk.until(started.is_set, what="the action to start")
        await h.operator.stop(drain=10.0)
        assert not h.operator.targets.running
        [incident] = rk.incidents(h.ledger)
        [action] = h.ledger.actions_for_incident(incident.id)
        assert action.state is rec.ActionState.SUCCEEDED and action.finished_at is not None
        assert incident.state is rec.IncidentState.VERIFYING  # outcome recorded, then stopped
        assert _image(h) == rk.GOOD_IMAGE
        assert h.ledger.pending_actions() == []


async def test_stop_hands_back_an_action_that_does_not_finish(
    rk: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = asyncio.Event()

    async def stuck(plan: Any, **kw: Any) -> Any:
        started.set()
        await asyncio.Event().wait()  # never answers

    monkeypatch.setattr(kubeheal.actions, "execute", stuck)
    async with running_harness(
        scenario="sample-app", speed=rk.SPEED, settings=SETTINGS, sweep_interval=rk.SWEEP,
        ledger_path=tmp_path / "ledger.db",
    ) as h:  # fmt: skip
        assert h.twin.faults is not None
        h.twin.faults.inject(FaultSpec.model_validate(rk.BAD_ROLLOUT))
        await rk.until(started.is_set, what="the action to start")
        loop = asyncio.get_running_loop()
        began = loop.time()
        await h.operator.stop(drain=0.5)
        assert 0.4 <= loop.time() - began < 5.0
        [incident] = rk.incidents(h.ledger)
        assert incident.state is rec.IncidentState.ACTING
        # Everything the next leader needs is recorded: the plan, the transition, the action
        # with its parameters, still pending (it will be re-run; actions are idempotent).
        [pending] = h.ledger.pending_actions()
        assert pending.incident_id == incident.id and pending.action == "rollback_deployment"
        assert pending.params and pending.finished_at is None
        plans = [p for p in h.ledger.plans_for_incident(incident.id) if p.action]
        assert [p.action for p in plans] == ["rollback_deployment"]
        assert [t.to_state for t in h.ledger.transitions_for_incident(incident.id)][-1] is (
            rec.IncidentState.ACTING
        )
        assert _image(h) != rk.GOOD_IMAGE  # nothing written

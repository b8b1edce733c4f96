"""The right-sizing source and the gradual playbook in the running operator, against the
cluster twin: a fixed recommendation (a fake recommender instead of Prometheus) is applied
in bounded steps, each a verified rollout, no two within the cooldown, and the source stops
signalling once the workload is at its recommendation."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubeheal.cli.harness import running_harness
from kubeheal.config import Settings
from kubeheal.engine.playbooks import PlaybookSet, load_builtin_playbooks, parse_playbooks
from kubeheal.finops.model import Confidence, Recommendation, Resources, Status, WorkloadRef
from kubeheal.runtime.operator import OperatorEvent
from kubeheal.runtime.rightsize_source import RightsizeSource
from kubeheal.store import records as rec
from support import until

SPEED = 30.0
"""Cluster seconds per wall second."""
COOLDOWN = timedelta(seconds=120)
MI = 2**20

PLAYBOOK = """
name: rightsize-gradual
description: The built-in playbook, enabled, with a short verification window for the test.
enabled: true
priority: -10
triggers:
  signals: [Rightsize]
  target_kinds: [Deployment]
conditions:
  owned_by_gitops: false
steps:
  - action: set_resources
    params:
      max_step_change: 0.25
verification:
  check: rollout_healthy
  stable_for: 20s
  timeout: 5m
on_failure: escalate
"""

RECOMMENDATION = Recommendation(
    workload=WorkloadRef(namespace="demo", kind="Deployment", name="sample-app"),
    container="app",
    strategy="kubeheal",
    status=Status.OK,
    current=None,
    recommended=Resources(
        cpu_request=0.05, cpu_limit=0.5, memory_request=96 * MI, memory_limit=256 * MI
    ),
    confidence=Confidence.HIGH,
    history_seconds=7 * 86400,
)


async def fixed_recommender(end: float) -> Sequence[Recommendation]:
    return [RECOMMENDATION]


def playbooks(tmp_path: Any) -> PlaybookSet:
    extra, issues = parse_playbooks(PLAYBOOK, file=tmp_path / "rightsize.yaml")
    assert not issues, [str(i) for i in issues]
    return load_builtin_playbooks().merged(PlaybookSet.of(extra))


@pytest.mark.slow
async def test_a_recommendation_is_applied_in_verified_steps_one_per_cooldown(
    tmp_path: Any,
) -> None:
    settings = Settings.model_validate(
        {
            "guards": {"cooldown": "120s"},
            # Every step is a new incident: do not count them as flapping in this fast test.
            "incidents": {"flapping_threshold": 100},
        }
    )
    timeline: list[OperatorEvent] = []
    async with running_harness(
        scenario="sample-app",
        speed=SPEED,
        settings=settings,
        playbooks=playbooks(tmp_path),
        sweep_interval=0.3,
        on_event=timeline.append,
    ) as h:
        source = RightsizeSource(settings=settings, sink=h.operator, recommender=fixed_recommender)
        store = h.twin.store
        deployments = store.rtype("apps", "v1", "deployments")

        def app_resources() -> dict[str, Any]:
            dep = store.find(deployments, "demo", "sample-app")
            containers = dep["spec"]["template"]["spec"]["containers"]
            found: dict[str, Any] = next(c for c in containers if c["name"] == "app")["resources"]
            return found

        def actions() -> list[rec.ActionRecord]:
            since = datetime(2000, 1, 1, tzinfo=UTC)
            return [a for a in h.ledger.actions_since(since) if a.action == "set_resources"]

        def describe() -> str:
            return "\n".join(f"{e.at:%H:%M:%S} {e.kind} {e.message}" for e in timeline)

        task = asyncio.create_task(source.run(interval=0.3))
        try:
            try:
                await until(
                    lambda: (
                        app_resources()["requests"].get("cpu") == "50m"
                        and len(actions()) == 3
                        and all(a.state is rec.ActionState.SUCCEEDED for a in actions())
                    ),
                    timeout=35,
                    what="the third step",
                )
            except AssertionError as e:
                raise AssertionError(f"{e}\n{describe()}") from None
            # At the recommendation (once the last rollout settled): the source stops
            # signalling, and nothing more is done.
            reports = []

            async def settled() -> bool:
                reports.append(await source.run_once())
                return reports[-1].skipped == {"already at the recommendation": 1}

            deadline = time.monotonic() + 10
            while not await settled():
                assert time.monotonic() < deadline, (reports[-1], describe())
                await asyncio.sleep(0.1)
            assert not reports[-1].signals

            def incidents() -> list[rec.IncidentRecord]:
                since = datetime(2000, 1, 1, tzinfo=UTC)
                found = h.ledger.list_incidents(since=since, until=h.now() + timedelta(days=1))
                return [i for i in found if i.target.name == "sample-app"]

            await until(
                lambda: all(i.is_terminal for i in incidents()),
                timeout=10,
                what="the last step's verification",
            )
            await asyncio.sleep(0.5)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        done = actions()
        assert len(done) == 3, describe()
        steps = [
            {f"{c['field']}.{c['resource']}": c["new"] for c in a.params["changes"]} for a in done
        ]
        # CPU 100m -> 50m at most 25% per step; the memory request 128Mi -> 96Mi in one
        # step (exactly 25%); the limits are already at the recommendation.
        assert steps == [
            {"requests.cpu": "75m", "requests.memory": "96Mi"},
            {"requests.cpu": "57m"},
            {"requests.cpu": "50m"},
        ]
        assert [a.params["final"] for a in done] == [False, False, True]
        assert app_resources() == {
            "requests": {"cpu": "50m", "memory": "96Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        }
        # No two changes within the cooldown, and the cooldown did hold a step back.
        times = [a.requested_at for a in done]
        assert all(b - a >= COOLDOWN for a, b in itertools.pairwise(times)), times
        closed = incidents()
        plans = [p for i in closed for p in h.ledger.plans_for_incident(i.id)]
        assert any(p.blocked_by == "cooldown" for p in plans), describe()
        # Each step was verified (rollout complete, no restart) and resolved its incident.
        acted = {a.incident_id for a in done}
        resolved = {i.id for i in closed if i.state is rec.IncidentState.RESOLVED}
        assert acted <= resolved, describe()
        assert not any(i.state is rec.IncidentState.ESCALATED for i in closed), describe()

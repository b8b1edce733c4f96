"""The node-maintenance Lease: drains are one node at a time, and a dead holder's lock expires."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from kubeheal.actions import TemporaryError, execute
from kubeheal.clients.kube import KubeConnection
from kubeheal.clients.writer import Kind, KubeWriter
from kubeheal.engine.params import DrainNode
from kubeheal.engine.plan import ActionPlan, VerificationPlan
from kubeheal.engine.playbooks import ActionName
from kubeheal.model.core import IncidentId, Target, TargetKind
from kubeheal.twin.clock import ManualClock
from kubeheal.twin.cluster import build_twin
from kubeheal.twin.server import serve_in_thread

LOCK = "kube-node-lease/kubeheal-node-maintenance"


def _plan(node: str, *, lock: str = LOCK) -> ActionPlan:
    return ActionPlan(
        incident_id=IncidentId(f"inc-{node}"),
        target=Target(kind=TargetKind.NODE, name=node),
        playbook="node-pressure-drain",
        step=0,
        action=ActionName.DRAIN_NODE,
        params=DrainNode(node=node, grace_period_seconds=30, timeout_seconds=60, lock=lock),
        verification=VerificationPlan(
            check="signals_cleared", timeout_seconds=60, stable_for_seconds=0, on_failure="escalate"
        ),
        idempotency_key=f"key-{node}",
    )


def test_drains_take_turns_through_the_lease() -> None:
    twin = build_twin(scenario="empty", clock=ManualClock())
    wall = [datetime(2026, 11, 23, 12, 0, tzinfo=UTC)]

    async def scenario(url: str) -> None:
        writer = KubeWriter(KubeConnection.from_server(url))
        try:
            # another drain (of worker-1) holds the lock right now
            other = {
                "metadata": {"name": "kubeheal-node-maintenance", "namespace": "kube-node-lease"},
                "spec": {
                    "holderIdentity": "kubeheal/drain/worker-1",
                    "leaseDurationSeconds": 300,
                    "renewTime": wall[0].strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                },
            }
            await writer.create(Kind.LEASE, "kube-node-lease", other)
            with pytest.raises(TemporaryError, match="held by kubeheal/drain/worker-1"):
                await execute(_plan("worker-2"), writer=writer, wall_clock=lambda: wall[0])
            node = await writer.get(Kind.NODE, None, "worker-2")
            assert not node["spec"].get("unschedulable")  # nothing happened to worker-2

            # the holder died: once its lease expires, worker-2's drain takes the lock
            wall[0] += timedelta(seconds=301)
            outcome = await execute(_plan("worker-2"), writer=writer, wall_clock=lambda: wall[0])
            assert outcome.state == "succeeded", outcome.detail
            node = await writer.get(Kind.NODE, None, "worker-2")
            assert node["spec"]["unschedulable"] is True
            lease = await writer.get(Kind.LEASE, "kube-node-lease", "kubeheal-node-maintenance")
            assert not lease["spec"].get("holderIdentity")  # released when the drain ended
        finally:
            await writer.aclose()

    with serve_in_thread(twin, simulate=False) as url:
        asyncio.run(scenario(url))


def test_a_bad_lock_name_is_a_permanent_error() -> None:
    twin = build_twin(scenario="empty", clock=ManualClock())

    async def scenario(url: str) -> None:
        writer = KubeWriter(KubeConnection.from_server(url))
        try:
            from kubeheal.actions import PermanentError

            with pytest.raises(PermanentError, match="namespace/name"):
                await execute(_plan("worker-1", lock="no-slash"), writer=writer)
        finally:
            await writer.aclose()

    with serve_in_thread(twin, simulate=False) as url:
        asyncio.run(scenario(url))

"""A drain's back-off and timeout run on the operator's clock, as its verification does.

The operator is built as `kubeheal run` builds it against a twin serving ``--speed 20``: its
clock follows the twin's (`kubeheal.runtime.clock.OperatorClock`, speed 20). A drain blocked
by a PodDisruptionBudget gives up after its timeout in cluster seconds (2 minutes: 6 wall
seconds), and the ledger's times show it waited that long; on the wall clock it waited 2
minutes of the wall.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubeheal.clients.kube import KubeConnection
from kubeheal.config import Settings
from kubeheal.runtime.assembly import build
from kubeheal.runtime.clock import OperatorClock
from kubeheal.runtime.operator import OperatorOptions
from kubeheal.store import Ledger
from kubeheal.store import records as rec
from kubeheal.twin.clock import WallClock
from kubeheal.twin.cluster import build_twin
from kubeheal.twin.server import serve_in_thread, write_kubeconfig
from kubeheal.twin.sim.faults import FaultSpec
from kubeheal.twin.sim.nodes import NodeConfig, memory_threshold

SPEED = 20.0

DRAIN_2M = """
name: node-pressure-drain
description: The built-in drain with a 2-minute eviction timeout.
enabled: true
mode: enforce
priority: 60
triggers:
  signals: [NodeMemoryPressure]
  target_kinds: [Node]
steps:
  - action: drain_node
    params:
      grace_period: 30s
      timeout: 2m
      ignore_daemonsets: true
  - action: escalate
    params:
      reason: Draining the node did not relieve its memory pressure.
verification:
  check: signals_cleared
  timeout: 15m
on_failure: next_step
"""


async def test_a_blocked_drain_gives_up_after_its_timeout_in_cluster_seconds(
    kh: Any, tmp_path: Path
) -> None:
    twin_clock = WallClock(speed=SPEED)
    twin = build_twin(scenario="sample-app", clock=twin_clock)

    def twin_now() -> datetime:
        return datetime.fromtimestamp(twin_clock.now(), tz=UTC)

    store = twin.store
    pdbs = store.rtype("policy", "v1", "poddisruptionbudgets")
    nodes = store.rtype("", "v1", "nodes")
    with serve_in_thread(twin) as url:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server=url)
        ledger = Ledger.open(tmp_path / "ledger.db", manual_checkpoints=True)
        try:
            async with contextlib.AsyncExitStack() as stack:
                assembly = await build(
                    Settings(),
                    KubeConnection.from_kubeconfig(kubeconfig),
                    ledger,
                    playbooks=kh.playbooks_with(DRAIN_2M, tmp_path),
                    stack=stack,
                    clock=OperatorClock(now=twin_now, speed=SPEED),
                    options=OperatorOptions(sweep_interval=kh.SWEEP),
                )
                operator = assembly.operator
                await operator.start()
                try:
                    await _block_and_squeeze(kh, twin, pdbs, nodes)
                    target = rec.TargetRef(kind="Node", namespace="", name="worker-1")

                    def drain_finished() -> rec.ActionRecord | None:
                        found = [
                            a
                            for a in ledger.actions_since(datetime(2000, 1, 1, tzinfo=UTC))
                            if a.target == target and a.action == "drain_node"
                        ]
                        return found[0] if found and found[0].finished_at else None

                    # 2 cluster minutes are 6 wall seconds; on the wall clock, 120
                    drain = await kh.wait_for(
                        drain_finished, timeout=60, what="the drain to give up"
                    )
                finally:
                    await operator.stop()
        finally:
            ledger.close()
    assert drain.state is rec.ActionState.FAILED
    assert "still blocked after 120s by a PodDisruptionBudget" in (drain.error or "")
    assert drain.finished_at is not None
    waited = (drain.finished_at - drain.requested_at).total_seconds()
    assert waited >= 120, waited  # the timeout, in the twin's seconds


async def _block_and_squeeze(kh: Any, twin: Any, pdbs: Any, nodes: Any) -> None:
    """A PDB that allows no eviction, then memory pressure on worker-1 just below the
    kubelet's own eviction threshold, so the drain is left to kubeheal (and the PDB)."""
    store = twin.store

    def all_needed(pdb: dict[str, Any]) -> None:
        pdb["spec"].pop("minAvailable", None)
        pdb["spec"]["maxUnavailable"] = 0

    store.mutate(pdbs, "demo", "sample-app", all_needed)

    def settled() -> bool:
        pdb = store.find(pdbs, "demo", "sample-app") or {}
        status = pdb.get("status") or {}
        return status.get("currentHealthy") == 3 and status.get("disruptionsAllowed") == 0

    await kh.wait_for(settled, what="3 healthy pods and a PDB that allows no disruption")
    await asyncio.sleep(0.5)  # memory use of the fresh pods settles (as the guard test does)
    nrt = twin.runtime.nodes["worker-1"]
    threshold = memory_threshold(store.find(nodes, None, "worker-1"), NodeConfig())
    squeeze = nrt.memory_available_bytes - threshold + 4 * 2**20
    assert twin.faults is not None
    twin.faults.inject(
        FaultSpec.model_validate(
            {
                "kind": "node-memory-pressure",
                "target": {"node": "worker-1"},
                "params": {"bytes": squeeze},
            }
        )
    )

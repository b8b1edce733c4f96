"""The twin's simulated node side: the node, workload and kubelet controllers in tick order.

`node_controllers` builds them, as `control_plane.control_plane_controllers` builds the
control plane: fault expiry, nodes (`kubeheal.twin.sim.nodes`: registration, conditions,
heartbeats, node lifecycle and taint evictions), workloads (`kubeheal.twin.sim.workloads`:
traffic and usage) and the kubelet (`kubeheal.twin.sim.kubelet`). Assembling them here keeps
the kubelet and the node controller from importing each other.
"""

from __future__ import annotations

from typing import Any

from kubeheal.twin.sim.kubelet import Kubelet
from kubeheal.twin.sim.loop import Controller
from kubeheal.twin.sim.nodes import NodeConfig, NodeController
from kubeheal.twin.sim.state import RuntimeState
from kubeheal.twin.sim.workloads import ProfileRegistry, WorkloadController
from kubeheal.twin.store import ObjectStore

__all__ = ["FaultExpiry", "node_controllers"]


class FaultExpiry:
    """Steps every fault injector attached to the profile registry (timed faults expire)."""

    name = "fault-expiry"

    def __init__(self, profiles: ProfileRegistry) -> None:
        self.profiles = profiles

    def step(self, now: float) -> None:
        for expirer in list(self.profiles.expirers):
            expirer.step(now)


def node_controllers(
    *,
    store: ObjectStore,
    runtime: RuntimeState,
    profiles: ProfileRegistry,
    injector: Any = None,
    config: NodeConfig | None = None,
    seed: int = 0,
) -> list[Controller]:
    """The node-side controllers of a twin, in tick order.

    1. fault expiry (timed faults end before anything observes them),
    2. nodes (registration, usage, conditions, heartbeats, node lifecycle, taint evictions),
    3. workloads (traffic over the pods Ready as of the last tick; CPU/memory usage),
    4. kubelet (pod lifecycle, probes, OOM kills and pressure evictions reacting to the usage
       just computed, status written last so the tick ends consistent).

    `injector` (a `faults.FaultInjector`) is optional: an injector attaches itself to
    `profiles` when created, and the fault-expiry controller steps every attached injector.
    """
    if injector is not None and injector not in profiles.expirers:
        profiles.expirers.append(injector)
    nodes = NodeController(store=store, runtime=runtime, config=config)
    workloads = WorkloadController(
        store=store, runtime=runtime, profiles=profiles, seed=seed, node_cpu=nodes.node_cpu
    )
    kubelet = Kubelet(store=store, runtime=runtime, profiles=profiles, config=config, seed=seed)
    return [FaultExpiry(profiles), nodes, workloads, kubelet]

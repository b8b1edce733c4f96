"""The twin as one object: store, clock, runtime state, simulation, faults; and how to build it.

`build_twin` composes the parts the way a cluster is composed: the object store (etcd and the
API registry), the control-plane controllers, the node agents (kubelet, workloads), the fault
injector and the API fault settings, optionally loaded with a scenario. The HTTP API
(`kubeheal.twin.api.create_app`) and the server (`kubeheal.twin.server`) take a `Twin`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from kubeheal.twin.apifaults import ApiFaults
from kubeheal.twin.clock import Clock
from kubeheal.twin.sim.loop import Simulation
from kubeheal.twin.sim.state import RuntimeState
from kubeheal.twin.store import ObjectStore

__all__ = ["Twin", "build_twin"]

log = logging.getLogger(__name__)


@dataclass
class Twin:
    """Everything one simulated cluster is made of."""

    store: ObjectStore
    clock: Clock
    runtime: RuntimeState
    simulation: Simulation
    api_faults: ApiFaults
    # kubeheal.twin.sim.faults.FaultInjector (pod/node/workload faults), when available
    faults: Any = None
    scenario: str | None = None
    seed: int = 0
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def bare(cls, *, clock: Clock, seed: int = 0, store: ObjectStore | None = None) -> Twin:
        """A twin without controllers: only the API semantics (for API tests)."""
        store = store or ObjectStore(clock=clock, seed=seed)
        return cls(
            store=store,
            clock=clock,
            runtime=RuntimeState(),
            simulation=Simulation(store=store, clock=clock),
            api_faults=ApiFaults(seed=seed),
            seed=seed,
        )


def build_twin(*, scenario: str | None, clock: Clock, seed: int = 0) -> Twin:
    """A complete twin: controllers of the control plane and the nodes, faults, a scenario.

    `scenario` names one of the scenarios (`sample-app`, `bookinfo`, `empty`) or None for an
    empty cluster (default namespaces only).
    """
    store = ObjectStore(clock=clock, seed=seed)
    runtime = RuntimeState()
    twin = Twin(
        store=store,
        clock=clock,
        runtime=runtime,
        simulation=Simulation(store=store, clock=clock),
        api_faults=ApiFaults(seed=seed),
        scenario=scenario,
        seed=seed,
    )
    profiles: Any = None
    try:
        from kubeheal.twin.scenarios import load_scenario
    except ImportError:
        log.warning("scenarios are not available in this build: the twin starts empty")
        if scenario is not None:
            raise ValueError(f"unknown scenario {scenario!r}: no scenarios available") from None
    else:
        loaded = load_scenario(scenario or "empty")
        profiles = loaded.profiles
        if scenario is not None:
            store.load(loaded.objects)
    try:
        from kubeheal.twin.sim.control_plane import control_plane_controllers
    except ImportError:
        log.warning("control-plane controllers are not available in this build")
    else:
        for controller in control_plane_controllers(store=store, runtime=runtime):
            twin.simulation.add(controller)
    try:
        from kubeheal.twin.sim.nodes import node_controllers
    except ImportError:
        log.warning("node controllers are not available in this build")
    else:
        if profiles is not None:
            for controller in node_controllers(store=store, runtime=runtime, profiles=profiles):
                twin.simulation.add(controller)
    try:
        from kubeheal.twin.sim.faults import FaultInjector
    except ImportError:
        log.warning("the pod/node fault injector is not available in this build")
    else:
        if profiles is not None:
            twin.faults = FaultInjector(
                store=store, runtime=runtime, clock=clock, profiles=profiles
            )
    return twin

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
from kubeheal.twin.scenarios import load_scenario
from kubeheal.twin.sim.control_plane import control_plane_controllers
from kubeheal.twin.sim.faults import FaultInjector
from kubeheal.twin.sim.loop import Simulation
from kubeheal.twin.sim.node_side import node_controllers
from kubeheal.twin.sim.state import RuntimeState
from kubeheal.twin.sim.workloads import ProfileRegistry
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
    # pod/node/workload faults (None in a bare twin)
    faults: FaultInjector | None = None
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

    `scenario` names one of the scenarios (`sample-app`, `bookinfo`, `empty`, or several joined
    with `+`) or None for an empty cluster (default namespaces only, no nodes). An unknown name
    raises `kubeheal.twin.scenarios.ScenarioError` (a ValueError).
    """
    store = ObjectStore(clock=clock, seed=seed)
    runtime = RuntimeState()
    profiles = ProfileRegistry()
    if scenario is not None:
        loaded = load_scenario(scenario)
        profiles = loaded.profiles
        store.load(loaded.objects)
    simulation = Simulation(store=store, clock=clock)
    injector = FaultInjector(store=store, runtime=runtime, clock=clock, profiles=profiles)
    for controller in control_plane_controllers(store=store, runtime=runtime):
        simulation.add(controller)
    for controller in node_controllers(
        store=store, runtime=runtime, profiles=profiles, injector=injector, seed=seed
    ):
        simulation.add(controller)
    return Twin(
        store=store,
        clock=clock,
        runtime=runtime,
        simulation=simulation,
        api_faults=ApiFaults(seed=seed),
        faults=injector,
        scenario=scenario,
        seed=seed,
        extras={"profiles": profiles},
    )

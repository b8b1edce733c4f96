"""The twin's simulated control plane: kube-controller-manager's controllers and the scheduler.

`control_plane_controllers` builds them in their tick order: deployments, replica sets,
scheduler, disruption (PodDisruptionBudget status), horizontal pod autoscaler. `evict` is
the Eviction API the API server serves on `pods/NAME/eviction`.

The node lifecycle controller (conditions, taints, taint-based evictions) runs with the
node-side controllers (`kubeheal.twin.sim.nodes`); namespace deletion is immediate in the
store, so no namespace controller is needed.
"""

from __future__ import annotations

from kubeheal.twin.sim.deployments import DeploymentController
from kubeheal.twin.sim.disruption import DisruptionController, evict
from kubeheal.twin.sim.hpa import HorizontalPodAutoscalerController
from kubeheal.twin.sim.loop import Controller
from kubeheal.twin.sim.replicasets import ReplicaSetController
from kubeheal.twin.sim.scheduler import Scheduler
from kubeheal.twin.sim.state import RuntimeState
from kubeheal.twin.store import ObjectStore

__all__ = [
    "DeploymentController",
    "DisruptionController",
    "HorizontalPodAutoscalerController",
    "ReplicaSetController",
    "Scheduler",
    "control_plane_controllers",
    "evict",
]


def control_plane_controllers(*, store: ObjectStore, runtime: RuntimeState) -> list[Controller]:
    """The control-plane controllers of a twin, in the order they run each tick.

    `runtime` is only read (by the autoscaler, for what metrics-server would report).
    """
    return [
        DeploymentController(store=store),
        ReplicaSetController(store=store),
        Scheduler(store=store),
        DisruptionController(store=store),
        HorizontalPodAutoscalerController(store=store, runtime=runtime),
    ]

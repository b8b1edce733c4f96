"""Slim Kubernetes objects decoded straight from API JSON.

The structs keep only what detectors and the planner read; every field has a default so a
missing field never fails decoding (``msgspec.json.decode(raw, type=Pod)``), and unknown
fields are skipped. Import them from `kubeheal.model.cluster` or this module.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import msgspec

from kubeheal.model.selectors import LabelSelector

__all__ = [
    "REVISION_ANNOTATION",
    "Condition",
    "Container",
    "ContainerState",
    "ContainerStateRunning",
    "ContainerStateTerminated",
    "ContainerStateWaiting",
    "ContainerStatus",
    "CrossVersionObjectReference",
    "Deployment",
    "DeploymentSpec",
    "DeploymentStatus",
    "DeploymentStrategy",
    "HPASpec",
    "HPAStatus",
    "HorizontalPodAutoscaler",
    "Namespace",
    "Node",
    "NodeSpec",
    "NodeStatus",
    "ObjectMeta",
    "OwnerReference",
    "Pod",
    "PodDisruptionBudget",
    "PodDisruptionBudgetSpec",
    "PodDisruptionBudgetStatus",
    "PodSpec",
    "PodStatus",
    "PodTemplateSpec",
    "Quantity",
    "ReplicaSet",
    "ReplicaSetSpec",
    "ReplicaSetStatus",
    "ResourceRequirements",
    "RollingUpdate",
    "Taint",
    "revision_of",
]

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"


class _K8s(msgspec.Struct, frozen=True, rename="camel", kw_only=True, omit_defaults=True, gc=False):
    """Base of every decoded Kubernetes struct.

    ``gc=False``: these trees never form reference cycles, so the cycle collector need not
    track (or traverse) the millions of structs a large cache holds.
    """


class OwnerReference(_K8s, frozen=True):
    api_version: str = ""
    kind: str = ""
    name: str = ""
    uid: str = ""
    controller: bool = False


class ObjectMeta(_K8s, frozen=True):
    name: str = ""
    namespace: str = ""
    uid: str = ""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    owner_references: tuple[OwnerReference, ...] = ()
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    resource_version: str = ""
    generation: int = 0


Quantity = str | int | float
"""A resource quantity as JSON may carry it: ``"250m"``, ``"1Gi"``, or a bare number (``1``)."""


class ResourceRequirements(_K8s, frozen=True):
    requests: dict[str, Quantity] = {}
    limits: dict[str, Quantity] = {}


class Container(_K8s, frozen=True):
    name: str = ""
    image: str = ""
    resources: ResourceRequirements = ResourceRequirements()


class PodSpec(_K8s, frozen=True):
    node_name: str = ""
    containers: tuple[Container, ...] = ()

    def container(self, name: str) -> Container | None:
        """The container called ``name``, if any."""
        for container in self.containers:
            if container.name == name:
                return container
        return None


class Condition(_K8s, frozen=True):
    """A status condition (pods, nodes, deployments, HPAs share this shape)."""

    type: str = ""
    status: str = ""
    reason: str = ""
    message: str = ""
    last_transition_time: datetime | None = None


class ContainerStateWaiting(_K8s, frozen=True):
    reason: str = ""
    message: str = ""


class ContainerStateRunning(_K8s, frozen=True):
    started_at: datetime | None = None


class ContainerStateTerminated(_K8s, frozen=True):
    reason: str = ""
    exit_code: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None


class ContainerState(_K8s, frozen=True):
    waiting: ContainerStateWaiting | None = None
    running: ContainerStateRunning | None = None
    terminated: ContainerStateTerminated | None = None


class ContainerStatus(_K8s, frozen=True):
    name: str = ""
    ready: bool = False
    restart_count: int = 0
    state: ContainerState = ContainerState()
    last_state: ContainerState = ContainerState()


class PodStatus(_K8s, frozen=True):
    phase: str = ""
    conditions: tuple[Condition, ...] = ()
    container_statuses: tuple[ContainerStatus, ...] = ()
    start_time: datetime | None = None


def _condition(conditions: Iterable[Condition], kind: str) -> Condition | None:
    for condition in conditions:
        if condition.type == kind:
            return condition
    return None


class Pod(_K8s, frozen=True):
    metadata: ObjectMeta = ObjectMeta()
    spec: PodSpec = PodSpec()
    status: PodStatus = PodStatus()

    def condition(self, kind: str) -> Condition | None:
        """The status condition of type ``kind``, if reported."""
        return _condition(self.status.conditions, kind)

    @property
    def ready(self) -> bool:
        """Whether the pod's Ready condition is True."""
        cond = self.condition("Ready")
        return cond is not None and cond.status == "True"


class Taint(_K8s, frozen=True):
    key: str = ""
    value: str = ""
    effect: str = ""


class NodeSpec(_K8s, frozen=True):
    unschedulable: bool = False
    taints: tuple[Taint, ...] = ()


class NodeStatus(_K8s, frozen=True):
    conditions: tuple[Condition, ...] = ()
    allocatable: dict[str, str] = {}
    capacity: dict[str, str] = {}


class Node(_K8s, frozen=True):
    metadata: ObjectMeta = ObjectMeta()
    spec: NodeSpec = NodeSpec()
    status: NodeStatus = NodeStatus()

    def condition(self, kind: str) -> Condition | None:
        """The status condition of type ``kind``, if reported."""
        return _condition(self.status.conditions, kind)

    @property
    def ready(self) -> bool:
        """Whether the node's Ready condition is True."""
        cond = self.condition("Ready")
        return cond is not None and cond.status == "True"


class PodTemplateSpec(_K8s, frozen=True):
    metadata: ObjectMeta = ObjectMeta()
    spec: PodSpec = PodSpec()


class RollingUpdate(_K8s, frozen=True):
    max_unavailable: int | str | None = None
    max_surge: int | str | None = None


class DeploymentStrategy(_K8s, frozen=True):
    type: str = "RollingUpdate"
    rolling_update: RollingUpdate | None = None


class DeploymentSpec(_K8s, frozen=True):
    replicas: int | None = None
    selector: LabelSelector | None = None
    template: PodTemplateSpec = PodTemplateSpec()
    strategy: DeploymentStrategy = DeploymentStrategy()


class DeploymentStatus(_K8s, frozen=True):
    observed_generation: int = 0
    replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    updated_replicas: int = 0
    unavailable_replicas: int = 0
    conditions: tuple[Condition, ...] = ()


def revision_of(meta: ObjectMeta) -> int:
    """The ``deployment.kubernetes.io/revision`` annotation as an int (0 when absent or bad)."""
    raw = meta.annotations.get(REVISION_ANNOTATION, "")
    return int(raw) if raw.isdigit() else 0


class Deployment(_K8s, frozen=True):
    metadata: ObjectMeta = ObjectMeta()
    spec: DeploymentSpec = DeploymentSpec()
    status: DeploymentStatus = DeploymentStatus()

    @property
    def replicas(self) -> int:
        """Desired replicas (Kubernetes defaults a missing value to 1)."""
        return 1 if self.spec.replicas is None else self.spec.replicas

    @property
    def revision(self) -> int:
        """The current rollout revision."""
        return revision_of(self.metadata)

    def condition(self, kind: str) -> Condition | None:
        """The status condition of type ``kind``, if reported."""
        return _condition(self.status.conditions, kind)


class ReplicaSetSpec(_K8s, frozen=True):
    replicas: int | None = None
    selector: LabelSelector | None = None
    template: PodTemplateSpec = PodTemplateSpec()


class ReplicaSetStatus(_K8s, frozen=True):
    replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0


class ReplicaSet(_K8s, frozen=True):
    metadata: ObjectMeta = ObjectMeta()
    spec: ReplicaSetSpec = ReplicaSetSpec()
    status: ReplicaSetStatus = ReplicaSetStatus()

    @property
    def revision(self) -> int:
        """The rollout revision this ReplicaSet carries."""
        return revision_of(self.metadata)


class PodDisruptionBudgetSpec(_K8s, frozen=True):
    selector: LabelSelector | None = None
    min_available: int | str | None = None
    max_unavailable: int | str | None = None


class PodDisruptionBudgetStatus(_K8s, frozen=True):
    current_healthy: int = 0
    desired_healthy: int = 0
    disruptions_allowed: int = 0
    expected_pods: int = 0


class PodDisruptionBudget(_K8s, frozen=True):
    metadata: ObjectMeta = ObjectMeta()
    spec: PodDisruptionBudgetSpec = PodDisruptionBudgetSpec()
    status: PodDisruptionBudgetStatus = PodDisruptionBudgetStatus()


class CrossVersionObjectReference(_K8s, frozen=True):
    api_version: str = ""
    kind: str = ""
    name: str = ""


class HPASpec(_K8s, frozen=True):
    scale_target_ref: CrossVersionObjectReference = CrossVersionObjectReference()
    min_replicas: int | None = None
    max_replicas: int = 0


class HPAStatus(_K8s, frozen=True):
    current_replicas: int = 0
    desired_replicas: int = 0
    conditions: tuple[Condition, ...] = ()


class HorizontalPodAutoscaler(_K8s, frozen=True):
    """An ``autoscaling/v2`` HorizontalPodAutoscaler."""

    metadata: ObjectMeta = ObjectMeta()
    spec: HPASpec = HPASpec()
    status: HPAStatus = HPAStatus()

    @property
    def min_replicas(self) -> int:
        """minReplicas (Kubernetes defaults a missing value to 1)."""
        return 1 if self.spec.min_replicas is None else self.spec.min_replicas

    def condition(self, kind: str) -> Condition | None:
        """The status condition of type ``kind``, if reported."""
        return _condition(self.status.conditions, kind)


class Namespace(_K8s, frozen=True):
    metadata: ObjectMeta = ObjectMeta()

"""Concrete action parameters: what exactly an action will do, computed by planning.

Tagged msgspec Structs, so plans round-trip through the ledger as JSON. Each declares its
disruption class (``disruption``: what the action does to running pods), which decides
whether it starts and waits for the per-target cooldown (`disruption_of`).
Pure data.
"""

from __future__ import annotations

import enum
import typing
from datetime import datetime
from typing import ClassVar

import msgspec

__all__ = [
    "ActionParams",
    "CordonNode",
    "CreatePdb",
    "DeletePdb",
    "DeletePodsOnNode",
    "Disruption",
    "DrainNode",
    "RaiseHpaMax",
    "RaiseMemoryLimit",
    "ResourceChange",
    "RestartPod",
    "RollbackDeployment",
    "ScaleOut",
    "SetResources",
    "UncordonNode",
    "disruption_of",
]


class Disruption(enum.StrEnum):
    """What an action does to the pods that are running (docs/playbooks.md, "Disruption
    classes")."""

    NONE = "none"
    """Touches no running pod and starts no rollout (a PDB, a cordon, a higher HPA bound, an
    escalation): it neither starts nor waits for a cooldown."""
    DISRUPTIVE = "disruptive"
    """Restarts, evicts or replaces pods, rolls the template, or changes the replica count:
    one such action per target within ``guards.cooldown``."""


class _Params(msgspec.Struct, frozen=True, kw_only=True, tag_field="action"):
    disruption: ClassVar[Disruption] = Disruption.DISRUPTIVE
    """The default for every action, and for any new one until it says otherwise."""


class RollbackDeployment(_Params, frozen=True, tag="rollback_deployment"):
    """Put the template of ``to_replica_set`` (revision ``to_revision``) back."""

    namespace: str
    deployment: str
    from_revision: int
    to_revision: int
    to_replica_set: str
    images: dict[str, str] = {}


class RestartPod(_Params, frozen=True, tag="restart_pod"):
    """Delete ``pod`` so its controller recreates it."""

    namespace: str
    pod: str
    pod_ready: bool = False


class RaiseMemoryLimit(_Params, frozen=True, tag="raise_memory_limit"):
    """Set the memory limit of ``container`` in the workload template."""

    namespace: str
    workload_kind: str
    workload: str
    container: str
    current_bytes: int
    new_bytes: int
    new_limit: str
    new_request: str | None = None
    bounded_by: str = ""


class ResourceChange(msgspec.Struct, frozen=True, kw_only=True):
    """One request or limit of one container: from ``current`` (None: not set) to ``new``,
    on the way to ``target`` (the recommendation)."""

    container: str
    field: str
    """``requests`` or ``limits``."""
    resource: str
    """``cpu`` or ``memory``."""
    current: str | None
    new: str
    target: str


class SetResources(_Params, frozen=True, tag="set_resources"):
    """Set container requests/limits in the workload template, one bounded step toward a
    right-sizing recommendation (``final``: this step reaches it)."""

    namespace: str
    workload_kind: str
    workload: str
    changes: tuple[ResourceChange, ...]
    max_step_change: float
    final: bool = False


class ScaleOut(_Params, frozen=True, tag="scale_out"):
    """Scale to ``replicas``: directly, or through the HPA's bounds when ``hpa`` is set."""

    namespace: str
    workload_kind: str
    workload: str
    current_replicas: int
    replicas: int
    hpa: str | None = None
    hpa_min_replicas: int | None = None
    hpa_max_replicas: int | None = None


class RaiseHpaMax(_Params, frozen=True, tag="raise_hpa_max"):
    """Set the HPA's maxReplicas."""

    disruption: ClassVar[Disruption] = Disruption.NONE
    """Raises a bound and restarts nothing: the HPA adds pods only if its metrics ask."""

    namespace: str
    hpa: str
    current_max: int
    new_max: int


class UncordonNode(_Params, frozen=True, tag="uncordon_node"):
    """Mark ``node`` schedulable again."""

    disruption: ClassVar[Disruption] = Disruption.NONE
    """Lets pods be scheduled on the node again; moves none."""

    node: str


class CordonNode(_Params, frozen=True, tag="cordon_node"):
    """Mark ``node`` unschedulable."""

    disruption: ClassVar[Disruption] = Disruption.NONE
    """Stops new pods landing on the node; the pods on it keep running."""

    node: str


class DrainNode(_Params, frozen=True, tag="drain_node"):
    """Cordon ``node`` and evict its pods through the Eviction API."""

    node: str
    grace_period_seconds: int
    timeout_seconds: int
    ignore_daemonsets: bool = True
    delete_emptydir_data: bool = False
    pods: tuple[str, ...] = ()
    lock: str = ""
    """``namespace/name`` of the Lease that makes drains one node at a time ("" for none)."""


class DeletePodsOnNode(_Params, frozen=True, tag="delete_pods_on_node"):
    """Delete the ReplicaSet-owned pods on ``node``, which stopped renewing its Lease, so they
    are recreated elsewhere; StatefulSet pods and pods with local volumes are left to a human
    (``kubeheal.engine.node_loss``)."""

    node: str
    not_ready_since: datetime
    """When the node's Ready condition left True, as planning saw it."""
    planned_at: datetime
    not_ready_for_seconds: int
    """How long it had to be down (and its Lease unrenewed) before any pod is deleted."""
    excluded_namespaces: tuple[str, ...] = ()
    seen: tuple[str, ...] = ()
    """``namespace/name`` of the pods planning expected to delete (the action lists the node's
    pods from the API itself)."""


class CreatePdb(_Params, frozen=True, tag="create_pdb"):
    """Create a PodDisruptionBudget selecting ``match_labels``, unless a PDB already selects
    pods labelled ``pod_labels`` (the workload's pod template; empty: ``match_labels``)."""

    disruption: ClassVar[Disruption] = Disruption.NONE
    """Limits voluntary evictions; changes no pod."""

    namespace: str
    name: str
    match_labels: dict[str, str]
    max_unavailable: int | str | None = None
    min_available: int | str | None = None
    pod_labels: dict[str, str] = {}


class DeletePdb(_Params, frozen=True, tag="delete_pdb"):
    """Delete ``name``, a PodDisruptionBudget kubeheal created, once another PDB selects the
    pods labelled ``pod_labels`` (the workload's pod template)."""

    disruption: ClassVar[Disruption] = Disruption.NONE
    """Removes kubeheal's own redundant budget; changes no pod."""

    namespace: str
    name: str
    pod_labels: dict[str, str]
    covered_by: tuple[str, ...] = ()
    """The other PDBs that covered the workload when the plan was made."""


ActionParams = (
    RollbackDeployment
    | RestartPod
    | RaiseMemoryLimit
    | ScaleOut
    | RaiseHpaMax
    | CordonNode
    | UncordonNode
    | DrainNode
    | DeletePodsOnNode
    | CreatePdb
    | DeletePdb
    | SetResources
)


_ACTIONS: dict[str, type[_Params]] = {
    p.__struct_config__.tag: p
    for p in typing.get_args(ActionParams)
    if isinstance(p.__struct_config__.tag, str)
}
_NO_PARAMS: dict[str, Disruption] = {"escalate": Disruption.NONE}
"""Steps that write nothing but an Event and a notification."""


def disruption_of(action: str) -> Disruption:
    """The disruption class of the action named ``action`` (a playbook step or a ledger
    record); an unknown name is disruptive, so it never escapes the cooldown."""
    if action in _NO_PARAMS:
        return _NO_PARAMS[action]
    params = _ACTIONS.get(action)
    return params.disruption if params is not None else Disruption.DISRUPTIVE

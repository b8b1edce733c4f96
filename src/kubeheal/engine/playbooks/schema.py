"""The playbook language: pydantic v2 models of the playbook YAML (untrusted input).

A playbook says *when* (triggers and conditions), *what* (ordered steps, each a closed-set
action with typed parameters), *how to tell it worked* (verification) and *what next* if it
did not (on_failure). Unknown keys are errors everywhere.

Pure: no I/O.
"""

from __future__ import annotations

import enum
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kubeheal.config import Duration
from kubeheal.model.core import SignalKind, TargetKind
from kubeheal.model.quantity import QuantityError, parse_memory

__all__ = [
    "ActionName",
    "AlertMatcher",
    "Conditions",
    "CordonNodeStep",
    "CreatePdbStep",
    "DeletePdbParams",
    "DeletePdbStep",
    "DeletePodsOnNodeParams",
    "DeletePodsOnNodeStep",
    "DrainNodeStep",
    "EscalateStep",
    "Mode",
    "OnFailure",
    "Playbook",
    "RaiseHpaMaxStep",
    "RaiseMemoryLimitStep",
    "RestartPodStep",
    "RollbackDeploymentStep",
    "ScaleOutStep",
    "SetResourcesStep",
    "Step",
    "Triggers",
    "UncordonNodeStep",
    "Verification",
    "VerificationCheck",
]


class ActionName(enum.StrEnum):
    """The closed set of actions a playbook step may take."""

    ROLLBACK_DEPLOYMENT = "rollback_deployment"
    RESTART_POD = "restart_pod"
    RAISE_MEMORY_LIMIT = "raise_memory_limit"
    SCALE_OUT = "scale_out"
    RAISE_HPA_MAX = "raise_hpa_max"
    CORDON_NODE = "cordon_node"
    DRAIN_NODE = "drain_node"
    DELETE_PODS_ON_NODE = "delete_pods_on_node"
    CREATE_PDB = "create_pdb"
    DELETE_PDB = "delete_pdb"
    UNCORDON_NODE = "uncordon_node"
    SET_RESOURCES = "set_resources"
    ESCALATE = "escalate"


class Mode(enum.StrEnum):
    """``enforce`` acts; ``dry-run`` records the plan and changes nothing."""

    ENFORCE = "enforce"
    DRY_RUN = "dry-run"


class OnFailure(enum.StrEnum):
    """What to do when verification fails or times out."""

    NEXT_STEP = "next_step"
    ESCALATE = "escalate"


class VerificationCheck(enum.StrEnum):
    """What "recovered" means."""

    WORKLOAD_READY = "workload_ready"
    NO_NEW_RESTARTS_FOR = "no_new_restarts_for"
    NODE_READY = "node_ready"
    ALERT_RESOLVED = "alert_resolved"
    SIGNALS_CLEARED = "signals_cleared"
    ROLLOUT_HEALTHY = "rollout_healthy"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


def _check_memory(value: str) -> str:
    try:
        size = parse_memory(value)
    except QuantityError as e:
        raise ValueError(str(e)) from e
    if size <= 0:
        raise ValueError(f"memory quantity {value!r} must be positive")
    return value


class AlertMatcher(_Strict):
    """Which alerts trigger the playbook (``Alert`` signals only)."""

    names: tuple[str, ...] = Field((), description="Alert names (alertname); empty = any.")
    labels: dict[str, str] = Field({}, description="Labels the alert must carry, exactly.")


class Triggers(_Strict):
    """When the playbook is considered."""

    signals: tuple[SignalKind, ...] = Field(
        ..., min_length=1, description="Signal kinds, any of which triggers the playbook."
    )
    namespaces: tuple[str, ...] = Field(
        (), description="Namespaces the playbook applies to; empty = all."
    )
    exclude_namespaces: tuple[str, ...] = Field(
        (), description="Namespaces the playbook never applies to."
    )
    labels: dict[str, str] = Field(
        {}, description="Labels the target workload (or node) must carry."
    )
    target_kinds: tuple[TargetKind, ...] = Field(
        (), description="Kinds of target the playbook applies to; empty = any."
    )
    alert: AlertMatcher | None = Field(None, description="Alert name/label matchers.")
    details: dict[str, str] = Field(
        {},
        description="Signal details that must match exactly (e.g. `resource: memory` for "
        "Forecast signals); signals of Alert kind are matched by `alert` instead.",
    )


class Conditions(_Strict):
    """Extra facts that must hold; unset conditions are not checked."""

    recent_rollout_within: Duration | None = Field(
        None, description="The workload rolled out a new revision within this time."
    )
    no_rollout_within: Duration | None = Field(
        None, description="The workload did not roll out a new revision within this time."
    )
    replicas_at_least: int | None = Field(
        None, ge=0, description="The workload wants at least this many replicas."
    )
    has_hpa: bool | None = Field(None, description="An HPA targets the workload (or not).")
    has_pdb: bool | None = Field(
        None, description="A PodDisruptionBudget covers the workload (or not)."
    )
    owned_by_gitops: bool | None = Field(
        None, description="The workload is managed by Argo CD, Flux or Helm (or not)."
    )
    outlier_pod: bool | None = Field(
        None,
        description="One pod of the workload stands out from its peers in the incident's "
        "golden-signal burn (per-pod values, an alert naming it, or it alone unready or "
        "restarting), or none does.",
    )


class RollbackDeploymentParams(_Strict):
    """Roll the Deployment back to the previous revision found in its ReplicaSets."""

    max_revision_age: Duration | None = Field(
        None, description="Refuse when the previous ReplicaSet is older than this."
    )


class RestartPodParams(_Strict):
    """Delete the unhealthy pod so its controller recreates it."""

    max_per_incident: int = Field(1, ge=1, le=10, description="Restarts per incident at most.")
    pick: Literal["signal", "outlier"] = Field(
        "signal",
        description="`signal`: the pod the incident's signals name (not-ready first); "
        "`outlier`: the one pod a golden-signal burn points at among at least three "
        "(`kubeheal.engine.facts.outlier_pod`), never the last ready one.",
    )
    outlier_ratio: float = Field(
        3.0,
        gt=1.0,
        le=1000.0,
        description="With per-pod values: the worst pod is the outlier when its value is at "
        "least this many times every peer's.",
    )


class RaiseMemoryLimitParams(_Strict):
    """Raise the container memory limit by ``factor``, never above ``max`` nor node
    allocatable."""

    factor: float = Field(1.5, gt=1.0, le=4.0, description="Multiplier of the current limit.")
    max: str = Field("2Gi", description="Highest limit this step may set (a memory quantity).")
    raise_request: bool = Field(
        False, description="Also raise the request to the new limit when it exceeds it."
    )

    _check = field_validator("max")(_check_memory)


class ScaleOutParams(_Strict):
    """Add replicas, through the HPA bounds when an HPA manages the workload."""

    step: int = Field(2, ge=1, le=100, description="Replicas to add.")
    max_replicas: int = Field(10, ge=1, description="Never scale above this many replicas.")
    via_hpa: bool = Field(
        True, description="When an HPA exists, raise its minReplicas instead of fighting it."
    )


class RaiseHpaMaxParams(_Strict):
    """Raise the HPA's maxReplicas."""

    factor: float = Field(1.5, gt=1.0, le=4.0, description="Multiplier of maxReplicas.")
    ceiling: int = Field(20, ge=1, description="Never raise maxReplicas above this.")


class CordonNodeParams(_Strict):
    """Mark the node unschedulable."""


class UncordonNodeParams(_Strict):
    """Mark the node schedulable again (only nodes kubeheal itself cordoned are reported)."""


class DrainNodeParams(_Strict):
    """Cordon the node, then evict its pods through the Eviction API (PDBs respected)."""

    grace_period: Duration = Field(
        timedelta(seconds=30), description="Termination grace period for evicted pods."
    )
    timeout: Duration = Field(
        timedelta(minutes=10), description="Give up draining (and escalate) after this."
    )
    ignore_daemonsets: bool = Field(True, description="Leave DaemonSet pods in place.")
    delete_emptydir_data: bool = Field(
        False, description="Evict pods that use emptyDir volumes (their data is lost)."
    )


NODE_TOLERATION = timedelta(seconds=300)
"""The ``not-ready``/``unreachable`` toleration the DefaultTolerationSeconds admission gives
every pod: after it the node lifecycle controller deletes them anyway."""


class DeletePodsOnNodeParams(_Strict):
    """Delete the ReplicaSet-owned pods of a node that stopped renewing its Lease, so their
    Deployments recreate them elsewhere now instead of after the 300 s toleration.
    StatefulSet pods and pods with local volumes are never touched."""

    not_ready_for: Duration = Field(
        timedelta(seconds=60),
        description="How long the node must have been NotReady/Unknown, its Lease not renewed "
        "since, before its pods are deleted (the node lifecycle controller marks it Unknown "
        "after node-monitor-grace-period, 40 s, without a renewal: 60 s here deletes them "
        "about 100 s after the kubelet stopped). Under the 300 s toleration.",
    )

    @field_validator("not_ready_for")
    @classmethod
    def _under_toleration(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0) or value >= NODE_TOLERATION - timedelta(seconds=40):
            raise ValueError(
                "must be positive and under 260s: the node lifecycle controller deletes the "
                "pods itself 300 s after the node's taint"
            )
        return value


class CreatePdbParams(_Strict):
    """Create a PodDisruptionBudget for the workload; give exactly one of the two fields."""

    max_unavailable: int | str | None = Field(
        None, description="maxUnavailable of the new PDB (count or percentage)."
    )
    min_available: int | str | None = Field(
        None, description="minAvailable of the new PDB (count or percentage)."
    )

    @field_validator("max_unavailable", "min_available")
    @classmethod
    def _int_or_percent(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, str) and not (
            value.endswith("%") and value[:-1].isdigit() and 0 <= int(value[:-1]) <= 100
        ):
            raise ValueError(f"{value!r} must be an integer or a percentage like '25%'")
        if isinstance(value, int) and value < 0:
            raise ValueError("must not be negative")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> CreatePdbParams:
        if (self.max_unavailable is None) == (self.min_available is None):
            raise ValueError("give exactly one of max_unavailable and min_available")
        return self


class DeletePdbParams(_Strict):
    """Delete the PodDisruptionBudget kubeheal created for the workload once a PDB it did not
    create covers the same pods (two PDBs on one pod make it impossible to evict). Never
    deletes a PDB kubeheal did not create."""


class SetResourcesParams(_Strict):
    """Move container requests/limits one bounded step toward the right-sizing
    recommendation of the incident's ``Rightsize`` signals (Deployments only)."""

    max_step_change: float = Field(
        0.25,
        gt=0,
        le=1,
        description="Largest decrease of a value per step, as a share of the current value "
        "(0.25: at most 25%); increases are applied at once.",
    )


class EscalateParams(_Strict):
    """Hand the incident to humans through the notifiers."""

    reason: str = Field("", description="Why, in words a human on call understands.")
    include_logs: bool = Field(False, description="Attach the last logs of the failing pod.")
    log_lines: int = Field(100, ge=1, le=5000, description="How many log lines to attach.")


class _StepBase(_Strict):
    description: str = Field("", description="What this step is for.")


class RollbackDeploymentStep(_StepBase):
    action: Literal[ActionName.ROLLBACK_DEPLOYMENT]
    params: RollbackDeploymentParams = RollbackDeploymentParams()


class RestartPodStep(_StepBase):
    action: Literal[ActionName.RESTART_POD]
    params: RestartPodParams = RestartPodParams()


class RaiseMemoryLimitStep(_StepBase):
    action: Literal[ActionName.RAISE_MEMORY_LIMIT]
    params: RaiseMemoryLimitParams = RaiseMemoryLimitParams()


class ScaleOutStep(_StepBase):
    action: Literal[ActionName.SCALE_OUT]
    params: ScaleOutParams = ScaleOutParams()


class RaiseHpaMaxStep(_StepBase):
    action: Literal[ActionName.RAISE_HPA_MAX]
    params: RaiseHpaMaxParams = RaiseHpaMaxParams()


class CordonNodeStep(_StepBase):
    action: Literal[ActionName.CORDON_NODE]
    params: CordonNodeParams = CordonNodeParams()


class UncordonNodeStep(_StepBase):
    action: Literal[ActionName.UNCORDON_NODE]
    params: UncordonNodeParams = UncordonNodeParams()


class DrainNodeStep(_StepBase):
    action: Literal[ActionName.DRAIN_NODE]
    params: DrainNodeParams = DrainNodeParams()


class DeletePodsOnNodeStep(_StepBase):
    action: Literal[ActionName.DELETE_PODS_ON_NODE]
    params: DeletePodsOnNodeParams = DeletePodsOnNodeParams()


class CreatePdbStep(_StepBase):
    action: Literal[ActionName.CREATE_PDB]
    params: CreatePdbParams = CreatePdbParams(max_unavailable=1)


class DeletePdbStep(_StepBase):
    action: Literal[ActionName.DELETE_PDB]
    params: DeletePdbParams = DeletePdbParams()


class SetResourcesStep(_StepBase):
    action: Literal[ActionName.SET_RESOURCES]
    params: SetResourcesParams = SetResourcesParams()


class EscalateStep(_StepBase):
    action: Literal[ActionName.ESCALATE]
    params: EscalateParams = EscalateParams()


Step = Annotated[
    RollbackDeploymentStep
    | RestartPodStep
    | RaiseMemoryLimitStep
    | ScaleOutStep
    | RaiseHpaMaxStep
    | CordonNodeStep
    | UncordonNodeStep
    | DrainNodeStep
    | DeletePodsOnNodeStep
    | CreatePdbStep
    | DeletePdbStep
    | SetResourcesStep
    | EscalateStep,
    Field(discriminator="action"),
]


class Verification(_Strict):
    """How kubeheal proves an action worked."""

    check: VerificationCheck = Field(..., description="What recovered means.")
    timeout: Duration = Field(
        timedelta(minutes=5), description="Recovery must be seen within this time."
    )
    stable_for: Duration = Field(
        timedelta(0), description="The check must hold this long (required by no_new_restarts_for)."
    )

    @model_validator(mode="after")
    def _stable_window(self) -> Verification:
        windowed = (VerificationCheck.NO_NEW_RESTARTS_FOR, VerificationCheck.ROLLOUT_HEALTHY)
        if self.check in windowed and not self.stable_for:
            raise ValueError(f"{self.check.value} needs a positive stable_for")
        if self.stable_for > self.timeout:
            raise ValueError("stable_for must not exceed timeout")
        return self


_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class Playbook(_Strict):
    """One remediation playbook."""

    name: str = Field(
        ..., min_length=1, max_length=63, pattern=_NAME_PATTERN, description="Unique name."
    )
    description: str = Field(..., min_length=1, description="What it does and when, for humans.")
    enabled: bool = Field(True, description="Disabled playbooks never match.")
    mode: Mode = Field(Mode.ENFORCE, description="enforce acts; dry-run only records plans.")
    priority: int = Field(
        0, description="Higher priority playbooks are tried first when several match."
    )
    triggers: Triggers
    conditions: Conditions = Conditions()
    steps: tuple[Step, ...] = Field(..., min_length=1, description="Tried in order.")
    verification: Verification = Field(
        Verification(check=VerificationCheck.SIGNALS_CLEARED),
        description="Applied after each step.",
    )
    on_failure: OnFailure = Field(
        OnFailure.NEXT_STEP, description="After a failed step: try the next one, or escalate."
    )

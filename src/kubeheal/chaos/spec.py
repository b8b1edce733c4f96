"""The chaos experiment file: steady-state probes, a method of faults, rollbacks, expectations.

An experiment is YAML validated here (pydantic v2, unknown fields rejected, JSON Schema from
`experiment_json_schema`). Its parts:

* ``steady_state``: probes, each a check with a ``tolerance`` (consecutive failed checks that
  still count as passing) and a ``weight`` (for the resilience score): ``http`` (status and
  latency), ``promql`` (an instant query's value against a comparator), ``kubernetes`` (ready
  replicas of a workload, or the phase and readiness of the pods a selector matches);
* ``method``: faults (``fault:`` picks the kind) with a ``target`` (namespace, labels or a
  deployment, the ``share`` of matching pods, or a node), a ``duration``, an ``interval`` for
  repeated faults, and ``expect``: the most time to detect, to act and to recover, and
  whether kubeheal must have acted;
* ``rollbacks``: run after the method whatever happened (each fault also undoes itself);
* ``abort``: stop early when listed probes fail beyond tolerance for too long, an SLO of a
  targeted workload burns fast, or the API server is unreachable (dead-man switch);
* ``budget``: refuse to start (and abort) while a targeted workload's error budget is below
  the policy.

Pure: no I/O, no clock (`load_experiment` reads a file the caller names).
"""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from kubeheal.chaos.errors import ExperimentSpecError
from kubeheal.config import Duration
from kubeheal.config.errors import field_problems
from kubeheal.model.names import NameKind, name_problem, shown

__all__ = [
    "FAULT_KINDS",
    "NATIVE_FAULTS",
    "SIMULATED_ONLY",
    "AbortSpec",
    "BadRollout",
    "BudgetSpec",
    "ConfigChange",
    "ContainerKill",
    "Expectation",
    "Experiment",
    "ExperimentSettings",
    "FaultSpec",
    "HttpCheck",
    "ImagePullError",
    "KubernetesCheck",
    "LitmusOptions",
    "MemoryLeak",
    "NodeCordon",
    "NodeDiskPressure",
    "NodeDrain",
    "NodeMemoryPressure",
    "NodeNotReady",
    "NodeTarget",
    "PodCpuHog",
    "PodDelete",
    "PodHang",
    "PodHttpErrors",
    "PodMemoryHog",
    "PodNetworkLatency",
    "PodTarget",
    "Probe",
    "PromqlCheck",
    "Rollback",
    "ScaleToZero",
    "TrafficSpike",
    "WorkloadRef",
    "experiment_json_schema",
    "load_experiment",
    "parse_experiment",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _namespace(value: str) -> str:
    problem = name_problem(value, NameKind.LABEL)
    if problem is not None:
        raise ValueError(f"{shown(value)} is not a valid namespace name: {problem}")
    return value


def _object_name(value: str) -> str:
    problem = name_problem(value, NameKind.SUBDOMAIN)
    if problem is not None:
        raise ValueError(f"{shown(value)} is not a valid object name: {problem}")
    return value


K8sNamespace = Annotated[str, AfterValidator(_namespace)]
"""A namespace: a DNS-1123 label (``kubeheal.model.names``)."""
K8sName = Annotated[str, AfterValidator(_object_name)]
"""An object name: a DNS-1123 subdomain."""


# --------------------------------------------------------------------------- probes


class HttpCheck(_Model):
    """A request that must answer with one of ``expect_status`` within ``max_latency``."""

    url: str = Field(description="URL to request (http or https).")
    method: Literal["GET", "HEAD", "POST"] = "GET"
    expect_status: tuple[int, ...] = Field((200,), min_length=1)
    max_latency: Duration | None = Field(None, description="Slowest acceptable answer.")
    timeout: Duration = Field(timedelta(seconds=5), description="Give up after this long.")
    headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _url(self) -> HttpCheck:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {self.url!r}")
        return self


Comparator = Literal["<", "<=", ">", ">=", "==", "!="]


class PromqlCheck(_Model):
    """An instant query whose every sample must satisfy ``comparator value``; no sample fails
    unless ``empty_ok``."""

    query: str = Field(min_length=1)
    comparator: Comparator
    value: float
    prometheus: str | None = Field(
        None, description="Prometheus base URL (default: the one given on the command line)."
    )
    empty_ok: bool = False


class WorkloadRef(_Model):
    """A Deployment or StatefulSet."""

    kind: Literal["Deployment", "StatefulSet"] = "Deployment"
    namespace: K8sNamespace = Field(min_length=1)
    name: K8sName = Field(min_length=1)


class KubernetesCheck(_Model):
    """Ready replicas of a workload, or the phase (and readiness) of the pods ``labels``
    select in ``namespace``."""

    workload: WorkloadRef | None = None
    min_ready: int | None = Field(None, ge=0, description="Ready replicas needed.")
    min_ready_share: float | None = Field(
        None, gt=0, le=1, description="Share of the desired replicas that must be ready."
    )
    namespace: K8sNamespace | None = None
    labels: dict[str, str] | None = None
    phase: Literal["Running", "Succeeded", "Pending"] = "Running"
    require_ready: bool = True
    min_pods: int = Field(1, ge=0, description="Pods the selector must match.")

    @model_validator(mode="after")
    def _one(self) -> KubernetesCheck:
        if (self.workload is None) == (self.labels is None):
            raise ValueError("give either workload (ready replicas) or labels (pod phase)")
        if self.labels is not None and not self.namespace:
            raise ValueError("a pod-phase check needs namespace")
        if self.workload is not None and self.min_ready is not None and self.min_ready_share:
            raise ValueError("give min_ready or min_ready_share, not both")
        return self


class Probe(_Model):
    """One steady-state probe: exactly one of ``http``, ``promql``, ``kubernetes``."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    http: HttpCheck | None = None
    promql: PromqlCheck | None = None
    kubernetes: KubernetesCheck | None = None
    tolerance: int = Field(
        0, ge=0, description="Consecutive failed checks that still count as passing."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Probe:
        given = [k for k in ("http", "promql", "kubernetes") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"probe {self.name!r} needs exactly one of http, promql, kubernetes "
                f"(got {', '.join(given) or 'none'})"
            )
        return self

    @property
    def kind(self) -> str:
        return "http" if self.http else "promql" if self.promql else "kubernetes"


# --------------------------------------------------------------------------- faults


class PodTarget(_Model):
    """Pods: those ``labels`` (or the ``deployment``'s selector) match in ``namespace``; the
    fault hits ``share`` of them (rounded up, at least one) or ``count``."""

    namespace: K8sNamespace = Field(min_length=1)
    labels: dict[str, str] | None = None
    deployment: K8sName | None = None
    container: str | None = None
    share: float | None = Field(None, gt=0, le=1)
    count: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _select(self) -> PodTarget:
        if not self.labels and not self.deployment:
            raise ValueError("target needs labels or deployment")
        if self.share is not None and self.count is not None:
            raise ValueError("target takes share or count, not both")
        return self

    def how_many(self, matching: int) -> int:
        """How many of ``matching`` pods the fault hits."""
        if matching == 0:
            return 0
        if self.count is not None:
            return min(self.count, matching)
        share = 1.0 if self.share is None else self.share
        return max(1, min(matching, math.ceil(round(share * matching, 9))))


class NodeTarget(_Model):
    """One node, by name or by labels (the first match in name order)."""

    name: K8sName | None = None
    labels: dict[str, str] | None = None

    @model_validator(mode="after")
    def _select(self) -> NodeTarget:
        if (self.name is None) == (self.labels is None):
            raise ValueError("node target needs name or labels (one of them)")
        return self


class Expectation(_Model):
    """What must hold for the fault: measured times (from the first injection) and whether
    kubeheal must have acted."""

    max_detect: Duration | None = None
    max_act: Duration | None = None
    max_recover: Duration | None = None
    max_escalate: Duration | None = Field(
        None, description="Most time until kubeheal escalates (a fault with no safe fix)."
    )
    kubeheal_acts: bool | None = Field(
        None, description="true: kubeheal must act; false: it must not; unset: either."
    )


Provider = Literal["auto", "litmus", "chaos-mesh", "simulated"]


class _Fault(_Model):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    duration: Duration = Field(timedelta(seconds=60), description="How long the fault lasts.")
    expect: Expectation = Field(default_factory=Expectation)
    weight: float = Field(
        10.0, gt=0, description="Weight of the fault in the resilience score (LitmusChaos)."
    )
    probes: tuple[str, ...] | None = Field(
        None, description="Probes that judge this fault (default: all)."
    )
    wait_after: Duration = Field(
        timedelta(seconds=0), description="Pause after the fault before the next one."
    )


class PodDelete(_Fault):
    """Delete pods (through the API, with a grace period), again every ``interval``."""

    fault: Literal["pod-delete"]
    target: PodTarget
    interval: Duration | None = None


class ContainerKill(_Fault):
    """Kill a container of the target pods (Litmus or Chaos Mesh on a real cluster)."""

    fault: Literal["container-kill"]
    target: PodTarget
    interval: Duration | None = None
    provider: Provider = "auto"


class ScaleToZero(_Fault):
    """Scale a Deployment to zero replicas; undone by restoring the replicas."""

    fault: Literal["scale-to-zero"]
    target: WorkloadRef


class BadRollout(_Fault):
    """Roll out an image that does not work; undone by restoring the image."""

    fault: Literal["bad-rollout"]
    target: WorkloadRef
    container: str | None = None
    image: str | None = Field(None, description="Default: the current image, tag 'crash-…'.")


class NodeCordon(_Fault):
    """Mark a node unschedulable; undone by uncordoning it."""

    fault: Literal["node-cordon"]
    target: NodeTarget


class NodeDrain(_Fault):
    """Cordon a node and evict its pods (PodDisruptionBudgets are respected)."""

    fault: Literal["node-drain"]
    target: NodeTarget


class ConfigChange(_Fault):
    """Change keys of a ConfigMap; undone by restoring their previous values."""

    fault: Literal["config-change"]
    namespace: K8sNamespace = Field(min_length=1)
    configmap: K8sName = Field(min_length=1)
    data: dict[str, str | None] = Field(min_length=1, description="null removes a key.")


class PodNetworkLatency(_Fault):
    """Delay the target pods' network traffic by ``latency`` (± ``jitter``)."""

    fault: Literal["pod-network-latency"]
    target: PodTarget
    latency: Duration
    jitter: Duration = timedelta(0)
    provider: Provider = "auto"


class PodCpuHog(_Fault):
    """Burn ``cores`` CPU cores inside the target pods."""

    fault: Literal["pod-cpu-hog"]
    target: PodTarget
    cores: float = Field(gt=0)
    load: int = Field(100, ge=1, le=100, description="Percent load per core.")
    provider: Provider = "auto"


class PodMemoryHog(_Fault):
    """Allocate ``megabytes`` of memory inside the target pods."""

    fault: Literal["pod-memory-hog"]
    target: PodTarget
    megabytes: int = Field(gt=0)
    provider: Provider = "auto"


class MemoryLeak(_Fault):
    """A leak of ``bytes_per_second`` in the target workload's code: every pod of it,
    including the ones that replace them (simulated by the twin only)."""

    fault: Literal["memory-leak"]
    target: PodTarget
    bytes_per_second: int = Field(gt=0)
    provider: Literal["auto", "simulated"] = "auto"


class NodeMemoryPressure(_Fault):
    """Take memory outside the pods of a node until it reports MemoryPressure."""

    fault: Literal["node-memory-pressure"]
    target: NodeTarget
    percent: int = Field(90, ge=1, le=100, description="Memory to take (Litmus node-memory-hog).")
    provider: Literal["auto", "litmus", "simulated"] = "auto"


class ImagePullError(BadRollout):
    """Roll out an image no registry has (tag ``missing-…``): ErrImagePull, ImagePullBackOff;
    undone by restoring the image."""

    fault: Literal["image-pull-error"]  # type: ignore[assignment]


class NodeNotReady(_Fault):
    """The node's kubelet stops: Ready turns Unknown, the unreachable taints follow
    (simulated by the twin only)."""

    fault: Literal["node-not-ready"]
    target: NodeTarget
    provider: Literal["auto", "simulated"] = "auto"


class NodeDiskPressure(_Fault):
    """The node's disk fills up outside Kubernetes: DiskPressure, evictions (simulated by the
    twin only)."""

    fault: Literal["node-disk-pressure"]
    target: NodeTarget
    provider: Literal["auto", "simulated"] = "auto"


class PodHang(_Fault):
    """The target workload's app stops answering ``after`` each start: probes fail,
    restarts (every pod of it, also the replacements; simulated by the twin only)."""

    fault: Literal["pod-hang"]
    target: PodTarget
    after: Duration = timedelta(0)
    provider: Literal["auto", "simulated"] = "auto"


class PodHttpErrors(_Fault):
    """``error_rate`` of the target workload's requests fail with ``status`` (simulated by
    the twin only)."""

    fault: Literal["pod-http-errors"]
    target: PodTarget
    error_rate: float = Field(gt=0, le=1)
    status: int = Field(500, ge=400, le=599)
    provider: Literal["auto", "simulated"] = "auto"


class TrafficSpike(_Fault):
    """The load offered to ``service`` is multiplied by ``multiplier``; ``target`` names the
    pods behind it (simulated by the twin only)."""

    fault: Literal["traffic-spike"]
    service: K8sName = Field(min_length=1)
    target: PodTarget
    multiplier: float = Field(gt=1)
    provider: Literal["auto", "simulated"] = "auto"


SIMULATED_ONLY: tuple[type[_Fault], ...] = (
    NodeNotReady,
    NodeDiskPressure,
    PodHang,
    PodHttpErrors,
    TrafficSpike,
)
"""Faults only the cluster twin makes (no LitmusChaos or Chaos Mesh resource here)."""


FaultSpec = Annotated[
    PodDelete
    | ContainerKill
    | ScaleToZero
    | BadRollout
    | NodeCordon
    | NodeDrain
    | ConfigChange
    | PodNetworkLatency
    | PodCpuHog
    | PodMemoryHog
    | MemoryLeak
    | NodeMemoryPressure
    | ImagePullError
    | NodeNotReady
    | NodeDiskPressure
    | PodHang
    | PodHttpErrors
    | TrafficSpike,
    Field(discriminator="fault"),
]

FAULT_KINDS: tuple[str, ...] = (
    "pod-delete",
    "container-kill",
    "scale-to-zero",
    "bad-rollout",
    "node-cordon",
    "node-drain",
    "config-change",
    "pod-network-latency",
    "pod-cpu-hog",
    "pod-memory-hog",
    "memory-leak",
    "node-memory-pressure",
    "image-pull-error",
    "node-not-ready",
    "node-disk-pressure",
    "pod-hang",
    "pod-http-errors",
    "traffic-spike",
)
"""Every fault kind the spec knows."""

NATIVE_FAULTS: frozenset[str] = frozenset(
    {
        "pod-delete",
        "scale-to-zero",
        "bad-rollout",
        "image-pull-error",
        "node-cordon",
        "node-drain",
        "config-change",
    }
)
"""Faults made with plain Kubernetes API calls (any cluster, the twin included)."""


# --------------------------------------------------------------------------- the rest


class Rollback(_Model):
    """A repair that always runs after the method: ``scale`` a workload, ``uncordon`` a node
    or ``set-image`` of a workload's container."""

    action: Literal["scale", "uncordon", "set-image"]
    workload: WorkloadRef | None = None
    replicas: int | None = Field(None, ge=0)
    node: str | None = None
    container: str | None = None
    image: str | None = None

    @model_validator(mode="after")
    def _fields(self) -> Rollback:
        need = {
            "scale": ("workload", "replicas"),
            "uncordon": ("node",),
            "set-image": ("workload", "image"),
        }[self.action]
        missing = [f for f in need if getattr(self, f) is None]
        if missing:
            raise ValueError(f"rollback {self.action!r} needs {', '.join(missing)}")
        return self


class AbortSpec(_Model):
    """When to stop the method early (rollbacks still run)."""

    probes: tuple[str, ...] = Field((), description="Probes whose failure can abort.")
    max_probe_outage: Duration = Field(
        timedelta(seconds=0),
        description="How long a listed probe may fail beyond tolerance before aborting.",
    )
    slo_fast_burn: bool = Field(
        True, description="Abort while an SLO of a targeted workload burns fast."
    )
    dead_man: Duration = Field(
        timedelta(seconds=30),
        description="Abort when the API server has not answered for this long.",
    )


class BudgetSpec(_Model):
    """Error-budget policy: refuse or abort below ``min_remaining`` of a targeted workload's
    budget (default: ``slo.freeze_below`` of the settings)."""

    enabled: bool = True
    min_remaining: float | None = Field(None, le=1)
    max_age: Duration | None = None
    workloads: tuple[WorkloadRef, ...] = Field(
        (), description="Workloads whose budgets count, besides the faults' targets."
    )


class LitmusOptions(_Model):
    """How generated LitmusChaos ChaosEngines run."""

    service_account: str = "litmus-admin"
    namespace: K8sNamespace | None = Field(None, description="Default: the target's namespace.")


class ExperimentSettings(_Model):
    """Pacing of the run (durations are cluster time)."""

    probe_interval: Duration = timedelta(seconds=5)
    observe_after: Duration = Field(
        timedelta(seconds=120), description="How long to watch after the last fault ends."
    )
    stable_for: Duration = Field(
        timedelta(seconds=15),
        description="Probes passing this long after an outage count as recovered.",
    )
    provider: Literal["litmus", "chaos-mesh"] = Field(
        "litmus", description="Generator of stress/network faults on a real cluster."
    )
    litmus: LitmusOptions = Field(default_factory=LitmusOptions)
    seed: int = Field(0, description="Seed of the choice of pods a share hits.")


class Experiment(_Model):
    """A chaos experiment (see the module docstring)."""

    name: str = Field(min_length=1, pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", max_length=40)
    description: str = ""
    steady_state: tuple[Probe, ...] = Field(min_length=1)
    method: tuple[FaultSpec, ...] = Field(min_length=1)
    rollbacks: tuple[Rollback, ...] = ()
    abort: AbortSpec = Field(default_factory=AbortSpec)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    settings: ExperimentSettings = Field(default_factory=ExperimentSettings)

    @model_validator(mode="after")
    def _references(self) -> Experiment:
        names = [p.name for p in self.steady_state]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"probe names must be unique: {dupes}")
        faults = [f.name for f in self.method]
        dupes = sorted({n for n in faults if faults.count(n) > 1})
        if dupes:
            raise ValueError(f"fault names must be unique: {dupes}")
        known = set(names)
        for fault in self.method:
            unknown = sorted(set(fault.probes or ()) - known)
            if unknown:
                raise ValueError(f"fault {fault.name!r} names unknown probes {unknown}")
        unknown = sorted(set(self.abort.probes) - known)
        if unknown:
            raise ValueError(f"abort names unknown probes {unknown}")
        return self

    def probes_of(self, fault: FaultSpec) -> tuple[Probe, ...]:
        """The probes that judge ``fault``."""
        if fault.probes is None:
            return self.steady_state
        return tuple(p for p in self.steady_state if p.name in fault.probes)


# --------------------------------------------------------------------------- loading


def _problems(error: ValidationError) -> list[str]:
    found: list[str] = []
    for problem in field_problems(error, union_tags=FAULT_KINDS):
        where = problem.field or "(top)"
        if problem.kind == "union_tag_invalid":
            tag = problem.context.get("tag")
            found.append(f"{where}: unknown fault {tag!r} (known: {', '.join(FAULT_KINDS)})")
        elif problem.kind == "union_tag_not_found":
            found.append(f"{where}: every fault needs 'fault:' (one of {', '.join(FAULT_KINDS)})")
        else:
            found.append(f"{where}: {problem.message}")
    return found


def parse_experiment(data: Any, *, source: str = "<experiment>") -> Experiment:
    """Validate already-parsed YAML/JSON; every problem named by field."""
    if not isinstance(data, dict):
        raise ExperimentSpecError(source, ["the experiment must be a mapping"])
    try:
        return Experiment.model_validate(data)
    except ValidationError as e:
        raise ExperimentSpecError(source, _problems(e)) from None


def load_experiment(path: Path) -> Experiment:
    """Read and validate the experiment file at ``path``."""
    try:
        text = path.read_text()
    except OSError as e:
        raise ExperimentSpecError(str(path), [f"cannot read: {e.strerror or e}"]) from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ExperimentSpecError(str(path), [f"not valid YAML: {e}"]) from e
    return parse_experiment(data, source=str(path))


def experiment_json_schema() -> str:
    """The JSON Schema of an experiment file (for editors and CI)."""
    schema = Experiment.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "kubeheal chaos experiment"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"

"""Fault injection into the simulated cluster: what goes wrong on real nodes and workloads.

Each fault works through the same channels a real failure does, so the cluster shows the real
symptoms:

=====================  ==================================================================
kind                   what happens / symptoms
=====================  ==================================================================
crash-on-start         a bad rollout: the Deployment's image is patched to a crashing tag
                       (``<repo>:crash-<tag>``) -> new pods exit 1 -> CrashLoopBackOff.
                       Targeting pods by labels/name instead makes their containers crash
                       at every (re)start.
image-pull-error       the image is patched to one no registry has (``<repo>:missing``)
                       -> ErrImagePull, ImagePullBackOff.
memory-leak            working set grows by ``bytes_per_second`` -> OOMKilled (137),
                       restarts; without a limit, node MemoryPressure.
cpu-hog                ``cores`` more CPU demand -> throttling at the limit, latency up,
                       HPA scale-out.
latency-spike          ``latency_ms`` added (and ``multiplier``) to every request.
error-burst            ``error_rate`` of the requests fail with ``status``.
hang                   the app stops answering ``after_seconds`` after each start ->
                       liveness/readiness fail -> Unhealthy, Killing, restarts, not Ready.
pod-kill               ``count`` matching pods are deleted (the ReplicaSet replaces them).
node-memory-pressure   ``bytes`` of memory taken outside pods (default: down to half the
                       eviction threshold) -> MemoryPressure, taint, evictions.
node-disk-pressure     ``bytes`` of disk taken -> DiskPressure, taint, evictions.
node-not-ready         the kubelet stops -> after 40 s Ready Unknown, unreachable taints,
                       pods evicted after their toleration (300 s).
traffic-spike          the load offered to a Service is multiplied by ``multiplier``.
=====================  ==================================================================

Pod-level behaviour faults are `workloads.Override`s installed in the shared
`ProfileRegistry`; node faults change `NodeRuntime`; rollout faults patch the Deployment.
A fault with ``duration`` clears itself (`FaultInjector.step`, run every tick by
`node_side.FaultExpiry`); clearing undoes exactly what was done.

Exception tree::

    Exception
    └── FaultError           a fault cannot be injected or cleared
        ├── FaultTargetError its target does not exist
        └── UnknownFault     (also LookupError) no active fault has that id
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kubeheal.twin.clock import Clock, format_time
from kubeheal.twin.errors import ApiError, NotFound
from kubeheal.twin.selectors import LabelSelector, SelectorError
from kubeheal.twin.sim.nodes import NodeConfig, memory_threshold, node_capacity
from kubeheal.twin.sim.state import NodeRuntime, RuntimeState
from kubeheal.twin.sim.workloads import Override, ProfileError, ProfileRegistry, memory_quantity
from kubeheal.twin.store import ObjectStore

__all__ = [
    "FAULT_KINDS",
    "ActiveFault",
    "FaultError",
    "FaultInjector",
    "FaultKind",
    "FaultSpec",
    "FaultTarget",
    "FaultTargetError",
    "UnknownFault",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

FaultKind = Literal[
    "crash-on-start",
    "image-pull-error",
    "memory-leak",
    "cpu-hog",
    "latency-spike",
    "error-burst",
    "hang",
    "pod-kill",
    "node-memory-pressure",
    "node-disk-pressure",
    "node-not-ready",
    "traffic-spike",
]
FAULT_KINDS: tuple[str, ...] = FaultKind.__args__  # type: ignore[attr-defined]

_POD_KINDS = {"crash-on-start", "image-pull-error", "memory-leak", "cpu-hog", "latency-spike",
              "error-burst", "hang", "pod-kill"}  # fmt: skip
_NODE_KINDS = {"node-memory-pressure", "node-disk-pressure", "node-not-ready"}
_PARAMS: dict[str, set[str]] = {
    "crash-on-start": {"image"},
    "image-pull-error": {"image"},
    "memory-leak": {"bytes_per_second"},
    "cpu-hog": {"cores"},
    "latency-spike": {"latency_ms", "multiplier"},
    "error-burst": {"error_rate", "status"},
    "hang": {"after_seconds"},
    "pod-kill": {"count"},
    "node-memory-pressure": {"bytes"},
    "node-disk-pressure": {"bytes"},
    "node-not-ready": set(),
    "traffic-spike": {"multiplier"},
}


class FaultError(Exception):
    """A fault cannot be injected or cleared; the message says why."""


class FaultTargetError(FaultError):
    """The fault's target (deployment, pods, node, service) does not exist."""


class UnknownFault(FaultError, LookupError):
    """No active fault has that id."""


class FaultTarget(BaseModel):
    """What a fault hits: workload (deployment, labels or pod, optionally one container),
    a node, or a Service (traffic)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    namespace: str = "default"
    deployment: str | None = None
    labels: dict[str, str] | None = None
    pod: str | None = None
    container: str | None = None
    node: str | None = None
    service: str | None = None


class FaultSpec(BaseModel):
    """One fault to inject (validated at the boundary: CLI, HTTP control endpoint)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: FaultKind
    target: FaultTarget = Field(default_factory=FaultTarget)
    params: dict[str, float | int | str | bool] = Field(default_factory=dict)
    duration: float | None = Field(None, gt=0, description="seconds until it clears itself")

    @model_validator(mode="after")
    def _check(self) -> FaultSpec:
        t = self.target
        if self.kind in _POD_KINDS and not (t.deployment or t.labels or t.pod):
            raise ValueError(
                f"fault {self.kind!r} needs target.deployment, target.labels or target.pod"
            )
        if self.kind in _NODE_KINDS and not t.node:
            raise ValueError(f"fault {self.kind!r} needs target.node")
        if self.kind == "traffic-spike" and not t.service:
            raise ValueError("fault 'traffic-spike' needs target.service")
        unknown = sorted(set(self.params) - _PARAMS[self.kind])
        if unknown:
            allowed = ", ".join(sorted(_PARAMS[self.kind])) or "none"
            raise ValueError(
                f"fault {self.kind!r} does not take params {unknown} (allowed: {allowed})"
            )
        return self


@dataclass(frozen=True, slots=True)
class ActiveFault:
    """A fault in effect."""

    id: str
    spec: FaultSpec
    started_at: float
    expires_at: float | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.spec.kind,
            "target": self.spec.target.model_dump(exclude_none=True),
            "params": dict(self.spec.params),
            "duration": self.spec.duration,
            "startedAt": format_time(self.started_at),
            "expiresAt": format_time(self.expires_at) if self.expires_at is not None else None,
            "detail": self.detail,
        }


@dataclass
class _Record:
    fault: ActiveFault
    undo: Callable[[], None] = field(default=lambda: None)


def _split(image: str) -> tuple[str, str]:
    ref = image.split("@", 1)[0]
    slash, colon = ref.rfind("/"), ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, "latest"


def _float(params: Mapping[str, object], key: str, default: float) -> float:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise FaultError(f"param {key!r} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise FaultError(f"param {key!r} must be a number, got {value!r}") from None


def _bytes(params: Mapping[str, object], key: str, default: int | None) -> int | None:
    if key not in params:
        return default
    try:
        return memory_quantity(params[key])
    except ProfileError as e:
        raise FaultError(f"param {key!r}: {e}") from e


class FaultInjector:
    """Injects, lists, clears and expires faults (see the module docstring)."""

    name = "faults"

    def __init__(
        self,
        *,
        store: ObjectStore,
        runtime: RuntimeState,
        clock: Clock,
        profiles: ProfileRegistry,
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.clock = clock
        self.profiles = profiles
        self._faults: dict[str, _Record] = {}
        self._ids = itertools.count(1)
        self.history: list[ActiveFault] = []
        if self not in profiles.expirers:
            profiles.expirers.append(self)

    # ----------------------------------------------------------------- public

    def inject(self, spec: FaultSpec) -> str:
        """Start a fault; returns its id. One-shot faults (pod-kill) are done at once."""
        now = self.clock.now()
        fault_id = f"{spec.kind}-{next(self._ids)}"
        with self.store.lock:
            detail, undo, lasting = self._apply(fault_id, spec)
        expires = now + spec.duration if spec.duration is not None and lasting else None
        fault = ActiveFault(fault_id, spec, now, expires, detail)
        self.history.append(fault)
        if lasting:
            self._faults[fault_id] = _Record(fault, undo)
        log.info("fault %s injected: %s", fault_id, detail)
        return fault_id

    def clear(self, fault_id: str) -> None:
        """End a fault and undo what it did."""
        record = self._faults.pop(fault_id, None)
        if record is None:
            raise UnknownFault(f"no active fault {fault_id!r}")
        with self.store.lock:
            record.undo()
        log.info("fault %s cleared", fault_id)

    def clear_all(self) -> int:
        ids = list(self._faults)
        for fault_id in ids:
            self.clear(fault_id)
        return len(ids)

    def active(self) -> list[ActiveFault]:
        return [r.fault for r in self._faults.values()]

    def step(self, now: float) -> None:
        """Clear the faults whose duration has run out."""
        for fault_id, record in list(self._faults.items()):
            expires = record.fault.expires_at
            if expires is not None and now >= expires:
                self.clear(fault_id)

    # ----------------------------------------------------------------- targets

    def _deployment(self, spec: FaultSpec) -> Obj:
        t = spec.target
        assert t.deployment is not None
        found = self.store.find(
            self.store.rtype("apps", "v1", "deployments"), t.namespace, t.deployment
        )
        if found is None:
            raise FaultTargetError(
                f'deployment "{t.deployment}" not found in namespace "{t.namespace}"'
            )
        return found

    def _selector(self, spec: FaultSpec) -> LabelSelector | None:
        t = spec.target
        try:
            if t.deployment:
                selector = (self._deployment(spec).get("spec") or {}).get("selector")
                return LabelSelector.from_api(selector if isinstance(selector, dict) else None)
            if t.labels:
                return LabelSelector.from_labels(t.labels)
        except SelectorError as e:
            raise FaultTargetError(f"invalid target selector: {e}") from e
        return None

    def _pods(self, spec: FaultSpec) -> list[Obj]:
        t = spec.target
        pods_rt = self.store.rtype("", "v1", "pods")
        if t.pod:
            pod = self.store.find(pods_rt, t.namespace, t.pod)
            return [pod] if pod is not None else []
        return self.store.list_objects(pods_rt, t.namespace, label_selector=self._selector(spec))

    def _node_runtime(self, spec: FaultSpec) -> NodeRuntime:
        name = spec.target.node or ""
        if self.store.find(self.store.rtype("", "v1", "nodes"), None, name) is None:
            raise FaultTargetError(f'node "{name}" not found')
        return self.runtime.nodes.setdefault(name, NodeRuntime(name=name))

    # ----------------------------------------------------------------- kinds

    def _apply(self, fid: str, spec: FaultSpec) -> tuple[str, Callable[[], None], bool]:
        kind, t, p = spec.kind, spec.target, spec.params
        if kind in ("crash-on-start", "image-pull-error") and t.deployment:
            return self._patch_image(spec)
        if kind == "pod-kill":
            return self._kill_pods(spec)
        if kind in _NODE_KINDS:
            return self._node_fault(spec)
        if kind == "traffic-spike":
            svc_rt = self.store.rtype("", "v1", "services")
            if self.store.find(svc_rt, t.namespace, t.service or "") is None:
                raise FaultTargetError(
                    f'service "{t.service}" not found in namespace "{t.namespace}"'
                )
            factor = _float(p, "multiplier", 5.0)
            override = Override(
                id=fid, namespace=t.namespace, service=t.service, traffic_multiplier=factor
            )
            return self._install(override, f"traffic to {t.namespace}/{t.service} x{factor:g}")
        # pod behaviour overrides
        selector = self._selector(spec)
        if t.deployment is None and not self._pods(spec):
            raise FaultTargetError(f"no pod matches the target in namespace {t.namespace!r}")
        base: dict[str, Any] = {
            "id": fid,
            "namespace": t.namespace,
            "selector": selector,
            "pod": t.pod,
            "container": t.container,
        }
        if kind == "crash-on-start":
            override = Override(**base, crash_on_start=True)
            what = "containers crash on start"
        elif kind == "image-pull-error":
            override = Override(**base, image_missing=True)
            what = "image pulls fail"
        elif kind == "memory-leak":
            rate = _bytes(p, "bytes_per_second", 5 * 2**20) or 0
            override = Override(**base, leak_bytes_per_second=float(rate))
            what = f"memory leaks {rate} bytes/s"
        elif kind == "cpu-hog":
            cores = _float(p, "cores", 1.0)
            override = Override(**base, extra_cpu_cores=cores)
            what = f"{cores:g} extra cores of CPU demand"
        elif kind == "latency-spike":
            ms = _float(p, "latency_ms", 500.0)
            mult = _float(p, "multiplier", 1.0)
            override = Override(**base, extra_latency_seconds=ms / 1000, latency_multiplier=mult)
            what = f"+{ms:g} ms latency (x{mult:g})"
        elif kind == "error-burst":
            share = _float(p, "error_rate", 0.5)
            if not 0 <= share <= 1:
                raise FaultError(f"error_rate must be between 0 and 1, got {share}")
            override = Override(**base, error_rate=share, error_status=str(p.get("status", "500")))
            what = f"{share:.0%} of requests fail"
        else:  # hang
            after = _float(p, "after_seconds", 0.0)
            override = Override(**base, hang_after_seconds=after)
            what = f"app hangs {after:g}s after start"
        return self._install(override, what)

    def _install(self, override: Override, what: str) -> tuple[str, Callable[[], None], bool]:
        self.profiles.add_override(override)
        return what, lambda: self.profiles.remove_override(override.id), True

    def _patch_image(self, spec: FaultSpec) -> tuple[str, Callable[[], None], bool]:
        t = spec.target
        deploy = self._deployment(spec)
        containers = ((deploy.get("spec") or {}).get("template") or {}).get("spec", {}).get(
            "containers"
        ) or []
        index = 0
        if t.container:
            names = [c.get("name") for c in containers]
            if t.container not in names:
                raise FaultTargetError(
                    f'container "{t.container}" not found in deployment "{t.deployment}"'
                )
            index = names.index(t.container)
        if not containers:
            raise FaultTargetError(f'deployment "{t.deployment}" has no containers')
        original = str(containers[index].get("image", ""))
        repo, tag = _split(original)
        if spec.kind == "crash-on-start":
            bad = str(spec.params.get("image") or f"{repo}:crash-{tag}")
        else:
            bad = str(spec.params.get("image") or f"{repo}:missing")
        cname = str(containers[index].get("name"))
        rtype = self.store.rtype("apps", "v1", "deployments")
        cause_key = "kubernetes.io/change-cause"
        old_cause = (deploy["metadata"].get("annotations") or {}).get(cause_key)

        def set_image(image: str, cause: str | None) -> Callable[[Obj], None]:
            def change(obj: Obj) -> None:
                obj["spec"]["template"]["spec"]["containers"][index]["image"] = image
                annotations = obj["metadata"].setdefault("annotations", {})
                if cause is None:
                    annotations.pop(cause_key, None)
                else:
                    annotations[cause_key] = cause

            return change

        self.store.mutate(
            rtype,
            t.namespace,
            t.deployment or "",
            set_image(bad, f"kubectl set image deployment/{t.deployment} {cname}={bad}"),
        )

        def undo() -> None:
            current = self.store.find(rtype, t.namespace, t.deployment or "")
            if current is None:
                return
            now_containers = current["spec"]["template"]["spec"].get("containers") or []
            if index < len(now_containers) and now_containers[index].get("image") == bad:
                self.store.mutate(
                    rtype, t.namespace, t.deployment or "", set_image(original, old_cause)
                )

        return f"deployment {t.namespace}/{t.deployment}: image {original} -> {bad}", undo, True

    def _kill_pods(self, spec: FaultSpec) -> tuple[str, Callable[[], None], bool]:
        pods = [p for p in self._pods(spec) if not p["metadata"].get("deletionTimestamp")]
        if not pods:
            raise FaultTargetError(
                f"no pod matches the target in namespace {spec.target.namespace!r}"
            )
        count = max(1, int(_float(spec.params, "count", 1)))
        pods.sort(key=lambda p: str(p["metadata"]["name"]))
        killed: list[str] = []
        pods_rt = self.store.rtype("", "v1", "pods")
        for pod in pods[:count]:
            meta = pod["metadata"]
            for c in (pod.get("spec") or {}).get("containers") or ():
                self.store.record_event(
                    pod, reason="Killing", message=f"Stopping container {c.get('name')}"
                )
            try:
                self.store.delete(pods_rt, meta.get("namespace"), meta["name"])
            except (NotFound, ApiError):
                continue
            killed.append(str(meta["name"]))
        return f"deleted pods {', '.join(killed)}", lambda: None, False

    def _node_fault(self, spec: FaultSpec) -> tuple[str, Callable[[], None], bool]:
        nrt = self._node_runtime(spec)
        name = spec.target.node or ""
        if spec.kind == "node-not-ready":
            nrt.ready = False

            def undo_ready() -> None:
                nrt.ready = True

            return f"kubelet on {name} stopped", undo_ready, True
        if spec.kind == "node-memory-pressure":
            node = self.store.get(self.store.rtype("", "v1", "nodes"), None, name)
            threshold = memory_threshold(node, NodeConfig())
            available = nrt.memory_available_bytes
            if nrt.memory_total_bytes == 0:  # not measured yet: estimate from the capacity
                cfg, memory = NodeConfig(), node_capacity(node).memory
                available = memory - cfg.os_memory_bytes - int(memory * cfg.os_memory_fraction)
            default = max(0, available - threshold // 2)
            amount = _bytes(spec.params, "bytes", default) or 0
            nrt.extra_memory_bytes += amount

            def undo_mem() -> None:
                nrt.extra_memory_bytes = max(0, nrt.extra_memory_bytes - amount)

            return f"{amount} bytes of memory taken on {name}", undo_mem, True
        total, avail = nrt.fs_size_bytes, nrt.fs_avail_bytes
        if total == 0:  # not measured yet: estimate from the capacity
            node = self.store.get(self.store.rtype("", "v1", "nodes"), None, name)
            total = node_capacity(node).storage
            avail = int(total * (1 - NodeConfig().os_fs_fraction))
        default = max(0, avail - int(total * 0.05))
        amount = _bytes(spec.params, "bytes", default) or 0
        nrt.extra_fs_bytes += amount

        def undo_fs() -> None:
            nrt.extra_fs_bytes = max(0, nrt.extra_fs_bytes - amount)

        return f"{amount} bytes of disk taken on {name}", undo_fs, True

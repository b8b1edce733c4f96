"""Making faults: through the Kubernetes API, as LitmusChaos/Chaos Mesh resources, or simulated.

`FaultDriver.resolve` finds what a fault would hit (the preflight: an empty selection is an
error before anything is injected); `FaultDriver.inject` makes one round of it and returns an
`Injection` with its own undo, which the runner calls when the fault's duration ends and,
whatever happens, in its rollbacks.

How each fault is made:

* native (plain API calls, any cluster and the twin): ``pod-delete`` (DELETE of the chosen
  pods), ``scale-to-zero`` (patch replicas; undo restores them), ``bad-rollout`` (patch the
  container image; undo restores it if it is still the bad one), ``node-cordon`` (patch
  ``spec.unschedulable``), ``node-drain`` (cordon, then the Eviction API for every pod not
  owned by a DaemonSet, so PodDisruptionBudgets are respected), ``config-change`` (merge
  patch of ConfigMap keys; undo restores the old values);
* generated (real cluster): ``pod-network-latency``, ``pod-cpu-hog``, ``pod-memory-hog``,
  ``container-kill``, ``node-memory-pressure`` as a LitmusChaos ChaosEngine or a Chaos Mesh
  resource (`kubeheal.chaos.generate`); undo deletes it (it also expires by itself);
* simulated (when a `Simulator` is given, e.g. the cluster twin's fault injector): the same
  faults plus ``memory-leak``, ``node-not-ready``, ``node-disk-pressure``, ``pod-hang``,
  ``pod-http-errors`` and ``traffic-spike`` (the twin only), handed over as the simulator's
  fault specs; ``image-pull-error`` is native (an image tag no registry has). A network delay
  of at least a container's probe timeout also makes its probes time out (``hang``), as
  the kubelet's probes cross the delayed pod network.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from kubeheal.chaos.errors import FaultFailed, TargetSelectionError, UnsupportedFault
from kubeheal.chaos.generate import GeneratedResource, chaos_mesh_resource, litmus_engine
from kubeheal.chaos.spec import (
    SIMULATED_ONLY,
    BadRollout,
    ConfigChange,
    ContainerKill,
    Experiment,
    FaultSpec,
    ImagePullError,
    MemoryLeak,
    NodeCordon,
    NodeDiskPressure,
    NodeDrain,
    NodeMemoryPressure,
    NodeNotReady,
    NodeTarget,
    PodCpuHog,
    PodDelete,
    PodHang,
    PodHttpErrors,
    PodMemoryHog,
    PodNetworkLatency,
    PodTarget,
    ScaleToZero,
    TrafficSpike,
    WorkloadRef,
)
from kubeheal.clients.kube import KubeError, KubeNotFound
from kubeheal.clients.writer import Kind, KubeDisruptionBlocked, KubeWriter, PatchKind
from kubeheal.model.core import TargetKind
from kubeheal.store.records import TargetRef

__all__ = ["FaultDriver", "Injection", "Resolved", "Simulator", "owner_of"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Undo = Callable[[], Awaitable[None]]


class Simulator(Protocol):
    """A simulated cluster that makes faults itself (the twin's fault injector).

    ``inject`` takes the twin's fault spec as JSON data (``kind``, ``target`` with
    namespace/deployment/labels/pod/container/node, ``params``, ``duration`` in seconds) and
    returns the fault's id; ``clear`` ends it. Kinds used: latency-spike, hang, cpu-hog,
    memory-leak, error-burst, traffic-spike, node-memory-pressure, node-disk-pressure,
    node-not-ready.
    """

    def inject(self, spec: Mapping[str, Any]) -> str: ...

    def clear(self, fault_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Resolved:
    """What a fault would hit now."""

    pods: tuple[Obj, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    node: str | None = None
    workloads: frozenset[TargetRef] = frozenset()


@dataclass
class Injection:
    """One round of one fault."""

    fault: str
    at: datetime
    description: str
    targets: frozenset[TargetRef]
    undo: Undo | None = None
    undone: bool = False


def owner_of(pod: Mapping[str, Any]) -> TargetRef | None:
    """The workload owning ``pod`` (a ReplicaSet's pods belong to its Deployment)."""
    meta = pod.get("metadata") or {}
    namespace = str(meta.get("namespace", ""))
    for ref in meta.get("ownerReferences") or ():
        kind, name = ref.get("kind"), str(ref.get("name", ""))
        if kind == "ReplicaSet":
            template_hash = (meta.get("labels") or {}).get("pod-template-hash")
            if template_hash and name.endswith(f"-{template_hash}"):
                return TargetRef(TargetKind.DEPLOYMENT, namespace, name[: -len(template_hash) - 1])
            return TargetRef(TargetKind.REPLICASET, namespace, name)
        if kind in ("StatefulSet", "DaemonSet", "Job"):
            return TargetRef(TargetKind(kind), namespace, name)
    return None


def _live(pods: Sequence[Obj]) -> list[Obj]:
    return [
        p
        for p in pods
        if not (p.get("metadata") or {}).get("deletionTimestamp")
        and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    ]


def _probe_timeout(pod: Mapping[str, Any], container: str | None) -> float:
    """The shortest liveness/readiness probe timeout of the pod's (or one container's)."""
    timeouts: list[float] = []
    for c in (pod.get("spec") or {}).get("containers") or ():
        if container and c.get("name") != container:
            continue
        for kind in ("livenessProbe", "readinessProbe"):
            probe = c.get(kind)
            if probe:
                timeouts.append(float(probe.get("timeoutSeconds") or 1))
    return min(timeouts) if timeouts else float("inf")


class FaultDriver:
    """Resolves and injects the faults of one experiment."""

    def __init__(
        self,
        *,
        experiment: Experiment,
        kube: KubeWriter,
        simulator: Simulator | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.experiment = experiment
        self.kube = kube
        self.simulator = simulator
        self.clock = clock
        self.rng = random.Random(experiment.settings.seed)

    # ----------------------------------------------------------------- resolving

    async def resolve(self, fault: FaultSpec) -> Resolved:
        """What ``fault`` would hit; `TargetSelectionError` when nothing,
        `UnsupportedFault` when it cannot be made here."""
        self._check_supported(fault)
        try:
            if isinstance(fault, ScaleToZero | BadRollout):
                return await self._resolve_workload(fault.name, fault.target)
            if isinstance(
                fault, NodeCordon | NodeDrain | NodeMemoryPressure | NodeNotReady | NodeDiskPressure
            ):
                node = await self._resolve_node(fault.name, fault.target)
                return Resolved(
                    node=node, workloads=frozenset({TargetRef(TargetKind.NODE, "", node)})
                )
            if isinstance(fault, ConfigChange):
                try:
                    await self.kube.get(Kind.CONFIGMAP, fault.namespace, fault.configmap)
                except KubeNotFound:
                    raise TargetSelectionError(
                        f"fault {fault.name!r}: ConfigMap {fault.namespace}/{fault.configmap} "
                        "not found"
                    ) from None
                return Resolved()
            return await self._resolve_pods(fault.name, fault.target)
        except KubeError as e:
            if isinstance(e, KubeNotFound):
                raise TargetSelectionError(f"fault {fault.name!r}: {e.message}") from e
            raise FaultFailed(f"fault {fault.name!r}: cannot read its target: {e}") from e

    def _provider(self, fault: FaultSpec) -> str:
        provider = getattr(fault, "provider", "native")
        if isinstance(fault, SIMULATED_ONLY):
            return "simulated"
        if provider == "auto":
            if self.simulator is not None:
                return "simulated"
            if isinstance(fault, MemoryLeak):
                return "simulated"
            if isinstance(fault, NodeMemoryPressure):
                return "litmus"
            return self.experiment.settings.provider
        return str(provider)

    def _check_supported(self, fault: FaultSpec) -> None:
        provider = self._provider(fault)
        if provider == "native":
            return
        if provider == "simulated":
            if self.simulator is None:
                raise UnsupportedFault(
                    f"fault {fault.name!r} ({fault.fault}) is simulated by the cluster twin "
                    "only; on a real cluster use provider litmus or chaos-mesh"
                    + (
                        " (memory-leak has no real-cluster equivalent)"
                        if isinstance(fault, MemoryLeak)
                        else ""
                    )
                )
            if isinstance(fault, PodMemoryHog | ContainerKill):
                raise UnsupportedFault(
                    f"fault {fault.name!r} ({fault.fault}) is not simulated by the twin"
                )
            return
        if provider == "chaos-mesh" and isinstance(fault, NodeMemoryPressure):
            raise UnsupportedFault(
                f"fault {fault.name!r}: node memory pressure is generated for Litmus only"
            )

    async def _workload(self, ref: WorkloadRef) -> Obj:
        kind = Kind.DEPLOYMENT if ref.kind == "Deployment" else Kind.STATEFULSET
        return await self.kube.get(kind, ref.namespace, ref.name)

    async def _resolve_workload(self, name: str, ref: WorkloadRef) -> Resolved:
        try:
            await self._workload(ref)
        except KubeNotFound:
            raise TargetSelectionError(
                f"fault {name!r}: {ref.kind} {ref.namespace}/{ref.name} not found"
            ) from None
        return Resolved(
            workloads=frozenset({TargetRef(TargetKind(ref.kind), ref.namespace, ref.name)})
        )

    async def _resolve_node(self, name: str, target: NodeTarget) -> str:
        if target.name is not None:
            try:
                await self.kube.get(Kind.NODE, None, target.name)
            except KubeNotFound:
                raise TargetSelectionError(
                    f"fault {name!r}: node {target.name!r} not found"
                ) from None
            return target.name
        nodes = await self.kube.list(Kind.NODE, None, labels=dict(target.labels or {}))
        if not nodes:
            raise TargetSelectionError(f"fault {name!r}: no node has labels {target.labels}")
        return sorted(str(n["metadata"]["name"]) for n in nodes)[0]

    async def _labels(self, name: str, target: PodTarget) -> dict[str, str]:
        if target.labels:
            return dict(target.labels)
        try:
            dep = await self.kube.get(Kind.DEPLOYMENT, target.namespace, target.deployment or "")
        except KubeNotFound:
            raise TargetSelectionError(
                f"fault {name!r}: deployment {target.namespace}/{target.deployment} not found"
            ) from None
        match = ((dep.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        if not match:
            raise TargetSelectionError(
                f"fault {name!r}: deployment {target.deployment} has no matchLabels selector"
            )
        return {str(k): str(v) for k, v in match.items()}

    async def _resolve_pods(self, name: str, target: PodTarget) -> Resolved:
        labels = await self._labels(name, target)
        pods = _live(await self.kube.list(Kind.POD, target.namespace, labels=labels))
        if not pods:
            raise TargetSelectionError(
                f"fault {name!r}: no running pod matches labels {labels} in namespace "
                f"{target.namespace!r}"
            )
        if target.container:
            names = {c.get("name") for p in pods for c in p["spec"].get("containers") or ()}
            if target.container not in names:
                raise TargetSelectionError(
                    f"fault {name!r}: the pods have no container {target.container!r}"
                )
        workloads = {w for w in (owner_of(p) for p in pods) if w is not None}
        if target.deployment:
            workloads.add(TargetRef(TargetKind.DEPLOYMENT, target.namespace, target.deployment))
        return Resolved(pods=tuple(pods), labels=labels, workloads=frozenset(workloads))

    def _choose(self, target: PodTarget, pods: Sequence[Obj]) -> list[Obj]:
        ordered = sorted(pods, key=lambda p: str(p["metadata"]["name"]))
        return self.rng.sample(ordered, target.how_many(len(ordered)))

    # ----------------------------------------------------------------- injecting

    async def inject(self, fault: FaultSpec) -> Injection:
        """Make one round of ``fault`` now."""
        resolved = await self.resolve(fault)
        try:
            description, undo = await self._make(fault, resolved)
        except (TargetSelectionError, UnsupportedFault, FaultFailed):
            raise
        except KubeError as e:
            raise FaultFailed(f"fault {fault.name!r}: {e}") from e
        except (ValueError, LookupError, RuntimeError) as e:  # the simulator's errors
            raise FaultFailed(f"fault {fault.name!r}: {e}") from e
        log.info("chaos: fault %s injected: %s", fault.name, description)
        return Injection(fault.name, self.clock(), description, resolved.workloads, undo)

    async def _make(self, fault: FaultSpec, r: Resolved) -> tuple[str, Undo | None]:
        if isinstance(fault, PodDelete):
            return await self._pod_delete(fault, r)
        if isinstance(fault, ScaleToZero):
            return await self._scale_to_zero(fault)
        if isinstance(fault, BadRollout):
            return await self._bad_rollout(fault)
        if isinstance(fault, NodeCordon | NodeDrain):
            return await self._cordon(fault, r)
        if isinstance(fault, ConfigChange):
            return await self._config(fault)
        provider = self._provider(fault)
        if provider == "simulated":
            return self._simulate(fault, r)
        return await self._generated(fault, r, provider)

    async def _pod_delete(self, fault: PodDelete, r: Resolved) -> tuple[str, Undo | None]:
        chosen = self._choose(fault.target, r.pods)
        deleted: list[str] = []
        for pod in chosen:
            meta = pod["metadata"]
            try:
                await self.kube.delete(Kind.POD, meta["namespace"], meta["name"])
            except KubeNotFound:
                continue
            deleted.append(str(meta["name"]))
        return f"deleted {len(deleted)}/{len(r.pods)} pods: {', '.join(deleted)}", None

    async def _scale_to_zero(self, fault: ScaleToZero) -> tuple[str, Undo | None]:
        ref = fault.target
        kind = Kind.DEPLOYMENT if ref.kind == "Deployment" else Kind.STATEFULSET
        obj = await self.kube.get(kind, ref.namespace, ref.name)
        replicas = int((obj.get("spec") or {}).get("replicas", 1))
        await self.kube.patch(
            kind, ref.namespace, ref.name, {"spec": {"replicas": 0}}, patch_kind=PatchKind.MERGE
        )

        async def undo() -> None:
            await self.kube.patch(
                kind,
                ref.namespace,
                ref.name,
                {"spec": {"replicas": replicas}},
                patch_kind=PatchKind.MERGE,
            )

        return f"{ref.kind} {ref.namespace}/{ref.name} scaled {replicas} -> 0", undo

    async def _bad_rollout(self, fault: BadRollout) -> tuple[str, Undo | None]:
        ref = fault.target
        kind = Kind.DEPLOYMENT if ref.kind == "Deployment" else Kind.STATEFULSET
        obj = await self.kube.get(kind, ref.namespace, ref.name)
        containers = obj["spec"]["template"]["spec"].get("containers") or []
        names = [str(c.get("name")) for c in containers]
        cname = fault.container or (names[0] if names else "")
        if cname not in names:
            raise TargetSelectionError(
                f"fault {fault.name!r}: {ref.kind} {ref.name} has no container {cname!r}"
            )
        original = str(containers[names.index(cname)].get("image", ""))
        repo, _, tag = (
            original.rpartition(":")
            if ":" in original.rsplit("/", 1)[-1]
            else (original, "", "latest")
        )
        broken = "missing" if isinstance(fault, ImagePullError) else "crash"
        bad = fault.image or f"{repo}:{broken}-{tag}"

        def body(image: str) -> Obj:
            return {
                "spec": {"template": {"spec": {"containers": [{"name": cname, "image": image}]}}}
            }

        await self.kube.patch(kind, ref.namespace, ref.name, body(bad))

        async def undo() -> None:
            current = await self.kube.get(kind, ref.namespace, ref.name)
            now = {
                str(c.get("name")): c.get("image")
                for c in current["spec"]["template"]["spec"].get("containers") or []
            }
            if now.get(cname) == bad:
                await self.kube.patch(kind, ref.namespace, ref.name, body(original))

        return f"{ref.kind} {ref.namespace}/{ref.name}: image {original} -> {bad}", undo

    async def _cordon(self, fault: NodeCordon | NodeDrain, r: Resolved) -> tuple[str, Undo | None]:
        node = r.node or ""
        obj = await self.kube.get(Kind.NODE, None, node)
        was = bool((obj.get("spec") or {}).get("unschedulable"))
        undo: Undo | None = None
        if not was:
            await self.kube.patch(
                Kind.NODE, None, node, {"spec": {"unschedulable": True}}, patch_kind=PatchKind.MERGE
            )

            async def uncordon() -> None:
                await self.kube.patch(
                    Kind.NODE,
                    None,
                    node,
                    {"spec": {"unschedulable": None}},
                    patch_kind=PatchKind.MERGE,
                )

            undo = uncordon
        what = f"node {node} cordoned" + (" (it already was)" if was else "")
        if isinstance(fault, NodeCordon):
            return what, undo
        evicted, blocked = [], []
        for pod in _live(await self.kube.list(Kind.POD, None)):
            if (pod.get("spec") or {}).get("nodeName") != node:
                continue
            owner = owner_of(pod)
            if owner is not None and owner.kind == "DaemonSet":
                continue
            meta = pod["metadata"]
            try:
                await self.kube.evict(meta["namespace"], meta["name"])
                evicted.append(f"{meta['namespace']}/{meta['name']}")
            except KubeDisruptionBlocked:
                blocked.append(f"{meta['namespace']}/{meta['name']}")
            except KubeNotFound:
                continue
        what += f", {len(evicted)} pods evicted"
        if blocked:
            what += f", {len(blocked)} kept by PodDisruptionBudgets ({', '.join(blocked)})"
        return what, undo

    async def _config(self, fault: ConfigChange) -> tuple[str, Undo | None]:
        obj = await self.kube.get(Kind.CONFIGMAP, fault.namespace, fault.configmap)
        before = dict(obj.get("data") or {})
        await self.kube.patch(
            Kind.CONFIGMAP,
            fault.namespace,
            fault.configmap,
            {"data": dict(fault.data)},
            patch_kind=PatchKind.MERGE,
        )
        restore = {k: before.get(k) for k in fault.data}

        async def undo() -> None:
            await self.kube.patch(
                Kind.CONFIGMAP,
                fault.namespace,
                fault.configmap,
                {"data": restore},
                patch_kind=PatchKind.MERGE,
            )

        keys = ", ".join(sorted(fault.data))
        return f"ConfigMap {fault.namespace}/{fault.configmap}: changed {keys}", undo

    def _simulate(self, fault: FaultSpec, r: Resolved) -> tuple[str, Undo | None]:
        sim = self.simulator
        assert sim is not None
        duration = fault.duration.total_seconds()
        specs: list[Obj] = []
        if isinstance(fault, PodNetworkLatency | PodCpuHog):
            for pod in self._choose(fault.target, r.pods):
                where: dict[str, Any] = {
                    "namespace": fault.target.namespace,
                    "pod": pod["metadata"]["name"],
                }
                if fault.target.container:
                    where["container"] = fault.target.container
                if isinstance(fault, PodCpuHog):
                    cores = fault.cores * fault.load / 100
                    specs.append({"kind": "cpu-hog", "target": where, "params": {"cores": cores}})
                    continue
                ms = fault.latency.total_seconds() * 1000
                specs.append(
                    {"kind": "latency-spike", "target": where, "params": {"latency_ms": ms}}
                )
                if ms / 1000 >= _probe_timeout(pod, fault.target.container):
                    specs.append({"kind": "hang", "target": where, "params": {"after_seconds": 0}})
        elif isinstance(fault, MemoryLeak):
            target: dict[str, Any] = {"namespace": fault.target.namespace}
            if fault.target.deployment:
                target["deployment"] = fault.target.deployment
            else:
                target["labels"] = dict(r.labels)
            specs.append(
                {
                    "kind": "memory-leak",
                    "target": target,
                    "params": {"bytes_per_second": fault.bytes_per_second},
                }
            )
        elif isinstance(fault, NodeMemoryPressure):
            specs.append({"kind": "node-memory-pressure", "target": {"node": r.node}})
        elif isinstance(fault, NodeNotReady | NodeDiskPressure):
            specs.append({"kind": fault.fault, "target": {"node": r.node}})
        elif isinstance(fault, PodHang | PodHttpErrors):
            workload: dict[str, Any] = {"namespace": fault.target.namespace}
            if fault.target.deployment:
                workload["deployment"] = fault.target.deployment
            else:
                workload["labels"] = dict(r.labels)
            if fault.target.container:
                workload["container"] = fault.target.container
            if isinstance(fault, PodHang):
                params: dict[str, Any] = {"after_seconds": fault.after.total_seconds()}
                specs.append({"kind": "hang", "target": workload, "params": params})
            else:
                params = {"error_rate": fault.error_rate, "status": str(fault.status)}
                specs.append({"kind": "error-burst", "target": workload, "params": params})
        elif isinstance(fault, TrafficSpike):
            specs.append(
                {
                    "kind": "traffic-spike",
                    "target": {"namespace": fault.target.namespace, "service": fault.service},
                    "params": {"multiplier": fault.multiplier},
                }
            )
        else:  # pragma: no cover - _check_supported refuses the rest
            raise UnsupportedFault(f"fault {fault.name!r} is not simulated")
        ids: list[str] = []
        try:
            for spec in specs:
                ids.append(sim.inject({**spec, "duration": duration}))
        except Exception:
            for fid in ids:
                self._clear(fid)
            raise

        async def undo() -> None:
            for fid in ids:
                self._clear(fid)

        return f"simulated: {', '.join(ids)}", undo

    def _clear(self, fault_id: str) -> None:
        assert self.simulator is not None
        with contextlib.suppress(LookupError):  # it expired by itself
            self.simulator.clear(fault_id)

    async def _generated(self, fault: FaultSpec, r: Resolved, provider: str) -> tuple[str, Undo]:
        settings = self.experiment.settings
        resource: GeneratedResource
        if provider == "chaos-mesh":
            resource = chaos_mesh_resource(
                fault, experiment=self.experiment.name, labels=dict(r.labels)
            )
        else:
            resource = litmus_engine(
                fault,
                experiment=self.experiment.name,
                labels=dict(r.labels) or None,
                node=r.node,
                service_account=settings.litmus.service_account,
                namespace=settings.litmus.namespace,
            )
        await self.kube.create_custom(
            group=resource.group,
            version=resource.version,
            plural=resource.plural,
            namespace=resource.namespace,
            obj=resource.body,
        )

        async def undo() -> None:
            with contextlib.suppress(KubeNotFound):
                await self.kube.delete_custom(
                    group=resource.group,
                    version=resource.version,
                    plural=resource.plural,
                    namespace=resource.namespace,
                    name=resource.name,
                )

        return f"created {resource.kind} {resource.namespace}/{resource.name}", undo

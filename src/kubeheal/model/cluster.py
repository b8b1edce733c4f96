"""An indexed snapshot of slim Kubernetes objects (`kubeheal.model.objects`, re-exported
here).

``ClusterView`` indexes a snapshot: owner chains, pods per workload,
PodDisruptionBudgets per pod, HPAs per workload.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

import msgspec

from kubeheal.model.core import Target, TargetKind
from kubeheal.model.objects import (
    REVISION_ANNOTATION,
    Condition,
    Container,
    ContainerState,
    ContainerStateRunning,
    ContainerStateTerminated,
    ContainerStateWaiting,
    ContainerStatus,
    CrossVersionObjectReference,
    Deployment,
    DeploymentSpec,
    DeploymentStatus,
    DeploymentStrategy,
    HorizontalPodAutoscaler,
    HPASpec,
    HPAStatus,
    Namespace,
    Node,
    NodeSpec,
    NodeStatus,
    ObjectMeta,
    OwnerReference,
    Pod,
    PodDisruptionBudget,
    PodDisruptionBudgetSpec,
    PodDisruptionBudgetStatus,
    PodSpec,
    PodStatus,
    PodTemplateSpec,
    Quantity,
    ReplicaSet,
    ReplicaSetSpec,
    ReplicaSetStatus,
    ResourceRequirements,
    RollingUpdate,
    Taint,
    revision_of,
)
from kubeheal.model.selectors import selector_matches

__all__ = [
    "REVISION_ANNOTATION",
    "ClusterView",
    "Compactor",
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
    "LiveClusterView",
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

_POD_CONDITIONS_READ = frozenset({"Ready", "PodScheduled"})
_RUNNING = ContainerState(running=ContainerStateRunning())
_H = TypeVar("_H")


class Compactor:
    """Makes freshly decoded objects share their repeated parts, for a large cache.

    A decoder allocates every string anew, so 150,000 pods hold 150,000 copies of each
    namespace, node name, label value and condition status. ``pod`` rewrites a just-decoded
    (not yet shared) Pod in place so equal low-cardinality values (namespace, labels and
    annotations, owner references, node name, containers, phase, condition and container-state
    strings) are one object, and drops what nothing reads: pod conditions other than Ready and
    PodScheduled, and the start time of running containers. Unique values (name, uid,
    resourceVersion, timestamps) are left alone: a cache of them would only cost memory. The
    tables are bounded: past ``max_size`` entries they start again (objects already compacted
    keep their shared values).

    The shared dicts must be treated as read-only, like the frozen structs holding them.
    """

    __slots__ = ("_containers", "_mappings", "_values", "max_size")

    def __init__(self, *, max_size: int = 16_384) -> None:
        self.max_size = max_size
        self._values: dict[object, object] = {}
        self._mappings: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
        self._containers: dict[tuple[object, ...], tuple[Container, ...]] = {}

    def __len__(self) -> int:
        return len(self._values) + len(self._mappings) + len(self._containers)

    def value(self, value: _H) -> _H:
        """The shared object equal to ``value`` (which must be hashable)."""
        values = self._values
        found = values.get(value)
        if found is not None:
            return found  # type: ignore[return-value]
        if len(values) >= self.max_size:
            values.clear()
        values[value] = value
        return value

    def mapping(self, items: dict[str, str]) -> dict[str, str]:
        """The shared dict equal to ``items`` (same keys in the same order)."""
        key = tuple(items.items())
        found = self._mappings.get(key)
        if found is not None:
            return found
        if len(self._mappings) >= self.max_size:
            self._mappings.clear()
        self._mappings[key] = items
        return items

    def containers(self, containers: tuple[Container, ...]) -> tuple[Container, ...]:
        """The shared tuple of containers equal to ``containers``."""
        key = tuple(
            (
                c.name,
                c.image,
                tuple(c.resources.requests.items()),
                tuple(c.resources.limits.items()),
            )
            for c in containers
        )
        found = self._containers.get(key)
        if found is not None:
            return found
        if len(self._containers) >= self.max_size:
            self._containers.clear()
        self._containers[key] = containers
        return containers

    def meta(self, meta: ObjectMeta) -> None:
        """Share the repeated parts of ``meta`` (in place; ``meta`` must be fresh)."""
        put = msgspec.structs.force_setattr
        put(meta, "namespace", self.value(meta.namespace))
        put(meta, "labels", self.mapping(meta.labels))
        put(meta, "annotations", self.mapping(meta.annotations))
        if meta.owner_references:
            put(meta, "owner_references", self.value(meta.owner_references))

    def pod(self, pod: Pod) -> Pod:
        """``pod`` with its repeated parts shared (rewritten in place; returns it)."""
        put = msgspec.structs.force_setattr
        value = self.value
        meta = pod.metadata
        self.meta(meta)
        spec = pod.spec
        put(spec, "node_name", value(spec.node_name))
        if spec.containers:
            put(spec, "containers", self.containers(spec.containers))
        status = pod.status
        put(status, "phase", value(status.phase))
        # Times within one pod often coincide (scheduled when created, started when scheduled).
        times = [t for t in (status.start_time, meta.creation_timestamp) if t is not None]
        kept = []
        for cond in status.conditions:
            if cond.type in _POD_CONDITIONS_READ:
                put(cond, "type", value(cond.type))
                put(cond, "status", value(cond.status))
                put(cond, "reason", value(cond.reason))
                put(cond, "message", value(cond.message))
                moment = cond.last_transition_time
                for same in times:
                    if moment == same:
                        put(cond, "last_transition_time", same)
                        break
                kept.append(cond)
        put(status, "conditions", tuple(kept))
        statuses = []
        for cs in status.container_statuses:
            put(cs, "name", value(cs.name))
            state = cs.state
            # Running: only "is it running" is read, so every running state is one object.
            put(cs, "state", _RUNNING if state.running is not None else value(state))
            put(cs, "last_state", value(cs.last_state))
            statuses.append(value(cs))
        put(status, "container_statuses", value(tuple(statuses)))
        return pod

    def _workload(self, meta: ObjectMeta, template: PodTemplateSpec) -> None:
        self.meta(meta)
        self.meta(template.metadata)
        if template.spec.containers:
            msgspec.structs.force_setattr(
                template.spec, "containers", self.containers(template.spec.containers)
            )

    def deployment(self, dep: Deployment) -> Deployment:
        """``dep`` with its repeated parts shared (rewritten in place; returns it)."""
        self._workload(dep.metadata, dep.spec.template)
        self._conditions(dep.status.conditions)
        return dep

    def node(self, node: Node) -> Node:
        """``node`` with its repeated parts shared (rewritten in place; returns it)."""
        put = msgspec.structs.force_setattr
        self.meta(node.metadata)
        status = node.status
        put(status, "allocatable", self.mapping(status.allocatable))
        put(status, "capacity", self.mapping(status.capacity))
        self._conditions(status.conditions)
        if node.spec.taints:
            put(node.spec, "taints", self.value(node.spec.taints))
        return node

    def replica_set(self, rs: ReplicaSet) -> ReplicaSet:
        """``rs`` with its repeated parts shared (rewritten in place; returns it)."""
        self._workload(rs.metadata, rs.spec.template)
        return rs

    def _conditions(self, conditions: Iterable[Condition]) -> None:
        put, value = msgspec.structs.force_setattr, self.value
        for cond in conditions:
            put(cond, "type", value(cond.type))
            put(cond, "status", value(cond.status))
            put(cond, "reason", value(cond.reason))
            put(cond, "message", value(cond.message))


_Key = tuple[str, str]
_NO_PODS: dict[str, Pod] = {}
_K = TypeVar("_K")
_OWNER_KINDS = {
    "Deployment": TargetKind.DEPLOYMENT,
    "StatefulSet": TargetKind.STATEFULSET,
    "DaemonSet": TargetKind.DAEMONSET,
    "ReplicaSet": TargetKind.REPLICASET,
    "Job": TargetKind.JOB,
}


def _controller(meta: ObjectMeta) -> OwnerReference | None:
    for ref in meta.owner_references:
        if ref.controller:
            return ref
    return meta.owner_references[0] if meta.owner_references else None


def _key(meta: ObjectMeta) -> _Key:
    return (meta.namespace, meta.name)


class ClusterView:
    """An indexed, read-only snapshot of the cluster objects the engine reasons about.

    Build it with keyword arguments of decoded objects; the view never changes afterwards.
    Objects are keyed by (namespace, name); pods are ordered by name within each index.
    """

    __slots__ = (
        "_deployments",
        "_hpas",
        "_namespaces",
        "_nodes",
        "_pdbs_by_ns",
        "_pods",
        "_pods_by_node",
        "_pods_by_owner",
        "_replica_sets",
        "_rs_by_deployment",
    )

    def __init__(
        self,
        *,
        pods: Iterable[Pod] = (),
        nodes: Iterable[Node] = (),
        deployments: Iterable[Deployment] = (),
        replica_sets: Iterable[ReplicaSet] = (),
        pdbs: Iterable[PodDisruptionBudget] = (),
        hpas: Iterable[HorizontalPodAutoscaler] = (),
        namespaces: Iterable[Namespace] = (),
    ) -> None:
        # namespace -> name -> pod: no (namespace, name) tuple per pod in a large cache.
        self._pods: dict[str, dict[str, Pod]] = {}
        for p in pods:
            self._pods.setdefault(p.metadata.namespace, {})[p.metadata.name] = p
        self._nodes: dict[str, Node] = {n.metadata.name: n for n in nodes}
        self._deployments: dict[_Key, Deployment] = {_key(d.metadata): d for d in deployments}
        self._replica_sets: dict[_Key, ReplicaSet] = {_key(r.metadata): r for r in replica_sets}
        self._namespaces: dict[str, Namespace] = {n.metadata.name: n for n in namespaces}
        self._pdbs_by_ns: dict[str, list[PodDisruptionBudget]] = {}
        for pdb in sorted(pdbs, key=lambda p: _key(p.metadata)):
            self._pdbs_by_ns.setdefault(pdb.metadata.namespace, []).append(pdb)
        self._hpas: dict[_Key, HorizontalPodAutoscaler] = {_key(h.metadata): h for h in hpas}
        self._rs_by_deployment: dict[_Key, list[ReplicaSet]] = {}
        for rs in self._replica_sets.values():
            ref = _controller(rs.metadata)
            if ref is not None and ref.kind == "Deployment":
                owner = (rs.metadata.namespace, ref.name)
                self._rs_by_deployment.setdefault(owner, []).append(rs)
        for items in self._rs_by_deployment.values():
            items.sort(key=lambda r: (r.revision, r.metadata.name))
        self._pods_by_owner: dict[Target, list[Pod]] = {}
        self._pods_by_node: dict[str, list[Pod]] = {}
        for pod in self._sorted_pods():
            self._pods_by_owner.setdefault(self.owner_of(pod), []).append(pod)
            if pod.spec.node_name:
                self._pods_by_node.setdefault(pod.spec.node_name, []).append(pod)

    # -- lookups -------------------------------------------------------------------------

    def pod(self, namespace: str, name: str) -> Pod | None:
        """The pod ``namespace/name``."""
        return self._pods.get(namespace, _NO_PODS).get(name)

    def node(self, name: str) -> Node | None:
        """The node ``name``."""
        return self._nodes.get(name)

    def deployment(self, namespace: str, name: str) -> Deployment | None:
        """The Deployment ``namespace/name``."""
        return self._deployments.get((namespace, name))

    def replica_set(self, namespace: str, name: str) -> ReplicaSet | None:
        """The ReplicaSet ``namespace/name``."""
        return self._replica_sets.get((namespace, name))

    def namespace(self, name: str) -> Namespace | None:
        """The Namespace object ``name``, if the snapshot holds namespaces."""
        return self._namespaces.get(name)

    def hpa(self, namespace: str, name: str) -> HorizontalPodAutoscaler | None:
        """The HPA ``namespace/name``."""
        return self._hpas.get((namespace, name))

    @property
    def pods(self) -> tuple[Pod, ...]:
        """All pods, ordered by (namespace, name)."""
        return tuple(self._sorted_pods())

    def _sorted_pods(self) -> list[Pod]:
        pods = self._pods
        return [pods[ns][name] for ns in sorted(pods) for name in sorted(pods[ns])]

    def pod_snapshot(self) -> list[Pod]:
        """All pods in no particular order (cheaper than ``pods`` for a full scan)."""
        return [pod for by_name in self._pods.values() for pod in by_name.values()]

    @property
    def nodes(self) -> tuple[Node, ...]:
        """All nodes, ordered by name."""
        return tuple(self._nodes[name] for name in sorted(self._nodes))

    @property
    def deployments(self) -> tuple[Deployment, ...]:
        """All Deployments, ordered by (namespace, name)."""
        return tuple(self._deployments[key] for key in sorted(self._deployments))

    @property
    def hpas(self) -> tuple[HorizontalPodAutoscaler, ...]:
        """All HPAs, ordered by (namespace, name)."""
        return tuple(self._hpas[key] for key in sorted(self._hpas))

    # -- relations -----------------------------------------------------------------------

    def owner_of(self, pod: Pod) -> Target:
        """The workload that owns ``pod``: Deployment (via its ReplicaSet), StatefulSet,
        DaemonSet, Job, a bare ReplicaSet, or the pod itself when it has no controller."""
        meta = pod.metadata
        ref = _controller(meta)
        if ref is None or ref.kind not in _OWNER_KINDS:
            return Target(kind=TargetKind.POD, namespace=meta.namespace, name=meta.name)
        if ref.kind == "ReplicaSet":
            rs = self._replica_sets.get((meta.namespace, ref.name))
            if rs is not None:
                rs_owner = _controller(rs.metadata)
                if rs_owner is not None and rs_owner.kind == "Deployment":
                    return Target(
                        kind=TargetKind.DEPLOYMENT, namespace=meta.namespace, name=rs_owner.name
                    )
        return Target(kind=_OWNER_KINDS[ref.kind], namespace=meta.namespace, name=ref.name)

    def pods_of(self, target: Target) -> tuple[Pod, ...]:
        """Pods owned (through the owner chain) by ``target``; a node's pods for a Node."""
        if target.kind is TargetKind.NODE:
            return tuple(self._pods_by_node.get(target.name, ()))
        if target.kind is TargetKind.POD:
            pod = self.pod(target.namespace, target.name)
            return (pod,) if pod is not None else ()
        return tuple(self._pods_by_owner.get(target, ()))

    def pods_on_node(self, node_name: str) -> tuple[Pod, ...]:
        """Pods scheduled to ``node_name``."""
        return tuple(self._pods_by_node.get(node_name, ()))

    def replica_sets_of(self, namespace: str, deployment: str) -> tuple[ReplicaSet, ...]:
        """ReplicaSets controlled by a Deployment, oldest revision first."""
        return tuple(self._rs_by_deployment.get((namespace, deployment), ()))

    def replica_set_of(self, pod: Pod) -> ReplicaSet | None:
        """The ReplicaSet controlling ``pod``, if any."""
        ref = _controller(pod.metadata)
        if ref is None or ref.kind != "ReplicaSet":
            return None
        return self._replica_sets.get((pod.metadata.namespace, ref.name))

    def pdbs_for_labels(
        self, namespace: str, labels: Mapping[str, str]
    ) -> tuple[PodDisruptionBudget, ...]:
        """PodDisruptionBudgets of ``namespace`` whose selector matches ``labels``."""
        return tuple(
            pdb
            for pdb in self._pdbs_by_ns.get(namespace, ())
            if selector_matches(pdb.spec.selector, labels)
        )

    def pdbs_for_pod(self, pod: Pod) -> tuple[PodDisruptionBudget, ...]:
        """PodDisruptionBudgets that cover ``pod``."""
        return self.pdbs_for_labels(pod.metadata.namespace, pod.metadata.labels)

    def pdbs_for_workload(self, target: Target) -> tuple[PodDisruptionBudget, ...]:
        """PodDisruptionBudgets covering a workload's pods (or its pod template)."""
        found: dict[str, PodDisruptionBudget] = {}
        labels_seen: list[Mapping[str, str]] = [p.metadata.labels for p in self.pods_of(target)]
        dep = self.deployment_for(target)
        if dep is not None:
            labels_seen.append(dep.spec.template.metadata.labels)
        for labels in labels_seen:
            for pdb in self.pdbs_for_labels(target.namespace, labels):
                found[pdb.metadata.name] = pdb
        return tuple(found[name] for name in sorted(found))

    def hpas_for(self, target: Target) -> tuple[HorizontalPodAutoscaler, ...]:
        """HPAs whose scaleTargetRef names ``target``."""
        return tuple(
            hpa
            for hpa in self.hpas
            if hpa.metadata.namespace == target.namespace
            and hpa.spec.scale_target_ref.kind == target.kind.value
            and hpa.spec.scale_target_ref.name == target.name
        )

    def deployment_for(self, target: Target) -> Deployment | None:
        """The Deployment object of a Deployment target."""
        if target.kind is not TargetKind.DEPLOYMENT:
            return None
        return self.deployment(target.namespace, target.name)

    def workload_meta(self, target: Target) -> ObjectMeta | None:
        """Metadata of the target object when the snapshot holds it."""
        if target.kind is TargetKind.DEPLOYMENT:
            dep = self.deployment(target.namespace, target.name)
            return dep.metadata if dep else None
        if target.kind is TargetKind.REPLICASET:
            rs = self.replica_set(target.namespace, target.name)
            return rs.metadata if rs else None
        if target.kind is TargetKind.NODE:
            node = self.node(target.name)
            return node.metadata if node else None
        if target.kind is TargetKind.POD:
            pod = self.pod(target.namespace, target.name)
            return pod.metadata if pod else None
        pods = self.pods_of(target)
        return pods[0].metadata if pods else None


class LiveClusterView(ClusterView):
    """A ClusterView that the runtime updates in place, one object at a time.

    Rebuilding a view of 150,000 pods for every watch event would cost far more than the
    detectors themselves; this keeps every index of ClusterView current with O(pods per owner)
    work per change. Readers see the same API as ClusterView. Pure data structure: no I/O.
    """

    __slots__ = ()

    def upsert_pod(self, pod: Pod) -> None:
        meta = pod.metadata
        by_name = self._pods.setdefault(meta.namespace, {})
        old = by_name.get(meta.name)
        if old is not None:
            self._unindex_pod(old)
        by_name[meta.name] = pod
        self._index_pod(pod)

    def remove_pod(self, namespace: str, name: str) -> None:
        by_name = self._pods.get(namespace)
        old = by_name.pop(name, None) if by_name is not None else None
        if old is not None:
            self._unindex_pod(old)
        if by_name is not None and not by_name:
            del self._pods[namespace]

    def _index_pod(self, pod: Pod) -> None:
        _insort(self._pods_by_owner.setdefault(self.owner_of(pod), []), pod)
        if pod.spec.node_name:
            _insort(self._pods_by_node.setdefault(pod.spec.node_name, []), pod)

    def _unindex_pod(self, pod: Pod) -> None:
        owner = self.owner_of(pod)
        _remove(self._pods_by_owner, owner, pod)
        # The owner chain may have changed since indexing (ReplicaSet arrived later).
        ref = _controller(pod.metadata)
        if ref is not None and ref.kind == "ReplicaSet":
            alt = Target(
                kind=TargetKind.REPLICASET, namespace=pod.metadata.namespace, name=ref.name
            )
            _remove(self._pods_by_owner, alt, pod)
        if pod.spec.node_name:
            _remove(self._pods_by_node, pod.spec.node_name, pod)

    def upsert_node(self, node: Node) -> None:
        self._nodes[node.metadata.name] = node

    def remove_node(self, name: str) -> None:
        self._nodes.pop(name, None)

    def upsert_deployment(self, dep: Deployment) -> None:
        self._deployments[_key(dep.metadata)] = dep

    def remove_deployment(self, namespace: str, name: str) -> None:
        self._deployments.pop((namespace, name), None)

    def upsert_replica_set(self, rs: ReplicaSet) -> None:
        key = _key(rs.metadata)
        old = self._replica_sets.get(key)
        affected = self._pods_referencing(rs.metadata.namespace, rs.metadata.name)
        for pod in affected:
            self._unindex_pod(pod)
        if old is not None:
            self._unindex_rs(old)
        self._replica_sets[key] = rs
        ref = _controller(rs.metadata)
        if ref is not None and ref.kind == "Deployment":
            items = self._rs_by_deployment.setdefault((rs.metadata.namespace, ref.name), [])
            items.append(rs)
            items.sort(key=lambda r: (r.revision, r.metadata.name))
        for pod in affected:
            self._index_pod(pod)

    def remove_replica_set(self, namespace: str, name: str) -> None:
        old = self._replica_sets.get((namespace, name))
        if old is None:
            return
        affected = self._pods_referencing(namespace, name)
        for pod in affected:
            self._unindex_pod(pod)
        self._unindex_rs(old)
        del self._replica_sets[(namespace, name)]
        for pod in affected:
            self._index_pod(pod)

    def _unindex_rs(self, rs: ReplicaSet) -> None:
        ref = _controller(rs.metadata)
        if ref is not None and ref.kind == "Deployment":
            items = self._rs_by_deployment.get((rs.metadata.namespace, ref.name), [])
            items[:] = [r for r in items if r.metadata.name != rs.metadata.name]

    def _pods_referencing(self, namespace: str, rs_name: str) -> list[Pod]:
        found: list[Pod] = []
        rs = self._replica_sets.get((namespace, rs_name))
        owners = [Target(kind=TargetKind.REPLICASET, namespace=namespace, name=rs_name)]
        if rs is not None:
            ref = _controller(rs.metadata)
            if ref is not None and ref.kind == "Deployment":
                owners.append(
                    Target(kind=TargetKind.DEPLOYMENT, namespace=namespace, name=ref.name)
                )
        for owner in owners:
            for pod in self._pods_by_owner.get(owner, ()):
                pref = _controller(pod.metadata)
                if pref is not None and pref.kind == "ReplicaSet" and pref.name == rs_name:
                    found.append(pod)
        return found

    def upsert_pdb(self, pdb: PodDisruptionBudget) -> None:
        items = self._pdbs_by_ns.setdefault(pdb.metadata.namespace, [])
        items[:] = [p for p in items if p.metadata.name != pdb.metadata.name]
        items.append(pdb)
        items.sort(key=lambda p: _key(p.metadata))

    def remove_pdb(self, namespace: str, name: str) -> None:
        items = self._pdbs_by_ns.get(namespace, [])
        items[:] = [p for p in items if p.metadata.name != name]

    def upsert_hpa(self, hpa: HorizontalPodAutoscaler) -> None:
        self._hpas[_key(hpa.metadata)] = hpa

    def remove_hpa(self, namespace: str, name: str) -> None:
        self._hpas.pop((namespace, name), None)

    def upsert_namespace(self, ns: Namespace) -> None:
        self._namespaces[ns.metadata.name] = ns

    def remove_namespace(self, name: str) -> None:
        self._namespaces.pop(name, None)


def _insort(items: list[Pod], pod: Pod) -> None:
    name = _key(pod.metadata)
    lo, hi = 0, len(items)
    while lo < hi:
        mid = (lo + hi) // 2
        if _key(items[mid].metadata) < name:
            lo = mid + 1
        else:
            hi = mid
    items.insert(lo, pod)


def _remove(index: dict[_K, list[Pod]], key: _K, pod: Pod) -> None:
    items = index.get(key)
    if not items:
        return
    gone = _key(pod.metadata)
    items[:] = [p for p in items if _key(p.metadata) != gone]
    if not items:
        del index[key]

"""Simulated nodes: what the kubelet reports about its node, and the node lifecycle controller.

`NodeController` does, per tick and per Node object:

* registration (as the kubelet does when it starts): standard labels, ``spec.podCIDR``,
  ``status.capacity``/``allocatable`` (from the ``twin.kubeheal.io/cpu``, ``.../memory``,
  ``.../pods``, ``.../ephemeral-storage`` annotations, defaults 4 CPU, 16Gi, 110 pods, 100Gi),
  addresses, ``nodeInfo`` and ``daemonEndpoints``;
* node-exporter-like usage into `NodeRuntime` (CPU seconds by mode, MemTotal/MemAvailable
  including the pods' working sets and memory taken by faults, file system);
* the kubelet's node status: conditions MemoryPressure (``memory.available`` below the hard
  eviction threshold, default 100Mi, per node ``twin.kubeheal.io/eviction-hard-memory``),
  DiskPressure (``nodefs.available`` below 10 %), PIDPressure and Ready, with the pressure
  transition period (5 min) before a pressure condition goes back to False; the Lease in
  ``kube-node-lease`` renewed every 10 s while the kubelet runs (`NodeRuntime.ready`);
* the node lifecycle controller: Ready Unknown after the node-monitor grace period (40 s,
  the default of kube-controller-manager up to 1.31; 50 s from 1.32) without a heartbeat,
  pods on it marked not Ready, taints by condition (``memory-pressure``/``disk-pressure``
  NoSchedule, ``unreachable`` when Unknown, ``not-ready`` when the kubelet reports False:
  NoSchedule + NoExecute), and taint-based eviction of pods once the first matching
  toleration of a NoExecute taint runs out, counted from when the pod was first seen under
  the taint (the DefaultTolerationSeconds admission's 300 s, `add_default_tolerations`,
  unless the pod says otherwise).

Pod eviction under node pressure is the kubelet's eviction manager (`kubelet.Kubelet`).
`node_side.node_controllers` assembles the node-side controllers of a twin in their tick order.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubeheal.twin.clock import format_time
from kubeheal.twin.errors import ApiError, NotFound
from kubeheal.twin.sim.state import NodeRuntime, RuntimeState
from kubeheal.twin.sim.workloads import (
    ObjectCache,
    ProfileError,
    cpu_quantity,
    memory_quantity,
)
from kubeheal.twin.store import ObjectStore

__all__ = [
    "CAPACITY_ANNOTATIONS",
    "DEFAULT_TOLERATION_SECONDS",
    "EVICTION_MEMORY_ANNOTATION",
    "NodeConfig",
    "NodeController",
    "add_default_tolerations",
    "node_capacity",
    "register_node",
    "tolerates",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

CAPACITY_ANNOTATIONS = {
    "cpu": "twin.kubeheal.io/cpu",
    "memory": "twin.kubeheal.io/memory",
    "pods": "twin.kubeheal.io/pods",
    "ephemeral-storage": "twin.kubeheal.io/ephemeral-storage",
}
EVICTION_MEMORY_ANNOTATION = "twin.kubeheal.io/eviction-hard-memory"
TAINT_MEMORY_PRESSURE = "node.kubernetes.io/memory-pressure"
TAINT_DISK_PRESSURE = "node.kubernetes.io/disk-pressure"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
TAINT_NOT_READY = "node.kubernetes.io/not-ready"
_MANAGED_TAINTS = (TAINT_MEMORY_PRESSURE, TAINT_DISK_PRESSURE, TAINT_UNREACHABLE, TAINT_NOT_READY)
_GI = 2**30
_MI = 2**20


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Kubelet and node lifecycle settings (Kubernetes defaults)."""

    kubelet_version: str = "v1.31.4"
    container_runtime_version: str = "containerd://1.7.24"
    os_image: str = "Ubuntu 22.04.5 LTS"
    kernel_version: str = "6.8.0-1021-aws"
    eviction_hard_memory_bytes: int = 100 * _MI  # memory.available<100Mi
    eviction_hard_nodefs_fraction: float = 0.10  # nodefs.available<10%
    eviction_pressure_transition_seconds: float = 300.0
    eviction_monitoring_seconds: float = 10.0
    node_monitor_grace_seconds: float = 40.0
    lease_duration_seconds: int = 40
    lease_renew_seconds: float = 10.0
    status_report_seconds: float = 300.0
    default_toleration_seconds: float = 300.0
    system_reserved_cpu: float = 0.08
    system_reserved_memory_bytes: int = 256 * _MI
    os_memory_bytes: int = 512 * _MI
    os_memory_fraction: float = 0.03
    os_fs_fraction: float = 0.15
    os_cpu_cores: float = 0.05


@dataclass(frozen=True, slots=True)
class Capacity:
    cpu: float
    memory: int
    pods: int
    storage: int


def node_capacity(node: Mapping[str, Any]) -> Capacity:
    """The machine size of a node, from its twin annotations (or defaults)."""
    annotations = (node.get("metadata") or {}).get("annotations") or {}

    def ann(kind: str) -> str | None:
        value = annotations.get(CAPACITY_ANNOTATIONS[kind])
        return None if value is None else str(value)

    try:
        cpu = cpu_quantity(ann("cpu") or "4")
        memory = memory_quantity(ann("memory") or "16Gi")
        storage = memory_quantity(ann("ephemeral-storage") or "100Gi")
        pods = int(ann("pods") or "110")
    except (ProfileError, ValueError):
        log.warning("node %s: invalid capacity annotations, using defaults", _name(node))
        return Capacity(4.0, 16 * _GI, 110, 100 * _GI)
    return Capacity(cpu, memory, pods, storage)


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _ki(n: int) -> str:
    return f"{n // 1024}Ki"


def _hash(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def register_node(node: Obj, *, index: int, config: NodeConfig | None = None) -> Obj:
    """Fill in what a kubelet registers: labels, podCIDR, capacity, addresses, nodeInfo.

    Conditions are left to the first heartbeat. Returns the (mutated) node.
    """
    config = config or NodeConfig()
    name = _name(node)
    cap = node_capacity(node)
    meta = node.setdefault("metadata", {})
    labels = meta.setdefault("labels", {})
    labels.setdefault("kubernetes.io/hostname", name)
    labels.setdefault("kubernetes.io/os", "linux")
    labels.setdefault("kubernetes.io/arch", "amd64")
    labels.setdefault("beta.kubernetes.io/os", "linux")
    labels.setdefault("beta.kubernetes.io/arch", "amd64")
    spec = node.setdefault("spec", {})
    spec.setdefault("podCIDR", f"10.244.{index}.0/24")
    spec.setdefault("podCIDRs", [spec["podCIDR"]])
    spec.setdefault("providerID", f"twin://{name}")
    status = node.setdefault("status", {})
    alloc_mem = cap.memory - config.system_reserved_memory_bytes - config.eviction_hard_memory_bytes
    status["capacity"] = {
        "cpu": f"{cap.cpu:g}",
        "ephemeral-storage": _ki(cap.storage),
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": _ki(cap.memory),
        "pods": str(cap.pods),
    }
    status["allocatable"] = {
        "cpu": f"{max(0, round((cap.cpu - config.system_reserved_cpu) * 1000))}m",
        "ephemeral-storage": str(int(cap.storage * (1 - config.eviction_hard_nodefs_fraction))),
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": _ki(max(0, alloc_mem)),
        "pods": str(cap.pods),
    }
    status.setdefault(
        "addresses",
        [
            {"type": "InternalIP", "address": f"10.0.0.{10 + index}"},
            {"type": "Hostname", "address": name},
        ],
    )
    status["daemonEndpoints"] = {"kubeletEndpoint": {"Port": 10250}}
    digest = _hash("node", name)
    status["nodeInfo"] = {
        "architecture": "amd64",
        "bootID": f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}",
        "containerRuntimeVersion": config.container_runtime_version,
        "kernelVersion": config.kernel_version,
        "kubeProxyVersion": config.kubelet_version,
        "kubeletVersion": config.kubelet_version,
        "machineID": digest[32:64],
        "operatingSystem": "linux",
        "osImage": config.os_image,
        "systemUUID": f"ec2{digest[3:8]}-{digest[40:44]}-{digest[44:48]}-{digest[48:52]}-"
        f"{digest[52:64]}",
    }
    return node


def node_ip(node: Mapping[str, Any]) -> str:
    for addr in (node.get("status") or {}).get("addresses") or ():
        if addr.get("type") == "InternalIP":
            return str(addr.get("address", ""))
    return ""


def memory_threshold(node: Mapping[str, Any], config: NodeConfig) -> int:
    """The hard eviction threshold for memory.available on this node, in bytes."""
    value = ((node.get("metadata") or {}).get("annotations") or {}).get(EVICTION_MEMORY_ANNOTATION)
    if value is None:
        return config.eviction_hard_memory_bytes
    try:
        return memory_quantity(str(value))
    except ProfileError:
        return config.eviction_hard_memory_bytes


def memory_pressure_observed(nrt: NodeRuntime, threshold: int) -> bool:
    return nrt.memory_total_bytes > 0 and nrt.memory_available_bytes < threshold


def disk_pressure_observed(nrt: NodeRuntime, config: NodeConfig) -> bool:
    return nrt.fs_size_bytes > 0 and (
        nrt.fs_avail_bytes < nrt.fs_size_bytes * config.eviction_hard_nodefs_fraction
    )


def _tolerates_taint(tol: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """Kubernetes' ``Toleration.ToleratesTaint``: an empty effect matches every effect, an
    empty key with ``Exists`` every key; ``Equal`` compares the value."""
    effect = tol.get("effect")
    if effect and effect != taint.get("effect"):
        return False
    op = tol.get("operator", "Equal")
    key = tol.get("key")
    if key and key != taint.get("key"):
        return False
    if not key and op != "Exists":
        return False
    return op == "Exists" or str(tol.get("value", "")) == str(taint.get("value", ""))


def tolerates(pod: Mapping[str, Any], taint: Mapping[str, Any]) -> tuple[bool, float | None]:
    """Whether `pod` tolerates `taint`, and for how long (None: forever).

    As the taint eviction controller reads it (``GetMatchingTolerations``): the first
    toleration of the pod that tolerates the taint is the one used; its ``tolerationSeconds``
    (0 or less: not at all) is the time allowed, none means forever.
    """
    for tol in (pod.get("spec") or {}).get("tolerations") or ():
        if not isinstance(tol, Mapping) or not _tolerates_taint(tol, taint):
            continue
        seconds = tol.get("tolerationSeconds")
        if seconds is None:
            return True, None
        return True, max(0.0, float(seconds))
    return False, None


DEFAULT_TOLERATION_SECONDS = 300
"""The DefaultTolerationSeconds admission plugin's ``--default-not-ready-toleration-seconds``
and ``--default-unreachable-toleration-seconds``."""


def add_default_tolerations(pod: Obj, *, seconds: int = DEFAULT_TOLERATION_SECONDS) -> None:
    """What the DefaultTolerationSeconds admission plugin does to a new pod (in place): a
    ``NoExecute`` toleration of ``node.kubernetes.io/not-ready`` and of ``.../unreachable``
    for `seconds`, each unless the pod already has a toleration of that key (or of every key)
    with effect ``NoExecute`` (or every effect)."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    tolerations = spec.get("tolerations")
    if tolerations is None:
        tolerations = []
    if not isinstance(tolerations, list):
        return
    for key in (TAINT_NOT_READY, TAINT_UNREACHABLE):
        covered = any(
            isinstance(t, Mapping)
            and t.get("key", "") in (key, "")
            and t.get("effect", "") in ("NoExecute", "")
            for t in tolerations
        )
        if not covered:
            tolerations.append(
                {
                    "key": key,
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": seconds,
                }
            )
    spec["tolerations"] = tolerations


@dataclass
class _NodeTrack:
    index: int
    last_heartbeat: float
    last_lease: float = -1e18
    last_report: float = -1e18
    memory_pressure_seen: float | None = None
    disk_pressure_seen: float | None = None
    unknown_since: float | None = None
    registered_events: bool = False
    last_usage: float | None = None


def _condition(
    type_: str, status: str, reason: str, message: str, *, heartbeat: str, transition: str
) -> Obj:
    return {
        "type": type_,
        "status": status,
        "lastHeartbeatTime": heartbeat,
        "lastTransitionTime": transition,
        "reason": reason,
        "message": message,
    }


_COND_TEXT = {
    ("MemoryPressure", "False"): (
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
    ),
    ("MemoryPressure", "True"): (
        "KubeletHasInsufficientMemory",
        "kubelet has insufficient memory available",
    ),
    ("DiskPressure", "False"): ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("DiskPressure", "True"): ("KubeletHasDiskPressure", "kubelet has disk pressure"),
    ("PIDPressure", "False"): ("KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True"): ("KubeletReady", "kubelet is posting ready status"),
}
_NODE_EVENT = {
    ("MemoryPressure", "False"): "NodeHasSufficientMemory",
    ("MemoryPressure", "True"): "NodeHasInsufficientMemory",
    ("DiskPressure", "False"): "NodeHasNoDiskPressure",
    ("DiskPressure", "True"): "NodeHasDiskPressure",
    ("PIDPressure", "False"): "NodeHasSufficientPID",
    ("Ready", "True"): "NodeReady",
}


class NodeController:
    """Node registration, usage, conditions, heartbeats and the node lifecycle controller."""

    name = "nodes"

    def __init__(
        self,
        *,
        store: ObjectStore,
        runtime: RuntimeState,
        config: NodeConfig | None = None,
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.config = config or NodeConfig()
        self._nodes = ObjectCache(store, "", "v1", "nodes")
        self._pods = ObjectCache(store, "", "v1", "pods")
        self._node_rt = store.rtype("", "v1", "nodes")
        self._pod_rt = store.rtype("", "v1", "pods")
        self._lease_rt = store.rtype("coordination.k8s.io", "v1", "leases")
        self._track: dict[str, _NodeTrack] = {}
        self._noexec_since: dict[str, dict[str, float]] = {}
        """Per node, per pod uid: when the pod was first seen under a NoExecute taint."""
        self._next_index = 0
        self.capacity: dict[str, Capacity] = {}

    def node_cpu(self, name: str) -> float:
        cap = self.capacity.get(name)
        return cap.cpu if cap else 4.0

    def step(self, now: float) -> None:
        nodes = self._nodes.all()
        names = {_name(n) for n in nodes}
        for gone in [n for n in self._track if n not in names]:
            del self._track[gone]
            self._noexec_since.pop(gone, None)
            self.runtime.nodes.pop(gone, None)
            self.capacity.pop(gone, None)
        pods_by_node: dict[str, list[Obj]] = {}
        for pod in self._pods.all():
            node_name = (pod.get("spec") or {}).get("nodeName")
            if node_name:
                pods_by_node.setdefault(str(node_name), []).append(pod)
        for node in sorted(nodes, key=_name):
            try:
                self._step_node(node, now, pods_by_node.get(_name(node), []))
            except ApiError as e:
                log.warning("node %s: %s", _name(node), e)

    # one node

    def _step_node(self, node: Obj, now: float, pods: list[Obj]) -> None:
        name = _name(node)
        track = self._track.get(name)
        if track is None:
            track = self._register(node, now)
        nrt = self.runtime.nodes[name]
        cap = node_capacity(node)
        self.capacity[name] = cap
        self._usage(name, nrt, cap, now, track)
        if nrt.ready:
            self._kubelet_heartbeat(node, nrt, track, now)
        self._lifecycle(node, track, now, pods)

    def _register(self, node: Obj, now: float) -> _NodeTrack:
        name = _name(node)
        index = self._next_index
        cidr = (node.get("spec") or {}).get("podCIDR")
        if isinstance(cidr, str) and cidr.startswith("10.244."):
            with contextlib.suppress(ValueError):
                index = int(cidr.split(".")[2])
        used = {t.index for t in self._track.values()}
        while index in used:
            index += 1
        self._next_index = max(self._next_index, index + 1)
        track = _NodeTrack(index=index, last_heartbeat=now)
        self._track[name] = track
        cap = node_capacity(node)
        self.runtime.nodes.setdefault(
            name,
            NodeRuntime(
                name=name,
                memory_total_bytes=cap.memory,
                memory_available_bytes=cap.memory,
                fs_size_bytes=cap.storage,
                fs_avail_bytes=cap.storage,
            ),
        )

        def fill_spec(obj: Obj) -> None:
            register_node(obj, index=index, config=self.config)

        updated = self.store.mutate(self._node_rt, None, name, fill_spec)

        def fill_status(obj: Obj) -> None:
            registered = register_node(obj, index=index, config=self.config)
            obj["status"] = registered["status"]

        self.store.mutate(self._node_rt, None, name, fill_status, subresource="status")
        self.store.record_event(
            updated, reason="Starting", message="Starting kubelet.", component="kubelet"
        )
        self.store.record_event(
            updated,
            reason="RegisteredNode",
            message=f"Node {name} event: Registered Node {name} in Controller",
            component="node-controller",
        )
        return track

    def _usage(self, name: str, nrt: NodeRuntime, cap: Capacity, now: float, t: _NodeTrack) -> None:
        dt = 0.0 if t.last_usage is None else max(0.0, now - t.last_usage)
        t.last_usage = now
        cpu = 0.0
        memory = 0
        fs = 0
        for prt in self.runtime.pods.values():
            if prt.node != name:
                continue
            for crt in prt.containers.values():
                if crt.started_at is None:
                    continue
                cpu += crt.cpu_cores
                memory += crt.memory_working_set_bytes
                fs += crt.fs_usage_bytes
        cfg = self.config
        used_cpu = min(cap.cpu, cpu + cfg.os_cpu_cores)
        nrt.cpu_seconds_total["user"] = nrt.cpu_seconds_total.get("user", 0.0) + cpu * 0.8 * dt
        nrt.cpu_seconds_total["system"] = (
            nrt.cpu_seconds_total.get("system", 0.0) + (cpu * 0.2 + cfg.os_cpu_cores) * dt
        )
        nrt.cpu_seconds_total["idle"] = (
            nrt.cpu_seconds_total.get("idle", 0.0) + max(0.0, cap.cpu - used_cpu) * dt
        )
        nrt.memory_total_bytes = cap.memory
        os_mem = cfg.os_memory_bytes + int(cap.memory * cfg.os_memory_fraction)
        nrt.memory_available_bytes = max(0, cap.memory - os_mem - memory - nrt.extra_memory_bytes)
        nrt.fs_size_bytes = cap.storage
        nrt.fs_avail_bytes = max(
            0, int(cap.storage * (1 - cfg.os_fs_fraction)) - fs - nrt.extra_fs_bytes
        )

    # the kubelet's side: heartbeat and status

    def _kubelet_heartbeat(self, node: Obj, nrt: NodeRuntime, t: _NodeTrack, now: float) -> None:
        name = _name(node)
        cfg = self.config
        if now - t.last_lease >= cfg.lease_renew_seconds:
            self._renew_lease(name, now)
            t.last_lease = now
            t.last_heartbeat = now
        if memory_pressure_observed(nrt, memory_threshold(node, cfg)):
            t.memory_pressure_seen = now
        if disk_pressure_observed(nrt, cfg):
            t.disk_pressure_seen = now
        hold = cfg.eviction_pressure_transition_seconds
        desired = {
            "MemoryPressure": "True"
            if t.memory_pressure_seen is not None and now - t.memory_pressure_seen < hold
            else "False",
            "DiskPressure": "True"
            if t.disk_pressure_seen is not None and now - t.disk_pressure_seen < hold
            else "False",
            "PIDPressure": "False",
            "Ready": "True",
        }
        current = {
            c.get("type"): c for c in (node.get("status") or {}).get("conditions") or () if c
        }
        changed = any((current.get(k) or {}).get("status") != v for k, v in desired.items()) or any(
            (current.get(k) or {}).get("reason") != _COND_TEXT[(k, v)][0]
            for k, v in desired.items()
        )
        if not changed and now - t.last_report < cfg.status_report_seconds:
            return
        stamp = format_time(now)
        conditions = []
        transitions: list[tuple[str, str]] = []
        for type_, status in desired.items():
            old = current.get(type_) or {}
            transition = stamp
            if old.get("status") == status and old.get("lastTransitionTime"):
                transition = str(old["lastTransitionTime"])
            else:
                transitions.append((type_, status))
            reason, message = _COND_TEXT[(type_, status)]
            conditions.append(
                _condition(type_, status, reason, message, heartbeat=stamp, transition=transition)
            )

        def set_status(obj: Obj) -> None:
            obj.setdefault("status", {})["conditions"] = conditions

        updated = self.store.mutate(self._node_rt, None, name, set_status, subresource="status")
        t.last_report = now
        t.last_heartbeat = now
        for type_, status in transitions:
            self.store.record_event(
                updated,
                reason=_NODE_EVENT[(type_, status)],
                message=f"Node {name} status is now: {_NODE_EVENT[(type_, status)]}",
                component="kubelet",
            )

    def _renew_lease(self, name: str, now: float) -> None:
        stamp = format_time(now).replace("Z", ".000000Z")
        existing = self.store.find(self._lease_rt, "kube-node-lease", name)
        if existing is None:
            node = self.store.find(self._node_rt, None, name) or {}
            owner = node.get("metadata") or {}
            lease: Obj = {
                "metadata": {
                    "name": name,
                    "namespace": "kube-node-lease",
                    "ownerReferences": [
                        {
                            "apiVersion": "v1",
                            "kind": "Node",
                            "name": name,
                            "uid": owner.get("uid", ""),
                        }
                    ]
                    if owner.get("uid")
                    else [],
                },
                "spec": {
                    "holderIdentity": name,
                    "leaseDurationSeconds": self.config.lease_duration_seconds,
                    "renewTime": stamp,
                },
            }
            if not lease["metadata"]["ownerReferences"]:
                del lease["metadata"]["ownerReferences"]
            with contextlib.suppress(NotFound):  # the kube-node-lease namespace may be gone
                self.store.create(self._lease_rt, lease)
            return

        def renew(obj: Obj) -> None:
            obj.setdefault("spec", {})["renewTime"] = stamp

        self.store.mutate(self._lease_rt, "kube-node-lease", name, renew)

    # the node lifecycle controller's side

    def _lifecycle(self, node: Obj, t: _NodeTrack, now: float, pods: list[Obj]) -> None:
        name = _name(node)
        cfg = self.config
        fresh = self.store.get(self._node_rt, None, name)
        conditions = {c.get("type"): c for c in (fresh.get("status") or {}).get("conditions") or ()}
        ready = (conditions.get("Ready") or {}).get("status")
        if now - t.last_heartbeat > cfg.node_monitor_grace_seconds and ready != "Unknown":
            self._mark_unknown(fresh, now, pods)
            fresh = self.store.get(self._node_rt, None, name)
            conditions = {
                c.get("type"): c for c in (fresh.get("status") or {}).get("conditions") or ()
            }
            ready = "Unknown"
        self._reconcile_taints(fresh, conditions, now)
        self._taint_evictions(name, now, pods)

    def _mark_unknown(self, node: Obj, now: float, pods: list[Obj]) -> None:
        name = _name(node)
        stamp = format_time(now)

        def set_unknown(obj: Obj) -> None:
            conds = (obj.get("status") or {}).get("conditions") or []
            for cond in conds:
                cond["status"] = "Unknown"
                cond["reason"] = "NodeStatusUnknown"
                cond["message"] = "Kubelet stopped posting node status."
                cond["lastTransitionTime"] = stamp
            obj.setdefault("status", {})["conditions"] = conds

        updated = self.store.mutate(self._node_rt, None, name, set_unknown, subresource="status")
        self.store.record_event(
            updated,
            reason="NodeNotReady",
            message=f"Node {name} status is now: NodeNotReady",
            type_="Normal",
            component="node-controller",
        )
        for pod in pods:
            phase = (pod.get("status") or {}).get("phase")
            if phase in ("Succeeded", "Failed"):
                continue
            self._mark_pod_not_ready(pod, stamp)

    def _mark_pod_not_ready(self, pod: Obj, stamp: str) -> None:
        meta = pod["metadata"]

        def not_ready(obj: Obj) -> None:
            for cond in (obj.get("status") or {}).get("conditions") or []:
                if cond.get("type") == "Ready" and cond.get("status") != "False":
                    cond["status"] = "False"
                    cond["lastTransitionTime"] = stamp
                    cond.pop("reason", None)
                    cond.pop("message", None)

        try:
            updated = self.store.mutate(
                self._pod_rt, meta.get("namespace"), meta["name"], not_ready, subresource="status"
            )
        except NotFound:
            return
        self.store.record_event(
            updated,
            reason="NodeNotReady",
            message="Node is not ready",
            type_="Warning",
            component="node-controller",
        )

    def _reconcile_taints(self, node: Obj, conditions: dict[Any, Obj], now: float) -> None:
        status_of = {k: (v or {}).get("status") for k, v in conditions.items()}
        desired: list[tuple[str, str]] = []
        if status_of.get("MemoryPressure") == "True":
            desired.append((TAINT_MEMORY_PRESSURE, "NoSchedule"))
        if status_of.get("DiskPressure") == "True":
            desired.append((TAINT_DISK_PRESSURE, "NoSchedule"))
        if status_of.get("Ready") == "Unknown":
            desired += [(TAINT_UNREACHABLE, "NoSchedule"), (TAINT_UNREACHABLE, "NoExecute")]
        elif status_of.get("Ready") == "False":
            desired += [(TAINT_NOT_READY, "NoSchedule"), (TAINT_NOT_READY, "NoExecute")]
        taints = list((node.get("spec") or {}).get("taints") or [])
        have = [(t.get("key"), t.get("effect")) for t in taints if t.get("key") in _MANAGED_TAINTS]
        if sorted(have) == sorted(desired):
            return
        stamp = format_time(now)
        kept = [
            t
            for t in taints
            if t.get("key") not in _MANAGED_TAINTS or (t.get("key"), t.get("effect")) in desired
        ]
        for key, effect in desired:
            if (key, effect) not in have:
                taint: Obj = {"key": key, "effect": effect}
                if effect == "NoExecute":
                    taint["timeAdded"] = stamp
                kept.append(taint)

        def set_taints(obj: Obj) -> None:
            spec = obj.setdefault("spec", {})
            if kept:
                spec["taints"] = kept
            else:
                spec.pop("taints", None)

        self.store.mutate(self._node_rt, None, _name(node), set_taints)

    def _taint_evictions(self, name: str, now: float, pods: list[Obj]) -> None:
        """The taint eviction controller on one node: a pod that does not tolerate one of
        the node's NoExecute taints is deleted at once; one that tolerates them all for a
        while is deleted once the shortest of those tolerations has run out, counted from
        when the controller first saw the pod under a NoExecute taint of this node (the taint
        being added, or the pod arriving on a tainted node). The default 300 s tolerations of
        ``not-ready``/``unreachable`` are those the DefaultTolerationSeconds admission plugin
        adds to every pod created through the API (`add_default_tolerations`); a pod that
        lacks them (made straight in the store) is treated as if it had them."""
        node = self.store.find(self._node_rt, None, name)
        no_execute = [
            t
            for t in ((node or {}).get("spec") or {}).get("taints") or ()
            if t.get("effect") == "NoExecute"
        ]
        seen = self._noexec_since.setdefault(name, {})
        if not no_execute:
            seen.clear()
            return
        live = {str(p["metadata"].get("uid", "")) for p in pods}
        for uid in [u for u in seen if u not in live]:
            del seen[uid]
        for pod in pods:
            meta = pod["metadata"]
            if meta.get("deletionTimestamp"):
                continue
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            since = seen.setdefault(str(meta.get("uid", "")), now)
            deadline: float | None = None
            for taint in no_execute:
                ok, seconds = tolerates(pod, taint)
                if not ok and taint.get("key") in (TAINT_UNREACHABLE, TAINT_NOT_READY):
                    ok, seconds = True, self.config.default_toleration_seconds
                if not ok:
                    deadline = now
                    break
                if seconds is not None:
                    until = since + seconds
                    deadline = until if deadline is None else min(deadline, until)
            if deadline is None or now < deadline:
                continue
            self.store.record_event(
                pod,
                reason="TaintManagerEviction",
                message=f"Marking for deletion Pod {meta.get('namespace')}/{meta['name']}",
                component="taint-eviction-controller",
            )
            try:
                self.store.delete(self._pod_rt, meta.get("namespace"), meta["name"])
            except NotFound:
                continue

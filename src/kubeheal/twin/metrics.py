"""The twin's Prometheus `/metrics`, named and labelled as the real exporters do.

One scrape renders, in the text exposition format 0.0.4:

* kube-state-metrics v2 series derived from the API objects in the `ObjectStore` (pods,
  containers, deployments, replicasets, nodes, HPAs, PVs, PVCs, PDBs, namespaces);
* cAdvisor series (as the kubelet serves them on `/metrics/cadvisor`) for every running
  container, from `RuntimeState`;
* node-exporter series for every node, from `RuntimeState.nodes`;
* the kubelet's volume statistics for PVCs mounted by running pods;
* the apps' own golden signals (`http_requests_total`, `http_request_duration_seconds`).

Rules and dashboards written for a real cluster therefore work when a real Prometheus scrapes
the twin. Every series carries the labels the real target would have had (`namespace`, `pod`,
`node`, and `instance` for node-exporter), so scrape the twin with `honor_labels: true`.

Only reads the store and the runtime: no I/O, no clock (the time comes in as `now`). The one
piece of state is the optional `CounterMemory`, which keeps pod-level counters (the pod
sandbox's network traffic) monotonic when one of the pod's containers restarts.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeheal.model.quantity import QuantityError, parse_quantity
from kubeheal.twin.clock import parse_time
from kubeheal.twin.sim.objects import qos_class
from kubeheal.twin.sim.state import LATENCY_BUCKETS, PodRuntime, RuntimeState
from kubeheal.twin.store import ObjectStore

__all__ = [
    "FAMILIES",
    "PAUSE_IMAGE",
    "PVC_USED_BYTES_ANNOTATION",
    "CounterMemory",
    "MetricFamily",
    "metrics_content_type",
    "render_metrics",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

metrics_content_type = "text/plain; version=0.0.4; charset=utf-8"

# Bytes used on a PersistentVolumeClaim's volume, for kubelet_volume_stats_used_bytes (the twin
# has no file systems; scenarios and faults set this annotation on the claim).
PVC_USED_BYTES_ANNOTATION = "twin.kubeheal.io/volume-used-bytes"

# The sandbox ("pause") container that owns a pod's network namespace.
PAUSE_IMAGE = "registry.k8s.io/pause:3.9"

_NODE_FS_DEVICE = "/dev/root"
_NODE_FS_TYPE = "ext4"
_NODE_FS_MOUNTPOINT = "/"
_CONTAINER_FS_DEVICE = "/dev/root"
_INTERFACE = "eth0"


@dataclass(frozen=True, slots=True)
class MetricFamily:
    """One metric family: its name, Prometheus type and help text."""

    name: str
    type: str
    help: str


# Every family the twin serves, in output order: "name type help". A family without series
# still gets its HELP and TYPE lines (as kube-state-metrics does).
_FAMILY_TABLE = """
# kube-state-metrics: namespaces
kube_namespace_status_phase gauge kubernetes namespace status phase.
# kube-state-metrics: nodes
kube_node_info gauge Information about a cluster node.
kube_node_role gauge The role of a cluster node.
kube_node_created gauge Unix creation timestamp
kube_node_spec_unschedulable gauge Whether a node can schedule new pods.
kube_node_spec_taint gauge The taint of a cluster node.
kube_node_status_condition gauge The condition of a cluster node.
kube_node_status_capacity gauge The capacity for different resources of a node.
kube_node_status_allocatable gauge The allocatable for different resources of a node that are
    available for scheduling.
# kube-state-metrics: pods
kube_pod_info gauge Information about pod.
kube_pod_owner gauge Information about the Pod's owner.
kube_pod_labels gauge Kubernetes labels converted to Prometheus labels.
kube_pod_created gauge Unix creation timestamp
kube_pod_start_time gauge Start time in unix timestamp for a pod.
kube_pod_deletion_timestamp gauge Unix deletion timestamp
kube_pod_status_phase gauge The pods current phase.
kube_pod_status_ready gauge Describes whether the pod is ready to serve requests.
kube_pod_status_scheduled gauge Describes the status of the scheduling process for the pod.
kube_pod_status_reason gauge The pod status reasons
kube_pod_container_info gauge Information about a container in a pod.
kube_pod_container_status_waiting gauge Describes whether the container is currently in waiting
    state.
kube_pod_container_status_waiting_reason gauge Describes the reason the container is currently in
    waiting state.
kube_pod_container_status_running gauge Describes whether the container is currently in running
    state.
kube_pod_container_status_terminated gauge Describes whether the container is currently in
    terminated state.
kube_pod_container_status_terminated_reason gauge Describes the reason the container is currently
    in terminated state.
kube_pod_container_status_last_terminated_reason gauge Describes the last reason the container was
    in terminated state.
kube_pod_container_status_last_terminated_exitcode gauge Describes the exit code for the last
    container in terminated state.
kube_pod_container_status_ready gauge Describes whether the containers readiness check succeeded.
kube_pod_container_status_restarts_total counter The number of container restarts per container.
kube_pod_container_resource_requests gauge The number of requested request resource by a container.
kube_pod_container_resource_limits gauge The number of requested limit resource by a container.
# kube-state-metrics: deployments and replicasets
kube_deployment_spec_replicas gauge Number of desired pods for a deployment.
kube_deployment_spec_paused gauge Whether the deployment is paused and will not be processed by the
    deployment controller.
kube_deployment_status_replicas gauge The number of replicas per deployment.
kube_deployment_status_replicas_ready gauge The number of ready replicas per deployment.
kube_deployment_status_replicas_available gauge The number of available replicas per deployment.
kube_deployment_status_replicas_unavailable gauge The number of unavailable replicas per
    deployment.
kube_deployment_status_replicas_updated gauge The number of updated replicas per deployment.
kube_deployment_status_observed_generation gauge The generation observed by the deployment
    controller.
kube_deployment_metadata_generation gauge Sequence number representing a specific generation of the
    desired state.
kube_deployment_status_condition gauge The current status conditions of a deployment.
kube_replicaset_owner gauge Information about the ReplicaSet's owner.
kube_replicaset_spec_replicas gauge Number of desired pods for a ReplicaSet.
kube_replicaset_status_replicas gauge The number of replicas per ReplicaSet.
kube_replicaset_status_ready_replicas gauge The number of ready replicas per ReplicaSet.
# kube-state-metrics: horizontal pod autoscalers
kube_horizontalpodautoscaler_info gauge Information about this autoscaler.
kube_horizontalpodautoscaler_metadata_generation gauge The generation observed by the
    HorizontalPodAutoscaler controller.
kube_horizontalpodautoscaler_spec_max_replicas gauge Upper limit for the number of pods that can be
    set by the autoscaler; cannot be smaller than MinReplicas.
kube_horizontalpodautoscaler_spec_min_replicas gauge Lower limit for the number of pods that can be
    set by the autoscaler, default 1.
kube_horizontalpodautoscaler_spec_target_metric gauge The metric specifications used by this
    autoscaler when calculating the desired replica count.
kube_horizontalpodautoscaler_status_target_metric gauge The current metric status used by this
    autoscaler when calculating the desired replica count.
kube_horizontalpodautoscaler_status_current_replicas gauge Current number of replicas of pods
    managed by this autoscaler.
kube_horizontalpodautoscaler_status_desired_replicas gauge Desired number of replicas of pods
    managed by this autoscaler.
kube_horizontalpodautoscaler_status_condition gauge The condition of this autoscaler.
# kube-state-metrics: pod disruption budgets
kube_poddisruptionbudget_status_current_healthy gauge Current number of healthy pods
kube_poddisruptionbudget_status_desired_healthy gauge Minimum desired number of healthy pods
kube_poddisruptionbudget_status_pod_disruptions_allowed gauge Number of pod disruptions that are
    currently allowed
kube_poddisruptionbudget_status_expected_pods gauge Total number of pods counted by this disruption
    budget
kube_poddisruptionbudget_status_observed_generation gauge Most recent generation observed when
    updating this PDB status
# kube-state-metrics: storage
kube_persistentvolume_status_phase gauge The phase indicates if a volume is available, bound to a
    claim, or released by a claim.
kube_persistentvolume_capacity_bytes gauge Persistentvolume capacity in bytes.
kube_persistentvolume_claim_ref gauge Information about the Persistent Volume Claim Reference.
kube_persistentvolumeclaim_info gauge Information about persistent volume claim.
kube_persistentvolumeclaim_status_phase gauge The phase the persistent volume claim is currently
    in.
kube_persistentvolumeclaim_resource_requests_storage_bytes gauge The capacity of storage requested
    by the persistent volume claim.
# cAdvisor (kubelet /metrics/cadvisor)
container_cpu_usage_seconds_total counter Cumulative cpu time consumed in seconds.
container_memory_working_set_bytes gauge Current working set in bytes.
container_memory_rss gauge Size of RSS in bytes.
container_memory_usage_bytes gauge Current memory usage in bytes, including all memory regardless
    of when it was accessed
container_spec_memory_limit_bytes gauge Memory limit for the container.
container_spec_cpu_quota gauge CPU quota of the container.
container_spec_cpu_period gauge CPU period of the container.
container_fs_usage_bytes gauge Number of bytes that are consumed by the container on this
    filesystem.
container_start_time_seconds gauge Start time of the container since unix epoch in seconds.
container_network_receive_bytes_total counter Cumulative count of bytes received
container_network_transmit_bytes_total counter Cumulative count of bytes transmitted
# kubelet volume stats
kubelet_volume_stats_capacity_bytes gauge Capacity in bytes of the volume
kubelet_volume_stats_available_bytes gauge Number of available bytes in the volume
kubelet_volume_stats_used_bytes gauge Number of used bytes in the volume
# node-exporter
node_cpu_seconds_total counter Seconds the CPUs spent in each mode.
node_load1 gauge 1m load average.
node_memory_MemTotal_bytes gauge Memory information field MemTotal_bytes.
node_memory_MemAvailable_bytes gauge Memory information field MemAvailable_bytes.
node_filesystem_size_bytes gauge Filesystem size in bytes.
node_filesystem_avail_bytes gauge Filesystem space available to non-root users in bytes.
node_uname_info gauge Labeled system information as provided by the uname system call.
node_time_seconds gauge System time in seconds since epoch (1970).
# the apps' golden signals
http_requests_total counter Total number of HTTP requests served.
http_request_duration_seconds histogram Duration of HTTP requests in seconds.
"""


def _parse_family_table(table: str) -> tuple[MetricFamily, ...]:
    rows: list[list[str]] = []
    for line in table.splitlines():
        if not line or line.startswith("#"):
            continue
        if line.startswith(" "):  # continuation of the previous help text
            rows[-1][2] += " " + line.strip()
        else:
            rows.append(line.split(" ", 2))
    return tuple(MetricFamily(name, type_, help_) for name, type_, help_ in rows)


FAMILIES: tuple[MetricFamily, ...] = _parse_family_table(_FAMILY_TABLE)

_POD_PHASES = ("Pending", "Succeeded", "Failed", "Unknown", "Running")
_POD_STATUS_REASONS = (
    "Evicted",
    "NodeAffinity",
    "NodeLost",
    "PreemptionByScheduler",
    "SchedulingGated",
    "Shutdown",
    "TerminationByKubelet",
    "UnexpectedAdmissionError",
)
_PV_PHASES = ("Pending", "Available", "Bound", "Released", "Failed")
_PVC_PHASES = ("Lost", "Bound", "Pending")
_NAMESPACE_PHASES = ("Active", "Terminating")
_CONDITION_STATUSES = (("true", "True"), ("false", "False"), ("unknown", "Unknown"))
_CFS_PERIOD_US = 100_000
_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")


# ---------------------------------------------------------------------------- formatting


def _esc(value: str) -> str:
    """Escape a label value: backslash, double quote and line feed."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def _esc_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _num(value: float) -> str:
    """A sample value as Prometheus writes it (integers without a fraction)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    return ",".join(f'{key}="{_esc(value)}"' for key, value in pairs)


def _sanitize(name: str) -> str:
    return _INVALID_LABEL_CHARS.sub("_", name)


def _map_labels(prefix: str, mapping: Mapping[str, str]) -> list[tuple[str, str]]:
    """Kubernetes labels as `label_<sanitised key>` pairs, as kube-state-metrics maps them.

    Keys that sanitise to the same name all get a `_conflictN` suffix (N from 1, in key order).
    """
    by_name: dict[str, list[str]] = {}
    for key in sorted(mapping):
        by_name.setdefault(prefix + _sanitize(key), []).append(key)
    out: list[tuple[str, str]] = []
    for name in sorted(by_name):
        keys = by_name[name]
        if len(keys) == 1:
            out.append((name, str(mapping[keys[0]])))
        else:
            out.extend((f"{name}_conflict{i}", str(mapping[key])) for i, key in enumerate(keys, 1))
    return out


class _Exposition:
    """Samples collected per family, written out in `FAMILIES` order."""

    def __init__(self) -> None:
        self._lines: dict[str, list[str]] = {f.name: [] for f in FAMILIES}

    def add(self, family: str, labels: str, value: float, *, suffix: str = "") -> None:
        self._lines[family].append(f"{family}{suffix}{{{labels}}} {_num(value)}")

    def render(self) -> bytes:
        parts: list[str] = []
        for fam in FAMILIES:
            parts.append(f"# HELP {fam.name} {_esc_help(fam.help)}")
            parts.append(f"# TYPE {fam.name} {fam.type}")
            parts.extend(self._lines[fam.name])
        parts.append("")
        return "\n".join(parts).encode()


# ---------------------------------------------------------------------------- helpers


def _quantity(text: object) -> float | None:
    try:
        return float(parse_quantity(str(text)))
    except QuantityError:
        log.debug("ignoring malformed quantity %r", text)
        return None


def _timestamp(text: object) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return parse_time(text)
    except ValueError:
        return None


def _resource_label(resource: str) -> tuple[str, str]:
    """(resource, unit) labels for a resource name, as kube-state-metrics writes them."""
    if resource == "cpu":
        return "cpu", "core"
    if resource in ("memory", "ephemeral-storage", "storage") or resource.startswith(
        ("hugepages-", "attachable-volumes-")
    ):
        return _sanitize(resource), "byte"
    return _sanitize(resource), "integer"


def _resources(res: Mapping[str, object]) -> list[tuple[str, str, float]]:
    out: list[tuple[str, str, float]] = []
    for name in sorted(res):
        value = _quantity(res[name])
        if value is None:
            continue
        label, unit = _resource_label(name)
        out.append((label, unit, value))
    return out


def _condition_series(
    expo: _Exposition, family: str, base: str, cond: Mapping[str, Any], *, extra: str = ""
) -> None:
    status = str(cond.get("status", "Unknown"))
    for label, api_value in _CONDITION_STATUSES:
        expo.add(
            family,
            f'{base},condition="{_esc(str(cond.get("type", "")))}",status="{label}"{extra}',
            1 if status == api_value else 0,
        )


def _cgroup_parent(pod: Obj, uid: str) -> str:
    qos = str((pod.get("status") or {}).get("qosClass") or qos_class(pod))
    if qos == "Guaranteed":
        return f"/kubepods/pod{uid}"
    return f"/kubepods/{qos.lower()}/pod{uid}"


def _fake_id(*parts: object) -> str:
    return hashlib.sha256("/".join(str(p) for p in parts).encode()).hexdigest()


# ---------------------------------------------------------------------------- counter memory


@dataclass(slots=True)
class _Carry:
    last_rx: float = 0.0
    last_tx: float = 0.0
    carried_rx: float = 0.0
    carried_tx: float = 0.0


@dataclass
class CounterMemory:
    """Keeps pod-level counters monotonic across container restarts.

    A pod's network namespace belongs to its sandbox, which outlives container restarts, so
    the pod's traffic counters must not drop when a container (and its runtime counters)
    restarts. Hold one `CounterMemory` per twin and pass it to every `render_metrics` call.
    """

    _pods: dict[str, dict[str, _Carry]] = field(default_factory=dict)

    def pod_network(self, pod: PodRuntime) -> tuple[float, float]:
        """(received, transmitted) bytes of the pod since its sandbox started."""
        carries = self._pods.setdefault(pod.uid, {})
        rx_total = tx_total = 0.0
        for name, container in pod.containers.items():
            carry = carries.setdefault(name, _Carry())
            rx, tx = container.network_rx_bytes_total, container.network_tx_bytes_total
            if rx < carry.last_rx or tx < carry.last_tx:  # the container restarted
                carry.carried_rx += carry.last_rx
                carry.carried_tx += carry.last_tx
            carry.last_rx, carry.last_tx = rx, tx
        for carry in carries.values():
            rx_total += carry.carried_rx + carry.last_rx
            tx_total += carry.carried_tx + carry.last_tx
        return rx_total, tx_total

    def forget_except(self, live_uids: Iterable[str]) -> None:
        """Drop the memory of pods that no longer exist."""
        live = set(live_uids)
        for uid in [u for u in self._pods if u not in live]:
            del self._pods[uid]


# ---------------------------------------------------------------------------- renderer


@dataclass(slots=True)
class _PodInfo:
    obj: Obj
    labels: dict[str, str]


class _Renderer:
    def __init__(self, store: ObjectStore, runtime: RuntimeState, now: float) -> None:
        self.store = store
        self.runtime = runtime
        self.now = now
        self.expo = _Exposition()
        self.pods_by_uid: dict[str, _PodInfo] = {}
        self.node_cpus: dict[str, int] = {}
        self.node_kernel: dict[str, str] = {}

    def _objects(self, group: str, version: str, plural: str) -> Iterable[Obj]:
        rtype = self.store.rtype(group, version, plural)
        for stored in self.store.iter_stored(rtype):
            yield stored.obj()

    # ------------------------------------------------------------ kube-state-metrics

    def namespaces(self) -> None:
        for ns in self._objects("", "v1", "namespaces"):
            name = str(ns["metadata"]["name"])
            phase = (ns.get("status") or {}).get("phase") or (
                "Terminating" if ns["metadata"].get("deletionTimestamp") else "Active"
            )
            for candidate in _NAMESPACE_PHASES:
                self.expo.add(
                    "kube_namespace_status_phase",
                    f'namespace="{_esc(name)}",phase="{candidate}"',
                    1 if phase == candidate else 0,
                )

    def nodes(self) -> None:
        expo = self.expo
        for node in self._objects("", "v1", "nodes"):
            meta, spec = node["metadata"], node.get("spec") or {}
            status = node.get("status") or {}
            name = str(meta["name"])
            base = f'node="{_esc(name)}"'
            info = status.get("nodeInfo") or {}
            internal_ip = next(
                (
                    str(a.get("address", ""))
                    for a in status.get("addresses") or []
                    if a.get("type") == "InternalIP"
                ),
                "",
            )
            self.node_kernel[name] = str(info.get("kernelVersion", ""))
            expo.add(
                "kube_node_info",
                base
                + ","
                + _labels(
                    (
                        ("kernel_version", str(info.get("kernelVersion", ""))),
                        ("os_image", str(info.get("osImage", ""))),
                        (
                            "container_runtime_version",
                            str(info.get("containerRuntimeVersion", "")),
                        ),
                        ("kubelet_version", str(info.get("kubeletVersion", ""))),
                        ("kubeproxy_version", str(info.get("kubeProxyVersion", ""))),
                        ("provider_id", str(spec.get("providerID", ""))),
                        ("pod_cidr", str(spec.get("podCIDR", ""))),
                        ("system_uuid", str(info.get("systemUUID", ""))),
                        ("internal_ip", internal_ip),
                    )
                ),
                1,
            )
            for key in sorted(meta.get("labels") or {}):
                if key.startswith("node-role.kubernetes.io/"):
                    role = key.removeprefix("node-role.kubernetes.io/")
                    expo.add("kube_node_role", f'{base},role="{_esc(role)}"', 1)
            created = _timestamp(meta.get("creationTimestamp"))
            if created is not None:
                expo.add("kube_node_created", base, created)
            expo.add("kube_node_spec_unschedulable", base, 1 if spec.get("unschedulable") else 0)
            for taint in spec.get("taints") or []:
                expo.add(
                    "kube_node_spec_taint",
                    base
                    + ","
                    + _labels(
                        (
                            ("key", str(taint.get("key", ""))),
                            ("value", str(taint.get("value", ""))),
                            ("effect", str(taint.get("effect", ""))),
                        )
                    ),
                    1,
                )
            for cond in status.get("conditions") or []:
                _condition_series(expo, "kube_node_status_condition", base, cond)
            for family, key in (
                ("kube_node_status_capacity", "capacity"),
                ("kube_node_status_allocatable", "allocatable"),
            ):
                for resource, unit, value in _resources(status.get(key) or {}):
                    expo.add(family, f'{base},resource="{resource}",unit="{unit}"', value)
            cpu = _quantity((status.get("capacity") or {}).get("cpu", "1"))
            self.node_cpus[name] = max(1, math.ceil(cpu or 1))

    def pods(self) -> None:
        expo = self.expo
        for pod in self._objects("", "v1", "pods"):
            meta = pod["metadata"]
            spec = pod.get("spec") or {}
            status = pod.get("status") or {}
            ns, name, uid = str(meta.get("namespace", "")), str(meta["name"]), str(meta["uid"])
            labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
            self.pods_by_uid[uid] = _PodInfo(pod, labels)
            base = f'namespace="{_esc(ns)}",pod="{_esc(name)}",uid="{_esc(uid)}"'
            node = str(spec.get("nodeName", ""))
            owners = meta.get("ownerReferences") or []
            controller = next((o for o in owners if o.get("controller")), None)
            expo.add(
                "kube_pod_info",
                base
                + ","
                + _labels(
                    (
                        ("host_ip", str(status.get("hostIP", ""))),
                        ("pod_ip", str(status.get("podIP", ""))),
                        ("node", node),
                        (
                            "created_by_kind",
                            str(controller.get("kind", "")) if controller else "<none>",
                        ),
                        (
                            "created_by_name",
                            str(controller.get("name", "")) if controller else "<none>",
                        ),
                        ("priority_class", str(spec.get("priorityClassName", ""))),
                        ("host_network", "true" if spec.get("hostNetwork") else "false"),
                    )
                ),
                1,
            )
            self._owner_series("kube_pod_owner", base, owners)
            label_pairs = _map_labels("label_", labels)
            expo.add(
                "kube_pod_labels",
                base + ("," + _labels(label_pairs) if label_pairs else ""),
                1,
            )
            for ts_family, key in (
                ("kube_pod_created", meta.get("creationTimestamp")),
                ("kube_pod_start_time", status.get("startTime")),
                ("kube_pod_deletion_timestamp", meta.get("deletionTimestamp")),
            ):
                ts = _timestamp(key)
                if ts is not None:
                    expo.add(ts_family, base, ts)
            phase = status.get("phase")
            if phase:
                for candidate in _POD_PHASES:
                    expo.add(
                        "kube_pod_status_phase",
                        f'{base},phase="{candidate}"',
                        1 if phase == candidate else 0,
                    )
            for cond in status.get("conditions") or []:
                cond_family = {
                    "Ready": "kube_pod_status_ready",
                    "PodScheduled": "kube_pod_status_scheduled",
                }.get(str(cond.get("type")))
                if cond_family is None:
                    continue
                cond_status = str(cond.get("status", "Unknown"))
                for label, api_value in _CONDITION_STATUSES:
                    expo.add(
                        cond_family,
                        f'{base},condition="{label}"',
                        1 if cond_status == api_value else 0,
                    )
            reason = status.get("reason")
            for candidate in _POD_STATUS_REASONS:
                expo.add(
                    "kube_pod_status_reason",
                    f'{base},reason="{candidate}"',
                    1 if reason == candidate else 0,
                )
            self._container_statuses(pod, base)
            self._container_resources(pod, base, node)

    def _owner_series(self, family: str, base: str, owners: list[Obj]) -> None:
        if not owners:
            self.expo.add(
                family,
                f'{base},owner_kind="<none>",owner_name="<none>",owner_is_controller="<none>"',
                1,
            )
            return
        for ref in owners:
            self.expo.add(
                family,
                base
                + ","
                + _labels(
                    (
                        ("owner_kind", str(ref.get("kind", ""))),
                        ("owner_name", str(ref.get("name", ""))),
                        ("owner_is_controller", "true" if ref.get("controller") else "false"),
                    )
                ),
                1,
            )

    def _container_statuses(self, pod: Obj, base: str) -> None:
        expo = self.expo
        spec_images = {
            str(c.get("name")): str(c.get("image", ""))
            for c in (pod.get("spec") or {}).get("containers") or []
        }
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            cname = str(cs.get("name", ""))
            cbase = f'{base},container="{_esc(cname)}"'
            state = cs.get("state") or {}
            last = (cs.get("lastState") or {}).get("terminated")
            expo.add(
                "kube_pod_container_info",
                cbase
                + ","
                + _labels(
                    (
                        ("image_spec", spec_images.get(cname, "")),
                        ("image", str(cs.get("image", ""))),
                        ("image_id", str(cs.get("imageID", ""))),
                        ("container_id", str(cs.get("containerID", ""))),
                    )
                ),
                1,
            )
            waiting, running, terminated = (
                state.get("waiting"),
                state.get("running"),
                state.get("terminated"),
            )
            expo.add("kube_pod_container_status_waiting", cbase, 1 if waiting is not None else 0)
            if waiting is not None and waiting.get("reason"):
                expo.add(
                    "kube_pod_container_status_waiting_reason",
                    f'{cbase},reason="{_esc(str(waiting["reason"]))}"',
                    1,
                )
            expo.add("kube_pod_container_status_running", cbase, 1 if running is not None else 0)
            expo.add(
                "kube_pod_container_status_terminated", cbase, 1 if terminated is not None else 0
            )
            if terminated is not None and terminated.get("reason"):
                expo.add(
                    "kube_pod_container_status_terminated_reason",
                    f'{cbase},reason="{_esc(str(terminated["reason"]))}"',
                    1,
                )
            if last is not None:
                if last.get("reason"):
                    expo.add(
                        "kube_pod_container_status_last_terminated_reason",
                        f'{cbase},reason="{_esc(str(last["reason"]))}"',
                        1,
                    )
                expo.add(
                    "kube_pod_container_status_last_terminated_exitcode",
                    cbase,
                    int(last.get("exitCode", 0)),
                )
            expo.add("kube_pod_container_status_ready", cbase, 1 if cs.get("ready") else 0)
            expo.add(
                "kube_pod_container_status_restarts_total", cbase, int(cs.get("restartCount", 0))
            )

    def _container_resources(self, pod: Obj, base: str, node: str) -> None:
        for container in (pod.get("spec") or {}).get("containers") or []:
            res = container.get("resources") or {}
            limits = res.get("limits") or {}
            # the API server defaults each missing request to its limit
            requests = {**limits, **(res.get("requests") or {})}
            cbase = f'{base},container="{_esc(str(container.get("name", "")))}",node="{_esc(node)}"'
            for family, values in (
                ("kube_pod_container_resource_requests", requests),
                ("kube_pod_container_resource_limits", limits),
            ):
                for resource, unit, value in _resources(values):
                    self.expo.add(family, f'{cbase},resource="{resource}",unit="{unit}"', value)

    def deployments(self) -> None:
        expo = self.expo
        for dep in self._objects("apps", "v1", "deployments"):
            meta, spec = dep["metadata"], dep.get("spec") or {}
            status = dep.get("status") or {}
            base = (
                f'namespace="{_esc(str(meta.get("namespace", "")))}",'
                f'deployment="{_esc(str(meta["name"]))}"'
            )
            expo.add("kube_deployment_spec_replicas", base, int(spec.get("replicas", 1)))
            expo.add("kube_deployment_spec_paused", base, 1 if spec.get("paused") else 0)
            for family, key in (
                ("kube_deployment_status_replicas", "replicas"),
                ("kube_deployment_status_replicas_ready", "readyReplicas"),
                ("kube_deployment_status_replicas_available", "availableReplicas"),
                ("kube_deployment_status_replicas_unavailable", "unavailableReplicas"),
                ("kube_deployment_status_replicas_updated", "updatedReplicas"),
                ("kube_deployment_status_observed_generation", "observedGeneration"),
            ):
                expo.add(family, base, int(status.get(key, 0)))
            expo.add("kube_deployment_metadata_generation", base, int(meta.get("generation", 0)))
            for cond in status.get("conditions") or []:
                _condition_series(
                    expo,
                    "kube_deployment_status_condition",
                    base,
                    cond,
                    extra=f',reason="{_esc(str(cond.get("reason", "")))}"',
                )

    def replicasets(self) -> None:
        expo = self.expo
        for rs in self._objects("apps", "v1", "replicasets"):
            meta, spec = rs["metadata"], rs.get("spec") or {}
            status = rs.get("status") or {}
            base = (
                f'namespace="{_esc(str(meta.get("namespace", "")))}",'
                f'replicaset="{_esc(str(meta["name"]))}"'
            )
            self._owner_series("kube_replicaset_owner", base, meta.get("ownerReferences") or [])
            expo.add("kube_replicaset_spec_replicas", base, int(spec.get("replicas", 1)))
            expo.add("kube_replicaset_status_replicas", base, int(status.get("replicas", 0)))
            expo.add(
                "kube_replicaset_status_ready_replicas", base, int(status.get("readyReplicas", 0))
            )

    def hpas(self) -> None:
        expo = self.expo
        for hpa in self._objects("autoscaling", "v2", "horizontalpodautoscalers"):
            meta, spec = hpa["metadata"], hpa.get("spec") or {}
            status = hpa.get("status") or {}
            base = (
                f'namespace="{_esc(str(meta.get("namespace", "")))}",'
                f'horizontalpodautoscaler="{_esc(str(meta["name"]))}"'
            )
            ref = spec.get("scaleTargetRef") or {}
            expo.add(
                "kube_horizontalpodautoscaler_info",
                base
                + ","
                + _labels(
                    (
                        ("scaletargetref_api_version", str(ref.get("apiVersion", ""))),
                        ("scaletargetref_kind", str(ref.get("kind", ""))),
                        ("scaletargetref_name", str(ref.get("name", ""))),
                    )
                ),
                1,
            )
            expo.add(
                "kube_horizontalpodautoscaler_metadata_generation",
                base,
                int(meta.get("generation", 0)),
            )
            expo.add(
                "kube_horizontalpodautoscaler_spec_max_replicas",
                base,
                int(spec.get("maxReplicas", 0)),
            )
            expo.add(
                "kube_horizontalpodautoscaler_spec_min_replicas",
                base,
                int(spec.get("minReplicas", 1)),
            )
            for metric in spec.get("metrics") or []:
                self._hpa_metric(
                    "kube_horizontalpodautoscaler_spec_target_metric", base, metric, "target"
                )
            for metric in status.get("currentMetrics") or []:
                self._hpa_metric(
                    "kube_horizontalpodautoscaler_status_target_metric", base, metric, "current"
                )
            expo.add(
                "kube_horizontalpodautoscaler_status_current_replicas",
                base,
                int(status.get("currentReplicas", 0)),
            )
            expo.add(
                "kube_horizontalpodautoscaler_status_desired_replicas",
                base,
                int(status.get("desiredReplicas", 0)),
            )
            for cond in status.get("conditions") or []:
                _condition_series(expo, "kube_horizontalpodautoscaler_status_condition", base, cond)

    def _hpa_metric(self, family: str, base: str, metric: Mapping[str, Any], which: str) -> None:
        kind = str(metric.get("type", ""))
        key = kind[:1].lower() + kind[1:]  # Resource -> resource, ContainerResource -> ...
        source = metric.get(key) or {}
        if kind in ("Resource", "ContainerResource"):
            metric_name = str(source.get("name", ""))
        else:
            metric_name = str((source.get("metric") or {}).get("name", ""))
        values = source.get(which) or {}
        for field_name, target_type in (
            ("value", "value"),
            ("averageValue", "average"),
            ("averageUtilization", "utilization"),
        ):
            if field_name not in values:
                continue
            raw = values[field_name]
            value = float(raw) if isinstance(raw, int | float) else _quantity(raw)
            if value is None:
                continue
            self.expo.add(
                family,
                f'{base},metric_name="{_esc(metric_name)}",metric_target_type="{target_type}"',
                value,
            )

    def pdbs(self) -> None:
        for pdb in self._objects("policy", "v1", "poddisruptionbudgets"):
            meta, status = pdb["metadata"], pdb.get("status") or {}
            base = (
                f'namespace="{_esc(str(meta.get("namespace", "")))}",'
                f'poddisruptionbudget="{_esc(str(meta["name"]))}"'
            )
            for family, key in (
                ("kube_poddisruptionbudget_status_current_healthy", "currentHealthy"),
                ("kube_poddisruptionbudget_status_desired_healthy", "desiredHealthy"),
                ("kube_poddisruptionbudget_status_pod_disruptions_allowed", "disruptionsAllowed"),
                ("kube_poddisruptionbudget_status_expected_pods", "expectedPods"),
                ("kube_poddisruptionbudget_status_observed_generation", "observedGeneration"),
            ):
                self.expo.add(family, base, int(status.get(key, 0)))

    def volumes(self) -> None:
        expo = self.expo
        for pv in self._objects("", "v1", "persistentvolumes"):
            meta, spec = pv["metadata"], pv.get("spec") or {}
            base = f'persistentvolume="{_esc(str(meta["name"]))}"'
            phase = (pv.get("status") or {}).get("phase")
            if phase:
                for candidate in _PV_PHASES:
                    expo.add(
                        "kube_persistentvolume_status_phase",
                        f'{base},phase="{candidate}"',
                        1 if phase == candidate else 0,
                    )
            capacity = _quantity((spec.get("capacity") or {}).get("storage", "0"))
            expo.add("kube_persistentvolume_capacity_bytes", base, capacity or 0.0)
            claim = spec.get("claimRef")
            if claim:
                expo.add(
                    "kube_persistentvolume_claim_ref",
                    base
                    + ","
                    + _labels(
                        (
                            ("claim_namespace", str(claim.get("namespace", ""))),
                            ("name", str(claim.get("name", ""))),
                        )
                    ),
                    1,
                )
        for pvc in self._objects("", "v1", "persistentvolumeclaims"):
            meta, spec = pvc["metadata"], pvc.get("spec") or {}
            base = (
                f'namespace="{_esc(str(meta.get("namespace", "")))}",'
                f'persistentvolumeclaim="{_esc(str(meta["name"]))}"'
            )
            expo.add(
                "kube_persistentvolumeclaim_info",
                base
                + ","
                + _labels(
                    (
                        ("storageclass", str(spec.get("storageClassName") or "")),
                        ("volumename", str(spec.get("volumeName", ""))),
                        ("volumemode", str(spec.get("volumeMode", "Filesystem"))),
                    )
                ),
                1,
            )
            phase = (pvc.get("status") or {}).get("phase")
            if phase:
                for candidate in _PVC_PHASES:
                    expo.add(
                        "kube_persistentvolumeclaim_status_phase",
                        f'{base},phase="{candidate}"',
                        1 if phase == candidate else 0,
                    )
            requested = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
            if requested is not None:
                value = _quantity(requested)
                if value is not None:
                    expo.add(
                        "kube_persistentvolumeclaim_resource_requests_storage_bytes", base, value
                    )

    # ------------------------------------------------------------ cAdvisor and the kubelet

    def containers(self, memory: CounterMemory | None) -> None:
        expo = self.expo
        for uid in sorted(self.runtime.pods, key=self._pod_sort_key):
            info = self.pods_by_uid.get(uid)
            if info is None:
                continue  # the pod is gone from the API: its cgroups are gone too
            pod_rt = self.runtime.pods[uid]
            pod = info.obj
            meta = pod["metadata"]
            ns, name = str(meta.get("namespace", "")), str(meta["name"])
            phase = (pod.get("status") or {}).get("phase")
            if phase in ("Succeeded", "Failed"):
                continue
            parent = _cgroup_parent(pod, uid)
            statuses = {
                str(cs.get("name")): cs
                for cs in (pod.get("status") or {}).get("containerStatuses") or []
            }
            specs = {str(c.get("name")): c for c in (pod.get("spec") or {}).get("containers") or []}
            for cname in sorted(pod_rt.containers):
                crt = pod_rt.containers[cname]
                if crt.started_at is None:
                    continue  # not running (the kubelet sets started_at): no cgroup, no series
                cs = statuses.get(cname)
                cspec = specs.get(cname) or {}
                container_id = str((cs or {}).get("containerID", "")).partition("://")[2]
                if not container_id:
                    container_id = _fake_id(uid, cname, crt.restart_count)
                image = str((cs or {}).get("image") or cspec.get("image", ""))
                labels = _labels(
                    (
                        ("container", cname),
                        ("id", f"{parent}/{container_id}"),
                        ("image", image),
                        ("name", container_id),
                        ("namespace", ns),
                        ("pod", name),
                    )
                )
                expo.add("container_cpu_usage_seconds_total", labels, crt.cpu_seconds_total)
                expo.add("container_memory_working_set_bytes", labels, crt.memory_working_set_bytes)
                expo.add("container_memory_rss", labels, crt.memory_rss_bytes)
                expo.add(
                    "container_memory_usage_bytes",
                    labels,
                    max(crt.memory_working_set_bytes, crt.memory_rss_bytes),
                )
                limits = (cspec.get("resources") or {}).get("limits") or {}
                mem_limit = _quantity(limits["memory"]) if "memory" in limits else None
                expo.add("container_spec_memory_limit_bytes", labels, mem_limit or 0)
                cpu_limit = _quantity(limits["cpu"]) if "cpu" in limits else None
                if cpu_limit:
                    expo.add("container_spec_cpu_quota", labels, round(cpu_limit * _CFS_PERIOD_US))
                    expo.add("container_spec_cpu_period", labels, _CFS_PERIOD_US)
                expo.add(
                    "container_fs_usage_bytes",
                    f'{labels},device="{_CONTAINER_FS_DEVICE}"',
                    crt.fs_usage_bytes,
                )
                expo.add("container_start_time_seconds", labels, crt.started_at)
            self._pod_network(pod_rt, uid=uid, ns=ns, name=name, parent=parent, memory=memory)
        if memory is not None:
            memory.forget_except(self.runtime.pods)

    def _pod_sort_key(self, uid: str) -> tuple[str, str, str]:
        info = self.pods_by_uid.get(uid)
        if info is None:
            return ("", "", uid)
        meta = info.obj["metadata"]
        return (str(meta.get("namespace", "")), str(meta["name"]), uid)

    def _pod_network(
        self,
        pod_rt: PodRuntime,
        *,
        uid: str,
        ns: str,
        name: str,
        parent: str,
        memory: CounterMemory | None,
    ) -> None:
        if not pod_rt.containers:
            return
        if memory is not None:
            rx, tx = memory.pod_network(pod_rt)
        else:
            rx = sum(c.network_rx_bytes_total for c in pod_rt.containers.values())
            tx = sum(c.network_tx_bytes_total for c in pod_rt.containers.values())
        sandbox = _fake_id(uid, "sandbox")
        labels = _labels(
            (
                ("container", "POD"),
                ("id", f"{parent}/{sandbox}"),
                ("image", PAUSE_IMAGE),
                ("interface", _INTERFACE),
                ("name", sandbox),
                ("namespace", ns),
                ("pod", name),
            )
        )
        self.expo.add("container_network_receive_bytes_total", labels, rx)
        self.expo.add("container_network_transmit_bytes_total", labels, tx)

    def volume_stats(self) -> None:
        mounted: set[tuple[str, str]] = set()
        for info in self.pods_by_uid.values():
            pod = info.obj
            if (pod.get("status") or {}).get("phase") != "Running":
                continue
            ns = str(pod["metadata"].get("namespace", ""))
            for volume in (pod.get("spec") or {}).get("volumes") or []:
                claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
                if claim:
                    mounted.add((ns, str(claim)))
        if not mounted:
            return
        for pvc in self._objects("", "v1", "persistentvolumeclaims"):
            meta = pvc["metadata"]
            ns, name = str(meta.get("namespace", "")), str(meta["name"])
            status = pvc.get("status") or {}
            if (ns, name) not in mounted or status.get("phase") != "Bound":
                continue
            capacity = _quantity((status.get("capacity") or {}).get("storage", "0")) or 0.0
            used = _quantity((meta.get("annotations") or {}).get(PVC_USED_BYTES_ANNOTATION, "0"))
            used = min(max(used or 0.0, 0.0), capacity)
            base = f'namespace="{_esc(ns)}",persistentvolumeclaim="{_esc(name)}"'
            self.expo.add("kubelet_volume_stats_capacity_bytes", base, capacity)
            self.expo.add("kubelet_volume_stats_available_bytes", base, capacity - used)
            self.expo.add("kubelet_volume_stats_used_bytes", base, used)

    # ------------------------------------------------------------ node-exporter

    def node_exporter(self) -> None:
        expo = self.expo
        load: dict[str, float] = {}
        for pod_rt in self.runtime.pods.values():
            load[pod_rt.node] = load.get(pod_rt.node, 0.0) + sum(
                c.cpu_cores for c in pod_rt.containers.values()
            )
        for name in sorted(self.runtime.nodes):
            node = self.runtime.nodes[name]
            base = f'instance="{_esc(name)}",node="{_esc(name)}"'
            cpus = self.node_cpus.get(name, 1)
            modes = sorted(node.cpu_seconds_total)
            for cpu in range(cpus):
                for mode in modes:
                    expo.add(
                        "node_cpu_seconds_total",
                        f'{base},cpu="{cpu}",mode="{_esc(mode)}"',
                        node.cpu_seconds_total[mode] / cpus,
                    )
            expo.add("node_load1", base, round(load.get(name, 0.0), 2))
            expo.add("node_memory_MemTotal_bytes", base, node.memory_total_bytes)
            expo.add("node_memory_MemAvailable_bytes", base, node.memory_available_bytes)
            fs = (
                f'{base},device="{_NODE_FS_DEVICE}",fstype="{_NODE_FS_TYPE}",'
                f'mountpoint="{_NODE_FS_MOUNTPOINT}"'
            )
            expo.add("node_filesystem_size_bytes", fs, node.fs_size_bytes)
            expo.add("node_filesystem_avail_bytes", fs, node.fs_avail_bytes)
            expo.add(
                "node_uname_info",
                base
                + ","
                + _labels(
                    (
                        ("domainname", "(none)"),
                        ("machine", "x86_64"),
                        ("nodename", name),
                        ("release", self.node_kernel.get(name, "")),
                        ("sysname", "Linux"),
                    )
                ),
                1,
            )
            expo.add("node_time_seconds", base, self.now)

    # ------------------------------------------------------------ golden signals

    def golden_signals(self) -> None:
        expo = self.expo
        services: list[tuple[str, str, dict[str, str]]] = []
        for svc in self._objects("", "v1", "services"):
            selector = (svc.get("spec") or {}).get("selector") or {}
            if selector:
                services.append(
                    (
                        str(svc["metadata"].get("namespace", "")),
                        str(svc["metadata"]["name"]),
                        {str(k): str(v) for k, v in selector.items()},
                    )
                )
        for uid in sorted(self.runtime.pods, key=self._pod_sort_key):
            info = self.pods_by_uid.get(uid)
            if info is None:
                continue
            pod_rt = self.runtime.pods[uid]
            meta = info.obj["metadata"]
            ns = str(meta.get("namespace", ""))
            labels = info.labels
            app = labels.get("app.kubernetes.io/name") or labels.get("app") or ""
            service = next(
                (
                    svc_name
                    for svc_ns, svc_name, selector in services
                    if svc_ns == ns and all(labels.get(k) == v for k, v in selector.items())
                ),
                "",
            )
            base = _labels(
                (
                    ("namespace", ns),
                    ("pod", str(meta["name"])),
                    ("app", app),
                    ("service", service),
                    ("method", "GET"),
                )
            )
            for status in sorted(pod_rt.requests_total):
                expo.add(
                    "http_requests_total",
                    f'{base},status="{_esc(status)}"',
                    pod_rt.requests_total[status],
                )
            counts = pod_rt.latency_bucket_counts
            if not pod_rt.requests_total and not any(counts):
                continue
            for bound, count in zip(LATENCY_BUCKETS, counts, strict=False):
                expo.add(
                    "http_request_duration_seconds",
                    f'{base},le="{_num(bound)}"',
                    count,
                    suffix="_bucket",
                )
            total = counts[len(LATENCY_BUCKETS)] if len(counts) > len(LATENCY_BUCKETS) else 0.0
            expo.add("http_request_duration_seconds", f'{base},le="+Inf"', total, suffix="_bucket")
            expo.add("http_request_duration_seconds", base, pod_rt.latency_sum, suffix="_sum")
            expo.add("http_request_duration_seconds", base, total, suffix="_count")


def render_metrics(
    *,
    store: ObjectStore,
    runtime: RuntimeState,
    now: float,
    memory: CounterMemory | None = None,
) -> bytes:
    """One scrape of the twin's metrics, in the Prometheus text format 0.0.4.

    Families come in `FAMILIES` order, series in object key order (namespace/name), so two
    renders of the same state are byte-identical. Holds the store's lock while reading, so
    the simulation cannot change the cluster half-way through a scrape. Pass the same
    `memory` to every call to keep pod network counters monotonic across container restarts.
    """
    with store.lock:
        renderer = _Renderer(store, runtime, now)
        renderer.namespaces()
        renderer.nodes()
        renderer.pods()
        renderer.deployments()
        renderer.replicasets()
        renderer.hpas()
        renderer.pdbs()
        renderer.volumes()
        renderer.containers(memory)
        renderer.volume_stats()
        renderer.node_exporter()
        renderer.golden_signals()
        return renderer.expo.render()

"""The exposition side of the twin's `/metrics`: every family it serves (`FAMILIES`, in output
order), the text format 0.0.4 (label escaping, sample values), and the helpers that turn
Kubernetes quantities, times and labels into series, as the real exporters do.

Pure: no I/O, no clock. The helpers are shared by the exporters of this package
(`kube_state`, `runtime`); the package's public names are re-exported by `kubeheal.twin.metrics`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubeheal.model.quantity import QuantityError, parse_quantity
from kubeheal.twin.clock import parse_time
from kubeheal.twin.sim.objects import qos_class

__all__ = [
    "CFS_PERIOD_US",
    "CONDITION_STATUSES",
    "CONTAINER_FS_DEVICE",
    "FAMILIES",
    "INTERFACE",
    "NAMESPACE_PHASES",
    "NODE_FS_DEVICE",
    "NODE_FS_MOUNTPOINT",
    "NODE_FS_TYPE",
    "PAUSE_IMAGE",
    "POD_PHASES",
    "POD_STATUS_REASONS",
    "PVC_PHASES",
    "PVC_USED_BYTES_ANNOTATION",
    "PV_PHASES",
    "Exposition",
    "MetricFamily",
    "Obj",
    "cgroup_parent",
    "condition_series",
    "escape",
    "fake_id",
    "map_labels",
    "metrics_content_type",
    "parse_stamp",
    "quantity_value",
    "resource_amounts",
    "sample_value",
    "series_labels",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

metrics_content_type = "text/plain; version=0.0.4; charset=utf-8"

# Bytes used on a PersistentVolumeClaim's volume, for kubelet_volume_stats_used_bytes (the twin
# has no file systems; scenarios and faults set this annotation on the claim).
PVC_USED_BYTES_ANNOTATION = "twin.kubeheal.io/volume-used-bytes"

# The sandbox ("pause") container that owns a pod's network namespace.
PAUSE_IMAGE = "registry.k8s.io/pause:3.9"

NODE_FS_DEVICE = "/dev/root"
NODE_FS_TYPE = "ext4"
NODE_FS_MOUNTPOINT = "/"
CONTAINER_FS_DEVICE = "/dev/root"
INTERFACE = "eth0"


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

POD_PHASES = ("Pending", "Succeeded", "Failed", "Unknown", "Running")
POD_STATUS_REASONS = (
    "Evicted",
    "NodeAffinity",
    "NodeLost",
    "PreemptionByScheduler",
    "SchedulingGated",
    "Shutdown",
    "TerminationByKubelet",
    "UnexpectedAdmissionError",
)
PV_PHASES = ("Pending", "Available", "Bound", "Released", "Failed")
PVC_PHASES = ("Lost", "Bound", "Pending")
NAMESPACE_PHASES = ("Active", "Terminating")
CONDITION_STATUSES = (("true", "True"), ("false", "False"), ("unknown", "Unknown"))
CFS_PERIOD_US = 100_000
_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")


# ---------------------------------------------------------------------------- formatting


def escape(value: str) -> str:
    """Escape a label value: backslash, double quote and line feed."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def _esc_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def sample_value(value: float) -> str:
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


def series_labels(pairs: Iterable[tuple[str, str]]) -> str:
    return ",".join(f'{key}="{escape(value)}"' for key, value in pairs)


def _sanitize(name: str) -> str:
    return _INVALID_LABEL_CHARS.sub("_", name)


def map_labels(prefix: str, mapping: Mapping[str, str]) -> list[tuple[str, str]]:
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


class Exposition:
    """Samples collected per family, written out in `FAMILIES` order."""

    def __init__(self) -> None:
        self._lines: dict[str, list[str]] = {f.name: [] for f in FAMILIES}

    def add(self, family: str, labels: str, value: float, *, suffix: str = "") -> None:
        self._lines[family].append(f"{family}{suffix}{{{labels}}} {sample_value(value)}")

    def render(self) -> bytes:
        parts: list[str] = []
        for fam in FAMILIES:
            parts.append(f"# HELP {fam.name} {_esc_help(fam.help)}")
            parts.append(f"# TYPE {fam.name} {fam.type}")
            parts.extend(self._lines[fam.name])
        parts.append("")
        return "\n".join(parts).encode()


# ---------------------------------------------------------------------------- helpers


def quantity_value(text: object) -> float | None:
    try:
        return float(parse_quantity(str(text)))
    except QuantityError:
        log.debug("ignoring malformed quantity %r", text)
        return None


def parse_stamp(text: object) -> float | None:
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


def resource_amounts(res: Mapping[str, object]) -> list[tuple[str, str, float]]:
    out: list[tuple[str, str, float]] = []
    for name in sorted(res):
        value = quantity_value(res[name])
        if value is None:
            continue
        label, unit = _resource_label(name)
        out.append((label, unit, value))
    return out


def condition_series(
    expo: Exposition, family: str, base: str, cond: Mapping[str, Any], *, extra: str = ""
) -> None:
    status = str(cond.get("status", "Unknown"))
    for label, api_value in CONDITION_STATUSES:
        expo.add(
            family,
            f'{base},condition="{escape(str(cond.get("type", "")))}",status="{label}"{extra}',
            1 if status == api_value else 0,
        )


def cgroup_parent(pod: Obj, uid: str) -> str:
    qos = str((pod.get("status") or {}).get("qosClass") or qos_class(pod))
    if qos == "Guaranteed":
        return f"/kubepods/pod{uid}"
    return f"/kubepods/{qos.lower()}/pod{uid}"


def fake_id(*parts: object) -> str:
    return hashlib.sha256("/".join(str(p) for p in parts).encode()).hexdigest()

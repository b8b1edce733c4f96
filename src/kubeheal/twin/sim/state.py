"""Runtime state that is not in the API: what containers use and what the apps serve.

Written by the kubelet/workload simulation, read by the metrics exporter and by probes.
Counters only go up (as Prometheus counters must) for the lifetime of a container; a
restarted container starts its counters again from zero, like cAdvisor.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "LATENCY_BUCKETS",
    "ContainerRuntime",
    "NodeRuntime",
    "PodRuntime",
    "RuntimeState",
]

# http_request_duration_seconds histogram bucket upper bounds (seconds), as the
# Prometheus client libraries' defaults.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip


@dataclass
class ContainerRuntime:
    """One running (or last run) container instance."""

    name: str
    started_at: float | None = None
    cpu_cores: float = 0.0  # current usage, cores
    cpu_seconds_total: float = 0.0
    memory_working_set_bytes: int = 0
    memory_rss_bytes: int = 0
    network_rx_bytes_total: float = 0.0
    network_tx_bytes_total: float = 0.0
    fs_usage_bytes: int = 0
    restart_count: int = 0
    # log lines of the current instance, and of the previous one (`kubectl logs --previous`)
    logs: list[str] = field(default_factory=list)
    previous_logs: list[str] = field(default_factory=list)


@dataclass
class PodRuntime:
    """A pod's containers and the HTTP traffic its app served (golden signals)."""

    uid: str
    namespace: str
    name: str
    node: str
    containers: dict[str, ContainerRuntime] = field(default_factory=dict)
    # http_requests_total by status code (as a string: "200", "500", ...)
    requests_total: dict[str, float] = field(default_factory=dict)
    # cumulative histogram counts per LATENCY_BUCKETS bound, plus +Inf, and the sum
    latency_bucket_counts: list[float] = field(
        default_factory=lambda: [0.0] * (len(LATENCY_BUCKETS) + 1)
    )
    latency_sum: float = 0.0
    current_rps: float = 0.0
    current_latency_p50: float = 0.0
    current_error_rate: float = 0.0


@dataclass
class NodeRuntime:
    """A node's usage as node-exporter and the kubelet report it."""

    name: str
    cpu_seconds_total: dict[str, float] = field(
        default_factory=lambda: {"idle": 0.0, "user": 0.0, "system": 0.0}
    )
    memory_total_bytes: int = 0
    memory_available_bytes: int = 0
    fs_size_bytes: int = 0
    fs_avail_bytes: int = 0
    # extra memory used outside pods (fault "node memory pressure")
    extra_memory_bytes: int = 0
    extra_fs_bytes: int = 0
    ready: bool = True


@dataclass
class RuntimeState:
    """All non-API runtime state of the twin, keyed by pod uid and node name."""

    pods: dict[str, PodRuntime] = field(default_factory=dict)
    nodes: dict[str, NodeRuntime] = field(default_factory=dict)

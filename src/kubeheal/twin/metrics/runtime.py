"""The runtime side of `/metrics`, from `RuntimeState`: cAdvisor series for every running
container (as the kubelet serves them on `/metrics/cadvisor`), the kubelet's volume statistics,
node-exporter series for every node and the apps' golden signals; and `CounterMemory`, which
keeps pod-level counters monotonic across container restarts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from kubeheal.twin.metrics.exposition import (
    CFS_PERIOD_US,
    CONTAINER_FS_DEVICE,
    INTERFACE,
    NODE_FS_DEVICE,
    NODE_FS_MOUNTPOINT,
    NODE_FS_TYPE,
    PAUSE_IMAGE,
    PVC_USED_BYTES_ANNOTATION,
    cgroup_parent,
    escape,
    fake_id,
    quantity_value,
    sample_value,
    series_labels,
)
from kubeheal.twin.metrics.scrape import Scrape
from kubeheal.twin.sim.state import LATENCY_BUCKETS, PodRuntime

__all__ = ["CounterMemory", "RuntimeMetrics"]


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


class RuntimeMetrics(Scrape):
    """The cAdvisor, kubelet, node-exporter and golden-signal exporters of one scrape."""

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
            parent = cgroup_parent(pod, uid)
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
                    container_id = fake_id(uid, cname, crt.restart_count)
                image = str((cs or {}).get("image") or cspec.get("image", ""))
                labels = series_labels(
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
                mem_limit = quantity_value(limits["memory"]) if "memory" in limits else None
                expo.add("container_spec_memory_limit_bytes", labels, mem_limit or 0)
                cpu_limit = quantity_value(limits["cpu"]) if "cpu" in limits else None
                if cpu_limit:
                    expo.add("container_spec_cpu_quota", labels, round(cpu_limit * CFS_PERIOD_US))
                    expo.add("container_spec_cpu_period", labels, CFS_PERIOD_US)
                expo.add(
                    "container_fs_usage_bytes",
                    f'{labels},device="{CONTAINER_FS_DEVICE}"',
                    crt.fs_usage_bytes,
                )
                expo.add("container_start_time_seconds", labels, crt.started_at)
            self._pod_network(pod_rt, uid=uid, ns=ns, name=name, parent=parent, memory=memory)
        if memory is not None:
            memory.forget_except(self.runtime.pods)

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
        sandbox = fake_id(uid, "sandbox")
        labels = series_labels(
            (
                ("container", "POD"),
                ("id", f"{parent}/{sandbox}"),
                ("image", PAUSE_IMAGE),
                ("interface", INTERFACE),
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
            capacity = quantity_value((status.get("capacity") or {}).get("storage", "0")) or 0.0
            annotations = meta.get("annotations") or {}
            used = quantity_value(annotations.get(PVC_USED_BYTES_ANNOTATION, "0"))
            used = min(max(used or 0.0, 0.0), capacity)
            base = f'namespace="{escape(ns)}",persistentvolumeclaim="{escape(name)}"'
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
            base = f'instance="{escape(name)}",node="{escape(name)}"'
            cpus = self.node_cpus.get(name, 1)
            modes = sorted(node.cpu_seconds_total)
            for cpu in range(cpus):
                for mode in modes:
                    expo.add(
                        "node_cpu_seconds_total",
                        f'{base},cpu="{cpu}",mode="{escape(mode)}"',
                        node.cpu_seconds_total[mode] / cpus,
                    )
            expo.add("node_load1", base, round(load.get(name, 0.0), 2))
            expo.add("node_memory_MemTotal_bytes", base, node.memory_total_bytes)
            expo.add("node_memory_MemAvailable_bytes", base, node.memory_available_bytes)
            fs = (
                f'{base},device="{NODE_FS_DEVICE}",fstype="{NODE_FS_TYPE}",'
                f'mountpoint="{NODE_FS_MOUNTPOINT}"'
            )
            expo.add("node_filesystem_size_bytes", fs, node.fs_size_bytes)
            expo.add("node_filesystem_avail_bytes", fs, node.fs_avail_bytes)
            expo.add(
                "node_uname_info",
                base
                + ","
                + series_labels(
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
            base = series_labels(
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
                    f'{base},status="{escape(status)}"',
                    pod_rt.requests_total[status],
                )
            counts = pod_rt.latency_bucket_counts
            if not pod_rt.requests_total and not any(counts):
                continue
            for bound, count in zip(LATENCY_BUCKETS, counts, strict=False):
                expo.add(
                    "http_request_duration_seconds",
                    f'{base},le="{sample_value(bound)}"',
                    count,
                    suffix="_bucket",
                )
            total = counts[len(LATENCY_BUCKETS)] if len(counts) > len(LATENCY_BUCKETS) else 0.0
            expo.add("http_request_duration_seconds", f'{base},le="+Inf"', total, suffix="_bucket")
            expo.add("http_request_duration_seconds", base, pod_rt.latency_sum, suffix="_sum")
            expo.add("http_request_duration_seconds", base, total, suffix="_count")

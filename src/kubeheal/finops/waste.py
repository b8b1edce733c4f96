"""The waste report: what the cluster pays for and does not use, with a monthly cost each.

Four kinds of waste:

* **over-provisioned** workloads: requests above what right-sizing recommends (the saving
  is the difference in requested cost at the workload's average replica count);
* **unused volumes**: PersistentVolumes Available, Released or Failed (nobody can use them)
  and PersistentVolumeClaims no running pod mounted during the window (no
  ``kubelet_volume_stats_*`` series);
* **HPAs stuck at min**: autoscalers that never left ``minReplicas`` while their pods stayed
  far below the target utilisation, so fewer minimum replicas would do;
* **idle namespaces**: namespaces whose containers together never used more than a trickle
  of CPU during the window, yet hold requests.

`collect_waste_facts` reads the extra facts from Prometheus (a handful of namespace-level
queries); `waste_report` is pure. Prices come from the `finops` settings.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from kubeheal.clients.prometheus import PrometheusError
from kubeheal.finops.collect import PromQuerier
from kubeheal.finops.model import ContainerHistory, Recommendation, Resources, WorkloadRef
from kubeheal.finops.queries import duration, namespace_selector
from kubeheal.finops.recommend import format_duration
from kubeheal.finops.units import format_bytes, format_cpu

__all__ = [
    "HOURS_PER_MONTH",
    "Prices",
    "WasteFacts",
    "WasteItem",
    "WasteReport",
    "collect_waste_facts",
    "monthly_cost",
    "waste_report",
]

HOURS_PER_MONTH = 730.0
_GIB = 2**30


@dataclass(frozen=True, slots=True)
class Prices:
    """What a requested core-hour, GiB-hour and stored GiB-month cost."""

    core_hour: float = 0.0316
    gib_hour: float = 0.0042
    storage_gib_month: float = 0.08


def monthly_cost(cpu_cores: float, memory_bytes: float, prices: Prices) -> float:
    """Monthly price of holding these requests (one replica)."""
    return (cpu_cores * prices.core_hour + memory_bytes / _GIB * prices.gib_hour) * HOURS_PER_MONTH


@dataclass(frozen=True, slots=True)
class WasteItem:
    """One wasteful thing and what it costs per month."""

    category: str
    namespace: str
    name: str
    detail: str
    monthly_cost: float


@dataclass(frozen=True, slots=True)
class WasteReport:
    """Every waste item, most expensive first, and what could not be judged."""

    items: tuple[WasteItem, ...]
    problems: tuple[str, ...] = ()

    @property
    def total(self) -> float:
        return sum(item.monthly_cost for item in self.items)

    def by_category(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for item in self.items:
            out[item.category] = out.get(item.category, 0.0) + item.monthly_cost
        return out


@dataclass(frozen=True, slots=True)
class VolumeFact:
    """A PersistentVolume (namespace empty) or claim, its size and why it looks unused."""

    namespace: str
    name: str
    size_bytes: float
    state: str


@dataclass(frozen=True, slots=True)
class WasteFacts:
    """Namespace-level facts the waste report needs besides the right-sizing histories."""

    volumes: tuple[VolumeFact, ...] = ()
    namespace_peak_cores: Mapping[str, float] = field(default_factory=dict)
    namespace_requests: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


async def collect_waste_facts(
    client: PromQuerier,
    *,
    namespaces: Sequence[str],
    history: float,
    end: float,
    step: float,
) -> WasteFacts:
    """Volumes, per-namespace CPU peaks and requests (five instant queries)."""
    ns = namespace_selector(namespaces)
    window = f"[{duration(history)}:{duration(step)}]"
    sel = "{" + ns + "}"
    problems: list[str] = []
    volumes: list[VolumeFact] = []
    peaks: dict[str, float] = {}
    requests: dict[str, tuple[float, float]] = {}
    try:
        pvs = await client.query(
            "max by (persistentvolume, phase) (kube_persistentvolume_capacity_bytes * on "
            "(persistentvolume) group_left (phase) (kube_persistentvolume_status_phase"
            '{phase=~"Available|Released|Failed"} == 1))',
            at=end,
        )
        if not namespaces:
            for sample in pvs:
                volumes.append(
                    VolumeFact(
                        namespace="",
                        name=sample.labels.get("persistentvolume", ""),
                        size_bytes=sample.value,
                        state=sample.labels.get("phase", ""),
                    )
                )
        stats = await client.query(
            f"count(last_over_time(kubelet_volume_stats_capacity_bytes{sel}{window}))", at=end
        )
        claims = await client.query(
            "max by (namespace, persistentvolumeclaim) "
            f"(kube_persistentvolumeclaim_resource_requests_storage_bytes{sel}) unless on "
            "(namespace, persistentvolumeclaim) "
            f"last_over_time(kubelet_volume_stats_capacity_bytes{sel}{window})",
            at=end,
        )
        if stats:
            for sample in claims:
                volumes.append(
                    VolumeFact(
                        namespace=sample.labels.get("namespace", ""),
                        name=sample.labels.get("persistentvolumeclaim", ""),
                        size_bytes=sample.value,
                        state="not mounted by any running pod",
                    )
                )
        elif claims:
            problems.append(
                "no kubelet_volume_stats_* series: unused PersistentVolumeClaims cannot be told "
                "from mounted ones (is the kubelet's /metrics scraped?)"
            )
        cpu_sel = "{" + ",".join(p for p in ('container!=""', 'container!="POD"', ns) if p) + "}"
        for sample in await client.query(
            "max_over_time((sum by (namespace) (rate(container_cpu_usage_seconds_total"
            f"{cpu_sel}[{duration(step)}]))){window})",
            at=end,
        ):
            peaks[sample.labels.get("namespace", "")] = sample.value
        totals: dict[str, dict[str, float]] = {}
        for sample in await client.query(
            "sum by (namespace, resource) (kube_pod_container_resource_requests"
            "{" + ",".join(p for p in ('resource=~"cpu|memory"', ns) if p) + "})",
            at=end,
        ):
            totals.setdefault(sample.labels.get("namespace", ""), {})[
                sample.labels.get("resource", "")
            ] = sample.value
        for namespace, values in totals.items():
            requests[namespace] = (values.get("cpu", 0.0), values.get("memory", 0.0))
    except PrometheusError as e:
        problems.append(f"volumes and idle namespaces not judged: Prometheus query failed: {e}")
    return WasteFacts(
        volumes=tuple(volumes),
        namespace_peak_cores=peaks,
        namespace_requests=requests,
        problems=tuple(problems),
    )


def _requested(res: Resources | None) -> tuple[float, float]:
    if res is None:
        return 0.0, 0.0
    return res.cpu_request or 0.0, res.memory_request or 0.0


def _overprovisioned(
    recs: Iterable[Recommendation], *, prices: Prices, share: float
) -> list[WasteItem]:
    by_workload: dict[WorkloadRef, list[Recommendation]] = {}
    for rec in recs:
        if rec.ok and rec.current is not None:
            by_workload.setdefault(rec.workload, []).append(rec)
    items: list[WasteItem] = []
    for ref, group in sorted(by_workload.items()):
        now = new = 0.0
        parts: list[str] = []
        for rec in sorted(group, key=lambda r: r.container):
            cpu0, mem0 = _requested(rec.current)
            cpu1 = rec.recommended.cpu_request if rec.recommended.cpu_request is not None else cpu0
            mem1 = (
                rec.recommended.memory_request
                if rec.recommended.memory_request is not None
                else mem0
            )
            replicas = max(rec.replicas, 1.0)
            now += monthly_cost(cpu0, mem0, prices) * replicas
            new += monthly_cost(cpu1, mem1, prices) * replicas
            parts.append(
                f"{rec.container}: cpu {format_cpu(cpu0)} -> {format_cpu(cpu1)}, memory "
                f"{format_bytes(mem0)} -> {format_bytes(mem1)}"
            )
        saving = now - new
        if now > 0 and saving >= share * now and saving > 0:
            replicas = max(*(r.replicas for r in group), 1.0)
            items.append(
                WasteItem(
                    category="over-provisioned",
                    namespace=ref.namespace,
                    name=f"{ref.kind}/{ref.name}",
                    detail="; ".join(parts) + f" (x{replicas:.1f} replicas)",
                    monthly_cost=saving,
                )
            )
    return items


def _hpas_at_min(
    histories: Iterable[ContainerHistory], *, prices: Prices, floor: int
) -> list[WasteItem]:
    per_workload: dict[WorkloadRef, list[ContainerHistory]] = {}
    for history in histories:
        if history.hpa is not None:
            per_workload.setdefault(history.workload, []).append(history)
    items: list[WasteItem] = []
    for ref, group in sorted(per_workload.items()):
        hpa = group[0].hpa
        assert hpa is not None
        if hpa.replicas_max_seen is None or hpa.replicas_max_seen > hpa.min_replicas:
            continue
        if hpa.min_replicas <= floor:
            continue
        per_pod = sum(monthly_cost(*_requested(h.current), prices) for h in group)
        utilisation: list[float] = []
        for resource, target in hpa.targets.items():
            for history in group:
                current = history.current or Resources()
                request = current.cpu_request if resource == "cpu" else current.memory_request
                series = [
                    p.cpu.finite().values if resource == "cpu" else p.memory_peak.finite().values
                    for p in history.pods
                ]
                values = [v for v in series if v.size]
                if request and values:
                    peak = float(np.concatenate(values).max())
                    utilisation.append(peak / request / (target / 100))
        if not utilisation:
            needed = floor
            why = "its target is not a CPU/memory utilisation, so the need is not measured"
        else:
            ratio = max(utilisation)
            needed = max(floor, math.ceil(hpa.min_replicas * ratio))
            why = f"peak utilisation reached {ratio:.0%} of the target"
        if needed >= hpa.min_replicas:
            continue
        items.append(
            WasteItem(
                category="hpa-at-min",
                namespace=ref.namespace,
                name=f"HorizontalPodAutoscaler/{hpa.name}",
                detail=(
                    f"stayed at minReplicas={hpa.min_replicas} for the whole window and {why}: "
                    f"minReplicas {needed} would do ({ref.kind}/{ref.name})"
                ),
                monthly_cost=(hpa.min_replicas - needed) * per_pod,
            )
        )
    return items


def waste_report(
    *,
    recommendations: Sequence[Recommendation],
    histories: Sequence[ContainerHistory],
    facts: WasteFacts,
    prices: Prices,
    overprovisioned_share: float = 0.2,
    idle_cores: float = 0.01,
    hpa_floor: int = 2,
    history: float = 0.0,
    excluded_namespaces: Iterable[str] = (),
) -> WasteReport:
    """Every kind of waste with its monthly cost (see the module docstring)."""
    excluded = set(excluded_namespaces)
    items = _overprovisioned(recommendations, prices=prices, share=overprovisioned_share)
    items += _hpas_at_min(histories, prices=prices, floor=hpa_floor)
    for volume in facts.volumes:
        cost = volume.size_bytes / _GIB * prices.storage_gib_month
        if volume.namespace:
            category, name = "unused-claim", f"PersistentVolumeClaim/{volume.name}"
        else:
            category, name = "unused-volume", f"PersistentVolume/{volume.name}"
        items.append(
            WasteItem(
                category=category,
                namespace=volume.namespace,
                name=name,
                detail=f"{format_bytes(volume.size_bytes)}, {volume.state}",
                monthly_cost=cost,
            )
        )
    for namespace, (cpu, memory) in sorted(facts.namespace_requests.items()):
        peak = facts.namespace_peak_cores.get(namespace)
        if peak is None or peak > idle_cores or (cpu <= 0 and memory <= 0):
            continue
        items.append(
            WasteItem(
                category="idle-namespace",
                namespace=namespace,
                name=f"Namespace/{namespace}",
                detail=(
                    f"CPU use never above {peak:.4f} cores in {format_duration(history)}, yet "
                    f"requests {format_cpu(cpu)} CPU and {format_bytes(memory)} memory"
                ),
                monthly_cost=monthly_cost(cpu, memory, prices),
            )
        )
    kept = [i for i in items if i.namespace not in excluded]
    kept.sort(key=lambda i: (-i.monthly_cost, i.category, i.namespace, i.name))
    return WasteReport(items=tuple(kept), problems=facts.problems)

"""Usage history from Prometheus, batched: a bounded number of queries for a whole cluster.

`collect` first counts the containers seen in the window (one query), plans batches of at
most ``max_series`` containers (`queries.plan_batches`), then runs the same few queries per
batch: per-step memory peaks, per-step CPU averages and container start times (range
queries), and OOM-killed limits, current requests/limits and pod owners (instant queries),
plus ReplicaSet owners and HPAs once per namespace set. Results are grouped per workload and
container into `ContainerHistory` values for the pure core (`recommend`).

Problems that concern some workloads only — a batch whose queries fail, pods without
kube-state-metrics series — become notes on those workloads; only a failure of the first
query (Prometheus unreachable, or the expression refused) raises.

Exception tree::

    CollectError            nothing could be collected (wraps the PrometheusError)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from kubeheal.clients.prometheus import PrometheusError, RangeSeries, Sample
from kubeheal.finops.model import (
    ContainerHistory,
    HpaInfo,
    PodUsage,
    Resources,
    Series,
    WorkloadRef,
)
from kubeheal.finops.ownership import OwnerIndex
from kubeheal.finops.queries import (
    Batch,
    choose_step,
    count_expr,
    cpu_expr,
    hpa_expr,
    hpa_replicas_expr,
    krr_cpu_expr,
    krr_memory_expr,
    memory_peak_expr,
    oom_expr,
    owners_expr,
    plan_batches,
    replicaset_owners_expr,
    resources_expr,
    starts_expr,
)
from kubeheal.finops.recommend import format_duration

__all__ = [
    "CollectError",
    "CollectOptions",
    "Collection",
    "PromQuerier",
    "collect",
]

log = logging.getLogger(__name__)

ContainerKey = tuple[str, str, str]


class CollectError(Exception):
    """No history could be collected at all (Prometheus unreachable, query refused)."""


class PromQuerier(Protocol):
    """What the collector needs from a Prometheus client (`PrometheusClient` has it)."""

    async def query(self, expr: str, *, at: float | None = None) -> list[Sample]: ...

    async def query_range(
        self, expr: str, *, start: float, end: float, step: float
    ) -> list[RangeSeries]: ...


@dataclass(frozen=True, slots=True)
class CollectOptions:
    """What to collect: the window, its resolution, the scope and the batch size."""

    history: float
    end: float
    step: float | None = None
    namespaces: tuple[str, ...] = ()
    max_series: int = 500
    krr: bool = False
    krr_step: float = 75.0


@dataclass(frozen=True, slots=True)
class Collection:
    """The histories of every container in scope, and what went wrong on the way."""

    histories: tuple[ContainerHistory, ...]
    problems: tuple[str, ...]
    batches: tuple[Batch, ...]
    start: float
    end: float
    step: float
    queries: int = 0


@dataclass
class _BatchData:
    memory: dict[ContainerKey, Series] = field(default_factory=dict)
    cpu: dict[ContainerKey, Series] = field(default_factory=dict)
    starts: dict[ContainerKey, tuple[float, ...]] = field(default_factory=dict)
    oom: dict[ContainerKey, float] = field(default_factory=dict)
    requests: dict[ContainerKey, dict[str, float]] = field(default_factory=dict)
    limits: dict[ContainerKey, dict[str, float]] = field(default_factory=dict)
    krr_memory: dict[ContainerKey, Series] = field(default_factory=dict)
    krr_cpu: dict[ContainerKey, Series] = field(default_factory=dict)
    owners: OwnerIndex = field(default_factory=OwnerIndex)
    owner_series: int = 0


def _ckey(labels: Mapping[str, str]) -> ContainerKey | None:
    ns, pod, container = labels.get("namespace"), labels.get("pod"), labels.get("container")
    if not ns or not pod or not container:
        return None
    return ns, pod, container


def _series_map(result: Sequence[RangeSeries]) -> dict[ContainerKey, Series]:
    out: dict[ContainerKey, Series] = {}
    for item in result:
        key = _ckey(item.labels)
        if key is not None:
            out[key] = Series(
                np.asarray(item.timestamps, dtype=np.float64),
                np.asarray(item.values, dtype=np.float64),
            )
    return out


class _Counter:
    def __init__(self, client: PromQuerier) -> None:
        self.client = client
        self.count = 0

    async def query(self, expr: str, *, at: float) -> list[Sample]:
        self.count += 1
        return await self.client.query(expr, at=at)

    async def query_range(
        self, expr: str, *, start: float, end: float, step: float
    ) -> list[RangeSeries]:
        self.count += 1
        return await self.client.query_range(expr, start=start, end=end, step=step)


async def _fetch_batch(
    prom: _Counter, batch: Batch, *, start: float, end: float, step: float, options: CollectOptions
) -> _BatchData:
    sel = batch.selector
    history = end - start
    data = _BatchData()
    data.memory = _series_map(
        await prom.query_range(memory_peak_expr(sel, step=step), start=start, end=end, step=step)
    )
    data.cpu = _series_map(
        await prom.query_range(cpu_expr(sel, step=step), start=start, end=end, step=step)
    )
    for key, series in _series_map(
        await prom.query_range(starts_expr(sel, step=step), start=start, end=end, step=step)
    ).items():
        finite = series.finite().values
        data.starts[key] = tuple(sorted({float(v) for v in finite if v > 0}))
    for sample in await prom.query(oom_expr(sel, history=history, step=step), at=end):
        oom_key = _ckey(sample.labels)
        if oom_key is not None and np.isfinite(sample.value) and sample.value > 0:
            data.oom[oom_key] = float(sample.value)
    for sample in await prom.query(resources_expr(sel), at=end):
        res_key = _ckey(sample.labels)
        resource = sample.labels.get("resource", "")
        if res_key is None or not np.isfinite(sample.value):
            continue
        target = data.requests if sample.labels.get("kind") == "request" else data.limits
        target.setdefault(res_key, {})[resource] = float(sample.value)
    owners = await prom.query(owners_expr(sel, history=history, step=step), at=end)
    data.owner_series = len(owners)
    for sample in owners:
        labels = sample.labels
        data.owners.add_pod_owner(
            labels.get("namespace", ""),
            labels.get("pod", ""),
            labels.get("owner_kind", ""),
            labels.get("owner_name", ""),
        )
    if options.krr:
        krr_step = options.krr_step
        data.krr_memory = _series_map(
            await prom.query_range(krr_memory_expr(sel), start=start, end=end, step=krr_step)
        )
        data.krr_cpu = _series_map(
            await prom.query_range(krr_cpu_expr(sel), start=start, end=end, step=krr_step)
        )
    return data


@dataclass
class _NamespaceData:
    replicasets: list[Sample] = field(default_factory=list)
    hpas: dict[WorkloadRef, HpaInfo] = field(default_factory=dict)


async def _fetch_namespaces(
    prom: _Counter, selector: str, *, start: float, end: float, step: float
) -> _NamespaceData:
    out = _NamespaceData()
    out.replicasets = await prom.query(
        replicaset_owners_expr(selector, history=end - start, step=step), at=end
    )
    objects = await prom.query(hpa_expr(selector), at=end)
    replicas = await prom.query_range(hpa_replicas_expr(selector), start=start, end=end, step=step)
    by_hpa: dict[tuple[str, str], dict[str, object]] = {}
    for sample in objects:
        labels = sample.labels
        key = (labels.get("namespace", ""), labels.get("horizontalpodautoscaler", ""))
        entry = by_hpa.setdefault(key, {"targets": {}})
        name = labels.get("__name__", "")
        if name.endswith("_info"):
            entry["ref"] = (
                labels.get("scaletargetref_kind", ""),
                labels.get("scaletargetref_name", ""),
            )
        elif name.endswith("_spec_target_metric"):
            if labels.get("metric_target_type") == "utilization":
                targets = entry["targets"]
                assert isinstance(targets, dict)
                targets[labels.get("metric_name", "")] = float(sample.value)
        elif name.endswith("_spec_min_replicas"):
            entry["min"] = int(sample.value)
        elif name.endswith("_spec_max_replicas"):
            entry["max"] = int(sample.value)
    seen: dict[tuple[str, str], tuple[float, float]] = {}
    for series in replicas:
        key = (series.labels.get("namespace", ""), series.labels.get("horizontalpodautoscaler", ""))
        finite = series.values[np.isfinite(series.values)]
        if finite.size:
            seen[key] = (float(finite.max()), float(finite.min()))
    for (namespace, name), entry in by_hpa.items():
        ref = entry.get("ref")
        if not isinstance(ref, tuple) or not ref[1]:
            continue
        targets = entry["targets"]
        assert isinstance(targets, dict)
        high, low = seen.get((namespace, name), (None, None))
        minimum = entry.get("min", 1)
        maximum = entry.get("max", 0)
        out.hpas[WorkloadRef(namespace, str(ref[0]), str(ref[1]))] = HpaInfo(
            name=name,
            min_replicas=minimum if isinstance(minimum, int) else 1,
            max_replicas=maximum if isinstance(maximum, int) else 0,
            targets=dict(targets),
            replicas_max_seen=high,
            replicas_min_seen=low,
        )
    return out


def _current(
    keys: Sequence[ContainerKey], data: _BatchData, starts: Mapping[ContainerKey, tuple[float, ...]]
) -> Resources | None:
    """Requests/limits of the newest pod (by container start) that has them at the end."""
    with_values = [k for k in keys if k in data.requests or k in data.limits]
    if not with_values:
        return None
    newest = max(with_values, key=lambda k: (max(starts.get(k, (0.0,)), default=0.0), k[1]))
    req, lim = data.requests.get(newest, {}), data.limits.get(newest, {})
    return Resources(
        cpu_request=req.get("cpu"),
        cpu_limit=lim.get("cpu"),
        memory_request=req.get("memory"),
        memory_limit=lim.get("memory"),
    )


def _assemble(
    data: _BatchData,
    namespaces: _NamespaceData,
    *,
    start: float,
    end: float,
    step: float,
) -> list[ContainerHistory]:
    owners = data.owners
    for sample in namespaces.replicasets:
        labels = sample.labels
        owners.add_replicaset_owner(
            labels.get("namespace", ""),
            labels.get("replicaset", ""),
            labels.get("owner_kind", ""),
            labels.get("owner_name", ""),
        )
    keys = sorted(set(data.memory) | set(data.cpu))
    groups: dict[tuple[WorkloadRef, str], list[ContainerKey]] = {}
    refs: dict[WorkloadRef, WorkloadRef] = {}
    for key in keys:
        ref = owners.resolve(key[0], key[1])
        ref = refs.setdefault(ref, ref)
        groups.setdefault((ref, key[2]), []).append(key)
    out: list[ContainerHistory] = []
    ksm_missing = data.owner_series == 0
    for (ref, container), members in sorted(groups.items()):
        notes: list[str] = []
        if not ref.verified:
            if ksm_missing:
                notes.append(
                    "no kube-state-metrics series (kube_pod_owner) for these pods: owner "
                    f"guessed from the pod name as {ref.kind} {ref.name} (unverified, no patch)"
                )
            else:
                pods_text = ", ".join(sorted({m[1] for m in members}))
                notes.append(
                    f"no kube_pod_owner series for pod(s) {pods_text}: owner guessed from the "
                    f"pod name as {ref.kind} {ref.name} (unverified, no patch)"
                )
        elif ref.kind == "ReplicaSet":
            notes.append("no kube_replicaset_owner series: sized as a bare ReplicaSet")
        pods = tuple(
            PodUsage(
                pod=m[1],
                cpu=data.cpu.get(m, Series()),
                memory_peak=data.memory.get(m, Series()),
                starts=data.starts.get(m, ()),
                oom_killed_limit=data.oom.get(m),
                krr_cpu=data.krr_cpu.get(m),
                krr_memory=data.krr_memory.get(m),
            )
            for m in members
        )
        current = _current(members, data, data.starts)
        if current is None:
            notes.append(
                "current requests/limits unknown (no kube_pod_container_resource_* series at "
                "the end of the window)"
            )
        if not any(data.starts.get(m) for m in members):
            notes.append(
                "no container_start_time_seconds series: start-up peaks cannot be told apart"
            )
        out.append(
            ContainerHistory(
                workload=ref,
                container=container,
                window_start=start,
                window_end=end,
                step=step,
                pods=pods,
                current=current,
                hpa=namespaces.hpas.get(replace(ref, verified=True)),
                notes=tuple(notes),
                oom_data=ref.verified,
            )
        )
    return out


async def collect(client: PromQuerier, options: CollectOptions) -> Collection:
    """The usage history of every container in scope (see the module docstring)."""
    end = options.end
    start = end - options.history
    step = options.step or choose_step(options.history)
    prom = _Counter(client)
    try:
        counted = await prom.query(
            count_expr(namespaces=options.namespaces, history=options.history, step=step), at=end
        )
    except PrometheusError as e:
        raise CollectError(f"cannot read the usage history from Prometheus: {e}") from e
    counts: dict[tuple[str, str], int] = {}
    for sample in counted:
        ns = sample.labels.get("namespace", "")
        if ns and np.isfinite(sample.value):
            counts[(ns, sample.labels.get("suffix", ""))] = int(sample.value)
    batches = plan_batches(counts, max_series=options.max_series)
    log.info(
        "right-sizing %d containers in %d batches (step %s, window %s)",
        sum(counts.values()),
        len(batches),
        format_duration(step),
        format_duration(options.history),
    )
    problems: list[str] = []
    if not counts:
        scope = ", ".join(options.namespaces) or "the cluster"
        problems.append(
            f"no container_memory_working_set_bytes series for {scope} in the last "
            f"{format_duration(options.history)}: is cAdvisor (the kubelet) scraped?"
        )
    histories: list[ContainerHistory] = []
    namespace_cache: dict[str, _NamespaceData] = {}
    for batch in batches:
        try:
            data = await _fetch_batch(prom, batch, start=start, end=end, step=step, options=options)
            ns_sel = batch.namespace_only
            if ns_sel not in namespace_cache:
                namespace_cache[ns_sel] = await _fetch_namespaces(
                    prom, ns_sel, start=start, end=end, step=step
                )
        except PrometheusError as e:
            problems.append(f"{batch.describe()}: no history, Prometheus query failed: {e}")
            continue
        histories.extend(_assemble(data, namespace_cache[ns_sel], start=start, end=end, step=step))
    return Collection(
        histories=tuple(histories),
        problems=tuple(problems),
        batches=tuple(batches),
        start=start,
        end=end,
        step=step,
        queries=prom.count,
    )

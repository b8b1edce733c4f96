"""PromQL for right-sizing, and how a cluster is cut into batches of bounded size.

Every metric is fetched with one query per *batch* — a set of whole namespaces, or one large
namespace cut by the last character of the pod name — never one query per pod. Batches are
planned from one `count` query (`count_expr`) that tells how many containers each
(namespace, last pod-name character) bucket holds, so no response exceeds
``max_series`` series (about ``max_series x points x 25`` bytes of JSON).

Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "CONTAINER_FILTER",
    "HPA_FAMILIES",
    "Batch",
    "choose_step",
    "count_expr",
    "cpu_expr",
    "duration",
    "hpa_expr",
    "hpa_replicas_expr",
    "krr_cpu_expr",
    "krr_memory_expr",
    "memory_peak_expr",
    "namespace_selector",
    "oom_expr",
    "owners_expr",
    "per_pod_selector",
    "plan_batches",
    "replicaset_owners_expr",
    "resources_expr",
    "starts_expr",
]

CONTAINER_FILTER = 'container!="",container!="POD"'
_SAFE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_SUFFIX_CHARS = "0123456789abcdefghijklmnopqrstuvwxyz"


def duration(seconds: float) -> str:
    """A PromQL duration: ``"1h5m"``, ``"90s"`` (whole seconds)."""
    total = max(1, round(seconds))
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)


def choose_step(history: float, *, points: int = 2000, minimum: float = 60.0) -> float:
    """A step giving about `points` samples per series, in whole minutes, at least `minimum`."""
    raw = max(minimum, history / max(1, points))
    return float(max(minimum, math.ceil(raw / 60) * 60))


def _literal(name: str) -> str:
    if not _SAFE_NAME.match(name):
        raise ValueError(f"not a valid Kubernetes name: {name!r}")
    return name.replace(".", "\\\\.")


def namespace_selector(namespaces: Sequence[str]) -> str:
    """``namespace=~"a|b"`` (empty when no namespace is given: the whole cluster)."""
    if not namespaces:
        return ""
    if len(namespaces) == 1:
        _literal(namespaces[0])
        return f'namespace="{namespaces[0]}"'
    return 'namespace=~"' + "|".join(_literal(n) for n in sorted(namespaces)) + '"'


@dataclass(frozen=True, slots=True)
class Batch:
    """Whole namespaces, or one namespace's pods whose names end in one of `suffixes`."""

    namespaces: tuple[str, ...]
    suffixes: str = ""
    series: int = 0

    @property
    def selector(self) -> str:
        """Label matchers selecting the batch (no braces)."""
        parts = [namespace_selector(self.namespaces)]
        if self.suffixes:
            parts.append(f'pod=~".*[{self.suffixes}]"')
        return ",".join(p for p in parts if p)

    @property
    def namespace_only(self) -> str:
        """Label matchers for namespace-level series (ReplicaSets, HPAs)."""
        return namespace_selector(self.namespaces)

    def describe(self) -> str:
        names = ", ".join(self.namespaces)
        if self.suffixes:
            return f"namespace {names} (pods ending in [{self.suffixes}])"
        return f"namespace{'s' if len(self.namespaces) > 1 else ''} {names}"


def _first_fit(items: Sequence[tuple[str, int]], capacity: int) -> list[list[tuple[str, int]]]:
    bins: list[list[tuple[str, int]]] = []
    loads: list[int] = []
    for item in sorted(items, key=lambda i: (-i[1], i[0])):
        for index, load in enumerate(loads):
            if load + item[1] <= capacity:
                bins[index].append(item)
                loads[index] += item[1]
                break
        else:
            bins.append([item])
            loads.append(item[1])
    return bins


def plan_batches(counts: Mapping[tuple[str, str], int], *, max_series: int) -> list[Batch]:
    """Batches of at most `max_series` containers from per-(namespace, last char) counts.

    Namespaces that fit are packed whole (first fit, largest first); a larger namespace is
    cut by the last character of its pod names. A single bucket above the limit becomes a
    batch of its own (it cannot be cut further this way).
    """
    if max_series < 1:
        raise ValueError("max_series must be at least 1")
    per_namespace: dict[str, dict[str, int]] = {}
    for (namespace, suffix), count in counts.items():
        if count > 0:
            bucket = per_namespace.setdefault(namespace, {})
            bucket[suffix] = bucket.get(suffix, 0) + count
    whole: list[tuple[str, int]] = []
    batches: list[Batch] = []
    for namespace in sorted(per_namespace):
        total = sum(per_namespace[namespace].values())
        if total <= max_series:
            whole.append((namespace, total))
            continue
        chars = [(s if s in _SUFFIX_CHARS else "", n) for s, n in per_namespace[namespace].items()]
        for group in _first_fit(chars, max_series):
            suffixes = "".join(sorted(s for s, _ in group if s))
            batches.append(
                Batch(
                    namespaces=(namespace,),
                    suffixes=suffixes or _SUFFIX_CHARS,
                    series=sum(n for _, n in group),
                )
            )
    for group in _first_fit(whole, max_series):
        batches.append(
            Batch(
                namespaces=tuple(sorted(n for n, _ in group)),
                series=sum(c for _, c in group),
            )
        )
    return sorted(batches, key=lambda b: (b.namespaces, b.suffixes))


def _matchers(*parts: str) -> str:
    return "{" + ",".join(p for p in parts if p) + "}"


def count_expr(*, namespaces: Sequence[str], history: float, step: float) -> str:
    """Containers seen during the window, per namespace and last character of the pod name."""
    sel = _matchers(CONTAINER_FILTER, namespace_selector(namespaces))
    inner = (
        f"max_over_time(group by (namespace, pod, container) "
        f"(container_memory_working_set_bytes{sel})[{duration(history)}:{duration(step)}])"
    )
    return (
        "count by (namespace, suffix) (label_replace("
        + inner
        + ', "suffix", "$1", "pod", ".*(.)"))'
    )


def memory_peak_expr(selector: str, *, step: float) -> str:
    """Highest working set per container within each step window (every raw sample seen)."""
    return (
        "max by (namespace, pod, container) (max_over_time(container_memory_working_set_bytes"
        f"{_matchers(CONTAINER_FILTER, selector)}[{duration(step)}]))"
    )


def cpu_expr(selector: str, *, step: float) -> str:
    """Mean CPU cores per container over each step window (every CPU second counted)."""
    return (
        "max by (namespace, pod, container) (rate(container_cpu_usage_seconds_total"
        f"{_matchers(CONTAINER_FILTER, selector)}[{duration(step)}]))"
    )


def starts_expr(selector: str, *, step: float) -> str:
    """The start time of each container's current instance, per step window."""
    return (
        "max by (namespace, pod, container) (max_over_time(container_start_time_seconds"
        f"{_matchers(CONTAINER_FILTER, selector)}[{duration(step)}]))"
    )


def oom_expr(selector: str, *, history: float, step: float) -> str:
    """Per container, the largest memory limit it had while its last termination was an OOM kill."""
    oom = _matchers('reason="OOMKilled"', selector)
    limits = _matchers('resource="memory"', selector)
    return (
        "max by (namespace, pod, container) (max_over_time((max by (namespace, pod, container) "
        f"(kube_pod_container_status_last_terminated_reason{oom})"
        " * on (namespace, pod, container) group_left () "
        f"max by (namespace, pod, container) (kube_pod_container_resource_limits{limits})"
        f")[{duration(history)}:{duration(step)}]))"
    )


def resources_expr(selector: str) -> str:
    """Current requests and limits per container, labelled ``kind`` = request or limit."""
    sel = _matchers('resource=~"cpu|memory"', selector)
    return (
        "max by (namespace, pod, container, resource, kind) ("
        f'label_replace(kube_pod_container_resource_requests{sel}, "kind", "request", "", "")'
        " or "
        f'label_replace(kube_pod_container_resource_limits{sel}, "kind", "limit", "", ""))'
    )


def owners_expr(selector: str, *, history: float, step: float) -> str:
    """Every pod's owner seen during the window (one sample per step is enough)."""
    return (
        "max by (namespace, pod, owner_kind, owner_name) (max_over_time("
        f"kube_pod_owner{_matchers(selector)}[{duration(history)}:{duration(step)}]))"
    )


def replicaset_owners_expr(selector: str, *, history: float, step: float) -> str:
    """Every ReplicaSet's owner seen during the window."""
    return (
        "max by (namespace, replicaset, owner_kind, owner_name) (max_over_time("
        f"kube_replicaset_owner{_matchers(selector)}[{duration(history)}:{duration(step)}]))"
    )


HPA_FAMILIES = (
    "kube_horizontalpodautoscaler_info",
    "kube_horizontalpodautoscaler_spec_target_metric",
    "kube_horizontalpodautoscaler_spec_min_replicas",
    "kube_horizontalpodautoscaler_spec_max_replicas",
)


def hpa_expr(selector: str) -> str:
    """The HPAs' targets, bounds and scale target references (instant)."""
    names = "|".join(HPA_FAMILIES)
    return _matchers(f'__name__=~"{names}"', selector)


def hpa_replicas_expr(selector: str) -> str:
    """The HPAs' current replicas (a range query tells the highest and lowest seen)."""
    return f"kube_horizontalpodautoscaler_status_current_replicas{_matchers(selector)}"


def krr_memory_expr(selector: str) -> str:
    """KRR's view of memory: the instantaneous working set, sampled at its step."""
    return (
        "max by (namespace, pod, container) (container_memory_working_set_bytes"
        f"{_matchers(CONTAINER_FILTER, selector)})"
    )


def krr_cpu_expr(selector: str) -> str:
    """KRR's view of CPU: irate over 1m, sampled at its step."""
    return (
        "max by (namespace, pod, container) (irate(container_cpu_usage_seconds_total"
        f"{_matchers(CONTAINER_FILTER, selector)}[1m]))"
    )


def per_pod_selector(namespace: str, pod: str) -> str:
    """One pod's matchers (the per-pod approach measured by the query benchmark)."""
    return f'namespace="{namespace}",pod="{pod}"'

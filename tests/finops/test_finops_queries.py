"""Batched history collection: batch planning, query counts, and failures per batch."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytest

from kubeheal.clients.prometheus import (
    PrometheusQueryError,
    PrometheusUnavailable,
    RangeSeries,
    Sample,
)
from kubeheal.finops.collect import CollectError, CollectOptions, collect
from kubeheal.finops.queries import (
    Batch,
    choose_step,
    count_expr,
    duration,
    memory_peak_expr,
    namespace_selector,
    plan_batches,
)
from kubeheal.finops.recommend import StrategyParams, recommend
from kubeheal.finops.render import patches

END = 1_790_000_000.0
DAY = 86400.0
MI = 2**20


def test_duration_and_step() -> None:
    assert duration(90) == "1m30s"
    assert duration(14 * DAY) == "14d"
    assert duration(3700) == "1h1m40s"
    assert choose_step(14 * DAY) == 660.0  # ~2,000 points, whole minutes
    assert choose_step(3600) == 60.0


def test_namespace_selector_validates_names() -> None:
    assert namespace_selector(()) == ""
    assert namespace_selector(["shop"]) == 'namespace="shop"'
    assert namespace_selector(["b", "a.x"]) == 'namespace=~"a\\\\.x|b"'
    with pytest.raises(ValueError, match="not a valid Kubernetes name"):
        namespace_selector(['x"} or vector(1) or {a="'])


def test_plan_batches_packs_namespaces_and_cuts_large_ones() -> None:
    counts = {("small-a", "x"): 10, ("small-b", "y"): 20, ("small-c", "z"): 5}
    for i, char in enumerate("0123456789abcdefghijklmnopqrstuvwxyz"):
        counts[("big", char)] = 30 + i
    batches = plan_batches(counts, max_series=200)
    assert sum(b.series for b in batches) == sum(counts.values())
    assert all(b.series <= 200 for b in batches)
    whole = [b for b in batches if not b.suffixes]
    assert len(whole) == 1 and whole[0].namespaces == ("small-a", "small-b", "small-c")
    assert whole[0].selector == 'namespace=~"small-a|small-b|small-c"'
    cut = [b for b in batches if b.suffixes]
    assert {c for b in cut for c in b.suffixes} == set("0123456789abcdefghijklmnopqrstuvwxyz")
    assert all(b.namespaces == ("big",) for b in cut)
    assert cut[0].selector.startswith('namespace="big",pod=~".*[')
    with pytest.raises(ValueError):
        plan_batches(counts, max_series=0)


def test_a_bucket_above_the_limit_is_a_batch_of_its_own() -> None:
    batches = plan_batches({("huge", "a"): 900, ("huge", "b"): 10}, max_series=100)
    assert sorted(b.series for b in batches) == [10, 900]


def test_expressions_are_valid_looking_promql() -> None:
    expr = count_expr(namespaces=("shop",), history=DAY, step=300)
    assert expr.count("(") == expr.count(")")
    assert "[1d:5m]" in expr and 'namespace="shop"' in expr
    mem = memory_peak_expr(Batch(("shop",), "ab").selector, step=300)
    assert mem == (
        "max by (namespace, pod, container) (max_over_time(container_memory_working_set_bytes"
        '{container!="",container!="POD",namespace="shop",pod=~".*[ab]"}[5m]))'
    )


# ---------------------------------------------------------------------------- fake Prometheus

Answer = Callable[[str], list[Sample] | list[RangeSeries]]


class FakeProm:
    """Answers by the metric named in the expression; records every call."""

    def __init__(self, pods: dict[str, list[str]], *, ksm: bool = True) -> None:
        self.pods = pods  # namespace -> pod names
        self.ksm = ksm
        self.calls: list[str] = []
        self.fail: dict[str, Exception] = {}

    def _selected(self, expr: str) -> list[tuple[str, str]]:
        ns_match = re.search(r'namespace=~?"([^"]*)"', expr)
        pod_match = re.search(r'pod=~"\.\*\[([^\]]*)\]"', expr)
        namespaces = ns_match.group(1).split("|") if ns_match else list(self.pods)
        out = []
        for ns in namespaces:
            for pod in self.pods.get(ns, []):
                if pod_match is None or pod[-1] in pod_match.group(1):
                    out.append((ns, pod))
        return out

    def _check(self, expr: str) -> None:
        self.calls.append(expr)
        for needle, error in self.fail.items():
            if needle in expr:
                raise error

    async def query(self, expr: str, *, at: float | None = None) -> list[Sample]:
        self._check(expr)
        if expr.startswith("count by (namespace, suffix)"):
            counts: dict[tuple[str, str], int] = {}
            for ns, pod in self._selected(expr):
                counts[(ns, pod[-1])] = counts.get((ns, pod[-1]), 0) + 1
            return [
                Sample({"namespace": ns, "suffix": s}, END, float(n))
                for (ns, s), n in counts.items()
            ]
        if not self.ksm:
            return []
        if "kube_pod_owner" in expr:
            return [
                Sample(
                    {
                        "namespace": ns,
                        "pod": pod,
                        "owner_kind": "ReplicaSet",
                        "owner_name": pod.rsplit("-", 1)[0],
                    },
                    END,
                    1.0,
                )
                for ns, pod in self._selected(expr)
            ]
        if "kube_replicaset_owner" in expr:
            rs = {(ns, pod.rsplit("-", 1)[0]) for ns, pod in self._selected(expr)}
            return [
                Sample(
                    {
                        "namespace": ns,
                        "replicaset": name,
                        "owner_kind": "Deployment",
                        "owner_name": name.rsplit("-", 1)[0],
                    },
                    END,
                    1.0,
                )
                for ns, name in rs
            ]
        if "kube_pod_container_resource_requests" in expr:
            out = []
            for ns, pod in self._selected(expr):
                labels = {"namespace": ns, "pod": pod, "container": "app"}
                out.append(Sample({**labels, "resource": "cpu", "kind": "request"}, END, 1.0))
                out.append(
                    Sample({**labels, "resource": "memory", "kind": "limit"}, END, 1024.0 * MI)
                )
            return out
        return []

    async def query_range(
        self, expr: str, *, start: float, end: float, step: float
    ) -> list[RangeSeries]:
        self._check(expr)
        ts = np.arange(start + step, end + 1, step, dtype=np.float64)
        if "container_memory_working_set_bytes" in expr:
            value = 200.0 * MI
        elif "container_cpu_usage_seconds_total" in expr:
            value = 0.1
        elif "container_start_time_seconds" in expr:
            value = start - DAY
        else:
            return []
        return [
            RangeSeries(
                {"namespace": ns, "pod": pod, "container": "app"}, ts, np.full(ts.shape, value)
            )
            for ns, pod in self._selected(expr)
        ]


def _pods(namespaces: int, per_namespace: int) -> dict[str, list[str]]:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return {
        f"ns-{n}": [
            f"app{n}-{i % 7}-7d9f8c6b5-{alphabet[i % 27]}{alphabet[(i // 27) % 27]}x{i % 10}"
            f"{alphabet[(i * 7) % 27]}"
            for i in range(per_namespace)
        ]
        for n in range(namespaces)
    }


async def test_query_count_does_not_grow_with_pods() -> None:
    small = FakeProm(_pods(4, 50))
    big = FakeProm(_pods(4, 2500))  # 10,000 pods
    options = CollectOptions(history=2 * DAY, end=END, max_series=1000, step=6 * 3600)
    few = await collect(small, options)
    many = await collect(big, options)
    assert len(few.histories) > 0 and not few.problems
    # 1 count + 6 per batch + 3 per namespace set
    assert few.queries == 1 + 6 * len(few.batches) + 3 * len(
        {b.namespace_only for b in few.batches}
    )
    assert many.queries == len(big.calls)
    assert len(many.batches) >= 10  # 10,000 containers / 1,000 per batch
    assert many.queries < 100  # against 10,000 x 6 with one query per pod
    assert all(b.series <= 1000 for b in many.batches)
    assert sum(len(h.pods) for h in many.histories) == 10_000


async def test_prometheus_unreachable_raises_a_clear_error() -> None:
    prom = FakeProm(_pods(1, 3))
    prom.fail["count by"] = PrometheusUnavailable("cannot reach Prometheus at http://x: refused")
    with pytest.raises(CollectError, match="cannot read the usage history from Prometheus"):
        await collect(prom, CollectOptions(history=DAY, end=END))


async def test_a_failing_batch_is_reported_and_the_others_kept() -> None:
    prom = FakeProm(_pods(2, 3))
    prom.fail['namespace="ns-1"'] = PrometheusQueryError(
        "query timed out", status_code=422, error_type="timeout"
    )
    result = await collect(prom, CollectOptions(history=2 * DAY, end=END, max_series=3))
    assert {h.workload.namespace for h in result.histories} == {"ns-0"}
    assert len(result.problems) == 1
    assert "namespace ns-1" in result.problems[0] and "query timed out" in result.problems[0]


async def test_no_series_at_all_is_a_problem_not_a_silent_zero() -> None:
    result = await collect(FakeProm({}), CollectOptions(history=DAY, end=END, namespaces=("x",)))
    assert result.histories == ()
    assert "no container_memory_working_set_bytes series for x" in result.problems[0]


async def test_missing_kube_state_metrics_is_a_message_per_workload() -> None:
    prom = FakeProm({"shop": ["web-7d9f8c6b5-abcde", "web-7d9f8c6b5-fghij"]}, ksm=False)
    result = await collect(prom, CollectOptions(history=2 * DAY, end=END))
    assert len(result.histories) == 1
    history = result.histories[0]
    assert history.workload.name == "web" and not history.workload.verified
    text = " ".join(history.notes)
    assert "no kube-state-metrics series" in text
    assert "current requests/limits unknown" in text
    rec = recommend(history, params=StrategyParams())
    assert rec.ok  # usage is known: a recommendation, flagged
    assert any("OOM history unknown" in n for n in rec.notes)
    files = patches([rec])
    assert list(files) == ["kustomization.yaml"]
    assert "owner unverified" in files["kustomization.yaml"]

"""Status of an SLO from window ratios (pure), fetched through a client, and as metrics."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from kubeheal.clients.prometheus import PrometheusClient, PrometheusUnavailable
from kubeheal.slo.errors import SloQueryError
from kubeheal.slo.metrics import register_slo_metrics
from kubeheal.slo.model import SLO, AlertPolicy, EventsSLI, RatioSLI, Workload
from kubeheal.slo.rules import RenderOptions
from kubeheal.slo.status import (
    evaluate_status,
    fetch_status,
    status_query,
    status_to_dict,
)

DAY = 86_400
H = 3_600
M = 60

SLO_ = SLO(
    service="shop",
    name="errors",
    objective=Decimal("99.9"),
    period=30 * DAY,
    sli=EventsSLI('sum(rate(r{code="500"}[{{.window}}]))', "sum(rate(r[{{.window}}]))"),
    workload=Workload(kind="Deployment", namespace="shop", name="web"),
)


def values(ratios: Mapping[int, float], events: float = 10_000.0) -> dict[tuple[str, int], float]:
    out = {("ratio", w): v for w, v in ratios.items()}
    out.update({("events", w): events for w in (5 * M, 30 * M, 2 * H, 6 * H)})
    return out


ALL = (5 * M, 30 * M, 1 * H, 2 * H, 6 * H, 1 * DAY, 3 * DAY)


def test_budget_burn_and_exhaustion_from_the_ratios() -> None:
    ratios = dict.fromkeys(ALL, 0.0)
    ratios.update({5 * M: 0.02, 1 * H: 0.0144 * 1.5, 30 * DAY: 0.0004})
    status = evaluate_status(SLO_, values(ratios), at=1000.0)
    assert status.sli == pytest.approx(0.9996)
    assert status.error_ratio == pytest.approx(0.0004)
    assert status.budget_remaining == pytest.approx(0.6)
    assert status.burn(5 * M) == pytest.approx(20.0)
    assert status.burn(H) == pytest.approx(21.6)
    # 60 % of a 30-day budget at 21.6x: 0.6 x 30 d / 21.6 = 20 hours
    assert status.time_to_exhaustion == pytest.approx(20 * H)
    assert status.page is True and status.ticket is False
    assert status.at == 1000.0


def test_page_needs_both_windows_and_enough_traffic() -> None:
    ratios = dict.fromkeys(ALL, 0.0) | {30 * DAY: 0.0}
    only_short = evaluate_status(SLO_, values(ratios | {5 * M: 0.5}), at=0)
    assert not only_short.page
    both = ratios | {5 * M: 0.5, H: 0.02}
    assert evaluate_status(SLO_, values(both), at=0).page
    assert not evaluate_status(SLO_, values(both, events=5.0), at=0).page
    unguarded = evaluate_status(SLO_, values(both, events=5.0), at=0,
                                options=RenderOptions(min_events=0))  # fmt: skip
    assert unguarded.page
    slow = ratios | {2 * H: 0.004, DAY: 0.0035}
    ticket = evaluate_status(SLO_, values(slow), at=0)
    assert ticket.ticket and not ticket.page
    off = dataclasses.replace(SLO_, page=AlertPolicy(disabled=True))
    assert not evaluate_status(off, values(both), at=0).page


def test_spent_budget_and_missing_data() -> None:
    spent = evaluate_status(SLO_, values({30 * DAY: 0.002}), at=0)
    assert spent.budget_remaining == pytest.approx(-1.0)
    assert spent.time_to_exhaustion == 0.0
    empty = evaluate_status(SLO_, {("ratio", 300): math.nan}, at=0)
    assert empty.sli is None and empty.budget_remaining is None
    assert empty.time_to_exhaustion is None
    assert empty.burn(300) is None
    assert not empty.page and not empty.ticket
    calm = evaluate_status(SLO_, values({30 * DAY: 0.0001, H: 0.0}), at=0)
    assert calm.time_to_exhaustion is None  # not burning: it never runs out


def test_the_query_asks_every_window_once() -> None:
    query = status_query(SLO_)
    for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"):
        assert f'r{{code="500"}}[{window}]' in query
    assert query.count('"kubeheal_part", "ratio"') == 8
    assert query.count('"kubeheal_part", "events"') == 4
    assert 'sum(sum(rate(r[5m]))) * 300, "kubeheal_window", "300"' in query
    ratio = dataclasses.replace(SLO_, sli=RatioSLI("1 - avg_over_time(up[{{.window}}])"))
    assert "events" not in status_query(ratio)
    assert "max(1 - avg_over_time(up[1h]))" in status_query(ratio)


class FakeSample:
    def __init__(self, labels: dict[str, str], value: float) -> None:
        self.labels = labels
        self.value = value


class FakeClient:
    def __init__(self, samples: Sequence[FakeSample]) -> None:
        self.samples = samples
        self.queries: list[tuple[str, float | None]] = []

    async def query(self, expr: str, *, at: float | None = None) -> Sequence[FakeSample]:
        self.queries.append((expr, at))
        return self.samples


async def test_fetch_status_reads_the_tagged_samples() -> None:
    samples = [FakeSample({"kubeheal_window": str(w), "kubeheal_part": "ratio"}, 0.0) for w in ALL]
    samples += [
        FakeSample({"kubeheal_window": str(30 * DAY), "kubeheal_part": "ratio"}, 0.00025),
        FakeSample({"kubeheal_window": "300", "kubeheal_part": "events"}, 9000.0),
        FakeSample({"unrelated": "x"}, 1.0),
    ]
    client = FakeClient(samples)
    status = await fetch_status(client, SLO_, at=1234.5)
    assert client.queries == [(status_query(SLO_), 1234.5)]
    assert status.budget_remaining == pytest.approx(0.75)
    assert status.windows[0].events == 9000.0
    as_dict = status_to_dict(status)
    assert as_dict["objective"] == "99.9" and as_dict["period"] == "30d"
    assert as_dict["burn_rates"]["30d"] == pytest.approx(0.25)
    assert as_dict["workload"] == {"kind": "Deployment", "namespace": "shop", "name": "web"}


async def test_prometheus_errors_become_slo_query_errors() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with PrometheusClient(
        "http://prom.test", transport=httpx.MockTransport(refuse)
    ) as client:
        with pytest.raises(SloQueryError, match="SLO shop-errors") as info:
            await fetch_status(client, SLO_, at=0.0)
    assert isinstance(info.value.__cause__, PrometheusUnavailable)


def _value(text: str, metric: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == metric and labels.items() <= sample.labels.items():
                return float(sample.value)
    return None


def test_collector_exposes_the_statuses() -> None:
    ratios = dict.fromkeys(ALL, 0.0) | {5 * M: 0.5, H: 0.02, 30 * DAY: 0.0005}
    status = evaluate_status(SLO_, values(ratios), at=1700000000.0)
    registry = CollectorRegistry()
    register_slo_metrics(registry, lambda: [status])
    text = generate_latest(registry).decode()
    base = {"slo": "shop-errors", "service": "shop", "name": "errors", "namespace": "shop",
            "workload": "web"}  # fmt: skip
    assert _value(text, "kubeheal_slo_error_budget_remaining_ratio", **base) == pytest.approx(0.5)
    assert _value(text, "kubeheal_slo_objective_ratio", **base) == pytest.approx(0.999)
    assert _value(text, "kubeheal_slo_sli_ratio", **base) == pytest.approx(0.9995)
    assert _value(text, "kubeheal_slo_burn_rate", window="5m", **base) == pytest.approx(500)
    assert _value(text, "kubeheal_slo_burn_rate", window="30d", **base) == pytest.approx(0.5)
    assert _value(text, "kubeheal_slo_burn_alert", severity="page", **base) == 1.0
    assert _value(text, "kubeheal_slo_burn_alert", severity="ticket", **base) == 0.0
    assert _value(text, "kubeheal_slo_time_to_exhaustion_seconds", **base) == pytest.approx(
        0.5 * 30 * DAY / 20
    )
    assert _value(text, "kubeheal_slo_last_evaluation_timestamp_seconds", **base) == 1.7e9
    empty = CollectorRegistry()
    register_slo_metrics(empty, list)
    assert _value(generate_latest(empty).decode(), "kubeheal_slo_sli_ratio") is None

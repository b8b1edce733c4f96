"""The runtime source: Prometheus series -> Anomaly / Forecast signals, and its metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from prometheus_client import CollectorRegistry

from kubeheal.clients.prometheus import PrometheusUnavailable, RangeSeries
from kubeheal.config.settings import AnomalyQuerySettings, AnomalySettings, ForecastQuerySettings
from kubeheal.engine.playbooks import load_builtin_playbooks
from kubeheal.engine.playbooks.match import matching_playbooks
from kubeheal.model.cluster import ClusterView
from kubeheal.model.core import Incident, IncidentId, Signal, SignalKind, Target, TargetKind
from kubeheal.runtime.anomaly_source import AnomalyMetrics, AnomalySource

MI = 2.0**20
T0 = 1_714_521_600.0
POD = {"namespace": "shop", "pod": "web-7d9f-abcde", "container": "app"}


@dataclass
class FakeProm:
    """Serves generated series for the exprs it knows; the rest is empty."""

    series: dict[str, list[tuple[dict[str, str], np.ndarray, np.ndarray]]] = field(
        default_factory=dict
    )
    fail: bool = False
    calls: list[tuple[str, float, float]] = field(default_factory=list)

    async def query_range(
        self, expr: str, *, start: float, end: float, step: float
    ) -> list[RangeSeries]:
        self.calls.append((expr, start, end))
        if self.fail:
            raise PrometheusUnavailable("connection refused")
        out = []
        for labels, t, v in self.series.get(expr, []):
            keep = (t >= start) & (t <= end)
            out.append(RangeSeries(labels=labels, timestamps=t[keep], values=v[keep]))
        return out


@dataclass
class Sink:
    view: ClusterView = field(default_factory=ClusterView)
    got: list[Signal] = field(default_factory=list)

    def submit(self, signals: Iterable[Signal]) -> None:
        self.got.extend(signals)

    def now(self) -> datetime:
        return datetime(2024, 5, 1, tzinfo=UTC)


def settings(**kw: object) -> AnomalySettings:
    base: dict[str, object] = {
        "enabled": True,
        "anomaly_queries": (AnomalyQuerySettings(name="rps", expr="rps"),),
        "forecast_queries": (
            ForecastQuerySettings(resource="memory", expr="mem", limit_expr="mem_limit"),
        ),
        "forecast_window": timedelta(minutes=10),
        "forecast_horizon": timedelta(hours=1),
        "confirm_window": timedelta(minutes=5),
    }
    base.update(kw)
    return AnomalySettings.model_validate(base)


def make_source(prom: FakeProm, **kw: object) -> tuple[AnomalySource, Sink, CollectorRegistry]:
    sink = Sink()
    registry = CollectorRegistry()
    source = AnomalySource(
        settings=settings(**kw), querier=prom, sink=sink, metrics=AnomalyMetrics(registry)
    )
    return source, sink, registry


def test_anomalies_in_a_series_become_anomaly_signals_about_the_pods_target() -> None:
    t = T0 + 30.0 * np.arange(1000)
    rng = np.random.default_rng(0)
    rps = 100 + rng.standard_normal(1000)
    rps[900] += 50
    prom = FakeProm(series={"rps": [({"namespace": "shop", "pod": "web-1"}, t, rps)]})
    source, sink, registry = make_source(prom, history=timedelta(hours=10))
    report = asyncio.run(source.poll_once(now=float(t[-1])))
    assert report.points == 1000
    alarms = [s for s in sink.got if s.kind is SignalKind.ANOMALY]
    assert 1 <= len(alarms) <= 3  # the spike, and at most a couple from 1,000 noisy points
    alarm = next(a for a in alarms if a.details["at"] == float(t[900]))
    assert alarm.target == Target(kind=TargetKind.POD, namespace="shop", name="web-1")
    assert alarm.details["query"] == "rps" and alarm.details["feature"] == "spike"
    assert float(alarm.details["lower"]) < 100 < float(alarm.details["upper"])
    count = len(alarms)
    assert registry.get_sample_value("kubeheal_anomaly_alarms_total", {"query": "rps"}) == count
    # the next poll reads only what is new and scores nothing twice
    again = asyncio.run(source.poll_once(now=float(t[-1]) + 30))
    assert again.points == 0 and len(sink.got) == count
    # unconfirmed after the confirm window: counted as a false alarm
    asyncio.run(source.poll_once(now=float(t[-1]) + 400))
    assert registry.get_sample_value("kubeheal_anomaly_false_alarm_ratio") == 1.0


def test_confirmed_alarm_is_not_a_false_alarm() -> None:
    t = T0 + 30.0 * np.arange(600)
    rps = 100 + np.random.default_rng(1).standard_normal(600)
    rps[590] += 60
    prom = FakeProm(series={"rps": [({"namespace": "shop", "pod": "web-1"}, t, rps)]})
    source, sink, registry = make_source(prom, history=timedelta(hours=10))
    asyncio.run(source.poll_once(now=float(t[-1])))
    assert sink.got
    target = sink.got[0].target
    source.observe("incident", target, ["CrashLoopBackOff"], float(t[-1]) + 60)
    asyncio.run(source.poll_once(now=float(t[-1]) + 400))
    assert registry.get_sample_value(
        "kubeheal_anomaly_alarm_outcomes_total", {"outcome": "confirmed"}
    ) == len(sink.got)
    assert registry.get_sample_value("kubeheal_anomaly_false_alarm_ratio") == 0.0


def leak_series(now: float, *, rate: float) -> tuple[np.ndarray, np.ndarray]:
    t = now - 15.0 * np.arange(40)[::-1]
    return t, 100 * MI + rate * (t - t[0]) + 0.3 * MI * np.sin(np.arange(40))


def test_a_memory_leak_becomes_a_forecast_signal_the_predictive_playbook_acts_on() -> None:
    now = T0 + 3600
    t, mem = leak_series(now, rate=0.25 * MI)
    prom = FakeProm(
        series={
            "mem": [(POD, t, mem)],
            "mem_limit": [(POD, t, np.full(t.size, 256 * MI))],
        }
    )
    source, sink, registry = make_source(prom)
    asyncio.run(source.poll_once(now=now))
    forecasts = [s for s in sink.got if s.kind is SignalKind.FORECAST]
    assert len(forecasts) == 1
    f = forecasts[0]
    assert f.details["resource"] == "memory" and f.details["container"] == "app"
    assert f.subject == "pod/web-7d9f-abcde/container/app"
    expected = (256 * MI - float(mem[-1])) / (0.25 * MI)
    assert abs(float(f.details["seconds"]) - expected) < 0.15 * expected
    assert "OOM kill predicted in" in str(f.details["summary"])
    assert (
        registry.get_sample_value("kubeheal_forecast_predictions_total", {"resource": "memory"})
        == 1
    )

    # the engine: a Forecast about memory selects the predictive playbook, nothing else
    target = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="web")
    signal = Signal(
        id=f.id, kind=f.kind, target=target, observed_at=f.observed_at, subject=f.subject,
        details=f.details, source=f.source,
    )  # fmt: skip
    incident = Incident(
        id=IncidentId("i1"), target=target, opened_at=f.observed_at, updated_at=f.observed_at,
        signals=(signal,),
    )  # fmt: skip
    names = [
        p.name
        for p in matching_playbooks(
            load_builtin_playbooks(), incident, ClusterView(), now=f.observed_at
        )
    ]
    assert names == ["oom-predicted-raise-memory"]
    disk = Signal(
        id=f.id, kind=f.kind, target=target, observed_at=f.observed_at, subject="disk/x",
        details={**f.details, "resource": "disk"}, source=f.source,
    )  # fmt: skip
    other = Incident(
        id=IncidentId("i2"), target=target, opened_at=f.observed_at, updated_at=f.observed_at,
        signals=(disk,),
    )  # fmt: skip
    assert (
        matching_playbooks(load_builtin_playbooks(), other, ClusterView(), now=f.observed_at) == []
    )


def test_forecast_outcomes_reached_false_and_averted() -> None:
    now = T0 + 3600
    t, mem = leak_series(now, rate=0.25 * MI)
    limit = np.full(t.size, 256 * MI)
    prom = FakeProm(series={"mem": [(POD, t, mem)], "mem_limit": [(POD, t, limit)]})
    source, _, registry = make_source(prom)
    asyncio.run(source.poll_once(now=now))
    # the pod restarts (an OOM kill): the working set drops -> reached
    t2 = np.r_[t, now + 15]
    prom.series["mem"] = [(POD, t2, np.r_[mem, 90 * MI])]
    prom.series["mem_limit"] = [(POD, t2, np.r_[limit, 256 * MI])]
    asyncio.run(source.poll_once(now=now + 15))
    assert (
        registry.get_sample_value(
            "kubeheal_forecast_outcomes_total", {"resource": "memory", "outcome": "reached"}
        )
        == 1
    )
    assert registry.get_sample_value("kubeheal_forecast_false_prediction_ratio") == 0.0

    # a new prediction whose deadline passes with the series flat: false
    source2, _, registry2 = make_source(
        FakeProm(series={"mem": [(POD, t, mem)], "mem_limit": [(POD, t, limit)]})
    )
    asyncio.run(source2.poll_once(now=now))
    flat_t = now + 15.0 * np.arange(1, 400)
    later = now + 6000
    source2.querier = FakeProm(
        series={
            "mem": [(POD, flat_t, np.full(flat_t.size, float(mem[-1])))],
            "mem_limit": [(POD, flat_t, np.full(flat_t.size, 256 * MI))],
        }
    )
    asyncio.run(source2.poll_once(now=later))
    assert (
        registry2.get_sample_value(
            "kubeheal_forecast_outcomes_total", {"resource": "memory", "outcome": "false"}
        )
        == 1
    )
    assert registry2.get_sample_value("kubeheal_forecast_false_prediction_ratio") == 1.0

    # the limit is raised: averted, not counted either way
    source3, _, registry3 = make_source(
        FakeProm(series={"mem": [(POD, t, mem)], "mem_limit": [(POD, t, limit)]})
    )
    asyncio.run(source3.poll_once(now=now))
    source3.querier = FakeProm(
        series={
            "mem": [(POD, t2, np.r_[mem, mem[-1]])],
            "mem_limit": [(POD, t2, np.full(t2.size, 384 * MI))],
        }
    )
    asyncio.run(source3.poll_once(now=now + 15))
    assert (
        registry3.get_sample_value(
            "kubeheal_forecast_outcomes_total", {"resource": "memory", "outcome": "averted"}
        )
        == 1
    )
    assert not registry3.get_sample_value("kubeheal_forecast_false_prediction_ratio")


def test_flat_memory_and_prometheus_errors_give_no_signal() -> None:
    now = T0 + 3600
    t = now - 15.0 * np.arange(40)[::-1]
    flat = 100 * MI + 0.5 * MI * np.random.default_rng(3).standard_normal(40)
    prom = FakeProm(
        series={"mem": [(POD, t, flat)], "mem_limit": [(POD, t, np.full(40, 256 * MI))]}
    )
    source, sink, registry = make_source(prom)
    asyncio.run(source.poll_once(now=now))
    assert sink.got == []
    prom.fail = True
    report = asyncio.run(source.poll_once(now=now + 60))
    assert report.errors == 2 and sink.got == []
    assert registry.get_sample_value("kubeheal_anomaly_poll_errors_total") == 3


def test_operator_events_confirm_alarms() -> None:
    from kubeheal.runtime.operator import OperatorEvent

    t = T0 + 30.0 * np.arange(600)
    rps = 100 + np.random.default_rng(1).standard_normal(600)
    rps[590] += 60
    prom = FakeProm(series={"rps": [({"namespace": "shop", "pod": "web-1"}, t, rps)]})
    source, sink, registry = make_source(prom, history=timedelta(hours=10))
    asyncio.run(source.poll_once(now=float(t[-1])))
    target = sink.got[0].target
    at = datetime.fromtimestamp(float(t[-1]) + 30, tz=UTC)
    source.on_operator_event(OperatorEvent(at=at, kind="incident", target=target, message="",
                                           data={"kinds": "Anomaly"}))  # fmt: skip
    source.on_operator_event(OperatorEvent(at=at, kind="plan", target=target, message="",
                                           data={"kinds": "OOMKilled"}))  # fmt: skip
    asyncio.run(source.poll_once(now=float(t[-1]) + 400))
    assert registry.get_sample_value("kubeheal_anomaly_false_alarm_ratio") == 1.0
    source2, _, registry2 = make_source(prom, history=timedelta(hours=10))
    asyncio.run(source2.poll_once(now=float(t[-1])))
    source2.on_operator_event(OperatorEvent(at=at, kind="incident", target=target, message="",
                                            data={"kinds": "Anomaly, OOMKilled"}))  # fmt: skip
    asyncio.run(source2.poll_once(now=float(t[-1]) + 400))
    assert registry2.get_sample_value("kubeheal_anomaly_false_alarm_ratio") == 0.0

"""Forecast signals per resource, and none about series that ended (a rollout's old pods).

Both were seen with the real Prometheus of the full stack: the CPU forecast of a container
replaced its memory forecast in the incident (same signal id), so the leak playbook found no
memory forecast for its second raise; and the old pods' memory series, ended by the rollout
of the first raise, kept being forecast as incidents about pods that no longer exist.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import msgspec
import numpy as np

from kubeheal.clients.prometheus import RangeSeries
from kubeheal.config import IncidentSettings
from kubeheal.config.settings import AnomalySettings, ForecastQuerySettings
from kubeheal.engine.evidence import forecast_evidence
from kubeheal.engine.incidents import correlate
from kubeheal.model.cluster import ClusterView, ReplicaSet
from kubeheal.model.core import Signal, SignalKind
from kubeheal.runtime.anomaly_source import AnomalySource

MI = 2.0**20
NOW = 1_714_521_600.0 + 3600
STEP = 15.0
OLD = {"namespace": "shop", "pod": "web-1-old", "container": "app"}
NEW = {"namespace": "shop", "pod": "web-2-new", "container": "app"}


@dataclass
class Prom:
    series: dict[str, list[tuple[dict[str, str], np.ndarray, np.ndarray]]]

    async def query_range(
        self, expr: str, *, start: float, end: float, step: float
    ) -> list[RangeSeries]:
        return [
            RangeSeries(labels=labels, timestamps=t[(t >= start) & (t <= end)],
                        values=v[(t >= start) & (t <= end)])
            for labels, t, v in self.series.get(expr, [])
        ]  # fmt: skip


@dataclass
class Sink:
    view: ClusterView = field(default_factory=ClusterView)
    got: list[Signal] = field(default_factory=list)

    def submit(self, signals: Iterable[Signal]) -> None:
        self.got.extend(signals)

    def now(self) -> datetime:
        return datetime(2024, 5, 1, tzinfo=UTC)


def rising(end: float, *, start: float, slope: float, points: int = 40) -> tuple[np.ndarray, ...]:
    t = end - STEP * np.arange(points)[::-1]
    return t, start + slope * (t - t[0]) + 0.01 * start * np.sin(np.arange(points))


def source(prom: Prom, sink: Sink) -> AnomalySource:
    settings = AnomalySettings.model_validate(
        {
            "enabled": True,
            "anomaly_queries": (),
            "forecast_queries": (
                ForecastQuerySettings(resource="memory", expr="mem", limit_expr="mem_limit"),
                ForecastQuerySettings(resource="cpu", expr="cpu", limit_expr="cpu_limit"),
            ),
            "step": timedelta(seconds=STEP),
            "forecast_window": timedelta(minutes=10),
            "forecast_horizon": timedelta(hours=1),
        }
    )
    return AnomalySource(settings=settings, querier=prom, sink=sink)


def test_memory_and_cpu_forecasts_of_one_container_are_two_signals_of_its_incident() -> None:
    t, mem = rising(NOW, start=100 * MI, slope=0.25 * MI)
    _, cpu = rising(NOW, start=0.1, slope=0.0002)
    prom = Prom(
        series={
            "mem": [(NEW, t, mem)],
            "mem_limit": [(NEW, t, np.full(t.size, 256 * MI))],
            "cpu": [(NEW, t, cpu)],
            "cpu_limit": [(NEW, t, np.full(t.size, 0.5))],
        }
    )
    sink = Sink()
    asyncio.run(source(prom, sink).poll_once(now=NOW))
    forecasts = [s for s in sink.got if s.kind is SignalKind.FORECAST]
    assert sorted(str(s.details["resource"]) for s in forecasts) == ["cpu", "memory"]
    assert {s.subject for s in forecasts} == {"pod/web-2-new/container/app"}
    assert len({s.id for s in forecasts}) == 2
    # folded into one incident, the CPU forecast (observed last) leaves the memory one there
    (incident,) = correlate(forecasts, incidents=(), now=sink.now(), settings=IncidentSettings())
    assert len(incident.signals) == 2
    evidence = forecast_evidence(incident)
    assert evidence is not None and "grows 0.25 MiB/s" in evidence


def test_no_forecast_about_a_series_that_ended() -> None:
    t_old, mem_old = rising(NOW - 5 * STEP, start=60 * MI, slope=0.25 * MI)  # gone 75 s ago
    t_new, mem_new = rising(NOW, start=100 * MI, slope=0.25 * MI)
    prom = Prom(
        series={
            "mem": [(OLD, t_old, mem_old), (NEW, t_new, mem_new)],
            "mem_limit": [
                (OLD, t_old, np.full(t_old.size, 256 * MI)),
                (NEW, t_new, np.full(t_new.size, 384 * MI)),
            ],
        }
    )
    sink = Sink()
    report = asyncio.run(source(prom, sink).poll_once(now=NOW))
    assert [s.subject for s in report.forecasts] == ["pod/web-2-new/container/app"]
    assert [s.subject for s in sink.got] == ["pod/web-2-new/container/app"]


def test_no_forecast_about_a_pod_its_replica_set_no_longer_has() -> None:
    # web-1-old is gone from the cluster (a rollout deleted it) while its last scrapes are
    # still in Prometheus; the pod of a ReplicaSet the view does not know is still forecast
    replica_set = msgspec.json.decode(
        b'{"metadata": {"name": "web-1", "namespace": "shop", "uid": "rs-1"}}', type=ReplicaSet
    )
    t, mem = rising(NOW, start=60 * MI, slope=0.25 * MI)
    other = {"namespace": "shop", "pod": "api-9-xyz", "container": "app"}
    prom = Prom(
        series={
            "mem": [(OLD, t, mem), (other, t, mem)],
            "mem_limit": [
                (OLD, t, np.full(t.size, 256 * MI)),
                (other, t, np.full(t.size, 256 * MI)),
            ],
        }
    )
    sink = Sink(view=ClusterView(replica_sets=[replica_set]))
    report = asyncio.run(source(prom, sink).poll_once(now=NOW))
    assert [s.subject for s in report.forecasts] == ["pod/api-9-xyz/container/app"]

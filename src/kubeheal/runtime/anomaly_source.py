"""The anomaly and forecast source: Prometheus series -> Anomaly and Forecast signals.

::

    every `anomaly.interval`:
      anomaly_queries  ──query_range──> one AnomalyDetector per series ──alarm──> Anomaly signal
      forecast_queries ──query_range──> usage + limit joined by labels
                                        ──time_to_exhaustion within horizon──> Forecast signal
                                                                    (re-sent while it holds)

Signals name the workload of the series' ``namespace``/``pod`` labels (through the operator's
cluster view, like alerts), or the node / PVC-less target `alert_target` finds; series that
name nothing kubeheal can act on are skipped and counted; forecast series that ended (no
point in the last two steps) or name a pod of a known ReplicaSet that the cluster no longer
has (replaced by a rollout, its last scrapes still in Prometheus) are skipped.
Forecast signals are one per resource and container (their ids include the resource). A
Forecast about memory carries ``resource=memory`` and the container as subject
(``pod/<pod>/container/<name>``) so the predictive playbook (`oom-predicted-raise-memory`)
can raise that container's limit before the OOM kill.

Its own quality is kept visible as metrics:

- an anomaly alarm counts as *confirmed* when, within ``anomaly.confirm_window``, an incident
  is opened on the same target from another kind of signal (a detector, an alert); otherwise
  as a *false alarm*; ``kubeheal_anomaly_false_alarm_ratio`` = false / (confirmed + false);
- a forecast is *reached* when the usage reached its limit or dropped by half (a restart, as
  after an OOM kill) before the interval's end, *averted* when its limit changed or its series
  ended first (e.g. the playbook raised the limit and rolled the pods), and *false* when the
  interval's end passed with neither; ``kubeheal_forecast_false_prediction_ratio`` =
  false / (reached + false).

Prometheus errors are logged and counted; the next poll tries again.

Wiring (in the process that runs the operator, when ``anomaly.enabled``)::

    async with PrometheusClient(settings.anomaly.prometheus_url) as prom:
        source = AnomalySource(settings=settings.anomaly, querier=prom, sink=operator,
                               metrics=AnomalyMetrics(registry))
        # compose source.on_operator_event into the operator's on_event; then
        tasks.spawn("anomaly-source", source.run())
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt
from prometheus_client import CollectorRegistry, Counter, Gauge

from kubeheal.anomaly import AnomalyDetector, AnomalyInputError, time_to_exhaustion
from kubeheal.anomaly.forecast import Exhaustion, format_duration
from kubeheal.clients.prometheus import PrometheusError, RangeSeries
from kubeheal.config.settings import AnomalySettings, ForecastQuerySettings
from kubeheal.engine.detect import alert_target
from kubeheal.model.core import Signal, SignalKind, SignalSource, Target
from kubeheal.runtime.operator import OperatorEvent
from kubeheal.runtime.signals import SignalSink

__all__ = [
    "AnomalyMetrics",
    "AnomalySource",
    "ForecastDecision",
    "PollReport",
    "RangeQuerier",
    "SignalSink",
    "forecast_decision",
]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
_KEY_LABELS = ("namespace", "pod", "container", "persistentvolumeclaim", "horizontalpodautoscaler")


class RangeQuerier(Protocol):
    """What the source needs from `kubeheal.clients.prometheus.PrometheusClient`."""

    async def query_range(
        self, expr: str, *, start: float, end: float, step: float
    ) -> list[RangeSeries]:
        """The series of ``expr`` between ``start`` and ``end``."""
        ...


class AnomalyMetrics:
    """Metrics of the source, registered in the operator's registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry
        self.series = Gauge(
            "kubeheal_anomaly_series_watched", "Series watched, by kind.", ["kind"], registry=r
        )
        self.alarms = Counter(
            "kubeheal_anomaly_alarms_total", "Anomaly alarms raised, by query.", ["query"],
            registry=r,
        )  # fmt: skip
        self.alarm_outcomes = Counter(
            "kubeheal_anomaly_alarm_outcomes_total",
            "Anomaly alarms judged after the confirm window, by outcome (confirmed, false).",
            ["outcome"],
            registry=r,
        )
        self.false_alarm_ratio = Gauge(
            "kubeheal_anomaly_false_alarm_ratio",
            "Share of judged anomaly alarms that no other source confirmed.",
            registry=r,
        )
        self.predictions = Counter(
            "kubeheal_forecast_predictions_total",
            "Exhaustion forecasts first signalled, by resource.",
            ["resource"],
            registry=r,
        )
        self.prediction_outcomes = Counter(
            "kubeheal_forecast_outcomes_total",
            "Exhaustion forecasts judged, by resource and outcome (reached, averted, false).",
            ["resource", "outcome"],
            registry=r,
        )
        self.false_prediction_ratio = Gauge(
            "kubeheal_forecast_false_prediction_ratio",
            "Share of judged forecasts (reached or false) whose limit was never reached.",
            registry=r,
        )
        self.untargeted = Counter(
            "kubeheal_anomaly_untargeted_total",
            "Alarms and forecasts about series naming nothing kubeheal can act on.",
            registry=r,
        )
        self.errors = Counter(
            "kubeheal_anomaly_poll_errors_total", "Prometheus queries that failed.", registry=r
        )


@dataclass(frozen=True, slots=True)
class ForecastDecision:
    """A forecast worth signalling for one series."""

    exhaustion: Exhaustion
    deadline: float
    """Wall time after which, without reaching the limit, the forecast was false."""


def forecast_decision(
    timestamps: FloatArray,
    usage: FloatArray,
    *,
    limit: float,
    now: float,
    settings: AnomalySettings,
) -> ForecastDecision | None:
    """The forecast the source signals for one series, or None (pure; shared with the bench).

    A forecast is signalled when the trend over ``forecast_window`` reaches ``limit`` within
    ``forecast_horizon`` and the slope's confidence interval excludes zero (a significant rise).
    """
    if not (math.isfinite(limit) and limit > 0):
        return None
    try:
        ex = time_to_exhaustion(
            timestamps,
            usage,
            limit=limit,
            now=now,
            window=settings.forecast_window.total_seconds(),
            min_points=settings.min_forecast_points,
            confidence=settings.forecast_confidence,
            horizon=settings.forecast_horizon.total_seconds(),
        )
    except AnomalyInputError as e:
        log.debug("forecast skipped: %s", e)
        return None
    if ex is None or ex.reached or not math.isfinite(ex.upper):
        return None
    return ForecastDecision(exhaustion=ex, deadline=now + ex.upper)


@dataclass
class _Alarm:
    target: Target
    query: str
    at: float
    confirmed: bool = False


@dataclass
class _Prediction:
    resource: str
    limit: float
    deadline: float
    peak: float


@dataclass
class _ForecastSeries:
    prediction: _Prediction | None = None
    last_seen: float = 0.0


@dataclass
class PollReport:
    """What one poll did (for tests and the bench)."""

    points: int = 0
    alarms: list[Signal] = field(default_factory=list)
    forecasts: list[Signal] = field(default_factory=list)
    errors: int = 0


def _key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def _join_key(labels: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(labels.get(k, "") for k in _KEY_LABELS)


class AnomalySource:
    """Polls Prometheus, scores series and forecasts exhaustion; see the module docstring."""

    def __init__(
        self,
        *,
        settings: AnomalySettings,
        querier: RangeQuerier,
        sink: SignalSink,
        metrics: AnomalyMetrics | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.querier = querier
        self.sink = sink
        self.metrics = metrics or AnomalyMetrics()
        self.wall = wall
        """Wall clock of Prometheus' timestamps."""
        self._detectors: dict[tuple[str, tuple[tuple[str, str], ...]], AnomalyDetector] = {}
        self._last_t: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self._forecasts: dict[tuple[str, tuple[str, ...]], _ForecastSeries] = {}
        self._alarms: list[_Alarm] = []
        self._confirmed = 0
        self._false_alarms = 0
        self._reached = 0
        self._false_predictions = 0

    # -- the loop

    async def run(self) -> None:
        """Poll for ever (cancel to stop)."""
        interval = self.settings.interval.total_seconds()
        while True:
            started = time.monotonic()
            await self.poll_once()
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))

    async def poll_once(self, *, now: float | None = None) -> PollReport:
        """One poll of every query; signals go to the sink."""
        at = self.wall() if now is None else now
        report = PollReport()
        for query in self.settings.anomaly_queries:
            await self._poll_anomaly(query.name, query.expr, at, report)
        for fq in self.settings.forecast_queries:
            await self._poll_forecast(fq, at, report)
        self._judge_alarms(at)
        if report.alarms or report.forecasts:
            self.sink.submit([*report.alarms, *report.forecasts])
        self.metrics.series.labels(kind="anomaly").set(len(self._detectors))
        self.metrics.series.labels(kind="forecast").set(len(self._forecasts))
        return report

    # -- the operator's events (compose into Operator.on_event)

    def observe(self, kind: str, target: Target, signal_kinds: Sequence[str], at: float) -> None:
        """An incident was opened on ``target`` with ``signal_kinds`` (confirms alarms)."""
        if kind != "incident":
            return
        others = {k for k in signal_kinds if k not in (SignalKind.ANOMALY, SignalKind.FORECAST)}
        if not others:
            return
        window = self.settings.confirm_window.total_seconds()
        for alarm in self._alarms:
            if alarm.target == target and abs(at - alarm.at) <= window:
                alarm.confirmed = True

    def on_operator_event(self, event: OperatorEvent) -> None:
        """`Operator.on_event` hook: incidents opened by other sources confirm alarms."""
        kinds = [k.strip() for k in str(event.data.get("kinds", "")).split(",") if k.strip()]
        self.observe(event.kind, event.target, kinds, event.at.timestamp())

    # -- internals

    async def _range(self, expr: str, start: float, end: float) -> list[RangeSeries] | None:
        step = max(self.settings.step.total_seconds(), 1e-3)
        try:
            return await self.querier.query_range(expr, start=start, end=end, step=step)
        except PrometheusError as e:
            log.warning("anomaly query failed, retrying next poll: %s (%s)", e, expr)
            self.metrics.errors.inc()
            return None

    def _target(self, labels: Mapping[str, str]) -> Target | None:
        target = alert_target(labels, self.sink.view)
        if target is None:
            self.metrics.untargeted.inc()
        return target

    def _pod_gone(self, labels: Mapping[str, str]) -> bool:
        """The series names a pod of a known ReplicaSet that the cluster no longer has
        (deleted, e.g. by a rollout, while its last scrapes are still in Prometheus)."""
        namespace, pod = labels.get("namespace", ""), labels.get("pod", "")
        view = self.sink.view
        if not (namespace and pod) or view.pod(namespace, pod) is not None:
            return False
        return view.replica_set(namespace, pod.rpartition("-")[0]) is not None

    async def _poll_anomaly(self, name: str, expr: str, at: float, report: PollReport) -> None:
        history = self.settings.history.total_seconds()
        starts = [t for (q, _), t in self._last_t.items() if q == name]
        start = min(starts) if starts else at - history
        found = await self._range(expr, max(start, at - history), at)
        if found is None:
            report.errors += 1
            return
        for series in found:
            key = (name, _key(series.labels))
            det = self._detectors.get(key)
            if det is None:
                if len(self._detectors) >= self.settings.max_series:
                    continue
                det = self._detectors[key] = AnomalyDetector()
            last = self._last_t.get(key, -math.inf)
            keep = (series.timestamps > last) & np.isfinite(series.values)
            ts, vs = series.timestamps[keep], series.values[keep]
            if ts.size == 0:
                continue
            batch = det.update(ts, vs)
            self._last_t[key] = float(ts[-1])
            report.points += int(ts.size)
            for i in np.flatnonzero(batch.anomalies):
                target = self._target(series.labels)
                if target is None:
                    continue
                ex = batch.explain(int(i))
                subject = f"anomaly/{name}/" + ",".join(f"{k}={v}" for k, v in key[1])
                signal = Signal(
                    id=Signal.make_id(SignalKind.ANOMALY, target, subject),
                    kind=SignalKind.ANOMALY,
                    target=target,
                    observed_at=self.sink.now(),
                    subject=subject,
                    details={
                        "query": name,
                        "score": round(ex.score, 4),
                        "feature": ex.feature,
                        "observed": ex.observed,
                        "expected": ex.expected,
                        "lower": ex.lower,
                        "upper": ex.upper,
                        "at": ex.timestamp,
                        "summary": ex.describe(),
                    },
                    labels=dict(series.labels),
                    source=SignalSource.ANOMALY,
                )
                report.alarms.append(signal)
                self._alarms.append(_Alarm(target=target, query=name, at=at))
                self.metrics.alarms.labels(query=name).inc()

    async def _poll_forecast(
        self, fq: ForecastQuerySettings, at: float, report: PollReport
    ) -> None:
        window = self.settings.forecast_window.total_seconds()
        start = at - window - self.settings.step.total_seconds()
        usage = await self._range(fq.expr, start, at)
        limits = await self._range(fq.limit_expr, start, at)
        if usage is None or limits is None:
            report.errors += 1
            return
        limit_of: dict[tuple[str, ...], float] = {}
        for s in limits:
            finite = s.values[np.isfinite(s.values)]
            if finite.size:
                limit_of[_join_key(s.labels)] = float(finite[-1])
        seen: set[tuple[str, tuple[str, ...]]] = set()
        ended_before = at - 2 * max(self.settings.step.total_seconds(), 1.0)
        for series in usage:
            live = series.timestamps[np.isfinite(series.values)]
            if live.size == 0 or float(live[-1]) < ended_before:
                continue  # the series ended (e.g. its pod is gone): no forecast about it
            jk = _join_key(series.labels)
            key: tuple[str, tuple[str, ...]] = (str(fq.resource), jk)
            seen.add(key)
            state = self._forecasts.setdefault(key, _ForecastSeries())
            state.last_seen = at
            limit = limit_of.get(jk, math.nan)
            values = series.values
            report.points += int(values.size)
            self._judge_prediction(state, values, limit, at)
            decision = forecast_decision(
                series.timestamps, values, limit=limit, now=at, settings=self.settings
            )
            if decision is None:
                continue
            target = self._target(series.labels)
            if target is None or self._pod_gone(series.labels):
                continue
            if state.prediction is None:
                self.metrics.predictions.labels(resource=fq.resource).inc()
                finite = values[np.isfinite(values)]
                state.prediction = _Prediction(
                    resource=fq.resource,
                    limit=limit,
                    deadline=decision.deadline,
                    peak=float(finite.max()) if finite.size else 0.0,
                )
            report.forecasts.append(self._forecast_signal(fq.resource, series, target, decision))
        for key, state in list(self._forecasts.items()):
            if key[0] == fq.resource and key not in seen:
                if state.prediction is not None:
                    self._outcome(state.prediction, "averted")  # the series ended first
                del self._forecasts[key]

    def _forecast_signal(
        self, resource: str, series: RangeSeries, target: Target, decision: ForecastDecision
    ) -> Signal:
        ex = decision.exhaustion
        labels = series.labels
        if labels.get("pod") and labels.get("container"):
            subject = f"pod/{labels['pod']}/container/{labels['container']}"
        else:
            subject = f"{resource}/" + ",".join(f"{k}={v}" for k, v in _key(labels))
        what = "OOM kill" if resource == "memory" else f"{resource} exhausted"
        details: dict[str, str | int | float | bool] = {
            "resource": resource,
            "seconds": round(ex.seconds, 1),
            "lower": round(ex.lower, 1),
            "upper": round(ex.upper, 1) if math.isfinite(ex.upper) else -1.0,
            "limit": ex.limit,
            "level": ex.level,
            "slope_per_second": ex.slope,
            "summary": f"{what} predicted in {format_duration(ex.seconds)} "
            f"({format_duration(ex.lower)}..{format_duration(ex.upper)})",
        }
        if labels.get("container"):
            details["container"] = labels["container"]
        return Signal(
            # one signal per resource of a container: a CPU forecast never replaces the
            # memory forecast of the same container in its incident
            id=Signal.make_id(SignalKind.FORECAST, target, f"{resource}:{subject}"),
            kind=SignalKind.FORECAST,
            target=target,
            observed_at=self.sink.now(),
            subject=subject,
            details=details,
            labels=dict(labels),
            source=SignalSource.FORECAST,
        )

    def _judge_prediction(
        self, state: _ForecastSeries, values: FloatArray, limit: float, at: float
    ) -> None:
        p = state.prediction
        if p is None:
            return
        finite = values[np.isfinite(values)]
        last = float(finite[-1]) if finite.size else math.nan
        if finite.size and (finite.max() >= p.limit or last < 0.5 * p.peak):
            self._outcome(p, "reached")
            state.prediction = None
        elif math.isfinite(limit) and limit != p.limit:
            self._outcome(p, "averted")
            state.prediction = None
        elif at > p.deadline:
            self._outcome(p, "false")
            state.prediction = None
        elif finite.size:
            p.peak = max(p.peak, float(finite.max()))

    def _outcome(self, p: _Prediction, outcome: str) -> None:
        self.metrics.prediction_outcomes.labels(resource=p.resource, outcome=outcome).inc()
        if outcome == "reached":
            self._reached += 1
        elif outcome == "false":
            self._false_predictions += 1
        judged = self._reached + self._false_predictions
        if judged:
            self.metrics.false_prediction_ratio.set(self._false_predictions / judged)

    def _judge_alarms(self, at: float) -> None:
        window = self.settings.confirm_window.total_seconds()
        keep: list[_Alarm] = []
        for alarm in self._alarms:
            if at - alarm.at < window:
                keep.append(alarm)
                continue
            if alarm.confirmed:
                self._confirmed += 1
                self.metrics.alarm_outcomes.labels(outcome="confirmed").inc()
            else:
                self._false_alarms += 1
                self.metrics.alarm_outcomes.labels(outcome="false").inc()
        self._alarms = keep
        judged = self._confirmed + self._false_alarms
        if judged:
            self.metrics.false_alarm_ratio.set(self._false_alarms / judged)

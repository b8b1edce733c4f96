"""The right-sizing source: recommendations from Prometheus -> Rightsize signals.

::

    every `finops.apply_interval`:
      recommend (kubeheal.finops.service.rightsize over Prometheus, batched queries)
        ── per container, skipped (and counted) unless:
             recommendation made, owner verified, confidence >= finops.apply_min_confidence,
             a Deployment the operator sees, not GitOps-managed, not excluded,
             no open incident of another kind, rollout settled (every replica available),
             not paused after an escalation (finops.apply_pause_after_escalation),
             and the step planner would change something (kubeheal.engine.rightsize)
        ──> Rightsize signal (subject container/<name>, details: the recommended values)
        ──> Operator.submit ──> playbook rightsize-gradual (set_resources, one bounded step)

The source only says where the recommendation differs; how far one step goes
(`max_step_change`) and whether it may go now (cooldown, budgets, kill switch, dry-run, error
budget freeze, blast radius) is decided by the engine. Each pass starts at most one step per
workload; the next pass continues from the values the last step left.

A failed collection (`CollectError`: Prometheus unreachable, expressions refused) is logged
and counted; the next pass tries again.

Wiring (in the process that runs the operator, when ``finops.apply_enabled``)::

    async with PrometheusClient(settings.finops.prometheus_url) as prom:
        source = RightsizeSource.from_prometheus(settings, querier=prom, sink=operator)
        # compose source.on_operator_event into the operator's on_event; then
        tasks.spawn("rightsize-source", source.run())
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from kubeheal.config import Settings
from kubeheal.engine.facts import gitops_owner
from kubeheal.engine.rightsize import ResourceTargets, plan_step
from kubeheal.finops.collect import CollectError, PromQuerier
from kubeheal.finops.model import Confidence, Recommendation
from kubeheal.finops.service import rightsize
from kubeheal.model.cluster import ClusterView
from kubeheal.model.core import Incident, Signal, SignalKind, SignalSource, Target, TargetKind
from kubeheal.runtime.operator import OperatorEvent
from kubeheal.runtime.signals import SignalSink

__all__ = [
    "PassReport",
    "Recommender",
    "RightsizeSink",
    "RightsizeSource",
    "prometheus_recommender",
    "rightsize_signal",
]

log = logging.getLogger(__name__)

Recommender = Callable[[float], Awaitable[Sequence[Recommendation]]]
"""Recommendations for every container in scope, with the history window ending at the
given epoch second."""

_CONFIDENCE_RANK = {
    Confidence.NONE: 0,
    Confidence.LOW: 1,
    Confidence.MEDIUM: 2,
    Confidence.HIGH: 3,
}


class RightsizeSink(SignalSink, Protocol):
    """What the source needs from the operator beyond a `SignalSink` (whose view holds the
    current templates)."""

    def open_incidents(self) -> list[Incident]:
        """Incidents not yet resolved or escalated."""
        ...


@dataclass(frozen=True, slots=True)
class PassReport:
    """What one pass did: signals submitted, containers skipped by reason, the error if the
    recommendations could not be read."""

    signals: tuple[Signal, ...] = ()
    skipped: dict[str, int] = field(default_factory=dict)
    error: str = ""


def prometheus_recommender(querier: PromQuerier, settings: Settings) -> Recommender:
    """Recommendations by kubeheal's strategy over ``querier`` (the `finops` settings)."""
    finops = settings.finops

    async def recommend(end: float) -> Sequence[Recommendation]:
        result = await rightsize(
            querier, settings=finops, end=end, namespaces=finops.apply_namespaces
        )
        return result.recommendations

    return recommend


def _targets(rec: Recommendation) -> ResourceTargets:
    values = rec.recommended
    return ResourceTargets(
        container=rec.container,
        cpu_request=values.cpu_request,
        cpu_limit=values.cpu_limit,
        memory_request=None if values.memory_request is None else int(values.memory_request),
        memory_limit=None if values.memory_limit is None else int(values.memory_limit),
    )


def rightsize_signal(rec: Recommendation, *, now: datetime) -> Signal | None:
    """The Rightsize signal carrying ``rec`` (None when it recommends nothing)."""
    details = _targets(rec).details()
    if len(details) == 1:
        return None
    details["confidence"] = rec.confidence.value
    details["strategy"] = rec.strategy
    details["history_hours"] = round(rec.history_seconds / 3600, 1)
    target = Target(
        kind=TargetKind.DEPLOYMENT, namespace=rec.workload.namespace, name=rec.workload.name
    )
    subject = f"container/{rec.container}"
    return Signal(
        id=Signal.make_id(SignalKind.RIGHTSIZE, target, subject),
        kind=SignalKind.RIGHTSIZE,
        target=target,
        observed_at=now,
        subject=subject,
        details=details,
        source=SignalSource.FINOPS,
    )


def _settled(view: ClusterView, target: Target) -> bool:
    dep = view.deployment_for(target)
    if dep is None:
        return False
    st, desired = dep.status, dep.replicas
    return (
        st.observed_generation >= dep.metadata.generation
        and st.updated_replicas >= desired
        and st.available_replicas >= desired
        and st.replicas <= st.updated_replicas
    )


class RightsizeSource:
    """Turns right-sizing recommendations into Rightsize signals, every ``apply_interval``."""

    def __init__(
        self, *, settings: Settings, sink: RightsizeSink, recommender: Recommender
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.recommender = recommender
        self.passes = 0
        self.failures = 0
        self._paused: dict[Target, datetime] = {}
        incidents = settings.incidents
        interval = settings.finops.apply_interval
        if interval * (incidents.flapping_threshold - 1) <= incidents.flapping_window:
            log.warning(
                "finops.apply_interval %s is short: %d right-sizing incidents of one workload "
                "within %s count as flapping and escalate",
                interval,
                incidents.flapping_threshold,
                incidents.flapping_window,
            )

    @classmethod
    def from_prometheus(
        cls, settings: Settings, *, querier: PromQuerier, sink: RightsizeSink
    ) -> RightsizeSource:
        """A source whose recommendations come from ``querier`` (a `PrometheusClient`)."""
        return cls(
            settings=settings, sink=sink, recommender=prometheus_recommender(querier, settings)
        )

    def on_operator_event(self, event: OperatorEvent) -> None:
        """Pause right-sizing of a target whose incident was escalated (compose into the
        operator's ``on_event``)."""
        if event.kind == "escalated" and event.target.kind is TargetKind.DEPLOYMENT:
            self._paused[event.target] = event.at
            log.info(
                "right-sizing of %s paused for %s after an escalation",
                event.target.key,
                self.settings.finops.apply_pause_after_escalation,
            )

    def paused(self, target: Target, now: datetime) -> bool:
        """Whether right-sizing of ``target`` is paused after an escalation."""
        since = self._paused.get(target)
        pause: timedelta = self.settings.finops.apply_pause_after_escalation
        return since is not None and now - since < pause

    def _skip_reason(self, rec: Recommendation, *, now: datetime, busy: set[Target]) -> str | None:
        finops = self.settings.finops
        if not rec.ok:
            return "no recommendation"
        if rec.workload.kind != TargetKind.DEPLOYMENT.value:
            return "not a Deployment"
        if not rec.workload.verified:
            return "owner not verified"
        wanted = _CONFIDENCE_RANK[Confidence(finops.apply_min_confidence)]
        if _CONFIDENCE_RANK[rec.confidence] < wanted:
            return "confidence too low"
        namespace = rec.workload.namespace
        if namespace in self.settings.guards.excluded_namespaces:
            return "namespace excluded"
        target = Target(kind=TargetKind.DEPLOYMENT, namespace=namespace, name=rec.workload.name)
        view = self.sink.view
        dep = view.deployment_for(target)
        if dep is None:
            return "Deployment not in the cluster view"
        if gitops_owner(dep.metadata) is not None:
            return "managed by GitOps"
        if target in busy:
            return "another incident is open"
        if self.paused(target, now):
            return "paused after an escalation"
        if not _settled(view, target):
            return "rollout not settled"
        container = dep.spec.template.spec.container(rec.container)
        if container is None:
            return "container not in the template"
        step = plan_step(
            container, _targets(rec), max_step_change=1.0, min_change=finops.apply_min_change
        )
        if not step.changes:
            return "already at the recommendation"
        return None

    async def run_once(self) -> PassReport:
        """One pass: read the recommendations, submit the signals, say what was skipped."""
        self.passes += 1
        now = self.sink.now()
        try:
            recommendations = await self.recommender(now.timestamp())
        except CollectError as e:
            self.failures += 1
            log.warning("right-sizing pass failed, trying again next interval: %s", e)
            return PassReport(error=str(e))
        busy = {
            incident.target
            for incident in self.sink.open_incidents()
            if incident.signal_kinds - {SignalKind.RIGHTSIZE}
        }
        skipped: Counter[str] = Counter()
        signals: list[Signal] = []
        for rec in recommendations:
            reason = self._skip_reason(rec, now=now, busy=busy)
            signal = rightsize_signal(rec, now=now) if reason is None else None
            if signal is None:
                skipped[reason or "nothing recommended"] += 1
                continue
            signals.append(signal)
        if signals:
            self.sink.submit(signals)
        log.info(
            "right-sizing pass: %d signal(s); skipped: %s",
            len(signals),
            ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())) or "none",
        )
        return PassReport(signals=tuple(signals), skipped=dict(skipped))

    async def run(self, *, interval: float | None = None) -> None:
        """A pass every ``interval`` wall seconds (default ``finops.apply_interval``), until
        cancelled."""
        every = (
            interval
            if interval is not None
            else self.settings.finops.apply_interval.total_seconds()
        )
        while True:
            try:
                await self.run_once()
            except Exception:
                self.failures += 1
                log.exception("right-sizing pass failed")
            await asyncio.sleep(every)

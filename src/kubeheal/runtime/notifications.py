"""Notifications at run time: escalations driven by the operator and the ledger, and the
delivery loop of the outbox.

`NotificationService` subscribes to the operator's events (`on_event`, composed with any
other observer by `attach_notifications`) and runs two loops with the operator's tasks:

- **escalation**: starts an escalation when the operator escalates an incident, or when an
  incident stays unresolved longer than ``unresolved_after``; climbs its policy's levels at
  their waits (`kubeheal.notify.escalation`); announces an acknowledgement (API or CLI) and
  the end of the incident (resolved, or an escalated problem no longer observed) to every
  channel told; sums up progress in rate-limited updates. Everything it decides is recorded in
  the ledger first (escalation row and outbox, one transaction), and it re-reads the ledger at
  start (``lookback``), so a restart neither loses nor repeats a step.
- **delivery**: sends due outbox items (`kubeheal.notify.delivery`), retries temporary
  failures with exponential back-off and jitter (honouring Retry-After), gives up on
  permanent ones (a refusal, a message that cannot be built or sent) after one attempt and
  on an unexpected error after three, and marks each sent after the receiver accepted it. A
  message that cannot be rendered is recorded as failed, with its reason, and the escalation
  goes on.

Time comes from an injected clock (the operator's: the cluster's clock with the twin) and
randomness from an injected function, so tests drive `tick` with a fake clock. Secrets are
masked in every error recorded or logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol, Self

from prometheus_client import CollectorRegistry, Counter, Gauge

from kubeheal.clients.notify_transport import (
    HttpSender,
    PermanentDeliveryError,
    SmtpSender,
    TemporaryDeliveryError,
    redact,
)
from kubeheal.config.settings import NotificationSettings, Settings
from kubeheal.model.core import Target, TargetKind
from kubeheal.notify.context import IncidentContext, build_context
from kubeheal.notify.delivery import Dispatcher, HttpPoster, MailSender
from kubeheal.notify.escalation import level_due_at, plan_step
from kubeheal.notify.outbox import envelope, retry_at
from kubeheal.notify.policy import Classification, classify, levels_of, select_policy
from kubeheal.notify.render import Notice, render
from kubeheal.store import ConflictError, Ledger, LedgerError
from kubeheal.store.outbox import (
    EscalationRecord,
    NewNotification,
    NotificationKind,
    NotificationStore,
    OutboxItem,
    OutboxState,
)
from kubeheal.store.records import IncidentRecord, IncidentState, JSONObject

if TYPE_CHECKING:
    from kubeheal.runtime.operator import OperatorEvent

__all__ = [
    "NotificationService",
    "Observed",
    "Probe",
    "acknowledge_incident",
    "load_context",
    "notification_service",
    "operator_probe",
]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Probe = Callable[[IncidentRecord, datetime], bool | None]
"""Whether the problem of an escalated incident is still observed at ``now`` (``None``:
cannot tell yet). The operator's is `operator_probe`."""

_UNEXPECTED_ATTEMPTS = 3
"""Attempts after which an unexpected error (a bug, not a receiver's answer) fails an item."""

_PROGRESS_KINDS = frozenset({"plan", "action", "outcome", "verify", "retry", "blocked"})


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def load_context(
    ledger: Ledger,
    incident_id: str,
    *,
    settings: NotificationSettings,
    classification: Classification | None = None,
) -> IncidentContext:
    """The message context of an incident, read from the ledger (`NotFoundError` if none)."""
    incident = ledger.get_incident(incident_id)
    signals = ledger.signals_for_incident(incident_id)
    actions = ledger.actions_for_incident(incident_id)
    return build_context(
        incident=incident,
        signals=signals,
        transitions=ledger.transitions_for_incident(incident_id),
        plans=ledger.plans_for_incident(incident_id),
        actions=actions,
        verifications={
            a.idempotency_key: ledger.verifications_for_action(a.idempotency_key) for a in actions
        },
        classification=classification or classify(signals),
        settings=settings,
    )


def acknowledge_incident(
    ledger: Ledger,
    incident_id: str,
    *,
    by: str,
    note: str,
    at: datetime,
    settings: NotificationSettings,
) -> tuple[EscalationRecord, bool]:
    """Acknowledge an incident: its escalation stops climbing and the acknowledgement is
    announced to every channel told so far. An incident not escalated yet gets an
    (acknowledged) escalation, so it never climbs. Returns the escalation and whether this
    call changed it. `NotFoundError` for an unknown incident, `ConflictError` for one that
    ended without an escalation, `InvalidRecordError` without ``by``."""
    store = NotificationStore(ledger)
    incident = ledger.get_incident(incident_id)
    if store.get_escalation(incident_id) is None:
        if incident.state is IncidentState.RESOLVED:
            raise ConflictError(f"incident {incident_id} is already resolved")
        classification = classify(ledger.signals_for_incident(incident_id))
        store.start_escalation(
            incident_id,
            policy=select_policy(settings, classification) or "",
            reason="acknowledged before it escalated",
            category=classification.category,
            severity=classification.severity,
            started_at=at,
        )
    return store.acknowledge(incident_id, by=by, note=note, at=at)


@dataclass(frozen=True)
class _Metrics:
    notifications: Counter
    pending: Gauge
    escalations: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> _Metrics:
        return cls(
            notifications=Counter(
                "kubeheal_notifications_total",
                "Delivery attempts of notifications, by channel and outcome (sent, retry, failed).",
                ["channel", "outcome"],
                registry=registry,
            ),
            pending=Gauge(
                "kubeheal_notification_outbox_pending",
                "Notifications recorded but not yet delivered.",
                registry=registry,
            ),
            escalations=Counter(
                "kubeheal_escalations_total",
                "Escalations started, by trigger (escalated, unresolved).",
                ["trigger"],
                registry=registry,
            ),
        )


class NotificationService:
    """Escalation and delivery loops over one ledger (see the module docstring)."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        settings: NotificationSettings,
        clock: Clock,
        http: HttpPoster | None = None,
        mail: MailSender | None = None,
        rand: Callable[[], float] = random.random,
        wall_time: Callable[[], float] | None = None,
        probe: Probe | None = None,
        registry: CollectorRegistry | None = None,
        reconcile_interval: timedelta = timedelta(seconds=30),
        batch: int = 20,
        concurrency: int = 4,
        ledger_in_thread: bool = False,
    ) -> None:
        self.settings = settings
        self.store = NotificationStore(ledger)
        self.clock = clock
        self.rand = rand
        self.probe = probe
        self.reconcile_interval = reconcile_interval
        self.batch = batch
        self._owned_http: HttpSender | None = None
        if http is None:
            http = self._owned_http = HttpSender()
        self.dispatcher = Dispatcher(
            settings=settings,
            http=http,
            mail=mail or SmtpSender(),
            wall_time=wall_time or time.time,
        )
        self._metrics = _Metrics.create(registry or CollectorRegistry())
        self._events: deque[OperatorEvent] = deque(maxlen=10_000)
        self._progress: set[str] = set()
        self._last_reconcile: datetime | None = None
        self._unrouted: set[str] = set()
        self._ledger_in_thread = ledger_in_thread
        self._slots = asyncio.Semaphore(concurrency)
        self._wake_escalation = asyncio.Event()
        self._wake_delivery = asyncio.Event()

    @property
    def ledger(self) -> Ledger:
        """The ledger holding the outbox and the escalations."""
        return self.store.ledger

    # ------------------------------------------------------------------ inputs

    def on_event(self, event: OperatorEvent) -> None:
        """Observer of the operator's events: cheap, never raises, never blocks."""
        if event.incident_id:
            self._events.append(event)
            self._wake_escalation.set()

    def wake(self) -> None:
        """Look at the escalations now (e.g. after an acknowledgement through the API)."""
        self._wake_escalation.set()

    def reloaded(self, new: Settings) -> None:
        """Settings listener of the operator: routes, policies, channels and timings apply
        from the next pass of the loops."""
        self.settings = self.dispatcher.settings = new.notifications

    # ------------------------------------------------------------------ loops

    async def tick(self) -> int:
        """One pass of both loops; return how many notifications were delivered."""
        self.escalate()
        return await self.deliver()

    async def run(self) -> None:
        """Both loops until cancelled; closes the transports it created on the way out."""
        try:
            await asyncio.gather(
                self._loop("escalation", self._escalate_async, self._wake_escalation),
                self._loop("delivery", self.deliver, self._wake_delivery),
            )
        finally:
            await self.aclose()

    async def _escalate_async(self) -> None:
        # A ledger behind a network (PostgreSQL) must not block the event loop.
        if self._ledger_in_thread:
            recorded = await asyncio.to_thread(self.escalate)
        else:
            recorded = self.escalate()
        if recorded:
            self._wake_delivery.set()

    async def _loop(
        self, name: str, step: Callable[[], Awaitable[object]], wake: asyncio.Event
    ) -> None:
        interval = self.settings.poll_interval.total_seconds()
        while True:
            try:
                await step()
            except LedgerError as e:
                log.warning("notification %s loop: ledger error, retrying: %s", name, e)
            except Exception:
                log.exception("notification %s loop failed, retrying", name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=interval)
            wake.clear()

    async def aclose(self) -> None:
        """Close the HTTP connections this service opened."""
        if self._owned_http is not None:
            await self._owned_http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ escalation

    def escalate(self) -> bool:
        """Start, climb, acknowledge and end escalations as of now; record what to send.
        Returns whether notifications were recorded. Thread-safe against `on_event`."""
        now = self.clock()
        self._drain_events()
        if self._last_reconcile is None or now - self._last_reconcile >= self.reconcile_interval:
            self._reconcile(now)
            self._last_reconcile = now
        recorded = False
        for escalation in self.store.open_escalations():
            try:
                recorded |= self._advance(escalation, now)
            except LedgerError as e:
                log.warning("escalation of %s: %s", escalation.incident_id, e)
        self._metrics.pending.set(self.store.count(OutboxState.PENDING))
        return recorded

    def _drain_events(self) -> None:
        while self._events:
            event = self._events.popleft()
            incident_id = event.incident_id
            if event.kind == "escalated":
                self._start(incident_id, trigger="escalated", at=event.at)
            elif event.kind == "resolved":
                if self.store.resolve(incident_id, at=event.at, reason=event.message):
                    log.info("incident %s resolved: ending its escalation", incident_id)
            elif event.kind in _PROGRESS_KINDS:
                self._progress.add(incident_id)

    def _start(self, incident_id: str, *, trigger: str, at: datetime) -> None:
        if incident_id in self._unrouted:
            return
        try:
            signals = self.ledger.signals_for_incident(incident_id)
        except LedgerError as e:
            log.warning("cannot start the escalation of %s: %s", incident_id, e)
            return
        classification = classify(signals)
        policy = select_policy(self.settings, classification)
        if policy is None:
            self._unrouted.add(incident_id)  # decided once: no policy, no repeated log line
            log.info(
                "incident %s (%s, %s): no escalation policy applies",
                incident_id,
                classification.category,
                classification.severity,
            )
            return
        _, created = self.store.start_escalation(
            incident_id,
            policy=policy,
            reason=trigger,
            category=classification.category,
            severity=classification.severity,
            started_at=at,
        )
        if created:
            self._metrics.escalations.labels(trigger=trigger).inc()
            log.info(
                "incident %s: escalation started (%s, policy %s)", incident_id, trigger, policy
            )

    def _reconcile(self, now: datetime) -> None:
        """Catch up with the ledger: incidents unresolved too long, escalations this service
        did not see start (it was not running), incidents that ended meanwhile."""
        settings = self.settings
        if settings.unresolved_after > timedelta(0):
            for incident in self.ledger.incidents_in_progress():
                due = incident.opened_at + settings.unresolved_after
                if due <= now and self.store.get_escalation(incident.id) is None:
                    self._start(incident.id, trigger="unresolved", at=due)
        since = now - settings.lookback
        known = {e.incident_id for e in self.store.escalations_since(since)}
        for incident in self.ledger.list_incidents(since=since, until=now + timedelta(days=1)):
            if incident.state is IncidentState.ESCALATED and incident.id not in known:
                self._start(incident.id, trigger="escalated", at=incident.escalated_at or now)
        for escalation in self.store.open_escalations():
            if escalation.resolved:
                continue
            incident = self.ledger.get_incident(escalation.incident_id)
            if incident.state is IncidentState.RESOLVED:
                resolution = incident.resolution.value if incident.resolution else "resolved"
                self.store.resolve(
                    incident.id, at=incident.resolved_at or now, reason=f"resolved ({resolution})"
                )
            elif (
                incident.state is IncidentState.ESCALATED
                and self.probe is not None
                and self.probe(incident, now) is False
            ):
                quiet = _duration(settings.resolve_quiet_after)
                self.store.resolve(
                    incident.id, at=now, reason=f"the problem has not been observed for {quiet}"
                )

    def _advance(self, escalation: EscalationRecord, now: datetime) -> bool:
        """Do what `plan_step` says is owed; return whether notifications were recorded."""
        incident_id = escalation.incident_id
        levels = levels_of(self.settings, escalation.policy)
        step = plan_step(
            escalation,
            levels=levels,
            now=now,
            progress=incident_id in self._progress,
            min_update_interval=self.settings.min_update_interval,
            max_updates=self.settings.max_updates_per_incident,
        )
        if step.idle:
            return False
        classification = Classification(escalation.category, escalation.severity)
        context = load_context(
            self.ledger, incident_id, settings=self.settings, classification=classification
        )
        recorded = False
        if step.fire:
            batch: list[NewNotification] = []
            for number in step.fire:
                level = levels[number - 1]
                notice = Notice(
                    kind=NotificationKind.LEVEL,
                    context=context,
                    at=now,
                    level=number,
                    levels=len(levels),
                    level_name=level.name,
                )
                batch += self._notifications(notice, f"level-{number}", level.channels)
            if self.store.fire_levels(
                incident_id,
                from_level=escalation.level,
                to_level=step.fire[-1],
                notifications=batch,
                at=now,
            ):
                self._progress.discard(incident_id)
                recorded = bool(batch)
                log.info(
                    "incident %s: escalation level %s reached (%s)",
                    incident_id,
                    step.fire[-1],
                    ", ".join(sorted({n.channel for n in batch})) or "no channel",
                )
        elif step.update:
            since = escalation.last_update_at or escalation.started_at
            if escalation.last_update_at is None and 0 < escalation.level <= len(levels):
                since = level_due_at(escalation, levels, escalation.level)
            fresh = [e.text for e in context.timeline if e.at > since]
            note = "Since the last message: " + ("; ".join(fresh[-5:]) if fresh else "no change")
            notice = Notice(kind=NotificationKind.UPDATE, context=context, at=now, note=note)
            told = sorted(self.store.channels_told(incident_id))
            what = f"update-{escalation.updates + 1}"
            if self.store.record_update(
                incident_id,
                expected_updates=escalation.updates,
                notifications=self._notifications(notice, what, told),
                at=now,
            ):
                self._progress.discard(incident_id)
                recorded = bool(told)
        if step.announce_ack:
            told = sorted(self.store.channels_told(incident_id))
            notice = Notice(
                kind=NotificationKind.ACK,
                context=context,
                at=now,
                by=escalation.acknowledged_by or "",
                note=escalation.ack_note or "",
            )
            recorded |= self.store.announce_ack(
                incident_id, notifications=self._notifications(notice, "ack", told), at=now
            ) and bool(told)
            log.info("incident %s acknowledged by %s", incident_id, escalation.acknowledged_by)
        if step.announce_resolution:
            told = sorted(self.store.channels_told(incident_id))
            ended = escalation.resolved_at or now
            lasted = _duration(ended - context.opened_at)
            note = f"{escalation.resolve_reason or 'resolved'} (after {lasted}"
            if escalation.acknowledged_by:
                note += f"; acknowledged by {escalation.acknowledged_by}"
            note += ")"
            notice = Notice(kind=NotificationKind.RESOLVE, context=context, at=now, note=note)
            recorded |= self.store.announce_resolution(
                incident_id, notifications=self._notifications(notice, "resolve", told), at=now
            ) and bool(told)
            self._progress.discard(incident_id)
        return recorded

    def _notifications(
        self, notice: Notice, what: str, channels: Sequence[str]
    ) -> list[NewNotification]:
        out: list[NewNotification] = []
        for name in channels:
            channel = self.settings.channels.get(name)
            if channel is None:
                log.warning("channel %s is no longer configured: not notified", name)
                continue
            incident_id = notice.context.incident_id
            key = f"{incident_id}:{what}:{name}"
            body: JSONObject = {}
            failed: str | None = None
            try:
                body = render(channel.type, notice, key=key)
            except Exception as e:  # noqa: BLE001 - one bad message must not stop the escalation
                # Rendering is pure: the same notice fails the same way every time, so it is
                # recorded as failed (with why) rather than retried or left to block the climb.
                failed = f"the message cannot be rendered: {type(e).__name__}: {e}"
                log.error("notification %s: %s", key, failed)  # noqa: TRY400
                self._metrics.notifications.labels(channel=name, outcome="failed").inc()
            out.append(
                envelope(
                    incident_id=incident_id,
                    what=what,
                    channel=name,
                    channel_type=channel.type,
                    kind=notice.kind,
                    body=body,
                    failed=failed,
                )
            )
        return out

    # ------------------------------------------------------------------ delivery

    async def deliver(self) -> int:
        """Send every due item once (in parallel across incidents and channels); return how
        many the receivers accepted."""
        now = self.clock()
        items = self.store.due(now, limit=self.batch)
        if not items:
            return 0
        results = await asyncio.gather(*(self._deliver_one(item, now) for item in items))
        self._metrics.pending.set(self.store.count(OutboxState.PENDING))
        return sum(results)

    async def _deliver_one(self, item: OutboxItem, now: datetime) -> bool:
        settings = self.settings
        if now - item.created_at >= settings.give_up_after:
            error = f"undelivered for {_duration(now - item.created_at)}: {item.last_error or ''}"
            if self.store.mark_failed(item.key, at=now, error=error):
                self._metrics.notifications.labels(channel=item.channel, outcome="failed").inc()
                log.error("notification %s given up: %s", item.key, error)
            return False
        async with self._slots:
            claimed = self.store.claim(item, until=self.clock() + settings.claim_timeout)
            if claimed is None:
                return False
            secrets = self.dispatcher.secrets()
            try:
                await self.dispatcher.deliver(claimed)
            except TemporaryDeliveryError as e:
                error = redact(str(e), secrets)
                at = retry_at(
                    self.clock(),
                    claimed.attempts,
                    initial=settings.retry_initial,
                    maximum=settings.retry_max,
                    rand=self.rand(),
                    retry_after=e.retry_after,
                )
                self.store.mark_retry(item.key, next_attempt_at=at, error=error)
                self._metrics.notifications.labels(channel=item.channel, outcome="retry").inc()
                log.warning(
                    "notification %s (attempt %d) failed, retrying at %s: %s",
                    item.key,
                    claimed.attempts,
                    at.isoformat(timespec="seconds"),
                    error,
                )
                return False
            except PermanentDeliveryError as e:
                error = redact(str(e), secrets)
                self.store.mark_failed(item.key, at=self.clock(), error=error)
                self._metrics.notifications.labels(channel=item.channel, outcome="failed").inc()
                log.error("notification %s refused, not retried: %s", item.key, error)  # noqa: TRY400
                return False
            except Exception as e:  # noqa: BLE001 - a bug must not stop the loop or leak secrets
                error = redact(f"{type(e).__name__}: {e}", secrets)
                if claimed.attempts >= _UNEXPECTED_ATTEMPTS:
                    # A bug that repeats would otherwise be retried until give_up_after.
                    self.store.mark_failed(item.key, at=self.clock(), error=error)
                    self._metrics.notifications.labels(channel=item.channel, outcome="failed").inc()
                    log.error(  # noqa: TRY400 - the error (secrets masked) says it all
                        "notification %s: unexpected error at attempt %d, given up: %s",
                        item.key,
                        claimed.attempts,
                        error,
                    )
                    return False
                at = retry_at(
                    self.clock(),
                    claimed.attempts,
                    initial=settings.retry_initial,
                    maximum=settings.retry_max,
                    rand=self.rand(),
                )
                self.store.mark_retry(item.key, next_attempt_at=at, error=error)
                log.error("notification %s: unexpected error, retrying: %s", item.key, error)  # noqa: TRY400
                return False
        self.store.mark_sent(item.key, at=self.clock())
        self._metrics.notifications.labels(channel=item.channel, outcome="sent").inc()
        log.info("notification %s sent (attempt %d)", item.key, claimed.attempts)
        return True


class Observed(Protocol):
    """What `operator_probe` reads (`kubeheal.runtime.targets.TargetBoard`, or the operator)."""

    @property
    def started(self) -> asyncio.Event: ...

    def now(self) -> datetime: ...

    def last_seen(self, target: Target) -> tuple[datetime | None, str | None]: ...


def operator_probe(operator: Observed, *, quiet: timedelta) -> Probe:
    """Whether the operator still observes the problem of an escalated incident: it counts as
    gone once the target sent no signal for ``quiet``, or a newer incident was opened for it
    (the operator only re-opens after the problem went quiet). A target the operator has not
    seen since it started counts as gone only after ``quiet`` of uptime."""
    started = operator.now()

    def probe(incident: IncidentRecord, now: datetime) -> bool | None:
        if not operator.started.is_set():
            return None
        try:
            target = Target(
                kind=TargetKind(incident.target.kind),
                namespace=incident.target.namespace,
                name=incident.target.name,
            )
        except ValueError:
            return None
        last_seen, current = operator.last_seen(target)
        if last_seen is None:
            return None if now - started < quiet else False
        if current is not None and current != incident.id:
            return False
        return now - last_seen < quiet

    return probe


def notification_service(
    settings: NotificationSettings,
    ledger: Ledger,
    *,
    observed: Observed,
    registry: CollectorRegistry,
    ledger_in_thread: bool = False,
    http: HttpPoster | None = None,
    mail: MailSender | None = None,
) -> NotificationService | None:
    """The notification service of an operator (``None`` when no channel is configured),
    for `kubeheal.runtime.assembly` to wire in: its ``on_event`` observes the operator,
    `reloaded` follows settings reloads and ``run`` goes among the operator's tasks."""
    if not settings.channels:
        return None
    for name, channel in sorted(settings.channels.items()):
        for secret in channel.missing_secrets():
            log.warning("notification channel %s has no %s: it cannot be notified", name, secret)
    service = NotificationService(
        ledger=ledger,
        settings=settings,
        clock=observed.now,
        http=http,
        mail=mail,
        probe=operator_probe(observed, quiet=settings.resolve_quiet_after),
        registry=registry,
        ledger_in_thread=ledger_in_thread,
    )
    log.info(
        "notifications: %d channel(s), %d polic(y/ies)",
        len(settings.channels),
        len(settings.policies),
    )
    return service

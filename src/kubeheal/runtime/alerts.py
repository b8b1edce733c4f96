"""The alert consumer: the webhook's durable inbox -> signals for the operator.

::

    webhook ──commit──> alert_inbox (ledger)
       └──offer(rows)──> AlertConsumer.run    (rows not offered are read from the inbox)
                           │ rows in arrival order (seq)
                           ├─ firing   -> alert_signal -> Operator.submit
                           ├─ resolved -> the target's firing set shrinks;
                           │              empty -> Operator.revisit
                           └─ mark processed (one transaction per quiet moment)

The consumer keeps, per target, which alerts (by fingerprint) fire. The operator asks it
(`AlertConsumer.firing`) whether an alert-sourced incident's alerts still fire: a resolved
notification is what verifies a remediation whose playbook checks ``alert_resolved``, and
an alert that keeps firing keeps its incident's signals active however long ago it arrived.

Restart safety: rows are marked processed only after their signals were handed over (in
batches: after 0.1 s without new rows, at the latest after 1 s or 2,000 rows), and on start
the consumer re-submits every alert the inbox says still fires (the operator's in-memory
state died with the old process; the ledger resumes the incidents). A row handled but not
yet marked when the process dies is handled again: at least once, never lost. Until the
recovery has run (it waits for the operator's caches to sync, so that a pod label resolves
to its workload) `firing` answers None: unknown, never "resolved".

Alerts that name no target kubeheal can act on are recorded in the inbox, counted
(``kubeheal_alerts_untargeted_total``) and open nothing; so are alerts whose object-naming
labels are not valid Kubernetes names (``kubeheal_alerts_invalid_target_total{label}``, one
warning naming the label, its value escaped). Many alerts about one target (a
storm) become signals of that target only: the operator groups them into one incident.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import msgspec
from prometheus_client import CollectorRegistry, Counter, Gauge

from kubeheal.engine.detect import alert_signal, invalid_alert_label
from kubeheal.model.core import Signal, Target
from kubeheal.model.names import shown
from kubeheal.runtime.signals import SignalSink
from kubeheal.store import LedgerError
from kubeheal.store.inbox import AlertInbox, InboxRow

__all__ = ["AlertConsumer", "AlertMetrics", "AlertSink"]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class AlertSink(SignalSink, Protocol):
    """What the consumer needs from the operator beyond a `SignalSink`."""

    @property
    def started(self) -> asyncio.Event:
        """Set once the caches have synced."""
        ...

    @property
    def leader(self) -> asyncio.Event | None:
        """Set while this replica leads (None: no leader election, always act)."""
        ...

    def revisit(self, target: Target) -> None:
        """Look at the target's incident again soon (its alerts resolved)."""
        ...


class AlertMetrics:
    """Counters of the consumer, registered in the operator's registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry
        self.processed = Counter(
            "kubeheal_alerts_processed_total",
            "Inbox alerts turned into signals or firing-state changes, by status.",
            ["status"],
            registry=r,
        )
        self.untargeted = Counter(
            "kubeheal_alerts_untargeted_total",
            "Firing alerts naming no workload or node kubeheal can act on.",
            registry=r,
        )
        self.invalid = Counter(
            "kubeheal_alerts_invalid_target_total",
            "Firing alerts refused because a label naming an object is not a valid Kubernetes "
            "name (path traversal, control characters), by label.",
            ["label"],
            registry=r,
        )
        self.firing = Gauge(
            "kubeheal_alerts_firing", "Alerts currently firing about a known target.", registry=r
        )
        self._by_status = {
            "firing": self.processed.labels(status="firing"),
            "resolved": self.processed.labels(status="resolved"),
        }

    def counted(self, status: str) -> Counter:
        """The processed counter of ``status``."""
        return self._by_status.get(status) or self.processed.labels(status=status)


@dataclass
class _Episode:
    """The latest known episode of one fingerprint."""

    starts_at: datetime
    firing: bool
    target: Target | None


@dataclass
class _State:
    episodes: dict[str, _Episode] = field(default_factory=dict)
    firing: dict[Target, set[str]] = field(default_factory=dict)


_RECENT = 100_000
"""Sequence numbers of handled rows remembered, so a row both offered and read back from the
database is handled once."""


def _alertname(row: InboxRow) -> str:
    return row.labels.get("alertname", "")


class AlertConsumer:
    """Drains the inbox into the operator; see the module docstring."""

    def __init__(
        self,
        *,
        inbox: AlertInbox,
        sink: AlertSink,
        metrics: AlertMetrics | None = None,
        batch_size: int = 500,
        idle_wait: float = 2.0,
        retention: timedelta = timedelta(hours=24),
        wall: Clock = lambda: datetime.now(tz=UTC),
        mark_delay: float = 0.1,
        mark_max_age: float = 1.0,
        mark_batch: int = 2000,
    ) -> None:
        self.inbox = inbox
        self.sink = sink
        self.metrics = metrics or AlertMetrics()
        self.batch_size = batch_size
        self.idle_wait = idle_wait
        """Seconds between looks at the inbox when nobody wakes the consumer (rows written
        by another replica)."""
        self.retention = retention
        self.wall = wall
        """Wall clock of the inbox's timestamps (received_at, processed_at)."""
        self.mark_delay = mark_delay
        """Quiet seconds after which handled rows are marked processed (one transaction)."""
        self.mark_max_age = mark_max_age
        self.mark_batch = mark_batch
        """Handled rows are marked at the latest after this long, or this many."""
        self._state = _State()
        self._wake = asyncio.Event()
        self._recovered = False
        self._offered: deque[InboxRow] = deque()
        self._recent: dict[int, None] = {}
        self._unmarked: list[int] = []
        self._unmarked_since: float | None = None
        self.processed = 0
        """Rows processed since start (for tests and benchmarks)."""

    # -- what the operator asks

    def firing(self, target: Target) -> bool | None:
        """Whether an alert about ``target`` fires; None until the start-up recovery ran."""
        if not self._recovered:
            return None
        return bool(self._state.firing.get(target))

    def firing_alerts(self, target: Target) -> frozenset[str]:
        """Fingerprints of the alerts firing about ``target``."""
        return frozenset(self._state.firing.get(target, ()))

    @property
    def recovered(self) -> bool:
        """Whether the start-up recovery has run."""
        return self._recovered

    def wake(self) -> None:
        """New rows were committed: look now (call from the event loop)."""
        self._wake.set()

    def offer(self, rows: Sequence[InboxRow]) -> None:
        """Rows the webhook has just committed, handed over so they need not be read back
        (call from the event loop). The database stays the reference: rows not offered
        (another process, a lost offer) are found there."""
        self._offered.extend(rows)
        self._wake.set()

    # -- the loop

    async def run(self) -> None:
        """Recover, then drain the inbox for ever (cancel to stop).

        With leader election only the leader consumes: a standby's webhook still stores what
        it receives, and the leader finds those rows in the database (within ``idle_wait``).
        """
        await self.sink.started.wait()
        leader = self.sink.leader
        while leader is not None and not leader.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(leader.wait(), timeout=self.idle_wait)
            # The leader marks rows processed: keep this replica's view of the backlog (for
            # its webhook's 503 decision) current.
            with contextlib.suppress(LedgerError):
                self.inbox.refresh_pending_count()
        await self.recover()
        last_prune = 0.0
        loop = asyncio.get_running_loop()
        try:
            while True:
                # Cleared before looking: a commit after the look sets it again (one thread).
                self._wake.clear()
                try:
                    if self._offered:
                        self._process(self._take_offered())
                        if self._marks_due():
                            self.flush_marks()
                        await asyncio.sleep(0)  # let the operator's workers in
                        continue
                    if self._unmarked and not self._marks_due():
                        # More rows may be on their way: record progress after a short quiet.
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), timeout=self.mark_delay)
                            continue
                    done = await self.drain_once()
                except LedgerError as e:
                    log.warning("alert inbox unreadable, retrying: %s", e)
                    done = 0
                    await asyncio.sleep(1.0)
                if loop.time() - last_prune > 600:
                    last_prune = loop.time()
                    await self._prune()
                if done:
                    await asyncio.sleep(0)
                    continue
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.idle_wait)
                except TimeoutError:
                    try:
                        self.inbox.refresh_pending_count()
                    except LedgerError as e:
                        log.warning("alert inbox unreadable, retrying: %s", e)
        finally:
            # Stopping: record what was handled (what is not recorded is handled again).
            with contextlib.suppress(LedgerError):
                self.flush_marks()

    async def recover(self) -> None:
        """Re-submit what the inbox says still fires (after a restart: see the docstring)."""
        rows = self.inbox.still_firing()
        signals = self._apply(rows, resubmit=True)
        self._recovered = True
        if signals:
            log.info("re-submitting %d alert signal(s) still firing after a restart", len(signals))
            self.sink.submit(signals)
        self.metrics.firing.set(sum(len(v) for v in self._state.firing.values()))

    async def drain_once(self) -> int:
        """Process the offered rows, or else one batch of unprocessed rows read from the
        database; record them processed. Returns how many rows were new."""
        if self._offered:
            done = self._process(self._take_offered())
        else:
            self.flush_marks()
            done = self._process(self.inbox.pending(limit=self.batch_size))
        self.flush_marks()
        return done

    def flush_marks(self) -> None:
        """Mark the handled rows processed, in one transaction (raises `LedgerError`)."""
        if not self._unmarked:
            return
        self.inbox.mark_processed(self._unmarked, at=self.wall())
        self._unmarked = []
        self._unmarked_since = None

    def _marks_due(self) -> bool:
        if not self._unmarked or self._unmarked_since is None:
            return False
        age = asyncio.get_running_loop().time() - self._unmarked_since
        return len(self._unmarked) >= self.mark_batch or age >= self.mark_max_age

    def _take_offered(self) -> list[InboxRow]:
        offered = self._offered
        return [offered.popleft() for _ in range(min(len(offered), self.batch_size))]

    def _process(self, rows: Sequence[InboxRow]) -> int:
        recent = self._recent
        fresh = [r for r in rows if r.seq not in recent]
        if not fresh:
            return 0
        for row in fresh:
            recent[row.seq] = None
        while len(recent) > _RECENT:
            del recent[next(iter(recent))]
        revisit: set[Target] = set()
        signals = self._apply(fresh, revisit=revisit)
        if signals:
            self.sink.submit(signals)
        for target in sorted(revisit):
            self.sink.revisit(target)
        if self._unmarked_since is None:
            self._unmarked_since = asyncio.get_running_loop().time()
        self._unmarked.extend(r.seq for r in fresh)
        self.processed += len(fresh)
        self.metrics.firing.set(sum(len(v) for v in self._state.firing.values()))
        return len(fresh)

    async def _prune(self) -> None:
        try:
            gone = self.inbox.prune(before=self.wall() - self.retention)
        except LedgerError as e:
            log.warning("pruning the alert inbox failed: %s", e)
            return
        if gone:
            log.info("pruned %d processed alert(s) from the inbox", gone)
        cutoff = self.wall() - self.retention
        episodes = self._state.episodes
        stale = [f for f, e in episodes.items() if not e.firing and e.starts_at < cutoff]
        for fingerprint in stale:
            del episodes[fingerprint]

    # -- turning rows into state and signals

    def _apply(
        self,
        rows: Iterable[InboxRow],
        *,
        revisit: set[Target] | None = None,
        resubmit: bool = False,
    ) -> list[Signal]:
        by_id: dict[str, Signal] = {}
        view = self.sink.view
        now = self.sink.now()
        state = self._state
        for row in rows:
            known = state.episodes.get(row.fingerprint)
            self.metrics.counted(row.status).inc()
            if row.status == "firing":
                if known is not None and (
                    known.starts_at > row.starts_at
                    or (known.starts_at == row.starts_at and not known.firing)
                ):
                    continue  # an older episode, or one already resolved: stale
                signal = alert_signal(
                    alertname=_alertname(row), labels=row.labels, observed_at=now, view=view
                )
                target = signal.target if signal is not None else None
                if known is not None and known.firing and known.target not in (None, target):
                    assert known.target is not None
                    self._forget(row.fingerprint, known.target, revisit)
                state.episodes[row.fingerprint] = _Episode(
                    starts_at=row.starts_at, firing=True, target=target
                )
                if signal is None:
                    invalid = invalid_alert_label(row.labels)
                    if invalid is not None and not resubmit:
                        self.metrics.invalid.labels(label=invalid.label).inc()
                        log.warning(
                            "alert %s (%s) refused: %s; recorded, not acted on",
                            shown(_alertname(row) or "?"),
                            row.fingerprint,
                            invalid,
                        )
                    elif not resubmit:
                        self.metrics.untargeted.inc()
                        log.info(
                            "alert %s (%s) names no workload or node: recorded, not acted on",
                            _alertname(row) or "?",
                            row.fingerprint,
                        )
                    continue
                state.firing.setdefault(signal.target, set()).add(row.fingerprint)
                details = {
                    **signal.details,
                    "fingerprint": row.fingerprint,
                    "starts_at": row.starts_at.isoformat(),
                    "received_at": row.received_at.isoformat(),
                }
                by_id[signal.id] = msgspec.structs.replace(signal, details=details)
            else:
                if known is not None and known.starts_at > row.starts_at:
                    continue  # resolves an episode already superseded
                target = known.target if known is not None else None
                if known is None:
                    mapped = alert_signal(
                        alertname=_alertname(row), labels=row.labels, observed_at=now, view=view
                    )
                    target = mapped.target if mapped is not None else None
                state.episodes[row.fingerprint] = _Episode(
                    starts_at=row.starts_at, firing=False, target=target
                )
                if target is not None:
                    self._forget(row.fingerprint, target, revisit)
        return list(by_id.values())

    def _forget(self, fingerprint: str, target: Target, revisit: set[Target] | None) -> None:
        firing = self._state.firing.get(target)
        if firing is None:
            return
        firing.discard(fingerprint)
        if not firing:
            del self._state.firing[target]
            if revisit is not None:
                revisit.add(target)

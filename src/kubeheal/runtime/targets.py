"""Targets: what the operator holds per target, the dirty set, and one worker per target.

Signals (from the watch, alerts, anomaly, SLO or right-sizing sources) are handed to
`TargetBoard.submit`: they wait in their target's ``pending`` map and mark it dirty. The
dispatcher starts one worker per dirty target (never two at once for one target: one pod is
never remediated twice at the same time; different targets run in parallel, at most
``max_parallel`` of them), and the worker advances the target's incident
(`kubeheal.runtime.incident_flow`) until the target is clean again.

`TargetBoard.settled` is the "nothing left to do" signal: no target is dirty or in flight.

The board, with the cluster cache it shares with the operator, is what every signal source
feeds (`kubeheal.runtime.signals.SignalSink`): it exists before the operator and the sources
are built, so each is given the other at construction (`kubeheal.runtime.assembly`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kubeheal.clients.kube import KubeError
from kubeheal.engine import verify
from kubeheal.engine.plan import ActionPlan
from kubeheal.model.cluster import LiveClusterView
from kubeheal.model.core import Incident, Signal, Target
from kubeheal.runtime.metrics import OperatorMetrics
from kubeheal.runtime.tasks import Tasks
from kubeheal.store import LedgerError

__all__ = ["TargetBoard", "TargetState", "Verification"]

log = logging.getLogger(__name__)


@dataclass
class Verification:
    """An action being verified: its plan, since when, and the verifier's state."""

    plan: ActionPlan
    started_at: datetime
    baseline: verify.Baseline
    state: verify.VerifyState | None = None


@dataclass
class TargetState:
    """Everything the operator holds about one target between two steps."""

    incident: Incident | None = None
    pending: dict[str, Signal] = field(default_factory=dict)
    last_seen: datetime | None = None
    verification: Verification | None = None
    last_noaction: tuple[str, ...] = ()
    last_seen_wall: float | None = None
    """Monotonic wall time of the last signal (sweeps are paced in wall seconds)."""
    escalated_ongoing: bool = False
    """The last incident was escalated and its problem has not gone quiet since: signals
    are the same problem, not a new incident (no re-open storm while humans look at it)."""
    awaiting_next_step: bool = False
    """Verification failed and the next step was not allowed yet (e.g. cooldown): decide
    again instead of verifying the old action over and over."""


class TargetBoard:
    """Per-target state, the dirty set, and the workers that clean it (see the module doc)."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime],
        metrics: OperatorMetrics,
        quiet_period: timedelta,
        max_parallel: int,
        leader: asyncio.Event | None = None,
    ) -> None:
        self.now = clock
        self.metrics = metrics
        self.quiet_period = quiet_period
        self.view = LiveClusterView()
        """The operator's cluster cache (sources resolve a pod label to its workload)."""
        self.started = asyncio.Event()
        """Set once the operator's caches have synced."""
        self.leader = leader
        """Set while this replica leads (None: no leader election, always act)."""
        self.states: dict[Target, TargetState] = {}
        self.dirty: set[Target] = set()
        self.running: set[Target] = set()
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()
        self._slots = asyncio.Semaphore(max_parallel)

    # -- intake

    def submit(self, signals: Iterable[Signal]) -> None:
        """Hand signals to their targets (each marks its target dirty)."""
        now = self.now()
        for signal in signals:
            state = self.states.setdefault(signal.target, TargetState())
            if (
                state.escalated_ongoing
                and state.last_seen is not None
                and now - state.last_seen >= self.quiet_period
            ):
                state.escalated_ongoing = False  # it went quiet: a new signal is a new problem
            known = state.pending.get(signal.id)
            if known is None:
                self.metrics.signals.labels(kind=signal.kind.value).inc()
            state.pending[signal.id] = signal
            state.last_seen = now
            state.last_seen_wall = time.monotonic()
            self.dirty.add(signal.target)
        self.metrics.queue_depth.set(len(self.dirty))
        self._wake.set()

    def mark_dirty(self, target: Target) -> None:
        self.dirty.add(target)
        self._wake.set()

    def revisit(self, target: Target) -> None:
        """Advance the target's incident soon (e.g. its alerts resolved), not at the next sweep."""
        if target in self.states:
            self.mark_dirty(target)

    def revisit_open(self) -> None:
        """Mark every target with an incident in progress dirty (a sweep)."""
        for target, state in self.states.items():
            if state.incident is not None and not state.incident.state.closed:
                self.dirty.add(target)
        self._wake.set()

    # -- reading

    def open_incidents(self) -> list[Incident]:
        """Incidents not yet resolved or escalated, by target."""
        return [
            s.incident
            for _, s in sorted(self.states.items())
            if s.incident is not None and not s.incident.state.closed
        ]

    def incident_id(self, target: Target) -> str:
        state = self.states.get(target)
        return state.incident.id if state is not None and state.incident is not None else ""

    def last_seen(self, target: Target) -> tuple[datetime | None, str | None]:
        """When a signal about ``target`` was last seen (cluster time), and the id of the
        incident held for it, if any."""
        state = self.states.get(target)
        if state is None:
            return None, None
        return state.last_seen, state.incident.id if state.incident is not None else None

    def update_open_gauge(self) -> None:
        self.metrics.open_incidents.set(len(self.open_incidents()))

    # -- workers

    async def dispatch(
        self,
        tasks: Tasks,
        advance: Callable[[Target], Awaitable[None]],
        may_work: Callable[[], bool],
    ) -> None:
        """Start a worker for every dirty target not in flight, for ever (cancel to stop)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            for target in sorted(self.dirty - self.running):
                self.running.add(target)
                tasks.spawn(f"target/{target.key}", self._work(target, advance, may_work))
            self._changed.set()

    async def _work(
        self,
        target: Target,
        advance: Callable[[Target], Awaitable[None]],
        may_work: Callable[[], bool],
    ) -> None:
        try:
            async with self._slots:
                while target in self.dirty and may_work():
                    self.dirty.discard(target)
                    self.metrics.queue_depth.set(len(self.dirty))
                    try:
                        await advance(target)
                    except KubeError as e:
                        log.warning("target %s: API error, will retry: %s", target.key, e)
                    except LedgerError as e:
                        # Nothing is written to the cluster before the ledger has recorded it:
                        # the step stopped at the failed write and the next sweep retries it.
                        log.error(  # noqa: TRY400 - the error says what failed; no traceback
                            "target %s: the ledger cannot be written (%s: %s); no action taken, "
                            "will retry", target.key, type(e).__name__, e,
                        )  # fmt: skip
                    except Exception:
                        log.exception("target %s: unexpected failure", target.key)
        finally:
            self.running.discard(target)
            if target in self.dirty and may_work():
                self._wake.set()
            self._changed.set()

    def idle(self, may_work: Callable[[], bool]) -> bool:
        """No target in flight, and none dirty that a worker could take now."""
        return not self.running and not (self.dirty and may_work())

    async def settled(self, may_work: Callable[[], bool]) -> None:
        """Return once `idle` holds (waits on the board's changes, never on a timer)."""
        while not self.idle(may_work):
            self._changed.clear()
            if self.idle(may_work):
                break
            await self._changed.wait()

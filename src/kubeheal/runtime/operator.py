"""The operator: watch -> detect -> incident -> decide -> act -> verify -> resolve | escalate.

Wiring only; every decision is made by the pure engine. The rooms:

1. Intake (`kubeheal.runtime.intake`): reflectors keep a `LiveClusterView` current (paged
   lists, watches, re-list after 410); each cache event runs the detector of the object it
   touched, and a periodic sweep runs all of them (time-based signals such as "not ready for
   5 minutes" need no event), refreshes the kill switch and revisits every open incident.
2. Targets (`kubeheal.runtime.targets`): signals mark their target dirty; one worker per
   target (never two at once: one pod is never remediated twice at the same time), different
   targets in parallel.
3. The incident flow (`kubeheal.runtime.incident_flow`): the worker folds the signals into
   the target's incident and advances it: decide, record the plan, write the idempotency
   key, act, record the outcome, verify, resolve or escalate. Every transition goes to the
   ledger first, so a restarted or failed-over operator resumes each incident where it
   stopped and never repeats an action.

The operator is assembled with its alert consumer, notifications, sources and health by
`kubeheal.runtime.assembly`.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kubeheal.actions.cluster import ClusterWriter, cluster_writer, read_config_map
from kubeheal.clients.kube import KubeConnection
from kubeheal.clients.reflector import CacheEvent, Reflector, resource_path
from kubeheal.config import Settings
from kubeheal.engine.playbooks import PlaybookSet
from kubeheal.model.cluster import Compactor, LiveClusterView
from kubeheal.model.core import Incident, Signal, Target
from kubeheal.model.history import ErrorBudget, KillSwitch
from kubeheal.runtime import intake
from kubeheal.runtime.clock import OperatorClock
from kubeheal.runtime.incident_flow import IncidentFlow
from kubeheal.runtime.kill_switch import KillSwitchReader
from kubeheal.runtime.metrics import OperatorMetrics
from kubeheal.runtime.observers import Observer, OperatorEvent, compose
from kubeheal.runtime.targets import TargetBoard
from kubeheal.runtime.tasks import Tasks
from kubeheal.store import Ledger, LedgerError

__all__ = ["Operator", "OperatorEvent", "OperatorOptions"]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    return datetime.now(tz=UTC)


@dataclass(frozen=True)
class OperatorOptions:
    """Runtime knobs that are not policy (policy lives in Settings)."""

    sweep_interval: float = 5.0
    """Wall seconds between full detection sweeps (time-based signals, verification)."""
    quiet_period: timedelta = timedelta(minutes=2)
    """An open incident whose signals are gone this long without any action is closed."""
    ledger_in_thread: bool = False
    """Run ledger calls in worker threads (for a ledger behind a network, e.g. PostgreSQL)."""
    max_parallel_targets: int = 16
    """Targets remediated concurrently (each target by one worker at a time)."""
    page_size: int = 500


class Operator:
    """One operator instance: sources, engine, actions, ledger. See the module docstring."""

    def __init__(
        self,
        *,
        connection: KubeConnection,
        ledger: Ledger,
        settings: Settings,
        playbooks: PlaybookSet,
        metrics: OperatorMetrics | None = None,
        clock: Clock = wall_clock,
        options: OperatorOptions | None = None,
        writer: ClusterWriter | None = None,
        on_event: Observer | None = None,
        reload_playbooks: Callable[[], PlaybookSet | None] | None = None,
        leader: asyncio.Event | None = None,
        alert_firing: Callable[[Target], bool | None] | None = None,
        error_budgets: Callable[[], tuple[ErrorBudget, ...]] | None = None,
        board: TargetBoard | None = None,
        tasks: Tasks | None = None,
        settings_listeners: Iterable[Callable[[Settings], None]] = (),
    ) -> None:
        """``alert_firing``: whether an alert about a target still fires (the alert
        consumer's); ``error_budgets``: the SLO source's budget facts; ``board``: the targets
        the sources feed, and ``tasks`` the ones they run in, when built before the operator
        (`kubeheal.runtime.assembly`)."""
        self.connection = connection
        self.leader = leader
        """Set while this replica leads (`kubeheal.runtime.leader`); None: always act."""
        self.ledger = ledger
        self.settings = settings
        self.playbooks = playbooks
        self.reload_playbooks = reload_playbooks
        self.playbook_error = ""
        self.settings_error = ""
        """Why the last settings reload was refused (empty: it was applied)."""
        self.settings_listeners: list[Callable[[Settings], None]] = list(settings_listeners)
        """Called with the new settings by `update_settings` (e.g. notifications)."""
        self.draining = False
        """Set by `stop`: no new incident work starts; steps in flight finish."""
        self.metrics = metrics or OperatorMetrics()
        self.now = clock
        self.clock = clock if isinstance(clock, OperatorClock) else OperatorClock(now=clock)
        """``clock`` with its pace: waits in cluster seconds (retries, a drain's back-off and
        timeout) run ``clock.speed`` times faster than the wall (`kubeheal.runtime.clock`)."""
        self.options = options or OperatorOptions()
        self.writer = writer or cluster_writer(connection)
        self.on_event = on_event
        self.targets = (
            board
            if board is not None
            else TargetBoard(
                clock=clock,
                metrics=self.metrics,
                quiet_period=self.options.quiet_period,
                max_parallel=self.options.max_parallel_targets,
                leader=leader,
            )
        )
        self.view: LiveClusterView = self.targets.view
        self.started = self.targets.started
        self.compactor = Compactor()
        self.tasks = tasks if tasks is not None else Tasks()  # (an empty Tasks is falsy)
        self.reflectors: dict[str, Reflector[Any]] = {}
        self.flow = IncidentFlow(
            host=self,
            board=self.targets,
            view=self.view,
            ledger=ledger,
            writer=self.writer,
            metrics=self.metrics,
            tasks=self.tasks,
            quiet_period=self.options.quiet_period,
            sweep_interval=self.options.sweep_interval,
            clock=self.clock,
            ledger_in_thread=self.options.ledger_in_thread,
            alert_firing=alert_firing,
            error_budgets=error_budgets,
        )
        self._http = connection.http_client(timeout=30.0)
        self._kill_switch = KillSwitchReader(
            read=functools.partial(read_config_map, self.writer), metrics=self.metrics, clock=clock
        )
        self._dispatching = False
        self.sweeps = 0
        """Sweeps completed since start (`settled` can wait for some)."""
        self._swept = asyncio.Event()
        self.event_count = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Resume unfinished incidents from the ledger, start the reflectors and the loops.

        With a ``leader`` event, a standby keeps its caches warm and waits; it resumes from
        the ledger and starts acting only once the event is set.
        """
        if self.leader is None:
            await self.flow.db(self.flow.resume_from_ledger)
        for watched in intake.WATCHED:
            name = watched.resource
            reflector: Reflector[Any] = Reflector(
                http=self._http,
                path=resource_path(watched.group, watched.version, name),
                item_type=watched.item_type,
                handler=self._handler(name),
                page_size=self.options.page_size,
                transform=watched.compaction(self.compactor) if watched.compaction else None,
            )
            self.reflectors[name] = reflector
            self.tasks.spawn(f"reflector/{name}", reflector.run())
            if name != "pods":
                # Owners first, so the owner chain of every pod resolves on the first pass.
                await reflector.synced.wait()
        await self.reflectors["pods"].synced.wait()
        # The cache is long-lived: keep the cycle collector from rescanning it (a full
        # collection over a 150,000-pod heap would stall the event loop for a tenth of a second).
        gc.freeze()
        if self.leader is not None:
            self.started.set()
            self.tasks.spawn("leadership", self._lead(self.leader))
            return
        await self._begin_acting()

    async def _lead(self, leader: asyncio.Event) -> None:
        await leader.wait()
        log.info("leading: resuming incidents from the ledger")
        await self.flow.db(self.flow.resume_from_ledger)
        await self._begin_acting()

    async def _begin_acting(self) -> None:
        await self._refresh_kill_switch()  # before the first decision, not after it
        self.tasks.spawn(
            "dispatcher", self.targets.dispatch(self.tasks, self.flow.advance, self._may_work)
        )
        self._dispatching = True
        self.started.set()
        await self.sweep()
        self.tasks.spawn("sweeper", self._sweep_loop())

    @property
    def acting(self) -> bool:
        """False on a replica that does not (or no longer) lead: it must not plan or act."""
        return self.leader is None or self.leader.is_set()

    def _may_work(self) -> bool:
        return self.acting and not self.draining

    def update_settings(self, settings: Settings) -> None:
        """Use ``settings`` from the next decision on (a reload; see
        `kubeheal.runtime.reload` for the parts that may change while running)."""
        self.settings = settings
        for listener in self.settings_listeners:
            try:
                listener(settings)
            except Exception:
                log.exception("settings listener failed")

    async def stop(self, *, drain: float = 10.0) -> None:
        """Stop gracefully: start no new incident work, let the steps in flight finish (at
        most ``drain`` seconds), then cancel every task. A step cancelled mid-action leaves
        its action pending in the ledger, for the next leader to resume."""
        self.draining = True
        deadline = time.monotonic() + drain
        # A replica that lost leadership hands its work back at once: the new leader resumes it.
        running = self.targets.running
        while running and self.acting and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if running:
            log.warning("stopping with %d target(s) still in flight", len(running))
        await self.tasks.stop()
        await self._http.aclose()
        await self.writer.aclose()

    async def settled(self, *, sweeps: int = 0) -> None:
        """Return once ``sweeps`` more sweeps have completed and, after them, no target is
        dirty or in flight (nothing left to do until the next signal or sweep). For tests
        and benchmarks that must show that nothing happened."""
        target = self.sweeps + sweeps
        while self.sweeps < target:
            self._swept.clear()
            await self._swept.wait()
        await self.targets.settled(lambda: self._dispatching and self._may_work())

    @property
    def healthy(self) -> bool:
        """Every reflector synced and not currently failing."""
        return bool(self.reflectors) and all(
            r.status.synced and r.status.consecutive_failures == 0 for r in self.reflectors.values()
        )

    def health(self) -> dict[str, Any]:
        return {
            name: {
                "synced": r.status.synced,
                "consecutive_failures": r.status.consecutive_failures,
                "last_error": r.status.last_error,
                "relists_after_gone": r.status.relists_after_gone,
                "objects": len(r.cache),
            }
            for name, r in self.reflectors.items()
        }

    # ------------------------------------------------------------------ what others read

    @property
    def kill_switch(self) -> KillSwitch:
        """The ConfigMap kill switch as last read; unknown stops every action
        (`kubeheal.engine.guards.kill_switch`)."""
        return self._kill_switch.state

    def open_incidents(self) -> list[Incident]:
        """Incidents not yet resolved or escalated, by target."""
        return self.targets.open_incidents()

    def last_seen(self, target: Target) -> tuple[datetime | None, str | None]:
        """When a signal about ``target`` was last seen (cluster time), and the id of the
        incident kubeheal currently holds for it, if any (read-only view for observers)."""
        return self.targets.last_seen(target)

    def submit(self, signals: Iterable[Signal]) -> None:
        """Hand signals (from detectors, alerts, anomaly or SLO sources) to their targets."""
        self.targets.submit(signals)

    def revisit(self, target: Target) -> None:
        """Advance the target's incident soon (e.g. its alerts resolved), not at the next sweep."""
        self.targets.revisit(target)

    def emit(
        self,
        kind: str,
        target: Target,
        message: str,
        *,
        incident_id: str | None = None,
        **data: Any,
    ) -> None:
        """Tell the observers (``on_event``) and the log what the operator did."""
        event = OperatorEvent(
            at=self.now(),
            kind=kind,
            target=target,
            message=message,
            incident_id=self.targets.incident_id(target) if incident_id is None else incident_id,
            data=data,
        )
        log.info("%s %s: %s", kind, target.key, message)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("operator event observer failed")

    def add_observer(self, observer: Observer) -> None:
        """Also call ``observer`` with every event (after the observers already there); an
        observer that raises is logged and does not stop the others."""
        self.on_event = compose(self.on_event, observer)

    # ------------------------------------------------------------------ intake and sweeps

    def _handler(self, name: str) -> Callable[[CacheEvent[Any]], None]:
        counter = self.metrics.watch_events.labels(resource=name)

        def handle(event: CacheEvent[Any]) -> None:
            counter.inc()
            self.event_count += 1
            started = self.started.is_set()
            signals = intake.on_event(
                self.view, name, event, now=self.now(), settings=self.settings.detection,
                detect=started,
            )  # fmt: skip
            if signals:
                self.submit(signals)

        return handle

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.sweep_interval)
            try:
                await self.sweep()
            except Exception:
                log.exception("sweep failed")

    async def sweep(self) -> None:
        """Run every detector, refresh the kill switch, and revisit every active incident."""
        self._refresh_playbooks()
        if self.ledger.manual_checkpoints:
            try:
                await asyncio.to_thread(self.ledger.checkpoint)
            except LedgerError as e:
                log.warning("ledger checkpoint failed (retried next sweep): %s", e)
        await self._refresh_kill_switch()
        signals = await intake.sweep(self.view, now=self.now(), settings=self.settings.detection)
        self.submit(signals)
        up = all(r.status.consecutive_failures == 0 for r in self.reflectors.values())
        self.metrics.api_up.set(1 if up else 0)
        self.targets.revisit_open()
        self.sweeps += 1
        self._swept.set()

    def _refresh_playbooks(self) -> None:
        """Pick up edited playbooks; an invalid edit is reported and the last good set kept."""
        if self.reload_playbooks is None:
            return
        try:
            fresh = self.reload_playbooks()
        except Exception as e:  # noqa: BLE001 - any loader failure keeps the last good set
            message = f"playbooks not reloaded, keeping the last good set: {e}"
            if message != self.playbook_error:
                log.error("%s", message)  # noqa: TRY400 - the message has every detail
            self.playbook_error = message
            return
        self.playbook_error = ""
        if fresh is not None:
            self.playbooks = fresh
            log.info("playbooks reloaded: %s", ", ".join(p.name for p in fresh))

    async def _refresh_kill_switch(self) -> None:
        """Read the kill switch ConfigMap (`kubeheal.runtime.kill_switch`)."""
        await self._kill_switch.refresh(self.settings.guards.kill_switch_configmap)

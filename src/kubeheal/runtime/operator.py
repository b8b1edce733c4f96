"""The operator: watch -> detect -> incident -> decide -> act -> verify -> resolve | escalate.

Wiring only; every decision is made by the pure engine. The loop:

1. Reflectors keep a `LiveClusterView` current (paged lists, watches, re-list after 410).
2. Each cache event runs the detectors for the object it touched; a periodic sweep runs all of
   them (time-based signals such as "not ready for 5 minutes" need no event) and drives
   verification and retries.
3. Signals mark their target dirty. One worker per target (never two at once: one pod is
   never remediated twice at the same time) folds the signals into the target's incident and
   advances it: decide, record the plan, write the idempotency key, act, record the outcome,
   verify, resolve or escalate. Different targets proceed in parallel.
4. Every transition goes to the ledger first, so a restarted or failed-over operator resumes
   each incident where it stopped and never repeats an action (a pending action is re-run
   with its recorded parameters; executors are idempotent).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

import msgspec

from kubeheal import actions
from kubeheal.clients.kube import KubeConnection, KubeError, KubeNotFound
from kubeheal.clients.reflector import CacheEvent, Reflector, resource_path
from kubeheal.clients.writer import Kind, KubeWriter
from kubeheal.config import Settings
from kubeheal.engine import verify
from kubeheal.engine.detect import (
    detect_deployment,
    detect_hpa,
    detect_node,
    detect_pod,
)
from kubeheal.engine.incidents import correlate, record_attempt, transition
from kubeheal.engine.params import ActionParams
from kubeheal.engine.plan import (
    ActionPlan,
    EscalatePlan,
    NoAction,
    Plan,
    VerificationPlan,
    decide,
)
from kubeheal.engine.playbooks import ActionName, PlaybookSet
from kubeheal.model.cluster import (
    Compactor,
    Deployment,
    HorizontalPodAutoscaler,
    LiveClusterView,
    Namespace,
    Node,
    Pod,
    PodDisruptionBudget,
    ReplicaSet,
)
from kubeheal.model.core import (
    Incident,
    IncidentState,
    Signal,
    SignalKind,
    Target,
)
from kubeheal.model.history import (
    ActionState,
    ErrorBudget,
    History,
    IncidentOpening,
    KillSwitch,
    KillSwitchState,
)
from kubeheal.runtime.metrics import OperatorMetrics
from kubeheal.runtime.tasks import Tasks
from kubeheal.store import Ledger, LedgerError
from kubeheal.store import records as rec

__all__ = ["Operator", "OperatorEvent", "OperatorOptions"]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
_P = ParamSpec("_P")
_R = TypeVar("_R")


def wall_clock() -> datetime:
    return datetime.now(tz=UTC)


@dataclass(frozen=True)
class OperatorEvent:
    """Something the operator did, for timelines and logs (the ledger is the record)."""

    at: datetime
    kind: str  # signal | incident | plan | action | verify | resolved | escalated | blocked
    target: Target
    message: str
    incident_id: str = ""
    data: dict[str, Any] = field(default_factory=dict)


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


@dataclass
class _Verification:
    plan: ActionPlan
    started_at: datetime
    baseline: verify.Baseline
    state: verify.VerifyState | None = None


@dataclass
class _TargetState:
    incident: Incident | None = None
    pending: dict[str, Signal] = field(default_factory=dict)
    last_seen: datetime | None = None
    verification: _Verification | None = None
    last_noaction: tuple[str, ...] = ()
    last_seen_wall: float | None = None
    """Monotonic wall time of the last signal (sweeps are paced in wall seconds)."""
    escalated_ongoing: bool = False
    """The last incident was escalated and its problem has not gone quiet since: signals
    are the same problem, not a new incident (no re-open storm while humans look at it)."""
    awaiting_next_step: bool = False
    """Verification failed and the next step was not allowed yet (e.g. cooldown): decide
    again instead of verifying the old action over and over."""


_KINDS: tuple[tuple[str, str, str, str, type[Any]], ...] = (
    ("namespaces", "", "v1", "namespaces", Namespace),
    ("nodes", "", "v1", "nodes", Node),
    ("deployments", "apps", "v1", "deployments", Deployment),
    ("replicasets", "apps", "v1", "replicasets", ReplicaSet),
    ("poddisruptionbudgets", "policy", "v1", "poddisruptionbudgets", PodDisruptionBudget),
    ("horizontalpodautoscalers", "autoscaling", "v2", "horizontalpodautoscalers",
     HorizontalPodAutoscaler),
    ("pods", "", "v1", "pods", Pod),
)  # fmt: skip


_SWITCH_VALUES = {
    "true": KillSwitchState.ON, "yes": KillSwitchState.ON, "on": KillSwitchState.ON,
    "1": KillSwitchState.ON, "false": KillSwitchState.OFF, "no": KillSwitchState.OFF,
    "off": KillSwitchState.OFF, "0": KillSwitchState.OFF, "": KillSwitchState.OFF,
}  # fmt: skip


def _kill_switch_value(cm: Any) -> tuple[KillSwitchState, str]:
    """The state a kill switch ConfigMap (as read) says: ``data.disabled`` true or false;
    anything else is unknown (someone meant something: do not guess "off")."""
    data = cm.get("data") if isinstance(cm, dict) else None
    if data is None:
        return KillSwitchState.OFF, ""
    if not isinstance(data, dict):
        return KillSwitchState.UNKNOWN, "its data is not a map"
    value = data.get("disabled", "")
    state = _SWITCH_VALUES.get(value.strip().lower()) if isinstance(value, str) else None
    if state is None:
        return KillSwitchState.UNKNOWN, f"data.disabled is {str(value)[:40]!r}, not true or false"
    return state, ""


def _printable(text: str) -> str:
    """``text`` on one line with control characters escaped (it may quote the API server)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)[:300]


def _json(value: Any) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(value)
    return out


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
        writer: KubeWriter | None = None,
        on_event: Callable[[OperatorEvent], None] | None = None,
        reload_playbooks: Callable[[], PlaybookSet | None] | None = None,
        leader: asyncio.Event | None = None,
    ) -> None:
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
        self.settings_listeners: list[Callable[[Settings], None]] = []
        """Called with the new settings by `update_settings` (e.g. notifications)."""
        self.draining = False
        """Set by `stop`: no new incident work starts; steps in flight finish."""
        self.metrics = metrics or OperatorMetrics()
        self.now = clock
        self.options = options or OperatorOptions()
        self.writer = writer or KubeWriter(connection)
        self.on_event = on_event
        self.error_budgets: Callable[[], tuple[ErrorBudget, ...]] | None = None
        """Error-budget facts for the budget guard (set by the SLO source when configured)."""
        self.view = LiveClusterView()
        self.compactor = Compactor()
        self.tasks = Tasks()
        self.reflectors: dict[str, Reflector[Any]] = {}
        self._targets: dict[Target, _TargetState] = {}
        self._dirty: set[Target] = set()
        self._running: set[Target] = set()
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(self.options.max_parallel_targets)
        self._http = connection.http_client(timeout=30.0)
        self.kill_switch = KillSwitch(state=KillSwitchState.UNKNOWN, reason="not read yet")
        """The ConfigMap kill switch as last read (`_refresh_kill_switch`); unknown stops
        every action (`kubeheal.engine.guards.kill_switch`)."""
        self.metrics.kill_switch_state.labels(state=KillSwitchState.UNKNOWN.value).set(1)
        self.started = asyncio.Event()
        self.event_count = 0
        self.alert_firing: Callable[[Target], bool | None] | None = None
        """Whether an alert about a target still fires (None: unknown); set by the alert
        consumer (`kubeheal.runtime.alerts`). Incidents with alert signals are verified with
        it and their signals stay active while it says so."""

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Resume unfinished incidents from the ledger, start the reflectors and the loops.

        With a ``leader`` event, a standby keeps its caches warm and waits; it resumes from
        the ledger and starts acting only once the event is set.
        """
        if self.leader is None:
            await self._db(self._resume_from_ledger)
        for name, group, version, plural, item_type in _KINDS:
            reflector: Reflector[Any] = Reflector(
                http=self._http,
                path=resource_path(group, version, plural),
                item_type=item_type,
                handler=self._handler(name),
                page_size=self.options.page_size,
                transform=self._compaction(name),
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
        await self._refresh_kill_switch()  # before the first decision, not after it
        self.tasks.spawn("dispatcher", self._dispatch_loop())
        self.started.set()
        await self.sweep()
        self.tasks.spawn("sweeper", self._sweep_loop())

    async def _lead(self, leader: asyncio.Event) -> None:
        await leader.wait()
        log.info("leading: resuming incidents from the ledger")
        await self._db(self._resume_from_ledger)
        await self._refresh_kill_switch()  # before the first decision, not after it
        self.tasks.spawn("dispatcher", self._dispatch_loop())
        await self.sweep()
        self.tasks.spawn("sweeper", self._sweep_loop())

    @property
    def acting(self) -> bool:
        """False on a replica that does not (or no longer) lead: it must not plan or act."""
        return self.leader is None or self.leader.is_set()

    def update_settings(self, settings: Settings) -> None:
        """Use ``settings`` from the next decision on (a reload; see
        `kubeheal.runtime.reload` for the parts that may change while running)."""
        self.settings = settings
        for listener in self.settings_listeners:
            try:
                listener(settings)
            except Exception:
                log.exception("settings listener failed")

    def _compaction(self, name: str) -> Callable[[Any], Any] | None:
        """How the cache of `name` shares repeated values (see ``Compactor``)."""
        compactions: dict[str, Callable[[Any], Any]] = {
            "pods": self.compactor.pod,
            "nodes": self.compactor.node,
            "deployments": self.compactor.deployment,
            "replicasets": self.compactor.replica_set,
        }
        return compactions.get(name)

    async def stop(self, *, drain: float = 10.0) -> None:
        """Stop gracefully: start no new incident work, let the steps in flight finish (at
        most ``drain`` seconds), then cancel every task. A step cancelled mid-action leaves
        its action pending in the ledger, for the next leader to resume."""
        self.draining = True
        deadline = time.monotonic() + drain
        # A replica that lost leadership hands its work back at once: the new leader resumes it.
        while self._running and self.acting and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if self._running:
            log.warning("stopping with %d target(s) still in flight", len(self._running))
        await self.tasks.stop()
        await self._http.aclose()
        await self.writer.aclose()

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

    async def _db(self, fn: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        """Call the ledger: on the event loop's thread by default.

        SQLite calls take well under a millisecond each (WAL); run from a worker thread they
        queue behind the GIL while the loop decodes watch events, which measured p99 of 715 ms
        from event to action at 1,000 events/s. `OperatorOptions.ledger_in_thread` moves them
        to threads for slow (network) ledgers.
        """
        if self.options.ledger_in_thread:
            return await asyncio.to_thread(fn, *args, **kwargs)
        return fn(*args, **kwargs)

    def open_incidents(self) -> list[Incident]:
        """Incidents not yet resolved or escalated, by target."""
        return [
            s.incident
            for _, s in sorted(self._targets.items())
            if s.incident is not None and not s.incident.state.closed
        ]

    def _emit(
        self,
        kind: str,
        target: Target,
        message: str,
        *,
        incident_id: str | None = None,
        **data: Any,
    ) -> None:
        if incident_id is None:
            incident = self._targets.get(target, _TargetState()).incident
            incident_id = incident.id if incident else ""
        event = OperatorEvent(
            at=self.now(),
            kind=kind,
            target=target,
            message=message,
            incident_id=incident_id,
            data=data,
        )
        log.info("%s %s: %s", kind, target.key, message)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("operator event observer failed")

    # ------------------------------------------------------------------ sources

    def _handler(self, name: str) -> Callable[[CacheEvent[Any]], None]:
        counter = self.metrics.watch_events.labels(resource=name)

        def handle(event: CacheEvent[Any]) -> None:
            counter.inc()
            self.event_count += 1
            self._apply(name, event)

        return handle

    def _apply(self, name: str, event: CacheEvent[Any]) -> None:
        view = self.view
        obj = event.new if event.new is not None else event.old
        if obj is None:
            return
        meta = obj.metadata
        deleted = event.type == "DELETED"
        now = self.now()
        settings = self.settings.detection
        signals: list[Signal] = []
        if name == "pods":
            if deleted:
                view.remove_pod(meta.namespace, meta.name)
            else:
                view.upsert_pod(obj)
                if self.started.is_set():
                    signals.extend(detect_pod(view, obj, now=now, settings=settings))
        elif name == "nodes":
            if deleted:
                view.remove_node(meta.name)
            else:
                view.upsert_node(obj)
                signals.extend(detect_node(obj, now=now, settings=settings))
        elif name == "deployments":
            if deleted:
                view.remove_deployment(meta.namespace, meta.name)
            else:
                view.upsert_deployment(obj)
                signals.extend(detect_deployment(view, obj, now=now, settings=settings))
        elif name == "replicasets":
            if deleted:
                view.remove_replica_set(meta.namespace, meta.name)
            else:
                view.upsert_replica_set(obj)
        elif name == "poddisruptionbudgets":
            if deleted:
                view.remove_pdb(meta.namespace, meta.name)
            else:
                view.upsert_pdb(obj)
        elif name == "horizontalpodautoscalers":
            if deleted:
                view.remove_hpa(meta.namespace, meta.name)
            else:
                view.upsert_hpa(obj)
                signals.extend(detect_hpa(obj, now=now))
        elif name == "namespaces":
            if deleted:
                view.remove_namespace(meta.name)
            else:
                view.upsert_namespace(obj)
        if signals and self.started.is_set():
            # Before every cache has synced, a detector could see a Deployment without its
            # PDB or ReplicaSets and report a problem that does not exist; the first sweep
            # after the sync looks at everything.
            self.submit(signals)

    def submit(self, signals: Iterable[Signal]) -> None:
        """Hand signals (from detectors, alerts, anomaly or SLO sources) to their targets."""
        now = self.now()
        for signal in signals:
            state = self._targets.setdefault(signal.target, _TargetState())
            if (
                state.escalated_ongoing
                and state.last_seen is not None
                and now - state.last_seen >= self.options.quiet_period
            ):
                state.escalated_ongoing = False  # it went quiet: a new signal is a new problem
            known = state.pending.get(signal.id)
            if known is None:
                self.metrics.signals.labels(kind=signal.kind.value).inc()
            state.pending[signal.id] = signal
            state.last_seen = now
            state.last_seen_wall = time.monotonic()
            self._dirty.add(signal.target)
        self.metrics.queue_depth.set(len(self._dirty))
        self._wake.set()

    # ------------------------------------------------------------------ loops

    async def _dispatch_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            for target in sorted(self._dirty - self._running):
                self._running.add(target)
                self.tasks.spawn(f"target/{target.key}", self._work(target))

    async def _work(self, target: Target) -> None:
        try:
            async with self._slots:
                while target in self._dirty and self.acting and not self.draining:
                    self._dirty.discard(target)
                    self.metrics.queue_depth.set(len(self._dirty))
                    try:
                        await self._advance(target)
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
            self._running.discard(target)
            if target in self._dirty and self.acting:
                self._wake.set()

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
        now = self.now()
        signals = await self._detect_all(now)
        self.submit(signals)
        up = all(r.status.consecutive_failures == 0 for r in self.reflectors.values())
        self.metrics.api_up.set(1 if up else 0)
        for target, state in self._targets.items():
            if state.incident is not None and not state.incident.state.closed:
                self._dirty.add(target)
        self._wake.set()

    async def _detect_all(self, now: datetime, *, chunk: int = 500) -> list[Signal]:
        """What ``detect`` finds, but yielding to the event loop every ``chunk`` pods: a sweep
        of 150,000 pods takes about a second, and watch events must not wait for it. A pod
        replaced while the sweep yielded is skipped (its own event ran the detectors)."""
        view, settings = self.view, self.settings.detection
        found: list[Signal] = []
        for i, pod in enumerate(view.pod_snapshot()):
            if i % chunk == chunk - 1:
                await asyncio.sleep(0)
            meta = pod.metadata
            if view.pod(meta.namespace, meta.name) is pod:
                found.extend(detect_pod(view, pod, now=now, settings=settings))
        for i, dep in enumerate(view.deployments):
            if i % chunk == chunk - 1:
                await asyncio.sleep(0)
            found.extend(detect_deployment(view, dep, now=now, settings=settings))
        for i, node in enumerate(view.nodes):
            if i % chunk == chunk - 1:
                await asyncio.sleep(0)
            found.extend(detect_node(node, now=now, settings=settings))
        for hpa in view.hpas:
            found.extend(detect_hpa(hpa, now=now))
        unique = {signal.id: signal for signal in found}
        return sorted(unique.values(), key=lambda s: (s.target.key, s.kind.value, s.subject))

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
        """Read the kill switch ConfigMap: absent (404) is off; any other failure (5xx,
        timeout, 403, an undecodable answer, a value that is neither true nor false) is
        unknown, and unknown stops every action (`kubeheal.engine.guards.kill_switch`)."""
        where = self.settings.guards.kill_switch_configmap
        namespace, _, name = where.partition("/")
        state, reason = KillSwitchState.OFF, ""
        if not where:
            pass  # no ConfigMap switch configured
        elif not namespace or not name:
            state = KillSwitchState.UNKNOWN
            reason = f"guards.kill_switch_configmap {where!r} is not namespace/name"
        else:
            try:
                cm = await self.writer.get(Kind.CONFIGMAP, namespace, name)
            except KubeNotFound:
                pass  # no switch: off
            except KubeError as e:
                state, reason = KillSwitchState.UNKNOWN, f"{type(e).__name__}: {e}"
                self.metrics.kill_switch_read_failures.inc()
            else:
                state, reason = _kill_switch_value(cm)
        self._set_kill_switch(state, _printable(reason))

    def _set_kill_switch(self, state: KillSwitchState, reason: str) -> None:
        previous = self.kill_switch
        if state is previous.state and previous.since is not None:
            self.kill_switch = KillSwitch(state=state, reason=reason, since=previous.since)
            return
        # A change of state (or the first read): said once, not at every sweep.
        self.kill_switch = KillSwitch(state=state, reason=reason, since=self.now())
        for each in KillSwitchState:
            self.metrics.kill_switch_state.labels(state=each.value).set(int(each is state))
        where = self.settings.guards.kill_switch_configmap or "(none configured)"
        if state is KillSwitchState.UNKNOWN:
            log.warning(
                "kill switch %s cannot be read (%s): no action is taken until it can",
                where, reason,
            )  # fmt: skip
        elif state is KillSwitchState.ON:
            log.warning("kill switch %s is on: no action is taken", where)
        elif previous.since is not None:
            log.info("kill switch %s is off: actions may proceed", where)

    # ------------------------------------------------------------------ incidents

    async def _advance(self, target: Target) -> None:
        # Ledger calls do not yield; let queued watch events in between two targets so a burst
        # of incident work never delays detection by more than one target's worth.
        await asyncio.sleep(0)
        state = self._targets.setdefault(target, _TargetState())
        now = self.now()
        fresh = list(state.pending.values())
        state.pending.clear()
        incident = state.incident
        if incident is None or incident.state.closed:
            if not fresh:
                return
            if state.escalated_ongoing:
                log.debug("target %s: escalated problem still present, not re-opened", target.key)
                return
            incident = await self._open(target, fresh, now)
            state.incident = incident
        elif fresh:
            merged = correlate(
                fresh, incidents=[incident], now=now, settings=self.settings.incidents
            )
            state.incident = incident = merged[0]
            await self._db(self._record_signals, fresh, incident.id)
        if incident.state is IncidentState.VERIFYING:
            if state.awaiting_next_step:
                await self._decide_and_act(target, state, now)
            else:
                await self._verify(target, state, now)
            return
        if incident.state is IncidentState.ACTING:
            await self._resume_acting(target, state, now)
            return
        # OPEN: if the problem went away before anyone acted, close it as such.
        quiet = (
            state.last_seen is not None
            and now - state.last_seen >= self.options.quiet_period
            # An alert that still fires (or may: unknown) keeps its incident open.
            and (not self._alert_incident(state) or self._alerts_firing(state, target) is False)
        )
        if not fresh and quiet and incident.attempts == 0:
            await self._close(
                target, state, IncidentState.RESOLVED, now,
                reason="signals cleared before any action", resolution=rec.Resolution.AUTO,
            )  # fmt: skip
            return
        await self._decide_and_act(target, state, now)

    async def _open(self, target: Target, signals: list[Signal], now: datetime) -> Incident:
        openings = await self._db(self._openings, now)
        incident = correlate(
            signals, incidents=(), now=now, openings=openings, settings=self.settings.incidents
        )[0]
        first = min(s.observed_at for s in signals)
        await self._db(
            self.ledger.open_incident,
            incident_id=incident.id,
            target=target,
            opened_at=now,
            detected_at=first,
            flapping=incident.flapping,
        )
        await self._db(self._record_signals, signals, incident.id)
        self.metrics.incidents.labels(target_kind=target.kind.value).inc()
        self.metrics.time_to_detect.observe(max(0.0, (now - first).total_seconds()))
        self._update_open_gauge()
        kinds = ", ".join(sorted({s.kind.value for s in signals}))
        self._emit("incident", target, f"opened ({kinds})", incident_id=incident.id, kinds=kinds)
        return incident

    def _record_signals(self, signals: Iterable[Signal], incident_id: str) -> None:
        for s in signals:
            self.ledger.record_signal(rec.SignalRecord.of(s, incident_id=incident_id))

    def _openings(self, now: datetime) -> list[IncidentOpening]:
        since = now - self.settings.incidents.flapping_window
        return [
            IncidentOpening(target=i.target.to_target(), at=i.opened_at)
            for i in self.ledger.list_incidents(since=since, until=now + timedelta(seconds=1))
        ]

    def _history(self, now: datetime) -> History:
        since = now - timedelta(hours=1)
        records = [a.past_action() for a in self.ledger.actions_since(since)]
        cordoned = tuple(
            sorted(
                n.metadata.name
                for n in self.view.nodes
                if n.spec.unschedulable and "kubeheal.io/last-action" in n.metadata.annotations
            )
        )
        budgets = self.error_budgets() if self.error_budgets is not None else ()
        return History(
            actions=tuple(records),
            openings=tuple(self._openings(now)),
            cordoned_nodes=cordoned,
            kill_switch=self.kill_switch,
            error_budgets=budgets,
        )

    def add_observer(self, observer: Callable[[OperatorEvent], None]) -> None:
        """Also call ``observer`` with every event (after the observers already there); an
        observer that raises is logged and does not stop the others."""
        previous = self.on_event

        def observe(event: OperatorEvent) -> None:
            if previous is not None:
                try:
                    previous(event)
                except Exception:
                    log.exception("operator event observer failed")
            observer(event)

        self.on_event = observe

    def last_seen(self, target: Target) -> tuple[datetime | None, str | None]:
        """When a signal about ``target`` was last seen (cluster time), and the id of the
        incident kubeheal currently holds for it, if any (read-only view for observers)."""
        state = self._targets.get(target)
        if state is None:
            return None, None
        return state.last_seen, state.incident.id if state.incident is not None else None

    async def _decide_and_act(self, target: Target, state: _TargetState, now: datetime) -> None:
        incident = state.incident
        assert incident is not None
        history = await self._db(self._history, now)
        plan: Plan = decide(
            incident, self.view, history, self.settings, now=now, playbooks=self.playbooks
        )
        if isinstance(plan, NoAction):
            reasons = tuple(f"{b.guard}: {b.reason}" for b in plan.reasons)
            if reasons != state.last_noaction:  # record each distinct "why not" once
                state.last_noaction = reasons
                for b in plan.reasons:
                    self.metrics.guard_blocks.labels(guard=b.guard).inc()
                await self._db(
                    self.ledger.record_plan,
                    incident_id=incident.id,
                    decided_at=now,
                    reason="; ".join(reasons),
                    blocked_by=plan.reasons[0].guard if plan.reasons else None,
                )
                self._emit("blocked", target, "; ".join(reasons))
            return
        state.last_noaction = ()
        if isinstance(plan, EscalatePlan):
            await self._escalate(target, state, plan, now)
            return
        await self._act(target, state, plan, now)

    async def _act(
        self,
        target: Target,
        state: _TargetState,
        plan: ActionPlan,
        now: datetime,
        *,
        stored: rec.ActionBegin | None = None,
    ) -> None:
        incident = state.incident
        assert incident is not None
        reason = "; ".join(plan.notes) or f"{plan.playbook} step {plan.step}: {plan.action.value}"
        if stored is None:
            await self._db(
                self.ledger.record_plan,
                incident_id=incident.id,
                decided_at=now,
                reason=reason,
                playbook=plan.playbook,
                step=plan.step,
                action=plan.action.value,
                params=_json(plan.params),
                dry_run=plan.dry_run,
            )
            acting = record_attempt(incident, playbook=plan.playbook, step=plan.step, now=now)
            await self._db(
                self.ledger.transition_incident,
                incident.id,
                from_state=incident.state,
                to_state=IncidentState.ACTING,
                at=now,
                reason=f"{plan.playbook}[{plan.step}] {plan.action.value}",
            )
            state.incident = incident = acting
            begin = await self._db(
                self.ledger.begin_action,
                plan.idempotency_key,
                incident_id=incident.id,
                action=plan.action.value,
                target=target,
                params=_json(plan.params),
                requested_at=now,
            )
        else:
            begin = stored
        state.awaiting_next_step = False
        record = begin.record
        outcome_state: ActionState
        if record.state is not ActionState.PENDING:
            # Done before a restart: never repeat it, go on to verification.
            self._emit("action", target, f"{plan.action.value} already {record.state.value}")
            outcome_state = record.state
        else:
            if begin.record.params != _json(plan.params):
                params = msgspec.convert(begin.record.params, ActionParams)
                plan = msgspec.structs.replace(plan, params=params)
            if incident.attempts == 1:
                self.metrics.time_to_act.observe(
                    max(0.0, (now - incident.opened_at).total_seconds())
                )
            self._emit(
                "action", target,
                f"{'dry-run ' if plan.dry_run else ''}{plan.action.value} ({plan.playbook})",
                params=_json(plan.params),
            )  # fmt: skip
            if not self.acting:  # leadership lost: the new leader resumes the pending action
                log.warning("not leading any more: %s on %s left pending", plan.action, target.key)
                return
            try:
                outcome = await actions.execute(
                    plan,
                    writer=self.writer,
                    guards=self.settings.guards,
                    record_failed=self._record_write_failed,
                )
            except actions.TemporaryError as e:
                # The action stays pending in the ledger; the incident stays acting and is
                # resumed (with the recorded parameters) after the delay.
                self.metrics.actions.labels(action=plan.action.value, outcome="retry").inc()
                self._emit("retry", target, f"{plan.action.value}: {e}; retrying in {e.delay:.0f}s")
                asyncio.get_running_loop().call_later(e.delay, self._mark_dirty, target)
                return
            except actions.PermanentError as e:
                detail = str(e)
                outcome_state = ActionState.FAILED
                state_label = "failed"
            else:
                detail = outcome.detail
                outcome_state = ActionState(outcome.state.value)  # the finished subset
                state_label = str(outcome.state)
            await self._db(
                self.ledger.finish_action,
                plan.idempotency_key,
                state=outcome_state,
                finished_at=self.now(),
                error=detail if outcome_state is ActionState.FAILED else None,
            )
            label = "dry-run" if plan.dry_run else state_label
            self.metrics.actions.labels(action=plan.action.value, outcome=label).inc()
            self._emit("outcome", target, f"{plan.action.value}: {state_label}: {detail}")
        await self._start_verification(target, state, plan, self.now(), outcome_state)

    async def _start_verification(
        self,
        target: Target,
        state: _TargetState,
        plan: ActionPlan,
        now: datetime,
        outcome: ActionState,
    ) -> None:
        incident = state.incident
        assert incident is not None
        verifying = transition(incident, IncidentState.VERIFYING, now=now, reason="verifying")
        await self._db(
            self.ledger.transition_incident,
            incident.id,
            from_state=IncidentState.ACTING,
            to_state=IncidentState.VERIFYING,
            at=now,
            reason=f"action {outcome.value}",
        )
        state.incident = verifying
        state.verification = _Verification(
            plan=plan, started_at=now, baseline=verify.baseline_for(target, self.view)
        )
        if outcome is ActionState.FAILED:
            await self._verification_failed(target, state, now, "the action failed")
        elif plan.dry_run:
            await self._close(
                target, state, IncidentState.ESCALATED, now,
                reason="dry-run: the plan was recorded, nothing was changed",
            )  # fmt: skip

    async def _verify(self, target: Target, state: _TargetState, now: datetime) -> None:
        v = state.verification
        incident = state.incident
        assert incident is not None
        if v is None:
            # Resumed after a restart: verify from now on.
            plan = await self._replan_for_resume(target, state, now)
            if plan is None:  # nothing left to verify: waiting would stall it for ever
                await self._close(
                    target, state, IncidentState.ESCALATED, now,
                    reason="resumed after a restart with an action whose plan no longer applies",
                )  # fmt: skip
                return
            v = state.verification = _Verification(
                plan=plan, started_at=now, baseline=verify.baseline_for(target, self.view)
            )
        result = verify.evaluate(
            v.plan.verification,
            target=target,
            view=self.view,
            started_at=v.started_at,
            now=now,
            baseline=v.baseline,
            state=v.state,
            signals_active=self._signals_active(target, now),
            alert_firing=self._alerts_firing(state, target),
        )
        v.state = result.state_after
        if result.outcome == "pending":
            return
        action_key = v.plan.idempotency_key
        await self._db(
            self.ledger.record_verification,
            action_key=action_key,
            started_at=v.started_at,
            finished_at=now,
            recovered=result.outcome == "recovered",
            detail=result.detail,
        )
        if result.outcome == "recovered":
            self._emit("verify", target, f"recovered: {result.detail}")
            self.metrics.time_to_recover.observe(
                max(0.0, (now - incident.opened_at).total_seconds())
            )
            await self._close(
                target, state, IncidentState.RESOLVED, now,
                reason=f"verified: {result.detail}", resolution=rec.Resolution.AUTO,
            )  # fmt: skip
        else:
            self._emit("verify", target, f"not recovered: {result.detail}")
            await self._verification_failed(target, state, now, result.detail)

    def _signals_active(self, target: Target, now: datetime) -> bool | None:
        # Sweeps are paced in wall seconds while `now` is the cluster's clock (which may run
        # faster than the wall, as the twin's does): compare wall with wall.
        state = self._targets.get(target)
        if state is None:
            return False
        recent = (
            state.last_seen_wall is not None
            and time.monotonic() - state.last_seen_wall < 2 * self.options.sweep_interval + 1
        )
        if not self._alert_incident(state):
            return recent
        # Alert signals arrive once per episode: they are active while the alert fires
        # (None: the alert consumer does not know yet, e.g. just after a restart).
        firing = self._alerts_firing(state, target)
        assert state.incident is not None
        if all(s.kind is SignalKind.ALERT for s in state.incident.signals):
            return firing
        if recent or firing:
            return True
        return None if firing is None else False

    async def _verification_failed(
        self, target: Target, state: _TargetState, now: datetime, detail: str
    ) -> None:
        v = state.verification
        incident = state.incident
        assert incident is not None and v is not None
        state.verification = None
        if v.plan.verification.on_failure == "next_step":
            state.incident = msgspec.structs.replace(incident, step=v.plan.step + 1)
            self._emit("retry", target, f"{detail}; trying the next step")
            state.awaiting_next_step = True
            await self._decide_and_act(target, state, now)
        else:
            await self._close(
                target, state, IncidentState.ESCALATED, now, reason=f"not recovered: {detail}"
            )

    async def _escalate(
        self, target: Target, state: _TargetState, plan: EscalatePlan, now: datetime
    ) -> None:
        incident = state.incident
        assert incident is not None
        for b in plan.blocks:
            self.metrics.guard_blocks.labels(guard=b.guard).inc()
        await self._db(
            self.ledger.record_plan,
            incident_id=incident.id,
            decided_at=now,
            reason=plan.reason,
            playbook=plan.playbook,
            step=plan.step,
            action="escalate",
            params={"patch": plan.patch, "pod": plan.pod or ""},
            blocked_by=plan.blocks[0].guard if plan.blocks else None,
            dry_run=plan.dry_run,
        )
        message = plan.reason
        if plan.include_logs and plan.pod:
            try:
                logs = await self.writer.logs(
                    target.namespace, plan.pod, previous=True, tail_lines=plan.log_lines or 20
                )
                message += f"\nlast logs of {plan.pod}:\n{logs}"
            except KubeError as e:
                message += f"\n(logs of {plan.pod} unavailable: {e})"
        if plan.patch:
            message += f"\npatch to commit:\n{plan.patch}"
        await self._close(target, state, IncidentState.ESCALATED, now, reason=message)

    async def _close(
        self,
        target: Target,
        state: _TargetState,
        to: IncidentState,
        now: datetime,
        *,
        reason: str,
        resolution: rec.Resolution | None = None,
    ) -> None:
        incident = state.incident
        assert incident is not None
        # The pure transition first: a move the lifecycle refuses must not reach the ledger,
        # or memory and ledger disagree and every later sweep fails on the difference.
        closed = transition(incident, to, now=now, reason=reason[:200])
        await self._db(
            self.ledger.transition_incident,
            incident.id,
            from_state=incident.state,
            to_state=to,
            at=now,
            reason=reason[:2000],
            resolution=resolution,
        )
        state.incident = closed
        state.verification = None
        state.last_noaction = ()
        state.awaiting_next_step = False
        state.escalated_ongoing = to is IncidentState.ESCALATED
        label = resolution.value if resolution is not None else "escalated"
        if to is IncidentState.RESOLVED and incident.attempts == 0:
            label = "false_positive"
        self.metrics.incidents_closed.labels(resolution=label).inc()
        self._update_open_gauge()
        self._emit("resolved" if to is IncidentState.RESOLVED else "escalated", target, reason)
        if to is IncidentState.ESCALATED:
            await self._event_on_target(target, "KubehealEscalated", reason, warning=True)

    async def _event_on_target(
        self, target: Target, reason: str, message: str, *, warning: bool
    ) -> None:
        kind = {"Deployment": Kind.DEPLOYMENT, "Node": Kind.NODE, "Pod": Kind.POD}.get(
            target.kind.value
        )
        if kind is None:
            return
        namespace = target.namespace or "default"
        try:
            obj = await self.writer.get(kind, target.namespace or None, target.name)
            stamp = self.now().strftime("%Y-%m-%dT%H:%M:%SZ")
            await self.writer.create(
                Kind.EVENT,
                namespace,
                {
                    "metadata": {"generateName": f"{target.name}.kubeheal-"},
                    "involvedObject": {
                        "kind": target.kind.value,
                        "name": target.name,
                        "namespace": target.namespace,
                        "uid": obj.get("metadata", {}).get("uid", ""),
                        "apiVersion": obj.get("apiVersion", ""),
                    },
                    "reason": reason,
                    "message": message[:1000],
                    "type": "Warning" if warning else "Normal",
                    "firstTimestamp": stamp,
                    "lastTimestamp": stamp,
                    "count": 1,
                    "source": {"component": "kubeheal"},
                },
            )
        except KubeError as e:
            log.warning("could not record event on %s: %s", target.key, e)
            self._record_write_failed("escalation_event")

    def _record_write_failed(self, what: str) -> None:
        """Count an Event or annotation that could not be written (``what``)."""
        self.metrics.record_writes_failed.labels(what=what).inc()

    def _mark_dirty(self, target: Target) -> None:
        self._dirty.add(target)
        self._wake.set()

    def revisit(self, target: Target) -> None:
        """Advance the target's incident soon (e.g. its alerts resolved), not at the next sweep."""
        if target in self._targets:
            self._mark_dirty(target)

    def _alert_incident(self, state: _TargetState) -> bool:
        """Whether the target's incident has alert signals and an alert source is wired."""
        incident = state.incident
        return (
            self.alert_firing is not None
            and incident is not None
            and SignalKind.ALERT in incident.signal_kinds
        )

    def _alerts_firing(self, state: _TargetState, target: Target) -> bool | None:
        """For an incident with alert signals, whether its target's alerts still fire
        (None: unknown, or not an alert incident)."""
        if self.alert_firing is None or not self._alert_incident(state):
            return None
        return self.alert_firing(target)

    def _update_open_gauge(self) -> None:
        self.metrics.open_incidents.set(
            sum(
                1
                for s in self._targets.values()
                if s.incident is not None and not s.incident.state.closed
            )
        )

    # ------------------------------------------------------------------ restart

    def _resume_from_ledger(self) -> None:
        """Rebuild in-progress incidents from the ledger (after a restart or failover)."""
        for record in self.ledger.incidents_in_progress():
            plans = [p for p in self.ledger.plans_for_incident(record.id) if p.step is not None]
            incident = record.to_incident(
                signals=self.ledger.signals_for_incident(record.id),
                step=(plans[-1].step or 0) if plans else 0,
            )
            target = incident.target
            state = self._targets.setdefault(target, _TargetState())
            state.incident = incident
            state.last_seen = record.opened_at
            self._dirty.add(target)
            log.info("resumed incident %s on %s (%s)", record.id, target.key, record.state.value)

    async def _replan_for_resume(
        self, target: Target, state: _TargetState, now: datetime
    ) -> ActionPlan | None:
        """The plan of the incident's last action, rebuilt from the ledger and its playbook."""
        incident = state.incident
        assert incident is not None
        done = await self._db(self.ledger.actions_for_incident, incident.id)
        playbook = self.playbooks.get(incident.playbook) if incident.playbook else None
        if not done or playbook is None:
            return None
        last = done[-1]
        plans = await self._db(self.ledger.plans_for_incident, incident.id)
        steps = [p.step for p in plans if p.action == last.action and p.step is not None]
        ver = playbook.verification
        return ActionPlan(
            incident_id=incident.id,
            target=target,
            playbook=playbook.name,
            step=steps[-1] if steps else incident.step,
            action=ActionName(last.action),
            params=msgspec.convert(last.params, ActionParams),
            verification=VerificationPlan(
                check=ver.check.value,
                timeout_seconds=ver.timeout.total_seconds(),
                stable_for_seconds=ver.stable_for.total_seconds(),
                on_failure=playbook.on_failure.value,
            ),
            idempotency_key=last.idempotency_key,
        )

    async def _resume_acting(self, target: Target, state: _TargetState, now: datetime) -> None:
        incident = state.incident
        assert incident is not None
        pending = [
            a
            for a in await self._db(self.ledger.actions_for_incident, incident.id)
            if a.state is ActionState.PENDING
        ]
        plan = await self._replan_for_resume(target, state, now)
        if plan is None:
            await self._close(
                target, state, IncidentState.ESCALATED, now,
                reason="resumed after a restart with an action whose plan no longer applies",
            )  # fmt: skip
            return
        if pending:
            begin = rec.ActionBegin(record=pending[-1], created=False)
            await self._act(target, state, plan, now, stored=begin)
        else:
            last = (await self._db(self.ledger.actions_for_incident, incident.id))[-1]
            await self._start_verification(target, state, plan, now, last.state)

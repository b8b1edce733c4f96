"""The incident flow of one target: advance -> decide -> act -> verify -> close.

`IncidentFlow.advance` is what a target's worker runs (`kubeheal.runtime.targets`): it folds
the target's pending signals into its incident (opening one if needed), then, by the
incident's state, decides and acts (open), resumes the action a restart interrupted
(acting), or verifies (verifying); verification resolves the incident, tries the
playbook's next step, or escalates. Every decision is the pure engine's
(`kubeheal.engine.plan.decide`, `kubeheal.engine.verify.evaluate`); every write to the
cluster is an action's (`kubeheal.actions`); every transition goes to the ledger first, so
a restarted or failed-over operator resumes each incident where it stopped
(`resume_from_ledger`) and never repeats an action (a pending action is re-run with its
recorded parameters; executors are idempotent).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, ParamSpec, Protocol, TypeVar

import msgspec

from kubeheal import actions
from kubeheal.actions.events import record_escalation
from kubeheal.clients.kube import KubeError
from kubeheal.config import Settings
from kubeheal.engine import verify
from kubeheal.engine.guards import Block, Verdict
from kubeheal.engine.incidents import correlate, disrupted_by, record_attempt, transition
from kubeheal.engine.params import ActionParams
from kubeheal.engine.plan import (
    ActionPlan,
    EscalatePlan,
    NoAction,
    Plan,
    decide,
    resumed_plan,
)
from kubeheal.engine.playbooks import ActionName, PlaybookSet
from kubeheal.model.cluster import LiveClusterView
from kubeheal.model.core import Incident, IncidentState, Signal, SignalKind, Target
from kubeheal.model.history import (
    ActionState,
    ErrorBudget,
    History,
    IncidentOpening,
    KillSwitch,
)
from kubeheal.runtime.clock import WALL, OperatorClock
from kubeheal.runtime.metrics import OperatorMetrics
from kubeheal.runtime.targets import TargetBoard, TargetState, Verification
from kubeheal.runtime.tasks import Tasks
from kubeheal.store import Ledger
from kubeheal.store import records as rec

__all__ = ["FlowHost", "IncidentFlow"]

log = logging.getLogger(__name__)

_P = ParamSpec("_P")
_R = TypeVar("_R")


class FlowHost(Protocol):
    """What the flow reads from the operator at each step (it may change while running)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def playbooks(self) -> PlaybookSet: ...

    @property
    def kill_switch(self) -> KillSwitch: ...

    @property
    def acting(self) -> bool: ...

    def now(self) -> datetime: ...

    def emit(
        self,
        kind: str,
        target: Target,
        message: str,
        *,
        incident_id: str | None = None,
        **data: Any,
    ) -> None: ...


def _json(value: Any) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(value)
    return out


class IncidentFlow:
    """Advances the incident of one target at a time (see the module docstring)."""

    def __init__(
        self,
        *,
        host: FlowHost,
        board: TargetBoard,
        view: LiveClusterView,
        ledger: Ledger,
        writer: actions.Writer,
        metrics: OperatorMetrics,
        tasks: Tasks,
        quiet_period: timedelta,
        sweep_interval: float,
        clock: OperatorClock = WALL,
        ledger_in_thread: bool = False,
        alert_firing: Callable[[Target], bool | None] | None = None,
        error_budgets: Callable[[], tuple[ErrorBudget, ...]] | None = None,
    ) -> None:
        """``clock`` paces the waits measured in cluster seconds (a retry's delay, a drain's
        back-off and timeout); timestamps come from ``host.now``."""
        self.host = host
        self.clock = clock
        self.board = board
        self.view = view
        self.ledger = ledger
        self.writer = writer
        self.metrics = metrics
        self.tasks = tasks
        self.quiet_period = quiet_period
        self.sweep_interval = sweep_interval
        self.ledger_in_thread = ledger_in_thread
        self.alert_firing = alert_firing
        """Whether an alert about a target still fires (None: unknown; the alert consumer's
        `kubeheal.runtime.alerts.AlertConsumer.firing`). Incidents with alert signals are
        verified with it and their signals stay active while it says so."""
        self.error_budgets = error_budgets
        """Error-budget facts for the budget guard (the SLO source's, when configured)."""

    async def db(self, fn: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        """Call the ledger: on the event loop's thread by default.

        SQLite calls take well under a millisecond each (WAL); run from a worker thread they
        queue behind the GIL while the loop decodes watch events, which measured p99 of 715 ms
        from event to action at 1,000 events/s. ``ledger_in_thread``
        (`kubeheal.runtime.operator.OperatorOptions`) moves them to threads for slow
        (network) ledgers.
        """
        if self.ledger_in_thread:
            return await asyncio.to_thread(fn, *args, **kwargs)
        return fn(*args, **kwargs)

    # ------------------------------------------------------------------ advance

    async def advance(self, target: Target) -> None:
        """One step of the target's incident (a worker of `TargetBoard` runs it)."""
        # Ledger calls do not yield; let queued watch events in between two targets so a burst
        # of incident work never delays detection by more than one target's worth.
        await asyncio.sleep(0)
        state = self.board.states.setdefault(target, TargetState())
        now = self.host.now()
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
                fresh, incidents=[incident], now=now, settings=self.host.settings.incidents
            )
            state.incident = incident = merged[0]
            await self.db(self._record_signals, fresh, incident.id)
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
            and now - state.last_seen >= self.quiet_period
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
        openings = await self.db(self._openings, now, target)
        incident = correlate(
            signals, incidents=(), now=now, openings=openings, settings=self.host.settings.incidents
        )[0]
        first = min(s.observed_at for s in signals)
        await self.db(
            self.ledger.open_incident,
            incident_id=incident.id,
            target=target,
            opened_at=now,
            detected_at=first,
            flapping=incident.flapping,
        )
        await self.db(self._record_signals, signals, incident.id)
        self.metrics.incidents.labels(target_kind=target.kind.value).inc()
        self.metrics.time_to_detect.observe(max(0.0, (now - first).total_seconds()))
        self.board.update_open_gauge()
        kinds = ", ".join(sorted({s.kind.value for s in signals}))
        self.host.emit(
            "incident", target, f"opened ({kinds})", incident_id=incident.id, kinds=kinds
        )
        return incident

    def _record_signals(self, signals: Iterable[Signal], incident_id: str) -> None:
        for s in signals:
            self.ledger.record_signal(rec.SignalRecord.of(s, incident_id=incident_id))

    def _openings(self, now: datetime, target: Target) -> list[IncidentOpening]:
        """The incidents about ``target`` opened within the flapping window, each with its
        problem (signal kinds) and whether kubeheal disrupted the target in it."""
        since = now - self.host.settings.incidents.flapping_window
        openings = []
        for i in self.ledger.list_incidents(since=since, until=now + timedelta(seconds=1)):
            about = i.target.to_target()
            if about != target:
                continue
            signals = self.ledger.signals_for_incident(i.id)
            done = [a.past_action() for a in self.ledger.actions_for_incident(i.id)]
            openings.append(
                IncidentOpening(
                    target=about,
                    at=i.opened_at,
                    kinds=frozenset(s.kind for s in signals),
                    disrupted=disrupted_by(done),
                )
            )
        return openings

    def _history(self, now: datetime, target: Target) -> History:
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
            openings=tuple(self._openings(now, target)),
            cordoned_nodes=cordoned,
            kill_switch=self.host.kill_switch,
            error_budgets=budgets,
        )

    # ------------------------------------------------------------------ decide and act

    async def _decide_and_act(self, target: Target, state: TargetState, now: datetime) -> None:
        incident = state.incident
        assert incident is not None
        history = await self.db(self._history, now, target)
        plan: Plan = decide(
            incident, self.view, history, self.host.settings, now=now,
            playbooks=self.host.playbooks,
        )  # fmt: skip
        if isinstance(plan, NoAction):
            reasons = tuple(f"{b.guard}: {b.reason}" for b in plan.reasons)
            if reasons != state.last_noaction:  # record each distinct "why not" once
                state.last_noaction = reasons
                for b in plan.reasons:
                    self.metrics.guard_blocks.labels(guard=b.guard).inc()
                await self.db(
                    self.ledger.record_plan,
                    incident_id=incident.id,
                    decided_at=now,
                    reason="; ".join(reasons),
                    blocked_by=plan.reasons[0].guard if plan.reasons else None,
                    guards=_verdicts(plan.verdicts),
                )
                self.host.emit("blocked", target, "; ".join(reasons))
            return
        state.last_noaction = ()
        if isinstance(plan, EscalatePlan):
            await self._escalate(target, state, plan, now)
            return
        await self._act(target, state, plan, now)

    async def _act(
        self,
        target: Target,
        state: TargetState,
        plan: ActionPlan,
        now: datetime,
        *,
        stored: rec.ActionBegin | None = None,
    ) -> None:
        incident = state.incident
        assert incident is not None
        if stored is None:
            begin = await self._record_start(target, state, plan, now)
            incident = state.incident
            assert incident is not None
        else:
            begin = stored
        state.awaiting_next_step = False
        record = begin.record
        if record.state is not ActionState.PENDING:
            # Done before a restart: never repeat it, go on to verification.
            self.host.emit("action", target, f"{plan.action.value} already {record.state.value}")
            await self._start_verification(target, state, plan, self.host.now(), record.state)
            return
        if begin.record.params != _json(plan.params):
            params = msgspec.convert(begin.record.params, ActionParams)
            plan = msgspec.structs.replace(plan, params=params)
        if incident.attempts == 1:
            self.metrics.time_to_act.observe(max(0.0, (now - incident.opened_at).total_seconds()))
        self.host.emit(
            "action", target,
            f"{'dry-run ' if plan.dry_run else ''}{plan.action.value} ({plan.playbook})",
            params=_json(plan.params),
        )  # fmt: skip
        if not self.host.acting:  # leadership lost: the new leader resumes the pending action
            log.warning("not leading any more: %s on %s left pending", plan.action, target.key)
            return
        try:
            outcome = await actions.execute(
                plan,
                writer=self.writer,
                guards=self.host.settings.guards,
                clock=self.clock.elapsed,
                sleep=self.clock.sleep,
                wall_clock=self.host.now,
                record_failed=self.record_write_failed,
            )
        except actions.TemporaryError as e:
            # The action stays pending in the ledger; the incident stays acting and is
            # resumed (with the recorded parameters) after the delay.
            self.metrics.actions.labels(action=plan.action.value, outcome="retry").inc()
            self.host.emit("retry", target, f"{plan.action.value}: {e}; retrying in {e.delay:.0f}s")
            self.tasks.spawn(f"retry/{target.key}", self._revisit_after(e.delay, target))
            return
        except actions.PermanentError as e:
            detail = str(e)
            outcome_state = ActionState.FAILED
            state_label = "failed"
        else:
            detail = outcome.detail
            outcome_state = ActionState(outcome.state.value)  # the finished subset
            state_label = str(outcome.state)
        await self.db(
            self.ledger.finish_action,
            plan.idempotency_key,
            state=outcome_state,
            finished_at=self.host.now(),
            error=detail if outcome_state is ActionState.FAILED else None,
        )
        label = "dry-run" if plan.dry_run else state_label
        self.metrics.actions.labels(action=plan.action.value, outcome=label).inc()
        self.host.emit("outcome", target, f"{plan.action.value}: {state_label}: {detail}")
        await self._start_verification(target, state, plan, self.host.now(), outcome_state)

    async def _record_start(
        self, target: Target, state: TargetState, plan: ActionPlan, now: datetime
    ) -> rec.ActionBegin:
        """Record the plan, the move to acting and the pending action (its idempotency key),
        all before anything is written to the cluster."""
        incident = state.incident
        assert incident is not None
        reason = "; ".join(plan.notes) or f"{plan.playbook} step {plan.step}: {plan.action.value}"
        await self.db(
            self.ledger.record_plan,
            incident_id=incident.id,
            decided_at=now,
            reason=reason,
            playbook=plan.playbook,
            step=plan.step,
            action=plan.action.value,
            params=_json(plan.params),
            dry_run=plan.dry_run,
            guards=_verdicts(plan.verdicts),
        )
        acting = record_attempt(incident, playbook=plan.playbook, step=plan.step, now=now)
        reason = f"{plan.playbook}[{plan.step}] {plan.action.value}"
        await self._move(state, acting, at=now, reason=reason)
        return await self.db(
            self.ledger.begin_action,
            plan.idempotency_key,
            incident_id=acting.id,
            action=plan.action.value,
            target=target,
            params=_json(plan.params),
            requested_at=now,
        )

    async def _move(
        self,
        state: TargetState,
        moved: Incident,
        *,
        at: datetime,
        reason: str,
        resolution: rec.Resolution | None = None,
    ) -> None:
        """Record the move of the target's incident to ``moved`` (the pure lifecycle's result:
        a move it refuses never reaches the ledger), then hold it in memory."""
        incident = state.incident
        assert incident is not None
        await self.db(
            self.ledger.transition_incident,
            incident.id,
            from_state=incident.state,
            to_state=moved.state,
            at=at,
            reason=reason,
            resolution=resolution,
        )
        state.incident = moved

    async def _revisit_after(self, delay: float, target: Target) -> None:
        await self.clock.sleep(delay)  # a retry's delay is in cluster seconds
        self.board.mark_dirty(target)

    def record_write_failed(self, what: str) -> None:
        """Count an Event or annotation that could not be written (``what``)."""
        self.metrics.record_writes_failed.labels(what=what).inc()

    # ------------------------------------------------------------------ verify

    async def _start_verification(
        self,
        target: Target,
        state: TargetState,
        plan: ActionPlan,
        now: datetime,
        outcome: ActionState,
    ) -> None:
        incident = state.incident
        assert incident is not None
        verifying = transition(incident, IncidentState.VERIFYING, now=now, reason="verifying")
        await self._move(state, verifying, at=now, reason=f"action {outcome.value}")
        state.verification = Verification(
            plan=plan, started_at=now, baseline=verify.baseline_for(target, self.view)
        )
        if outcome is ActionState.FAILED:
            await self._verification_failed(target, state, now, "the action failed")
        elif plan.dry_run:
            await self._close(
                target, state, IncidentState.ESCALATED, now,
                reason="dry-run: the plan was recorded, nothing was changed",
            )  # fmt: skip

    async def _verify(self, target: Target, state: TargetState, now: datetime) -> None:
        v = state.verification
        incident = state.incident
        assert incident is not None
        if v is None:
            # Resumed after a restart: verify from now on.
            plan = await self._replan_for_resume(state)
            if plan is None:  # nothing left to verify: waiting would stall it for ever
                await self._close(
                    target, state, IncidentState.ESCALATED, now,
                    reason="resumed after a restart with an action whose plan no longer applies",
                )  # fmt: skip
                return
            v = state.verification = Verification(
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
            signals_active=self._signals_active(target),
            alert_firing=self._alerts_firing(state, target),
        )
        v.state = result.state_after
        if result.outcome == "pending":
            return
        await self.db(
            self.ledger.record_verification,
            action_key=v.plan.idempotency_key,
            started_at=v.started_at,
            finished_at=now,
            recovered=result.outcome == "recovered",
            detail=result.detail,
        )
        if result.outcome == "recovered":
            self.host.emit("verify", target, f"recovered: {result.detail}")
            self.metrics.time_to_recover.observe(
                max(0.0, (now - incident.opened_at).total_seconds())
            )
            await self._close(
                target, state, IncidentState.RESOLVED, now,
                reason=f"verified: {result.detail}", resolution=rec.Resolution.AUTO,
            )  # fmt: skip
        else:
            self.host.emit("verify", target, f"not recovered: {result.detail}")
            await self._verification_failed(target, state, now, result.detail)

    def _signals_active(self, target: Target) -> bool | None:
        # Sweeps are paced in wall seconds while `now` is the cluster's clock (which may run
        # faster than the wall, as the twin's does): compare wall with wall.
        state = self.board.states.get(target)
        if state is None:
            return False
        recent = (
            state.last_seen_wall is not None
            and time.monotonic() - state.last_seen_wall < 2 * self.sweep_interval + 1
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
        self, target: Target, state: TargetState, now: datetime, detail: str
    ) -> None:
        v = state.verification
        incident = state.incident
        assert incident is not None and v is not None
        state.verification = None
        if v.plan.verification.on_failure == "next_step":
            state.incident = msgspec.structs.replace(incident, step=v.plan.step + 1)
            self.host.emit("retry", target, f"{detail}; trying the next step")
            state.awaiting_next_step = True
            await self._decide_and_act(target, state, now)
        else:
            await self._close(
                target, state, IncidentState.ESCALATED, now, reason=f"not recovered: {detail}"
            )

    def _alert_incident(self, state: TargetState) -> bool:
        """Whether the target's incident has alert signals and an alert source is wired."""
        incident = state.incident
        return (
            self.alert_firing is not None
            and incident is not None
            and SignalKind.ALERT in incident.signal_kinds
        )

    def _alerts_firing(self, state: TargetState, target: Target) -> bool | None:
        """For an incident with alert signals, whether its target's alerts still fire
        (None: unknown, or not an alert incident)."""
        if self.alert_firing is None or not self._alert_incident(state):
            return None
        return self.alert_firing(target)

    # ------------------------------------------------------------------ close

    async def _escalate(
        self, target: Target, state: TargetState, plan: EscalatePlan, now: datetime
    ) -> None:
        incident = state.incident
        assert incident is not None
        for b in plan.blocks:
            self.metrics.guard_blocks.labels(guard=b.guard).inc()
        await self.db(
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
            guards=_verdicts(plan.verdicts),
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
        state: TargetState,
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
        await self._move(state, closed, at=now, reason=reason[:2000], resolution=resolution)
        state.verification = None
        state.last_noaction = ()
        state.awaiting_next_step = False
        state.escalated_ongoing = to is IncidentState.ESCALATED
        label = resolution.value if resolution is not None else "escalated"
        if to is IncidentState.RESOLVED and incident.attempts == 0:
            label = "false_positive"
        self.metrics.incidents_closed.labels(resolution=label).inc()
        self.board.update_open_gauge()
        self.host.emit("resolved" if to is IncidentState.RESOLVED else "escalated", target, reason)
        if to is IncidentState.ESCALATED:
            await record_escalation(
                self.writer, target, reason, at=self.host.now(),
                record_failed=self.record_write_failed,
            )  # fmt: skip

    # ------------------------------------------------------------------ restart

    def resume_from_ledger(self) -> None:
        """Rebuild in-progress incidents from the ledger (after a restart or failover)."""
        for record in self.ledger.incidents_in_progress():
            plans = [p for p in self.ledger.plans_for_incident(record.id) if p.step is not None]
            incident = record.to_incident(
                signals=self.ledger.signals_for_incident(record.id),
                step=(plans[-1].step or 0) if plans else 0,
            )
            target = incident.target
            state = self.board.states.setdefault(target, TargetState())
            state.incident = incident
            state.last_seen = record.opened_at
            self.board.dirty.add(target)
            log.info("resumed incident %s on %s (%s)", record.id, target.key, record.state.value)

    async def _replan_for_resume(self, state: TargetState) -> ActionPlan | None:
        """The plan of the incident's last action, from the ledger and its playbook."""
        incident = state.incident
        assert incident is not None
        done = await self.db(self.ledger.actions_for_incident, incident.id)
        playbook = self.host.playbooks.get(incident.playbook) if incident.playbook else None
        if not done or playbook is None:
            return None
        last = done[-1]
        plans = await self.db(self.ledger.plans_for_incident, incident.id)
        steps = [p.step for p in plans if p.action == last.action and p.step is not None]
        return resumed_plan(
            incident,
            playbook,
            action=ActionName(last.action),
            params=msgspec.convert(last.params, ActionParams),
            step=steps[-1] if steps else incident.step,
            idempotency_key=last.idempotency_key,
        )

    async def _resume_acting(self, target: Target, state: TargetState, now: datetime) -> None:
        incident = state.incident
        assert incident is not None
        done = await self.db(self.ledger.actions_for_incident, incident.id)
        pending = [a for a in done if a.state is ActionState.PENDING]
        plan = await self._replan_for_resume(state)
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
            await self._start_verification(target, state, plan, now, done[-1].state)


def _verdicts(verdicts: Iterable[Verdict]) -> tuple[rec.GuardVerdict, ...]:
    """The engine's guard verdicts as the ledger records them."""
    return tuple(
        rec.GuardVerdict(
            guard=v.guard,
            allowed=not isinstance(v, Block),
            reason=v.reason if isinstance(v, Block) else "",
        )
        for v in verdicts
    )

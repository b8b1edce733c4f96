"""What happened before: the recent actions and open cordons the runtime reads from the ledger.

Pure data: the planner reads it, never writes it.
"""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec

from kubeheal.model.core import IncidentId, SignalKind, Target

__all__ = [
    "ActionState",
    "ErrorBudget",
    "History",
    "IncidentOpening",
    "KillSwitch",
    "KillSwitchState",
    "PastAction",
]


class ActionState(enum.StrEnum):
    """State of an action: pending until its outcome is recorded (the ledger's vocabulary
    too; ``kubeheal.actions.OutcomeState`` is the finished subset an executor returns)."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    """Nothing was changed on purpose (a dry run)."""


class PastAction(msgspec.Struct, frozen=True, kw_only=True):
    """One action kubeheal took (or recorded as a dry run), as the planner reads it."""

    target: Target
    action: str
    at: datetime
    outcome: ActionState = ActionState.PENDING
    incident_id: IncidentId | None = None

    @property
    def namespace(self) -> str:
        """Namespace of the target ("" for nodes)."""
        return self.target.namespace

    @property
    def counts(self) -> bool:
        """Dry runs change nothing, so they spend neither budget nor cooldown."""
        return self.outcome is not ActionState.SKIPPED


class IncidentOpening(msgspec.Struct, frozen=True, kw_only=True):
    """An incident was opened for ``target`` at ``at`` (used for flapping detection).

    ``kinds`` are the kinds of its signals (its problem); ``disrupted`` says whether kubeheal
    took a disruptive action in it (a restart, eviction, rollout or scaling, not a dry run).
    An opening known by its time only counts as disrupted, so it always counts toward
    flapping (`kubeheal.engine.incidents.counts_toward_flapping`)."""

    target: Target
    at: datetime
    kinds: frozenset[SignalKind] = frozenset()
    disrupted: bool = True


class ErrorBudget(msgspec.Struct, frozen=True, kw_only=True):
    """The error budget left of SLO ``slo`` about ``target``, as measured at ``observed_at``:
    the share of the period's budget left (1 untouched, 0 spent, negative overspent)."""

    target: Target
    slo: str
    remaining: float
    observed_at: datetime


class KillSwitchState(enum.StrEnum):
    """What the kill switch ConfigMap says: on, off, or unknown (it could not be read)."""

    OFF = "off"
    ON = "on"
    UNKNOWN = "unknown"


class KillSwitch(msgspec.Struct, frozen=True, kw_only=True):
    """The ConfigMap kill switch as last read: its state, why it is unknown (``reason``), and
    since when it has been in that state (``since``, None before the first read)."""

    state: KillSwitchState = KillSwitchState.OFF
    reason: str = ""
    since: datetime | None = None


class History(msgspec.Struct, frozen=True, kw_only=True):
    """Recent actions, the recent incident openings of the target at hand, open cordons, the
    ConfigMap kill switch and the latest SLO error budgets (from the SLO source)."""

    actions: tuple[PastAction, ...] = ()
    openings: tuple[IncidentOpening, ...] = ()
    cordoned_nodes: tuple[str, ...] = ()
    kill_switch: KillSwitch = msgspec.field(default_factory=KillSwitch)
    error_budgets: tuple[ErrorBudget, ...] = ()

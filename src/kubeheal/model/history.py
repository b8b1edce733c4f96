"""What happened before: the recent actions and open cordons the runtime reads from the ledger.

Pure data: the planner reads it, never writes it.
"""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec

from kubeheal.model.core import IncidentId, Target

__all__ = ["ActionOutcome", "ActionRecord", "ErrorBudget", "History", "IncidentOpening"]


class ActionOutcome(enum.StrEnum):
    """How an action ended (or that it has not yet)."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DRY_RUN = "dry-run"


class ActionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One action kubeheal took (or recorded as a dry run)."""

    target: Target
    action: str
    at: datetime
    outcome: ActionOutcome = ActionOutcome.PENDING
    incident_id: IncidentId | None = None

    @property
    def namespace(self) -> str:
        """Namespace of the target ("" for nodes)."""
        return self.target.namespace

    @property
    def counts(self) -> bool:
        """Dry runs change nothing, so they spend neither budget nor cooldown."""
        return self.outcome is not ActionOutcome.DRY_RUN


class IncidentOpening(msgspec.Struct, frozen=True, kw_only=True):
    """An incident was opened for ``target`` at ``at`` (used for flapping detection)."""

    target: Target
    at: datetime


class ErrorBudget(msgspec.Struct, frozen=True, kw_only=True):
    """The error budget left of SLO ``slo`` about ``target``, as measured at ``observed_at``:
    the share of the period's budget left (1 untouched, 0 spent, negative overspent)."""

    target: Target
    slo: str
    remaining: float
    observed_at: datetime


class History(msgspec.Struct, frozen=True, kw_only=True):
    """Recent actions, incident openings, open cordons, the ConfigMap kill switch and the
    latest SLO error budgets (from the SLO source)."""

    actions: tuple[ActionRecord, ...] = ()
    openings: tuple[IncidentOpening, ...] = ()
    cordoned_nodes: tuple[str, ...] = ()
    kill_switch: bool = False
    error_budgets: tuple[ErrorBudget, ...] = ()

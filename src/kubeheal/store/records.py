"""The ledger's record types: frozen dataclasses with plain ``str`` ids.

These are the ledger's own types, independent of the engine's domain types; the runtime maps
between the two. Pure: no I/O, no clock. Every timestamp is a timezone-aware ``datetime``
supplied by the caller (the ledger never reads a clock); the ledger returns them in UTC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = [
    "NON_TERMINAL_STATES",
    "TERMINAL_STATES",
    "ActionBegin",
    "ActionRecord",
    "ActionState",
    "IncidentRecord",
    "IncidentState",
    "JSONObject",
    "JSONValue",
    "PlanRecord",
    "Resolution",
    "SignalRecord",
    "TargetRef",
    "TransitionRecord",
    "VerificationRecord",
]

JSONValue = None | bool | int | float | str | Sequence["JSONValue"] | Mapping[str, "JSONValue"]
"""A value that survives a JSON round trip (tuples come back as lists)."""

JSONObject = Mapping[str, JSONValue]
"""A JSON object: signal details and action/plan parameters."""


class IncidentState(StrEnum):
    """Lifecycle of an incident: open -> acting -> verifying -> resolved | escalated."""

    OPEN = "open"
    ACTING = "acting"
    VERIFYING = "verifying"
    RESOLVED = "resolved"
    ESCALATED = "escalated"


TERMINAL_STATES: frozenset[IncidentState] = frozenset(
    {IncidentState.RESOLVED, IncidentState.ESCALATED}
)
"""States an incident never leaves."""

NON_TERMINAL_STATES: frozenset[IncidentState] = frozenset(IncidentState) - TERMINAL_STATES
"""States of an incident that is still being handled (at most one per target)."""


class Resolution(StrEnum):
    """How a closed incident ended.

    ``auto``: kubeheal fixed it; ``manual``: someone else did; ``escalated``: handed to a
    human; ``false_positive``: there was nothing to fix.
    """

    AUTO = "auto"
    MANUAL = "manual"
    ESCALATED = "escalated"
    FALSE_POSITIVE = "false_positive"


class ActionState(StrEnum):
    """State of a requested action: pending until its outcome is recorded."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class TargetRef:
    """What an incident or action is about: a workload or a node.

    ``namespace`` is ``""`` for cluster-scoped objects such as nodes.
    """

    kind: str
    namespace: str
    name: str


@dataclass(frozen=True, slots=True)
class SignalRecord:
    """A normalised observation as recorded; ``incident_id`` once grouped into an incident."""

    id: str
    kind: str
    target: TargetRef
    subject: str
    source: str
    observed_at: datetime
    details: JSONObject = field(default_factory=dict)
    incident_id: str | None = None


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    """One incident: one target, one remediation, however many signals describe it.

    ``detected_at`` is when the first signal was observed; ``first_action_at`` when the first
    action was requested; ``attempts`` counts the actions requested for the incident.
    """

    id: str
    target: TargetRef
    state: IncidentState
    playbook: str | None
    opened_at: datetime
    detected_at: datetime
    first_action_at: datetime | None
    resolved_at: datetime | None
    escalated_at: datetime | None
    attempts: int
    flapping: bool
    resolution: Resolution | None

    @property
    def is_terminal(self) -> bool:
        """Whether the incident is closed (resolved or escalated)."""
        return self.state in TERMINAL_STATES


@dataclass(frozen=True, slots=True)
class TransitionRecord:
    """One state change of an incident; ``from_state`` is ``None`` for the opening."""

    id: int
    incident_id: str
    from_state: IncidentState | None
    to_state: IncidentState
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class PlanRecord:
    """A decision of the engine: which step and action, or why nothing (``blocked_by``)."""

    id: int
    incident_id: str
    decided_at: datetime
    playbook: str | None
    step: int | None
    action: str | None
    params: JSONObject
    blocked_by: str | None
    reason: str
    dry_run: bool


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """A requested cluster write, keyed by its idempotency key."""

    idempotency_key: str
    incident_id: str
    action: str
    target: TargetRef
    params: JSONObject
    requested_at: datetime
    state: ActionState
    finished_at: datetime | None
    error: str | None


@dataclass(frozen=True, slots=True)
class ActionBegin:
    """Result of `Ledger.begin_action`.

    ``created`` is true when this call inserted the pending action: the caller may now perform
    it. When false, the key was already recorded (by a previous run or another thread) and
    ``record`` is what is stored: the caller inspects ``record.state`` and must not simply
    perform the action again.
    """

    record: ActionRecord
    created: bool


@dataclass(frozen=True, slots=True)
class VerificationRecord:
    """A check, after an action, of whether the target recovered."""

    id: int
    action_key: str
    started_at: datetime
    finished_at: datetime
    recovered: bool
    detail: str

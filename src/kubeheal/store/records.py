"""The ledger's record types: frozen dataclasses in the model's vocabulary.

One vocabulary with the engine: incident and action states are the model's
(`kubeheal.model.IncidentState`, `kubeheal.model.ActionState`), signal kinds and origins are
`SignalKind` and `SignalSource`, target kinds `TargetKind`, and ids the model's ``NewType``
ids. A record built from plain strings (the store's own decoding, a test) is converted to
those types when it is built, and refused with `InvalidRecordError` naming the field if a
value is not one of them; the conversions to the engine's structs (`TargetRef.to_target`,
`SignalRecord.of`/`to_signal`, `IncidentRecord.to_incident`, `ActionRecord.past_action`)
live here and nowhere else.

Pure: no I/O, no clock. Every timestamp is a timezone-aware ``datetime`` supplied by the
caller (the ledger never reads a clock); the ledger returns them in UTC.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from kubeheal.model.core import (
    ActionId,
    Incident,
    IncidentId,
    IncidentState,
    Signal,
    SignalId,
    SignalKind,
    SignalSource,
    Target,
    TargetKind,
    Transition,
)
from kubeheal.model.history import ActionState, PastAction
from kubeheal.store.errors import InvalidRecordError

__all__ = [
    "NON_TERMINAL_STATES",
    "TERMINAL_STATES",
    "ActionBegin",
    "ActionRecord",
    "ActionState",
    "GuardVerdict",
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

LABEL_PREFIX = "label."
"""Signal labels are stored among the details under this prefix (``label.alertname``)."""

TERMINAL_STATES: frozenset[IncidentState] = frozenset(s for s in IncidentState if s.closed)
"""States an incident never leaves."""

NON_TERMINAL_STATES: frozenset[IncidentState] = frozenset(IncidentState) - TERMINAL_STATES
"""States of an incident that is still being handled (at most one per target)."""


_E = TypeVar("_E", bound=StrEnum)


def _enum(kind: type[_E], value: object, what: str) -> _E:
    """``value`` as a member of ``kind``; `InvalidRecordError` naming ``what`` if it is none."""
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            pass
    raise InvalidRecordError(
        f"{what} must be one of {', '.join(m.value for m in kind)}; got {value!r}"
    )


def _set(record: object, name: str, value: object) -> None:
    object.__setattr__(record, name, value)


class Resolution(StrEnum):
    """How a closed incident ended.

    ``auto``: kubeheal fixed it; ``manual``: someone else did; ``escalated``: handed to a
    human; ``false_positive``: there was nothing to fix.
    """

    AUTO = "auto"
    MANUAL = "manual"
    ESCALATED = "escalated"
    FALSE_POSITIVE = "false_positive"


@dataclass(frozen=True, slots=True)
class TargetRef:
    """What an incident or action is about: a workload or a node.

    ``namespace`` is ``""`` for cluster-scoped objects such as nodes.
    """

    kind: TargetKind
    namespace: str
    name: str

    def __post_init__(self) -> None:
        _set(self, "kind", _enum(TargetKind, self.kind, "target kind"))

    @classmethod
    def of(cls, target: Target | TargetRef) -> TargetRef:
        """The reference to the engine's ``target`` (a `TargetRef` is returned as it is)."""
        if isinstance(target, TargetRef):
            return target
        return cls(kind=target.kind, namespace=target.namespace, name=target.name)

    def to_target(self) -> Target:
        """The engine's `Target` this refers to."""
        return Target(kind=self.kind, namespace=self.namespace, name=self.name)


@dataclass(frozen=True, slots=True)
class SignalRecord:
    """A normalised observation as recorded; ``incident_id`` once grouped into an incident.

    ``details`` holds the signal's details and its labels (under `LABEL_PREFIX`).
    """

    id: SignalId
    kind: SignalKind
    target: TargetRef
    subject: str
    source: SignalSource
    observed_at: datetime
    details: JSONObject = field(default_factory=dict)
    incident_id: IncidentId | None = None

    def __post_init__(self) -> None:
        _set(self, "kind", _enum(SignalKind, self.kind, f"signal {self.id!r}: kind"))
        _set(self, "source", _enum(SignalSource, self.source, f"signal {self.id!r}: source"))

    @classmethod
    def of(cls, signal: Signal, *, incident_id: str | None = None) -> SignalRecord:
        """The record of the engine's ``signal`` (its labels kept among the details)."""
        labels = {f"{LABEL_PREFIX}{k}": v for k, v in signal.labels.items()}
        return cls(
            id=signal.id,
            kind=signal.kind,
            target=TargetRef.of(signal.target),
            subject=signal.subject,
            source=signal.source,
            observed_at=signal.observed_at,
            details={**signal.details, **labels},
            incident_id=None if incident_id is None else IncidentId(incident_id),
        )

    def to_signal(self) -> Signal:
        """The engine's `Signal` this records (details and labels split again)."""
        details: dict[str, str | int | float | bool] = {}
        labels: dict[str, str] = {}
        for key, value in self.details.items():
            if key.startswith(LABEL_PREFIX):
                text = value if isinstance(value, str) else json.dumps(value)
                labels[key.removeprefix(LABEL_PREFIX)] = text
            elif isinstance(value, str | int | float | bool):
                details[key] = value
            else:  # not written by kubeheal (its details are scalars): keep it readable
                details[key] = json.dumps(value, sort_keys=True)
        return Signal(
            id=self.id,
            kind=self.kind,
            target=self.target.to_target(),
            observed_at=self.observed_at,
            subject=self.subject,
            details=details,
            labels=labels,
            source=self.source,
        )


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    """One incident: one target, one remediation, however many signals describe it.

    ``detected_at`` is when the first signal was observed; ``first_action_at`` when the first
    action was requested; ``attempts`` counts the actions requested for the incident.
    """

    id: IncidentId
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

    def __post_init__(self) -> None:
        _set(self, "state", _enum(IncidentState, self.state, f"incident {self.id!r}: state"))

    def to_incident(self, *, signals: Sequence[SignalRecord], step: int) -> Incident:
        """The engine's `Incident` as far as the ledger knows it (a restarted operator's
        view): its recorded signals, state and attempts, and the playbook ``step`` next."""
        return Incident(
            id=self.id,
            target=self.target.to_target(),
            opened_at=self.opened_at,
            updated_at=self.opened_at,
            signals=tuple(s.to_signal() for s in signals),
            state=self.state,
            attempts=self.attempts,
            transitions=(Transition(to=self.state, at=self.opened_at),),
            flapping=self.flapping,
            playbook=self.playbook,
            step=step,
        )


@dataclass(frozen=True, slots=True)
class TransitionRecord:
    """One state change of an incident; ``from_state`` is ``None`` for the opening."""

    id: int
    incident_id: IncidentId
    from_state: IncidentState | None
    to_state: IncidentState
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class GuardVerdict:
    """One guard's verdict on a decision: ``allow`` or ``block``, and the block's reason."""

    guard: str
    allowed: bool
    reason: str = ""

    @staticmethod
    def encode(verdicts: Sequence[GuardVerdict]) -> str:
        """The ``plans.guards`` column: a JSON array, in the order the guards were asked."""
        return json.dumps(
            [{"guard": v.guard, "allowed": v.allowed, "reason": v.reason} for v in verdicts],
            separators=(",", ":"),
        )

    @staticmethod
    def decode(text: str | None) -> tuple[GuardVerdict, ...]:
        """The verdicts of a ``plans.guards`` column (plans recorded before it: none)."""
        items = json.loads(text) if text else []
        if not isinstance(items, list):
            raise InvalidRecordError("plans.guards must be a JSON array")
        return tuple(
            GuardVerdict(
                guard=str(i.get("guard", "")),
                allowed=bool(i.get("allowed")),
                reason=str(i.get("reason", "")),
            )
            for i in items
            if isinstance(i, dict)
        )


@dataclass(frozen=True, slots=True)
class PlanRecord:
    """A decision of the engine: which step and action, or why nothing (``blocked_by``)."""

    id: int
    incident_id: IncidentId
    decided_at: datetime
    playbook: str | None
    step: int | None
    action: str | None
    params: JSONObject
    blocked_by: str | None
    reason: str
    dry_run: bool
    guards: tuple[GuardVerdict, ...] = ()
    """Every guard's verdict, in the order they were asked (up to the one that blocked)."""


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """A requested cluster write, keyed by its idempotency key."""

    idempotency_key: ActionId
    incident_id: IncidentId
    action: str
    target: TargetRef
    params: JSONObject
    requested_at: datetime
    state: ActionState
    finished_at: datetime | None
    error: str | None

    def __post_init__(self) -> None:
        what = f"action {self.idempotency_key!r}: state"
        _set(self, "state", _enum(ActionState, self.state, what))

    def past_action(self) -> PastAction:
        """The action as the planner's history reads it (budgets, cooldowns)."""
        return PastAction(
            target=self.target.to_target(),
            action=self.action,
            at=self.requested_at,
            outcome=self.state,
            incident_id=self.incident_id,
        )


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
    action_key: ActionId
    started_at: datetime
    finished_at: datetime
    recovered: bool
    detail: str

"""Incidents: grouping signals per target and the incident state machine.

::

    open ──> acting ──> verifying ──> resolved
      │ │      │  ▲         │              ▲
      │ │      │  └─────────┘ (retry)      │
      │ └──────┼───────────────────────────┘ (quiet before any action)
      └────────┴────────────┴──> escalated

One incident per target: signals about a target with an active incident join it (deduplicated
by signal id, the newest observation kept); otherwise a new incident opens. An incident whose
target opened ``flapping_threshold`` incidents within ``flapping_window`` is marked flapping;
an earlier incident counts only when it had the same problem (a signal kind in common) or
kubeheal disrupted the target in it (`counts_toward_flapping`), so a PodDisruptionBudget
created before a crash loop does not make the crash loop's second incident a flap.

Pure: no I/O, no clock (``now`` is a parameter). Invalid transitions raise
``InvalidTransition``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import msgspec

from kubeheal.config import IncidentSettings
from kubeheal.engine.params import Disruption, disruption_of
from kubeheal.model.core import (
    Incident,
    IncidentId,
    IncidentState,
    Signal,
    SignalKind,
    Target,
    Transition,
    stable_id,
)
from kubeheal.model.history import IncidentOpening, PastAction

__all__ = [
    "ALLOWED_TRANSITIONS",
    "IncidentError",
    "InvalidTransition",
    "correlate",
    "counts_toward_flapping",
    "disrupted_by",
    "is_flapping",
    "open_incident",
    "record_attempt",
    "transition",
]

ALLOWED_TRANSITIONS: dict[IncidentState, frozenset[IncidentState]] = {
    # open -> resolved: the signals cleared before anything was done (a false positive, or a
    # problem that went away by itself).
    IncidentState.OPEN: frozenset(
        {IncidentState.ACTING, IncidentState.RESOLVED, IncidentState.ESCALATED}
    ),
    IncidentState.ACTING: frozenset(
        {IncidentState.VERIFYING, IncidentState.ESCALATED, IncidentState.OPEN}
    ),
    IncidentState.VERIFYING: frozenset(
        {IncidentState.RESOLVED, IncidentState.ACTING, IncidentState.ESCALATED}
    ),
    IncidentState.RESOLVED: frozenset(),
    IncidentState.ESCALATED: frozenset(),
}


class IncidentError(Exception):
    """Base of the incident errors."""


class InvalidTransition(IncidentError):
    """A state change the lifecycle does not allow."""

    def __init__(self, incident: Incident, to: IncidentState) -> None:
        super().__init__(
            f"incident {incident.id} ({incident.target}) cannot go from "
            f"{incident.state.value} to {to.value}"
        )
        self.incident = incident
        self.to = to


def is_flapping(openings: Iterable[datetime], *, now: datetime, settings: IncidentSettings) -> bool:
    """Whether ``openings`` (including the one happening at ``now``) reach the threshold
    within the window."""
    recent = [at for at in openings if now - settings.flapping_window <= at <= now]
    return len(recent) >= settings.flapping_threshold


def counts_toward_flapping(opening: IncidentOpening, *, kinds: Iterable[SignalKind]) -> bool:
    """Whether an earlier incident ``opening`` counts toward flapping for a new incident about
    the same target with signals of ``kinds``: when kubeheal took a disruptive action in it
    (the fix did not stick), or when it had a kind of problem in common with the new one (the
    same problem keeps coming back, whatever was done about it). An incident about another
    problem that kubeheal met with no disruptive action (a missing PodDisruptionBudget
    created, a cordon, an escalation) is no flap of this one."""
    return opening.disrupted or not opening.kinds.isdisjoint(kinds)


def disrupted_by(actions: Iterable[PastAction]) -> bool:
    """Whether any of ``actions`` (those of one incident) was disruptive
    (`kubeheal.engine.params.Disruption`) and changed the cluster (a dry run did not)."""
    return any(a.counts and disruption_of(a.action) is Disruption.DISRUPTIVE for a in actions)


def _merge_signals(old: Sequence[Signal], new: Iterable[Signal]) -> tuple[Signal, ...]:
    by_id = {signal.id: signal for signal in old}
    for signal in new:
        kept = by_id.get(signal.id)
        if kept is None or signal.observed_at >= kept.observed_at:
            by_id[signal.id] = signal
    return tuple(sorted(by_id.values(), key=lambda s: (s.kind.value, s.subject, s.id)))


def open_incident(
    target: Target,
    signals: Sequence[Signal],
    *,
    now: datetime,
    openings: Iterable[IncidentOpening] = (),
    settings: IncidentSettings,
) -> Incident:
    """A new open incident for ``target``; ``openings`` are earlier openings (any target),
    of which those about ``target`` that `counts_toward_flapping` count toward flapping."""
    kinds = frozenset(s.kind for s in signals)
    previous = [
        o.at for o in openings if o.target == target and counts_toward_flapping(o, kinds=kinds)
    ]
    return Incident(
        id=IncidentId(stable_id(target.key, now.isoformat())),
        target=target,
        opened_at=now,
        updated_at=now,
        signals=_merge_signals((), signals),
        transitions=(Transition(to=IncidentState.OPEN, at=now, reason="opened"),),
        flapping=is_flapping([*previous, now], now=now, settings=settings),
    )


def correlate(
    signals: Iterable[Signal],
    *,
    incidents: Iterable[Incident],
    now: datetime,
    openings: Iterable[IncidentOpening] = (),
    settings: IncidentSettings,
) -> tuple[Incident, ...]:
    """Fold ``signals`` into the active ``incidents``: one incident per target.

    Returns every active incident afterwards (updated ones, untouched ones and newly opened
    ones), sorted by target. Closed incidents passed in are dropped from the result.
    """
    active: dict[Target, Incident] = {}
    for incident in incidents:
        if not incident.state.closed:
            active[incident.target] = incident
    by_target: dict[Target, list[Signal]] = {}
    for signal in signals:
        by_target.setdefault(signal.target, []).append(signal)
    opening_list = tuple(openings)
    for target in sorted(by_target):
        batch = by_target[target]
        current = active.get(target)
        if current is None:
            active[target] = open_incident(
                target, batch, now=now, openings=opening_list, settings=settings
            )
        else:
            merged = _merge_signals(current.signals, batch)
            if merged != current.signals:
                active[target] = msgspec.structs.replace(current, signals=merged, updated_at=now)
    return tuple(active[target] for target in sorted(active))


def transition(
    incident: Incident, to: IncidentState, *, now: datetime, reason: str = ""
) -> Incident:
    """The incident moved to ``to``; raises ``InvalidTransition`` if the lifecycle forbids it."""
    if to not in ALLOWED_TRANSITIONS[incident.state]:
        raise InvalidTransition(incident, to)
    return msgspec.structs.replace(
        incident,
        state=to,
        updated_at=now,
        transitions=(*incident.transitions, Transition(to=to, at=now, reason=reason)),
    )


def record_attempt(incident: Incident, *, playbook: str, step: int, now: datetime) -> Incident:
    """The incident starts acting with ``playbook`` step ``step``: counts one attempt."""
    acting = transition(incident, IncidentState.ACTING, now=now, reason=f"{playbook}[{step}]")
    return msgspec.structs.replace(
        acting, attempts=incident.attempts + 1, playbook=playbook, step=step
    )

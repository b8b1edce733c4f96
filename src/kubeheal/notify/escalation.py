"""The escalation state machine: which notifications an escalation owes at a given moment.

Pure: no I/O, no clock (``now`` is a parameter; the runtime passes an injected clock).

An escalation starts at ``started_at`` (the incident was escalated by the operator, or stayed
unresolved too long). Level *n* (1-based) is due at ``started_at + levels[n-1].after``; levels
fire in order, each once, and overdue levels fire together (after a restart, say). An
acknowledgement stops the climb and is announced once to every channel told so far; the end
of the incident (resolved, or its problem no longer observed) is announced once to every
channel told, whether or not it was acknowledged. Between levels, progress is summed up in
updates, rate-limited per incident: one per ``min_update_interval`` at most and
``max_updates`` in all::

    climbing ──level due──> climbing (level+1) ... ──ack──> acknowledged ──end──> resolved
        └───────────────────────────────end─────────────────────────────────────────┘
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from kubeheal.config.settings import EscalationLevelSettings
from kubeheal.store.outbox import EscalationRecord

__all__ = ["Step", "level_due_at", "plan_step"]


@dataclass(frozen=True)
class Step:
    """What an escalation owes now, and when to look at it again."""

    fire: tuple[int, ...] = ()
    """Level numbers (1-based) to notify now, in order."""
    announce_ack: bool = False
    announce_resolution: bool = False
    update: bool = False
    """A progress update is due (and allowed by the rate limit)."""
    next_at: datetime | None = None
    """When something may next be due (``None``: nothing scheduled)."""

    @property
    def idle(self) -> bool:
        """Nothing to do now."""
        return not (self.fire or self.announce_ack or self.announce_resolution or self.update)


def level_due_at(
    escalation: EscalationRecord, levels: Sequence[EscalationLevelSettings], number: int
) -> datetime:
    """When level ``number`` (1-based) of ``levels`` is due for ``escalation``."""
    return escalation.started_at + levels[number - 1].after


def plan_step(
    escalation: EscalationRecord,
    *,
    levels: Sequence[EscalationLevelSettings],
    now: datetime,
    progress: bool = False,
    min_update_interval: timedelta = timedelta(minutes=5),
    max_updates: int = 10,
) -> Step:
    """What ``escalation`` owes at ``now``; ``progress``: something happened to the incident
    since the last message (a candidate for an update)."""
    if escalation.resolve_announced:
        return Step()
    if escalation.resolved:
        return Step(announce_resolution=True)
    if escalation.acknowledged:
        return Step(announce_ack=not escalation.ack_announced)
    fire = tuple(
        number
        for number in range(escalation.level + 1, len(levels) + 1)
        if level_due_at(escalation, levels, number) <= now
    )
    upcoming = escalation.level + len(fire) + 1
    next_at = level_due_at(escalation, levels, upcoming) if upcoming <= len(levels) else None
    update = False
    if progress and not fire and escalation.level > 0 and escalation.updates < max_updates:
        # The last message was the last update or the last level, whichever came later.
        marks = [escalation.last_update_at]
        if escalation.level <= len(levels):
            marks.append(level_due_at(escalation, levels, escalation.level))
        known = [m for m in marks if m is not None]
        allowed_at = max(known) + min_update_interval if known else now
        if allowed_at <= now:
            update = True
        elif next_at is None or allowed_at < next_at:
            next_at = allowed_at
    return Step(fire=fire, update=update, next_at=next_at)

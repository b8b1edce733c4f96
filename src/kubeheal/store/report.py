"""kubeheal's figures of merit, computed from ledger records. Pure: no I/O, no clock.

Definitions (all durations in seconds, per incident):

- **time to detect** = ``opened_at - detected_at``: from the first signal's observation to the
  incident being opened. Every incident counts.
- **time to act** = ``first_action_at - opened_at``: from the incident being opened to its
  first action being requested. Incidents with at least one action count.
- **time to recover** = ``resolved_at - detected_at``: from the first signal's observation to
  the incident being resolved, i.e. how long the problem was visible (the usual MTTR, and
  what ``kubeheal demo`` reports per fault). Incidents resolved as ``auto`` or ``manual``
  count; false positives and escalations do not.
- **closed** incidents are resolved or escalated; the others are in progress.
- a **false positive** is a closed incident resolved as ``false_positive``, or resolved as
  ``auto`` without any action within the grace period of opening (the signal went away by
  itself, so there was nothing to heal).
- **auto-recovered**: resolved as ``auto`` after at least one action. A resolution ``auto``
  without an action after the grace period (it went away by itself, late) is neither an
  auto-recovery nor a false positive.
- **auto-recovery rate** = auto-recovered / (closed - false positives): false alarms neither
  help nor hurt it. ``None`` when there is nothing to divide by.
- **false-positive rate** = false positives / closed.
- **success per playbook**: for each playbook, auto-recovered / (closed - false positives)
  over the incidents handled by that playbook; incidents never given a playbook are left out.
- **guard blocks**: plans whose ``blocked_by`` names a guard, counted per guard.

Percentiles use the **nearest-rank** method: the p-th percentile of n sorted values is the
value at rank ``ceil(p / 100 * n)`` (1-based), so it is always an observed duration.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction

from kubeheal.store.records import IncidentRecord, PlanRecord, Resolution

__all__ = [
    "DEFAULT_FALSE_POSITIVE_GRACE",
    "DurationStats",
    "PlaybookStats",
    "Report",
    "build_report",
    "is_false_positive",
    "percentile",
]

DEFAULT_FALSE_POSITIVE_GRACE = timedelta(minutes=5)
"""An incident auto-resolved within this time of opening, without any action, was a false alarm."""


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile (0 < p <= 100) of ``values`` (not empty)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {p}")
    ordered = sorted(values)
    rank = math.ceil(Fraction(p) * len(ordered) / 100)
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class DurationStats:
    """How many durations were measured, and their p50 and p95 in seconds (None if none)."""

    count: int
    p50_s: float | None
    p95_s: float | None

    @classmethod
    def of(cls, durations: Sequence[float]) -> DurationStats:
        """Summarise a list of durations in seconds."""
        if not durations:
            return cls(count=0, p50_s=None, p95_s=None)
        return cls(
            count=len(durations),
            p50_s=percentile(durations, 50),
            p95_s=percentile(durations, 95),
        )

    def to_dict(self) -> dict[str, object]:
        """This summary as JSON-ready data."""
        return {"count": self.count, "p50_s": self.p50_s, "p95_s": self.p95_s}


@dataclass(frozen=True, slots=True)
class PlaybookStats:
    """How one playbook did: closed genuine incidents and how many it healed."""

    playbook: str
    incidents: int
    auto_recovered: int
    success_rate: float | None

    def to_dict(self) -> dict[str, object]:
        """These figures as JSON-ready data."""
        return {
            "playbook": self.playbook,
            "incidents": self.incidents,
            "auto_recovered": self.auto_recovered,
            "success_rate": self.success_rate,
        }


@dataclass(frozen=True, slots=True)
class Report:
    """kubeheal's figures over a set of incidents and plans (see the module's definitions)."""

    incidents: int
    in_progress: int
    closed: int
    auto_recovered: int
    manual: int
    escalated: int
    false_positives: int
    time_to_detect: DurationStats
    time_to_act: DurationStats
    time_to_recover: DurationStats
    auto_recovery_rate: float | None
    false_positive_rate: float | None
    playbooks: tuple[PlaybookStats, ...]
    guard_blocks: tuple[tuple[str, int], ...]
    """(guard, number of plans it blocked), by guard name."""

    def to_dict(self) -> dict[str, object]:
        """The report as JSON-ready data (``kubeheal report --json``)."""
        return {
            "incidents": self.incidents,
            "in_progress": self.in_progress,
            "closed": self.closed,
            "auto_recovered": self.auto_recovered,
            "manual": self.manual,
            "escalated": self.escalated,
            "false_positives": self.false_positives,
            "time_to_detect": self.time_to_detect.to_dict(),
            "time_to_act": self.time_to_act.to_dict(),
            "time_to_recover": self.time_to_recover.to_dict(),
            "auto_recovery_rate": self.auto_recovery_rate,
            "false_positive_rate": self.false_positive_rate,
            "playbooks": [p.to_dict() for p in self.playbooks],
            "guard_blocks": dict(self.guard_blocks),
        }


def is_false_positive(
    incident: IncidentRecord, *, grace: timedelta = DEFAULT_FALSE_POSITIVE_GRACE
) -> bool:
    """Whether a closed incident was a false alarm (see the module's definition)."""
    if incident.resolution == Resolution.FALSE_POSITIVE:
        return True
    return (
        incident.resolution == Resolution.AUTO
        and incident.first_action_at is None
        and incident.resolved_at is not None
        and incident.resolved_at - incident.opened_at <= grace
    )


def _is_auto_recovered(incident: IncidentRecord) -> bool:
    return incident.resolution == Resolution.AUTO and incident.first_action_at is not None


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def build_report(
    *,
    incidents: Iterable[IncidentRecord],
    plans: Iterable[PlanRecord] = (),
    false_positive_grace: timedelta = DEFAULT_FALSE_POSITIVE_GRACE,
) -> Report:
    """Compute the report over ``incidents`` (e.g. those opened in a window) and ``plans``."""
    all_incidents = list(incidents)
    closed = [i for i in all_incidents if i.is_terminal]
    false_positives = [i for i in closed if is_false_positive(i, grace=false_positive_grace)]
    genuine = [i for i in closed if not is_false_positive(i, grace=false_positive_grace)]
    auto = [i for i in genuine if _is_auto_recovered(i)]

    detect = [(i.opened_at - i.detected_at).total_seconds() for i in all_incidents]
    act = [
        (i.first_action_at - i.opened_at).total_seconds()
        for i in all_incidents
        if i.first_action_at is not None
    ]
    recover = [
        (i.resolved_at - i.detected_at).total_seconds()
        for i in genuine
        if i.resolved_at is not None and i.resolution in (Resolution.AUTO, Resolution.MANUAL)
    ]

    per_playbook: dict[str, list[IncidentRecord]] = {}
    for incident in genuine:
        if incident.playbook is not None:
            per_playbook.setdefault(incident.playbook, []).append(incident)
    playbooks = tuple(
        PlaybookStats(
            playbook=name,
            incidents=len(group),
            auto_recovered=sum(1 for i in group if _is_auto_recovered(i)),
            success_rate=_ratio(sum(1 for i in group if _is_auto_recovered(i)), len(group)),
        )
        for name, group in sorted(per_playbook.items())
    )
    blocks = Counter(p.blocked_by for p in plans if p.blocked_by is not None)

    return Report(
        incidents=len(all_incidents),
        in_progress=len(all_incidents) - len(closed),
        closed=len(closed),
        auto_recovered=len(auto),
        manual=sum(1 for i in genuine if i.resolution == Resolution.MANUAL),
        escalated=sum(1 for i in genuine if i.resolution == Resolution.ESCALATED),
        false_positives=len(false_positives),
        time_to_detect=DurationStats.of(detect),
        time_to_act=DurationStats.of(act),
        time_to_recover=DurationStats.of(recover),
        auto_recovery_rate=_ratio(len(auto), len(genuine)),
        false_positive_rate=_ratio(len(false_positives), len(closed)),
        playbooks=playbooks,
        guard_blocks=tuple(sorted(blocks.items())),
    )

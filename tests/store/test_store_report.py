"""Report figures on a hand-computed example, straight from records and through the ledger."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from kubeheal.store import (
    ActionState,
    IncidentRecord,
    IncidentState,
    Ledger,
    PlanRecord,
    Resolution,
    TargetRef,
)
from kubeheal.store.report import (
    DurationStats,
    PlaybookStats,
    Report,
    build_report,
    is_false_positive,
    percentile,
)

At = Callable[[float], datetime]

# (id, playbook, opened, first action, closed at, resolution or None if in progress)
# Every incident's first signal was observed at t=0. Durations in seconds:
#
#   id  playbook   detect  act   recover  class
#   i1  restart    10      10    70       auto-recovered
#   i2  oom        30      60    150      auto-recovered
#   i3  rollback   20      30    -        escalated
#   i4  -          5       -     -        false positive: auto, no action, gone after 60 s
#   i5  restart    40      5     -        false positive: marked so
#   i6  restart    15      10    400      manual
#   i7  -          50      10    -        in progress
#   i8  -          0       -     600      auto without action after the grace period
EXAMPLE: list[tuple[str, str | None, int, int | None, int | None, Resolution | None]] = [
    ("i1", "restart", 10, 20, 70, Resolution.AUTO),
    ("i2", "oom", 30, 90, 150, Resolution.AUTO),
    ("i3", "rollback", 20, 50, 300, Resolution.ESCALATED),
    ("i4", None, 5, None, 65, Resolution.AUTO),
    ("i5", "restart", 40, 45, 100, Resolution.FALSE_POSITIVE),
    ("i6", "restart", 15, 25, 400, Resolution.MANUAL),
    ("i7", None, 50, 60, None, None),
    ("i8", None, 0, None, 600, Resolution.AUTO),
]
# Blocked plans: cooldown twice, budget once; two plans not blocked.
BLOCKS: list[str | None] = ["cooldown", None, "budget", "cooldown", None]

EXPECTED = Report(
    incidents=8,
    in_progress=1,
    closed=7,
    auto_recovered=2,  # i1, i2
    manual=1,
    escalated=1,
    false_positives=2,  # i4, i5
    # detect sorted: 0 5 10 15 20 30 40 50 -> p50 rank ceil(4)=4 -> 15; p95 rank ceil(7.6)=8
    time_to_detect=DurationStats(count=8, p50_s=15.0, p95_s=50.0),
    # act sorted: 5 10 10 10 30 60 -> p50 rank 3 -> 10; p95 rank ceil(5.7)=6 -> 60
    time_to_act=DurationStats(count=6, p50_s=10.0, p95_s=60.0),
    # recover (auto/manual, not false positives): 70 150 400 600 -> p50 rank 2; p95 rank 4
    time_to_recover=DurationStats(count=4, p50_s=150.0, p95_s=600.0),
    auto_recovery_rate=2 / 5,  # genuine closed: i1 i2 i3 i6 i8
    false_positive_rate=2 / 7,
    playbooks=(
        PlaybookStats(playbook="oom", incidents=1, auto_recovered=1, success_rate=1.0),
        PlaybookStats(playbook="restart", incidents=2, auto_recovered=1, success_rate=0.5),
        PlaybookStats(playbook="rollback", incidents=1, auto_recovered=0, success_rate=0.0),
    ),
    guard_blocks=(("budget", 1), ("cooldown", 2)),
)


def _records(at: At) -> tuple[list[IncidentRecord], list[PlanRecord]]:
    incidents = []
    for n, (iid, playbook, opened, acted, closed, resolution) in enumerate(EXAMPLE):
        state = {
            None: IncidentState.VERIFYING,
            Resolution.ESCALATED: IncidentState.ESCALATED,
        }.get(resolution, IncidentState.RESOLVED)
        incidents.append(
            IncidentRecord(
                id=iid,
                target=TargetRef("Deployment", "ns", f"w{n}"),
                state=state,
                playbook=playbook,
                opened_at=at(opened),
                detected_at=at(0),
                first_action_at=None if acted is None else at(acted),
                resolved_at=at(closed)
                if closed is not None and state is IncidentState.RESOLVED
                else None,
                escalated_at=at(closed) if state is IncidentState.ESCALATED else None,
                attempts=0 if acted is None else 1,
                flapping=False,
                resolution=resolution,
            )
        )
    plans = [
        PlanRecord(
            id=n,
            incident_id="i1",
            decided_at=at(n),
            playbook="restart",
            step=0,
            action="restart-pod",
            params={},
            blocked_by=guard,
            reason="r",
            dry_run=False,
        )
        for n, guard in enumerate(BLOCKS)
    ]
    return incidents, plans


def test_percentile_nearest_rank() -> None:
    assert percentile([3.0], 50) == 3.0
    assert percentile([1.0, 2.0], 50) == 1.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 75) == 3.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 76) == 4.0
    assert percentile(list(map(float, range(1, 21))), 95) == 19.0
    assert percentile(list(map(float, range(1, 101))), 95) == 95.0
    assert percentile([7.0, 9.0], 100) == 9.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match=r"\(0, 100\]"):
        percentile([1.0], 0)


def test_report_on_the_hand_computed_example(at: At) -> None:
    incidents, plans = _records(at)
    assert build_report(incidents=incidents, plans=plans) == EXPECTED


def test_report_from_a_ledger_matches(at: At) -> None:
    with Ledger.open(":memory:") as ledger:
        for n, (iid, playbook, opened, acted, closed, resolution) in enumerate(EXAMPLE):
            target = TargetRef("Deployment", "ns", f"w{n}")
            ledger.open_incident(
                incident_id=iid,
                target=target,
                opened_at=at(opened),
                detected_at=at(0),
                playbook=playbook,
            )
            state = IncidentState.OPEN
            if acted is not None:
                ledger.transition_incident(
                    iid, from_state=state, to_state=IncidentState.ACTING, at=at(acted), reason="a"
                )
                state = IncidentState.ACTING
                ledger.begin_action(
                    f"{iid}-k",
                    incident_id=iid,
                    action="act",
                    target=target,
                    params={},
                    requested_at=at(acted),
                )
                ledger.finish_action(
                    f"{iid}-k", state=ActionState.SUCCEEDED, finished_at=at(acted + 1)
                )
            if resolution is not None:
                assert closed is not None
                to_state = (
                    IncidentState.ESCALATED
                    if resolution is Resolution.ESCALATED
                    else IncidentState.RESOLVED
                )
                ledger.transition_incident(
                    iid,
                    from_state=state,
                    to_state=to_state,
                    at=at(closed),
                    reason="closed",
                    resolution=resolution,
                )
        for n, guard in enumerate(BLOCKS):
            ledger.record_plan(incident_id="i7", decided_at=at(n), reason="r", blocked_by=guard)
        report = build_report(
            incidents=ledger.list_incidents(since=at(0), until=at(1000)),
            plans=ledger.list_plans(since=at(0), until=at(1000)),
        )
    assert report == EXPECTED


def test_to_dict_is_json_ready(at: At) -> None:
    incidents, plans = _records(at)
    data = build_report(incidents=incidents, plans=plans).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["time_to_detect"] == {"count": 8, "p50_s": 15.0, "p95_s": 50.0}
    assert data["time_to_recover"] == {"count": 4, "p50_s": 150.0, "p95_s": 600.0}
    assert data["auto_recovery_rate"] == 0.4
    assert data["false_positive_rate"] == 2 / 7
    assert data["guard_blocks"] == {"budget": 1, "cooldown": 2}
    assert data["playbooks"][1] == {  # type: ignore[index]
        "playbook": "restart",
        "incidents": 2,
        "auto_recovered": 1,
        "success_rate": 0.5,
    }


def test_grace_period_decides_false_positives(at: At) -> None:
    incidents, _ = _records(at)
    i4 = next(i for i in incidents if i.id == "i4")  # auto, no action, resolved 60 s after open
    assert is_false_positive(i4, grace=timedelta(seconds=60))
    assert not is_false_positive(i4, grace=timedelta(seconds=59))
    strict = build_report(incidents=incidents, false_positive_grace=timedelta(seconds=30))
    # i4 is now a genuine incident that went away by itself: not auto-recovered either.
    assert (strict.false_positives, strict.false_positive_rate) == (1, 1 / 7)
    assert strict.auto_recovery_rate == 2 / 6
    assert strict.time_to_recover.count == 5


def test_empty_report() -> None:
    report = build_report(incidents=[])
    assert report.time_to_detect == DurationStats(count=0, p50_s=None, p95_s=None)
    assert report.auto_recovery_rate is None and report.false_positive_rate is None
    assert report.playbooks == () and report.guard_blocks == ()
    assert report.to_dict()["time_to_act"] == {"count": 0, "p50_s": None, "p95_s": None}

"""Signals, incidents and their transitions, plans, verifications and the list queries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from kubeheal.store import (
    ActionState,
    ConflictError,
    IncidentState,
    InvalidRecordError,
    Ledger,
    NotFoundError,
    Resolution,
    SignalRecord,
    TargetRef,
)

At = Callable[[float], datetime]


def _open(ledger: Ledger, at: At, target: TargetRef, incident_id: str = "inc-1") -> None:
    ledger.open_incident(
        incident_id=incident_id, target=target, opened_at=at(10), detected_at=at(0)
    )


# -- signals


def test_signal_round_trip_and_duplicate_is_kept_once(
    ledger: Ledger, at: At, cart: TargetRef
) -> None:
    signal = SignalRecord(
        id="sig-1",
        kind="OOMKilled",
        target=cart,
        subject="pod cart-7d9 container app",
        source="detector",
        observed_at=at(0),
        details={"restarts": 3, "reason": "OOMKilled", "limits": ["256Mi"]},
    )
    assert ledger.record_signal(signal) is True
    assert ledger.record_signal(signal) is False
    stored = ledger.get_signal("sig-1")
    assert stored == signal
    assert ledger.list_signals(since=at(0), until=at(1)) == [signal]
    assert ledger.list_signals(since=at(1), until=at(2)) == []


def test_signal_timestamps_come_back_in_utc(ledger: Ledger, cart: TargetRef) -> None:
    cest = timezone(timedelta(hours=2))
    local = datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=cest)
    ledger.record_signal(
        SignalRecord(
            id="s", kind="OOMKilled", target=cart, subject="x", source="detector", observed_at=local
        )
    )
    stored = ledger.get_signal("s").observed_at
    assert stored == local
    assert stored.utcoffset() == timedelta(0)
    assert stored.hour == 12 and stored.microsecond == 123456


def test_signals_are_linked_to_their_incident(ledger: Ledger, at: At, cart: TargetRef) -> None:
    _open(ledger, at, cart)
    for n in (2, 1):
        ledger.record_signal(
            SignalRecord(
                id=f"s{n}",
                kind="OOMKilled",
                target=cart,
                subject="x",
                source="detector",
                observed_at=at(n),
            )
        )
    ledger.link_signal("s1", "inc-1")
    ledger.link_signal("s2", "inc-1")
    ledger.link_signal("s2", "inc-1")  # again: no-op
    assert [s.id for s in ledger.signals_for_incident("inc-1")] == ["s1", "s2"]
    ledger.open_incident(
        incident_id="inc-2",
        target=TargetRef("Node", "", "node-1"),
        opened_at=at(1),
        detected_at=at(1),
    )
    with pytest.raises(ConflictError, match="already belongs to incident 'inc-1'"):
        ledger.link_signal("s1", "inc-2")
    with pytest.raises(NotFoundError):
        ledger.link_signal("nope", "inc-1")
    with pytest.raises(NotFoundError):
        ledger.link_signal("s1", "nope")


# -- incidents


def test_open_incident_records_the_opening(ledger: Ledger, at: At, cart: TargetRef) -> None:
    incident = ledger.open_incident(
        incident_id="inc-1", target=cart, opened_at=at(10), detected_at=at(2), playbook="oom"
    )
    assert incident.state is IncidentState.OPEN
    assert (incident.opened_at, incident.detected_at) == (at(10), at(2))
    assert incident.attempts == 0 and incident.first_action_at is None
    assert incident.resolution is None and not incident.flapping and not incident.is_terminal
    assert ledger.get_incident("inc-1") == incident
    assert ledger.open_incident_for_target(cart) == incident
    [opening] = ledger.transitions_for_incident("inc-1")
    assert (opening.from_state, opening.to_state, opening.at) == (None, IncidentState.OPEN, at(10))


def test_one_incident_in_progress_per_target(ledger: Ledger, at: At, cart: TargetRef) -> None:
    _open(ledger, at, cart)
    with pytest.raises(ConflictError, match="already has incident 'inc-1'"):
        ledger.open_incident(incident_id="inc-2", target=cart, opened_at=at(20), detected_at=at(20))
    with pytest.raises(ConflictError, match="already exists"):
        ledger.open_incident(
            incident_id="inc-1",
            target=TargetRef("Node", "", "n1"),
            opened_at=at(20),
            detected_at=at(20),
        )
    ledger.transition_incident(
        "inc-1",
        from_state=IncidentState.OPEN,
        to_state=IncidentState.RESOLVED,
        at=at(30),
        reason="signal cleared",
        resolution=Resolution.FALSE_POSITIVE,
    )
    assert ledger.open_incident_for_target(cart) is None
    again = ledger.open_incident(
        incident_id="inc-2", target=cart, opened_at=at(40), detected_at=at(40), flapping=True
    )
    assert again.flapping
    assert ledger.open_incident_for_target(cart) == again


def test_detected_after_opened_is_refused(ledger: Ledger, at: At, cart: TargetRef) -> None:
    with pytest.raises(InvalidRecordError, match="after opened_at"):
        ledger.open_incident(incident_id="i", target=cart, opened_at=at(1), detected_at=at(2))


def test_full_lifecycle_records_every_transition(ledger: Ledger, at: At, cart: TargetRef) -> None:
    _open(ledger, at, cart)
    steps = [
        (IncidentState.OPEN, IncidentState.ACTING, 20),
        (IncidentState.ACTING, IncidentState.VERIFYING, 25),
        (IncidentState.VERIFYING, IncidentState.ACTING, 60),  # retry with the next step
        (IncidentState.ACTING, IncidentState.VERIFYING, 65),
    ]
    for from_state, to_state, t in steps:
        ledger.transition_incident(
            "inc-1", from_state=from_state, to_state=to_state, at=at(t), reason=f"t{t}"
        )
    resolved = ledger.transition_incident(
        "inc-1",
        from_state=IncidentState.VERIFYING,
        to_state=IncidentState.RESOLVED,
        at=at(90),
        reason="recovered",
        resolution=Resolution.AUTO,
    )
    assert resolved.state is IncidentState.RESOLVED and resolved.is_terminal
    assert resolved.resolution is Resolution.AUTO
    assert resolved.resolved_at == at(90) and resolved.escalated_at is None
    transitions = ledger.transitions_for_incident("inc-1")
    assert [(t.from_state, t.to_state) for t in transitions] == [
        (None, IncidentState.OPEN),
        *[(f, t) for f, t, _ in steps],
        (IncidentState.VERIFYING, IncidentState.RESOLVED),
    ]
    assert [t.reason for t in transitions][-1] == "recovered"


def test_escalation_sets_escalated_at_and_resolution(
    ledger: Ledger, at: At, cart: TargetRef
) -> None:
    _open(ledger, at, cart)
    escalated = ledger.transition_incident(
        "inc-1",
        from_state=IncidentState.OPEN,
        to_state=IncidentState.ESCALATED,
        at=at(50),
        reason="budget spent",
    )
    assert escalated.resolution is Resolution.ESCALATED
    assert escalated.escalated_at == at(50) and escalated.resolved_at is None


def test_stale_from_state_is_a_conflict_and_changes_nothing(
    ledger: Ledger, at: At, cart: TargetRef
) -> None:
    _open(ledger, at, cart)
    ledger.transition_incident(
        "inc-1", from_state=IncidentState.OPEN, to_state=IncidentState.ACTING, at=at(20), reason="a"
    )
    # A second worker still believes the incident is open: its update is refused.
    with pytest.raises(ConflictError, match="is acting, not open"):
        ledger.transition_incident(
            "inc-1",
            from_state=IncidentState.OPEN,
            to_state=IncidentState.ESCALATED,
            at=at(21),
            reason="b",
        )
    assert ledger.get_incident("inc-1").state is IncidentState.ACTING
    assert len(ledger.transitions_for_incident("inc-1")) == 2


@pytest.mark.parametrize(
    ("from_state", "to_state", "resolution", "message"),
    [
        (IncidentState.RESOLVED, IncidentState.OPEN, None, "is final"),
        (IncidentState.ESCALATED, IncidentState.RESOLVED, Resolution.MANUAL, "is final"),
        (IncidentState.OPEN, IncidentState.OPEN, None, "changes nothing"),
        (IncidentState.OPEN, IncidentState.RESOLVED, None, "needs a resolution"),
        (IncidentState.OPEN, IncidentState.RESOLVED, Resolution.ESCALATED, "needs a resolution"),
        (IncidentState.OPEN, IncidentState.ESCALATED, Resolution.AUTO, "no resolution other"),
        (IncidentState.OPEN, IncidentState.ACTING, Resolution.AUTO, "only goes with"),
    ],
)
def test_invalid_transitions_are_refused(
    ledger: Ledger,
    at: At,
    cart: TargetRef,
    from_state: IncidentState,
    to_state: IncidentState,
    resolution: Resolution | None,
    message: str,
) -> None:
    _open(ledger, at, cart)
    with pytest.raises(InvalidRecordError, match=message):
        ledger.transition_incident(
            "inc-1",
            from_state=from_state,
            to_state=to_state,
            at=at(20),
            reason="x",
            resolution=resolution,
        )
    assert ledger.get_incident("inc-1").state is IncidentState.OPEN


def test_closed_incident_cannot_move_even_from_its_true_state(
    ledger: Ledger, at: At, cart: TargetRef
) -> None:
    _open(ledger, at, cart)
    ledger.transition_incident(
        "inc-1",
        from_state=IncidentState.OPEN,
        to_state=IncidentState.ESCALATED,
        at=at(20),
        reason="x",
    )
    with pytest.raises(InvalidRecordError, match="final"):
        ledger.transition_incident(
            "inc-1",
            from_state=IncidentState.ESCALATED,
            to_state=IncidentState.OPEN,
            at=at(30),
            reason="y",
        )


def test_unknown_incident(ledger: Ledger, at: At) -> None:
    with pytest.raises(NotFoundError, match="no incident 'ghost'"):
        ledger.get_incident("ghost")
    with pytest.raises(NotFoundError):
        ledger.transition_incident(
            "ghost",
            from_state=IncidentState.OPEN,
            to_state=IncidentState.ACTING,
            at=at(0),
            reason="x",
        )
    with pytest.raises(NotFoundError):
        ledger.record_plan(incident_id="ghost", decided_at=at(0), reason="x")


def test_flapping_can_be_set_later(ledger: Ledger, at: At, cart: TargetRef) -> None:
    _open(ledger, at, cart)
    assert ledger.set_flapping("inc-1", flapping=True).flapping
    assert ledger.get_incident("inc-1").flapping
    assert not ledger.set_flapping("inc-1", flapping=False).flapping


def test_incidents_in_a_time_range(ledger: Ledger, at: At) -> None:
    for n in range(5):
        ledger.open_incident(
            incident_id=f"i{n}",
            target=TargetRef("Deployment", "ns", f"w{n}"),
            opened_at=at(n * 100),
            detected_at=at(n * 100),
        )
    ledger.transition_incident(
        "i1",
        from_state=IncidentState.OPEN,
        to_state=IncidentState.RESOLVED,
        at=at(150),
        reason="x",
        resolution=Resolution.MANUAL,
    )
    assert [i.id for i in ledger.list_incidents(since=at(100), until=at(300))] == ["i1", "i2"]
    assert [i.id for i in ledger.incidents_in_progress()] == ["i0", "i2", "i3", "i4"]


# -- plans


def test_plans_record_decisions_and_blocks(ledger: Ledger, at: At, cart: TargetRef) -> None:
    _open(ledger, at, cart)
    blocked = ledger.record_plan(
        incident_id="inc-1",
        decided_at=at(11),
        reason="restarted 2 min ago",
        playbook="crashloop",
        step=0,
        action="restart-pod",
        blocked_by="cooldown",
    )
    chosen = ledger.record_plan(
        incident_id="inc-1",
        decided_at=at(200),
        reason="step 1",
        playbook="crashloop",
        step=1,
        action="rollback",
        params={"revision": 4},
        dry_run=True,
    )
    assert blocked.blocked_by == "cooldown" and blocked.params == {} and not blocked.dry_run
    assert chosen.params == {"revision": 4} and chosen.dry_run and chosen.blocked_by is None
    assert chosen.id > blocked.id
    assert ledger.plans_for_incident("inc-1") == [blocked, chosen]
    assert ledger.list_plans(since=at(100), until=at(300)) == [chosen]
    assert ledger.get_incident("inc-1").playbook == "crashloop"


def test_first_playbook_named_sticks(ledger: Ledger, at: At, cart: TargetRef) -> None:
    _open(ledger, at, cart)
    ledger.record_plan(incident_id="inc-1", decided_at=at(11), reason="no match")
    assert ledger.get_incident("inc-1").playbook is None
    ledger.record_plan(incident_id="inc-1", decided_at=at(12), reason="a", playbook="oom")
    ledger.record_plan(incident_id="inc-1", decided_at=at(13), reason="b", playbook="scale")
    assert ledger.get_incident("inc-1").playbook == "oom"


# -- verifications and action queries


def test_verifications_of_an_action(ledger: Ledger, at: At, cart: TargetRef) -> None:
    _open(ledger, at, cart)
    ledger.begin_action(
        "k1", incident_id="inc-1", action="restart", target=cart, params={}, requested_at=at(20)
    )
    first = ledger.record_verification(
        action_key="k1", started_at=at(21), finished_at=at(51), recovered=False, detail="still"
    )
    second = ledger.record_verification(
        action_key="k1", started_at=at(52), finished_at=at(80), recovered=True
    )
    assert ledger.verifications_for_action("k1") == [first, second]
    assert (first.recovered, second.recovered, second.detail) == (False, True, "")
    with pytest.raises(NotFoundError):
        ledger.record_verification(
            action_key="nope", started_at=at(1), finished_at=at(2), recovered=True
        )
    with pytest.raises(InvalidRecordError, match="before it started"):
        ledger.record_verification(
            action_key="k1", started_at=at(2), finished_at=at(1), recovered=True
        )


def test_action_queries_for_guards(ledger: Ledger, at: At) -> None:
    targets = {
        "a": TargetRef("Deployment", "shop", "cart"),
        "b": TargetRef("Deployment", "shop", "web"),
        "c": TargetRef("Deployment", "pay", "api"),
        "d": TargetRef("Node", "", "node-1"),
    }
    for n, (name, target) in enumerate(targets.items()):
        ledger.open_incident(
            incident_id=f"inc-{name}", target=target, opened_at=at(0), detected_at=at(0)
        )
        for k in range(2):
            ledger.begin_action(
                f"{name}-{k}",
                incident_id=f"inc-{name}",
                action="restart",
                target=target,
                params={},
                requested_at=at(100 * k + n),
            )
    keys = lambda records: [r.idempotency_key for r in records]  # noqa: E731
    assert keys(ledger.actions_for_target(targets["a"], since=at(0))) == ["a-0", "a-1"]
    assert keys(ledger.actions_for_target(targets["a"], since=at(1))) == ["a-1"]
    assert keys(ledger.actions_in_namespace("shop", since=at(0))) == ["a-0", "b-0", "a-1", "b-1"]
    assert keys(ledger.actions_in_namespace("", since=at(50))) == ["d-1"]
    assert keys(ledger.actions_since(at(100))) == ["a-1", "b-1", "c-1", "d-1"]
    assert keys(ledger.actions_for_incident("inc-c")) == ["c-0", "c-1"]
    ledger.finish_action("a-0", state=ActionState.SUCCEEDED, finished_at=at(5))
    assert "a-0" not in keys(ledger.pending_actions())
    assert len(ledger.pending_actions()) == 7


def test_naive_timestamps_are_refused(ledger: Ledger, cart: TargetRef) -> None:
    naive = datetime(2024, 5, 1, 12, 0, 0)
    with pytest.raises(InvalidRecordError, match="timezone-aware"):
        ledger.open_incident(incident_id="i", target=cart, opened_at=naive, detected_at=naive)
    with pytest.raises(ValueError):  # InvalidRecordError is also a ValueError
        ledger.actions_since(naive)


def test_non_json_details_are_refused(ledger: Ledger, at: At, cart: TargetRef) -> None:
    bad = SignalRecord(
        id="s",
        kind="OOMKilled",
        target=cart,
        subject="x",
        source="detector",
        observed_at=at(0),
        details={"when": at(0)},  # type: ignore[dict-item]
    )
    with pytest.raises(InvalidRecordError, match="not JSON-serialisable"):
        ledger.record_signal(bad)

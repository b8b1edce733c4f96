"""The ledger speaks the model's vocabulary: what comes back is the engine's enums and ids,
on SQLite and PostgreSQL, and a value outside that vocabulary is refused when recorded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from kubeheal.model import (
    ActionState,
    IncidentState,
    Signal,
    SignalKind,
    SignalSource,
    Target,
    TargetKind,
)
from kubeheal.store import InvalidRecordError, Ledger, SignalRecord, TargetRef

At = Callable[[float], datetime]
WEB = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="web")


def _alert(at: At) -> Signal:
    return Signal(
        id=Signal.make_id(SignalKind.ALERT, WEB, "HighLatency"),
        kind=SignalKind.ALERT,
        target=WEB,
        observed_at=at(0),
        subject="HighLatency",
        details={"value": 0.93, "firing": True},
        labels={"alertname": "HighLatency", "severity": "page"},
        source=SignalSource.ALERTMANAGER,
    )


def test_records_decode_to_the_models_types(ledger: Ledger, at: At) -> None:
    incident = ledger.open_incident(incident_id="i", target=WEB, opened_at=at(1), detected_at=at(0))
    assert incident.state is IncidentState.OPEN
    assert incident.target.kind is TargetKind.DEPLOYMENT
    assert incident.target.to_target() == WEB
    ledger.record_signal(SignalRecord.of(_alert(at), incident_id="i"))
    [stored] = ledger.signals_for_incident("i")
    assert stored.kind is SignalKind.ALERT and stored.source is SignalSource.ALERTMANAGER
    assert stored.to_signal() == _alert(at)  # labels and details come apart again
    [resumed_signal] = ledger.get_incident("i").to_incident(signals=[stored], step=0).signals
    assert resumed_signal.kind is SignalKind.ALERT
    moved = ledger.transition_incident(
        "i", from_state=IncidentState.OPEN, to_state=IncidentState.ACTING, at=at(2), reason="r"
    )
    assert moved.state is IncidentState.ACTING
    assert [t.to_state for t in ledger.transitions_for_incident("i")] == [
        IncidentState.OPEN,
        IncidentState.ACTING,
    ]
    begin = ledger.begin_action(
        "k", incident_id="i", action="scale_out", target=WEB, params={}, requested_at=at(3)
    )
    assert begin.created and begin.record.state is ActionState.PENDING
    # The engine's Target and the store's reference name the same action target.
    again = ledger.begin_action(
        "k",
        incident_id="i",
        action="scale_out",
        target=TargetRef(kind=TargetKind.DEPLOYMENT, namespace="shop", name="web"),
        params={},
        requested_at=at(3),
    )
    assert not again.created
    ledger.finish_action("k", state=ActionState.SKIPPED, finished_at=at(4))
    [past] = [a.past_action() for a in ledger.actions_for_incident("i")]
    assert past.outcome is ActionState.SKIPPED and not past.counts
    assert past.target == WEB and past.incident_id == "i"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("kind", "CrashLoop", "signal 's': kind must be one of"),
        ("source", "watch", "signal 's': source must be one of"),
    ],
)
def test_a_signal_outside_the_vocabulary_is_refused(
    at: At, field: str, value: str, message: str
) -> None:
    fields = {"kind": "OOMKilled", "source": "detector", field: value}
    with pytest.raises(InvalidRecordError, match=message):
        SignalRecord(
            id="s",
            kind=fields["kind"],  # type: ignore[arg-type]
            target=TargetRef(kind=TargetKind.POD, namespace="shop", name="web-1"),
            subject="",
            source=fields["source"],  # type: ignore[arg-type]
            observed_at=at(0),
        )


def test_a_target_kind_outside_the_vocabulary_is_refused() -> None:
    with pytest.raises(InvalidRecordError, match=r"target kind must be one of .*got 'Widget'"):
        TargetRef(kind="Widget", namespace="shop", name="w")  # type: ignore[arg-type]

"""Grouping signals into incidents, the lifecycle, flapping."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kubeheal.config import IncidentSettings
from kubeheal.engine.incidents import (
    InvalidTransition,
    correlate,
    is_flapping,
    open_incident,
    record_attempt,
    transition,
)
from kubeheal.model import (
    IncidentOpening,
    IncidentState,
    Signal,
    SignalKind,
    Target,
    TargetKind,
)

S = IncidentSettings()
WEB = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="web")
API = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="api")


def sig(
    k8s, kind: SignalKind, target: Target = WEB, subject: str = "pod/a", minute: float = 0
) -> Signal:
    return Signal(
        id=Signal.make_id(kind, target, subject),
        kind=kind,
        target=target,
        subject=subject,
        observed_at=k8s.at(minute),
    )


def test_many_signals_one_incident_per_target(k8s) -> None:
    signals = [
        sig(k8s, SignalKind.CRASH_LOOP_BACK_OFF, subject="pod/a"),
        sig(k8s, SignalKind.CRASH_LOOP_BACK_OFF, subject="pod/b"),
        sig(k8s, SignalKind.NEW_REPLICASET_UNHEALTHY, subject="replicaset/web-2"),
        sig(k8s, SignalKind.OOM_KILLED, target=API),
    ]
    incidents = correlate(signals, incidents=(), now=k8s.T0, settings=S)
    assert [i.target for i in incidents] == [API, WEB]
    web = incidents[1]
    assert len(web.signals) == 3
    assert web.state is IncidentState.OPEN
    assert web.signal_kinds == {SignalKind.CRASH_LOOP_BACK_OFF, SignalKind.NEW_REPLICASET_UNHEALTHY}


def test_later_signals_join_the_open_incident(k8s) -> None:
    (first,) = correlate(
        [sig(k8s, SignalKind.CRASH_LOOP_BACK_OFF)], incidents=(), now=k8s.T0, settings=S
    )
    again = sig(k8s, SignalKind.CRASH_LOOP_BACK_OFF, minute=1)
    other = sig(k8s, SignalKind.OOM_KILLED, minute=1)
    (second,) = correlate([again, other], incidents=[first], now=k8s.at(1), settings=S)
    assert second.id == first.id
    assert len(second.signals) == 2  # the repeated signal is deduplicated
    assert max(s.observed_at for s in second.signals) == k8s.at(1)
    assert second.updated_at == k8s.at(1)
    (same,) = correlate([again], incidents=[second], now=k8s.at(2), settings=S)
    assert same is second  # nothing new: untouched


def test_closed_incident_is_not_reused(k8s) -> None:
    (first,) = correlate(
        [sig(k8s, SignalKind.CRASH_LOOP_BACK_OFF)], incidents=(), now=k8s.T0, settings=S
    )
    closed = transition(first, IncidentState.ESCALATED, now=k8s.at(1))
    (new,) = correlate(
        [sig(k8s, SignalKind.CRASH_LOOP_BACK_OFF, minute=5)],
        incidents=[closed],
        now=k8s.at(5),
        settings=S,
    )
    assert new.id != first.id
    assert new.state is IncidentState.OPEN


def test_full_lifecycle_with_retry(k8s) -> None:
    incident = open_incident(WEB, [sig(k8s, SignalKind.OOM_KILLED)], now=k8s.T0, settings=S)
    incident = record_attempt(incident, playbook="oom-raise-memory", step=0, now=k8s.at(1))
    assert incident.state is IncidentState.ACTING
    assert incident.attempts == 1
    incident = transition(incident, IncidentState.VERIFYING, now=k8s.at(2))
    incident = record_attempt(incident, playbook="oom-raise-memory", step=1, now=k8s.at(10))
    assert (incident.attempts, incident.step) == (2, 1)
    incident = transition(incident, IncidentState.VERIFYING, now=k8s.at(11))
    incident = transition(incident, IncidentState.RESOLVED, now=k8s.at(20), reason="recovered")
    assert [t.to for t in incident.transitions] == [
        IncidentState.OPEN,
        IncidentState.ACTING,
        IncidentState.VERIFYING,
        IncidentState.ACTING,
        IncidentState.VERIFYING,
        IncidentState.RESOLVED,
    ]
    assert incident.entered_at(IncidentState.VERIFYING) == k8s.at(11)
    assert incident.entered_at(IncidentState.OPEN) == k8s.T0


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ((), IncidentState.VERIFYING),
        ((), IncidentState.OPEN),
        ((IncidentState.ACTING,), IncidentState.RESOLVED),
        ((IncidentState.ESCALATED,), IncidentState.OPEN),
        (
            (IncidentState.ACTING, IncidentState.VERIFYING, IncidentState.RESOLVED),
            IncidentState.ACTING,
        ),
    ],
)
def test_invalid_transitions_raise(k8s, path, bad) -> None:
    incident = open_incident(WEB, [], now=k8s.T0, settings=S)
    for state in path:
        incident = transition(incident, state, now=k8s.T0)
    with pytest.raises(InvalidTransition, match=f"to {bad.value}"):
        transition(incident, bad, now=k8s.T0)


def test_flapping_when_reopened_within_window(k8s) -> None:
    openings = [
        IncidentOpening(target=WEB, at=k8s.at(-40)),
        IncidentOpening(target=WEB, at=k8s.at(-20)),
    ]
    flapping = open_incident(WEB, [], now=k8s.T0, openings=openings, settings=S)
    assert flapping.flapping
    other_target = [
        IncidentOpening(target=API, at=k8s.at(-40)),
        IncidentOpening(target=API, at=k8s.at(-20)),
    ]
    assert not open_incident(WEB, [], now=k8s.T0, openings=other_target, settings=S).flapping
    old = [IncidentOpening(target=WEB, at=k8s.at(-90)), IncidentOpening(target=WEB, at=k8s.at(-20))]
    assert not open_incident(WEB, [], now=k8s.T0, openings=old, settings=S).flapping
    (through_correlate,) = correlate(
        [sig(k8s, SignalKind.CRASH_LOOP_BACK_OFF)],
        incidents=(),
        now=k8s.T0,
        openings=openings,
        settings=S,
    )
    assert through_correlate.flapping


def test_is_flapping_threshold(k8s) -> None:
    settings = IncidentSettings(flapping_threshold=2, flapping_window=timedelta(minutes=10))
    assert is_flapping([k8s.at(-9), k8s.T0], now=k8s.T0, settings=settings)
    assert not is_flapping([k8s.at(-11), k8s.T0], now=k8s.T0, settings=settings)


def test_an_open_incident_whose_signals_cleared_resolves_without_an_action(k8s) -> None:
    incident = open_incident(WEB, [], now=k8s.T0, settings=S)
    done = transition(incident, IncidentState.RESOLVED, now=k8s.at(5), reason="quiet")
    assert done.state is IncidentState.RESOLVED and done.attempts == 0
    assert done.entered_at(IncidentState.RESOLVED) == k8s.at(5)

"""decide() on an incident no enabled playbook matches: held for a grace, then escalated."""

from __future__ import annotations

from datetime import timedelta

import msgspec

from kubeheal.config import DetectionSettings, IncidentSettings, Settings
from kubeheal.engine.detect import detect
from kubeheal.engine.incidents import correlate
from kubeheal.engine.plan import EscalatePlan, NoAction, Plan, decide
from kubeheal.engine.playbooks import load_builtin_playbooks
from kubeheal.model import ClusterView, History, Incident

NO_PLAYBOOKS = type(load_builtin_playbooks())()


def _view(k8s) -> ClusterView:
    status = k8s.container_status(
        ready=False, restarts=3, waiting="CrashLoopBackOff", last_terminated="Error"
    )
    crashing = k8s.pod(
        "web-2-a", owner=("ReplicaSet", "web-2"), ready=False, created=-5, statuses=[status]
    )
    return ClusterView(
        pods=[crashing, k8s.pod("web-2-b", owner=("ReplicaSet", "web-2"))],
        deployments=[k8s.deployment(replicas=2)],
        replica_sets=[k8s.replica_set("web-2", revision=2, created=-600)],
        pdbs=[k8s.pdb()],
    )


def _incident(view: ClusterView, k8s) -> Incident:
    signals = detect(view, now=k8s.T0, settings=DetectionSettings())
    incidents = correlate(signals, incidents=(), now=k8s.T0, settings=IncidentSettings())
    assert len(incidents) == 1, incidents
    assert incidents[0].opened_at == k8s.T0
    return incidents[0]


def _decide(incident: Incident, view: ClusterView, k8s, *, after_s: float, **incidents) -> Plan:
    settings = Settings(incidents=IncidentSettings(**incidents))
    return decide(
        incident,
        view,
        History(),
        settings,
        now=k8s.T0 + timedelta(seconds=after_s),
        playbooks=NO_PLAYBOOKS,
    )


def test_within_the_grace_an_unmatched_incident_is_only_blocked(k8s) -> None:
    view = _view(k8s)
    incident = _incident(view, k8s)
    first = _decide(incident, view, k8s, after_s=0)
    last = _decide(incident, view, k8s, after_s=59)
    for result in (first, last):
        assert isinstance(result, NoAction), result
        assert result.reasons[0].guard == "playbook"
        assert not result.reasons[0].escalate
        assert "no enabled playbook matches this incident" in result.reasons[0].reason
    # The same reason while it waits: the ledger records a distinct reason only once.
    assert isinstance(first, NoAction) and isinstance(last, NoAction)
    assert first.reasons == last.reasons


def test_after_the_grace_it_is_escalated_with_its_signals_and_a_next_step(k8s) -> None:
    view = _view(k8s)
    incident = _incident(view, k8s)
    result = _decide(incident, view, k8s, after_s=60)
    assert isinstance(result, EscalatePlan), result
    assert result.playbook is None
    assert result.incident_id == incident.id
    assert [b.guard for b in result.blocks] == ["playbook"]
    assert result.blocks[0].escalate
    assert result.reason.startswith("no enabled playbook matches this incident after 60 s open")
    for signal in incident.signals:
        assert signal.kind.value in result.reason
        assert signal.subject in result.reason
    assert "CrashLoopBackOff" in result.reason
    assert "Next step:" in result.reason
    assert incident.target.key in result.reason
    assert result.pod == "web-2-a"


def test_the_grace_is_a_setting(k8s) -> None:
    view = _view(k8s)
    incident = _incident(view, k8s)
    held = _decide(incident, view, k8s, after_s=300, unmatched_escalate_after=timedelta(minutes=10))
    assert isinstance(held, NoAction)
    assert "10.0 min after opening" in held.reasons[0].reason
    late = _decide(incident, view, k8s, after_s=600, unmatched_escalate_after=timedelta(minutes=10))
    assert isinstance(late, EscalatePlan)
    assert "after 10.0 min open" in late.reason
    assert IncidentSettings().unmatched_escalate_after == timedelta(seconds=60)


def test_the_grace_is_read_from_configuration() -> None:
    loaded = Settings.model_validate({"incidents": {"unmatched_escalate_after": "2m"}})
    assert loaded.incidents.unmatched_escalate_after == timedelta(minutes=2)


def test_control_characters_of_a_signal_never_reach_the_reason(k8s) -> None:
    view = _view(k8s)
    incident = _incident(view, k8s)
    bad = msgspec.structs.replace(
        incident.signals[0], subject="pod/web-2-a\x1b[31m\nFAKE", labels={"alertname": "A\rB"}
    )
    incident = msgspec.structs.replace(incident, signals=(bad,))
    result = _decide(incident, view, k8s, after_s=61)
    assert isinstance(result, EscalatePlan)
    assert not any(ch in result.reason for ch in "\x1b\r")
    assert "FAKE" in result.reason and "alert A?B" in result.reason
    first_line = result.reason.split("\n")[0]
    assert "pod/web-2-a?[31m?FAKE" in first_line


def test_a_guard_that_blocks_still_comes_first(k8s) -> None:
    view = _view(k8s)
    incident = msgspec.structs.replace(_incident(view, k8s), attempts=3)
    result = _decide(incident, view, k8s, after_s=3600)
    assert isinstance(result, EscalatePlan)
    assert result.blocks[0].guard == "max_attempts"

"""Playbook loading: built-ins, precise errors (file, line, field), JSON Schema, matching."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kubeheal.config import IncidentSettings
from kubeheal.engine.incidents import open_incident
from kubeheal.engine.playbooks import (
    ActionName,
    Mode,
    PlaybookError,
    builtin_directory,
    export_json_schema,
    load_builtin_playbooks,
    load_playbooks,
    matching_playbooks,
    validate_directory,
)
from kubeheal.model import ClusterView, Signal, SignalKind, SignalSource, Target, TargetKind

DATA = Path(__file__).parent / "data"
WEB = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="web")


def test_builtins_all_load_and_validate() -> None:
    assert validate_directory(builtin_directory()) == []
    playbooks = load_builtin_playbooks()
    assert set(playbooks.names) >= {
        "crashloop-after-rollout",
        "crashloop-restart",
        "oom-raise-memory",
        "saturation-scale-out",
        "node-pressure-drain",
        "node-not-ready-cordon",
        "pdb-missing-create",
        "hpa-maxed-raise",
    }
    for playbook in playbooks:
        assert len(playbook.description) > 80, playbook.name
    assert playbooks.names[0] == "crashloop-after-rollout"  # highest priority first
    oom = playbooks.get("oom-raise-memory")
    assert oom is not None
    assert [s.action for s in oom.steps] == [
        ActionName.RAISE_MEMORY_LIMIT,
        ActionName.RAISE_MEMORY_LIMIT,
        ActionName.SCALE_OUT,
        ActionName.ESCALATE,
    ]


def test_good_directory_with_multi_document_file() -> None:
    playbooks = load_playbooks(DATA / "good")
    assert playbooks.names == ("latency-alert", "team-restart")
    team = playbooks.get("team-restart")
    assert team is not None
    assert team.mode is Mode.DRY_RUN
    assert team.verification.stable_for.total_seconds() == 120


def _issues() -> dict[tuple[str, str], tuple[int, str]]:
    return {
        (issue.file.name, issue.field): (issue.line, issue.message)
        for issue in validate_directory(DATA / "broken")
    }


@pytest.mark.parametrize(
    ("file", "field", "line", "fragment"),
    [
        ("bad-params.yaml", "steps[0].params.max", 9, "unknown suffix 'Zi'"),
        ("bad-params.yaml", "steps[1].params.step", 12, "greater than or equal to 1"),
        ("bad-params.yaml", "steps[1].params.surprise", 13, "Extra inputs"),
        ("bad-action.yaml", "triggers.signals[1]", 6, "CrashLoopBackOff"),
        ("bad-action.yaml", "steps[1].action", 9, "unknown action 'reboot_cluster'"),
        ("bad-action.yaml", "verification", 11, "needs a positive stable_for"),
        ("bad-top.yaml", "name", 1, "pattern"),
        ("bad-top.yaml", "description", 1, "Field required"),
        ("bad-top.yaml", "triggers.signals", 3, "at least 1"),
        ("bad-top.yaml", "steps", 4, "at least 1"),
        ("bad-top.yaml", "on_failure", 5, "'next_step' or 'escalate'"),
        ("bad-top.yaml", "colour", 6, "Extra inputs"),
        ("bad-yaml.yaml", "", 2, "invalid YAML"),
        ("dup.yaml", "name", 8, "duplicate playbook name 'oom-custom'"),
    ],
)
def test_validation_reports_file_line_and_field(
    file: str, field: str, line: int, fragment: str
) -> None:
    issues = _issues()
    assert (file, field) in issues, sorted(issues)
    got_line, message = issues[(file, field)]
    assert got_line == line
    assert fragment in message


def test_load_refuses_a_directory_with_any_error(tmp_path: Path) -> None:
    shutil.copy(DATA / "good" / "custom.yaml", tmp_path / "custom.yaml")
    shutil.copy(DATA / "broken" / "bad-top.yaml", tmp_path / "bad-top.yaml")
    with pytest.raises(PlaybookError) as info:
        load_playbooks(tmp_path)
    assert all(issue.file.name == "bad-top.yaml" for issue in info.value.issues)
    assert "bad-top.yaml:6: colour:" in str(info.value)


def test_missing_directory_is_an_issue(tmp_path: Path) -> None:
    (issue,) = validate_directory(tmp_path / "nope")
    assert "not a directory" in issue.message


def test_json_schema_export() -> None:
    schema = export_json_schema()
    text = json.dumps(schema)
    assert schema["title"] == "kubeheal playbook"
    assert {"name", "description", "triggers", "steps"} <= set(schema["required"])
    assert schema["additionalProperties"] is False
    for action in ActionName:
        assert action.value in text
    assert "recent_rollout_within" in text


def _incident(
    k8s,
    kind: SignalKind,
    *,
    target: Target = WEB,
    labels: dict[str, str] | None = None,
    alertname: str = "",
):
    signal = Signal(
        id=Signal.make_id(kind, target, "x"),
        kind=kind,
        target=target,
        subject="x",
        observed_at=k8s.T0,
        details={"alertname": alertname} if alertname else {},
        labels=labels or {},
        source=SignalSource.ALERTMANAGER if alertname else SignalSource.DETECTOR,
    )
    return open_incident(target, [signal], now=k8s.T0, settings=IncidentSettings())


def test_matching_uses_conditions_and_priority(k8s) -> None:
    playbooks = load_builtin_playbooks()
    sets = [
        k8s.replica_set("web-1", revision=1, created=-600),
        k8s.replica_set("web-2", revision=2, created=-10),
    ]
    recent = ClusterView(deployments=[k8s.deployment()], replica_sets=sets)
    crash = _incident(k8s, SignalKind.CRASH_LOOP_BACK_OFF)
    names = [p.name for p in matching_playbooks(playbooks, crash, recent, now=k8s.T0)]
    assert names == ["crashloop-after-rollout", "crashloop-restart"]
    old = ClusterView(deployments=[k8s.deployment()], replica_sets=sets)
    later = [p.name for p in matching_playbooks(playbooks, crash, old, now=k8s.at(120))]
    assert later == ["crashloop-restart"]
    assert (
        matching_playbooks(playbooks, crash, old, now=k8s.at(120), disabled=["crashloop-restart"])
        == []
    )


def test_alert_matchers(k8s) -> None:
    playbooks = load_playbooks(DATA / "good")
    view = ClusterView(deployments=[k8s.deployment()])
    paging = _incident(k8s, SignalKind.ALERT, labels={"severity": "page"}, alertname="HighLatency")
    ticket = _incident(
        k8s, SignalKind.ALERT, labels={"severity": "ticket"}, alertname="HighLatency"
    )
    other = _incident(k8s, SignalKind.ALERT, labels={"severity": "page"}, alertname="DiskFull")
    assert [p.name for p in matching_playbooks(playbooks, paging, view, now=k8s.T0)] == [
        "latency-alert"
    ]
    assert matching_playbooks(playbooks, ticket, view, now=k8s.T0) == []
    assert matching_playbooks(playbooks, other, view, now=k8s.T0) == []


def test_namespace_and_label_triggers(k8s) -> None:
    playbooks = load_playbooks(DATA / "good")
    pay = Target(kind=TargetKind.DEPLOYMENT, namespace="payments", name="api")
    labelled = ClusterView(
        deployments=[k8s.deployment("api", ns="payments", labels={"team": "payments"})]
    )
    unlabelled = ClusterView(deployments=[k8s.deployment("api", ns="payments")])
    crash = _incident(k8s, SignalKind.CRASH_LOOP_BACK_OFF, target=pay)
    assert [p.name for p in matching_playbooks(playbooks, crash, labelled, now=k8s.T0)] == [
        "team-restart"
    ]
    assert matching_playbooks(playbooks, crash, unlabelled, now=k8s.T0) == []
    elsewhere = _incident(k8s, SignalKind.CRASH_LOOP_BACK_OFF)
    assert matching_playbooks(playbooks, elsewhere, labelled, now=k8s.T0) == []

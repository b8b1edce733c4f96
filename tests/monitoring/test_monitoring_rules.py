"""The rules as data: names, labels, targets, expressions, fixtures (no promtool here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeheal.engine.detect import alert_target
from kubeheal.model.core import TargetKind
from kubeheal.monitoring import (
    ALERT_NAMES,
    WORKLOAD_MAPPING_RECORD,
    AlertRule,
    Category,
    MonitoringConfig,
    Severity,
    build_rule_groups,
    rule_file_texts,
)
from kubeheal.monitoring.fixtures import STALE, counter, gauge, staircase, step_for
from kubeheal.monitoring.model import LabelTemplate

DOCS = Path(__file__).resolve().parents[2] / "docs" / "monitoring.md"

REMEDIATED = {
    "PodCrashLooping": TargetKind.POD,
    "HighLatency": TargetKind.DEPLOYMENT,
    "HighCPUSaturation": TargetKind.DEPLOYMENT,
    "KubeHpaMaxedOut": TargetKind.DEPLOYMENT,
    "NodeNotReady": TargetKind.NODE,
    "NodeMemoryPressure": TargetKind.NODE,
}


def _alerts() -> list[AlertRule]:
    return [a for g in build_rule_groups() for a in g.alerts]


def test_the_issues_alerts_are_all_there_once_per_severity() -> None:
    alerts = _alerts()
    assert list(dict.fromkeys(a.name for a in alerts)) == list(ALERT_NAMES)
    tiers = {(a.name, a.severity) for a in alerts}
    assert len(tiers) == len(alerts)
    assert ("HighErrorRate", Severity.CRITICAL) in tiers
    assert ("PersistentVolumeUsageHigh", Severity.CRITICAL) in tiers


def test_rule_file_texts_are_the_plain_rule_files() -> None:
    texts = rule_file_texts()
    assert sorted(texts) == sorted(f"{g.slug}.yaml" for g in build_rule_groups())
    assert "alert: PodCrashLooping" in texts["kubeheal-kubernetes.yaml"]


def test_groups_by_concern() -> None:
    groups = {g.name: g for g in build_rule_groups()}
    assert set(groups) == {
        "kubeheal.workloads",
        "kubeheal.golden-signals",
        "kubeheal.kubernetes",
        "kubeheal.cost",
        "kubeheal.self",
    }
    assert groups["kubeheal.golden-signals"].alert_names() == (
        "HighLatency", "HighTraffic", "HighErrorRate", "HighCPUSaturation",
        "HighMemorySaturation",
    )  # fmt: skip
    assert groups["kubeheal.cost"].alert_names() == (
        "OverProvisionedPods", "UnusedPersistentVolumes", "IneffectiveHPA",
    )  # fmt: skip
    assert all(a.category is Category.COST for a in groups["kubeheal.cost"].alerts)
    assert groups["kubeheal.golden-signals"].uses == ("kubeheal-workloads",)


def test_every_alert_is_labelled_annotated_and_documented() -> None:
    docs = DOCS.read_text()
    for alert in _alerts():
        labels = alert.labels()
        assert labels["severity"] in {"critical", "warning", "info"}
        assert labels["category"] in {"critical", "performance", "capacity", "cost"}
        annotations = alert.annotations()
        assert annotations["summary"] and annotations["description"]
        anchor = annotations["runbook_url"].rsplit("#", 1)[1]
        assert anchor == alert.name.lower()
        assert f"\n### {alert.name}\n" in docs, f"docs/monitoring.md lacks ### {alert.name}"


def test_kubeheal_acts_on_the_alerts_it_has_playbooks_for() -> None:
    marked = {a.name for a in _alerts() if a.labels().get("kubeheal") == "remediate"}
    assert marked == set(REMEDIATED)


@pytest.mark.parametrize("alertname", sorted(REMEDIATED))
def test_kubeheal_maps_each_remediated_alert_to_its_target(alertname: str) -> None:
    (alert,) = [a for a in _alerts() if a.name == alertname]
    firing = [s for s in alert.scenarios if s.fires]
    assert firing
    for scenario in firing:
        for expected in scenario.expected:
            labels = alert.expected_labels(expected.labels)
            target = alert_target(labels)
            assert target is not None
            assert target.kind is REMEDIATED[alertname]


def test_every_firing_case_yields_only_target_labels() -> None:
    for alert in _alerts():
        for scenario in alert.scenarios:
            for expected in scenario.expected:
                assert set(expected.labels) <= set(alert.target_labels), alert.name


def test_inhibition_needs_an_instance_naming_the_target() -> None:
    # equal: [alertname, instance] only separates targets if instance names the target
    for alert in _alerts():
        if alert.name.startswith("Kubeheal"):
            continue
        assert alert.instance is not None, alert.name
        names = set(alert.instance.label_names())
        assert names <= set(alert.target_labels) | {"daemonset", "statefulset"}


def test_the_mission_mistakes_are_not_made() -> None:
    alerts = {a.name: a for a in _alerts()}
    latency = alerts["HighLatency"].expr
    assert "rate(http_request_duration_seconds_bucket[5m])" in latency
    assert "le) (" in latency and latency.startswith("histogram_quantile(0.95,")
    crash = alerts["PodCrashLooping"].expr
    assert 'reason="CrashLoopBackOff"' in crash
    assert "increase(kube_pod_container_status_restarts_total[15m])" in crash
    assert crash.endswith(">= 3")
    cpu = alerts["HighCPUSaturation"].expr
    assert "rate(container_cpu_usage_seconds_total" in cpu and 'resource="cpu"' in cpu
    memory = alerts["HighMemorySaturation"].expr
    assert "container_memory_working_set_bytes" in memory
    assert "container_spec_memory_limit_bytes" in memory and "requests" not in memory
    for error_rule in (a for a in _alerts() if a.name == "HighErrorRate"):
        assert "> 0.5" in error_rule.expr.split("\nand ")[1]  # the traffic guard
    assert WORKLOAD_MAPPING_RECORD in latency


def test_thresholds_and_durations_follow_the_configuration() -> None:
    config = MonitoringConfig.model_validate(
        {
            "rate_window": "1m",
            "golden_signals": {"latency": {"threshold_seconds": 1.5, "for": "2m"}},
            "kubernetes": {"crash_loop": {"restarts": 4, "window": "10m"}},
        }
    )
    alerts = {a.name: a for g in build_rule_groups(config) for a in g.alerts}
    assert alerts["HighLatency"].for_seconds == 120
    assert ") > 1.5\n" in alerts["HighLatency"].expr and "[1m]" in alerts["HighLatency"].expr
    assert alerts["PodCrashLooping"].expr.endswith(">= 4")
    assert "[10m]" in alerts["PodCrashLooping"].expr
    assert "above 1.5s for 2m" in alerts["HighLatency"].description.text


def test_label_templates_render_like_prometheus() -> None:
    template = LabelTemplate("{namespace}/{workload} on {node}")
    assert template.to_prometheus() == (
        "{{ $labels.namespace }}/{{ $labels.deployment }}{{ $labels.statefulset }}"
        "{{ $labels.daemonset }} on {{ $labels.node }}"
    )
    assert template.render({"namespace": "demo", "statefulset": "db"}) == "demo/db on "


def test_fixture_notation() -> None:
    # a counter at 2/s for 3 steps of 10 s, then 0/s for 2 steps: 0 20 40 60 60 60
    assert counter(10, [(2.0, 3), (0.0, 2)]) == "0+20x3 60+0x1"
    assert gauge([(1, 2), (0, 2)]) == "1x2 0x1"
    assert gauge([(None, 1), (1, 1)]) == "_x1 1"
    assert gauge([(1, 1), (STALE, 3)]) == "1x1 stale _x2"
    assert staircase([0, 0, 0, 1, 1, 2]) == "0x2 1x1 2"
    assert step_for(300, 600) == 60 and step_for(10, 0) == 2 and step_for(0) == 60
    assert step_for(86400) == 300

"""The generated rules and their generated tests, checked by the real promtool."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from kubeheal.cli.generate import write_bundle
from kubeheal.monitoring import (
    ALERT_NAMES,
    AlertRule,
    MonitoringConfig,
    RuleGroup,
    build_rule_groups,
    render_rule_file,
    render_rule_tests,
    rule_files_for,
)


def _glob(directory: Path, pattern: str) -> list[str]:
    found = sorted(str(p) for p in directory.glob(pattern))
    assert found, f"nothing matches {pattern} in {directory}"
    return found


def test_every_rule_file_passes_check_rules_with_every_lint(bundle: Path, promtool) -> None:
    rule_files = _glob(bundle, "rules/*.yaml")
    assert len(rule_files) == 5
    result = promtool("check", "rules", "--lint=all", "--lint-fatal", *rule_files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(rule_files)


def test_prometheus_rule_crs_hold_exactly_the_plain_groups(bundle: Path) -> None:
    for plain in _glob(bundle, "rules/*.yaml"):
        name = Path(plain).name
        cr = yaml.safe_load((bundle / "prometheusrules" / name).read_text())
        assert cr["apiVersion"] == "monitoring.coreos.com/v1"
        assert cr["kind"] == "PrometheusRule"
        assert cr["metadata"]["name"] == Path(name).stem
        assert cr["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert cr["spec"] == yaml.safe_load(Path(plain).read_text())


def test_check_rules_rejects_a_broken_expression(tmp_path: Path, promtool) -> None:
    # the check above can fail: a syntax error is reported with exit 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: sum by (le (x)\n")
    result = promtool("check", "rules", str(bad))
    assert result.returncode == 1
    assert "parse error" in (result.stdout + result.stderr)


def test_every_alert_has_a_firing_and_a_quiet_generated_case(bundle: Path) -> None:
    tested = sorted(Path(p).stem for p in _glob(bundle, "tests/*.yaml"))
    assert tested == sorted(ALERT_NAMES)
    for alertname in ALERT_NAMES:
        doc = yaml.safe_load((bundle / "tests" / f"{alertname}.yaml").read_text())
        cases = [c for t in doc["tests"] for c in t["alert_rule_test"]]
        assert all(c["alertname"] == alertname for c in cases)
        firing = [c for c in cases if c["exp_alerts"]]
        quiet = [c for c in cases if not c["exp_alerts"]]
        assert firing, f"{alertname} has no case proving it fires"
        assert quiet, f"{alertname} has no case proving it stays quiet"
        for case in firing:
            for alert in case["exp_alerts"]:
                assert {"severity", "category"} <= set(alert["exp_labels"])
                assert set(alert["exp_annotations"]) == {"summary", "description", "runbook_url"}


def _run_tests(directory: Path, promtool) -> None:
    tests = _glob(directory, "tests/*.yaml")
    result = promtool("test", "rules", *[Path(t).name for t in tests], cwd=directory / "tests")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(tests)


def test_generated_tests_pass_for_the_defaults(bundle: Path, promtool) -> None:
    _run_tests(bundle, promtool)


def test_generated_tests_follow_the_fast_configuration(generate, promtool) -> None:
    _run_tests(generate("monitoring-fast", MonitoringConfig.fast()), promtool)


def test_generated_tests_follow_a_custom_configuration(generate, promtool) -> None:
    config = MonitoringConfig.model_validate(
        {
            "rate_window": "2m",
            "golden_signals": {
                "min_request_rate": 5,
                "latency": {"quantile": 0.99, "threshold_seconds": 2, "for": "3m"},
                "errors": {"warning_ratio": 0.01, "critical_ratio": None, "for": "1m"},
                "traffic": {"spike_factor": 5, "baseline_window": "30m", "for": "2m"},
                "cpu_saturation": {"ratio": 0.75, "for": "7m"},
            },
            "kubernetes": {
                "crash_loop": {"restarts": 5, "window": "30m", "for": "0s"},
                "volume_usage": {"warning_ratio": 0.7, "critical_ratio": None},
            },
            "cost": {"over_provisioned": {"window": "30m", "for": "2h"}},
            "kubeheal": {"job": "healer", "remediations_failing": {"min_failures": 1}},
            "evaluation_interval": "30s",
        }
    )
    directory = generate("monitoring-custom", config)
    rules = (directory / "rules" / "kubeheal-golden-signals.yaml").read_text()
    assert "interval: 30s" in rules and "[2m]" in rules and "histogram_quantile(0.99" in rules
    assert 'up{job="healer"}' in (directory / "rules" / "kubeheal-self.yaml").read_text()
    _run_tests(directory, promtool)


def _mutate(
    groups: tuple[RuleGroup, ...], alertname: str, change: Callable[[str], str]
) -> tuple[tuple[RuleGroup, ...], RuleGroup]:
    out = []
    target = None
    for group in groups:
        rules = tuple(
            dataclasses.replace(r, expr=change(r.expr))
            if isinstance(r, AlertRule) and r.name == alertname
            else r
            for r in group.rules
        )
        new = dataclasses.replace(group, rules=rules)
        if rules != group.rules:
            target = new
        out.append(new)
    assert target is not None
    return tuple(out), target


def _single_restart(expr: str) -> str:
    # the mission's mistake: any restart counts
    return re.sub(r">= \d+$", "> 0", expr)


def _raw_buckets(expr: str) -> str:
    # the mission's mistake: quantile over raw cumulative buckets, no rate, no sum by (le)
    return "histogram_quantile(0.95, http_request_duration_seconds_bucket) > 0.5"


def _no_traffic_guard(expr: str) -> str:
    return expr.split("\nand ", maxsplit=1)[0]


def _memory_vs_any(expr: str) -> str:
    return expr.replace(" > 0)", ")")


@pytest.mark.parametrize(
    ("alertname", "change", "failing_case"),
    [
        ("PodCrashLooping", _single_restart, "stays quiet after a single restart"),
        ("HighLatency", _raw_buckets, "fires when every request becomes slower"),
        ("HighErrorRate", _no_traffic_guard, "every request fails at a trickle"),
        ("HighMemorySaturation", _memory_vs_any, "container without a memory limit"),
    ],
)
def test_a_mutated_expression_makes_its_generated_tests_fail(
    tmp_path: Path, promtool, alertname: str, change: Callable[[str], str], failing_case: str
) -> None:
    """The generated tests can fail: each of these classic mistakes is caught."""
    groups, target = _mutate(build_rule_groups(), alertname, change)
    files = {f"rules/{g.slug}.yaml": render_rule_file(g) for g in groups}
    files[f"tests/{alertname}.yaml"] = render_rule_tests(
        target, alertname, rule_files=rule_files_for(target)
    )
    write_bundle(files, tmp_path)
    result = promtool("test", "rules", f"{alertname}.yaml", cwd=tmp_path / "tests")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "FAILED" in output
    assert failing_case in output

"""The generated Alertmanager configuration and Helm overlay, checked by the real amtool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from kubeheal.monitoring import (
    CRASH_LOOP_ALERT,
    DASHBOARD_UIDS,
    RECEIVER_CRITICAL,
    RECEIVER_INFO,
    RECEIVER_KUBEHEAL,
    RECEIVER_NULL,
    RECEIVER_WARNING,
    REPLACED_DEFAULT_RULES,
    MonitoringConfig,
    alertmanager_config,
    build_dashboards,
    render_alertmanager_config,
)


def test_check_config_accepts_the_generated_configuration(bundle: Path, amtool) -> None:
    result = amtool("check-config", str(bundle / "alertmanager" / "alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert "2 inhibit rules" in result.stdout
    assert "5 receivers" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["severity=critical", "alertname=HighErrorRate"], [RECEIVER_CRITICAL]),
        (["severity=warning", "alertname=HighErrorRate"], [RECEIVER_WARNING]),
        (["severity=info", "alertname=OverProvisionedPods"], [RECEIVER_INFO]),
        (
            [f"alertname={CRASH_LOOP_ALERT}", "severity=warning", "kubeheal=remediate"],
            [RECEIVER_KUBEHEAL, RECEIVER_WARNING],
        ),
        # the crash-loop route does not depend on the remediate label
        (
            [f"alertname={CRASH_LOOP_ALERT}", "severity=warning"],
            [RECEIVER_KUBEHEAL, RECEIVER_WARNING],
        ),
        (
            ["alertname=NodeNotReady", "severity=warning", "kubeheal=remediate"],
            [RECEIVER_KUBEHEAL, RECEIVER_WARNING],
        ),
        (["alertname=Watchdog", "severity=none"], [RECEIVER_NULL]),
        (["alertname=SomethingElse"], [RECEIVER_WARNING]),
    ],
)
def test_routes_test_confirms_each_receiver(
    bundle: Path, amtool, labels: list[str], receivers: list[str]
) -> None:
    result = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={bundle / 'alertmanager' / 'alertmanager.yml'}",
        f"--verify.receivers={','.join(receivers)}",
        *labels,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ",".join(receivers)


def test_routes_test_fails_for_a_wrong_receiver(bundle: Path, amtool) -> None:
    # the verification above can fail
    result = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={bundle / 'alertmanager' / 'alertmanager.yml'}",
        f"--verify.receivers={RECEIVER_CRITICAL}",
        "severity=warning",
    )
    assert result.returncode == 1


def test_kubeheal_routes_come_first_and_continue() -> None:
    routes = alertmanager_config()["route"]["routes"]
    assert [r["receiver"] for r in routes[:2]] == [RECEIVER_KUBEHEAL, RECEIVER_KUBEHEAL]
    assert all(r["continue"] is True for r in routes[:2])
    assert routes[0]["matchers"] == [f'alertname="{CRASH_LOOP_ALERT}"']


def test_inhibitions_are_the_missions() -> None:
    rules = alertmanager_config()["inhibit_rules"]
    assert rules[0] == {
        "source_matchers": ['severity="critical"'],
        "target_matchers": ['severity="warning"'],
        "equal": ["alertname", "instance"],
    }
    assert rules[1]["equal"] == ["node"]
    assert rules[1]["source_matchers"] == ['alertname=~"NodeDown|NodeNotReady"']


def test_credentials_come_from_files_and_the_webhook_url_is_configurable() -> None:
    config = MonitoringConfig.model_validate(
        {"alertmanager": {"webhook_url": "https://heal.example/hook", "secrets_dir": "/s"}}
    )
    text = render_alertmanager_config(config)
    doc = yaml.safe_load(text)
    receivers = {r["name"]: r for r in doc["receivers"]}
    hook = receivers[RECEIVER_KUBEHEAL]["webhook_configs"][0]
    assert hook["url"] == "https://heal.example/hook"
    assert hook["send_resolved"] is True
    assert hook["http_config"]["authorization"]["credentials_file"] == "/s/kubeheal-token"
    critical = receivers[RECEIVER_CRITICAL]
    assert critical["pagerduty_configs"][0]["routing_key_file"] == "/s/pagerduty-routing-key"
    assert critical["slack_configs"][0]["api_url_file"] == "/s/slack-api-url"
    assert receivers[RECEIVER_INFO]["email_configs"][0]["auth_password_file"] == "/s/smtp-password"
    for secret_key in ("api_url:", "routing_key:", "auth_password:", "credentials:"):
        assert secret_key not in text


def test_info_alerts_can_go_nowhere(tmp_path: Path, amtool) -> None:
    config = MonitoringConfig.model_validate({"alertmanager": {"info_receiver": "null"}})
    path = tmp_path / "am.yml"
    path.write_text(render_alertmanager_config(config))
    result = amtool(
        "config", "routes", "test", f"--config.file={path}",
        f"--verify.receivers={RECEIVER_NULL}", "severity=info",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_helm_overlay_wires_rules_alertmanager_and_dashboards(
    bundle: Path, tmp_path: Path, amtool, promtool
) -> None:
    values = yaml.safe_load((bundle / "kube-prometheus-stack-values.yaml").read_text())

    am = tmp_path / "alertmanager.yml"
    am.write_text(yaml.safe_dump(values["alertmanager"]["config"]))
    result = amtool("check-config", str(am))
    assert result.returncode == 0, result.stdout + result.stderr
    assert values["alertmanager"]["alertmanagerSpec"]["secrets"] == ["kubeheal-alertmanager"]

    rules_map = values["additionalPrometheusRulesMap"]
    assert sorted(rules_map) == sorted(p.stem for p in (bundle / "rules").glob("*.yaml"))
    rule_paths = []
    for name, entry in rules_map.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"groups": entry["groups"]}))
        rule_paths.append(str(path))
    result = promtool("check", "rules", *rule_paths)
    assert result.returncode == 0, result.stdout + result.stderr

    assert values["defaultRules"]["disabled"] == dict.fromkeys(REPLACED_DEFAULT_RULES, True)
    sidecar = values["grafana"]["sidecar"]["dashboards"]
    assert sidecar == {"enabled": True, "label": "grafana_dashboard", "labelValue": "1"}

    manifests = values["extraManifests"]
    assert [m["kind"] for m in manifests] == ["ConfigMap"] * len(DASHBOARD_UIDS)
    boards = {b.uid: b for b in build_dashboards()}
    for manifest in manifests:
        assert manifest["metadata"]["labels"]["grafana_dashboard"] == "1"
        ((key, text),) = manifest["data"].items()
        # Helm's tpl turns {{`{{`}} back into {{: what Grafana receives is the dashboard
        assert "{{namespace}}" not in text
        rendered = text.replace("{{`{{`}}", "{{")
        uid = key.removesuffix(".json")
        assert json.loads(rendered) == boards[uid].model

"""Configuration of the generated monitoring, and `kubeheal generate monitoring`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel
from typer.testing import CliRunner

from kubeheal.cli.main import app
from kubeheal.monitoring import (
    ALERT_NAMES,
    MonitoringConfig,
    MonitoringConfigError,
    parse_monitoring_config,
)
from kubeheal.monitoring.config import format_duration, parse_duration

DOC = Path(__file__).resolve().parents[2] / "docs" / "monitoring.md"


def _fields(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, str | None, bool]]:
    """(dotted path as written in the file, description, is a section) of every field."""
    for name, field in model.model_fields.items():
        path = prefix + (field.alias or name)
        section = isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
        yield path, field.description, section
        if section:
            assert isinstance(field.annotation, type)
            yield from _fields(field.annotation, path + ".")


def test_every_field_has_a_description() -> None:
    undocumented = [path for path, description, _ in _fields(MonitoringConfig) if not description]
    assert undocumented == []


def test_the_documented_configuration_is_the_defaults_and_names_every_field() -> None:
    block = re.search(r"```yaml\n(rate_window:.*?)```", DOC.read_text(), re.DOTALL)
    assert block is not None, "docs/monitoring.md lost its configuration example"
    data = yaml.safe_load(block.group(1))
    assert parse_monitoring_config(block.group(1)) == MonitoringConfig()
    for path, _, section in _fields(MonitoringConfig):
        node = data
        for part in path.split("."):
            assert isinstance(node, dict) and part in node, f"{path} is not in docs/monitoring.md"
            node = node[part]
        assert isinstance(node, dict) or not section, path


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h30m", 5400), ("1d", 86400), ("2w", 1209600), (90, 90)],
)
def test_durations_parse_and_print_as_prometheus_writes_them(text: object, seconds: int) -> None:
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


def test_format_duration_is_the_shortest_form() -> None:
    assert format_duration(0) == "0s"
    assert format_duration(5400) == "1h30m"
    assert format_duration(864000) == "10d"
    assert format_duration(604800) == "1w"


def test_defaults_are_what_an_sre_would_choose() -> None:
    config = parse_monitoring_config("")
    assert config == MonitoringConfig()
    assert config.rate_window == 300
    assert config.golden_signals.latency.quantile == 0.95
    assert config.golden_signals.errors.warning_ratio == 0.05
    assert config.kubernetes.crash_loop.restarts >= 2  # never a single restart
    assert config.alertmanager.webhook_url.endswith("/api/v1/alerts/alertmanager")


def test_yaml_overrides_use_prometheus_durations_and_the_for_key() -> None:
    config = parse_monitoring_config(
        "golden_signals:\n  latency:\n    for: 2m\n    threshold_seconds: 0.25\n"
    )
    assert config.golden_signals.latency.for_ == 120
    assert config.golden_signals.latency.threshold_seconds == 0.25
    assert config.golden_signals.errors == MonitoringConfig().golden_signals.errors


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("golden_signals:\n  latency:\n    treshold: 1\n", "golden_signals.latency.treshold"),
        ("golden_signals:\n  latency:\n    for: soon\n", "golden_signals.latency.for"),
        ("kubernetes:\n  crash_loop:\n    restarts: 1\n", "kubernetes.crash_loop.restarts"),
        (
            "golden_signals:\n  errors:\n    warning_ratio: 1.5\n",
            "golden_signals.errors.warning_ratio",
        ),
        (
            "golden_signals:\n  errors:\n    warning_ratio: 0.3\n    critical_ratio: 0.1\n",
            "golden_signals.errors",
        ),
        ("alertmanager:\n  webhook_url: kubeheal:8080\n", "alertmanager"),
        ("rate_window: -5\n", "rate_window"),
        ("cost:\n  over_provisioned:\n    for: 10m\n", "cost.over_provisioned"),
    ],
)
def test_bad_input_names_the_field(text: str, field: str) -> None:
    with pytest.raises(MonitoringConfigError) as info:
        parse_monitoring_config(text)
    assert str(info.value).startswith(f"{field}:"), str(info.value)


def test_not_yaml_and_not_a_mapping_are_refused() -> None:
    with pytest.raises(MonitoringConfigError, match="not valid YAML"):
        parse_monitoring_config("a: [")
    with pytest.raises(MonitoringConfigError, match="must be a mapping"):
        parse_monitoring_config("- 1\n- 2\n")


def test_fast_profile_has_no_for_on_what_kubeheal_acts_on() -> None:
    fast = MonitoringConfig.fast()
    assert fast.rate_window == 10
    assert fast.kubernetes.crash_loop.for_ == 0
    assert fast.golden_signals.latency.for_ == 0
    assert fast.alertmanager.webhook_group_wait == 0


runner = CliRunner()


def test_cli_writes_the_bundle(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "generate", "monitoring", "--out", str(tmp_path),
            "--webhook-url", "http://127.0.0.1:9999/api/v1/alerts/alertmanager",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output
    for alertname in ALERT_NAMES:
        assert (tmp_path / "tests" / f"{alertname}.yaml").is_file()
    for directory in ("rules", "prometheusrules"):
        assert len(list((tmp_path / directory).glob("*.yaml"))) == 5
    am = yaml.safe_load((tmp_path / "alertmanager" / "alertmanager.yml").read_text())
    hooks = next(r for r in am["receivers"] if r["name"] == "kubeheal")["webhook_configs"]
    assert hooks[0]["url"] == "http://127.0.0.1:9999/api/v1/alerts/alertmanager"
    assert (tmp_path / "kube-prometheus-stack-values.yaml").is_file()
    assert len(list((tmp_path / "dashboards").glob("*.json"))) == 3


def test_cli_takes_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "monitoring.yaml"
    config.write_text("golden_signals:\n  latency:\n    threshold_seconds: 2\n")
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["generate", "monitoring", "--out", str(out), "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert ") > 2\n" in (out / "rules" / "kubeheal-golden-signals.yaml").read_text()


def test_cli_names_the_bad_field_and_writes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "monitoring.yaml"
    config.write_text("golden_signals:\n  latency:\n    for: soon\n")
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["generate", "monitoring", "--out", str(out), "--config", str(config)]
    )
    assert result.exit_code == 2
    assert "golden_signals.latency.for" in result.output
    assert not out.exists()


def test_cli_refuses_a_bad_webhook_url_and_a_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["generate", "monitoring", "--out", str(tmp_path), "--webhook-url", "ftp://x"]
    )
    assert result.exit_code == 2
    assert "--webhook-url" in result.output and "http(s) URL" in result.output
    result = runner.invoke(
        app,
        ["generate", "monitoring", "--out", str(tmp_path), "--config", str(tmp_path / "none")],
    )
    assert result.exit_code == 2
    assert "cannot read" in result.output


def test_fast_profile_takes_the_webhook_and_its_secrets() -> None:
    fast = MonitoringConfig.fast(webhook_url="http://127.0.0.1:1/hook", secrets_dir="/tmp/s")
    assert fast.alertmanager.webhook_url == "http://127.0.0.1:1/hook"
    assert fast.alertmanager.secrets_dir == "/tmp/s"
    assert fast.rate_window == 10
    with pytest.raises(MonitoringConfigError, match="alertmanager"):
        MonitoringConfig.fast(webhook_url="nope")

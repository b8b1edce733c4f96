"""The period ratio, burn rate and budget remaining in their own, slower group: promtool
accepts the group's interval, and the recorded figures are those of the single group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kubeheal.slo.rules import RenderOptions, rule_file
from kubeheal.slo.specs import parse_specs
from kubeheal.slo.yamltext import dump_yaml

SPEC = """\
version: prometheus/v1
service: api
slos:
  - name: availability
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_requests_total{job="api",code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_requests_total{job="api"}[{{.window}}]))
    alerting:
      name: ApiAvailability
      page_alert: {labels: {severity: critical}}
      ticket_alert: {labels: {severity: warning}}
"""
LABELS = 'slo_id="api-availability",slo_name="availability",slo_service="api"'


def _case(name: str, value: float) -> dict[str, Any]:
    return {
        "expr": f'{name}{{slo_id="api-availability"}}',
        "eval_time": "3h",
        "exp_samples": [{"labels": f"{name}{{{LABELS}}}", "value": value}],
    }


def test_the_period_group_records_the_single_groups_figures(tmp_path: Path, promtool) -> None:
    (slo,) = parse_specs(SPEC, source="api.yaml")
    # 3 hours of 1,000 requests a minute, 4 of them errors (0.4 %: 4x the budget)
    series = [
        {"series": 'http_requests_total{job="api",code="200"}', "values": "0+996x180"},
        {"series": 'http_requests_total{job="api",code="500"}', "values": "0+4x180"},
    ]
    tests = [
        {
            "interval": "1m",
            "input_series": series,
            "promql_expr_test": [
                _case("slo:sli_error:ratio_rate30d", 0.004),
                _case("slo:period_burn_rate:ratio", 4),
                _case("slo:period_error_budget_remaining:ratio", -3),
            ],
        }
    ]
    for name, options in (("split", RenderOptions()), ("one", RenderOptions(period_interval=0))):
        rules = rule_file([slo], options)
        assert len(rules["groups"]) == (2 if name == "split" else 1)
        (tmp_path / f"{name}.rules.yml").write_text(dump_yaml(rules))
        checked = promtool("check", "rules", tmp_path / f"{name}.rules.yml")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        document = {
            "rule_files": [f"{name}.rules.yml"],
            "evaluation_interval": "1m",
            "tests": tests,
        }
        (tmp_path / f"{name}.test.yml").write_text(yaml.safe_dump(document, sort_keys=False))
        ran = promtool("test", "rules", f"{name}.test.yml", cwd=tmp_path)
        assert ran.returncode == 0, ran.stdout + ran.stderr
    written = yaml.safe_load((tmp_path / "split.rules.yml").read_text())["groups"][1]
    assert (written["name"], written["interval"]) == ("kubeheal-slo-api-availability-period", "4m")

"""Rendering rules and promtool tests; promtool checks and runs them for every example."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kubeheal.cli.main import app
from kubeheal.slo.generate import GenerateOptions, render_outputs
from kubeheal.slo.model import SLO, AlertPolicy, EventsSLI
from kubeheal.slo.promtests import promtool_tests, suites, variant_rule_file
from kubeheal.slo.rules import RenderOptions, prometheus_rule, render_groups, rule_count, rule_file
from kubeheal.slo.specs import load_specs, parse_specs
from kubeheal.slo.yamltext import dump_yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "slo"
DAY = 86_400

Write = Callable[[Mapping[str, str], Path], list[Path]]


def _slo(**changes: object) -> SLO:
    base = SLO(
        service="shop",
        name="availability",
        objective=Decimal("99.9"),
        period=30 * DAY,
        sli=EventsSLI(
            'sum(rate(req_total{code=~"5.."}[{{.window}}]))', "sum(rate(req_total[{{.window}}]))"
        ),
        labels={"team": "a"},
        alert_name="ShopAvailability",
        page=AlertPolicy(labels={"severity": "critical"}),
        ticket=AlertPolicy(labels={"severity": "warning"}),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _rules(slo: SLO, options: RenderOptions | None = None) -> dict[str, dict]:
    main, period = render_groups(slo, options)
    assert main["name"] == f"kubeheal-slo-{slo.id}"
    assert period["name"] == f"kubeheal-slo-{slo.id}-period"
    return {
        r.get("record") or f"{r['alert']}/{r['labels']['slo_severity']}": r
        for group in (main, period)
        for r in group["rules"]
    }


def test_the_period_ratio_and_what_reads_it_have_a_slower_group_of_their_own() -> None:
    slo = _slo()
    main, period = render_groups(slo)
    assert "interval" not in main  # the alerts and their windows: Prometheus' own interval
    assert period["interval"] == "4m"
    assert [r["record"] for r in period["rules"]] == [
        "slo:sli_error:ratio_rate30d",
        "slo:period_burn_rate:ratio",
        "slo:period_error_budget_remaining:ratio",
    ]
    # no alert reads the period series, so no alert waits on the slower group
    alerts = [r for r in main["rules"] if "alert" in r]
    assert alerts and not any("30d" in r["expr"] or "period" in r["expr"] for r in alerts)
    assert not any(r.get("record", "").endswith("30d") for r in main["rules"])
    (one,) = render_groups(slo, RenderOptions(period_interval=0))
    assert [r for g in (main, period) for r in g["rules"]] != one["rules"]  # order differs
    assert sorted(map(str, one["rules"])) == sorted(
        str(r) for g in (main, period) for r in g["rules"]
    )
    assert render_groups(slo, RenderOptions(period_interval=300))[1]["interval"] == "5m"


def test_recordings_cover_every_window_and_the_period() -> None:
    rules = _rules(_slo())
    for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"):
        rule = rules[f"slo:sli_error:ratio_rate{window}"]
        assert f"[{window}]" in rule["expr"] and "{{" not in rule["expr"]
        assert rule["labels"] == {
            "team": "a", "slo_id": "shop-availability", "slo_name": "availability",
            "slo_service": "shop",
        }  # fmt: skip
    # an error series that does not exist yet reads 0, not "no data"
    assert " or\n  (sum(rate(req_total[5m]))) * 0" in rules["slo:sli_error:ratio_rate5m"]["expr"]
    for window in ("5m", "30m", "2h", "6h"):
        assert rules[f"slo:sli_total:rate{window}"]["expr"] == f"sum(rate(req_total[{window}]))"
    assert rules["slo:objective:ratio"]["expr"] == "vector(0.999)"
    assert rules["slo:error_budget:ratio"]["expr"] == "vector(0.001)"
    assert rules["slo:time_period:days"]["expr"] == "vector(30)"
    assert rules["kubeheal_slo_info"]["labels"]["slo_objective"] == "99.9"
    assert rule_count(_slo()) == len(rules) == 22


def test_alerts_are_exact_multiwindow_conditions_with_a_traffic_guard() -> None:
    rules = _rules(_slo())
    page = rules["ShopAvailability/page"]["expr"]
    assert '(slo:sli_error:ratio_rate5m{slo_id="shop-availability"} > 0.0144000000144)' in page
    assert '(slo:sli_error:ratio_rate1h{slo_id="shop-availability"} > 0.0144000000144)' in page
    assert '(slo:sli_error:ratio_rate6h{slo_id="shop-availability"} > 0.006000000006)' in page
    assert '(slo:sli_total:rate5m{slo_id="shop-availability"} * 300 >= 20)' in page
    assert '(slo:sli_total:rate30m{slo_id="shop-availability"} * 1800 >= 20)' in page
    ticket = rules["ShopAvailability/ticket"]["expr"]
    assert 'ratio_rate1d{slo_id="shop-availability"} > 0.003000000003)' in ticket
    assert 'ratio_rate3d{slo_id="shop-availability"} > 0.001000000001)' in ticket
    assert "99999" not in page + ticket  # no float artefacts
    assert rules["ShopAvailability/page"]["labels"] == {
        "severity": "critical", "slo_severity": "page",
    }  # fmt: skip
    absent = rules["ShopAvailabilitySLIAbsent/ticket"]
    assert absent["expr"] == 'absent(slo:sli_error:ratio_rate5m{slo_id="shop-availability"})'
    assert absent["for"] == "10m"


def test_guard_and_absent_alerts_follow_the_options() -> None:
    rules = _rules(_slo(), RenderOptions(min_events=0, absent_alerts=False))
    assert "sli_total" not in rules["ShopAvailability/page"]["expr"]
    assert not any(name.startswith("slo:sli_total") for name in rules)
    assert "ShopAvailabilitySLIAbsent/ticket" not in rules
    disabled = _rules(_slo(ticket=AlertPolicy(disabled=True)))
    assert "ShopAvailability/ticket" not in disabled
    assert "ShopAvailability/page" in disabled


def test_scaled_period_renders_scaled_windows() -> None:
    rules = _rules(_slo(period=28 * DAY))
    assert "slo:sli_error:ratio_rate4m40s" in rules
    assert "slo:sli_error:ratio_rate28d" in rules
    assert rules["slo:time_period:days"]["expr"] == "vector(28)"
    page = rules["ShopAvailability/page"]["expr"]
    assert "ratio_rate56m{" in page and "> 0.0144" in page
    assert 'slo:sli_total:rate4m40s{slo_id="shop-availability"} * 280 >= 20' in page


def test_prometheus_rule_resource_wraps_the_same_groups() -> None:
    slo = _slo()
    cr = prometheus_rule([slo], name="kubeheal-slo-shop", namespace="monitoring",
                         labels={"release": "prom"})  # fmt: skip
    assert cr["apiVersion"] == "monitoring.coreos.com/v1"
    assert cr["kind"] == "PrometheusRule"
    assert cr["metadata"] == {
        "name": "kubeheal-slo-shop",
        "namespace": "monitoring",
        "labels": {
            "app.kubernetes.io/managed-by": "kubeheal",
            "app.kubernetes.io/component": "slo",
            "release": "prom",
        },
    }
    assert cr["spec"] == rule_file([slo])
    with pytest.raises(ValueError, match="defined twice"):
        rule_file([slo, slo])


def test_yaml_text_round_trips() -> None:
    document = {
        "groups": [
            {
                "name": "g",
                "rules": [
                    {"record": "a:b", "expr": "x\n  or\ny", "labels": {"v": "2", "w": "yes"}},
                    {"alert": "A", "expr": 'absent(x{a="b"})', "for": "10m",
                     "annotations": {"s": "{{$labels.x}}: it's #1", "t": "tab\there"}},
                ],
            }
        ],
        "empty": [],
        "none": {},
        "n": 5,
        "flag": True,
    }  # fmt: skip
    assert yaml.safe_load(dump_yaml(document)) == document
    for slo in load_specs([EXAMPLES]):
        rendered = rule_file([slo])
        assert yaml.safe_load(dump_yaml(rendered)) == rendered


def test_variant_keeps_the_alerting_and_drops_the_rest() -> None:
    slo = _slo(alert_annotations={"x": "y"}, alert_labels={"templated": "{{ $value }}", "k": "v"})
    (group,) = variant_rule_file(slo)["groups"]
    records = [r["record"] for r in group["rules"] if "record" in r]
    assert "slo:sli_error:ratio_rate30d" not in records
    assert "slo:objective:ratio" not in records
    assert len(records) == 7 + 4
    alerts = [r for r in group["rules"] if "alert" in r]
    assert len(alerts) == 3
    assert all("annotations" not in r for r in alerts)
    assert all("templated" not in r["labels"] and r["labels"]["k"] == "v" for r in alerts)
    real = {r["alert"] + r["labels"]["slo_severity"]: r["expr"] for r in _rules(slo).values()
            if "alert" in r}  # fmt: skip
    assert {r["alert"] + r["labels"]["slo_severity"]: r["expr"] for r in alerts} == real


def test_scenarios_prove_the_designed_detection_times() -> None:
    fast, slow = suites(_slo())
    names = [s.name for s in fast.scenarios]
    assert names[0] == ("page fires within its designed detection time (32m30s) at a 26.58x burn")
    # 100% errors, 99.9% over 30 days, 1h window at 14.4x: 0.0144 x 3600 s = 51.84 s
    assert names[1] == "page fires on a total outage within its designed detection time (52s)"
    assert names[2] == "page stays quiet at a 5.4x burn, below its lowest factor"
    assert names[3] == (
        "page stays quiet at exactly its lowest factor (6x, a tie the tolerance absorbs)"
    )
    assert names[4] == "page stays quiet on 100% errors with fewer than 20 events per short window"
    assert fast.step == 300 and slow.step == 7200
    fires = fast.scenarios[0]
    expected = dict(fast.expected)
    quiet_at, firing_at = fires.checks
    assert "page" not in expected[quiet_at]["page-fires"]
    assert "page" in expected[firing_at]["page-fires"]
    assert (firing_at - fires.history) * 300 >= 32.5 * 60 > (quiet_at - fires.history) * 300
    assert slow.scenarios[0].name == (
        "ticket fires within its designed detection time (13h) at a 5.538x burn"
    )


def test_example_rules_pass_promtool(tmp_path: Path, promtool, write: Write) -> None:
    specs = [(p.stem, load_specs([p])) for p in sorted(EXAMPLES.glob("*.yaml"))]
    outputs = render_outputs(specs, GenerateOptions(namespace="monitoring"))
    write(outputs, tmp_path)
    rules = sorted(tmp_path.glob("*.rules.yml"))
    assert [p.name for p in rules] == ["bookinfo.rules.yml", "sample-app.rules.yml"]
    checked = promtool(
        "check", "rules", "--lint=all", *rules, *sorted(tmp_path.glob("tests/*.rules.yml"))
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 62 rules found" in checked.stdout
    for cr in tmp_path.glob("*.prometheusrule.yaml"):
        spec = yaml.safe_load(cr.read_text())["spec"]
        plain = tmp_path / f"{cr.stem}.from-cr.yml"
        plain.write_text(yaml.safe_dump(spec))
        assert promtool("check", "rules", plain).returncode == 0
    tests = sorted(tmp_path.glob("tests/*.test.yml"))
    assert len(tests) == 12
    ran = promtool("test", "rules", *tests, cwd=tmp_path / "tests")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.count("SUCCESS") == 12


def test_promtool_catches_a_wrong_expectation(tmp_path: Path, promtool, write: Write) -> None:
    # The generated tests can fail: shift the "firing" check of the page scenario one step
    # earlier and promtool must report the alert missing.
    slo = _slo()
    files = promtool_tests(slo, rules_file="v.rules.yml")
    fast = files["fast"]
    case = fast["tests"][0]["alert_rule_test"]
    firing = next(
        c
        for c in case
        if {"scenario": "page-fires", "slo_severity": "page"}.items()
        <= {k: v for a in c["exp_alerts"] for k, v in a["exp_labels"].items()
            if a["exp_labels"]["scenario"] == "page-fires"
            and a["exp_labels"]["slo_severity"] == "page"}.items()
    )  # fmt: skip
    minutes = int(firing["eval_time"].removesuffix("m").split("h")[-1] or 0)
    hours = int(firing["eval_time"].split("h")[0])
    firing["eval_time"] = f"{hours}h{minutes - 5}m" if minutes >= 5 else f"{hours - 1}h55m"
    write({"v.rules.yml": dump_yaml(variant_rule_file(slo)), "t.yml": dump_yaml(fast)}, tmp_path)
    ran = promtool("test", "rules", "t.yml", cwd=tmp_path)
    assert ran.returncode == 1
    assert "FAILED" in ran.stdout + ran.stderr
    assert 'scenario="page-fires"' in ran.stdout + ran.stderr


def test_cli_generate_writes_everything(tmp_path: Path, promtool) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["slo", "generate", str(EXAMPLES / "sample-app.yaml"), "--out", str(out),
         "--period", "28d", "--min-events", "50", "--namespace", "monitoring",
         "--cr-label", "release=prom"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "3 SLOs, 62 rules, 11 files written" in result.output
    assert "ratio_rate4m40s" in (out / "sample-app.rules.yml").read_text()
    assert ">= 50)" in (out / "sample-app.rules.yml").read_text()
    cr = yaml.safe_load((out / "sample-app.prometheusrule.yaml").read_text())
    assert cr["metadata"]["labels"]["release"] == "prom"
    assert promtool("check", "rules", out / "sample-app.rules.yml").returncode == 0
    ran = promtool("test", "rules", *sorted((out / "tests").glob("*.test.yml")), cwd=out / "tests")
    assert ran.returncode == 0, ran.stdout


def test_cli_generate_reports_bad_specs(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: prometheus/v1\nservice: a\nslos:\n  - name: x\n    objective: 101\n")
    result = CliRunner().invoke(app, ["slo", "generate", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert f"{bad}: invalid SLO spec" in result.output
    assert "slos[0].objective:" in result.output and "slos[0].sli:" in result.output
    assert not (tmp_path / "o").exists()
    short = CliRunner().invoke(
        app, ["slo", "generate", str(EXAMPLES / "sample-app.yaml"), "--out", str(tmp_path),
              "--period", "30d1s"],
    )  # fmt: skip
    assert short.exit_code == 2
    assert "(default period): period 30d1s" in short.output


def test_generated_header_names_the_source() -> None:
    slos = parse_specs((EXAMPLES / "sample-app.yaml").read_text(), source="sample-app.yaml")
    outputs = render_outputs([("sample-app", slos)], GenerateOptions(tests=False))
    assert sorted(outputs) == ["sample-app.prometheusrule.yaml", "sample-app.rules.yml"]
    assert outputs["sample-app.rules.yml"].startswith(
        "# Generated by kubeheal slo generate from sample-app.yaml. Do not edit.\n"
    )

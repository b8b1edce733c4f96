"""The generated Grafana dashboards, checked structurally (Grafana cannot run here)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from kubeheal.monitoring import (
    DASHBOARD_UIDS,
    MonitoringConfig,
    build_dashboards,
    dashboard_queries,
)

# Values Grafana substitutes before a query reaches Prometheus.
_GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__range": "6h", "$namespace": ".*"}


def _panels(model: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in model["panels"]:
        out.append(panel)
        out.extend(panel.get("panels") or [])
    return out


def _as_recording_rules(queries: list[str]) -> str:
    rules = []
    for i, query in enumerate(queries):
        expr = query
        for name, value in _GRAFANA_VARIABLES.items():
            expr = expr.replace(name, value)
        rules.append({"record": f"dashboard:query_{i}:check", "expr": expr})
    return yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]})


def test_every_panel_query_parses(tmp_path: Path, promtool) -> None:
    queries = [q for board in build_dashboards() for q in dashboard_queries(board)]
    assert len(queries) >= 30
    path = tmp_path / "queries.yaml"
    path.write_text(_as_recording_rules(queries))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


def test_the_query_check_catches_a_bad_query(tmp_path: Path, promtool) -> None:
    path = tmp_path / "queries.yaml"
    path.write_text(_as_recording_rules(["sum(rate(x[$__rate_interval])", "up"]))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 1


def test_dashboards_use_the_datasource_variable_everywhere() -> None:
    for board in build_dashboards():
        model = board.model
        variables = {v["name"]: v for v in model["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        for panel in _panels(model):
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["targets"], panel["title"]
            ref_ids = [t["refId"] for t in panel["targets"]]
            assert len(set(ref_ids)) == len(ref_ids) and all(ref_ids)
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "${datasource}"
        if "namespace" in variables:
            assert variables["namespace"]["datasource"]["uid"] == "${datasource}"


def test_uids_titles_and_panel_ids_are_stable() -> None:
    first, second = build_dashboards(), build_dashboards()
    assert tuple(b.uid for b in first) == DASHBOARD_UIDS
    assert [b.json for b in first] == [b.json for b in second]
    for board in first:
        model = board.model
        assert model["uid"] == board.uid and model["title"] == board.title
        assert "kubeheal" in model["tags"]
        ids = [p["id"] for p in _panels(model)]
        assert ids == list(range(1, len(ids) + 1))


def test_remediation_dashboard_reads_the_operators_metrics() -> None:
    board = {b.uid: b for b in build_dashboards()}["kubeheal-remediation"]
    text = "\n".join(dashboard_queries(board))
    for metric in (
        "kubeheal_time_to_recover_seconds_bucket",
        "kubeheal_time_to_recover_seconds_sum",
        "kubeheal_incidents_closed_total",
        "kubeheal_actions_total",
        "kubeheal_guard_blocks_total",
        "kubeheal_open_incidents",
    ):
        assert metric in text
    custom = MonitoringConfig.model_validate({"kubeheal": {"job": "healer"}})
    board = {b.uid: b for b in build_dashboards(custom)}["kubeheal-remediation"]
    assert all('job="healer"' in q for q in dashboard_queries(board) if "kubeheal_" in q)


def test_generated_files_hold_the_dashboards_and_their_configmaps(bundle: Path) -> None:
    for uid in DASHBOARD_UIDS:
        model = json.loads((bundle / "dashboards" / f"{uid}.json").read_text())
        assert model["uid"] == uid
        configmap = yaml.safe_load((bundle / "dashboards" / f"{uid}-configmap.yaml").read_text())
        assert configmap["kind"] == "ConfigMap"
        assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert json.loads(configmap["data"][f"{uid}.json"]) == model

"""deploy/kustomize/monitoring: the monitoring generator's PrometheusRules and dashboard
ConfigMaps, committed in sync with the generator and rendered by `kubectl kustomize`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from kubeheal.monitoring import render_bundle

ROOT = Path(__file__).resolve().parents[2]
COMPONENT = ROOT / "deploy" / "kustomize" / "monitoring"
KUBECTL = Path(sys.executable).parent / "kubectl"


def test_committed_files_match_the_generator() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen-deploy-monitoring"), "--check"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_kustomize_renders_every_rule_group_and_dashboard() -> None:
    proc = subprocess.run(
        [str(KUBECTL), "kustomize", str(COMPONENT)], capture_output=True, text=True, check=True
    )
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    bundle = render_bundle()
    rules = sorted(p for p in bundle if p.startswith("prometheusrules/"))
    boards = sorted(
        p for p in bundle if p.startswith("dashboards/") and p.endswith("-configmap.yaml")
    )
    assert rules and boards
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(["PrometheusRule"] * len(rules) + ["ConfigMap"] * len(boards))
    for doc in docs:
        assert doc["metadata"]["namespace"] == "monitoring"
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "kubeheal"
        if doc["kind"] == "ConfigMap":
            assert doc["metadata"]["labels"]["grafana_dashboard"] == "1"
        else:
            assert doc["spec"]["groups"] and doc["spec"]["groups"][0]["rules"]

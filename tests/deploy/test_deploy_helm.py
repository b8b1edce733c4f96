"""The Helm chart: same least-privilege rules as the kustomize base, documented values that the
templates use, and (where the helm binary is installed) a rendering kubectl can apply."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "kubeheal"
KUSTOMIZE_RBAC = ROOT / "deploy" / "kustomize" / "base" / "rbac.yaml"


def _role(kind: str, name: str) -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all(KUSTOMIZE_RBAC.read_text()) if d]
    [found] = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


@pytest.mark.parametrize(
    ("rules_file", "kind", "name"),
    [
        ("clusterrole-rules.yaml", "ClusterRole", "kubeheal"),
        ("role-rules.yaml", "Role", "kubeheal"),
        ("node-lock-rules.yaml", "Role", "kubeheal-node-maintenance"),
    ],
)
def test_the_chart_grants_exactly_what_the_kustomize_base_grants(
    rules_file: str, kind: str, name: str
) -> None:
    chart_rules = yaml.safe_load((CHART / "files" / rules_file).read_text())
    assert chart_rules == _role(kind, name)["rules"]
    template = (CHART / "templates" / "rbac.yaml").read_text()
    assert f'.Files.Get "files/{rules_file}"' in template


def test_every_value_a_template_uses_is_defined_and_documented() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "kubeheal"
    used: set[str] = set()
    for template in (CHART / "templates").glob("*"):
        used |= set(re.findall(r"\.Values\.([A-Za-z0-9_.]+)", template.read_text()))
    assert used
    for path in sorted(used):
        node: Any = values
        for part in path.split("."):
            assert isinstance(node, dict) and part in node, f".Values.{path} is not in values.yaml"
            node = node[part]
    # documented: a "# --" description before the values users set
    text = (CHART / "values.yaml").read_text()
    assert text.count("# --") >= 20


def test_the_ledger_url_is_never_a_container_argument() -> None:
    # A command line is readable by every process on the node: the ledger URL (with its
    # password) is read from the Secret mounted as a file.
    template = (CHART / "templates" / "deployment.yaml").read_text()
    args = re.search(r"\n {10}args:\n(.*?)\n {10}env:", template, re.S)
    assert args is not None
    assert "--ledger-file=/var/run/kubeheal/ledger/url" in args.group(1)
    assert "$(" not in args.group(1) and "--ledger=" not in args.group(1)
    assert "LEDGER" not in template
    assert "{name: ledger, mountPath: /var/run/kubeheal/ledger, readOnly: true}" in template
    assert "secretName: {{ .Values.ledger.existingSecret }}" in template
    assert "items: [{key: {{ .Values.ledger.secretKey }}, path: url}]" in template


def test_the_settings_values_are_valid_kubeheal_settings(tmp_path: Path) -> None:
    from kubeheal.config import load_settings

    values = yaml.safe_load((CHART / "values.yaml").read_text())
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(values["settings"]))
    assert load_settings(path, {}).server.listen == "0.0.0.0:8080"


@pytest.mark.skipif(shutil.which("helm") is None, reason="helm is not installed")
def test_helm_template_renders_the_objects(tmp_path: Path) -> None:
    out = subprocess.run(
        ["helm", "template", "kubeheal", str(CHART), "--namespace", "kubeheal-system"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    docs = [d for d in yaml.safe_load_all(out) if d]
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "ClusterRole", "Role", "ServiceAccount", "Service"} <= kinds
    [monitor] = [d for d in docs if d["kind"] == "ServiceMonitor"]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["relabelings"] == [
        {"action": "replace", "targetLabel": "job", "replacement": "kubeheal"}
    ]

"""The shipped ServiceMonitors give kubeheal's series the job the generated rules and dashboards
select: the kustomize base (rendered by `kubectl kustomize`) and the Helm chart's template
(its endpoint rendered with the chart's values) are turned into the scrape configuration the
Prometheus Operator writes for them (the job named after the Service, then the endpoint's
relabelings), a real Prometheus scrapes kubeheal's metrics through them, and the shipped
KubehealDown expression stays quiet; the ServiceMonitor without the relabelling (as it was)
gives the job the Service's name, which the rules never select."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, start_http_server

from kubeheal.runtime.metrics import OperatorMetrics
from kubeheal.twin.promstack import PromStack
from support import until_sync

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy" / "kustomize" / "base"
MONITORING = ROOT / "deploy" / "kustomize" / "monitoring"
CHART = ROOT / "deploy" / "helm" / "kubeheal"
KUBECTL = Path(sys.executable).parent / "kubectl"
JOB_SELECTOR = re.compile(r'job\s*=~?\s*\\?"([^"\\]*)\\?"')


def _kustomize() -> list[dict[str, Any]]:
    out = subprocess.run(
        [str(KUBECTL), "kustomize", str(BASE)], capture_output=True, text=True, check=True
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _helm_endpoints() -> list[dict[str, Any]]:
    """The chart's ServiceMonitor endpoints with the chart's default values. Only the actions
    that block uses are rendered (`.Values.serviceMonitor.X`, optionally `| quote`): any other
    action in it fails the test rather than being guessed at."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())["serviceMonitor"]
    text = (CHART / "templates" / "servicemonitor.yaml").read_text()
    block = text.split("  endpoints:\n", 1)[1].rsplit("{{- end }}", 1)[0]

    def value(match: re.Match[str]) -> str:
        found = values[match.group(1)]
        return json.dumps(found) if match.group(2) else str(found)

    rendered = re.sub(r"\{\{ \.Values\.serviceMonitor\.(\w+)( \| quote)? \}\}", value, block)
    assert "{{" not in rendered, f"unrendered template action in the endpoints:\n{rendered}"
    endpoints = yaml.safe_load(rendered)
    assert isinstance(endpoints, list)
    return endpoints


def _selects(service: dict[str, Any], monitor: dict[str, Any]) -> bool:
    wanted = monitor["spec"]["selector"]["matchLabels"]
    labels = service["metadata"].get("labels", {})
    return all(labels.get(k) == v for k, v in wanted.items())


_CAMEL = {"sourceLabels": "source_labels", "targetLabel": "target_label"}


def _scrape_config(
    name: str, *, service: str, namespace: str, endpoint: dict[str, Any], target: str
) -> dict[str, Any]:
    """What the Prometheus Operator writes for one ServiceMonitor endpoint (the parts that
    decide the labels): discovery's meta labels, `namespace`, `service` and `job` from the
    Service's name, then the endpoint's own relabelings, in that order."""
    own = [
        {_CAMEL.get(k, k): (v.lower() if k == "action" else v) for k, v in r.items()}
        for r in endpoint.get("relabelings", [])
    ]
    return {
        "job_name": f"serviceMonitor/{namespace}/{name}/0",
        "metrics_path": endpoint.get("path", "/metrics"),
        "static_configs": [
            {
                "targets": [target],
                "labels": {
                    "__meta_kubernetes_namespace": namespace,
                    "__meta_kubernetes_service_name": service,
                },
            }
        ],
        "relabel_configs": [
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"},
            {
                "source_labels": ["__meta_kubernetes_service_name"],
                "target_label": "job",
                "replacement": "${1}",
            },
            *own,
        ],
    }


def _shipped_jobs() -> set[str]:
    """Every job the generated PrometheusRules and dashboards select."""
    jobs: set[str] = set()
    for path in sorted(MONITORING.rglob("*.yaml")):
        jobs |= set(JOB_SELECTOR.findall(path.read_text()))
    return jobs


def _kubeheal_down_expr() -> str:
    doc = yaml.safe_load((MONITORING / "prometheusrules" / "kubeheal-self.yaml").read_text())
    for group in doc["spec"]["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == "KubehealDown":
                return str(rule["expr"])
    raise AssertionError("no KubehealDown rule shipped")


def _query(promstack: PromStack, expr: str) -> list[dict[str, Any]]:
    url = f"{promstack.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return list(body["data"]["result"])


@pytest.fixture
def kubeheal_metrics() -> Iterator[str]:
    """kubeheal's operator metrics served on 127.0.0.1, as a replica serves them."""
    registry = CollectorRegistry()
    OperatorMetrics(registry).open_incidents.set(0)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_rules_and_dashboards_select_one_job() -> None:
    assert _shipped_jobs() == {"kubeheal"}
    assert 'up{job="kubeheal"}' in _kubeheal_down_expr()


def test_both_servicemonitors_carry_the_release_label() -> None:
    docs = _kustomize()
    [monitor] = [d for d in docs if d["kind"] == "ServiceMonitor"]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    values = yaml.safe_load((CHART / "values.yaml").read_text())["serviceMonitor"]
    assert values["labels"] == {"release": "kube-prometheus-stack"}
    template = (CHART / "templates" / "servicemonitor.yaml").read_text()
    labels = template.split("  labels:", 1)[1].split("\nspec:", 1)[0]
    assert "{{- with .Values.serviceMonitor.labels }}" in labels
    assert "{{- toYaml . | nindent 4 }}" in labels


@pytest.mark.slow
def test_the_relabelled_job_is_the_one_the_rules_select(
    promstack: PromStack, kubeheal_metrics: str
) -> None:
    docs = _kustomize()
    [monitor] = [d for d in docs if d["kind"] == "ServiceMonitor"]
    [service] = [d for d in docs if d["kind"] == "Service" and _selects(d, monitor)]
    namespace = monitor["metadata"]["namespace"]
    [endpoint] = monitor["spec"]["endpoints"]
    [helm_endpoint] = _helm_endpoints()
    # as it was: no relabelling, so the job is the Service's name
    bare = {k: v for k, v in endpoint.items() if k != "relabelings"}
    configs = [
        _scrape_config(
            "kubeheal", service=service["metadata"]["name"], namespace=namespace,
            endpoint=endpoint, target=kubeheal_metrics,
        ),
        # a Helm release "prod": the Service is prod-kubeheal-metrics
        _scrape_config(
            "prod-kubeheal", service="prod-kubeheal-metrics", namespace="prod",
            endpoint=helm_endpoint, target=kubeheal_metrics,
        ),
        _scrape_config(
            "unrelabelled", service=service["metadata"]["name"], namespace="before",
            endpoint=bare, target=kubeheal_metrics,
        ),
    ]  # fmt: skip
    promstack.configure(extra_scrape_configs=configs, wait_alertmanager=False)

    def scraped() -> dict[str, str] | None:
        found = _query(promstack, "up == 1")
        by_namespace = {s["metric"]["namespace"]: s["metric"]["job"] for s in found}
        return by_namespace if len(by_namespace) == 3 else None

    jobs = until_sync(scraped, what="the three ServiceMonitor targets scraped", timeout=60)
    assert jobs == {
        namespace: "kubeheal",
        "prod": "kubeheal",
        "before": service["metadata"]["name"],
    }
    assert service["metadata"]["name"] == "kubeheal-metrics"
    assert {jobs[namespace], jobs["prod"]} == _shipped_jobs()
    assert jobs["before"] not in _shipped_jobs()
    # kubeheal's own series carry the job too, and the shipped KubehealDown stays quiet
    series = _query(promstack, 'kubeheal_open_incidents{job="kubeheal"}')
    assert {s["metric"]["namespace"] for s in series} == {namespace, "prod"}
    assert _query(promstack, _kubeheal_down_expr()) == []

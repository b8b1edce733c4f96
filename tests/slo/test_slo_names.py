"""SLO specs name the workload their burn acts on (labels ``namespace`` and ``deployment`` or
``statefulset``): a value that is no valid Kubernetes name is a spec error naming the field,
in Sloth and OpenSLO specs alike (issue 23: names from YAML are untrusted input)."""

from __future__ import annotations

import textwrap

import pytest

from kubeheal.slo.errors import SloSpecError
from kubeheal.slo.model import Workload
from kubeheal.slo.specs import parse_specs

SLOTH = """\
version: prometheus/v1
service: shop
labels:
  namespace: NAMESPACE
  deployment: DEPLOYMENT
slos:
  - name: availability
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_requests_total[{{.window}}]))
    alerting:
      name: ShopAvailability
      page_alert: {labels: {severity: critical}}
      ticket_alert: {labels: {severity: warning}}
"""

OPENSLO = """\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: web
  labels: {namespace: NAMESPACE, deployment: DEPLOYMENT}
spec:
  service: web
  budgetingMethod: Occurrences
  timeWindow: [{duration: 4w, isRolling: true}]
  objectives: [{targetPercent: 99.5}]
  indicator:
    metadata: {name: good-ratio}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: Prometheus, spec: {query: ok_total}}}
        total: {metricSource: {type: Prometheus, spec: {query: all_total}}}
"""


def _spec(template: str, namespace: str, deployment: str) -> str:
    quoted = {k: '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for k, v in
              (("NAMESPACE", namespace), ("DEPLOYMENT", deployment))}  # fmt: skip
    text = template
    for key, value in quoted.items():
        text = text.replace(key, value)
    return textwrap.dedent(text)


@pytest.mark.parametrize("template", [SLOTH, OPENSLO], ids=["sloth", "openslo"])
def test_valid_workload_names_become_the_workload(template: str) -> None:
    (slo,) = parse_specs(_spec(template, "shop", "web.v2"), source="spec.yaml")
    assert slo.workload == Workload(kind="Deployment", namespace="shop", name="web.v2")


@pytest.mark.parametrize("template", [SLOTH, OPENSLO], ids=["sloth", "openslo"])
@pytest.mark.parametrize(
    ("namespace", "deployment", "label"),
    [
        ("shop", "./../../kube-system/deployments/coredns", "deployment"),
        ("demo?labelSelector=x#", "web", "namespace"),
        ("shop", "web\\u0000", "deployment"),  # a YAML escape: the NUL itself
        ("Shop", "web", "namespace"),
    ],
)
def test_invalid_workload_names_are_spec_errors(
    template: str, namespace: str, deployment: str, label: str
) -> None:
    text = _spec(template, namespace, deployment).replace("\\\\u0000", "\\u0000")
    with pytest.raises(SloSpecError) as caught:
        parse_specs(text, source="spec.yaml")
    message = str(caught.value)
    assert f"label {label}=" in message or f"label '{label}'" in message
    assert "is not a valid" in message or "control characters are not allowed" in message
    assert "\x00" not in message
    assert caught.value.fields in (("labels",), ("metadata.labels",))

"""Chaos experiment files name namespaces, workloads, nodes and ConfigMaps: each must be the
Kubernetes name it claims to be, or the experiment is refused with the field named (issue 23:
names from YAML are untrusted input; the client would refuse them too, mid-run)."""

from __future__ import annotations

from typing import Any

import pytest

from kubeheal.chaos.errors import ExperimentSpecError
from kubeheal.chaos.spec import parse_experiment

TRAVERSAL = "./../../kube-system/deployments/coredns"


def _experiment(
    *,
    namespace: str = "shop",
    workload: str = "web",
    node: str = "w-2",
    configmap: str = "settings",
) -> dict[str, Any]:
    return {
        "name": "names",
        "steady_state": [
            {
                "name": "ready",
                "kubernetes": {"workload": {"namespace": namespace, "name": workload}},
            }
        ],
        "method": [
            {"name": "kill", "fault": "pod-delete",
             "target": {"namespace": namespace, "deployment": workload}},
            {"name": "node", "fault": "node-cordon", "target": {"name": node}},
            {"name": "config", "fault": "config-change", "namespace": namespace,
             "configmap": configmap, "data": {"mode": "broken"}},
        ],
    }  # fmt: skip


def test_valid_names_are_accepted() -> None:
    exp = parse_experiment(_experiment(workload="web.v2", node="ip-10-0-1-2.internal"))
    assert [f.name for f in exp.method] == ["kill", "node", "config"]


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        (
            {"workload": TRAVERSAL},
            ["steady_state[0].kubernetes.workload.name", "method[0].target.deployment"],
        ),
        (
            {"namespace": "demo?labelSelector=x#"},
            [
                "steady_state[0].kubernetes.workload.namespace",
                "method[0].target.namespace",
                "method[2].namespace",
            ],
        ),
        ({"node": "n1\x00"}, ["method[1].target.name"]),
        ({"configmap": "../secrets"}, ["method[2].configmap"]),
    ],
)
def test_invalid_names_are_refused_naming_the_field(
    change: dict[str, str], fields: list[str]
) -> None:
    with pytest.raises(ExperimentSpecError) as caught:
        parse_experiment(_experiment(**change))
    text = str(caught.value)
    assert "is not a valid" in text
    assert "\x00" not in text
    assert [p.split(":")[0] for p in caught.value.problems] == fields

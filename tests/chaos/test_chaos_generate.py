"""Generated LitmusChaos and Chaos Mesh resources against the CRD schema subsets they use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import jsonschema
import pytest

from kubeheal.chaos.errors import UnsupportedFault
from kubeheal.chaos.generate import chaos_mesh_resource, litmus_engine, resource_name
from kubeheal.chaos.spec import parse_experiment
from kubeheal.clients.kube import KubeConnection
from kubeheal.clients.writer import KubeWriter

DATA = Path(__file__).parent / "data"
LITMUS = json.loads((DATA / "litmus-chaosengine.schema.json").read_text())
MESH = json.loads((DATA / "chaos-mesh.schema.json").read_text())
POD_TARGET = {"namespace": "shop", "labels": {"app": "web"}, "share": 0.5, "container": "app"}


def _faults() -> dict[str, Any]:
    exp = parse_experiment(
        {
            "name": "gen",
            "steady_state": [
                {"name": "p", "kubernetes": {"workload": {"namespace": "shop", "name": "web"}}}
            ],
            "method": [
                {
                    "name": "lat",
                    "fault": "pod-network-latency",
                    "target": POD_TARGET,
                    "latency": "2000ms",
                    "jitter": "100ms",
                    "duration": "300s",
                },
                {
                    "name": "cpu",
                    "fault": "pod-cpu-hog",
                    "target": POD_TARGET,
                    "cores": 2,
                    "duration": "5m",
                },
                {"name": "mem", "fault": "pod-memory-hog", "target": POD_TARGET, "megabytes": 500},
                {"name": "kill", "fault": "container-kill", "target": POD_TARGET},
                {"name": "node", "fault": "node-memory-pressure", "target": {"name": "w-2"}},
            ],
        }
    )
    return {f.name: f for f in exp.method}


def _env(body: dict[str, Any]) -> dict[str, str]:
    env = body["spec"]["experiments"][0]["spec"]["components"]["env"]
    return {e["name"]: e["value"] for e in env}


def _keys_known(obj: Any, schema: dict[str, Any], defs: dict[str, Any], path: str) -> None:
    """Every key the generated object sets is one the schema subset declares."""
    if "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    if isinstance(obj, dict) and "properties" in schema:
        for key, value in obj.items():
            assert key in schema["properties"], f"{path}.{key} is not in the CRD schema"
            _keys_known(value, schema["properties"][key], defs, f"{path}.{key}")


def test_litmus_engines_match_the_chaosengine_crd() -> None:
    faults = _faults()
    for name in ("lat", "cpu", "mem", "kill"):
        res = litmus_engine(faults[name], experiment="gen", labels={"app": "web"})
        jsonschema.validate(res.body, LITMUS)
        _keys_known(res.body, LITMUS, {}, "")
        assert (res.group, res.version, res.plural) == (
            "litmuschaos.io",
            "v1alpha1",
            "chaosengines",
        )
        assert res.body["spec"]["appinfo"] == {
            "appns": "shop",
            "applabel": "app=web",
            "appkind": "",
        }
    lat = _env(litmus_engine(faults["lat"], experiment="gen", labels={"app": "web"}).body)
    assert lat == {
        "TOTAL_CHAOS_DURATION": "300",
        "PODS_AFFECTED_PERC": "50",
        "TARGET_CONTAINER": "app",
        "NETWORK_LATENCY": "2000",
        "JITTER": "100",
    }
    cpu = litmus_engine(faults["cpu"], experiment="gen", labels={"app": "web"}).body
    assert cpu["spec"]["experiments"][0]["name"] == "pod-cpu-hog"
    assert _env(cpu)["CPU_CORES"] == "2" and _env(cpu)["TOTAL_CHAOS_DURATION"] == "300"
    node = litmus_engine(faults["node"], experiment="gen", node="w-2", namespace="litmus")
    jsonschema.validate(node.body, LITMUS)
    assert node.body["spec"]["experiments"][0]["name"] == "node-memory-hog"
    assert _env(node.body)["TARGET_NODES"] == "w-2"


def test_chaos_mesh_resources_match_their_crds() -> None:
    faults = _faults()
    defs = MESH["$defs"]
    seen = set()
    for name in ("lat", "cpu", "mem", "kill"):
        res = chaos_mesh_resource(faults[name], experiment="gen", labels={"app": "web"})
        kind = res.body["kind"]
        seen.add(kind)
        jsonschema.validate(res.body, {"$defs": defs, "$ref": f"#/$defs/{kind}"})
        _keys_known(res.body, defs[kind], defs, kind)
        assert res.body["spec"]["selector"] == {
            "namespaces": ["shop"],
            "labelSelectors": {"app": "web"},
        }
        assert (res.body["spec"]["mode"], res.body["spec"]["value"]) == ("fixed-percent", "50")
    assert seen == {"NetworkChaos", "StressChaos", "PodChaos"}
    lat = chaos_mesh_resource(faults["lat"], experiment="gen", labels={"app": "web"}).body
    assert lat["spec"]["delay"]["latency"] == "2000ms" and lat["spec"]["duration"] == "300s"
    cpu = chaos_mesh_resource(faults["cpu"], experiment="gen", labels={"app": "web"}).body
    assert cpu["spec"]["stressors"] == {"cpu": {"workers": 2, "load": 100}}
    with pytest.raises(UnsupportedFault):
        chaos_mesh_resource(faults["node"], experiment="gen", labels={})


def test_names_are_dns_labels() -> None:
    name = resource_name("a-very-long-experiment-name-indeed-yes", "Fault_With.Odd-Chars" * 3)
    assert len(name) <= 63 and name == name.lower() and not name.endswith("-")
    assert all(c.isalnum() or c == "-" for c in name)


async def test_generated_resources_are_created_and_deleted_through_the_api() -> None:
    seen: list[tuple[str, str, Any]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content) if request.content else None
        seen.append((request.method, request.url.path, body))
        if request.method == "POST":
            return httpx2.Response(201, json=body)
        return httpx2.Response(200, json={"kind": "Status", "status": "Success"})

    writer = KubeWriter(
        KubeConnection.from_server("http://cluster.invalid"),
        transport=httpx2.MockTransport(handler),
    )
    res = chaos_mesh_resource(_faults()["lat"], experiment="gen", labels={"app": "web"})
    try:
        created = await writer.create_custom(
            group=res.group,
            version=res.version,
            plural=res.plural,
            namespace=res.namespace,
            obj=res.body,
        )
        await writer.delete_custom(
            group=res.group,
            version=res.version,
            plural=res.plural,
            namespace=res.namespace,
            name=res.name,
        )
    finally:
        await writer.aclose()
    assert created["kind"] == "NetworkChaos"
    assert seen[0][:2] == ("POST", "/apis/chaos-mesh.org/v1alpha1/namespaces/shop/networkchaos")
    assert seen[1][:2] == (
        "DELETE",
        f"/apis/chaos-mesh.org/v1alpha1/namespaces/shop/networkchaos/{res.name}",
    )

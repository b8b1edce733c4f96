"""Scenarios: what they contain, how they combine, and that they are plain manifests."""

from __future__ import annotations

import pytest
import yaml

from kubeheal.twin.clock import ManualClock
from kubeheal.twin.scenarios import (
    SCENARIOS,
    ScenarioError,
    load_scenario,
    scenario_files,
)
from kubeheal.twin.store import ObjectStore


def test_empty_has_three_nodes() -> None:
    s = load_scenario("empty")
    nodes = s.of_kind("Node")
    assert [n["metadata"]["name"] for n in nodes] == ["cp-1", "worker-1", "worker-2"]
    cp = nodes[0]
    assert {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"} in (
        cp["spec"]["taints"]
    )
    for node in nodes:
        assert node["status"]["capacity"]["cpu"] == "4"
        assert node["status"]["capacity"]["memory"] == f"{16 * 2**20}Ki"
        assert node["status"]["allocatable"]["pods"] == "110"
        assert node["status"]["nodeInfo"]["kubeletVersion"].startswith("v1.31.")
    assert len(s.objects) == 3
    assert set(SCENARIOS) == {"empty", "sample-app", "bookinfo"}


def test_sample_app_contents() -> None:
    s = load_scenario("sample-app")
    assert "demo" in s.namespaces()
    (deploy,) = s.of_kind("Deployment")
    assert deploy["spec"]["replicas"] == 3
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert probe in container
    assert container["resources"]["requests"] and container["resources"]["limits"]
    (hpa,) = s.of_kind("HorizontalPodAutoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 20)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    (pdb,) = s.of_kind("PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 2
    assert s.of_kind("Service")[0]["spec"]["selector"] == {"app": "sample-app"}
    assert "sample-app" in s.profiles
    assert s.traffic.sources[0].service == "sample-app"
    assert s.profiles.traffic == s.traffic


def test_bookinfo_contents_and_call_graph() -> None:
    s = load_scenario("bookinfo")
    names = {d["metadata"]["name"] for d in s.of_kind("Deployment")}
    assert {"productpage-v1", "details-v1", "ratings-v1", "reviews-v1", "reviews-v2",
            "reviews-v3", "loadgenerator"} <= names  # fmt: skip
    assert {svc["metadata"]["name"] for svc in s.of_kind("Service")} == {
        "productpage", "details", "reviews", "ratings"
    }  # fmt: skip
    calls = {n: [c.service for c in s.profiles.get(n).calls] for n in s.profiles.names()}
    assert calls["productpage-v1"] == ["details", "reviews"]
    assert calls["reviews-v1"] == []
    assert calls["reviews-v2"] == calls["reviews-v3"] == ["ratings"]
    assert s.traffic.base_rps("bookinfo", "productpage", 0) == 20


def test_combined_scenarios_load_into_a_store() -> None:
    for name in ("sample-app+bookinfo", ["sample-app", "bookinfo"]):
        s = load_scenario(name)
        assert sorted(s.namespaces()) == ["bookinfo", "demo"]
        assert len(s.of_kind("Node")) == 3
        assert "sample-app" in s.profiles and "ratings-v1" in s.profiles
        store = ObjectStore(clock=ManualClock())
        assert store.load(s.objects) == len(s.objects)


def test_unknown_scenario() -> None:
    with pytest.raises(ScenarioError, match="unknown scenario 'nope'"):
        load_scenario("nope")


def test_manifest_files_are_plain_kubernetes_yaml() -> None:
    for text in scenario_files("sample-app+bookinfo"):
        for doc in yaml.safe_load_all(text):
            assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"]
            assert not doc["kind"].startswith("Twin")

"""Ready-made clusters for the twin: Kubernetes manifests plus workload behaviour.

Every scenario runs on the same three nodes (``nodes.yaml``: control-plane ``cp-1``, tainted
``node-role.kubernetes.io/control-plane:NoSchedule``, and workers ``worker-1``/``worker-2``,
4 CPU / 16Gi each). A scenario directory holds ``manifests.yaml`` (plain Kubernetes YAML that
``kubectl apply -f`` accepts) and ``behaviour.yaml`` (the twin's behaviour profiles and the
traffic offered to Services; not a Kubernetes manifest).

* ``empty``: the nodes only;
* ``sample-app``: namespace ``demo``, Deployment ``sample-app`` (3 replicas, startup/liveness/
  readiness probes, requests/limits), its Service, an HPA 3-20 at 70 % CPU, a PDB
  minAvailable 2, 30 rps with a daily pattern;
* ``bookinfo``: namespace ``bookinfo``, productpage -> details, reviews v1/v2/v3 -> ratings,
  their Services, and a load generator offering 20 rps to productpage.

Scenarios combine: ``load_scenario("sample-app+bookinfo")`` or ``load_scenario([...])``.

Exception tree::

    ValueError
    └── ScenarioError   unknown scenario name or an invalid scenario file
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kubeheal.twin.defaults import template_defaults
from kubeheal.twin.sim.nodes import register_node
from kubeheal.twin.sim.workloads import Profile, ProfileRegistry, TrafficPlan, TrafficSource

__all__ = ["SCENARIOS", "Scenario", "ScenarioError", "load_scenario", "scenario_files"]

SCENARIOS: tuple[str, ...] = ("empty", "sample-app", "bookinfo")
_DIRS = {"empty": None, "sample-app": "sample-app", "bookinfo": "bookinfo"}


class ScenarioError(ValueError):
    """Unknown scenario, or a scenario file that does not parse."""


class _Behaviour(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profiles: list[Profile] = Field(default_factory=list)
    traffic: list[TrafficSource] = Field(default_factory=list)


@dataclass(frozen=True)
class Scenario:
    """A scenario's objects (to load into the store), profiles and traffic."""

    name: str
    objects: list[dict[str, Any]]
    profiles: ProfileRegistry
    traffic: TrafficPlan

    def namespaces(self) -> list[str]:
        return [str(o["metadata"]["name"]) for o in self.objects if o.get("kind") == "Namespace"]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("kind") == kind]


def _read(*parts: str) -> str:
    node = resources.files(__name__)
    for part in parts:
        node = node.joinpath(part)
    return node.read_text(encoding="utf-8")


def _documents(text: str, source: str) -> list[dict[str, Any]]:
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        raise ScenarioError(f"{source}: invalid YAML: {e}") from e
    for doc in docs:
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            raise ScenarioError(f"{source}: every document must be a Kubernetes object")
    return docs


def _names(name: str | Sequence[str]) -> list[str]:
    if isinstance(name, str):
        names = [n.strip() for n in name.split("+") if n.strip()]
    else:
        names = [str(n) for n in name]
    if not names:
        raise ScenarioError("no scenario named")
    for n in names:
        if n not in _DIRS:
            raise ScenarioError(f"unknown scenario {n!r}; known: {', '.join(SCENARIOS)}")
    return names


def scenario_files(name: str | Sequence[str]) -> list[str]:
    """The manifest texts of a scenario in apply order (nodes first), for `kubectl apply -f`."""
    texts = [_read("nodes.yaml")]
    for n in _names(name):
        directory = _DIRS[n]
        if directory is not None:
            texts.append(_read(directory, "manifests.yaml"))
    return texts


def load_scenario(name: str | Sequence[str]) -> Scenario:
    """Load one scenario (or several: ``"a+b"`` or a list) with its profiles and traffic."""
    names = _names(name)
    objects: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    nodes = _documents(_read("nodes.yaml"), "nodes.yaml")
    for index, node in enumerate(nodes):
        objects.append(register_node(copy.deepcopy(node), index=index))
        seen.add(("Node", "", str(node["metadata"]["name"])))
    profiles: list[Profile] = []
    traffic: list[TrafficSource] = []
    for n in names:
        directory = _DIRS[n]
        if directory is None:
            continue
        for doc in _documents(_read(directory, "manifests.yaml"), f"{n}/manifests.yaml"):
            meta = doc.get("metadata") or {}
            key = (str(doc["kind"]), str(meta.get("namespace", "")), str(meta.get("name", "")))
            if key not in seen:
                seen.add(key)
                template_defaults(doc)  # as the API server would have on create
                objects.append(doc)
        raw = yaml.safe_load(_read(directory, "behaviour.yaml")) or {}
        try:
            behaviour = _Behaviour.model_validate(raw)
        except ValidationError as e:
            raise ScenarioError(f"{n}/behaviour.yaml: {e}") from e
        profiles.extend(behaviour.profiles)
        traffic.extend(behaviour.traffic)
    plan = TrafficPlan(sources=traffic)
    return Scenario(
        name="+".join(names),
        objects=objects,
        profiles=ProfileRegistry(profiles, traffic=plan),
        traffic=plan,
    )

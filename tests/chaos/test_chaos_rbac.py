"""deploy/chaos-rbac.yaml grants what the native faults and probes use, and nothing else.

Every native fault runs against the twin with its API audit on; each recorded call must be
allowed by the ClusterRole, and each rule must have been used (the generated-resource rules
excepted: the twin serves no Litmus or Chaos Mesh CRDs). No pods/exec, no wildcards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kubeheal.chaos.journal import RunStatus
from kubeheal.chaos.runner import ExperimentRunner
from kubeheal.chaos.sampling import OutageSampler, from_kube
from kubeheal.chaos.spec import parse_experiment

RBAC = Path(__file__).parents[2] / "deploy" / "chaos-rbac.yaml"
NOT_ON_THE_TWIN = {
    ("litmuschaos.io", "chaosengines"),  # generated faults (FaultDriver._generated)
    ("chaos-mesh.org", "networkchaos"),
    ("chaos-mesh.org", "stresschaos"),
    ("chaos-mesh.org", "podchaos"),
    ("apps", "statefulsets"),  # StatefulSet targets: same calls as for the Deployment here
}


def _rules() -> list[dict[str, Any]]:
    docs = list(yaml.safe_load_all(RBAC.read_text()))
    (role,) = [d for d in docs if d["kind"] == "ClusterRole"]
    rules: list[dict[str, Any]] = role["rules"]
    return rules


def test_the_role_has_no_exec_and_no_wildcards() -> None:
    for rule in _rules():
        for key in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[key], rule
        assert not any(r.startswith("pods/exec") or r == "secrets" for r in rule["resources"])


async def test_every_call_of_the_native_faults_is_granted(chaos_twin: Any) -> None:
    calls: list[Any] = []
    short = {"duration": "10s"}
    async with chaos_twin("sample-app", audit=calls.append) as kit:
        store = kit.twin.store
        with store.lock:
            store.create(
                store.rtype("", "v1", "configmaps"),
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "app-config", "namespace": "demo"},
                    "data": {"mode": "normal"},
                },
            )
        exp = parse_experiment(
            {
                "name": "rbac",
                "steady_state": [
                    {
                        "name": "ready",
                        "kubernetes": {"workload": {"namespace": "demo", "name": "sample-app"}},
                    },
                    {
                        "name": "pods",
                        "kubernetes": {"namespace": "demo", "labels": {"app": "sample-app"}},
                    },
                ],
                "method": [
                    {
                        "name": "kill",
                        "fault": "pod-delete",
                        **short,
                        "target": {
                            "namespace": "demo",
                            "labels": {"app": "sample-app"},
                            "share": 0.3,
                        },
                    },
                    {
                        "name": "zero",
                        "fault": "scale-to-zero",
                        **short,
                        "target": {"namespace": "demo", "name": "sample-app"},
                    },
                    {
                        "name": "image",
                        "fault": "bad-rollout",
                        **short,
                        "target": {"namespace": "demo", "name": "sample-app"},
                    },
                    {
                        "name": "config",
                        "fault": "config-change",
                        **short,
                        "namespace": "demo",
                        "configmap": "app-config",
                        "data": {"mode": "broken"},
                    },
                    {
                        "name": "cordon",
                        "fault": "node-cordon",
                        **short,
                        "target": {"labels": {"topology.kubernetes.io/zone": "zone-a"}},
                    },
                    {
                        "name": "drain",
                        "fault": "node-drain",
                        **short,
                        "target": {"name": "worker-1"},
                    },
                ],
                "rollbacks": [
                    {
                        "action": "scale",
                        "replicas": 3,
                        "workload": {"namespace": "demo", "name": "sample-app"},
                    }
                ],
                "settings": {"probe_interval": "5s", "stable_for": "5s", "observe_after": "5s"},
            }
        )
        # the replica-outage figures sample the Deployments through the API, as on a cluster
        sampler = OutageSampler(
            read=from_kube(kit.writer), clock=kit.env.clock, sleep=kit.env.sleep
        )
        kit.env.outages = sampler
        await sampler.sample()
        journal = await ExperimentRunner(exp, kit.env).run()
    assert sampler.samples and sampler.failures == 0
    drained = next(f for f in journal.faults if f.name == "drain")
    assert "pods evicted" in drained.rounds[0] and " 0 pods" not in drained.rounds[0], (
        drained.rounds
    )
    assert journal.status is not RunStatus.ERROR, journal.error
    assert journal.status is not RunStatus.REFUSED, journal.error
    assert all(r.ok for r in journal.rollbacks), journal.rollbacks
    rules = _rules()
    used: set[tuple[str, str, str]] = set()
    for c in calls:
        resource = f"{c.resource}/{c.subresource}" if c.subresource else c.resource
        granted = [
            (g, r, v)
            for rule in rules
            for g in rule["apiGroups"]
            for r in rule["resources"]
            for v in rule["verbs"]
            if (g, r, v) == (c.group, resource, c.verb)
        ]
        assert granted, f"not granted: {c.verb} {c.group}/{resource} {c.namespace}/{c.name}"
        used |= set(granted)
    for rule in rules:
        for g in rule["apiGroups"]:
            for r in rule["resources"]:
                if (g, r) in NOT_ON_THE_TWIN:
                    continue
                for v in rule["verbs"]:
                    assert (g, r, v) in used, f"granted but never used: {v} {g}/{r}"

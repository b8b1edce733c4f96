"""Issue 23, defect 5: the twin refuses to evict a pod two PodDisruptionBudgets select, as the
API server's eviction handler (pkg/registry/core/pod/storage/eviction.go) does: a Status with
code 500, status Failure, its exact message and no reason, whatever the budgets allow, dry
runs included; kubectl drain gives up on it (it retries only 429)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from kubeheal.twin.sim.disruption import MULTIPLE_PDBS_MESSAGE

NS = ("-n", "demo")
SECOND_PDB = {
    "apiVersion": "policy/v1",
    "kind": "PodDisruptionBudget",
    "metadata": {"name": "sample-app-kubeheal", "namespace": "demo"},
    "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "sample-app"}}},
}


def _running_pods(cluster: Any) -> list[dict[str, Any]]:
    out = cluster.kubectl("get", "pods", *NS, "-l", "app=sample-app", "-o", "json").stdout
    return [
        p
        for p in json.loads(out)["items"]
        if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
    ]


def _budgets_allow(cluster: Any, *names: str) -> None:
    """Wait until every named PDB is processed and allows a disruption (so only the count of
    PDBs can be what refuses the eviction)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        items = json.loads(cluster.kubectl("get", "pdb", *NS, "-o", "json").stdout)["items"]
        ready = {
            p["metadata"]["name"]
            for p in items
            if p.get("status", {}).get("disruptionsAllowed", 0) >= 1
            and p["status"].get("observedGeneration") == p["metadata"]["generation"]
        }
        if set(names) <= ready:
            return
        time.sleep(0.2)
    raise AssertionError(f"PDBs {names} never allowed a disruption")


def _evict(cluster: Any, pod: str, *, dry_run: bool = False) -> httpx.Response:
    body = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": pod, "namespace": "demo"},
    }
    path = f"/api/v1/namespaces/demo/pods/{pod}/eviction"
    with httpx.Client(base_url=cluster.url, timeout=10) as client:
        return client.post(path, json=body, params={"dryRun": "All"} if dry_run else None)


def test_a_pod_two_pdbs_select_cannot_be_evicted(sample_app: Any) -> None:
    cluster = sample_app
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(SECOND_PDB))
    _budgets_allow(cluster, "sample-app", "sample-app-kubeheal")
    pod = _running_pods(cluster)[0]
    name, node = pod["metadata"]["name"], pod["spec"]["nodeName"]

    for dry_run in (True, False):
        refused = _evict(cluster, name, dry_run=dry_run)
        assert refused.status_code == 500, refused.text
        assert refused.json() == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": MULTIPLE_PDBS_MESSAGE,
            "code": 500,
        }
    assert MULTIPLE_PDBS_MESSAGE == (
        "This pod has more than one PodDisruptionBudget, which the eviction subresource does "
        "not support."
    )
    assert name in {p["metadata"]["name"] for p in _running_pods(cluster)}

    drain = cluster.kubectl(
        "drain", node, "--ignore-daemonsets", "--timeout=5s", check=False, timeout=30
    )
    assert drain.returncode != 0
    assert MULTIPLE_PDBS_MESSAGE in drain.stderr, drain.stderr
    assert "will retry" not in drain.stderr, drain.stderr  # not a 429: kubectl gives up
    assert name in {p["metadata"]["name"] for p in _running_pods(cluster)}

    # one PDB again: the same pod is evicted (the budget allows it)
    cluster.kubectl("delete", "pdb", "sample-app-kubeheal", *NS)
    evicted = _evict(cluster, name)
    assert evicted.status_code == 201, evicted.text
    cluster.kubectl("uncordon", node)

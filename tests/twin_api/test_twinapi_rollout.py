"""kubectl against a full twin (controllers, scheduler, kubelet): rollouts, drain, logs.

The twin runs the `sample-app` scenario on an accelerated wall clock, so rollouts that take
a minute of simulated time finish in a few wall seconds.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

NS = ("-n", "demo")


@pytest.fixture(scope="module")
def cluster(sample_app: Any) -> Any:
    return sample_app


def _pods(cluster: Any) -> list[dict[str, Any]]:
    out = cluster.kubectl("get", "pods", *NS, "-l", "app=sample-app", "-o", "json").stdout
    return json.loads(out)["items"]  # type: ignore[no-any-return]


def test_pods_are_running_with_table_columns(cluster: Any) -> None:
    rows = [
        line.split()
        for line in cluster.kubectl("get", "pods", *NS, "-o", "wide").stdout.splitlines()
    ]
    assert rows[0][:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    app_rows = [r for r in rows[1:] if r[0].startswith("sample-app-")]
    assert len(app_rows) == 3
    assert all(r[1] == "1/1" and r[2] == "Running" for r in app_rows), rows
    assert {r[6] for r in app_rows} <= {"worker-1", "worker-2"}  # never the tainted node
    nodes = cluster.kubectl("get", "nodes").stdout
    assert "control-plane" in nodes and "Ready" in nodes


def test_describe_pod_shows_kubelet_events_and_logs(cluster: Any) -> None:
    pod = _pods(cluster)[0]["metadata"]["name"]
    described = cluster.kubectl("describe", "pod", pod, *NS).stdout
    assert "Events:" in described and "Scheduled" in described and "Started" in described
    logs = cluster.kubectl("logs", pod, *NS).stdout
    assert logs.strip(), "the simulated app writes a start-up log"


def test_rollout_restart_status_and_undo(cluster: Any) -> None:
    cluster.kubectl("rollout", "restart", "deploy/sample-app", *NS)
    out = cluster.kubectl(
        "rollout", "status", "deploy/sample-app", *NS, "--timeout=40s", timeout=50
    ).stdout
    assert "successfully rolled out" in out
    dep = json.loads(cluster.kubectl("get", "deploy", "sample-app", *NS, "-o", "json").stdout)
    template = dep["spec"]["template"]
    assert "kubectl.kubernetes.io/restartedAt" in template["metadata"]["annotations"]
    original = template["spec"]["containers"][0]["image"]
    cluster.kubectl("set", "image", "deploy/sample-app", f"app={original}-next", *NS)
    cluster.kubectl("rollout", "status", "deploy/sample-app", *NS, "--timeout=40s", timeout=50)
    history = cluster.kubectl("rollout", "history", "deploy/sample-app", *NS).stdout
    assert "REVISION" in history
    cluster.kubectl("rollout", "undo", "deploy/sample-app", *NS)
    cluster.kubectl("rollout", "status", "deploy/sample-app", *NS, "--timeout=40s", timeout=50)
    dep = json.loads(cluster.kubectl("get", "deploy", "sample-app", *NS, "-o", "json").stdout)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == original


def test_drain_is_blocked_by_a_pdb_then_allowed(cluster: Any) -> None:
    cluster.kubectl(
        "patch", "pdb", "sample-app", *NS, "--type=merge", "-p", '{"spec":{"minAvailable":3}}'
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pdb = json.loads(cluster.kubectl("get", "pdb", "sample-app", *NS, "-o", "json").stdout)
        if (
            pdb.get("status", {}).get("disruptionsAllowed") == 0
            and pdb["status"].get("observedGeneration") == pdb["metadata"]["generation"]
        ):
            break
        time.sleep(0.2)
    node = next(p["spec"]["nodeName"] for p in _pods(cluster))
    blocked = cluster.kubectl(
        "drain", node, "--ignore-daemonsets", "--timeout=3s", check=False, timeout=30
    )
    assert blocked.returncode != 0
    assert "disruption budget" in blocked.stderr, blocked.stderr
    nodes = cluster.kubectl("get", "node", node).stdout
    assert "SchedulingDisabled" in nodes  # drain cordons first
    cluster.kubectl(
        "patch", "pdb", "sample-app", *NS, "--type=merge", "-p", '{"spec":{"minAvailable":1}}'
    )
    drained = cluster.kubectl("drain", node, "--ignore-daemonsets", "--timeout=40s", timeout=60)
    assert "drained" in drained.stdout
    assert all(
        p["spec"].get("nodeName") != node
        for p in _pods(cluster)
        if p["status"].get("phase") == "Running"
    )
    cluster.kubectl("uncordon", node)


def test_scale_through_the_scale_subresource_creates_pods(cluster: Any) -> None:
    # the HPA would take the replica count back (as in a real cluster): remove it first
    cluster.kubectl("delete", "hpa", "sample-app", *NS)
    cluster.kubectl("scale", "deploy/sample-app", *NS, "--replicas=4")
    cluster.kubectl("rollout", "status", "deploy/sample-app", *NS, "--timeout=40s", timeout=50)
    ready = [
        p
        for p in _pods(cluster)
        if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
    ]
    assert len(ready) >= 4

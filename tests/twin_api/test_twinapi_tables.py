"""Server-side Table columns and kubectl's pod STATUS computation (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from kubeheal.twin.clock import format_time
from kubeheal.twin.resources import REGISTRY
from kubeheal.twin.tables import human_duration, node_status, pod_status, table_for

NOW = 1_790_000_000.0


def _pod(*statuses: dict[str, Any], phase: str = "Running", **extra: Any) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "metadata": {"name": "p", "creationTimestamp": format_time(NOW - 300)},
        "spec": {"containers": [{"name": f"c{i}"} for i in range(len(statuses) or 1)]},
        "status": {"phase": phase, "containerStatuses": list(statuses)},
    }
    pod["status"].update(extra.pop("status", {}))
    pod["metadata"].update(extra.pop("metadata", {}))
    return pod


def _running(ready: bool = True, restarts: int = 0) -> dict[str, Any]:
    return {"name": "c", "ready": ready, "restartCount": restarts, "state": {"running": {}}}


def _waiting(reason: str, restarts: int = 0, finished: float | None = None) -> dict[str, Any]:
    cs: dict[str, Any] = {
        "name": "c",
        "ready": False,
        "restartCount": restarts,
        "state": {"waiting": {"reason": reason}},
    }
    if finished is not None:
        cs["lastState"] = {
            "terminated": {"reason": "Error", "exitCode": 1, "finishedAt": format_time(finished)}
        }
    return cs


@pytest.mark.parametrize(
    ("pod", "status", "ready", "restarts"),
    [
        (_pod(_running()), "Running", "1/1", "0"),
        (_pod(_running(), _running(ready=False)), "Running", "1/2", "0"),
        (
            _pod(_waiting("CrashLoopBackOff", 4, finished=NOW - 90)),
            "CrashLoopBackOff",
            "0/1",
            "4 (90s ago)",
        ),
        (_pod(_waiting("ImagePullBackOff")), "ImagePullBackOff", "0/1", "0"),
        (_pod(_waiting("ErrImagePull")), "ErrImagePull", "0/1", "0"),
        (
            _pod(
                {
                    "name": "c",
                    "restartCount": 1,
                    "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
                }
            ),
            "OOMKilled",
            "0/1",
            "1",
        ),
        (
            _pod({"name": "c", "restartCount": 0, "state": {"terminated": {"exitCode": 2}}}),
            "ExitCode:2",
            "0/1",
            "0",
        ),
        (
            _pod(
                {
                    "name": "c",
                    "restartCount": 0,
                    "state": {"terminated": {"exitCode": 0, "signal": 9}},
                }
            ),
            "Signal:9",
            "0/1",
            "0",
        ),
        (_pod(phase="Pending"), "Pending", "0/1", "0"),
        (_pod(phase="Failed", status={"reason": "Evicted"}), "Evicted", "0/1", "0"),
        (
            _pod(_running(), metadata={"deletionTimestamp": format_time(NOW)}),
            "Terminating",
            "1/1",
            "0",
        ),
        (_pod(_waiting("ContainerCreating"), phase="Pending"), "ContainerCreating", "0/1", "0"),
    ],
)
def test_pod_status_like_kubectl(
    pod: dict[str, Any], status: str, ready: str, restarts: str
) -> None:
    got_status, _, got_restarts, got_ready = pod_status(pod, now=NOW)
    assert (got_status, got_ready, got_restarts) == (status, ready, restarts)


def test_init_container_statuses() -> None:
    pod = _pod(phase="Pending")
    pod["spec"]["initContainers"] = [{"name": "init"}, {"name": "init2"}]
    pod["status"]["initContainerStatuses"] = [
        {"name": "init", "state": {"terminated": {"exitCode": 0}}},
        {"name": "init2", "state": {"running": {}}},
    ]
    assert pod_status(pod, now=NOW)[0] == "Init:1/2"
    pod["status"]["initContainerStatuses"][1] = {
        "name": "init2",
        "restartCount": 3,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
    }
    assert pod_status(pod, now=NOW)[0] == "Init:CrashLoopBackOff"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5, "5s"),
        (119, "119s"),
        (125, "2m5s"),
        (600, "10m"),
        (3 * 3600 + 60, "3h1m"),
        (10 * 3600, "10h"),
        (3 * 86400 + 3600, "3d1h"),
        (30 * 86400, "30d"),
        (800 * 86400, "2y70d"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_node_status_and_columns() -> None:
    node = {
        "metadata": {
            "name": "n",
            "labels": {"node-role.kubernetes.io/control-plane": ""},
            "creationTimestamp": format_time(NOW - 60),
        },
        "spec": {"unschedulable": True},
        "status": {
            "conditions": [{"type": "Ready", "status": "False"}],
            "nodeInfo": {"kubeletVersion": "v1.33.0"},
        },
    }
    assert node_status(node) == "NotReady,SchedulingDisabled"
    table = table_for(REGISTRY.get("", "v1", "nodes"), [node], now=NOW)
    assert table["rows"][0]["cells"][:5] == [
        "n",
        "NotReady,SchedulingDisabled",
        "control-plane",
        "60s",
        "v1.33.0",
    ]


def test_workload_and_misc_columns() -> None:
    deploy = {
        "metadata": {"name": "web", "creationTimestamp": format_time(NOW - 10)},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"spec": {"containers": [{"name": "a", "image": "i:1"}]}},
        },
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    }
    cells = table_for(REGISTRY.get("apps", "v1", "deployments"), [deploy], now=NOW)["rows"][0][
        "cells"
    ]
    assert cells == ["web", "2/3", 3, 2, "10s", "a", "i:1", "app=web"]
    hpa = {
        "metadata": {"name": "h", "creationTimestamp": format_time(NOW)},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "minReplicas": 3,
            "maxReplicas": 20,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
        "status": {
            "currentReplicas": 4,
            "currentMetrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "current": {"averageUtilization": 85}},
                }
            ],
        },
    }
    cells = table_for(
        REGISTRY.get("autoscaling", "v2", "horizontalpodautoscalers"), [hpa], now=NOW
    )["rows"][0]["cells"]
    assert cells[:6] == ["h", "Deployment/web", "cpu: 85%/70%", "3", 20, 4]
    pdb = {
        "metadata": {"name": "b"},
        "spec": {"minAvailable": 2},
        "status": {"disruptionsAllowed": 1},
    }
    cells = table_for(REGISTRY.get("policy", "v1", "poddisruptionbudgets"), [pdb], now=NOW)["rows"][
        0
    ]["cells"]
    assert cells[:4] == ["b", "2", "N/A", 1]
    event = {
        "metadata": {"name": "e"},
        "involvedObject": {"kind": "Pod", "name": "p"},
        "reason": "BackOff",
        "type": "Warning",
        "message": "Back-off",
        "lastTimestamp": format_time(NOW - 30),
        "count": 3,
    }
    cells = table_for(REGISTRY.get("", "v1", "events"), [event], now=NOW)["rows"][0]["cells"]
    assert cells[:4] == ["30s", "Warning", "BackOff", "pod/p"] and cells[6] == "Back-off"

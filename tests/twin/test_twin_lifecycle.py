"""The graceful-deletion rules (`kubeheal.twin.lifecycle`) on plain data: the pod strategy's
grace period and how a second DELETE may only shorten a pending one."""

from __future__ import annotations

from kubeheal.twin.lifecycle import grace_period, pending_grace


def _pod(*, node: str | None = "n1", phase: str = "Running", tgps: int | None = 30) -> dict:
    spec: dict = {"containers": [{"name": "c", "image": "x"}]}
    if node:
        spec["nodeName"] = node
    if tgps is not None:
        spec["terminationGracePeriodSeconds"] = tgps
    return {"metadata": {"name": "p"}, "spec": spec, "status": {"phase": phase}}


def test_pod_grace_period_follows_the_pod_strategy() -> None:
    assert grace_period("Pod", _pod(), None) == 30
    assert grace_period("Pod", _pod(), 5) == 5
    assert grace_period("Pod", _pod(), 0) == 0
    assert grace_period("Pod", _pod(), -1) == 1
    assert grace_period("Pod", _pod(node=None), None) == 0
    assert grace_period("Pod", _pod(phase="Succeeded"), None) == 0
    assert grace_period("Pod", _pod(phase="Failed"), 10) == 0
    assert grace_period("Pod", _pod(tgps=None), None) == 0
    assert grace_period("ConfigMap", _pod(), 30) == 0


def test_a_pending_deletion_may_only_be_shortened() -> None:
    meta = {"deletionTimestamp": "2026-12-07T00:00:30Z", "deletionGracePeriodSeconds": 30}
    assert pending_grace(meta, None) is None
    assert pending_grace(meta, 30) is None
    assert pending_grace(meta, 60) is None
    assert pending_grace(meta, 5) == 5
    assert pending_grace(meta, 0) == 0
    assert pending_grace({"deletionTimestamp": "x", "deletionGracePeriodSeconds": 0}, 10) == 0
    assert pending_grace({"deletionTimestamp": "x"}, None) == 0

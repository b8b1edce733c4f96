"""Pods the twin's ReplicaSet controller creates carry the default NoExecute tolerations
that the DefaultTolerationSeconds admission adds to pods created through the API."""

from __future__ import annotations

from typing import Any

from kubeheal.twin.clock import ManualClock
from kubeheal.twin.sim.nodes import DEFAULT_TOLERATION_SECONDS
from kubeheal.twin.sim.replicasets import ReplicaSetController
from kubeheal.twin.store import ObjectStore

Obj = dict[str, Any]
NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"


def _pods_of(template_spec: Obj) -> list[Obj]:
    clock = ManualClock()
    store = ObjectStore(clock=clock)
    store.create(
        store.rtype("apps", "v1", "replicasets"),
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": "web-1", "namespace": "default"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": template_spec},
            },
        },
    )
    ReplicaSetController(store=store).step(clock.now())
    pods = store.list_objects(store.rtype("", "v1", "pods"))
    assert len(pods) == 2, pods
    return pods


def _tolerations(pod: Obj) -> dict[str, Obj]:
    return {t["key"]: t for t in pod["spec"].get("tolerations") or ()}


def test_created_pods_tolerate_not_ready_and_unreachable_for_the_default_time() -> None:
    for pod in _pods_of({"containers": [{"name": "app", "image": "web:1"}]}):
        tolerations = _tolerations(pod)
        for key in (NOT_READY, UNREACHABLE):
            assert tolerations[key] == {
                "key": key,
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
            }


def test_a_toleration_of_the_template_is_kept_and_not_doubled() -> None:
    own = {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 6}
    spec = {"containers": [{"name": "app", "image": "web:1"}], "tolerations": [own]}
    for pod in _pods_of(spec):
        tolerations = pod["spec"]["tolerations"]
        assert [t["key"] for t in tolerations] == [UNREACHABLE, NOT_READY]
        assert tolerations[0] == own
        assert tolerations[1]["tolerationSeconds"] == DEFAULT_TOLERATION_SECONDS

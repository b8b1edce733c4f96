"""A lost node on the twin: the kubelet stops, kubeheal cordons the node as soon as it goes
Unknown, deletes the Deployment's pods on it once its Lease has been stale for the grace, and
the Deployment is available again on the other nodes long before the 300 s toleration. A
StatefulSet pod on the node is never deleted; the escalation carries the command."""

from __future__ import annotations

from typing import Any

from kubeheal.store import records as rec


def _ready(obj: dict[str, Any]) -> bool:
    conds = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


async def _busiest_node(r: Any) -> tuple[str, set[str]]:
    """Once sample-app is fully available: the node holding most of its pods, and those."""
    await r.until(
        lambda: (
            (r.deployment()["status"].get("availableReplicas") or 0) >= 3
            and all(_ready(p) for p in r.pods_of())
        ),
        what="sample-app to be available",
        timeout=60,
    )
    by_node: dict[str, set[str]] = {}
    for p in r.pods_of():
        by_node.setdefault(p["spec"]["nodeName"], set()).add(p["metadata"]["name"])
    node = max(sorted(by_node), key=lambda n: len(by_node[n]))
    return node, by_node[node]


def _available_elsewhere(r: Any, node: str) -> bool:
    pods = r.pods_of()
    return (r.deployment()["status"].get("availableReplicas") or 0) >= 3 and sum(
        1 for p in pods if p["spec"].get("nodeName") not in (None, node) and _ready(p)
    ) >= 3


async def test_lost_node_pods_are_recreated_elsewhere_well_before_the_toleration(kh: Any) -> None:
    async with kh.run() as r:
        node, victims = await _busiest_node(r)
        spy = r.spy_pod_writes()
        r.inject({"kind": "node-not-ready", "target": {"node": node}})
        stopped = r.h.now()
        await r.until(
            lambda: r.get("nodes", None, node)["spec"].get("unschedulable") is True,
            what="the lost node to be cordoned",
        )
        cordoned_after = (r.h.now() - stopped).total_seconds()
        # Unknown after node-monitor-grace-period (40 s after the last renewal), then at once
        assert cordoned_after < 70, r.describe()
        await r.until(
            lambda: any(a.action == "delete_pods_on_node" for a in r.all_actions()),
            what="the pods of the lost node to be deleted",
        )
        await r.until(
            lambda: _available_elsewhere(r, node), what="sample-app available on other nodes"
        )
        recovered_after = (r.h.now() - stopped).total_seconds()
        # the node lifecycle controller alone would wait 40 s + 300 s
        assert recovered_after < 200, r.describe()
        deleted = {ref.split("/", 1)[1] for ref in spy.pod_deletes}
        assert deleted == victims, (deleted, victims)
        assert spy.evictions == []
        incident = r.incident(node, kind="Node")
        assert incident is not None and incident.playbook == "node-not-ready-cordon"
        assert [a.action for a in r.actions(incident)][:2] == [
            "cordon_node",
            "delete_pods_on_node",
        ]
        assert kh.last_action_note(r.get("nodes", None, node))["action"] == "delete_pods_on_node"


async def test_statefulset_pod_on_a_lost_node_is_escalated_not_deleted(kh: Any) -> None:
    async with kh.run() as r:
        node, victims = await _busiest_node(r)
        r.store.create(
            r.store.rtype("apps", "v1", "statefulsets"),
            {
                "metadata": {"name": "db", "namespace": "demo"},
                "spec": {
                    "replicas": 1,
                    "serviceName": "db",
                    "selector": {"matchLabels": {"app": "db"}},
                    "template": {
                        "metadata": {"labels": {"app": "db"}},
                        "spec": {"containers": [{"name": "db", "image": kh.SAMPLE_IMAGE}]},
                    },
                },
            },
        )
        sts = r.store.find(r.store.rtype("apps", "v1", "statefulsets"), "demo", "db")
        r.create(
            "pods",
            {
                "metadata": {
                    "name": "db-0",
                    "namespace": "demo",
                    "labels": {"app": "db"},
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "StatefulSet",
                            "name": "db",
                            "uid": sts["metadata"]["uid"],
                            "controller": True,
                        }
                    ],
                },
                "spec": {
                    "nodeName": node,
                    "containers": [{"name": "db", "image": kh.SAMPLE_IMAGE}],
                },
            },
        )
        await r.until(lambda: r.get("pods", "demo", "db-0") is not None, what="db-0")
        spy = r.spy_pod_writes()
        r.inject({"kind": "node-not-ready", "target": {"node": node}})
        escalated = await r.until(
            lambda: r.closed(node, kind="Node", state=rec.IncidentState.ESCALATED),
            what="the lost node's incident to be escalated",
        )
        reason = r.transitions(escalated)[-1].reason
        assert "demo/db-0" in reason, reason
        assert "kubectl delete pod -n demo db-0 --grace-period=0 --force" in reason, reason
        assert f"kubectl taint nodes {node} node.kubernetes.io/out-of-service" in reason, reason
        assert "demo/db-0" not in spy.pod_deletes
        assert r.get("pods", "demo", "db-0") is not None
        # the Deployment's pods were still moved
        assert {ref.split("/", 1)[1] for ref in spy.pod_deletes} == victims
        await r.until(
            lambda: _available_elsewhere(r, node), what="sample-app available on other nodes"
        )

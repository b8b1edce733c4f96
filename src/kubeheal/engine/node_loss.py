"""A lost node: how long it has been down, whether moving its pods is safe, what to tell a human.

A node whose kubelet stopped renewing its Lease is marked Unknown by the node lifecycle
controller after node-monitor-grace-period (40 s up to Kubernetes 1.31, 50 s from 1.32) and
tainted ``node.kubernetes.io/unreachable:NoExecute``; its pods are deleted 300 s later (the
DefaultTolerationSeconds toleration). kubeheal's ``delete_pods_on_node`` deletes the pods of
ReplicaSets earlier, so their Deployments recreate them on other nodes at once. Pods with
at-most-one semantics (StatefulSet pods, pods with local volumes) are never deleted: a human
confirms the node is really down and forces them, with the commands ``force_commands`` gives
(Kubernetes' "Force Delete StatefulSet Pods" and "Non-Graceful Node Shutdown" pages).

Like the node lifecycle controller, nothing is moved when a large share of the nodes is down
at once (``wide_outage``): that looks like a partition of the control plane, not a lost node.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from kubeheal.model.cluster import ClusterView, Node, Pod
from kubeheal.model.core import TargetKind

__all__ = [
    "MIRROR_ANNOTATION",
    "OUT_OF_SERVICE_TAINT",
    "UNHEALTHY_ZONE_THRESHOLD",
    "force_commands",
    "needs_a_human",
    "not_ready_since",
    "wide_outage",
]

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
OUT_OF_SERVICE_TAINT = "node.kubernetes.io/out-of-service=nodeshutdown:NoExecute"
UNHEALTHY_ZONE_THRESHOLD = 0.55
"""kube-controller-manager's ``--unhealthy-zone-threshold``: with at least this share of the
nodes (and more than two) not Ready, it slows or stops its own evictions."""


def not_ready_since(node: Node) -> datetime | None:
    """When the node's Ready condition left True (None: it is Ready, or says nothing)."""
    ready = node.condition("Ready")
    if ready is None or ready.status == "True":
        return None
    return ready.last_transition_time


def wide_outage(view: ClusterView) -> str | None:
    """Why no node's pods should be moved now (None: a node is lost, not the cluster): no node
    Ready, or more than two and at least 55 % not Ready, as the node lifecycle controller
    judges a zone in partial or full disruption."""
    nodes = view.nodes
    down = [n for n in nodes if not n.ready]
    if not nodes or not down:
        return None
    if len(down) == len(nodes):
        return f"no node is Ready ({len(nodes)} of {len(nodes)} down)"
    if len(down) > 2 and len(down) / len(nodes) >= UNHEALTHY_ZONE_THRESHOLD:
        return (
            f"{len(down)} of {len(nodes)} nodes are not Ready (at least "
            f"{UNHEALTHY_ZONE_THRESHOLD:.0%}): a partition of the control plane rather than "
            "lost nodes"
        )
    return None


def needs_a_human(view: ClusterView, node: str) -> list[Pod]:
    """Pods on ``node`` that kubeheal never deletes and nothing moves: not terminating, not
    finished, not a DaemonSet's or a mirror pod, not owned through a ReplicaSet (StatefulSet
    pods, Jobs' and bare pods). Pods of ReplicaSets that a local volume kept on the node are
    named by the action's own record."""
    found = []
    for pod in view.pods_on_node(node):
        if pod.metadata.deletion_timestamp is not None:
            continue
        if pod.status.phase in ("Succeeded", "Failed"):
            continue
        if MIRROR_ANNOTATION in pod.metadata.annotations:
            continue
        owner = view.owner_of(pod).kind
        if owner in (TargetKind.DAEMONSET, TargetKind.DEPLOYMENT, TargetKind.REPLICASET):
            continue
        found.append(pod)
    return found


def force_commands(node: str, pods: Iterable[tuple[str, str]]) -> str:
    """What a human runs once the node is confirmed shut down (never while it may run)."""
    refs = sorted(set(pods))
    lines = [
        f"Confirm node {node} is powered off or cut off for good (a pod forced while it still "
        "runs there breaks at-most-one semantics), then either taint it out of service, which "
        "deletes its pods and detaches their volumes:",
        f"  kubectl taint nodes {node} {OUT_OF_SERVICE_TAINT}",
    ]
    if refs:
        lines.append("or force each pod:")
        lines += [
            f"  kubectl delete pod -n {namespace} {name} --grace-period=0 --force"
            for namespace, name in refs
        ]
    return "\n".join(lines)

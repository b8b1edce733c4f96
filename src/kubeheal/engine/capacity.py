"""Whether the rest of the cluster can hold the pods a drain or a cordon sends away.

`drain_capacity` packs the pods that would leave a node (``facts.drain_fit``: first fit, in
order, into the room allocatable minus requested of the other schedulable nodes, pod slots
counted) and answers one of:

- ``FITS``: every pod finds room elsewhere; the drain may proceed;
- ``GROW``: some do not, but a node group (``guards.node_groups``) is below its maximum and an
  empty node of its size holds each of them: the autoscaler adds a node for the pods left
  Pending, and the paced drain waits for their replacements to be Ready;
- ``WAIT``: some do not, and a node is being added (registered in the last
  ``ADDING_WITHIN`` but not Ready yet): decide again once it is Ready;
- ``SHORT``: some do not and nothing will make room: escalate.

Every answer but ``FITS`` carries a reason with the figures: the pods that do not fit with
their requests, and the free room per node.

Pure: no I/O, no clock (``now`` is a parameter).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from kubeheal.config.settings import NodeGroupSettings
from kubeheal.engine.facts import drain_fit, pod_requests
from kubeheal.model.cluster import ClusterView, Node, Pod
from kubeheal.model.core import TargetKind
from kubeheal.model.quantity import QuantityError, format_memory, parse_cpu, parse_memory

__all__ = ["ADDING_WITHIN", "CapacityCheck", "Room", "drain_capacity", "leaving_pods"]

ADDING_WITHIN = timedelta(minutes=10)
"""A node registered this recently and not Ready yet is one being added (an autoscaler's new
node boots in a few minutes)."""
_MIRROR = "kubernetes.io/config.mirror"


class Room(enum.Enum):
    FITS = "fits"
    GROW = "grow"
    WAIT = "wait"
    SHORT = "short"


@dataclass(frozen=True, slots=True, kw_only=True)
class CapacityCheck:
    """The answer and its reason (empty for ``FITS`` with nothing to say)."""

    room: Room
    reason: str
    left: tuple[str, ...] = ()


def leaving_pods(view: ClusterView, node: str, refs: Sequence[str] | None = None) -> list[Pod]:
    """The pods that would leave ``node``: ``refs`` (``namespace/name``) or every pod on it,
    without DaemonSet and mirror pods (they stay), finished or terminating pods (they need no
    room)."""
    if refs is None:
        candidates = list(view.pods_on_node(node))
    else:
        candidates = []
        for ref in refs:
            namespace, _, name = ref.partition("/")
            pod = view.pod(namespace, name)
            if pod is not None and pod.spec.node_name == node:
                candidates.append(pod)
    return [
        p
        for p in candidates
        if p.metadata.deletion_timestamp is None
        and p.status.phase not in ("Succeeded", "Failed")
        and _MIRROR not in p.metadata.annotations
        and view.owner_of(p).kind is not TargetKind.DAEMONSET
    ]


def _being_added(view: ClusterView, node: str, now: datetime) -> list[str]:
    return sorted(
        n.metadata.name
        for n in view.nodes
        if n.metadata.name != node
        and not n.ready
        and n.metadata.creation_timestamp is not None
        and now - n.metadata.creation_timestamp <= ADDING_WITHIN
    )


def _members(view: ClusterView, group: NodeGroupSettings) -> list[Node]:
    return [
        n
        for n in view.nodes
        if all(n.metadata.labels.get(k) == v for k, v in group.match_labels.items())
    ]


def _size(node: Node) -> tuple[float, int] | None:
    allocatable = node.status.allocatable
    try:
        return parse_cpu(allocatable.get("cpu", "")), parse_memory(allocatable.get("memory", ""))
    except (QuantityError, TypeError, ValueError):
        return None


def _growable(
    view: ClusterView, groups: Sequence[NodeGroupSettings], pods: Sequence[Pod]
) -> tuple[str | None, list[str]]:
    """The first group that can take ``pods`` on new nodes, and why each other could not."""
    why: list[str] = []
    for group in groups:
        members = _members(view, group)
        if len(members) >= group.max_nodes:
            why.append(f"node group {group.name} is at its maximum ({group.max_nodes} nodes)")
            continue
        sizes = [s for s in (_size(m) for m in members) if s is not None]
        if not sizes:
            why.append(f"node group {group.name} has no node to size a new one by")
            continue
        cpu, memory = min(sizes)
        too_big = [
            p.metadata.name
            for p in pods
            if pod_requests(p.spec).cpu > cpu + 1e-9 or pod_requests(p.spec).memory > memory
        ]
        if too_big:
            why.append(
                f"node group {group.name}: {', '.join(too_big)} would not fit on a new node "
                f"({cpu:g} CPU, {format_memory(memory)})"
            )
            continue
        return (
            f"node group {group.name} can grow ({len(members)} of {group.max_nodes} nodes, "
            f"{cpu:g} CPU / {format_memory(memory)} each)",
            why,
        )
    return None, why


def drain_capacity(
    view: ClusterView,
    *,
    node: str,
    pods: Sequence[Pod],
    groups: Sequence[NodeGroupSettings],
    now: datetime,
    what: str = "drain",
) -> CapacityCheck:
    """Whether the other schedulable nodes hold ``pods`` (leaving ``node``); see the module."""
    if not pods:
        return CapacityCheck(room=Room.FITS, reason="")
    fit = drain_fit(view, node=node, pods=pods)
    if not fit.left:
        return CapacityCheck(room=Room.FITS, reason="")
    room = "; ".join(fit.room) or "no other schedulable node"
    figures = (
        f"{len(fit.left)} of {len(pods)} pod(s) of node {node} do not fit on the other "
        f"schedulable nodes: {', '.join(fit.left)}; free room (allocatable minus requested): "
        f"{room}"
    )
    by_ref = {f"{p.metadata.namespace}/{p.metadata.name}": p for p in pods}
    left_pods = [by_ref[ref] for ref in by_ref if ref not in set(fit.fits)]
    grows, why_not = _growable(view, groups, left_pods)
    if grows is not None:
        return CapacityCheck(
            room=Room.GROW,
            reason=f"{figures}; {grows}: the {what} goes on, paced, while it adds a node",
            left=fit.left,
        )
    adding = _being_added(view, node, now)
    if adding:
        return CapacityCheck(
            room=Room.WAIT,
            reason=f"{figures}; node(s) {', '.join(adding)} being added: the {what} waits "
            "until they are Ready",
            left=fit.left,
        )
    tail = f"; {'; '.join(why_not)}" if why_not else "; no node group can grow"
    return CapacityCheck(
        room=Room.SHORT,
        reason=f"{figures}{tail}: the {what} would leave them Pending, so it is not started",
        left=fit.left,
    )

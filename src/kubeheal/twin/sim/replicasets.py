"""The twin's replica-set controller, and the order in which a ReplicaSet deletes pods.

`ReplicaSetController` creates and deletes pods to match `spec.replicas`, choosing which
pods to delete with Kubernetes' ranking (`rank_pods_for_deletion`), adopts orphans and
reports status. It talks to the cluster only through the `ObjectStore`, like the real
controller through the API server, and keeps no state between ticks beyond decoded views of
pods that have not changed.
"""

from __future__ import annotations

import copy
import functools
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubeheal.twin.errors import ApiError
from kubeheal.twin.sim.nodes import add_default_tolerations
from kubeheal.twin.sim.objects import (
    controller_ref,
    creation_time,
    is_pod_ready,
    owner_ref,
    pod_ready_since,
    qos_class,
    selector_of,
    spec_replicas,
)
from kubeheal.twin.store import ObjectStore

__all__ = [
    "POD_DELETION_COST_ANNOTATION",
    "REPLICASET_COMPONENT",
    "PodView",
    "ReplicaSetController",
    "rank_pods_for_deletion",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

POD_DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"
REPLICASET_COMPONENT = "replicaset-controller"
_BURST_REPLICAS = 500

_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


def _log_rank_diff(t1: float, t2: float, now: float) -> int:
    """Compare two past instants on a log2 scale of nanoseconds ago (LogarithmicScaleDown)."""

    def rank(t: float) -> int:
        delta = (now - t) * 1e9
        return int(math.log2(delta)) if delta > 0 else -1

    return rank(t1) - rank(t2)


def _deletion_cost(pod: Mapping[str, Any]) -> int:
    text = (pod["metadata"].get("annotations") or {}).get(POD_DELETION_COST_ANNOTATION)
    try:
        return int(text) if text is not None else 0
    except ValueError:
        return 0


@dataclass(frozen=True, slots=True)
class PodView:
    """What the replica-set controller needs to know about a pod (decoded once per change)."""

    namespace: str
    name: str
    uid: str
    controller_uid: str | None
    labels: Mapping[str, str]
    node: str
    phase: str
    deleting: bool
    ready: bool
    ready_since: float | None
    restarts: int
    created: float
    deletion_cost: int

    @classmethod
    def of(cls, pod: Mapping[str, Any]) -> PodView:
        meta = pod["metadata"]
        ref = controller_ref(pod)
        statuses = (pod.get("status") or {}).get("containerStatuses") or ()
        return cls(
            namespace=str(meta.get("namespace") or ""),
            name=str(meta["name"]),
            uid=str(meta.get("uid") or ""),
            controller_uid=str(ref.get("uid")) if ref is not None else None,
            labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
            node=str((pod.get("spec") or {}).get("nodeName") or ""),
            phase=str((pod.get("status") or {}).get("phase") or ""),
            deleting=bool(meta.get("deletionTimestamp")),
            ready=is_pod_ready(pod),
            ready_since=pod_ready_since(pod),
            restarts=max((int(st.get("restartCount") or 0) for st in statuses), default=0),
            created=creation_time(pod),
            deletion_cost=_deletion_cost(pod),
        )

    @property
    def active(self) -> bool:
        return self.phase not in ("Succeeded", "Failed") and not self.deleting

    def available(self, min_ready_seconds: int, now: float) -> bool:
        if not self.ready or self.ready_since is None:
            return False
        return min_ready_seconds <= 0 or self.ready_since + min_ready_seconds <= now


def _compare_for_deletion(a: PodView, b: PodView, ranks: Mapping[str, int], now: float) -> int:
    if bool(a.node) != bool(b.node):
        return -1 if not a.node else 1
    a_phase, b_phase = _PHASE_ORDINAL.get(a.phase, 0), _PHASE_ORDINAL.get(b.phase, 0)
    if a_phase != b_phase:
        return -1 if a_phase < b_phase else 1
    if a.ready != b.ready:
        return -1 if not a.ready else 1
    if a.deletion_cost != b.deletion_cost:
        return -1 if a.deletion_cost < b.deletion_cost else 1
    a_rank, b_rank = ranks.get(a.uid, 0), ranks.get(b.uid, 0)
    if a_rank != b_rank:
        return -1 if a_rank > b_rank else 1
    uid_order = -1 if a.uid < b.uid else 1
    if a.ready and b.ready:
        a_since, b_since = a.ready_since or 0.0, b.ready_since or 0.0
        if a_since != b_since:
            diff = _log_rank_diff(a_since, b_since, now)
            if diff == 0:
                return uid_order
            return -1 if diff < 0 else 1
    if a.restarts != b.restarts:
        return -1 if a.restarts > b.restarts else 1
    if a.created != b.created:
        diff = _log_rank_diff(a.created, b.created, now)
        if diff == 0:
            return uid_order
        return -1 if diff < 0 else 1
    return 0


def _rank_views(views: list[PodView], ranks: Mapping[str, int], now: float) -> list[PodView]:
    def compare(a: PodView, b: PodView) -> int:
        return _compare_for_deletion(a, b, ranks, now)

    ordered = sorted(views, key=lambda v: v.name)
    return sorted(ordered, key=functools.cmp_to_key(compare))


def rank_pods_for_deletion(pods: list[Obj], ranks: Mapping[str, int], now: float) -> list[Obj]:
    """Pods in the order a ReplicaSet deletes them when scaling down (first = deleted first).

    The order of `ActivePodsWithRanks`: unscheduled before scheduled; Pending before
    Unknown before Running; not ready before ready; lower pod-deletion-cost first; more
    related pods on the same node (`ranks`, by pod uid) first; more recently ready first;
    more container restarts first; newer first. Ready and creation times compare on a
    logarithmic scale, equal buckets ordered by uid.
    """
    by_uid = {str(p["metadata"].get("uid") or ""): p for p in pods}
    return [by_uid[v.uid] for v in _rank_views([PodView.of(p) for p in pods], ranks, now)]


class ReplicaSetController:
    """Keeps each ReplicaSet's pod count at `spec.replicas` and reports its status."""

    name = REPLICASET_COMPONENT

    def __init__(self, *, store: ObjectStore) -> None:
        self.store = store
        self._replicasets = store.rtype("apps", "v1", "replicasets")
        self._pods = store.rtype("", "v1", "pods")
        # pod uid -> (resourceVersion, view): pods are decoded only when they change.
        self._views: dict[str, tuple[int, PodView]] = {}

    def step(self, now: float) -> None:
        with self.store.lock:
            by_ns: dict[str, list[Obj]] = {}
            for rs in self.store.list_objects(self._replicasets):
                by_ns.setdefault(rs["metadata"]["namespace"], []).append(rs)
            seen: set[str] = set()
            for ns, rss in by_ns.items():
                pods = self._pod_views(ns, seen)
                siblings = self._siblings(rss)
                for rs in rss:
                    try:
                        self._sync(rs, pods, siblings, now)
                    except ApiError as err:
                        log.debug("replicaset %s/%s: %s", ns, rs["metadata"]["name"], err)
            for uid in [u for u in self._views if u not in seen]:
                del self._views[uid]

    def _pod_views(self, ns: str, seen: set[str]) -> list[PodView]:
        views: list[PodView] = []
        for stored in self.store.iter_stored(self._pods, ns):
            seen.add(stored.uid)
            cached = self._views.get(stored.uid)
            if cached is None or cached[0] != stored.rv:
                cached = (stored.rv, PodView.of(stored.obj()))
                self._views[stored.uid] = cached
            views.append(cached[1])
        return views

    @staticmethod
    def _siblings(rss: Iterable[Obj]) -> dict[str, set[str]]:
        """ReplicaSet uid -> uids of ReplicaSets with the same controller (itself included)."""
        by_owner: dict[str, set[str]] = {}
        for rs in rss:
            ref = controller_ref(rs)
            key = str(ref.get("uid")) if ref else rs["metadata"]["uid"]
            by_owner.setdefault(key, set()).add(rs["metadata"]["uid"])
        out: dict[str, set[str]] = {}
        for group in by_owner.values():
            for uid in group:
                out[uid] = group
        return out

    def _sync(
        self, rs: Obj, pods: list[PodView], siblings: Mapping[str, set[str]], now: float
    ) -> None:
        meta = rs["metadata"]
        uid = meta["uid"]
        selector = selector_of(rs)
        if selector is None:
            return
        rs_deleting = bool(meta.get("deletionTimestamp"))
        owned: list[PodView] = []
        for index, pod in enumerate(pods):
            if pod.controller_uid is not None:
                if pod.controller_uid != uid:
                    continue
                if not selector.matches(pod.labels) and not rs_deleting:
                    pods[index] = self._release(pod, uid)
                    continue
                owned.append(pod)
            elif (
                not rs_deleting
                and not pod.deleting
                and not selector.is_empty
                and selector.matches(pod.labels)
            ):
                pods[index] = adopted = self._adopt(pod, rs)
                owned.append(adopted)
        active = [p for p in owned if p.active]
        if not rs_deleting:
            diff = len(active) - spec_replicas(rs)
            if diff < 0:
                for _ in range(min(-diff, _BURST_REPLICAS)):
                    pod = self._create_pod(rs)
                    pods.append(pod)
                    active.append(pod)
            elif diff > 0:
                related = siblings.get(uid, {uid})
                victims = self._pods_to_delete(active, pods, related, diff, now)
                for victim in victims:
                    self._delete_pod(rs, victim)
                gone = {v.uid for v in victims}
                active = [p for p in active if p.uid not in gone]
        self._write_status(rs, active, now)

    def _view(self, pod: Obj) -> PodView:
        view = PodView.of(pod)
        self._views[view.uid] = (int(pod["metadata"]["resourceVersion"]), view)
        return view

    def _release(self, pod: PodView, uid: str) -> PodView:
        def release(obj: Obj) -> None:
            refs = [r for r in obj["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
            if refs:
                obj["metadata"]["ownerReferences"] = refs
            else:
                obj["metadata"].pop("ownerReferences", None)

        return self._view(self.store.mutate(self._pods, pod.namespace, pod.name, release))

    def _adopt(self, pod: PodView, rs: Obj) -> PodView:
        def adopt(obj: Obj) -> None:
            obj["metadata"].setdefault("ownerReferences", []).append(owner_ref(rs))

        return self._view(self.store.mutate(self._pods, pod.namespace, pod.name, adopt))

    def _create_pod(self, rs: Obj) -> PodView:
        template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
        tmeta = template.get("metadata") or {}
        spec: Obj = template.get("spec") or {}
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("dnsPolicy", "ClusterFirst")
        meta: Obj = {
            "generateName": f"{rs['metadata']['name']}-",
            "namespace": rs["metadata"]["namespace"],
            "ownerReferences": [owner_ref(rs)],
        }
        if tmeta.get("labels"):
            meta["labels"] = dict(tmeta["labels"])
        if tmeta.get("annotations"):
            meta["annotations"] = dict(tmeta["annotations"])
        pod: Obj = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": spec,
            "status": {"phase": "Pending", "qosClass": qos_class({"spec": spec})},
        }
        add_default_tolerations(pod)  # the API's DefaultTolerationSeconds admission does so
        created = self.store.create(self._pods, pod)
        self.store.record_event(
            rs,
            reason="SuccessfulCreate",
            message=f"Created pod: {created['metadata']['name']}",
            component=REPLICASET_COMPONENT,
        )
        return self._view(created)

    @staticmethod
    def _pods_to_delete(
        active: list[PodView], pods: list[PodView], related: set[str], count: int, now: float
    ) -> list[PodView]:
        on_node: dict[str, int] = {}
        for pod in pods:
            if pod.controller_uid not in related or not pod.active:
                continue
            on_node[pod.node] = on_node.get(pod.node, 0) + 1
        ranks = {p.uid: on_node.get(p.node, 0) for p in active}
        return _rank_views(active, ranks, now)[:count]

    def _delete_pod(self, rs: Obj, pod: PodView) -> None:
        try:
            self.store.delete(self._pods, pod.namespace, pod.name)
        except ApiError:
            return
        self.store.record_event(
            rs,
            reason="SuccessfulDelete",
            message=f"Deleted pod: {pod.name}",
            component=REPLICASET_COMPONENT,
        )

    def _write_status(self, rs: Obj, active: list[PodView], now: float) -> None:
        spec = rs.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        status: Obj = copy.deepcopy(rs.get("status") or {})
        status["replicas"] = len(active)
        status["fullyLabeledReplicas"] = sum(
            1 for p in active if all(p.labels.get(k) == v for k, v in template_labels.items())
        )
        status["readyReplicas"] = sum(1 for p in active if p.ready)
        status["availableReplicas"] = sum(1 for p in active if p.available(min_ready, now))
        status["observedGeneration"] = int(rs["metadata"].get("generation") or 1)
        for key in ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"):
            if status[key] == 0:
                status.pop(key)
        if status == (rs.get("status") or {}):
            return

        def update(obj: Obj) -> None:
            obj["status"] = status

        meta = rs["metadata"]
        self.store.mutate(
            self._replicasets, meta["namespace"], meta["name"], update, subresource="status"
        )

"""The twin's deployment controller.

`DeploymentController` keeps one ReplicaSet per pod-template hash for each Deployment and
moves replicas between them as the documented strategies say: RollingUpdate within
maxSurge/maxUnavailable, Recreate, paused deployments, proportional scaling, revisions
(re-using an old ReplicaSet when the template goes back to it, which is what
`kubectl rollout undo` does), revision history cleanup, and the status and conditions
`kubectl rollout status` reads (observedGeneration, updatedReplicas, availableReplicas,
Progressing with progressDeadlineSeconds, Available).

The ReplicaSets' own controller is `kubeheal.twin.sim.replicasets`; the pod and ownership
helpers both use are in `kubeheal.twin.sim.objects`. The controller talks to the cluster
only through the `ObjectStore`, like the real one through the API server, and keeps no state
between ticks: everything is read back from the store.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping
from typing import Any

import orjson

from kubeheal.twin.clock import format_time, parse_time
from kubeheal.twin.errors import AlreadyExists, ApiError
from kubeheal.twin.selectors import LabelSelector
from kubeheal.twin.sim.objects import (
    controller_ref,
    creation_time,
    get_condition,
    owner_ref,
    scaled_value,
    selector_of,
    spec_replicas,
)
from kubeheal.twin.store import ObjectStore

__all__ = [
    "DEPLOYMENT_COMPONENT",
    "DESIRED_REPLICAS_ANNOTATION",
    "MAX_REPLICAS_ANNOTATION",
    "POD_TEMPLATE_HASH_LABEL",
    "REVISION_ANNOTATION",
    "REVISION_HISTORY_ANNOTATION",
    "DeploymentController",
    "compute_template_hash",
    "max_surge",
    "max_unavailable",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
DEPLOYMENT_COMPONENT = "deployment-controller"

# Deployment annotations the controller does not copy to its ReplicaSets.
_SKIP_COPY_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION_ANNOTATION,
        REVISION_HISTORY_ANNOTATION,
        DESIRED_REPLICAS_ANNOTATION,
        MAX_REPLICAS_ANNOTATION,
        "deprecated.deployment.rollback.to",
    }
)
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_DEFAULT_PROGRESS_DEADLINE = 600
_NO_DEADLINE = 2**31 - 1
_DEFAULT_REVISION_HISTORY = 10

# Deployment condition reasons (as the deployment controller writes them).
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"


# --------------------------------------------------------------------------- shared helpers


def _set_condition(status: Obj, cond: Obj, *, keep_if_same_reason: bool = True) -> None:
    """Set a condition as Kubernetes' helpers do.

    The same status and reason leave it untouched (unless `keep_if_same_reason` is False);
    the same status keeps its lastTransitionTime.
    """
    conds: list[Obj] = list(status.get("conditions") or [])
    current = next((c for c in conds if c.get("type") == cond["type"]), None)
    if current is not None:
        same = current.get("status") == cond["status"]
        if keep_if_same_reason and same and current.get("reason") == cond.get("reason"):
            return
        if same and "lastTransitionTime" in current:
            cond["lastTransitionTime"] = current["lastTransitionTime"]
    status["conditions"] = [c for c in conds if c.get("type") != cond["type"]] + [cond]


def _remove_condition(status: Obj, type_: str) -> None:
    conds = [c for c in status.get("conditions") or [] if c.get("type") != type_]
    if conds:
        status["conditions"] = conds
    else:
        status.pop("conditions", None)


def _deployment_condition(type_: str, status: str, reason: str, message: str, now: float) -> Obj:
    stamp = format_time(now)
    return {
        "type": type_,
        "status": status,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }


def _status_int(obj: Mapping[str, Any], key: str) -> int:
    return int((obj.get("status") or {}).get(key) or 0)


# --------------------------------------------------------------------------- deployments


def _is_rolling(deploy: Mapping[str, Any]) -> bool:
    strategy = (deploy.get("spec") or {}).get("strategy") or {}
    return bool(strategy.get("type", "RollingUpdate") != "Recreate")


def _fenceposts(deploy: Mapping[str, Any]) -> tuple[int, int]:
    """maxSurge (rounded up) and maxUnavailable (rounded down), never both zero."""
    spec = deploy.get("spec") or {}
    rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    desired = spec_replicas(deploy)
    surge = scaled_value(rolling.get("maxSurge", "25%"), desired, round_up=True)
    unavailable = scaled_value(rolling.get("maxUnavailable", "25%"), desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(deploy: Mapping[str, Any]) -> int:
    """How many pods above the desired count a rolling update may create."""
    if not _is_rolling(deploy):
        return 0
    return _fenceposts(deploy)[0]


def max_unavailable(deploy: Mapping[str, Any]) -> int:
    """How many pods below the desired count may be unavailable during a rolling update."""
    desired = spec_replicas(deploy)
    if not _is_rolling(deploy) or desired == 0:
        return 0
    return min(_fenceposts(deploy)[1], desired)


def _template_without_hash(template: Mapping[str, Any]) -> Obj:
    result: Obj = copy.deepcopy(dict(template))
    meta = result.get("metadata") or {}
    labels = dict(meta.get("labels") or {})
    labels.pop(POD_TEMPLATE_HASH_LABEL, None)
    if labels:
        meta["labels"] = labels
    else:
        meta.pop("labels", None)
    if meta:
        result["metadata"] = meta
    else:
        result.pop("metadata", None)
    return result


def _templates_equal(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return _template_without_hash(a) == _template_without_hash(b)


def compute_template_hash(template: Mapping[str, Any], collision_count: int | None = None) -> str:
    """The `pod-template-hash` of a pod template: 32-bit FNV-1a, safe-encoded.

    Like Kubernetes it hashes the template plus the collision count and writes the decimal
    hash with the alphabet of `rand.SafeEncodeString` (no vowels, no look-alike digits).
    The bytes hashed are canonical JSON here (Kubernetes hashes its Go structure), so the
    values differ from a real cluster's but are just as stable.
    """
    data = orjson.dumps(_template_without_hash(template), option=orjson.OPT_SORT_KEYS)
    if collision_count:
        data += int(collision_count).to_bytes(4, "little")
    value = 0x811C9DC5
    for byte in data:
        value ^= byte
        value = (value * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE_ALPHABET[ord(ch) % len(_SAFE_ALPHABET)] for ch in str(value))


def _revision(rs: Mapping[str, Any]) -> int:
    text = (rs["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION)
    try:
        return int(text) if text else 0
    except ValueError:
        return 0


def _int_annotation(obj: Mapping[str, Any], key: str) -> int | None:
    text = (obj["metadata"].get("annotations") or {}).get(key)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _progress_deadline(deploy: Mapping[str, Any]) -> int | None:
    value = (deploy.get("spec") or {}).get("progressDeadlineSeconds", _DEFAULT_PROGRESS_DEADLINE)
    if value is None or int(value) == _NO_DEADLINE:
        return None
    return int(value)


class DeploymentController:
    """Reconciles every Deployment to ReplicaSets, one tick at a time."""

    name = DEPLOYMENT_COMPONENT

    def __init__(self, *, store: ObjectStore) -> None:
        self.store = store
        self._deployments = store.rtype("apps", "v1", "deployments")
        self._replicasets = store.rtype("apps", "v1", "replicasets")
        self._pods = store.rtype("", "v1", "pods")

    def step(self, now: float) -> None:
        with self.store.lock:
            deployments = self.store.list_objects(self._deployments)
            if not deployments:
                return
            replicasets: dict[str, list[Obj]] = {}
            for rs in self.store.list_objects(self._replicasets):
                replicasets.setdefault(rs["metadata"]["namespace"], []).append(rs)
            for deploy in deployments:
                try:
                    self._sync(deploy, replicasets.get(deploy["metadata"]["namespace"], []), now)
                except ApiError as err:
                    # A conflict or a vanished object: the next tick sees the new state.
                    log.debug(
                        "deployment %s/%s: %s",
                        deploy["metadata"].get("namespace"),
                        deploy["metadata"]["name"],
                        err,
                    )

    # ------------------------------------------------------------ top level

    def _sync(self, d: Obj, candidates: list[Obj], now: float) -> None:
        ns = d["metadata"]["namespace"]
        selector = selector_of(d)
        if selector is None or selector.is_empty:
            return  # Kubernetes refuses to act on a deployment that would select all pods.
        rs_list = self._replica_sets_for(d, selector, candidates)
        if d["metadata"].get("deletionTimestamp"):
            new_rs, old_rss = self._split(d, rs_list)
            self._write_status(d, self._calculate_status(d, old_rss, new_rs, now))
            return
        d = self._check_paused_conditions(d, now)
        spec = d.get("spec") or {}
        if spec.get("paused") or self._is_scaling_event(d, rs_list):
            self._sync_scale(d, rs_list, now)
            return
        if _is_rolling(d):
            self._rollout_rolling(d, rs_list, now)
        else:
            self._rollout_recreate(d, rs_list, ns, now)

    def _replica_sets_for(
        self, d: Obj, selector: LabelSelector, candidates: list[Obj]
    ) -> list[Obj]:
        """ReplicaSets this deployment controls (from its namespace's), adopting orphans."""
        uid = d["metadata"]["uid"]
        ns = d["metadata"]["namespace"]
        owned: list[Obj] = []
        for index, rs in enumerate(candidates):
            ref = controller_ref(rs)
            if ref is not None:
                if ref.get("uid") == uid:
                    owned.append(rs)
                continue
            labels = rs["metadata"].get("labels") or {}
            if rs["metadata"].get("deletionTimestamp") or not selector.matches(labels):
                continue
            if d["metadata"].get("deletionTimestamp"):
                continue

            def adopt(obj: Obj, owner: Obj = d) -> None:
                refs = obj["metadata"].setdefault("ownerReferences", [])
                refs.append(owner_ref(owner))

            candidates[index] = self.store.mutate(
                self._replicasets, ns, rs["metadata"]["name"], adopt
            )
            owned.append(candidates[index])
        return owned

    def _split(self, d: Obj, rs_list: list[Obj]) -> tuple[Obj | None, list[Obj]]:
        """The ReplicaSet whose template is the deployment's (oldest first), and the rest."""
        template = (d.get("spec") or {}).get("template") or {}
        ordered = sorted(rs_list, key=lambda r: (creation_time(r), r["metadata"]["name"]))
        new_rs = next(
            (
                r
                for r in ordered
                if _templates_equal((r.get("spec") or {}).get("template") or {}, template)
            ),
            None,
        )
        old = [r for r in ordered if r is not new_rs]
        return new_rs, old

    # ------------------------------------------------------------ paused / scaling

    def _check_paused_conditions(self, d: Obj, now: float) -> Obj:
        if _progress_deadline(d) is None:
            return d
        cond = get_condition(d, "Progressing")
        paused = bool((d.get("spec") or {}).get("paused"))
        if cond is not None and cond.get("reason") == TIMED_OUT:
            return d
        status = copy.deepcopy(d.get("status") or {})
        if paused and (cond is None or cond.get("reason") != PAUSED):
            new = _deployment_condition(
                "Progressing", "Unknown", PAUSED, "Deployment is paused", now
            )
        elif not paused and cond is not None and cond.get("reason") == PAUSED:
            new = _deployment_condition(
                "Progressing", "Unknown", RESUMED, "Deployment is resumed", now
            )
        else:
            return d
        _set_condition(status, new)
        return self._write_status(d, status)

    def _is_scaling_event(self, d: Obj, rs_list: list[Obj]) -> bool:
        desired = spec_replicas(d)
        for rs in rs_list:
            if spec_replicas(rs, 0) <= 0:
                continue
            annotated = _int_annotation(rs, DESIRED_REPLICAS_ANNOTATION)
            if annotated is not None and annotated != desired:
                return True
        return False

    def _sync_scale(self, d: Obj, rs_list: list[Obj], now: float) -> None:
        new_rs, old_rss = self._get_all_and_sync_revision(d, rs_list, create=False, now=now)
        d = self._refresh(d)
        self._scale(d, new_rs, old_rss)
        if (d.get("spec") or {}).get("paused"):
            self._cleanup(d, old_rss)
        self._write_status(d, self._calculate_status(d, old_rss, new_rs, now))

    def _scale(self, d: Obj, new_rs: Obj | None, old_rss: list[Obj]) -> None:
        desired = spec_replicas(d)
        all_rss = ([new_rs] if new_rs is not None else []) + old_rss
        active = [r for r in all_rss if spec_replicas(r, 0) > 0]
        target: Obj | None = None
        if len(active) == 1:
            target = active[0]
        elif not active and all_rss:
            target = new_rs if new_rs is not None else max(old_rss, key=creation_time)
        if target is not None:
            if spec_replicas(target, 0) != desired:
                self._scale_rs(target, desired, d)
            return
        if new_rs is not None and self._is_saturated(d, new_rs):
            for old in old_rss:
                if spec_replicas(old, 0) > 0:
                    self._scale_rs(old, 0, d)
            return
        if not _is_rolling(d):
            return
        total = sum(spec_replicas(r, 0) for r in active)
        allowed = desired + max_surge(d) if desired > 0 else 0
        to_add = allowed - total
        if to_add > 0:  # larger first; newer first among equals
            active.sort(
                key=lambda r: (-spec_replicas(r, 0), -creation_time(r), r["metadata"]["name"])
            )
        elif to_add < 0:  # larger first; older first among equals
            active.sort(
                key=lambda r: (-spec_replicas(r, 0), creation_time(r), r["metadata"]["name"])
            )
        added = 0
        sizes: dict[str, int] = {}
        for rs in active:
            size = spec_replicas(rs, 0)
            if to_add != 0:
                proportion = self._proportion(rs, d, to_add, added)
                sizes[rs["metadata"]["name"]] = size + proportion
                added += proportion
            else:
                sizes[rs["metadata"]["name"]] = size
        for index, rs in enumerate(active):
            name = rs["metadata"]["name"]
            if index == 0 and to_add != 0:
                sizes[name] = max(0, sizes[name] + to_add - added)
            self._scale_rs(rs, sizes[name], d)

    @staticmethod
    def _proportion(rs: Obj, d: Obj, to_add: int, added: int) -> int:
        size = spec_replicas(rs, 0)
        if size == 0 or to_add in (0, added):
            return 0
        desired = spec_replicas(d)
        if desired == 0:
            fraction = -size
        else:
            deploy_max = desired + max_surge(d)
            annotated = _int_annotation(rs, MAX_REPLICAS_ANNOTATION)
            if annotated is None:
                annotated = _status_int(d, "replicas")
            if annotated <= 0:
                fraction = 0
            else:
                fraction = math.floor(size * deploy_max / annotated + 0.5) - size
        allowed = to_add - added
        return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)

    @staticmethod
    def _is_saturated(d: Obj, rs: Obj) -> bool:
        desired = spec_replicas(d)
        return (
            _int_annotation(rs, DESIRED_REPLICAS_ANNOTATION) == desired
            and spec_replicas(rs, 0) == desired
            and _status_int(rs, "availableReplicas") == desired
        )

    # ------------------------------------------------------------ strategies

    def _rollout_rolling(self, d: Obj, rs_list: list[Obj], now: float) -> None:
        new_rs, old_rss = self._get_all_and_sync_revision(d, rs_list, create=True, now=now)
        d = self._refresh(d)
        if new_rs is None:  # a hash collision was recorded; retry next tick
            return
        if self._reconcile_new_rs(d, new_rs, old_rss):
            self._sync_rollout_status(d, old_rss, new_rs, now)
            return
        if self._reconcile_old_rss(d, new_rs, old_rss):
            self._sync_rollout_status(d, old_rss, new_rs, now)
            return
        if self._complete(d, d.get("status") or {}):
            self._cleanup(d, old_rss)
        self._sync_rollout_status(d, old_rss, new_rs, now)

    def _new_rs_replicas(self, d: Obj, new_rs: Obj | None, old_rss: list[Obj]) -> int:
        desired = spec_replicas(d)
        if not _is_rolling(d):
            return desired
        current_new = spec_replicas(new_rs, 0) if new_rs is not None else 0
        all_rss = ([new_rs] if new_rs is not None else []) + old_rss
        current_total = sum(spec_replicas(r, 0) for r in all_rss)
        max_total = desired + max_surge(d)
        if current_total >= max_total:
            return current_new
        return current_new + min(max_total - current_total, max(0, desired - current_new))

    def _reconcile_new_rs(self, d: Obj, new_rs: Obj, old_rss: list[Obj]) -> bool:
        desired = spec_replicas(d)
        current = spec_replicas(new_rs, 0)
        if current == desired:
            return False
        if current > desired:
            self._scale_rs(new_rs, desired, d)
            return True
        target = self._new_rs_replicas(d, new_rs, old_rss)
        if target == current:
            return False
        self._scale_rs(new_rs, target, d)
        return True

    def _reconcile_old_rss(self, d: Obj, new_rs: Obj, old_rss: list[Obj]) -> bool:
        active_old = [r for r in old_rss if spec_replicas(r, 0) > 0]
        if not active_old:
            return False
        all_rss = [new_rs, *old_rss]
        all_count = sum(spec_replicas(r, 0) for r in all_rss)
        min_available = spec_replicas(d) - max_unavailable(d)
        new_unavailable = spec_replicas(new_rs, 0) - _status_int(new_rs, "availableReplicas")
        max_scaled_down = all_count - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        # First scale down old replicas that are not available anyway (oldest first).
        cleaned = 0
        for rs in sorted(active_old, key=lambda r: (creation_time(r), r["metadata"]["name"])):
            if cleaned >= max_scaled_down:
                break
            size = spec_replicas(rs, 0)
            unhealthy = size - _status_int(rs, "availableReplicas")
            if size == 0 or unhealthy <= 0:
                continue
            count = min(max_scaled_down - cleaned, unhealthy)
            self._scale_rs(rs, size - count, d)
            cleaned += count
        # Then scale down available old replicas as far as the availability floor allows.
        scaled = 0
        available = sum(_status_int(r, "availableReplicas") for r in all_rss)
        if available > min_available:
            budget = available - min_available
            for rs in sorted(active_old, key=lambda r: (creation_time(r), r["metadata"]["name"])):
                if scaled >= budget:
                    break
                size = spec_replicas(rs, 0)
                if size == 0:
                    continue
                count = min(size, budget - scaled)
                self._scale_rs(rs, size - count, d)
                scaled += count
        return cleaned + scaled > 0

    def _rollout_recreate(self, d: Obj, rs_list: list[Obj], ns: str, now: float) -> None:
        new_rs, old_rss = self._get_all_and_sync_revision(d, rs_list, create=False, now=now)
        d = self._refresh(d)
        scaled_down = False
        for rs in old_rss:
            if spec_replicas(rs, 0) > 0:
                self._scale_rs(rs, 0, d)
                scaled_down = True
        if scaled_down or self._old_pods_running(ns, new_rs, old_rss):
            self._sync_rollout_status(d, old_rss, new_rs, now)
            return
        if new_rs is None:
            new_rs, old_rss = self._get_all_and_sync_revision(d, rs_list, create=True, now=now)
            d = self._refresh(d)
            if new_rs is None:
                return
        if spec_replicas(new_rs, 0) != spec_replicas(d):
            self._scale_rs(new_rs, spec_replicas(d), d)
        if self._complete(d, d.get("status") or {}):
            self._cleanup(d, old_rss)
        self._sync_rollout_status(d, old_rss, new_rs, now)

    def _old_pods_running(self, ns: str, new_rs: Obj | None, old_rss: list[Obj]) -> bool:
        if sum(_status_int(r, "replicas") for r in old_rss) > 0:
            return True
        old_uids = {r["metadata"]["uid"] for r in old_rss}
        for stored in self.store.iter_stored(self._pods, ns):
            if not old_uids.intersection(stored.owner_uids):
                continue
            if new_rs is not None and new_rs["metadata"]["uid"] in stored.owner_uids:
                continue
            if stored.fields.get("status.phase") not in ("Succeeded", "Failed"):
                return True
        return False

    # ------------------------------------------------------------ replica sets

    def _get_all_and_sync_revision(
        self, d: Obj, rs_list: list[Obj], *, create: bool, now: float
    ) -> tuple[Obj | None, list[Obj]]:
        new_rs, old_rss = self._split(d, rs_list)
        new_revision = max((_revision(r) for r in old_rss), default=0) + 1
        if new_rs is not None:
            new_rs = self._sync_existing_new_rs(d, new_rs, new_revision, now)
        elif create:
            new_rs = self._create_new_rs(d, old_rss, new_revision, now)
        return new_rs, old_rss

    def _rs_annotations(self, d: Obj, rs: Obj, new_revision: int) -> Obj:
        annotations: Obj = dict(rs["metadata"].get("annotations") or {})
        for key, value in (d["metadata"].get("annotations") or {}).items():
            if key not in _SKIP_COPY_ANNOTATIONS:
                annotations[key] = value
        old_revision = _revision(rs)
        if old_revision < new_revision:
            annotations[REVISION_ANNOTATION] = str(new_revision)
            if old_revision:
                history = annotations.get(REVISION_HISTORY_ANNOTATION)
                annotations[REVISION_HISTORY_ANNOTATION] = (
                    f"{history},{old_revision}" if history else str(old_revision)
                )
        return annotations

    def _sync_existing_new_rs(self, d: Obj, rs: Obj, new_revision: int, now: float) -> Obj:
        ns = d["metadata"]["namespace"]
        annotations = self._rs_annotations(d, rs, new_revision)
        min_ready = int((d.get("spec") or {}).get("minReadySeconds") or 0)
        rs_min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
        if annotations != (rs["metadata"].get("annotations") or {}) or min_ready != rs_min_ready:

            def update(obj: Obj) -> None:
                obj["metadata"]["annotations"] = annotations
                obj.setdefault("spec", {})["minReadySeconds"] = min_ready

            rs = self.store.mutate(self._replicasets, ns, rs["metadata"]["name"], update)
        revision = (rs["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION)
        self._set_deployment_revision(d, revision)
        if _progress_deadline(d) is not None and get_condition(d, "Progressing") is None:
            status = copy.deepcopy(self._refresh(d).get("status") or {})
            msg = f'Found new replica set "{rs["metadata"]["name"]}"'
            _set_condition(
                status, _deployment_condition("Progressing", "True", FOUND_NEW_RS, msg, now)
            )
            self._write_status(d, status)
        return rs

    def _set_deployment_revision(self, d: Obj, revision: str | None) -> None:
        if revision is None:
            return
        current = (d["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION)
        if current == revision:
            return

        def update(obj: Obj) -> None:
            obj["metadata"].setdefault("annotations", {})[REVISION_ANNOTATION] = revision

        self.store.mutate(
            self._deployments, d["metadata"]["namespace"], d["metadata"]["name"], update
        )

    def _create_new_rs(
        self, d: Obj, old_rss: list[Obj], new_revision: int, now: float
    ) -> Obj | None:
        ns = d["metadata"]["namespace"]
        spec = d.get("spec") or {}
        template = copy.deepcopy(spec.get("template") or {})
        collision = (d.get("status") or {}).get("collisionCount")
        pod_hash = compute_template_hash(template, collision)
        tmeta = template.setdefault("metadata", {})
        tmeta.setdefault("labels", {})[POD_TEMPLATE_HASH_LABEL] = pod_hash
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[POD_TEMPLATE_HASH_LABEL] = pod_hash
        name = f"{d['metadata']['name']}-{pod_hash}"
        desired = spec_replicas(d)
        replicas = self._new_rs_replicas(d, None, old_rss)
        rs: Obj = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": ns,
                "labels": dict(tmeta["labels"]),
                "ownerReferences": [owner_ref(d)],
            },
            "spec": {
                "replicas": 0,
                "minReadySeconds": int(spec.get("minReadySeconds") or 0),
                "selector": selector,
                "template": template,
            },
        }
        annotations = self._rs_annotations(d, rs, new_revision)
        annotations[DESIRED_REPLICAS_ANNOTATION] = str(desired)
        annotations[MAX_REPLICAS_ANNOTATION] = str(desired + max_surge(d))
        rs["metadata"]["annotations"] = annotations
        rs["spec"]["replicas"] = replicas
        try:
            created = self.store.create(self._replicasets, rs)
        except AlreadyExists:
            existing = self.store.get(self._replicasets, ns, name)
            ref = controller_ref(existing)
            existing_template = (existing.get("spec") or {}).get("template") or {}
            if (
                ref is not None
                and ref.get("uid") == d["metadata"]["uid"]
                and _templates_equal(existing_template, spec.get("template") or {})
            ):
                return existing
            status = copy.deepcopy(d.get("status") or {})
            status["collisionCount"] = int(collision or 0) + 1
            self._write_status(d, status)
            return None
        if replicas > 0:
            self.store.record_event(
                d,
                reason="ScalingReplicaSet",
                message=f"Scaled up replica set {name} from 0 to {replicas}",
                component=DEPLOYMENT_COMPONENT,
            )
        self._set_deployment_revision(d, str(new_revision))
        if _progress_deadline(d) is not None:
            status = copy.deepcopy(self._refresh(d).get("status") or {})
            msg = f'Created new replica set "{name}"'
            _set_condition(
                status, _deployment_condition("Progressing", "True", NEW_RS_CREATED, msg, now)
            )
            self._write_status(d, status)
        return created

    def _scale_rs(self, rs: Obj, size: int, d: Obj) -> None:
        """Set a ReplicaSet's replicas and its desired/max annotations (in place)."""
        old_size = spec_replicas(rs, 0)
        desired = spec_replicas(d)
        want = {
            DESIRED_REPLICAS_ANNOTATION: str(desired),
            MAX_REPLICAS_ANNOTATION: str(desired + max_surge(d)),
        }
        annotations = rs["metadata"].get("annotations") or {}
        if old_size == size and all(annotations.get(k) == v for k, v in want.items()):
            return

        def update(obj: Obj) -> None:
            obj.setdefault("spec", {})["replicas"] = size
            obj["metadata"].setdefault("annotations", {}).update(want)

        ns = rs["metadata"]["namespace"]
        new = self.store.mutate(self._replicasets, ns, rs["metadata"]["name"], update)
        rs.clear()
        rs.update(new)
        if old_size != size:
            direction = "up" if size > old_size else "down"
            self.store.record_event(
                d,
                reason="ScalingReplicaSet",
                message=(
                    f"Scaled {direction} replica set {rs['metadata']['name']} "
                    f"from {old_size} to {size}"
                ),
                component=DEPLOYMENT_COMPONENT,
            )

    def _cleanup(self, d: Obj, old_rss: list[Obj]) -> None:
        limit = (d.get("spec") or {}).get("revisionHistoryLimit", _DEFAULT_REVISION_HISTORY)
        if limit is None:
            return
        alive = [r for r in old_rss if not r["metadata"].get("deletionTimestamp")]
        diff = len(alive) - int(limit)
        if diff <= 0:
            return
        alive.sort(key=lambda r: (_revision(r), creation_time(r), r["metadata"]["name"]))
        for rs in alive[:diff]:
            observed = _status_int(rs, "observedGeneration")
            if (
                _status_int(rs, "replicas") != 0
                or spec_replicas(rs, 0) != 0
                or int(rs["metadata"].get("generation") or 0) > observed
            ):
                continue
            try:
                self.store.delete(
                    self._replicasets, rs["metadata"]["namespace"], rs["metadata"]["name"]
                )
            except ApiError:
                continue

    # ------------------------------------------------------------ status

    def _refresh(self, d: Obj) -> Obj:
        return self.store.get(self._deployments, d["metadata"]["namespace"], d["metadata"]["name"])

    def _calculate_status(self, d: Obj, old_rss: list[Obj], new_rs: Obj | None, now: float) -> Obj:
        all_rss = ([new_rs] if new_rs is not None else []) + old_rss
        available = sum(_status_int(r, "availableReplicas") for r in all_rss)
        total_spec = sum(spec_replicas(r, 0) for r in all_rss)
        status: Obj = copy.deepcopy(d.get("status") or {})
        status.update(
            {
                "observedGeneration": int(d["metadata"].get("generation") or 1),
                "replicas": sum(_status_int(r, "replicas") for r in all_rss),
                "updatedReplicas": _status_int(new_rs, "replicas") if new_rs is not None else 0,
                "readyReplicas": sum(_status_int(r, "readyReplicas") for r in all_rss),
                "availableReplicas": available,
                "unavailableReplicas": max(0, total_spec - available),
            }
        )
        if available >= spec_replicas(d) - max_unavailable(d):
            cond = _deployment_condition(
                "Available", "True", MIN_AVAILABLE, "Deployment has minimum availability.", now
            )
        else:
            cond = _deployment_condition(
                "Available",
                "False",
                MIN_UNAVAILABLE,
                "Deployment does not have minimum availability.",
                now,
            )
        _set_condition(status, cond)
        for key in (
            "readyReplicas",
            "availableReplicas",
            "unavailableReplicas",
            "updatedReplicas",
            "replicas",
        ):
            if status.get(key) == 0:
                status.pop(key)  # zero values are omitted, as the API serializes them
        return status

    @staticmethod
    def _complete(d: Obj, status: Mapping[str, Any]) -> bool:
        desired = spec_replicas(d)
        return (
            int(status.get("updatedReplicas") or 0) == desired
            and int(status.get("replicas") or 0) == desired
            and int(status.get("availableReplicas") or 0) == desired
            and int(status.get("observedGeneration") or 0)
            >= int(d["metadata"].get("generation") or 1)
        )

    def _sync_rollout_status(
        self, d: Obj, old_rss: list[Obj], new_rs: Obj | None, now: float
    ) -> None:
        d = self._refresh(d)
        old_status: Mapping[str, Any] = d.get("status") or {}
        status = self._calculate_status(d, old_rss, new_rs, now)
        deadline = _progress_deadline(d)
        if deadline is None:
            _remove_condition(status, "Progressing")
        current = get_condition(d, "Progressing")
        replicas = int(status.get("replicas") or 0)
        updated = int(status.get("updatedReplicas") or 0)
        is_complete = (
            replicas == updated
            and current is not None
            and current.get("reason") == NEW_RS_AVAILABLE
        )
        rs_name = new_rs["metadata"]["name"] if new_rs is not None else None
        if deadline is not None and not is_complete:
            if self._complete(d, status):
                msg = (
                    f'ReplicaSet "{rs_name}" has successfully progressed.'
                    if rs_name
                    else "Deployment has successfully progressed."
                )
                _set_condition(
                    status, _deployment_condition("Progressing", "True", NEW_RS_AVAILABLE, msg, now)
                )
            elif self._progressing(old_status, status):
                msg = (
                    f'ReplicaSet "{rs_name}" is progressing.'
                    if rs_name
                    else ("Deployment is progressing.")
                )
                cond = _deployment_condition("Progressing", "True", RS_UPDATED, msg, now)
                if current is not None and current.get("status") == "True":
                    cond["lastTransitionTime"] = current.get("lastTransitionTime")
                _remove_condition(status, "Progressing")
                _set_condition(status, cond)
            elif self._timed_out(current, deadline, now):
                msg = (
                    f'ReplicaSet "{rs_name}" has timed out progressing.'
                    if rs_name
                    else ("Deployment has timed out progressing.")
                )
                _set_condition(
                    status, _deployment_condition("Progressing", "False", TIMED_OUT, msg, now)
                )
        self._write_status(d, status)

    @staticmethod
    def _progressing(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        def get(s: Mapping[str, Any], key: str) -> int:
            return int(s.get(key) or 0)

        old_old = get(old, "replicas") - get(old, "updatedReplicas")
        new_old = get(new, "replicas") - get(new, "updatedReplicas")
        return (
            get(new, "updatedReplicas") > get(old, "updatedReplicas")
            or new_old < old_old
            or get(new, "readyReplicas") > get(old, "readyReplicas")
            or get(new, "availableReplicas") > get(old, "availableReplicas")
        )

    @staticmethod
    def _timed_out(current: Mapping[str, Any] | None, deadline: int, now: float) -> bool:
        """No progress for `progressDeadlineSeconds` since the condition was last updated."""
        if current is None or current.get("reason") == NEW_RS_AVAILABLE:
            return False
        if current.get("reason") == TIMED_OUT:
            return True
        stamp = current.get("lastUpdateTime")
        return bool(stamp) and parse_time(str(stamp)) + deadline < now

    def _write_status(self, d: Obj, status: Obj) -> Obj:
        if status == (d.get("status") or {}):
            return d

        def update(obj: Obj) -> None:
            obj["status"] = status

        ns = d["metadata"]["namespace"]
        return self.store.mutate(
            self._deployments, ns, d["metadata"]["name"], update, subresource="status"
        )

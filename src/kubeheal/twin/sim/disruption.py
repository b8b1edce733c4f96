"""PodDisruptionBudgets: the disruption controller's status and the Eviction API's check.

`DisruptionController` computes each PDB's status (expectedPods, currentHealthy,
desiredHealthy, disruptionsAllowed, disruptedPods, observedGeneration and the
DisruptionAllowed condition) from minAvailable/maxUnavailable (int or percent) over the pods
its selector matches, scaling percentages by the pods' controllers' replica counts.

`evict` is what `POST .../pods/NAME/eviction` does: it refuses with 429 TooManyRequests
when the pod's budget allows no disruption and with 500 (`MultiplePdbs`) when more than one
budget selects the pod, otherwise it records the disruption in the budget's status and
deletes the pod (honouring the eviction's deleteOptions, dry runs included).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any

from kubeheal.twin.clock import format_time, parse_time
from kubeheal.twin.errors import (
    ApiError,
    BadRequest,
    Forbidden,
    InternalError,
    TooManyRequests,
)
from kubeheal.twin.sim.objects import controller_ref, is_pod_ready, scaled_value, selector_of
from kubeheal.twin.store import ObjectStore

__all__ = [
    "DISRUPTION_COMPONENT",
    "EVICTION_REFUSED_MESSAGE",
    "MULTIPLE_PDBS_MESSAGE",
    "DisruptionController",
    "MultiplePdbs",
    "PdbNumbers",
    "compute_pdb_numbers",
    "evict",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

DISRUPTION_COMPONENT = "controllermanager"
EVICTION_REFUSED_MESSAGE = "Cannot evict pod as it would violate the pod's disruption budget."
MULTIPLE_PDBS_MESSAGE = (
    "This pod has more than one PodDisruptionBudget, which the eviction subresource does "
    "not support."
)
DELETION_TIMEOUT = 120.0  # seconds an eviction stays in disruptedPods without the pod going
MAX_DISRUPTED_PODS = 2000


class MultiplePdbs(InternalError):
    """A pod two or more PDBs select: the Eviction API refuses it whatever the budgets allow.

    As the API server's eviction REST handler (`pkg/registry/core/pod/storage/eviction.go`)
    answers: a `Status` with code 500, status Failure, that message and no reason; kubectl
    drain does not retry it (it retries only 429)."""

    def status(self) -> dict[str, Any]:
        body = super().status()
        del body["reason"]
        return body


class _ScaleError(Exception):
    """A pod's controller (and so its expected scale) could not be found."""


class PdbNumbers:
    """The numbers of one budget: expected, healthy, desired healthy, disruptions allowed."""

    __slots__ = ("current_healthy", "desired_healthy", "disruptions_allowed", "expected")

    def __init__(self, expected: int, current_healthy: int, desired_healthy: int) -> None:
        self.expected = expected
        self.current_healthy = current_healthy
        self.desired_healthy = desired_healthy
        allowed = current_healthy - desired_healthy
        self.disruptions_allowed = 0 if expected <= 0 or allowed <= 0 else allowed


def _pods_for(store: ObjectStore, pdb: Mapping[str, Any]) -> list[Obj]:
    selector = selector_of(pdb)
    if selector is None:
        return []  # a null selector selects no pods (policy/v1)
    pods_type = store.rtype("", "v1", "pods")
    return store.list_objects(pods_type, pdb["metadata"]["namespace"], label_selector=selector)


def _scale_owner(store: ObjectStore, pod: Obj, ref: Mapping[str, Any]) -> Obj | None:
    """The object whose replicas count for this pod: its Deployment, ReplicaSet or StatefulSet."""
    ns = pod["metadata"]["namespace"]

    def find(plural: str, owner_ref: Mapping[str, Any]) -> Obj | None:
        obj = store.find(store.rtype("apps", "v1", plural), ns, str(owner_ref.get("name")))
        if obj is None or obj["metadata"]["uid"] != owner_ref.get("uid"):
            return None
        return obj

    kind = ref.get("kind")
    if kind == "StatefulSet":
        return find("statefulsets", ref)
    if kind != "ReplicaSet":
        return None
    rs = find("replicasets", ref)
    if rs is None:
        return None
    rs_ref = controller_ref(rs)
    if rs_ref is not None and rs_ref.get("kind") == "Deployment":
        return find("deployments", rs_ref)
    return rs


def _expected_scale(store: ObjectStore, pods: list[Obj]) -> int:
    """Sum of the replica counts of the pods' distinct controllers."""
    scales: dict[str, int] = {}  # controller whose scale counts (uid) -> replicas
    seen: set[str] = set()  # direct controllers already resolved
    for pod in pods:
        ref = controller_ref(pod)
        name = pod["metadata"]["name"]
        if ref is None:
            raise _ScaleError(f"found no controller ref for pod {name!r}")
        if str(ref.get("uid")) in seen:
            continue
        seen.add(str(ref.get("uid")))
        owner = _scale_owner(store, pod, ref)
        if owner is None:
            raise _ScaleError(f"found no controllers for pod {name!r}")
        replicas = (owner.get("spec") or {}).get("replicas")
        scales[str(owner["metadata"]["uid"])] = 1 if replicas is None else int(replicas)
    return sum(scales.values())


def _disrupted_pods(pdb: Mapping[str, Any], pods: list[Obj], now: float) -> dict[str, str]:
    """The budget's disruptedPods without pods that went away or evictions that expired."""
    by_name = {p["metadata"]["name"]: p for p in pods}
    kept: dict[str, str] = {}
    for name, stamp in ((pdb.get("status") or {}).get("disruptedPods") or {}).items():
        pod = by_name.get(name)
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            continue
        try:
            when = parse_time(str(stamp))
        except ValueError:
            continue
        if when + DELETION_TIMEOUT < now:
            continue
        kept[name] = str(stamp)
    return kept


def compute_pdb_numbers(
    pdb: Mapping[str, Any], pods: list[Obj], expected_scale: int | None, disrupted: set[str]
) -> PdbNumbers:
    """A budget's numbers, as the disruption controller computes them.

    `expected_scale` is the controllers' replica total (needed for maxUnavailable and
    percentage minAvailable). Pods being deleted or recently evicted are not healthy.
    Pure: no I/O, no clock.
    """
    spec = pdb.get("spec") or {}
    expected = desired = 0
    if spec.get("maxUnavailable") is not None:
        expected = int(expected_scale or 0)
        unavailable = scaled_value(spec["maxUnavailable"], expected, round_up=True)
        desired = max(0, expected - unavailable)
    elif spec.get("minAvailable") is not None:
        min_available = spec["minAvailable"]
        if isinstance(min_available, int) and not isinstance(min_available, bool):
            desired = min_available
            expected = len(pods)
        else:
            expected = int(expected_scale or 0)
            desired = scaled_value(min_available, expected, round_up=True)
    healthy = sum(
        1
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and p["metadata"]["name"] not in disrupted
        and is_pod_ready(p)
    )
    return PdbNumbers(expected, healthy, desired)


def _needs_scale(pdb: Mapping[str, Any]) -> bool:
    spec = pdb.get("spec") or {}
    if spec.get("maxUnavailable") is not None:
        return True
    min_available = spec.get("minAvailable")
    return isinstance(min_available, str)


def _condition(status: Obj, cond_status: str, reason: str, message: str, now: float) -> None:
    conds: list[Obj] = list(status.get("conditions") or [])
    current = next((c for c in conds if c.get("type") == "DisruptionAllowed"), None)
    stamp = format_time(now)
    if current is not None and current.get("status") == cond_status:
        stamp = current.get("lastTransitionTime") or stamp
    new = {
        "type": "DisruptionAllowed",
        "status": cond_status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": stamp,
        "observedGeneration": status.get("observedGeneration", 1),
    }
    status["conditions"] = [c for c in conds if c.get("type") != "DisruptionAllowed"] + [new]


class DisruptionController:
    """Keeps every PodDisruptionBudget's status current."""

    name = "disruption-controller"

    def __init__(self, *, store: ObjectStore) -> None:
        self.store = store
        self._pdbs = store.rtype("policy", "v1", "poddisruptionbudgets")
        self._no_pods_reported: set[str] = set()

    def step(self, now: float) -> None:
        with self.store.lock:
            for pdb in self.store.list_objects(self._pdbs):
                try:
                    self._sync(pdb, now)
                except ApiError as err:
                    log.debug("pdb %s: %s", pdb["metadata"]["name"], err)

    def _sync(self, pdb: Obj, now: float) -> None:
        pods = _pods_for(self.store, pdb)
        uid = pdb["metadata"]["uid"]
        if not pods:
            if uid not in self._no_pods_reported:
                self.store.record_event(
                    pdb,
                    reason="NoPods",
                    message="No matching pods found",
                    component=DISRUPTION_COMPONENT,
                )
                self._no_pods_reported.add(uid)
        else:
            self._no_pods_reported.discard(uid)
        status: Obj = copy.deepcopy(pdb.get("status") or {})
        generation = int(pdb["metadata"].get("generation") or 1)
        disrupted = _disrupted_pods(pdb, pods, now)
        try:
            scale = _expected_scale(self.store, pods) if _needs_scale(pdb) else None
        except _ScaleError as err:
            self.store.record_event(
                pdb,
                reason="CalculateExpectedPodCountFailed",
                message=f"Failed to calculate the number of expected pods: {err}",
                type_="Warning",
                component=DISRUPTION_COMPONENT,
            )
            status.update({"observedGeneration": generation, "disruptionsAllowed": 0})
            _condition(status, "False", "SyncFailed", str(err), now)
            self._write(pdb, status)
            return
        numbers = compute_pdb_numbers(pdb, pods, scale, set(disrupted))
        status.update(
            {
                "observedGeneration": generation,
                "expectedPods": numbers.expected,
                "currentHealthy": numbers.current_healthy,
                "desiredHealthy": numbers.desired_healthy,
                "disruptionsAllowed": numbers.disruptions_allowed,
            }
        )
        if disrupted:
            status["disruptedPods"] = disrupted
        else:
            status.pop("disruptedPods", None)
        if numbers.disruptions_allowed > 0:
            _condition(status, "True", "SufficientPods", "", now)
        else:
            _condition(status, "False", "InsufficientPods", "", now)
        self._write(pdb, status)

    def _write(self, pdb: Obj, status: Obj) -> None:
        if status == (pdb.get("status") or {}):
            return

        def update(obj: Obj) -> None:
            obj["status"] = status

        meta = pdb["metadata"]
        self.store.mutate(self._pdbs, meta["namespace"], meta["name"], update, subresource="status")


# --------------------------------------------------------------------------- eviction


def _too_many_requests(message: str) -> TooManyRequests:
    return TooManyRequests(
        EVICTION_REFUSED_MESSAGE,
        details={"causes": [{"reason": "DisruptionBudget", "message": message}]},
    )


def evict(
    store: ObjectStore, *, namespace: str, name: str, eviction: dict[str, Any], now: float
) -> None:
    """The Eviction API (`policy/v1` Eviction posted to a pod's `eviction` subresource).

    Raises NotFound when the pod is gone, TooManyRequests (429, reason DisruptionBudget in
    `details.causes`) when the pod's budget allows no disruption, InternalError when more
    than one budget selects the pod. Otherwise decrements the budget's disruptionsAllowed,
    records the pod in its disruptedPods and deletes the pod per `deleteOptions`.
    Pods that are not Ready, still Pending, already terminated or being deleted are evicted
    without consuming the budget when it is healthy (unhealthyPodEvictionPolicy
    IfHealthyBudget, the default) or always (AlwaysAllow).
    """
    meta = eviction.get("metadata") or {}
    if meta.get("name") and meta["name"] != name:
        raise BadRequest("name in URL does not match name in Eviction object")
    options: Mapping[str, Any] = eviction.get("deleteOptions") or {}
    dry_run = "All" in (options.get("dryRun") or [])
    preconditions = options.get("preconditions") or None
    propagation = options.get("propagationPolicy")
    pods_type = store.rtype("", "v1", "pods")
    pdbs_type = store.rtype("policy", "v1", "poddisruptionbudgets")
    with store.lock:
        pod = store.get(pods_type, namespace, name)

        def delete() -> None:
            store.delete(
                pods_type,
                namespace,
                name,
                propagation=propagation,
                preconditions=preconditions,
                dry_run=dry_run,
            )

        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed", "Pending") or pod["metadata"].get("deletionTimestamp"):
            delete()
            return
        labels = pod["metadata"].get("labels") or {}
        matching = []
        for pdb in store.list_objects(pdbs_type, namespace):
            selector = selector_of(pdb)
            if selector is not None and selector.matches(labels):
                matching.append(pdb)
        if not matching:
            delete()
            return
        if len(matching) > 1:
            raise MultiplePdbs(MULTIPLE_PDBS_MESSAGE)
        pdb = matching[0]
        pdb_name = pdb["metadata"]["name"]
        spec = pdb.get("spec") or {}
        status = pdb.get("status") or {}
        if not is_pod_ready(pod):
            if spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow":
                delete()
                return
            current = int(status.get("currentHealthy") or 0)
            desired = int(status.get("desiredHealthy") or 0)
            if current >= desired > 0:
                delete()
                return
        if int(status.get("observedGeneration") or 0) < int(pdb["metadata"].get("generation") or 1):
            raise _too_many_requests(
                f"The disruption budget {pdb_name} is still being processed by the server."
            )
        allowed = int(status.get("disruptionsAllowed") or 0)
        if allowed < 0:
            raise Forbidden("pdb disruptions allowed is negative")
        if len(status.get("disruptedPods") or {}) > MAX_DISRUPTED_PODS:
            raise Forbidden(
                "DisruptedPods map too big - too many evictions not confirmed by PDB controller"
            )
        if allowed == 0:
            raise _too_many_requests(
                f"The disruption budget {pdb_name} needs {int(status.get('desiredHealthy') or 0)} "
                f"healthy pods and has {int(status.get('currentHealthy') or 0)} currently",
            )
        if dry_run:
            delete()
            return

        def consume(obj: Obj) -> None:
            st = obj.setdefault("status", {})
            st["disruptionsAllowed"] = allowed - 1
            st.setdefault("disruptedPods", {})[name] = format_time(now)
            if allowed - 1 == 0:
                _condition(st, "False", "InsufficientPods", "", now)

        store.mutate(pdbs_type, namespace, pdb_name, consume, subresource="status")
        delete()

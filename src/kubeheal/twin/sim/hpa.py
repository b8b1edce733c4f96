"""The twin's HorizontalPodAutoscaler controller (autoscaling/v2), with the documented algorithm.

Every 15 s (the controller manager's default sync period) each HPA reads its target's scale,
the resource usage of the target's pods from `RuntimeState` (what metrics-server would
report) and their requests, and computes
``desiredReplicas = ceil(currentReplicas * currentMetricValue / desiredMetricValue)``
with a 10 % tolerance, ignoring pods being deleted or failed and handling not-ready pods and
pods without metrics conservatively. The recommendation is then stabilized (scale-down window
300 s by default, scale-up 0 s) and rate-limited by the behavior policies (defaults: up by 4
pods or 100 % per 15 s, whichever is more; down by 100 % per 15 s), clamped to
min/maxReplicas, and written to the target's spec.replicas. Status and the AbleToScale,
ScalingActive and ScalingLimited conditions follow the real controller's reasons.
`RuntimeState` is only read.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeheal.model.quantity import QuantityError, format_memory, parse_quantity
from kubeheal.twin.clock import format_time, parse_time
from kubeheal.twin.errors import ApiError
from kubeheal.twin.selectors import LabelSelector
from kubeheal.twin.sim.objects import get_condition, selector_of
from kubeheal.twin.sim.scheduler import container_requests
from kubeheal.twin.sim.state import RuntimeState
from kubeheal.twin.store import ObjectStore

__all__ = [
    "CPU_INITIALIZATION_PERIOD",
    "DEFAULT_SCALE_DOWN_STABILIZATION",
    "HPA_COMPONENT",
    "INITIAL_READINESS_DELAY",
    "SYNC_PERIOD",
    "TOLERANCE",
    "HorizontalPodAutoscalerController",
    "effective_behavior",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

HPA_COMPONENT = "horizontal-pod-autoscaler"
SYNC_PERIOD = 15.0
TOLERANCE = 0.1
CPU_INITIALIZATION_PERIOD = 300.0
INITIAL_READINESS_DELAY = 30.0
DEFAULT_SCALE_DOWN_STABILIZATION = 300
METRIC_WINDOW = 15.0  # the window metrics-server reports its usage over
_SCALE_UP_LIMIT_FACTOR = 2.0
_SCALE_UP_LIMIT_MINIMUM = 4

_TARGET_PLURALS = {
    "Deployment": "deployments",
    "ReplicaSet": "replicasets",
    "StatefulSet": "statefulsets",
}


def _default_rules(direction: str) -> Obj:
    if direction == "up":
        return {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15},
            ],
        }
    return {
        "stabilizationWindowSeconds": DEFAULT_SCALE_DOWN_STABILIZATION,
        "selectPolicy": "Max",
        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
    }


def effective_behavior(hpa: Mapping[str, Any]) -> tuple[Obj, Obj]:
    """(scaleUp, scaleDown) rules with the API's defaults filled in."""
    behavior = (hpa.get("spec") or {}).get("behavior") or {}
    out: list[Obj] = []
    for direction, key in (("up", "scaleUp"), ("down", "scaleDown")):
        rules = _default_rules(direction)
        given = behavior.get(key) or {}
        for name in ("stabilizationWindowSeconds", "selectPolicy", "policies"):
            if given.get(name) is not None:
                rules[name] = copy.deepcopy(given[name])
        out.append(rules)
    return out[0], out[1]


@dataclass(slots=True)
class _PodSample:
    name: str
    value: float  # millicores or bytes, summed over the measured containers
    request: float


@dataclass(slots=True)
class _HpaMemory:
    """What the real controller keeps in memory per HPA."""

    next_sync: float = 0.0
    generation: int = 0
    recommendations: list[tuple[float, int]] = field(default_factory=list)
    scale_up_events: list[tuple[float, int]] = field(default_factory=list)
    scale_down_events: list[tuple[float, int]] = field(default_factory=list)


class _MetricError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class HorizontalPodAutoscalerController:
    """Reconciles every autoscaling/v2 HorizontalPodAutoscaler on its sync period."""

    name = HPA_COMPONENT

    def __init__(
        self, *, store: ObjectStore, runtime: RuntimeState, sync_period: float = SYNC_PERIOD
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.sync_period = sync_period
        self._hpas = store.rtype("autoscaling", "v2", "horizontalpodautoscalers")
        self._pods = store.rtype("", "v1", "pods")
        self._memory: dict[str, _HpaMemory] = {}

    def step(self, now: float) -> None:
        with self.store.lock:
            seen: set[str] = set()
            for hpa in self.store.list_objects(self._hpas):
                uid = hpa["metadata"]["uid"]
                seen.add(uid)
                memory = self._memory.setdefault(uid, _HpaMemory())
                generation = int(hpa["metadata"].get("generation") or 1)
                if now < memory.next_sync and generation == memory.generation:
                    continue
                memory.next_sync = now + self.sync_period
                memory.generation = generation
                try:
                    self._reconcile(hpa, memory, now)
                except ApiError as err:
                    log.debug("hpa %s: %s", hpa["metadata"]["name"], err)
            for uid in [u for u in self._memory if u not in seen]:
                del self._memory[uid]

    # ------------------------------------------------------------ reconcile

    def _event(self, hpa: Obj, reason: str, message: str, *, warning: bool = False) -> None:
        self.store.record_event(
            hpa,
            reason=reason,
            message=message,
            type_="Warning" if warning else "Normal",
            component=HPA_COMPONENT,
        )

    def _reconcile(self, hpa: Obj, memory: _HpaMemory, now: float) -> None:
        spec = hpa.get("spec") or {}
        ns = hpa["metadata"]["namespace"]
        status: Obj = copy.deepcopy(hpa.get("status") or {})
        original = copy.deepcopy(status)
        status["observedGeneration"] = int(hpa["metadata"].get("generation") or 1)
        ref = spec.get("scaleTargetRef") or {}
        kind = str(ref.get("kind") or "")
        plural = _TARGET_PLURALS.get(kind)
        target = None
        if plural is not None:
            group = str(ref.get("apiVersion") or "apps/v1").rpartition("/")[0]
            if group == "apps":
                target = self.store.find(
                    self.store.rtype("apps", "v1", plural), ns, str(ref.get("name"))
                )
        if target is None:
            what = f"{plural}.apps" if plural else f"{kind.lower()}s"
            message = (
                "the HPA controller was unable to get the target's current scale: "
                f'{what} "{ref.get("name")}" not found'
            )
            _set(status, "AbleToScale", "False", "FailedGetScale", message, now=now)
            self._event(hpa, "FailedGetScale", message.split(": ", 1)[1], warning=True)
            self._write(hpa, original, status)
            return
        _set(
            status,
            "AbleToScale",
            "True",
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale",
            now=now,
        )
        current = int((target.get("spec") or {}).get("replicas") or 0)
        if (target.get("spec") or {}).get("replicas") is None:
            current = 1
        min_replicas = int(spec.get("minReplicas") or 1)
        max_replicas = int(spec.get("maxReplicas") or 1)
        metric_statuses: list[Obj] = []
        rescale_reason = ""
        if current == 0 and min_replicas != 0:
            desired = 0
            rescale = False
            _set(
                status,
                "ScalingActive",
                "False",
                "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero",
                now=now,
            )
        elif current > max_replicas:
            rescale_reason = "Current number of replicas above Spec.MaxReplicas"
            desired = max_replicas
            rescale = True
        elif current < min_replicas:
            rescale_reason = "Current number of replicas below Spec.MinReplicas"
            desired = min_replicas
            rescale = True
        else:
            proposal, metric_name, metric_statuses, error = self._compute(
                hpa, target, current, status, now
            )
            if proposal is None:
                status["currentReplicas"] = current
                status["currentMetrics"] = metric_statuses or None
                if status["currentMetrics"] is None:
                    status.pop("currentMetrics")
                self._event(hpa, "FailedComputeMetricsReplicas", error or "", warning=True)
                self._write(hpa, original, status)
                return
            desired = proposal
            if desired > current:
                rescale_reason = f"{metric_name} above target"
            elif desired < current:
                rescale_reason = "All metrics below target"
            if spec.get("behavior") is None:
                desired = self._normalize_legacy(
                    status=status,
                    memory=memory,
                    current=current,
                    desired=desired,
                    min_replicas=min_replicas,
                    max_replicas=max_replicas,
                    now=now,
                )
            else:
                desired = self._normalize_with_behaviors(
                    hpa=hpa,
                    status=status,
                    memory=memory,
                    current=current,
                    desired=desired,
                    min_replicas=min_replicas,
                    max_replicas=max_replicas,
                    now=now,
                )
            rescale = desired != current
        if rescale:
            self._write_scale(target, desired)
            _set(
                status,
                "AbleToScale",
                "True",
                "SucceededRescale",
                f"the HPA controller was able to update the target scale to {desired}",
                now=now,
            )
            self._event(hpa, "SuccessfulRescale", f"New size: {desired}; reason: {rescale_reason}")
            if spec.get("behavior") is not None:
                change = desired - current
                events = memory.scale_up_events if change > 0 else memory.scale_down_events
                events.append((now, abs(change)))
                self._prune_events(hpa, memory, now)
            status["lastScaleTime"] = format_time(now)
        else:
            desired = current
        status["currentReplicas"] = current
        status["desiredReplicas"] = desired
        if metric_statuses:
            status["currentMetrics"] = metric_statuses
        else:
            status.pop("currentMetrics", None)
        self._write(hpa, original, status)

    def _write_scale(self, target: Obj, replicas: int) -> None:
        meta = target["metadata"]
        rtype = self.store.rtype("apps", "v1", _TARGET_PLURALS[target["kind"]])

        def update(obj: Obj) -> None:
            obj.setdefault("spec", {})["replicas"] = replicas

        self.store.mutate(rtype, meta["namespace"], meta["name"], update)

    def _write(self, hpa: Obj, original: Obj, status: Obj) -> None:
        status.setdefault("desiredReplicas", 0)  # a required field of the v2 status
        if status == original:
            return

        def update(obj: Obj) -> None:
            obj["status"] = status

        meta = hpa["metadata"]
        self.store.mutate(self._hpas, meta["namespace"], meta["name"], update, subresource="status")

    # ------------------------------------------------------------ metrics

    def _compute(
        self, hpa: Obj, target: Obj, current: int, status: Obj, now: float
    ) -> tuple[int | None, str, list[Obj], str | None]:
        """(proposal or None on failure, metric name, metric statuses, error message)."""
        metrics = (hpa.get("spec") or {}).get("metrics")
        if not metrics:
            metrics = [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 80},
                    },
                }
            ]
        selector = selector_of(target)
        statuses: list[Obj] = []
        best: int | None = None
        best_name = ""
        invalid = 0
        first_error: _MetricError | None = None
        for metric in metrics:
            try:
                replicas, name, metric_status = self._replicas_for_metric(
                    metric, target, selector, current, now
                )
            except _MetricError as err:
                invalid += 1
                if first_error is None:
                    first_error = err
                continue
            statuses.append(metric_status)
            if best is None or replicas > best:
                best, best_name = replicas, name
        if invalid >= len(metrics) or (invalid and best is not None and best < current):
            assert first_error is not None
            _set(
                status,
                "ScalingActive",
                "False",
                first_error.reason,
                f"the HPA was unable to compute the replica count: {first_error.message}",
                now=now,
            )
            message = (
                f"invalid metrics ({invalid} invalid out of {len(metrics)}), first error is: "
                f"{first_error.message}"
            )
            return None, "", statuses, message
        assert best is not None
        _set(
            status,
            "ScalingActive",
            "True",
            "ValidMetricFound",
            f"the HPA was able to successfully calculate a replica count from {best_name}",
            now=now,
        )
        return best, best_name, statuses, None

    def _replicas_for_metric(
        self,
        metric: Mapping[str, Any],
        target: Obj,
        selector: LabelSelector | None,
        current: int,
        now: float,
    ) -> tuple[int, str, Obj]:
        mtype = metric.get("type")
        if mtype not in ("Resource", "ContainerResource"):
            reason = {
                "Pods": "FailedGetPodsMetric",
                "Object": "FailedGetObjectMetric",
                "External": "FailedGetExternalMetric",
            }.get(str(mtype), "InvalidMetricSourceType")
            raise _MetricError(
                reason,
                f"unable to get metric of type {mtype}: no custom metrics API "
                "(custom.metrics.k8s.io) registered",
            )
        key = "resource" if mtype == "Resource" else "containerResource"
        source = metric.get(key) or {}
        resource = str(source.get("name") or "")
        container = source.get("container") if mtype == "ContainerResource" else None
        fail = (
            "FailedGetResourceMetric"
            if mtype == "Resource"
            else ("FailedGetContainerResourceMetric")
        )
        if resource not in ("cpu", "memory"):
            raise _MetricError(fail, f"failed to get {resource} usage: unsupported resource")
        mtarget = source.get("target") or {}
        if selector is None:
            raise _MetricError("InvalidSelector", "selector is required")
        pods = self.store.list_objects(
            self._pods, target["metadata"]["namespace"], label_selector=selector
        )
        if not pods:
            raise _MetricError(
                fail,
                f"failed to get {resource} utilization: no pods returned by selector while "
                "calculating replica count",
            )
        samples, unready, missing, ready_count = self._group_pods(pods, resource, container, now)
        if not samples:
            raise _MetricError(
                fail,
                f"failed to get {resource} utilization: did not receive metrics for targeted "
                "pods (pods might be unready)",
            )
        value_name = (
            f"{resource} resource utilization (percentage of request)"
            if mtarget.get("averageUtilization") is not None
            else f"{resource} resource"
        )
        if mtarget.get("averageUtilization") is not None:
            target_util = int(mtarget["averageUtilization"])
            for sample in [*samples.values(), *unready.values(), *missing.values()]:
                if sample.request <= 0:
                    raise _MetricError(
                        fail,
                        f"failed to get {resource} utilization: missing request for "
                        f"{resource} in pod {sample.name}",
                    )
            ratio, utilization, average = _utilization(samples, target_util)
            replicas = self._conservative(
                samples,
                unready,
                missing,
                ratio=ratio,
                current=current,
                ready_count=ready_count,
                fallback=lambda s: s.request * max(100, target_util) / 100,
                recompute=lambda m: _utilization(m, target_util)[0],
            )
            current_value: Obj = {
                "averageUtilization": utilization,
                "averageValue": _format(resource, average),
            }
        else:
            raw = mtarget.get("averageValue")
            if raw is None:
                raise _MetricError(fail, f"invalid target for {resource}: no averageValue")
            target_value = _parse(resource, str(raw))
            if target_value <= 0:
                raise _MetricError(fail, f"invalid target value for {resource}: {raw}")
            ratio, average = _raw_ratio(samples, target_value)
            replicas = self._conservative(
                samples,
                unready,
                missing,
                ratio=ratio,
                current=current,
                ready_count=ready_count,
                fallback=lambda s: target_value,
                recompute=lambda m: _raw_ratio(m, target_value)[0],
            )
            current_value = {"averageValue": _format(resource, average)}
        metric_status: Obj = {"type": mtype, key: {"name": resource, "current": current_value}}
        if container:
            metric_status[key]["container"] = container
        return replicas, value_name, metric_status

    def _group_pods(
        self, pods: list[Obj], resource: str, container: object, now: float
    ) -> tuple[dict[str, _PodSample], dict[str, _PodSample], dict[str, _PodSample], int]:
        """(pods with usable metrics, unready pods, pods without metrics, ready count)."""
        samples: dict[str, _PodSample] = {}
        unready: dict[str, _PodSample] = {}
        missing: dict[str, _PodSample] = {}
        ready_count = 0
        for pod in pods:
            name = pod["metadata"]["name"]
            status = pod.get("status") or {}
            phase = status.get("phase")
            if pod["metadata"].get("deletionTimestamp") or phase == "Failed":
                continue  # ignored
            request = _request(pod, resource, container)
            usage = self._usage(pod, resource, container)
            sample = _PodSample(name, usage if usage is not None else 0.0, request)
            if phase == "Pending":
                unready[name] = sample
                continue
            if usage is None:
                missing[name] = sample
                continue
            if resource == "cpu" and _cpu_unready(pod, now):
                unready[name] = sample
                continue
            ready_count += 1
            samples[name] = sample
        return samples, unready, missing, ready_count

    def _usage(self, pod: Obj, resource: str, container: object) -> float | None:
        runtime = self.runtime.pods.get(pod["metadata"]["uid"])
        if runtime is None or not runtime.containers:
            return None
        total = 0.0
        for name, c in runtime.containers.items():
            if container and name != container:
                continue
            if resource == "cpu":
                total += c.cpu_cores * 1000.0
            else:
                total += float(c.memory_working_set_bytes)
        return total

    @staticmethod
    def _conservative(
        samples: dict[str, _PodSample],
        unready: dict[str, _PodSample],
        missing: dict[str, _PodSample],
        *,
        ratio: float,
        current: int,
        ready_count: int,
        fallback: Any,
        recompute: Any,
    ) -> int:
        """The documented handling of unready pods and pods without metrics."""
        scale_up_with_unready = bool(unready) and ratio > 1.0
        if not scale_up_with_unready and not missing:
            if abs(1.0 - ratio) <= TOLERANCE:
                return current
            return math.ceil(ratio * ready_count)
        adjusted = dict(samples)
        if missing:
            for name, sample in missing.items():
                value = fallback(sample) if ratio < 1.0 else 0.0
                adjusted[name] = _PodSample(name, value, sample.request)
        if scale_up_with_unready:
            for name, sample in unready.items():
                adjusted[name] = _PodSample(name, 0.0, sample.request)
        new_ratio: float = recompute(adjusted)
        if (
            abs(1.0 - new_ratio) <= TOLERANCE
            or (ratio < 1.0 < new_ratio)
            or (ratio > 1.0 > new_ratio)
        ):
            return current
        replicas = math.ceil(new_ratio * len(adjusted))
        if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
            return current
        return replicas

    # ------------------------------------------------------------ normalisation

    def _normalize_legacy(
        self,
        *,
        status: Obj,
        memory: _HpaMemory,
        current: int,
        desired: int,
        min_replicas: int,
        max_replicas: int,
        now: float,
    ) -> int:
        """No `behavior` in the spec: the controller's built-in rules."""
        cutoff = now - DEFAULT_SCALE_DOWN_STABILIZATION
        stabilized = desired
        old_index: int | None = None
        for index, (stamp, rec) in enumerate(memory.recommendations):
            if stamp < cutoff:
                old_index = index
            elif rec > stabilized:
                stabilized = rec
        _record(memory, old_index, desired, now)
        if stabilized != desired:
            _set(
                status,
                "AbleToScale",
                "True",
                "ScaleDownStabilized",
                "recent recommendations were higher than current one, applying the highest "
                "recent recommendation",
                now=now,
            )
        else:
            _set(
                status,
                "AbleToScale",
                "True",
                "ReadyForNewScale",
                "recommended size matches current size",
                now=now,
            )
        scale_up_limit = max(int(_SCALE_UP_LIMIT_FACTOR * current), _SCALE_UP_LIMIT_MINIMUM)
        if max_replicas > scale_up_limit:
            maximum, reason, message = (
                scale_up_limit,
                "ScaleUpLimit",
                "the desired replica count is increasing faster than the maximum scale rate",
            )
        else:
            maximum, reason, message = (
                max_replicas,
                "TooManyReplicas",
                "the desired replica count is more than the maximum replica count",
            )
        if stabilized < min_replicas:
            result, reason, message = (
                min_replicas,
                "TooFewReplicas",
                "the desired replica count is less than the minimum replica count",
            )
        elif stabilized > maximum:
            result = maximum
        else:
            result, reason, message = (
                stabilized,
                "DesiredWithinRange",
                "the desired count is within the acceptable range",
            )
        _set(
            status,
            "ScalingLimited",
            "True" if result != stabilized else "False",
            reason,
            message,
            now=now,
        )
        return result

    def _normalize_with_behaviors(
        self,
        *,
        hpa: Obj,
        status: Obj,
        memory: _HpaMemory,
        current: int,
        desired: int,
        min_replicas: int,
        max_replicas: int,
        now: float,
    ) -> int:
        up, down = effective_behavior(hpa)
        up_cutoff = now - int(up.get("stabilizationWindowSeconds") or 0)
        down_cutoff = now - int(down.get("stabilizationWindowSeconds") or 0)
        up_rec = down_rec = desired
        old_index: int | None = None
        for index, (stamp, rec) in enumerate(memory.recommendations):
            if stamp > up_cutoff:
                up_rec = min(rec, up_rec)
            if stamp > down_cutoff:
                down_rec = max(rec, down_rec)
            if stamp < up_cutoff and stamp < down_cutoff:
                old_index = index
        stabilized = max(current, up_rec)
        stabilized = min(stabilized, down_rec)
        _record(memory, old_index, desired, now)
        if stabilized != desired:
            if desired >= current:
                reason, message = (
                    "ScaleUpStabilized",
                    "recent recommendations were lower than current one, applying the lowest "
                    "recent recommendation",
                )
            else:
                reason, message = (
                    "ScaleDownStabilized",
                    "recent recommendations were higher than current one, applying the highest "
                    "recent recommendation",
                )
            _set(status, "AbleToScale", "True", reason, message, now=now)
        else:
            _set(
                status,
                "AbleToScale",
                "True",
                "ReadyForNewScale",
                "recommended size matches current size",
                now=now,
            )
        result, reason, message = self._rate_limit(
            memory,
            current=current,
            desired=stabilized,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
            up=up,
            down=down,
            now=now,
        )
        _set(
            status,
            "ScalingLimited",
            "True" if result != stabilized else "False",
            reason,
            message,
            now=now,
        )
        return result

    @staticmethod
    def _rate_limit(
        memory: _HpaMemory,
        *,
        current: int,
        desired: int,
        min_replicas: int,
        max_replicas: int,
        up: Obj,
        down: Obj,
        now: float,
    ) -> tuple[int, str, str]:
        if desired > current:
            limit = _scale_limit(current, memory, up, now, direction="up")
            limit = max(limit, current)
            if max_replicas > limit:
                maximum, reason, message = (
                    limit,
                    "ScaleUpLimit",
                    "the desired replica count is increasing faster than the maximum scale rate",
                )
            else:
                maximum, reason, message = (
                    max_replicas,
                    "TooManyReplicas",
                    "the desired replica count is more than the maximum replica count",
                )
            if desired > maximum:
                return maximum, reason, message
        elif desired < current:
            limit = _scale_limit(current, memory, down, now, direction="down")
            limit = min(limit, current)
            if min_replicas < limit:
                minimum, reason, message = (
                    limit,
                    "ScaleDownLimit",
                    "the desired replica count is decreasing faster than the maximum scale rate",
                )
            else:
                minimum, reason, message = (
                    min_replicas,
                    "TooFewReplicas",
                    "the desired replica count is less than the minimum replica count",
                )
            if desired < minimum:
                return minimum, reason, message
        return desired, "DesiredWithinRange", "the desired count is within the acceptable range"

    @staticmethod
    def _prune_events(hpa: Obj, memory: _HpaMemory, now: float) -> None:
        up, down = effective_behavior(hpa)
        for rules, attr in ((up, "scale_up_events"), (down, "scale_down_events")):
            longest = max(
                (int(p.get("periodSeconds") or 0) for p in rules.get("policies") or []), default=0
            )
            events: list[tuple[float, int]] = getattr(memory, attr)
            setattr(memory, attr, [e for e in events if e[0] > now - longest])


# --------------------------------------------------------------------------- helpers


def _set(
    status: Obj, type_: str, cond_status: str, reason: str, message: str, *, now: float
) -> None:
    """Set an HPA condition; lastTransitionTime moves only when the status changes."""
    conds: list[Obj] = list(status.get("conditions") or [])
    stamp = format_time(now)
    for cond in conds:
        if cond.get("type") == type_:
            if cond.get("status") == cond_status:
                stamp = cond.get("lastTransitionTime") or stamp
            break
    new = {
        "type": type_,
        "status": cond_status,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }
    replaced = False
    for index, cond in enumerate(conds):
        if cond.get("type") == type_:
            conds[index] = new
            replaced = True
    if not replaced:
        conds.append(new)
    status["conditions"] = conds


def _record(memory: _HpaMemory, old_index: int | None, desired: int, now: float) -> None:
    if old_index is not None:
        memory.recommendations[old_index] = (now, desired)
    else:
        memory.recommendations.append((now, desired))


def _scale_limit(
    current: int, memory: _HpaMemory, rules: Obj, now: float, *, direction: str
) -> int:
    """The furthest the policies let the replica count move from `current` right now."""
    select = rules.get("selectPolicy") or "Max"
    if select == "Disabled":
        return current
    results: list[int] = []
    for policy in rules.get("policies") or []:
        period = int(policy.get("periodSeconds") or 0)
        added = sum(c for t, c in memory.scale_up_events if t > now - period)
        deleted = sum(c for t, c in memory.scale_down_events if t > now - period)
        start = current - added + deleted
        value = int(policy.get("value") or 0)
        if direction == "up":
            if policy.get("type") == "Pods":
                results.append(start + value)
            else:
                results.append(math.ceil(start * (1 + value / 100)))
        elif policy.get("type") == "Pods":
            results.append(start - value)
        else:
            results.append(int(start * (1 - value / 100)))
    if not results:
        return current
    # For scale up "Max" picks the largest change; for scale down the largest change is the
    # smallest count.
    if direction == "up":
        return max(results) if select == "Max" else min(results)
    return min(results) if select == "Max" else max(results)


def _request(pod: Obj, resource: str, container: object) -> float:
    total = 0.0
    for c in (pod.get("spec") or {}).get("containers") or ():
        if container and c.get("name") != container:
            continue
        cpu, memory = container_requests(c)
        total += cpu if resource == "cpu" else memory
    return total


def _cpu_unready(pod: Obj, now: float) -> bool:
    """Whether a pod's CPU sample is ignored as not ready (the documented start-up handling)."""
    cond = get_condition(pod, "Ready")
    start_text = (pod.get("status") or {}).get("startTime")
    if cond is None or not start_text:
        return True
    start = parse_time(str(start_text))
    transition_text = cond.get("lastTransitionTime")
    transition = parse_time(str(transition_text)) if transition_text else start
    if start + CPU_INITIALIZATION_PERIOD > now:
        return cond.get("status") != "True" or now < transition + METRIC_WINDOW
    return cond.get("status") == "False" and start + INITIAL_READINESS_DELAY > transition


def _utilization(samples: Mapping[str, _PodSample], target: int) -> tuple[float, int, float]:
    """(usage ratio, current utilization %, average usage) over pods with requests."""
    usage = sum(s.value for s in samples.values() if s.request > 0)
    requests = sum(s.request for s in samples.values() if s.request > 0)
    if requests <= 0:
        return 0.0, 0, 0.0
    utilization = int(usage * 100 / requests)
    return utilization / target, utilization, usage / max(1, len(samples))


def _raw_ratio(samples: Mapping[str, _PodSample], target: float) -> tuple[float, float]:
    usage = sum(s.value for s in samples.values())
    count = max(1, len(samples))
    return usage / (target * count), usage / count


def _parse(resource: str, text: str) -> float:
    try:
        value = float(parse_quantity(text))
    except QuantityError:
        return 0.0
    return value * 1000.0 if resource == "cpu" else value


def _format(resource: str, value: float) -> str:
    if resource == "cpu":
        return f"{int(value)}m"
    return format_memory(int(value))

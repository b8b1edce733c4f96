"""Verification: did the action work? ``evaluate`` turns a cluster snapshot into a verdict.

::

    baseline_for(target, view)          at action time: restart counts, revision, node state
          │
    evaluate(verification, view, now, baseline, state) ──> VerifyResult
          │ check holds ──> first_ok_at kept in state_after ──held stable_for──> recovered
          │ check fails ──> first_ok_at reset ──timeout passed──> failed
          │ a container restarted again (no_new_restarts_for) ──> failed at once
          ▼
    pending: call again with ``result.state_after``

Checks (``CHECKS``): ``workload_ready`` (every desired replica available and the rollout
complete: observedGeneration >= generation, updated == desired == available, no old replica
left), ``no_new_restarts_for`` (no container of the workload's current pods restarted since
the baseline), ``node_ready``, ``node_drained`` (cordoned, no evictable pod left),
``pdb_exists``, ``hpa_not_maxed``, ``alert_resolved``, ``signals_cleared`` and
``rollout_healthy`` (``workload_ready`` and ``no_new_restarts_for`` together: the rollout of a
changed template completes and no container of the workload restarts, e.g. OOM-killed).

What the snapshot cannot show comes from the runtime as parameters of ``evaluate``:
``alert_firing`` (is the alert that triggered the playbook still firing?) and
``signals_active`` (do the detectors still report the incident's signals?). ``alert_resolved``
uses ``alert_firing`` and falls back to ``signals_active``; a check whose input is unknown
(None) never counts as recovered.

Timing: "recovered" needs the check to hold continuously for ``stable_for_seconds``
(measured between calls, from ``first_ok_at``); "failed" once ``timeout_seconds`` have passed
since ``started_at`` without recovery. A streak that began before the timeout may finish after
it (so the verdict comes at the latest after timeout + stable_for).

Pure: no I/O, no clock (``now`` is a parameter); state is returned, never mutated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import msgspec

from kubeheal.engine.plan import VerificationPlan
from kubeheal.model.cluster import ClusterView, Pod
from kubeheal.model.core import Target, TargetKind

__all__ = [
    "CHECKS",
    "Baseline",
    "CheckInput",
    "Observation",
    "Verdict",
    "VerifyResult",
    "VerifyState",
    "baseline_for",
    "evaluate",
]

Verdict = Literal["recovered", "pending", "failed"]

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
_CRASH_WAITING = frozenset({"CrashLoopBackOff", "Error", "RunContainerError"})


class Baseline(msgspec.Struct, frozen=True, kw_only=True):
    """What the checks compare against, captured when the action was taken."""

    target: Target
    restarts: dict[str, int] = {}
    """restartCount per ``<pod uid (or name)>/<container>`` of the target's pods."""
    pods: tuple[str, ...] = ()
    """The target's pods (uid, or name when there is none)."""
    generation: int = 0
    """metadata.generation of the Deployment."""
    revision: int = 0
    """The Deployment's rollout revision."""
    replica_set: str = ""
    """The Deployment's newest ReplicaSet."""
    node_ready: bool | None = None
    node_unschedulable: bool | None = None
    hpa_max_replicas: dict[str, int] = {}
    """maxReplicas per HPA targeting the workload."""
    pdbs: tuple[str, ...] = ()
    """PodDisruptionBudgets covering the workload."""


class VerifyState(msgspec.Struct, frozen=True, kw_only=True):
    """What ``evaluate`` carries from one call to the next."""

    first_ok_at: datetime | None = None
    """Since when the check has held without interruption (None: it does not hold)."""
    evaluations: int = 0


class VerifyResult(msgspec.Struct, frozen=True, kw_only=True):
    """The verdict, why, and the state to pass to the next ``evaluate``."""

    state: Verdict
    detail: str
    state_after: VerifyState = VerifyState()

    @property
    def outcome(self) -> Verdict:
        """Alias of ``state`` (the verdict)."""
        return self.state

    @property
    def first_ok_at(self) -> datetime | None:
        """Since when the check has held."""
        return self.state_after.first_ok_at


@dataclass(frozen=True)
class CheckInput:
    """Everything a check may look at."""

    target: Target
    view: ClusterView
    baseline: Baseline
    signals_active: bool | None = None
    alert_firing: bool | None = None


@dataclass(frozen=True)
class Observation:
    """One look: does the check hold, why, and is it beyond hope (``fatal``)."""

    ok: bool
    detail: str
    fatal: bool = False


# -- helpers -------------------------------------------------------------------------------


def _pod_key(pod: Pod) -> str:
    return pod.metadata.uid or pod.metadata.name


def _live(pods: tuple[Pod, ...]) -> list[Pod]:
    return [p for p in pods if p.metadata.deletion_timestamp is None]


def _current_pods(target: Target, view: ClusterView) -> list[Pod]:
    """The target's live pods; for a Deployment only those of its current revision."""
    pods = _live(view.pods_of(target))
    dep = view.deployment_for(target)
    if dep is None or not dep.revision:
        return pods
    current: list[Pod] = []
    for pod in pods:
        rs = view.replica_set_of(pod)
        if rs is None or not rs.revision or rs.revision == dep.revision:
            current.append(pod)
    return current


def _is_daemon_or_mirror(pod: Pod, view: ClusterView) -> bool:
    if MIRROR_ANNOTATION in pod.metadata.annotations:
        return True
    if any(ref.kind == "DaemonSet" for ref in pod.metadata.owner_references):
        return True
    return view.owner_of(pod).kind is TargetKind.DAEMONSET


# -- checks --------------------------------------------------------------------------------


def _workload_ready(inp: CheckInput) -> Observation:
    target, view = inp.target, inp.view
    if target.kind is TargetKind.NODE:
        return _node_ready(inp)
    dep = view.deployment_for(target)
    if target.kind is TargetKind.DEPLOYMENT:
        if dep is None:
            return Observation(False, f"{target} is not in the snapshot")
        st, desired = dep.status, dep.replicas
        generation = dep.metadata.generation
        if st.observed_generation < generation:
            return Observation(
                False,
                f"rollout not observed yet (generation {generation}, "
                f"observed {st.observed_generation})",
            )
        if st.updated_replicas < desired:
            return Observation(False, f"{st.updated_replicas}/{desired} replicas updated")
        if st.replicas > st.updated_replicas:
            return Observation(
                False, f"{st.replicas - st.updated_replicas} old replica(s) still running"
            )
        if st.available_replicas < desired:
            return Observation(False, f"{st.available_replicas}/{desired} replicas available")
        return Observation(
            True,
            f"{st.available_replicas}/{desired} replicas available, rollout of revision "
            f"{dep.revision} complete",
        )
    if target.kind is TargetKind.REPLICASET:
        rs = view.replica_set(target.namespace, target.name)
        if rs is None:
            return Observation(False, f"{target} is not in the snapshot")
        want = 1 if rs.spec.replicas is None else rs.spec.replicas
        if rs.status.available_replicas < want:
            return Observation(False, f"{rs.status.available_replicas}/{want} replicas available")
        return Observation(True, f"{want}/{want} replicas available")
    pods = _live(view.pods_of(target))
    if not pods:
        return Observation(False, f"{target} has no running pods")
    unready = [p.metadata.name for p in pods if not p.ready]
    if unready:
        return Observation(False, f"{len(unready)}/{len(pods)} pods not ready: {unready[0]}")
    return Observation(True, f"{len(pods)}/{len(pods)} pods ready")


def _no_new_restarts(inp: CheckInput) -> Observation:
    pods = _current_pods(inp.target, inp.view)
    if not pods:
        return Observation(False, f"{inp.target} has no running pods")
    known = set(inp.baseline.pods)
    for pod in pods:
        key = _pod_key(pod)
        for status in pod.status.container_statuses:
            before = inp.baseline.restarts.get(f"{key}/{status.name}", 0) if key in known else 0
            if status.restart_count > before:
                return Observation(
                    False,
                    f"container {status.name} of pod {pod.metadata.name} restarted "
                    f"({before} -> {status.restart_count}) after the action",
                    fatal=True,
                )
    for pod in pods:
        if pod.status.phase != "Running":
            return Observation(False, f"pod {pod.metadata.name} is {pod.status.phase or 'unknown'}")
        for status in pod.status.container_statuses:
            waiting = status.state.waiting
            if waiting is not None and waiting.reason in _CRASH_WAITING:
                return Observation(
                    False, f"container {status.name} of pod {pod.metadata.name} is {waiting.reason}"
                )
    return Observation(True, f"no container of {len(pods)} pod(s) restarted since the action")


def _rollout_healthy(inp: CheckInput) -> Observation:
    restarts = _no_new_restarts(inp)
    if restarts.fatal:
        return restarts
    ready = _workload_ready(inp)
    if not ready.ok:
        return ready
    if not restarts.ok:
        return restarts
    return Observation(True, f"{ready.detail}; {restarts.detail}")


def _node_name(target: Target) -> str:
    return target.name


def _node_ready(inp: CheckInput) -> Observation:
    node = inp.view.node(_node_name(inp.target))
    if node is None:
        return Observation(False, f"node {inp.target.name} is not in the snapshot")
    if not node.ready:
        cond = node.condition("Ready")
        why = f"{cond.status} ({cond.reason})" if cond is not None else "not reported"
        return Observation(False, f"node {node.metadata.name} Ready is {why}")
    return Observation(True, f"node {node.metadata.name} is Ready")


def _node_drained(inp: CheckInput) -> Observation:
    name = _node_name(inp.target)
    node = inp.view.node(name)
    if node is None:
        return Observation(False, f"node {name} is not in the snapshot")
    if not node.spec.unschedulable:
        return Observation(False, f"node {name} is schedulable (not cordoned)")
    left = [
        p
        for p in _live(inp.view.pods_on_node(name))
        if not _is_daemon_or_mirror(p, inp.view) and p.status.phase not in ("Succeeded", "Failed")
    ]
    if left:
        first = left[0].metadata
        return Observation(
            False, f"{len(left)} pod(s) still on node {name}: {first.namespace}/{first.name}"
        )
    return Observation(True, f"node {name} is cordoned and drained")


def _pdb_exists(inp: CheckInput) -> Observation:
    pdbs = inp.view.pdbs_for_workload(inp.target)
    if not pdbs:
        return Observation(False, f"no PodDisruptionBudget covers {inp.target}")
    return Observation(True, f"PodDisruptionBudget {pdbs[0].metadata.name} covers {inp.target}")


def _hpa_not_maxed(inp: CheckInput) -> Observation:
    hpas = inp.view.hpas_for(inp.target)
    if not hpas:
        return Observation(False, f"no HPA targets {inp.target}")
    for hpa in hpas:
        spec, status = hpa.spec, hpa.status
        limited = hpa.condition("ScalingLimited")
        pinned = (
            spec.max_replicas > 0
            and status.current_replicas >= spec.max_replicas
            and status.desired_replicas >= spec.max_replicas
            and (limited is None or limited.status == "True")
        )
        if pinned:
            return Observation(
                False,
                f"HPA {hpa.metadata.name} is at maxReplicas {spec.max_replicas} "
                f"(desired {status.desired_replicas})",
            )
    return Observation(True, f"no HPA of {inp.target} is pinned at its maximum")


def _alert_resolved(inp: CheckInput) -> Observation:
    firing = inp.alert_firing if inp.alert_firing is not None else inp.signals_active
    if firing is None:
        return Observation(False, "whether the alert still fires is unknown")
    if firing:
        return Observation(False, "the alert is still firing")
    return Observation(True, "the alert resolved")


def _signals_cleared(inp: CheckInput) -> Observation:
    if inp.signals_active is None:
        return Observation(False, "whether the incident's signals are still active is unknown")
    if inp.signals_active:
        return Observation(False, "the incident's signals are still reported")
    return Observation(True, "the incident's signals cleared")


CHECKS: dict[str, Callable[[CheckInput], Observation]] = {
    "workload_ready": _workload_ready,
    "no_new_restarts_for": _no_new_restarts,
    "node_ready": _node_ready,
    "node_drained": _node_drained,
    "pdb_exists": _pdb_exists,
    "hpa_not_maxed": _hpa_not_maxed,
    "alert_resolved": _alert_resolved,
    "signals_cleared": _signals_cleared,
    "rollout_healthy": _rollout_healthy,
}
"""Every check a VerificationPlan can name, by name."""


# -- baseline and evaluation ---------------------------------------------------------------


def baseline_for(target: Target, view: ClusterView) -> Baseline:
    """What the checks compare against, from the snapshot at action time."""
    pods = _live(view.pods_of(target)) if target.kind is not TargetKind.NODE else []
    restarts = {
        f"{_pod_key(pod)}/{status.name}": status.restart_count
        for pod in pods
        for status in pod.status.container_statuses
    }
    generation = revision = 0
    replica_set = ""
    dep = view.deployment_for(target)
    if dep is not None:
        generation, revision = dep.metadata.generation, dep.revision
        sets = view.replica_sets_of(dep.metadata.namespace, dep.metadata.name)
        replica_set = sets[-1].metadata.name if sets else ""
    node_ready: bool | None = None
    node_unschedulable: bool | None = None
    if target.kind is TargetKind.NODE:
        node = view.node(target.name)
        if node is not None:
            node_ready, node_unschedulable = node.ready, node.spec.unschedulable
    workload = target.kind not in (TargetKind.NODE, TargetKind.CLUSTER, TargetKind.NAMESPACE)
    return Baseline(
        target=target,
        restarts=restarts,
        pods=tuple(_pod_key(p) for p in pods),
        generation=generation,
        revision=revision,
        replica_set=replica_set,
        node_ready=node_ready,
        node_unschedulable=node_unschedulable,
        hpa_max_replicas={h.metadata.name: h.spec.max_replicas for h in view.hpas_for(target)}
        if workload
        else {},
        pdbs=tuple(p.metadata.name for p in view.pdbs_for_workload(target)) if workload else (),
    )


def _span(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def evaluate(
    verification: VerificationPlan,
    *,
    target: Target,
    view: ClusterView,
    started_at: datetime,
    now: datetime,
    baseline: Baseline,
    state: VerifyState | None = None,
    signals_active: bool | None = None,
    alert_firing: bool | None = None,
) -> VerifyResult:
    """Whether ``target`` recovered, is still pending, or failed to within the timeout.

    Pass the previous result's ``state_after`` as ``state`` (None on the first call).
    """
    prior = state or VerifyState()
    check = CHECKS.get(verification.check)
    count = prior.evaluations + 1
    if check is None:
        return VerifyResult(
            state="failed",
            detail=f"unknown verification check {verification.check!r}",
            state_after=VerifyState(evaluations=count),
        )
    seen = check(
        CheckInput(
            target=target,
            view=view,
            baseline=baseline,
            signals_active=signals_active,
            alert_firing=alert_firing,
        )
    )
    elapsed = now - started_at
    timeout = timedelta(seconds=verification.timeout_seconds)
    stable = timedelta(seconds=verification.stable_for_seconds)
    if seen.fatal:
        return VerifyResult(
            state="failed", detail=seen.detail, state_after=VerifyState(evaluations=count)
        )
    if not seen.ok:
        after = VerifyState(evaluations=count)
        if elapsed >= timeout:
            return VerifyResult(
                state="failed",
                detail=f"not recovered within {_span(timeout)}: {seen.detail}",
                state_after=after,
            )
        return VerifyResult(state="pending", detail=seen.detail, state_after=after)
    first = prior.first_ok_at or now
    after = VerifyState(first_ok_at=first, evaluations=count)
    held = now - first
    if held >= stable:
        detail = seen.detail if not stable else f"{seen.detail}; held for {_span(held)}"
        return VerifyResult(state="recovered", detail=detail, state_after=after)
    if prior.first_ok_at is None and elapsed >= timeout:
        return VerifyResult(
            state="failed",
            detail=f"not recovered within {_span(timeout)}: {seen.detail} only now",
            state_after=after,
        )
    return VerifyResult(
        state="pending",
        detail=f"{seen.detail}; holding for {_span(held)} of {_span(stable)}",
        state_after=after,
    )

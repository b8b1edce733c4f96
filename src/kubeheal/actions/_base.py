"""What every executor shares: the run context, dict helpers, conflict retries, error
translation, and the best-effort Event and annotation written after a change."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubeheal.actions.errors import PermanentError, TemporaryError
from kubeheal.actions.outcome import ActionOutcome, EvidenceValue, OutcomeState
from kubeheal.actions.protocol import Writer
from kubeheal.clients.kube import (
    KubeApiError,
    KubeConfigError,
    KubeConflict,
    KubeDecodeError,
    KubeError,
    KubeForbidden,
    KubeGone,
    KubeNotFound,
    KubeUnavailable,
)
from kubeheal.clients.writer import Kind, KubeDisruptionBlocked, PatchKind
from kubeheal.engine.plan import ActionPlan
from kubeheal.model.core import Target, TargetKind

__all__ = [
    "ANNOTATION_LAST_ACTION",
    "CONFLICT_ATTEMPTS",
    "EVENT_REASON",
    "LAST_APPLIED",
    "Context",
    "dig",
    "done",
    "dry",
    "noop",
    "record_change",
    "retry_conflicts",
    "translate",
]

logger = logging.getLogger(__name__)

ANNOTATION_LAST_ACTION = "kubeheal.io/last-action"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
EVENT_REASON = "KubehealAction"
EVENT_REASON_FAILED = "KubehealActionFailed"
CONFLICT_ATTEMPTS = 3
"""Re-read and retry a write this many times on 409 before giving up with TemporaryError."""
UNAVAILABLE_DELAY = 5.0
"""Retry delay when the API server is unavailable and sent no Retry-After."""
CONFLICT_DELAY = 1.0

_TARGET_KINDS: dict[TargetKind, Kind] = {
    TargetKind.DEPLOYMENT: Kind.DEPLOYMENT,
    TargetKind.STATEFULSET: Kind.STATEFULSET,
    TargetKind.DAEMONSET: Kind.DAEMONSET,
    TargetKind.REPLICASET: Kind.REPLICASET,
    TargetKind.NODE: Kind.NODE,
    TargetKind.POD: Kind.POD,
}
_API_VERSIONS = {
    TargetKind.DEPLOYMENT: "apps/v1",
    TargetKind.STATEFULSET: "apps/v1",
    TargetKind.DAEMONSET: "apps/v1",
    TargetKind.REPLICASET: "apps/v1",
    TargetKind.JOB: "batch/v1",
}


_DEFAULT_LOG = logging.LoggerAdapter(logger)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Context:
    """One execution: the plan, the writer, the clocks, and a logger carrying the target."""

    plan: ActionPlan
    writer: Writer
    clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]
    wall_clock: Callable[[], datetime] = _utcnow
    log: logging.LoggerAdapter[logging.Logger] = _DEFAULT_LOG

    @property
    def dry_run(self) -> bool:
        return self.plan.dry_run


def dig(obj: Mapping[str, Any], *path: str) -> Any:
    """``obj[path[0]][path[1]]...``, or None as soon as a level is missing or not a dict."""
    current: Any = obj
    for key in path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def noop(detail: str, ctx: Context, **evidence: EvidenceValue) -> ActionOutcome:
    """The desired state is already there."""
    if ctx.dry_run:
        return ActionOutcome(
            state=OutcomeState.SKIPPED,
            changed=False,
            detail=f"dry-run: nothing to do, {detail}",
            evidence=dict(evidence),
        )
    return ActionOutcome(
        state=OutcomeState.SUCCEEDED, changed=False, detail=detail, evidence=dict(evidence)
    )


def dry(would: str, **evidence: EvidenceValue) -> ActionOutcome:
    """The server accepted the dry-run writes; nothing changed."""
    return ActionOutcome(
        state=OutcomeState.SKIPPED,
        changed=False,
        detail=f"dry-run: would {would}",
        evidence={"dry_run": True, **evidence},
    )


def done(detail: str, **evidence: EvidenceValue) -> ActionOutcome:
    """The change was made."""
    return ActionOutcome(
        state=OutcomeState.SUCCEEDED, changed=True, detail=detail, evidence=dict(evidence)
    )


async def retry_conflicts(
    ctx: Context, attempt: Callable[[], Awaitable[ActionOutcome]], *, what: str
) -> ActionOutcome:
    """Run ``attempt`` (which re-reads before it writes) again on 409, a few times."""
    last: KubeConflict | None = None
    for number in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            return await attempt()
        except KubeConflict as e:
            last = e
            ctx.log.info("%s: conflict on attempt %d, re-reading: %s", what, number, e)
    raise TemporaryError(
        f"{what}: the object kept changing ({CONFLICT_ATTEMPTS} conflicts)", delay=CONFLICT_DELAY
    ) from last


def translate(e: KubeError, what: str) -> TemporaryError | PermanentError:
    """The retry intent of a Kubernetes client error."""
    if isinstance(e, KubeUnavailable):
        delay = e.retry_after if e.retry_after is not None else UNAVAILABLE_DELAY
        return TemporaryError(f"{what}: {e}", delay=delay)
    if isinstance(e, KubeConflict | KubeGone | KubeDisruptionBlocked):
        return TemporaryError(f"{what}: {e}", delay=CONFLICT_DELAY)
    if isinstance(e, KubeNotFound):
        return PermanentError(f"{what}: not found: {e}")
    if isinstance(e, KubeForbidden):
        return PermanentError(f"{what}: forbidden (check kubeheal's RBAC): {e}")
    if isinstance(e, KubeApiError):
        return PermanentError(f"{what}: the API refused the request: {e}")
    if isinstance(e, KubeConfigError | KubeDecodeError):
        return PermanentError(f"{what}: {e}")
    return PermanentError(f"{what}: {e}")


def target_kind(target: Target) -> Kind | None:
    """The writer Kind of a target, when kubeheal can write it."""
    return _TARGET_KINDS.get(target.kind)


def _event_name(target: Target, key: str) -> str:
    base = target.name[:200].rstrip(".-") or "object"
    return f"{base}.kubeheal-{key[:16]}".lower()


async def record_change(ctx: Context, outcome: ActionOutcome) -> None:
    """Emit a core/v1 Event on the target and annotate it with ``kubeheal.io/last-action``.

    Best-effort: failures are logged, never raised. The Event's name derives from the
    idempotency key, so a repeated action does not emit a second Event.
    """
    plan = ctx.plan
    target = plan.target
    at = ctx.wall_clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    failed = outcome.state is OutcomeState.FAILED
    involved: dict[str, Any] = {"kind": target.kind.value, "name": target.name}
    if target.namespace:
        involved["namespace"] = target.namespace
    involved["apiVersion"] = _API_VERSIONS.get(target.kind, "v1")
    namespace = target.namespace or "default"
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": _event_name(target, plan.idempotency_key), "namespace": namespace},
        "involvedObject": involved,
        "reason": EVENT_REASON_FAILED if failed else EVENT_REASON,
        "type": "Warning" if failed else "Normal",
        "message": f"kubeheal {plan.action.value} (incident {plan.incident_id}): {outcome.detail}"[
            :1024
        ],
        "source": {"component": "kubeheal"},
        "reportingComponent": "kubeheal",
        "reportingInstance": "kubeheal",
        "firstTimestamp": at,
        "lastTimestamp": at,
        "count": 1,
    }
    try:
        await ctx.writer.create(Kind.EVENT, namespace, event)
    except KubeConflict:
        ctx.log.debug("event for %s exists already", plan.idempotency_key)
    except KubeError as e:
        ctx.log.warning("could not emit the Event for %s on %s: %s", plan.action, target, e)
    kind = target_kind(target)
    if kind is None or kind is Kind.POD:
        return
    note = json.dumps(
        {
            "action": plan.action.value,
            "incident": plan.incident_id,
            "at": at,
            "key": plan.idempotency_key,
        },
        sort_keys=True,
    )
    patch = {"metadata": {"annotations": {ANNOTATION_LAST_ACTION: note}}}
    try:
        await ctx.writer.patch(
            kind, target.namespace or None, target.name, patch, patch_kind=PatchKind.MERGE
        )
    except KubeError as e:
        ctx.log.warning("could not annotate %s after %s: %s", target, plan.action, e)

"""What every executor shares: the run context, dict helpers, conflict retries, error
translation, and the Event and annotation written after a change (retried, never failing
the action)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubeheal.actions.errors import ActionError, PermanentError, TemporaryError
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
    "RECORD_ATTEMPTS",
    "RECORD_DEADLINE",
    "RECORD_MAX_DELAY",
    "Context",
    "dig",
    "done",
    "dry",
    "event_manifest",
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
RECORD_ATTEMPTS = 4
"""Tries of the Event, and of the annotation, after a change (the first and three retries)."""
RECORD_MAX_DELAY = 10.0
"""Longest wait between two tries of those writes (a longer Retry-After is shortened)."""
RECORD_DEADLINE = 30.0
"""No retry of those writes starts later than this (``Context.clock`` seconds) after the
first: the target's worker waits for them, and the change itself is done already."""

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
    record_failed: Callable[[str], None] | None = None
    """Called with ``event`` or ``annotation`` when that write after a change is given up
    (the runtime counts it in ``kubeheal_record_writes_failed_total``)."""

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


def event_manifest(
    target: Target,
    *,
    metadata: dict[str, str],
    reason: str,
    message: str,
    warning: bool,
    at: str,
    involved: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A core/v1 Event about ``target`` (``at``: its RFC 3339 time; ``involved``: fields of
    the involved object read from the cluster, e.g. its uid and apiVersion)."""
    about: dict[str, Any] = {"kind": target.kind.value, "name": target.name}
    if target.namespace:
        about["namespace"] = target.namespace
    about["apiVersion"] = _API_VERSIONS.get(target.kind, "v1")
    about.update(involved or {})
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": metadata,
        "involvedObject": about,
        "reason": reason,
        "type": "Warning" if warning else "Normal",
        "message": message[:1024],
        "source": {"component": "kubeheal"},
        "reportingComponent": "kubeheal",
        "reportingInstance": "kubeheal",
        "firstTimestamp": at,
        "lastTimestamp": at,
        "count": 1,
    }


def _event_name(target: Target, key: str) -> str:
    base = target.name[:200].rstrip(".-") or "object"
    return f"{base}.kubeheal-{key[:16]}".lower()


async def _record_write(
    ctx: Context,
    write: Callable[[], Awaitable[object]],
    *,
    what: str,
    doing: str,
    started: float,
) -> None:
    """Run ``write`` with the actions' retry intent: a temporary failure (5xx, 429, no
    connection, a conflict) is tried again after its delay (Retry-After when the server sent
    one, at most ``RECORD_MAX_DELAY``), up to ``RECORD_ATTEMPTS`` tries started within
    ``RECORD_DEADLINE`` of ``started``; a permanent failure (403, 404, a refused body) is not.
    What is given up is logged and reported through ``ctx.record_failed``. Never raises."""
    attempt = 0
    while True:
        attempt += 1
        try:
            await write()
        except (KubeError, ActionError) as e:
            # ActionError: e.g. the pre-write guard refused the write (PermanentError).
            intent = translate(e, doing) if isinstance(e, KubeError) else e
            delay = None
            if isinstance(intent, TemporaryError):
                delay = min(intent.delay, RECORD_MAX_DELAY)
            if (
                delay is None
                or attempt >= RECORD_ATTEMPTS
                or ctx.clock() + delay - started > RECORD_DEADLINE
            ):
                ctx.log.warning(
                    "could not %s (%d attempt%s, given up): %s",
                    doing, attempt, "" if attempt == 1 else "s", e,
                )  # fmt: skip
                if ctx.record_failed is not None:
                    ctx.record_failed(what)
                return
            ctx.log.info(
                "could not %s (attempt %d of %d), retrying in %.1fs: %s",
                doing, attempt, RECORD_ATTEMPTS, delay, e,
            )  # fmt: skip
            await ctx.sleep(delay)
        else:
            return


async def record_change(ctx: Context, outcome: ActionOutcome) -> None:
    """Emit a core/v1 Event on the target and annotate it with ``kubeheal.io/last-action``.

    Both are retried on temporary failures (`_record_write`: the same retry intent as the
    actions, bounded by ``RECORD_ATTEMPTS`` and ``RECORD_DEADLINE``) rather than dropped:
    the annotation is how kubeheal later recognises the nodes it cordoned. A write given up
    is logged and counted; it never turns the action's outcome into a failure. The Event's
    name derives from the idempotency key, so a repeated action (or a retry after a create
    that did land) does not emit a second Event.
    """
    plan = ctx.plan
    target = plan.target
    started = ctx.clock()
    at = ctx.wall_clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    failed = outcome.state is OutcomeState.FAILED
    namespace = target.namespace or "default"
    event = event_manifest(
        target,
        metadata={"name": _event_name(target, plan.idempotency_key), "namespace": namespace},
        reason=EVENT_REASON_FAILED if failed else EVENT_REASON,
        message=f"kubeheal {plan.action.value} (incident {plan.incident_id}): {outcome.detail}",
        warning=failed,
        at=at,
    )

    async def create_event() -> None:
        try:
            await ctx.writer.create(Kind.EVENT, namespace, event)
        except KubeConflict:
            ctx.log.debug("event for %s exists already", plan.idempotency_key)

    await _record_write(
        ctx, create_event, what="event", started=started,
        doing=f"emit the Event for {plan.action.value} on {target}",
    )  # fmt: skip
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

    async def annotate() -> None:
        await ctx.writer.patch(
            kind, target.namespace or None, target.name, patch, patch_kind=PatchKind.MERGE
        )

    await _record_write(
        ctx, annotate, what="annotation", started=started,
        doing=f"annotate {target} after {plan.action.value}",
    )  # fmt: skip

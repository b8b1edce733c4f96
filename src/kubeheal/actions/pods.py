"""Restarting a pod: delete it so its controller recreates it (never a bare pod)."""

from __future__ import annotations

from typing import Any

from kubeheal.actions._base import Context, dig, done, dry, noop
from kubeheal.actions.errors import PermanentError
from kubeheal.actions.outcome import ActionOutcome
from kubeheal.clients.kube import KubeNotFound
from kubeheal.clients.writer import Kind
from kubeheal.engine.params import RestartPod

__all__ = ["restart_pod"]


def _is_fresh_instance(pod: dict[str, Any], planned_ready: bool) -> bool:
    """A pod of the same name that is not the one planning saw: ready now although it was not,
    and none of its containers ever restarted (a controller recreated it)."""
    if planned_ready:
        return False
    conditions = dig(pod, "status", "conditions") or []
    ready = any(
        isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True"
        for c in conditions
    )
    statuses = dig(pod, "status", "containerStatuses") or []
    restarts = sum(int(s.get("restartCount", 0) or 0) for s in statuses if isinstance(s, dict))
    return ready and bool(statuses) and restarts == 0


async def restart_pod(ctx: Context, p: RestartPod) -> ActionOutcome:
    """Delete pod ``p.pod`` unless it is gone, terminating, or already replaced."""
    writer = ctx.writer
    name = f"pod {p.namespace}/{p.pod}"
    try:
        pod = await writer.get(Kind.POD, p.namespace, p.pod)
    except KubeNotFound:
        return noop(f"{name} is already gone", ctx)
    uid = str(dig(pod, "metadata", "uid") or "")
    evidence: dict[str, Any] = {"pod": p.pod, "uid": uid}
    if dig(pod, "metadata", "deletionTimestamp"):
        return noop(f"{name} is already terminating", ctx, **evidence)
    if _is_fresh_instance(pod, p.pod_ready):
        return noop(f"{name} was already replaced by a healthy instance", ctx, **evidence)
    owners = dig(pod, "metadata", "ownerReferences") or []
    if not any(isinstance(o, dict) and o.get("kind") for o in owners):
        raise PermanentError(f"{name} has no controller: deleting it would not restart it")
    statuses = dig(pod, "status", "containerStatuses") or []
    evidence["restart_counts"] = [
        f"{s.get('name')}={s.get('restartCount', 0)}" for s in statuses if isinstance(s, dict)
    ]
    evidence["node"] = str(dig(pod, "spec", "nodeName") or "")
    try:
        await writer.delete(Kind.POD, p.namespace, p.pod, dry_run=ctx.dry_run)
    except KubeNotFound:
        return noop(f"{name} is already gone", ctx, **evidence)
    if ctx.dry_run:
        return dry(f"delete {name} (uid {uid}) so its controller recreates it", **evidence)
    return done(f"deleted {name} (uid {uid}); its controller recreates it", **evidence)

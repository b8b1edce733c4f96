"""Node executors: cordon, and drain through the Eviction API (PodDisruptionBudgets respected).

A drain never deletes a pod directly: every pod leaves through an Eviction, and an eviction
a PodDisruptionBudget refuses is retried with exponential back-off until the drain's
timeout, after which the outcome is ``failed`` with the pods that stayed.
"""

from __future__ import annotations

from typing import Any

from kubeheal.actions._base import Context, dig, done, dry, noop
from kubeheal.actions.errors import PermanentError
from kubeheal.actions.nodelock import NodeLock
from kubeheal.actions.outcome import ActionOutcome, OutcomeState
from kubeheal.clients.kube import KubeError, KubeNotFound, KubeUnavailable
from kubeheal.clients.writer import Kind, KubeDisruptionBlocked, PatchKind
from kubeheal.engine.params import CordonNode, DrainNode, UncordonNode

__all__ = [
    "BACKOFF_INITIAL",
    "BACKOFF_MAX",
    "MIRROR_ANNOTATION",
    "cordon_node",
    "drain_node",
    "uncordon_node",
]

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
BACKOFF_INITIAL = 1.0
"""First wait after an eviction is refused; doubled after each refused round."""
BACKOFF_MAX = 30.0


async def _cordon(ctx: Context, node: str) -> bool:
    """Mark ``node`` unschedulable; False when it already was."""
    obj = await ctx.writer.get(Kind.NODE, None, node)
    if dig(obj, "spec", "unschedulable") is True:
        return False
    await ctx.writer.patch(
        Kind.NODE,
        None,
        node,
        {"spec": {"unschedulable": True}},
        patch_kind=PatchKind.MERGE,
        dry_run=ctx.dry_run,
    )
    return True


async def uncordon_node(ctx: Context, p: UncordonNode) -> ActionOutcome:
    """Mark ``p.node`` schedulable again (what ``kubectl uncordon`` does)."""
    obj = await ctx.writer.get(Kind.NODE, None, p.node)
    if dig(obj, "spec", "unschedulable") is not True:
        return noop(f"node {p.node} is already schedulable", ctx, node=p.node)
    await ctx.writer.patch(
        Kind.NODE,
        None,
        p.node,
        {"spec": {"unschedulable": None}},
        patch_kind=PatchKind.MERGE,
        dry_run=ctx.dry_run,
    )
    if ctx.dry_run:
        return dry(f"uncordon node {p.node}", node=p.node)
    return done(f"uncordoned node {p.node}: it takes new pods again", node=p.node)


async def cordon_node(ctx: Context, p: CordonNode) -> ActionOutcome:
    """Mark ``p.node`` unschedulable."""
    if not await _cordon(ctx, p.node):
        return noop(f"node {p.node} is already unschedulable", ctx, previous_unschedulable=True)
    if ctx.dry_run:
        return dry(f"cordon node {p.node}", previous_unschedulable=False)
    return done(f"cordoned node {p.node}", previous_unschedulable=False)


def _why_not_evict(pod: dict[str, Any], node: str) -> str | None:
    """Why this pod is left alone (None: evict it)."""
    if dig(pod, "spec", "nodeName") != node:
        return "moved"
    if dig(pod, "metadata", "deletionTimestamp"):
        return "terminating"
    if MIRROR_ANNOTATION in (dig(pod, "metadata", "annotations") or {}):
        return "mirror"
    owners = dig(pod, "metadata", "ownerReferences") or []
    if any(isinstance(o, dict) and o.get("kind") == "DaemonSet" for o in owners):
        return "daemonset"
    return None


def _uses_empty_dir(pod: dict[str, Any]) -> bool:
    volumes = dig(pod, "spec", "volumes") or []
    return any(isinstance(v, dict) and "emptyDir" in v for v in volumes)


async def drain_node(ctx: Context, p: DrainNode) -> ActionOutcome:
    """Cordon ``p.node``, then evict the pods planning listed (``namespace/name``)."""
    if p.timeout_seconds <= 0:
        raise PermanentError(f"drain of node {p.node}: invalid timeout {p.timeout_seconds}s")
    if not p.lock or ctx.dry_run:
        return await _drain(ctx, p)
    lock = NodeLock(ctx, lock=p.lock, node=p.node, duration_s=p.timeout_seconds + 120)
    await lock.acquire()
    try:
        return await _drain(ctx, p)
    finally:
        await lock.release()


async def _drain(ctx: Context, p: DrainNode) -> ActionOutcome:
    writer = ctx.writer
    cordoned = await _cordon(ctx, p.node)
    deadline = ctx.clock() + p.timeout_seconds
    pending: list[tuple[str, str]] = []
    for ref in p.pods:
        namespace, _, name = ref.partition("/")
        if not namespace or not name:
            raise PermanentError(f"drain of node {p.node}: bad pod reference {ref!r}")
        pending.append((namespace, name))
    evicted: list[str] = []
    left_alone: list[str] = []
    errors: list[str] = []
    delay = BACKOFF_INITIAL
    rounds = 0
    while pending:
        rounds += 1
        blocked: list[tuple[str, str]] = []
        for namespace, name in pending:
            ref = f"{namespace}/{name}"
            try:
                pod = await writer.get(Kind.POD, namespace, name)
            except KubeNotFound:
                left_alone.append(f"{ref} (gone)")
                continue
            reason = _why_not_evict(pod, p.node)
            if reason is not None:
                left_alone.append(f"{ref} ({reason})")
                continue
            if _uses_empty_dir(pod) and not p.delete_emptydir_data:
                errors.append(f"{ref}: uses emptyDir and delete_emptydir_data is off")
                continue
            try:
                await writer.evict(namespace, name, dry_run=ctx.dry_run)
            except KubeNotFound:
                left_alone.append(f"{ref} (gone)")
            except KubeDisruptionBlocked as e:
                ctx.log.info("eviction of %s refused by a PodDisruptionBudget: %s", ref, e)
                blocked.append((namespace, name))
            except KubeUnavailable as e:
                ctx.log.info("eviction of %s not possible now: %s", ref, e)
                blocked.append((namespace, name))
            except KubeError as e:
                errors.append(f"{ref}: {e}")
            else:
                evicted.append(ref)
        pending = blocked
        if not pending or ctx.dry_run:
            break
        remaining = deadline - ctx.clock()
        if remaining <= 0:
            break
        await ctx.sleep(min(delay, remaining))
        delay = min(delay * 2, BACKOFF_MAX)
    refused = [f"{ns}/{name}" for ns, name in pending]
    evidence: dict[str, Any] = {
        "node": p.node,
        "cordoned": cordoned,
        "evicted": evicted,
        "left_alone": left_alone,
        "blocked": refused,
        "errors": errors,
        "rounds": rounds,
    }
    summary = f"evicted {len(evicted)} of {len(p.pods)} pod(s)"
    if ctx.dry_run:
        would = f"cordon node {p.node} and evict {len(evicted)} pod(s)"
        if refused:
            would += f"; {len(refused)} eviction(s) refused now by a PodDisruptionBudget"
        if errors:
            would += f"; {len(errors)} pod(s) cannot be evicted"
        return dry(would, **evidence)
    if refused or errors:
        problems = []
        if refused:
            problems.append(
                f"still blocked after {p.timeout_seconds}s by a PodDisruptionBudget: "
                + ", ".join(refused)
            )
        if errors:
            problems.append("not evicted: " + "; ".join(errors))
        return ActionOutcome(
            state=OutcomeState.FAILED,
            changed=cordoned or bool(evicted),
            detail=f"partial drain of node {p.node}: {summary}; " + "; ".join(problems),
            evidence=evidence,
        )
    if not cordoned and not evicted:
        return noop(f"node {p.node} is already cordoned and drained", ctx, **evidence)
    return done(f"drained node {p.node}: cordoned, {summary}", **evidence)

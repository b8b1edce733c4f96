"""Node executors: cordon, drain through the Eviction API (PodDisruptionBudgets respected),
and the deletion of the pods of a lost node.

A drain never deletes a pod directly: every pod leaves through an Eviction, and an eviction
a PodDisruptionBudget refuses is retried with exponential back-off until the drain's
timeout, after which the outcome is ``failed`` with the pods that stayed.

``delete_pods_on_node`` is for a node whose kubelet is gone (a drain cannot reach it). It
proves that on the live objects first: the node is still not Ready and its Lease in
``kube-node-lease`` has not been renewed since it went NotReady/Unknown, nor for
``not_ready_for_seconds`` before planning. It then lists the node's pods from the API and
deletes (gracefully, never forced) only those of ReplicaSets, which their Deployments recreate
elsewhere at once; the taint eviction controller would delete the same pods, without asking
any PodDisruptionBudget, once their 300 s toleration ran out. Pods already unavailable on a
dead node spend no disruption budget, so budgets do not hold them back (an Eviction would be
refused exactly when the dead node broke the budget). Never deleted: StatefulSet pods and pods
with a hostPath or PersistentVolumeClaim volume (at-most-one semantics, or data a local volume
keeps on the node), DaemonSet and mirror pods (bound to the node), pods without a controller
or of other controllers, pods of excluded or disabled namespaces. The first two kinds make the
outcome ``failed`` with the exact commands for a human (``kubeheal.engine.node_loss``).
emptyDir data lives and dies with the pod, so it does not keep a pod.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubeheal.actions._base import Context, dig, done, dry, noop
from kubeheal.actions.errors import PermanentError
from kubeheal.actions.nodelock import NodeLock
from kubeheal.actions.outcome import ActionOutcome, OutcomeState
from kubeheal.clients.kube import KubeError, KubeNotFound, KubeUnavailable
from kubeheal.clients.writer import Kind, KubeDisruptionBlocked, PatchKind
from kubeheal.engine.facts import DISABLED_ANNOTATION
from kubeheal.engine.node_loss import force_commands
from kubeheal.engine.params import CordonNode, DeletePodsOnNode, DrainNode, UncordonNode

__all__ = [
    "BACKOFF_INITIAL",
    "BACKOFF_MAX",
    "MIRROR_ANNOTATION",
    "cordon_node",
    "delete_pods_on_node",
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


NODE_LEASE_NAMESPACE = "kube-node-lease"


def _moment(value: Any) -> datetime | None:
    """An RFC 3339 time (or MicroTime) from the API, None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _ready_condition(node: dict[str, Any]) -> dict[str, Any] | None:
    for cond in dig(node, "status", "conditions") or ():
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            return cond
    return None


def _keep(pod: dict[str, Any], node: str, excluded: tuple[str, ...]) -> tuple[str, bool] | None:
    """Why a pod of the lost node is not deleted and whether a human must force it
    (None: delete it)."""
    meta = dig(pod, "metadata") or {}
    if dig(pod, "spec", "nodeName") != node:
        return "moved", False
    if meta.get("deletionTimestamp"):
        return "terminating", False
    if dig(pod, "status", "phase") in ("Succeeded", "Failed"):
        return "finished", False
    if MIRROR_ANNOTATION in (meta.get("annotations") or {}):
        return "mirror pod", False
    owners = [o for o in meta.get("ownerReferences") or () if isinstance(o, dict)]
    controller = next((o for o in owners if o.get("controller")), owners[0] if owners else None)
    kind = str((controller or {}).get("kind") or "")
    owner = str((controller or {}).get("name") or "")
    if kind == "DaemonSet":
        return "DaemonSet pod", False
    if kind == "StatefulSet":
        return f"StatefulSet {owner} pod: at most one per identity", True
    for volume in dig(pod, "spec", "volumes") or ():
        if not isinstance(volume, dict):
            continue
        if "hostPath" in volume:
            return f"hostPath volume {volume.get('name')}: its data stays on the node", True
        if "persistentVolumeClaim" in volume:
            claim = dig(volume, "persistentVolumeClaim", "claimName")
            return f"PersistentVolumeClaim {claim} (a local or attached volume)", True
    if kind != "ReplicaSet":
        return (f"owned by {kind} {owner}" if controller else "no controller"), False
    if meta.get("namespace") in excluded:
        return "excluded namespace", False
    if str((meta.get("annotations") or {}).get(DISABLED_ANNOTATION, "")).lower() == "true":
        return f"annotated {DISABLED_ANNOTATION}", False
    return None


async def delete_pods_on_node(ctx: Context, p: DeletePodsOnNode) -> ActionOutcome:
    """Delete the ReplicaSet-owned pods of ``p.node`` once its kubelet is proven gone."""
    writer = ctx.writer
    node = await writer.get(Kind.NODE, None, p.node)
    ready = _ready_condition(node)
    if ready is None or ready.get("status") == "True":
        return noop(f"node {p.node} is Ready again: no pod deleted", ctx, node=p.node)
    try:
        lease = await writer.get(Kind.LEASE, NODE_LEASE_NAMESPACE, p.node)
    except KubeNotFound:
        raise PermanentError(
            f"node {p.node} has no Lease in {NODE_LEASE_NAMESPACE}: kubeheal cannot tell its "
            "kubelet is gone, so it deletes nothing"
        ) from None
    renewed = _moment(dig(lease, "spec", "renewTime"))
    down_since = _moment(ready.get("lastTransitionTime"))
    evidence: dict[str, Any] = {
        "node": p.node,
        "ready": str(ready.get("status")),
        "not_ready_since": down_since.isoformat() if down_since else None,
        "lease_renewed": renewed.isoformat() if renewed else None,
    }
    if renewed is None or down_since is None:
        raise PermanentError(
            f"node {p.node}: the Lease renewTime or the Ready transition is missing or "
            "unreadable; nothing deleted"
        )
    stale = (p.planned_at - renewed).total_seconds()
    evidence["lease_stale_s"] = round(stale, 1)
    if renewed > down_since or stale < p.not_ready_for_seconds:
        return ActionOutcome(
            state=OutcomeState.FAILED,
            changed=False,
            detail=f"node {p.node}: its Lease was renewed at {renewed.isoformat()} "
            f"({stale:.0f}s before planning; the node went {ready.get('status')} at "
            f"{down_since.isoformat()}): its kubelet may be alive, so no pod is deleted",
            evidence=evidence,
        )
    pods = await writer.list(Kind.POD, None)
    deleted: list[str] = []
    left_alone: list[str] = []
    human: list[tuple[str, str]] = []
    human_why: list[str] = []
    errors: list[str] = []
    for pod in sorted(
        pods,
        key=lambda o: (dig(o, "metadata", "namespace") or "", dig(o, "metadata", "name") or ""),
    ):
        if dig(pod, "spec", "nodeName") != p.node:
            continue
        namespace = str(dig(pod, "metadata", "namespace") or "")
        name = str(dig(pod, "metadata", "name") or "")
        ref = f"{namespace}/{name}"
        kept = _keep(pod, p.node, p.excluded_namespaces)
        if kept is not None:
            why, needs_human = kept
            if needs_human:
                human.append((namespace, name))
                human_why.append(f"{ref} ({why})")
            else:
                left_alone.append(f"{ref} ({why})")
            continue
        try:
            await writer.delete(Kind.POD, namespace, name, dry_run=ctx.dry_run)
        except KubeNotFound:
            left_alone.append(f"{ref} (gone)")
        except PermanentError as e:  # the last check before a write refused it
            left_alone.append(f"{ref} (refused: {e})")
        except KubeError as e:
            errors.append(f"{ref}: {e}")
        else:
            deleted.append(ref)
    evidence.update(deleted=deleted, left_alone=left_alone, needs_a_human=human_why, errors=errors)
    if ctx.dry_run:
        return dry(f"delete {len(deleted)} pod(s) of node {p.node}", **evidence)
    summary = (
        f"deleted {len(deleted)} pod(s) of ReplicaSets on node {p.node} (Lease unrenewed for "
        f"{stale:.0f}s); their controllers recreate them elsewhere"
    )
    if human or errors:
        problems = []
        if human:
            problems.append(
                "never forced by kubeheal: "
                + ", ".join(human_why)
                + "\n"
                + force_commands(p.node, human)
            )
        if errors:
            problems.append("not deleted: " + "; ".join(errors))
        return ActionOutcome(
            state=OutcomeState.FAILED,
            changed=bool(deleted),
            detail=f"{summary}; " + "; ".join(problems),
            evidence=evidence,
        )
    if not deleted:
        return noop(f"no pod of a ReplicaSet is left on node {p.node}", ctx, **evidence)
    return done(summary, **evidence)

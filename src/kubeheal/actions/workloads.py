"""Executors that change workloads: rollback, memory limits, requests/limits (right-sizing),
replicas, HPA bounds, PDBs (created when none selects the pods, kubeheal's own deleted when
the owner's appears).

Each reads the current object first and does nothing when the desired state is already
there; writes carry the resourceVersion they were computed from, so a concurrent change
answers 409 and the executor re-reads (``retry_conflicts``).
"""

from __future__ import annotations

import copy
from typing import Any

import msgspec

from kubeheal.actions._base import (
    Context,
    dig,
    done,
    dry,
    noop,
    retry_conflicts,
)
from kubeheal.actions.errors import PermanentError
from kubeheal.actions.outcome import ActionOutcome
from kubeheal.clients.kube import KubeConflict, KubeNotFound
from kubeheal.clients.writer import Kind, PatchKind
from kubeheal.engine.facts import KUBEHEAL_KEY_ANNOTATION, MANAGED_BY_KUBEHEAL, kubeheal_made
from kubeheal.engine.params import (
    CreatePdb,
    DeletePdb,
    RaiseHpaMax,
    RaiseMemoryLimit,
    ResourceChange,
    RollbackDeployment,
    ScaleOut,
    SetResources,
)
from kubeheal.model.quantity import QuantityError, parse_cpu, parse_memory
from kubeheal.model.selectors import LabelSelector, selector_matches

__all__ = [
    "ANNOTATION_ROLLED_BACK_FROM",
    "POD_TEMPLATE_HASH",
    "config_refs",
    "create_pdb",
    "delete_pdb",
    "raise_hpa_max",
    "raise_memory_limit",
    "rollback_deployment",
    "scale_out",
    "set_resources",
]

ANNOTATION_ROLLED_BACK_FROM = "kubeheal.io/rolled-back-from"
POD_TEMPLATE_HASH = "pod-template-hash"
_WORKLOAD_KINDS = {
    "Deployment": Kind.DEPLOYMENT,
    "StatefulSet": Kind.STATEFULSET,
    "DaemonSet": Kind.DAEMONSET,
}
_SCALABLE_KINDS = {"Deployment": Kind.DEPLOYMENT, "StatefulSet": Kind.STATEFULSET}


def _rv(obj: dict[str, Any]) -> str:
    return str(dig(obj, "metadata", "resourceVersion") or "")


def _containers(template: Any) -> list[dict[str, Any]]:
    found = dig(template, "spec", "containers") if isinstance(template, dict) else None
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def _template_key(template: Any) -> Any:
    """What a rollback compares: each container's name, image, resources and literal env
    values, the ConfigMaps and Secrets the template references and its annotations (a
    config checksum): a rollout that changed only its configuration is rolled back too.
    Fields the API server defaults (pull policy, volume modes, ...) are left out, so a
    template equals the ReplicaSet's copy of it however either was defaulted."""
    containers = sorted(
        (
            str(c.get("name", "")),
            str(c.get("image", "")),
            repr(_canon(c.get("resources") or {})),
            repr(
                sorted(
                    (str(e.get("name", "")), str(e.get("value", "")))
                    for e in c.get("env") or []
                    if isinstance(e, dict)
                )
            ),
        )
        for c in _containers(template)
    )
    annotations = dig(template, "metadata", "annotations") if isinstance(template, dict) else None
    return (
        containers,
        sorted(config_refs(template)),
        _canon(annotations if isinstance(annotations, dict) else {}),
    )


def _refs(value: Any, kind: str, key: str) -> set[str]:
    name = value.get(key) if isinstance(value, dict) else None
    return {f"{kind}/{name}"} if isinstance(name, str) and name else set()


def config_refs(template: Any) -> set[str]:
    """The ``configmap/NAME`` and ``secret/NAME`` a pod template references (volumes,
    projected volumes, envFrom, env valueFrom of every container and init container)."""
    spec = dig(template, "spec") if isinstance(template, dict) else None
    if not isinstance(spec, dict):
        return set()
    found: set[str] = set()
    for volume in spec.get("volumes") or []:
        if not isinstance(volume, dict):
            continue
        found |= _refs(volume.get("configMap"), "configmap", "name")
        found |= _refs(volume.get("secret"), "secret", "secretName")
        for source in dig(volume, "projected", "sources") or []:
            if isinstance(source, dict):
                found |= _refs(source.get("configMap"), "configmap", "name")
                found |= _refs(source.get("secret"), "secret", "name")
    for group in ("initContainers", "containers"):
        for container in spec.get(group) or []:
            if not isinstance(container, dict):
                continue
            for source in container.get("envFrom") or []:
                if isinstance(source, dict):
                    found |= _refs(source.get("configMapRef"), "configmap", "name")
                    found |= _refs(source.get("secretRef"), "secret", "name")
            for env in container.get("env") or []:
                ref = dig(env, "valueFrom") if isinstance(env, dict) else None
                if isinstance(ref, dict):
                    found |= _refs(ref.get("configMapKeyRef"), "configmap", "name")
                    found |= _refs(ref.get("secretKeyRef"), "secret", "name")
    return found


def _annotation_changes(current: Any, wanted: Any) -> list[str]:
    """Pod template annotations that differ (e.g. a config checksum), by key."""
    before = dig(current, "metadata", "annotations") or {}
    after = dig(wanted, "metadata", "annotations") or {}
    if not isinstance(before, dict) or not isinstance(after, dict):
        return []
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def _canon(value: Any) -> Any:
    if isinstance(value, dict):
        return sorted((k, _canon(v)) for k, v in value.items() if v not in (None, {}))
    return value


def _strip_hash(template: dict[str, Any]) -> dict[str, Any]:
    clean = copy.deepcopy(template)
    labels = dig(clean, "metadata", "labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH, None)
    return clean


def _pointer(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


# -- rollback ------------------------------------------------------------------------------


async def rollback_deployment(ctx: Context, p: RollbackDeployment) -> ActionOutcome:
    """Put the template of ReplicaSet ``p.to_replica_set`` back, as ``kubectl rollout undo``."""
    writer = ctx.writer
    what = f"rollback of Deployment {p.namespace}/{p.deployment}"

    async def attempt() -> ActionOutcome:
        dep = await writer.get(Kind.DEPLOYMENT, p.namespace, p.deployment)
        try:
            rs = await writer.get(Kind.REPLICASET, p.namespace, p.to_replica_set)
        except KubeNotFound as e:
            raise PermanentError(
                f"{what}: ReplicaSet {p.to_replica_set} (revision {p.to_revision}) is gone"
            ) from e
        owners = dig(rs, "metadata", "ownerReferences") or []
        if not any(
            isinstance(o, dict) and o.get("kind") == "Deployment" and o.get("name") == p.deployment
            for o in owners
        ):
            raise PermanentError(f"{what}: ReplicaSet {p.to_replica_set} is not owned by it")
        wanted = dig(rs, "spec", "template")
        if not isinstance(wanted, dict) or not _containers(wanted):
            raise PermanentError(f"{what}: ReplicaSet {p.to_replica_set} has no pod template")
        wanted = _strip_hash(wanted)
        current = dig(dep, "spec", "template") or {}
        before = {str(c.get("name")): str(c.get("image", "")) for c in _containers(current)}
        after = {str(c.get("name")): str(c.get("image", "")) for c in _containers(wanted)}
        evidence: dict[str, Any] = {
            "from_revision": p.from_revision,
            "to_revision": p.to_revision,
            "to_replica_set": p.to_replica_set,
            "previous_images": [f"{k}={v}" for k, v in sorted(before.items())],
            "images": [f"{k}={v}" for k, v in sorted(after.items())],
        }
        refs_before, refs_after = config_refs(current), config_refs(wanted)
        if refs_before != refs_after:
            evidence["previous_config"] = sorted(refs_before - refs_after)
            evidence["config"] = sorted(refs_after - refs_before)
        annotations = _annotation_changes(current, wanted)
        if annotations:
            evidence["template_annotations_changed"] = annotations
        if _template_key(current) == _template_key(wanted):
            return noop(
                f"already at the template of revision {p.to_revision} ({p.to_replica_set})",
                ctx,
                **evidence,
            )
        ops: list[dict[str, Any]] = [
            {"op": "replace", "path": "/metadata/resourceVersion", "value": _rv(dep)},
            {"op": "replace", "path": "/spec/template", "value": wanted},
        ]
        if isinstance(dig(dep, "metadata", "annotations"), dict):
            ops.append(
                {
                    "op": "add",
                    "path": "/metadata/annotations/" + _pointer(ANNOTATION_ROLLED_BACK_FROM),
                    "value": str(p.from_revision),
                }
            )
        else:
            ops.append(
                {
                    "op": "add",
                    "path": "/metadata/annotations",
                    "value": {ANNOTATION_ROLLED_BACK_FROM: str(p.from_revision)},
                }
            )
        await writer.patch(
            Kind.DEPLOYMENT,
            p.namespace,
            p.deployment,
            ops,
            patch_kind=PatchKind.JSON,
            dry_run=ctx.dry_run,
        )
        images = ", ".join(f"{k}={v}" for k, v in sorted(after.items()))
        if refs_before != refs_after:
            images += "; " + ", ".join(sorted(refs_after - refs_before)) + " instead of "
            images += ", ".join(sorted(refs_before - refs_after)) or "none"
        change = (
            f"roll Deployment {p.namespace}/{p.deployment} back from revision "
            f"{p.from_revision} to {p.to_revision} ({images})"
        )
        if ctx.dry_run:
            return dry(change, **evidence)
        return done(change.replace("roll", "rolled", 1), **evidence)

    return await retry_conflicts(ctx, attempt, what=what)


# -- memory --------------------------------------------------------------------------------


def _memory(value: Any, what: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_memory(str(value))
    except QuantityError as e:
        raise PermanentError(f"{what}: unreadable memory quantity {value!r}: {e}") from e


async def raise_memory_limit(ctx: Context, p: RaiseMemoryLimit) -> ActionOutcome:
    """Strategic-merge the container's memory limit (and request) in the workload template."""
    kind = _WORKLOAD_KINDS.get(p.workload_kind)
    what = f"memory limit of {p.workload_kind} {p.namespace}/{p.workload} container {p.container}"
    if kind is None:
        raise PermanentError(f"{what}: cannot patch the template of a {p.workload_kind}")
    new_limit = _memory(p.new_limit, what)
    new_request = _memory(p.new_request, what)
    if new_limit is None or new_limit <= 0:
        raise PermanentError(f"{what}: invalid new limit {p.new_limit!r}")
    if new_request is not None and new_request > new_limit:
        raise PermanentError(f"{what}: request {p.new_request} exceeds limit {p.new_limit}")
    writer = ctx.writer

    async def attempt() -> ActionOutcome:
        obj = await writer.get(kind, p.namespace, p.workload)
        container = next(
            (c for c in _containers(dig(obj, "spec", "template")) if c.get("name") == p.container),
            None,
        )
        if container is None:
            raise PermanentError(f"{what}: no such container in the pod template")
        raw_limit = dig(container, "resources", "limits", "memory")
        raw_request = dig(container, "resources", "requests", "memory")
        limit = _memory(raw_limit, what)
        request = _memory(raw_request, what)
        evidence: dict[str, Any] = {
            "previous_limit": None if raw_limit is None else str(raw_limit),
            "previous_request": None if raw_request is None else str(raw_request),
            "new_limit": p.new_limit,
            "new_request": p.new_request,
            "bounded_by": p.bounded_by,
        }
        request_done = new_request is None or (request is not None and request >= new_request)
        if limit is not None and limit >= new_limit and request_done:
            return noop(f"memory limit of {p.container} is already {raw_limit}", ctx, **evidence)
        resources: dict[str, Any] = {}
        if limit is None or limit < new_limit:
            resources["limits"] = {"memory": p.new_limit}
        if not request_done:
            resources["requests"] = {"memory": p.new_request}
        patch = {
            "metadata": {"resourceVersion": _rv(obj)},
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": p.container, "resources": resources}]}
                }
            },
        }
        await writer.patch(
            kind,
            p.namespace,
            p.workload,
            patch,
            patch_kind=PatchKind.STRATEGIC,
            dry_run=ctx.dry_run,
        )
        change = f"raise the memory limit of {p.container} in {p.workload_kind} " + (
            f"{p.namespace}/{p.workload} from {raw_limit} to {p.new_limit}"
        )
        if p.new_request is not None and not request_done:
            change += f" (request {raw_request} -> {p.new_request})"
        if ctx.dry_run:
            return dry(change, **evidence)
        return done(change.replace("raise", "raised", 1), **evidence)

    return await retry_conflicts(ctx, attempt, what=what)


# -- requests and limits (right-sizing) ----------------------------------------------------


def _amount(resource: str, value: Any, what: str) -> float | None:
    """A quantity as a number (cores or bytes), None when unset."""
    if value is None:
        return None
    try:
        return parse_cpu(value) if resource == "cpu" else float(parse_memory(value))
    except QuantityError as e:
        raise PermanentError(f"{what}: unreadable {resource} quantity {value!r}: {e}") from e


def _same(resource: str, a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    tolerance = 1e-9 if resource == "cpu" else 0.5
    return abs(a - b) <= tolerance


def _check_request_within_limit(
    container: str, values: dict[tuple[str, str], float | None], what: str
) -> None:
    for resource in ("cpu", "memory"):
        request, limit = values.get(("requests", resource)), values.get(("limits", resource))
        if request is not None and limit is not None and request > limit:
            raise PermanentError(
                f"{what}: the {resource} request of {container} would exceed its limit"
            )


async def set_resources(ctx: Context, p: SetResources) -> ActionOutcome:
    """Strategic-merge new requests/limits of containers in the workload template.

    Each change says which value it was planned from: a value that is neither that one nor
    the new one changed since planning (a human or another tool), and the action refuses
    (``PermanentError``) rather than take a larger step than planned.
    """
    kind = _WORKLOAD_KINDS.get(p.workload_kind)
    what = f"resources of {p.workload_kind} {p.namespace}/{p.workload}"
    if kind is None:
        raise PermanentError(f"{what}: cannot patch the template of a {p.workload_kind}")
    if not p.changes:
        raise PermanentError(f"{what}: no change to make")
    for change in p.changes:
        if change.field not in ("requests", "limits") or change.resource not in ("cpu", "memory"):
            raise PermanentError(f"{what}: cannot set {change.field}.{change.resource}")
        new = _amount(change.resource, change.new, what)
        if new is None or new <= 0:
            raise PermanentError(f"{what}: invalid new value {change.new!r}")
    writer = ctx.writer

    async def attempt() -> ActionOutcome:
        obj = await writer.get(kind, p.namespace, p.workload)
        containers = {str(c.get("name")): c for c in _containers(dig(obj, "spec", "template"))}
        pending: list[ResourceChange] = []
        live: dict[str, dict[tuple[str, str], float | None]] = {}
        for change in p.changes:
            container = containers.get(change.container)
            if container is None:
                raise PermanentError(f"{what}: no container {change.container} in the template")
            values = live.setdefault(
                change.container,
                {
                    (f, r): _amount(r, dig(container, "resources", f, r), what)
                    for f in ("requests", "limits")
                    for r in ("cpu", "memory")
                },
            )
            now_value = values[(change.field, change.resource)]
            new = _amount(change.resource, change.new, what)
            if _same(change.resource, now_value, new):
                continue
            planned_from = _amount(change.resource, change.current, what)
            if not _same(change.resource, now_value, planned_from):
                raw = dig(container, "resources", change.field, change.resource)
                raise PermanentError(
                    f"{what}: {change.field}.{change.resource} of {change.container} is {raw}, "
                    f"not {change.current} as planned; the next recommendation re-plans"
                )
            values[(change.field, change.resource)] = new
            pending.append(change)
        summary = [
            f"{c.container} {c.field}.{c.resource}={c.current or '-'}->{c.new} (target {c.target})"
            for c in p.changes
        ]
        evidence: dict[str, Any] = {
            "changes": summary,
            "max_step_change": p.max_step_change,
            "final": p.final,
        }
        if not pending:
            return noop("requests and limits are already set", ctx, **evidence)
        for name, values in live.items():
            _check_request_within_limit(name, values, what)
        per_container: dict[str, dict[str, dict[str, str]]] = {}
        for change in pending:
            fields = per_container.setdefault(change.container, {})
            fields.setdefault(change.field, {})[change.resource] = change.new
        patch = {
            "metadata": {"resourceVersion": _rv(obj)},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": name, "resources": resources}
                            for name, resources in sorted(per_container.items())
                        ]
                    }
                }
            },
        }
        await writer.patch(
            kind,
            p.namespace,
            p.workload,
            patch,
            patch_kind=PatchKind.STRATEGIC,
            dry_run=ctx.dry_run,
        )
        moved = ", ".join(
            f"{c.container} {c.field}.{c.resource} {c.current or '-'} -> {c.new}" for c in pending
        )
        step = "final step" if p.final else "step"
        change_text = f"{p.workload_kind} {p.namespace}/{p.workload} ({step}): {moved}"
        if ctx.dry_run:
            return dry(f"right-size {change_text}", **evidence)
        return done(f"right-sized {change_text}", **evidence)

    return await retry_conflicts(ctx, attempt, what=what)


# -- replicas and HPA bounds ---------------------------------------------------------------


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


async def scale_out(ctx: Context, p: ScaleOut) -> ActionOutcome:
    """Raise spec.replicas, or the HPA's minReplicas/maxReplicas when ``p.hpa`` is set."""
    if p.hpa is not None:
        return await _scale_via_hpa(ctx, p, p.hpa)
    kind = _SCALABLE_KINDS.get(p.workload_kind)
    what = f"scale-out of {p.workload_kind} {p.namespace}/{p.workload}"
    if kind is None:
        raise PermanentError(f"{what}: a {p.workload_kind} cannot be scaled")
    if p.replicas < 1:
        raise PermanentError(f"{what}: invalid target of {p.replicas} replicas")
    writer = ctx.writer

    async def attempt() -> ActionOutcome:
        obj = await writer.get(kind, p.namespace, p.workload)
        current = _int(dig(obj, "spec", "replicas"), 1)
        evidence: dict[str, Any] = {"previous_replicas": current, "replicas": p.replicas}
        if current >= p.replicas:
            return noop(f"{p.workload} already wants {current} replicas", ctx, **evidence)
        patch = {"metadata": {"resourceVersion": _rv(obj)}, "spec": {"replicas": p.replicas}}
        await writer.patch(
            kind, p.namespace, p.workload, patch, patch_kind=PatchKind.MERGE, dry_run=ctx.dry_run
        )
        change = f"{p.workload_kind} {p.namespace}/{p.workload} from {current} to {p.replicas}"
        if ctx.dry_run:
            return dry(f"scale {change} replicas", **evidence)
        return done(f"scaled {change} replicas", **evidence)

    return await retry_conflicts(ctx, attempt, what=what)


async def _scale_via_hpa(ctx: Context, p: ScaleOut, hpa: str) -> ActionOutcome:
    what = f"scale-out of {p.namespace}/{p.workload} through HPA {hpa}"
    want_min = p.hpa_min_replicas if p.hpa_min_replicas is not None else p.replicas
    if want_min < 1:
        raise PermanentError(f"{what}: invalid minReplicas {want_min}")
    writer = ctx.writer

    async def attempt() -> ActionOutcome:
        obj = await writer.get(Kind.HPA, p.namespace, hpa)
        cur_min = _int(dig(obj, "spec", "minReplicas"), 1)
        cur_max = _int(dig(obj, "spec", "maxReplicas"), 0)
        want_max = max(p.hpa_max_replicas or 0, want_min, cur_max)
        evidence: dict[str, Any] = {
            "hpa": hpa,
            "previous_min_replicas": cur_min,
            "previous_max_replicas": cur_max,
            "min_replicas": max(cur_min, want_min),
            "max_replicas": want_max,
        }
        if cur_min >= want_min and cur_max >= want_max:
            return noop(
                f"HPA {hpa} already has minReplicas {cur_min}, maxReplicas {cur_max}",
                ctx,
                **evidence,
            )
        spec: dict[str, int] = {}
        if cur_min < want_min:
            spec["minReplicas"] = want_min
        if cur_max < want_max:
            spec["maxReplicas"] = want_max
        patch = {"metadata": {"resourceVersion": _rv(obj)}, "spec": spec}
        await writer.patch(
            Kind.HPA, p.namespace, hpa, patch, patch_kind=PatchKind.MERGE, dry_run=ctx.dry_run
        )
        change = (
            f"HPA {p.namespace}/{hpa} bounds from {cur_min}..{cur_max} to "
            f"{max(cur_min, want_min)}..{want_max}"
        )
        if ctx.dry_run:
            return dry(f"raise {change}", **evidence)
        return done(f"raised {change}", **evidence)

    return await retry_conflicts(ctx, attempt, what=what)


async def raise_hpa_max(ctx: Context, p: RaiseHpaMax) -> ActionOutcome:
    """Raise the HPA's maxReplicas to ``p.new_max`` (never lowers it)."""
    what = f"maxReplicas of HPA {p.namespace}/{p.hpa}"
    if p.new_max < 1:
        raise PermanentError(f"{what}: invalid maxReplicas {p.new_max}")
    writer = ctx.writer

    async def attempt() -> ActionOutcome:
        obj = await writer.get(Kind.HPA, p.namespace, p.hpa)
        current = _int(dig(obj, "spec", "maxReplicas"), 0)
        evidence: dict[str, Any] = {"previous_max_replicas": current, "max_replicas": p.new_max}
        if current >= p.new_max:
            return noop(f"HPA {p.hpa} maxReplicas is already {current}", ctx, **evidence)
        patch = {"metadata": {"resourceVersion": _rv(obj)}, "spec": {"maxReplicas": p.new_max}}
        await writer.patch(
            Kind.HPA, p.namespace, p.hpa, patch, patch_kind=PatchKind.MERGE, dry_run=ctx.dry_run
        )
        change = f"maxReplicas of HPA {p.namespace}/{p.hpa} from {current} to {p.new_max}"
        if ctx.dry_run:
            return dry(f"raise {change}", **evidence)
        return done(f"raised {change}", **evidence)

    return await retry_conflicts(ctx, attempt, what=what)


# -- PodDisruptionBudget -------------------------------------------------------------------


def _selects(pdb: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether the PDB's selector selects pods labelled ``labels`` (as the Eviction API sees
    it: a missing selector selects nothing, an empty one everything, a malformed one nothing)."""
    raw = dig(pdb, "spec", "selector")
    if not isinstance(raw, dict):
        return False
    try:
        selector = msgspec.convert(raw, LabelSelector)
    except msgspec.ValidationError:
        return False
    return selector_matches(selector, labels)


async def _pdbs_selecting(
    ctx: Context, namespace: str, labels: dict[str, str], *, other_than: str = ""
) -> list[dict[str, Any]]:
    """The PDBs of ``namespace``, listed now through the writer, that select ``labels``."""
    found = await ctx.writer.list(Kind.PDB, namespace)
    return [
        pdb
        for pdb in found
        if dig(pdb, "metadata", "name") != other_than
        and not dig(pdb, "metadata", "deletionTimestamp")
        and _selects(pdb, labels)
    ]


def _names(pdbs: list[dict[str, Any]]) -> list[str]:
    return sorted(str(dig(p, "metadata", "name") or "?") for p in pdbs)


async def create_pdb(ctx: Context, p: CreatePdb) -> ActionOutcome:
    """Create the PodDisruptionBudget ``p.name`` unless it exists, or unless another PDB now
    selects the workload's pods (re-listed right before the create: a PDB its owner applied
    since the plan was made wins, as two PDBs on one pod make it impossible to evict)."""
    what = f"PodDisruptionBudget {p.namespace}/{p.name}"
    if (p.max_unavailable is None) == (p.min_available is None):
        raise PermanentError(f"{what}: give exactly one of maxUnavailable and minAvailable")
    if not p.match_labels:
        raise PermanentError(f"{what}: an empty selector would cover every pod")
    writer = ctx.writer
    evidence: dict[str, Any] = {
        "pdb": p.name,
        "selector": [f"{k}={v}" for k, v in sorted(p.match_labels.items())],
    }
    try:
        await writer.get(Kind.PDB, p.namespace, p.name)
    except KubeNotFound:
        pass
    else:
        return noop(f"{what} already exists", ctx, **evidence)
    pod_labels = {**p.match_labels, **p.pod_labels}
    covering = _names(await _pdbs_selecting(ctx, p.namespace, pod_labels))
    if covering:
        evidence["covered_by"] = covering
        return noop(
            f"not creating {what}: PodDisruptionBudget {', '.join(covering)} already "
            "selects the workload's pods",
            ctx,
            **evidence,
        )
    spec: dict[str, Any] = {"selector": {"matchLabels": dict(p.match_labels)}}
    if p.max_unavailable is not None:
        spec["maxUnavailable"] = p.max_unavailable
        bound = f"maxUnavailable {p.max_unavailable}"
    else:
        spec["minAvailable"] = p.min_available
        bound = f"minAvailable {p.min_available}"
    evidence["bound"] = bound
    key, value = MANAGED_BY_KUBEHEAL
    body = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {
            "name": p.name,
            "namespace": p.namespace,
            "labels": {key: value},
            "annotations": {
                "kubeheal.io/incident": ctx.plan.incident_id,
                KUBEHEAL_KEY_ANNOTATION: ctx.plan.idempotency_key,
            },
        },
        "spec": spec,
    }
    try:
        await writer.create(Kind.PDB, p.namespace, body, dry_run=ctx.dry_run)
    except KubeConflict:
        return noop(f"{what} already exists", ctx, **evidence)
    if ctx.dry_run:
        return dry(f"create {what} with {bound}", **evidence)
    return done(f"created {what} with {bound}", **evidence)


async def delete_pdb(ctx: Context, p: DeletePdb) -> ActionOutcome:
    """Delete ``p.name`` if kubeheal created it and another PDB still selects the pods.

    Both are read again right before the delete: a PDB without kubeheal's label and key is
    never deleted (PermanentError), and kubeheal's stays while no other PDB selects the pods
    (no-op), so the workload is never left without one. Gone already: no-op.
    """
    what = f"PodDisruptionBudget {p.namespace}/{p.name}"
    writer = ctx.writer
    evidence: dict[str, Any] = {"pdb": p.name}
    try:
        pdb = await writer.get(Kind.PDB, p.namespace, p.name)
    except KubeNotFound:
        return noop(f"{what} is already gone", ctx, **evidence)
    labels = dig(pdb, "metadata", "labels") or {}
    annotations = dig(pdb, "metadata", "annotations") or {}
    if not kubeheal_made(labels, annotations):
        raise PermanentError(f"{what} was not created by kubeheal; kubeheal never deletes it")
    if not p.pod_labels:
        raise PermanentError(f"{what}: no pod labels to check the other PDBs against")
    others = _names(await _pdbs_selecting(ctx, p.namespace, dict(p.pod_labels), other_than=p.name))
    evidence["covered_by"] = others
    if not others:
        return noop(f"{what} stays: no other PodDisruptionBudget selects the pods", ctx, **evidence)
    try:
        await writer.delete(Kind.PDB, p.namespace, p.name, dry_run=ctx.dry_run)
    except KubeNotFound:
        return noop(f"{what} is already gone", ctx, **evidence)
    change = f"{what}, redundant next to {', '.join(others)}"
    if ctx.dry_run:
        return dry(f"delete {change}", **evidence)
    return done(f"deleted {change}", **evidence)

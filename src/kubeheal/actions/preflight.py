"""The last check before a write: the guards judged on the objects the API returns.

Planning judges a target by the cluster cache and by names that may come from untrusted
input (alert labels, playbooks). ``GuardedWriter`` wraps the executor's ``Writer`` for one
plan and re-checks every write, right before it is sent, on the objects read back::

    executor ──get──> GuardedWriter ──get──> API     (the read is remembered)
        │ patch/create/replace/delete/evict
        ▼
    names valid (DNS-1123)?  inside the plan target's namespace (or its node)?
    the plan target and the object written, as read back: the namespace/name asked for?
        not annotated kubeheal.io/disabled, not GitOps-owned for a persistent action?
    their Namespace: not excluded, not annotated kubeheal.io/disabled?
        │ all yes                         │ any no
        ▼                                 ▼
    the write goes out             PermanentError (nothing written)

The objects checked are those the executor itself read (its writes carry their
resourceVersion, so a change after the check answers 409 and the executor reads again), or
a fresh read. A Namespace that does not exist blocks nothing (the write then fails with 404);
any other failure to read it fails the action rather than guess. kubeheal's own records (its
Events, the node-maintenance Lease) skip the object guards; evictions of a drain are checked
by the drain itself (the node is the target, as for ``kubectl drain``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from kubeheal.actions.errors import PermanentError
from kubeheal.actions.protocol import Writer
from kubeheal.clients.kube import KubeNotFound
from kubeheal.clients.writer import Kind, PatchKind
from kubeheal.config import GuardSettings
from kubeheal.engine.facts import DISABLED_ANNOTATION, gitops_owner
from kubeheal.engine.guards import persistent
from kubeheal.engine.plan import ActionPlan
from kubeheal.model.cluster import ObjectMeta
from kubeheal.model.core import TargetKind
from kubeheal.model.names import NameKind, name_problem, shown

__all__ = ["GuardedWriter", "check_plan_names"]

_TARGET_KINDS: dict[TargetKind, Kind] = {
    TargetKind.DEPLOYMENT: Kind.DEPLOYMENT,
    TargetKind.STATEFULSET: Kind.STATEFULSET,
    TargetKind.DAEMONSET: Kind.DAEMONSET,
    TargetKind.REPLICASET: Kind.REPLICASET,
    TargetKind.NODE: Kind.NODE,
    TargetKind.POD: Kind.POD,
}
_OWN_RECORDS = frozenset({Kind.EVENT, Kind.LEASE})
_Key = tuple[Kind, str, str]


def _key(kind: Kind, namespace: str | None, name: str) -> _Key:
    return (kind, (namespace or "") if kind.namespaced else "", name)


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def check_plan_names(plan: ActionPlan) -> None:
    """``PermanentError`` when the plan's target has a namespace or name that is no valid
    Kubernetes name (whatever produced it: an alert, a playbook, a resumed ledger row)."""
    target = plan.target
    if target.namespace:
        problem = name_problem(target.namespace, NameKind.LABEL)
        if problem is not None:
            raise PermanentError(
                f"{plan.action.value}: target namespace {shown(target.namespace)} refused: "
                f"{problem}"
            )
    if target.kind is not TargetKind.CLUSTER:
        problem = name_problem(target.name, NameKind.SUBDOMAIN)
        if problem is not None:
            raise PermanentError(
                f"{plan.action.value}: target {target.kind.value} name {shown(target.name)} "
                f"refused: {problem}"
            )


class GuardedWriter:
    """A ``Writer`` for one plan that refuses writes the guards would block on the live
    objects (see the module docstring). Reads pass through and are remembered."""

    def __init__(self, writer: Writer, *, plan: ActionPlan, guards: GuardSettings) -> None:
        self._writer = writer
        self._plan = plan
        self._guards = guards
        self._read: dict[_Key, dict[str, Any]] = {}
        self._namespaces: dict[str, dict[str, Any] | None] = {}
        self._target_checked = False

    # -- reads

    async def get(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any]:
        self._within_scope(kind, namespace, name, op="read")
        obj = await self._writer.get(kind, namespace, name)
        self._same_object(kind, namespace, name, obj)
        self._read[_key(kind, namespace, name)] = obj
        return obj

    async def logs(
        self,
        namespace: str,
        name: str,
        *,
        container: str | None = None,
        previous: bool = False,
        tail_lines: int = 50,
    ) -> str:
        self._within_scope(Kind.POD, namespace, name, op="read")
        return await self._writer.logs(
            namespace, name, container=container, previous=previous, tail_lines=tail_lines
        )

    # -- writes

    async def patch(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        patch: dict[str, Any] | list[dict[str, Any]],
        *,
        patch_kind: PatchKind = PatchKind.STRATEGIC,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        await self._before_write(kind, namespace, name, existing=True)
        obj = await self._writer.patch(
            kind, namespace, name, patch, patch_kind=patch_kind, dry_run=dry_run
        )
        self._remember(kind, namespace, name, None if dry_run else obj)
        return obj

    async def create(
        self, kind: Kind, namespace: str | None, obj: dict[str, Any], *, dry_run: bool = False
    ) -> dict[str, Any]:
        meta = _meta(obj)
        name = str(meta.get("name") or "")
        where = namespace if namespace is not None else meta.get("namespace")
        await self._before_write(
            kind, str(where) if where is not None else None, name, existing=False
        )
        return await self._writer.create(kind, namespace, obj, dry_run=dry_run)

    async def replace(
        self, kind: Kind, namespace: str | None, obj: dict[str, Any], *, dry_run: bool = False
    ) -> dict[str, Any]:
        name = str(_meta(obj).get("name") or "")
        await self._before_write(kind, namespace, name, existing=True)
        replaced = await self._writer.replace(kind, namespace, obj, dry_run=dry_run)
        self._remember(kind, namespace, name, None if dry_run else replaced)
        return replaced

    async def delete(
        self, kind: Kind, namespace: str | None, name: str, *, dry_run: bool = False
    ) -> None:
        await self._before_write(kind, namespace, name, existing=True)
        await self._writer.delete(kind, namespace, name, dry_run=dry_run)
        self._remember(kind, namespace, name, None)

    async def evict(self, namespace: str, name: str, *, dry_run: bool = False) -> None:
        self._within_scope(Kind.POD, namespace, name, op="evict")
        await self._check_target()
        await self._writer.evict(namespace, name, dry_run=dry_run)

    async def list(
        self, kind: Kind, namespace: str | None, *, labels: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        target = self._plan.target
        if kind.namespaced and target.namespace and namespace != target.namespace:
            raise self._refuse(
                f"list of {kind.name.lower()} in {namespace or 'all namespaces'} leaves "
                f"namespace {target.namespace}"
            )
        if kind.namespaced and namespace is not None:
            problem = name_problem(namespace, NameKind.LABEL)
            if problem is not None:
                raise self._refuse(f"namespace {shown(namespace)}: {problem}")
        return await self._writer.list(kind, namespace, labels=labels)

    # -- the checks

    def _remember(
        self, kind: Kind, namespace: str | None, name: str, obj: dict[str, Any] | None
    ) -> None:
        """Keep what a write returned as the latest read of the object (forget it when the
        write returned nothing usable), so a second write needs no second read."""
        key = _key(kind, namespace, name)
        meta = _meta(obj) if isinstance(obj, dict) else {}
        same = meta.get("name") == name and (
            not kind.namespaced or meta.get("namespace") == namespace
        )
        if obj is not None and same:
            self._read[key] = obj
        else:
            self._read.pop(key, None)

    def _refuse(self, reason: str) -> PermanentError:
        plan = self._plan
        return PermanentError(
            f"{plan.action.value} on {plan.target}: refused before writing: {reason}"
        )

    def _within_scope(self, kind: Kind, namespace: str | None, name: str, *, op: str) -> None:
        """Names valid, and the request stays with the plan's target: its namespace for a
        namespaced target, the node itself (and pods anywhere, for a drain) for a node."""
        target = self._plan.target
        what = f"{kind.name.lower()} {namespace + '/' if namespace else ''}{name}"
        if kind.namespaced and namespace is not None:
            problem = name_problem(namespace, NameKind.LABEL)
            if problem is not None:
                raise self._refuse(f"namespace {shown(namespace)}: {problem}")
        problem = name_problem(name, NameKind.SUBDOMAIN)
        if problem is not None:
            raise self._refuse(f"{kind.name.lower()} name {shown(name)}: {problem}")
        if kind is Kind.LEASE:
            return
        if target.namespace:
            if kind.namespaced and namespace != target.namespace:
                raise self._refuse(f"{op} of {what} leaves namespace {target.namespace}")
            if not kind.namespaced and kind is not Kind.NAMESPACE:
                raise self._refuse(f"{op} of cluster-scoped {what} for a namespaced target")
        elif target.kind is TargetKind.NODE:
            if kind is Kind.NODE and name != target.name:
                raise self._refuse(f"{op} of {what} for node {target.name}")
            if kind.namespaced and kind not in (Kind.POD, Kind.EVENT):
                raise self._refuse(f"{op} of {what} for node {target.name}")

    def _same_object(self, kind: Kind, namespace: str | None, name: str, obj: Any) -> None:
        """The API returned the object asked for (not another one a path resolved to)."""
        meta = _meta(obj) if isinstance(obj, dict) else {}
        got = (str(meta.get("namespace") or "") if kind.namespaced else "", meta.get("name"))
        wanted = ((namespace or "") if kind.namespaced else "", name)
        if got != wanted:
            raise self._refuse(
                f"asked for {kind.name.lower()} {'/'.join(filter(None, wanted))}, the API "
                f"returned {shown('/'.join(str(p) for p in got if p))}"
            )

    async def _before_write(
        self, kind: Kind, namespace: str | None, name: str, *, existing: bool
    ) -> None:
        self._within_scope(kind, namespace, name, op="write")
        if kind in _OWN_RECORDS:
            return
        await self._check_target()
        if existing:
            obj = await self._object(kind, namespace, name)
            self._check_object(kind, obj, gitops=False)
        if kind.namespaced and namespace:
            await self._check_namespace(namespace)

    async def _object(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any]:
        cached = self._read.get(_key(kind, namespace, name))
        return cached if cached is not None else await self.get(kind, namespace, name)

    async def _check_target(self) -> None:
        """The plan's target as the API has it: once per plan, before its first write."""
        if self._target_checked:
            return
        target = self._plan.target
        if target.namespace:
            await self._check_namespace(target.namespace)
        kind = _TARGET_KINDS.get(target.kind)
        if kind is not None:
            try:
                obj = await self._object(kind, target.namespace or None, target.name)
            except KubeNotFound:
                obj = None  # gone: nothing on it to honour; the executor's own read says so
            if obj is not None:
                self._check_object(kind, obj, gitops=True)
        self._target_checked = True

    def _check_object(self, kind: Kind, obj: dict[str, Any], *, gitops: bool) -> None:
        meta = _meta(obj)
        where = "/".join(str(p) for p in (meta.get("namespace"), meta.get("name")) if p)
        name = f"{kind.name.lower()} {where}"
        annotations = meta.get("annotations") or {}
        if isinstance(annotations, dict) and annotations.get(DISABLED_ANNOTATION) == "true":
            raise self._refuse(f"{name} is annotated {DISABLED_ANNOTATION}=true")
        if not gitops or kind is Kind.NODE:
            return
        marks = {"labels": meta.get("labels") or {}, "annotations": meta.get("annotations") or {}}
        try:
            owned = gitops_owner(msgspec.convert(marks, ObjectMeta))
        except msgspec.ValidationError as e:
            raise self._refuse(f"{name} has unreadable metadata: {e}") from e
        params = self._plan.params
        escalate = self._guards.gitops_policy == "escalate"
        if owned is not None and (escalate or persistent(params)):
            raise self._refuse(f"{name} is managed by {owned}: commit the patch instead")

    async def _check_namespace(self, namespace: str) -> None:
        if namespace in self._guards.excluded_namespaces:
            raise self._refuse(f"namespace {namespace} is excluded")
        if namespace not in self._namespaces:
            try:
                found: dict[str, Any] | None = await self._writer.get(
                    Kind.NAMESPACE, None, namespace
                )
            except KubeNotFound:
                found = None
            if found is not None:
                self._same_object(Kind.NAMESPACE, None, namespace, found)
            self._namespaces[namespace] = found
        obj = self._namespaces[namespace]
        if obj is not None:
            self._check_object(Kind.NAMESPACE, obj, gitops=False)

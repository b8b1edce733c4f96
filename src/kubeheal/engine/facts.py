"""Small derived facts about targets that matching, guards and planning share.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from kubeheal.model.cluster import ClusterView, ObjectMeta
from kubeheal.model.core import Target, TargetKind

__all__ = [
    "DISABLED_ANNOTATION",
    "KUBEHEAL_KEY_ANNOTATION",
    "MANAGED_BY_KUBEHEAL",
    "disabled_by",
    "gitops_owner",
    "kubeheal_made",
    "last_rollout_at",
    "resolve_int_or_percent",
    "workload_replicas",
]

DISABLED_ANNOTATION = "kubeheal.io/disabled"
MANAGED_BY_KUBEHEAL = ("app.kubernetes.io/managed-by", "kubeheal")
"""The label kubeheal puts on every object it creates (e.g. a PodDisruptionBudget)."""
KUBEHEAL_KEY_ANNOTATION = "kubeheal.io/key"
"""The idempotency key of the action that created the object."""

_GITOPS_LABELS = (
    ("argocd.argoproj.io/instance", "Argo CD"),
    ("kustomize.toolkit.fluxcd.io/name", "Flux"),
    ("helm.toolkit.fluxcd.io/name", "Flux"),
)


def gitops_owner(meta: ObjectMeta | None) -> str | None:
    """ "Argo CD", "Flux" or "Helm" when those tools manage the object, else None."""
    if meta is None:
        return None
    for label, owner in _GITOPS_LABELS:
        if label in meta.labels:
            return owner
    if "argocd.argoproj.io/tracking-id" in meta.annotations:
        return "Argo CD"
    if meta.labels.get("app.kubernetes.io/managed-by") == "Helm":
        return "Helm"
    return None


def disabled_by(view: ClusterView, target: Target) -> str | None:
    """Where the ``kubeheal.io/disabled: "true"`` annotation stops kubeheal for ``target``
    (the object or its namespace), or None."""
    meta = view.workload_meta(target)
    if meta is not None and meta.annotations.get(DISABLED_ANNOTATION) == "true":
        return f"{target} is annotated {DISABLED_ANNOTATION}=true"
    if target.namespace:
        namespace = view.namespace(target.namespace)
        if (
            namespace is not None
            and namespace.metadata.annotations.get(DISABLED_ANNOTATION) == "true"
        ):
            return f"namespace {target.namespace} is annotated {DISABLED_ANNOTATION}=true"
    return None


def last_rollout_at(view: ClusterView, target: Target) -> datetime | None:
    """Creation time of a Deployment's newest ReplicaSet (its last rollout).

    None when there is no earlier revision: the first ReplicaSet is the Deployment's
    creation, not a rollout of a new template.
    """
    if target.kind is not TargetKind.DEPLOYMENT:
        return None
    sets = view.replica_sets_of(target.namespace, target.name)
    if len(sets) < 2:
        return None
    return sets[-1].metadata.creation_timestamp


def workload_replicas(view: ClusterView, target: Target) -> int:
    """Desired replicas of a Deployment, else the number of its pods."""
    dep = view.deployment_for(target)
    if dep is not None:
        return dep.replicas
    return len(view.pods_of(target))


def resolve_int_or_percent(value: int | str | None, total: int, *, round_up: bool) -> int | None:
    """An int-or-percent field resolved against ``total`` as Kubernetes does."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    text = value.strip()
    if text.endswith("%") and text[:-1].isdigit():
        scaled = int(text[:-1]) * total
        return -(-scaled // 100) if round_up else scaled // 100
    if text.isdigit():
        return int(text)
    return None


def kubeheal_made(labels: Mapping[str, str], annotations: Mapping[str, str]) -> bool:
    """Whether kubeheal created the object: it carries both the managed-by label and the
    creating action's key, as ``create_pdb`` writes them. Only such objects are ever deleted."""
    key, value = MANAGED_BY_KUBEHEAL
    return labels.get(key) == value and bool(annotations.get(KUBEHEAL_KEY_ANNOTATION))

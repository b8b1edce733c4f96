"""Which workload a pod belongs to, from kube-state-metrics' owner series.

``kube_pod_owner`` names a pod's controller (a ReplicaSet, StatefulSet, DaemonSet, Job, ...);
``kube_replicaset_owner`` names the Deployment behind a ReplicaSet. A pod without owner series
(kube-state-metrics not scraped, or the pod gone before it was seen) gets an owner guessed from
its name — ``web-5d9c7b8f6-x2k4q`` is Deployment ``web``, ``db-0`` StatefulSet ``db`` —
marked unverified, so that reports say so and no patch is written for it.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from kubeheal.finops.model import WorkloadRef

__all__ = ["OwnerIndex", "guess_owner"]

_DEPLOYMENT_POD = re.compile(r"^(?P<name>.+)-[a-z0-9]{6,10}-[a-z0-9]{5}$")
_STATEFUL_POD = re.compile(r"^(?P<name>.+)-\d+$")
_CRONJOB_JOB = re.compile(r"^(?P<name>.+)-\d{8,}$")
_NONE = ("", "<none>")


def guess_owner(namespace: str, pod: str) -> WorkloadRef:
    """The workload a pod name suggests (unverified), or the pod itself."""
    match = _DEPLOYMENT_POD.match(pod)
    if match:
        return WorkloadRef(namespace, "Deployment", match["name"], verified=False)
    match = _STATEFUL_POD.match(pod)
    if match:
        return WorkloadRef(namespace, "StatefulSet", match["name"], verified=False)
    return WorkloadRef(namespace, "Pod", pod, verified=False)


@dataclass
class OwnerIndex:
    """Owner series of one scope, resolving pods to workloads."""

    pod_owner: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    replicaset_owner: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    job_owner: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)

    def add_pod_owner(self, namespace: str, pod: str, kind: str, name: str) -> None:
        """One ``kube_pod_owner`` series; a controller owner wins over others."""
        key = (namespace, pod)
        if kind in _NONE:
            self.pod_owner.setdefault(key, ("", ""))
        else:
            self.pod_owner[key] = (kind, name)

    def add_replicaset_owner(self, namespace: str, replicaset: str, kind: str, name: str) -> None:
        """One ``kube_replicaset_owner`` series."""
        if kind not in _NONE:
            self.replicaset_owner[(namespace, replicaset)] = (kind, name)

    def add_job_owner(self, namespace: str, job: str, kind: str, name: str) -> None:
        """One ``kube_job_owner`` series (a CronJob's Jobs)."""
        if kind not in _NONE:
            self.job_owner[(namespace, job)] = (kind, name)

    @property
    def empty(self) -> bool:
        return not self.pod_owner

    def resolve(self, namespace: str, pod: str) -> WorkloadRef:
        """The workload of a pod: through its ReplicaSet or Job when needed."""
        owner = self.pod_owner.get((namespace, pod))
        if owner is None:
            return guess_owner(namespace, pod)
        kind, name = owner
        if not kind:
            return WorkloadRef(namespace, "Pod", pod)
        if kind == "ReplicaSet":
            parent = self.replicaset_owner.get((namespace, name))
            if parent is not None:
                return WorkloadRef(namespace, parent[0], parent[1])
            return WorkloadRef(namespace, "ReplicaSet", name)
        if kind == "Job":
            parent = self.job_owner.get((namespace, name))
            if parent is not None:
                return WorkloadRef(namespace, parent[0], parent[1])
            match = _CRONJOB_JOB.match(name)
            if match:
                return WorkloadRef(namespace, "CronJob", match["name"], verified=False)
            return WorkloadRef(namespace, "Job", name)
        return WorkloadRef(namespace, kind, name)

    def resolve_all(self, pods: Iterable[tuple[str, str]]) -> dict[tuple[str, str], WorkloadRef]:
        return {key: self.resolve(*key) for key in pods}

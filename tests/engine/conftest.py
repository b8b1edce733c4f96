"""Builders of Kubernetes API JSON for the engine tests, decoded through msgspec like the
reflector does, so the decode path is exercised by every test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from kubeheal.model.cluster import (
    Deployment,
    HorizontalPodAutoscaler,
    Namespace,
    Node,
    Pod,
    PodDisruptionBudget,
    ReplicaSet,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _decode(data: dict[str, Any], kind: type[Any]) -> Any:
    return msgspec.json.decode(msgspec.json.encode(data), type=kind)


class K8s:
    """Small factories of decoded objects; times are offsets from T0 (negative = past)."""

    T0 = T0

    @staticmethod
    def at(minutes: float = 0) -> datetime:
        return T0 + timedelta(minutes=minutes)

    @staticmethod
    def container_status(
        name: str = "app",
        *,
        ready: bool = True,
        restarts: int = 0,
        waiting: str | None = None,
        terminated: str | None = None,
        last_terminated: str | None = None,
        last_exit: int = 1,
        last_finished: float = -5,
        started: float = -30,
    ) -> dict[str, Any]:
        state: dict[str, Any] = {}
        if waiting:
            state["waiting"] = {"reason": waiting, "message": f"{waiting} message"}
        elif terminated:
            state["terminated"] = {"reason": terminated, "exitCode": 137}
        else:
            state["running"] = {"startedAt": iso(K8s.at(started))}
        status: dict[str, Any] = {
            "name": name,
            "ready": ready,
            "restartCount": restarts,
            "state": state,
            "image": "img",
        }
        if last_terminated:
            status["lastState"] = {
                "terminated": {
                    "reason": last_terminated,
                    "exitCode": last_exit,
                    "finishedAt": iso(K8s.at(last_finished)),
                }
            }
        return status

    @staticmethod
    def pod(
        name: str,
        *,
        ns: str = "shop",
        owner: tuple[str, str] | None = ("ReplicaSet", "web-2"),
        node: str = "n1",
        labels: dict[str, str] | None = None,
        phase: str = "Running",
        ready: bool = True,
        ready_since: float = -60,
        statuses: list[dict[str, Any]] | None = None,
        memory_limit: str | None = "256Mi",
        created: float = -60,
        scheduled: tuple[str, str, float] | None = None,
        deleting: bool = False,
    ) -> Pod:
        conditions: list[dict[str, Any]] = [
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "lastTransitionTime": iso(K8s.at(ready_since)),
            }
        ]
        if scheduled is not None:
            status_, reason, since = scheduled
            conditions.append(
                {
                    "type": "PodScheduled",
                    "status": status_,
                    "reason": reason,
                    "message": "0/3 nodes are available",
                    "lastTransitionTime": iso(K8s.at(since)),
                }
            )
        resources: dict[str, Any] = {"requests": {"cpu": "100m", "memory": "128Mi"}}
        if memory_limit:
            resources["limits"] = {"memory": memory_limit}
        meta: dict[str, Any] = {
            "name": name,
            "namespace": ns,
            "uid": f"uid-{name}",
            "labels": labels if labels is not None else {"app": "web"},
            "creationTimestamp": iso(K8s.at(created)),
            "resourceVersion": "7",
        }
        if owner is not None:
            meta["ownerReferences"] = [
                {"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1], "controller": True}
            ]
        if deleting:
            meta["deletionTimestamp"] = iso(K8s.at(-1))
        data = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": {
                "nodeName": node,
                "containers": [{"name": "app", "image": "web:2", "resources": resources}],
                "restartPolicy": "Always",
            },
            "status": {
                "phase": phase,
                "conditions": conditions,
                "containerStatuses": statuses
                if statuses is not None
                else [K8s.container_status(ready=ready)],
                "startTime": iso(K8s.at(created)),
            },
        }
        return _decode(data, Pod)

    @staticmethod
    def deployment(
        name: str = "web",
        *,
        ns: str = "shop",
        replicas: int | None = 3,
        revision: int = 2,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
        memory_limit: str | None = "256Mi",
        memory_request: str = "128Mi",
        conditions: list[dict[str, Any]] | None = None,
        max_unavailable: int | str | None = None,
        created: float | None = None,
    ) -> Deployment:
        resources: dict[str, Any] = {"requests": {"memory": memory_request}}
        if memory_limit:
            resources["limits"] = {"memory": memory_limit}
        spec: dict[str, Any] = {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [{"name": "app", "image": f"{name}:2", "resources": resources}]
                },
            },
        }
        if replicas is not None:
            spec["replicas"] = replicas
        if max_unavailable is not None:
            spec["strategy"] = {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": max_unavailable, "maxSurge": "25%"},
            }
        notes = {"deployment.kubernetes.io/revision": str(revision)}
        notes.update(annotations or {})
        meta: dict[str, Any] = {
            "name": name,
            "namespace": ns,
            "generation": 4,
            "labels": labels or {},
            "annotations": notes,
        }
        if created is not None:
            meta["creationTimestamp"] = iso(K8s.at(created))
        data = {
            "metadata": meta,
            "spec": spec,
            "status": {
                "observedGeneration": 4,
                "replicas": replicas or 1,
                "readyReplicas": replicas or 1,
                "conditions": conditions or [],
            },
        }
        return _decode(data, Deployment)

    @staticmethod
    def replica_set(
        name: str,
        *,
        deployment: str = "web",
        ns: str = "shop",
        revision: int,
        created: float,
        image: str | None = None,
        replicas: int = 0,
    ) -> ReplicaSet:
        data = {
            "metadata": {
                "name": name,
                "namespace": ns,
                "creationTimestamp": iso(K8s.at(created)),
                "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": deployment,
                        "controller": True,
                    }
                ],
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": deployment}},
                "template": {
                    "metadata": {"labels": {"app": deployment}},
                    "spec": {
                        "containers": [
                            {"name": "app", "image": image or f"{deployment}:{revision}"}
                        ]
                    },
                },
            },
            "status": {"replicas": replicas, "readyReplicas": replicas},
        }
        return _decode(data, ReplicaSet)

    @staticmethod
    def node(
        name: str = "n1",
        *,
        ready: str = "True",
        ready_since: float = -600,
        memory_pressure: bool = False,
        disk_pressure: bool = False,
        allocatable_memory: str = "8Gi",
        unschedulable: bool = False,
    ) -> Node:
        conditions = [
            {
                "type": "Ready",
                "status": ready,
                "reason": "KubeletReady" if ready == "True" else "NodeStatusUnknown",
                "lastTransitionTime": iso(K8s.at(ready_since)),
            },
            {
                "type": "MemoryPressure",
                "status": "True" if memory_pressure else "False",
                "reason": "KubeletHasInsufficientMemory"
                if memory_pressure
                else "KubeletHasSufficientMemory",
            },
            {"type": "DiskPressure", "status": "True" if disk_pressure else "False"},
        ]
        data = {
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {"unschedulable": unschedulable, "taints": []},
            "status": {
                "conditions": conditions,
                "allocatable": {"cpu": "3900m", "memory": allocatable_memory, "pods": "110"},
                "capacity": {"cpu": "4", "memory": allocatable_memory},
            },
        }
        return _decode(data, Node)

    @staticmethod
    def pdb(
        name: str = "web-pdb",
        *,
        ns: str = "shop",
        match_labels: dict[str, str] | None = None,
        disruptions_allowed: int = 1,
        max_unavailable: int | str = 1,
        kubeheal_made: bool = False,
    ) -> PodDisruptionBudget:
        meta: dict[str, Any] = {"name": name, "namespace": ns}
        if kubeheal_made:  # as create_pdb writes it
            meta["labels"] = {"app.kubernetes.io/managed-by": "kubeheal"}
            meta["annotations"] = {"kubeheal.io/incident": "i-1", "kubeheal.io/key": "k-1"}
        data = {
            "metadata": meta,
            "spec": {
                "selector": {"matchLabels": match_labels or {"app": "web"}},
                "maxUnavailable": max_unavailable,
            },
            "status": {
                "currentHealthy": 3,
                "desiredHealthy": 2,
                "disruptionsAllowed": disruptions_allowed,
                "expectedPods": 3,
            },
        }
        return _decode(data, PodDisruptionBudget)

    @staticmethod
    def hpa(
        name: str = "web",
        *,
        ns: str = "shop",
        target: str = "web",
        min_replicas: int | None = 2,
        max_replicas: int = 6,
        current: int = 6,
        desired: int = 6,
        scaling_limited: str | None = "True",
    ) -> HorizontalPodAutoscaler:
        spec: dict[str, Any] = {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "maxReplicas": max_replicas,
        }
        if min_replicas is not None:
            spec["minReplicas"] = min_replicas
        conditions = []
        if scaling_limited is not None:
            conditions.append(
                {"type": "ScalingLimited", "status": scaling_limited, "reason": "TooManyReplicas"}
            )
        data = {
            "apiVersion": "autoscaling/v2",
            "metadata": {"name": name, "namespace": ns},
            "spec": spec,
            "status": {
                "currentReplicas": current,
                "desiredReplicas": desired,
                "conditions": conditions,
            },
        }
        return _decode(data, HorizontalPodAutoscaler)

    @staticmethod
    def namespace(name: str, *, annotations: dict[str, str] | None = None) -> Namespace:
        return _decode({"metadata": {"name": name, "annotations": annotations or {}}}, Namespace)


@pytest.fixture
def k8s() -> type[K8s]:
    return K8s

"""Intake: the watched kinds, the cache they fill, and the signals their objects show.

``WATCHED`` is the one table of what the operator watches: for each resource its API path,
its model type and how it enters and leaves the `LiveClusterView`. The detectors are the
engine's table (`kubeheal.engine.detect.DETECTORS`, by the same resource names): a watch
event runs the detector of the object it touched (`on_event`), a sweep runs every detector
over the whole cache (`sweep`), yielding to the event loop so watch events never wait long.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubeheal.clients.reflector import CacheEvent
from kubeheal.config.settings import DetectionSettings
from kubeheal.engine.detect import DETECTORS, distinct_sorted
from kubeheal.model.cluster import (
    ClusterView,
    Compactor,
    Deployment,
    HorizontalPodAutoscaler,
    LiveClusterView,
    Namespace,
    Node,
    ObjectMeta,
    Pod,
    PodDisruptionBudget,
    ReplicaSet,
)
from kubeheal.model.core import Signal

__all__ = ["WATCHED", "Watched", "on_event", "sweep"]


@dataclass(frozen=True)
class Watched:
    """One watched resource: where it is served and how it enters and leaves the cache."""

    resource: str
    group: str
    version: str
    item_type: type[Any]
    upsert: Callable[[LiveClusterView, Any], None]
    remove: Callable[[LiveClusterView, ObjectMeta], None]
    compaction: Callable[[Compactor], Callable[[Any], Any]] | None = None
    """How the cache shares repeated values of this resource (see ``Compactor``)."""


WATCHED: tuple[Watched, ...] = (
    Watched("namespaces", "", "v1", Namespace, LiveClusterView.upsert_namespace,
            lambda v, m: v.remove_namespace(m.name)),
    Watched("nodes", "", "v1", Node, LiveClusterView.upsert_node,
            lambda v, m: v.remove_node(m.name), lambda c: c.node),
    Watched("deployments", "apps", "v1", Deployment, LiveClusterView.upsert_deployment,
            lambda v, m: v.remove_deployment(m.namespace, m.name), lambda c: c.deployment),
    Watched("replicasets", "apps", "v1", ReplicaSet, LiveClusterView.upsert_replica_set,
            lambda v, m: v.remove_replica_set(m.namespace, m.name), lambda c: c.replica_set),
    Watched("poddisruptionbudgets", "policy", "v1", PodDisruptionBudget,
            LiveClusterView.upsert_pdb, lambda v, m: v.remove_pdb(m.namespace, m.name)),
    Watched("horizontalpodautoscalers", "autoscaling", "v2", HorizontalPodAutoscaler,
            LiveClusterView.upsert_hpa, lambda v, m: v.remove_hpa(m.namespace, m.name)),
    Watched("pods", "", "v1", Pod, LiveClusterView.upsert_pod,
            lambda v, m: v.remove_pod(m.namespace, m.name), lambda c: c.pod),
)  # fmt: skip
"""Owners before pods: the operator waits for each to sync, so every pod's owner resolves."""

_BY_RESOURCE = {w.resource: w for w in WATCHED}


def on_event(
    view: LiveClusterView,
    resource: str,
    event: CacheEvent[Any],
    *,
    now: datetime,
    settings: DetectionSettings,
    detect: bool,
) -> list[Signal]:
    """Apply a watch event to ``view``; with ``detect``, the signals of the object it left.

    ``detect`` is off until every cache has synced: a detector could see a Deployment
    without its PDB or ReplicaSets and report a problem that does not exist (the first
    sweep after the sync looks at everything)."""
    obj = event.new if event.new is not None else event.old
    if obj is None:
        return []
    watched = _BY_RESOURCE[resource]
    if event.type == "DELETED":
        watched.remove(view, obj.metadata)
        return []
    watched.upsert(view, obj)
    detector = DETECTORS.get(resource)
    if detector is None or not detect:
        return []
    return detector.run(view, obj, now, settings)


async def sweep(
    view: ClusterView, *, now: datetime, settings: DetectionSettings, chunk: int = 500
) -> list[Signal]:
    """What `kubeheal.engine.detect.detect` finds, but yielding to the event loop every
    ``chunk`` objects: a sweep of 150,000 pods takes about a second, and watch events must
    not wait for it. A pod replaced while the sweep yielded is skipped (its own event ran
    the detectors)."""
    found: list[Signal] = []
    for detector in DETECTORS.values():
        for i, obj in enumerate(detector.objects(view)):
            if i % chunk == chunk - 1:
                await asyncio.sleep(0)
            if isinstance(obj, Pod):
                meta = obj.metadata
                if view.pod(meta.namespace, meta.name) is not obj:
                    continue
            found.extend(detector.run(view, obj, now, settings))
    return distinct_sorted(found)

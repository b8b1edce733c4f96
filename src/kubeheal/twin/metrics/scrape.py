"""What one scrape of the twin's `/metrics` reads: the store and the runtime under the
store's lock, the time of the scrape, and the samples collected so far.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kubeheal.twin.metrics.exposition import Exposition, Obj
from kubeheal.twin.sim.state import RuntimeState
from kubeheal.twin.store import ObjectStore

__all__ = ["PodInfo", "Scrape"]


@dataclass(slots=True)
class PodInfo:
    """A pod of the scrape and its labels."""

    obj: Obj
    labels: dict[str, str]


class Scrape:
    """The state one scrape shares between the exporters it renders."""

    def __init__(self, store: ObjectStore, runtime: RuntimeState, now: float) -> None:
        self.store = store
        self.runtime = runtime
        self.now = now
        self.expo = Exposition()
        self.pods_by_uid: dict[str, PodInfo] = {}  # filled by the pods' kube-state-metrics
        self.node_cpus: dict[str, int] = {}  # filled by the nodes' kube-state-metrics
        self.node_kernel: dict[str, str] = {}

    def _objects(self, group: str, version: str, plural: str) -> Iterable[Obj]:
        rtype = self.store.rtype(group, version, plural)
        for stored in self.store.iter_stored(rtype):
            yield stored.obj()

    def _pod_sort_key(self, uid: str) -> tuple[str, str, str]:
        info = self.pods_by_uid.get(uid)
        if info is None:
            return ("", "", uid)
        meta = info.obj["metadata"]
        return (str(meta.get("namespace", "")), str(meta["name"]), uid)

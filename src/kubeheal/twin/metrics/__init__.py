"""The twin's Prometheus `/metrics`, named and labelled as the real exporters do.

One scrape renders, in the text exposition format 0.0.4:

* kube-state-metrics v2 series derived from the API objects in the `ObjectStore` (pods,
  containers, deployments, replicasets, nodes, HPAs, PVs, PVCs, PDBs, namespaces);
* cAdvisor series (as the kubelet serves them on `/metrics/cadvisor`) for every running
  container, from `RuntimeState`;
* node-exporter series for every node, from `RuntimeState.nodes`;
* the kubelet's volume statistics for PVCs mounted by running pods;
* the apps' own golden signals (`http_requests_total`, `http_request_duration_seconds`).

Rules and dashboards written for a real cluster therefore work when a real Prometheus scrapes
the twin. Every series carries the labels the real target would have had (`namespace`, `pod`,
`node`, and `instance` for node-exporter), so scrape the twin with `honor_labels: true`.

Only reads the store and the runtime: no I/O, no clock (the time comes in as `now`). The one
piece of state is the optional `CounterMemory`, which keeps pod-level counters (the pod
sandbox's network traffic) monotonic when one of the pod's containers restarts.

Rooms: `exposition` (the family catalogue, the text format, quantity and label helpers),
`scrape` (what one scrape shares), `kube_state` (series from the API objects), `runtime`
(cAdvisor, kubelet volume statistics, node-exporter, golden signals, `CounterMemory`).
"""

from __future__ import annotations

from kubeheal.twin.metrics.exposition import (
    FAMILIES,
    PAUSE_IMAGE,
    PVC_USED_BYTES_ANNOTATION,
    MetricFamily,
    metrics_content_type,
)
from kubeheal.twin.metrics.kube_state import KubeStateMetrics
from kubeheal.twin.metrics.runtime import CounterMemory, RuntimeMetrics
from kubeheal.twin.sim.state import RuntimeState
from kubeheal.twin.store import ObjectStore

__all__ = [
    "FAMILIES",
    "PAUSE_IMAGE",
    "PVC_USED_BYTES_ANNOTATION",
    "CounterMemory",
    "MetricFamily",
    "metrics_content_type",
    "render_metrics",
]


class _Renderer(KubeStateMetrics, RuntimeMetrics):
    """Every exporter of one scrape."""


def render_metrics(
    *,
    store: ObjectStore,
    runtime: RuntimeState,
    now: float,
    memory: CounterMemory | None = None,
) -> bytes:
    """One scrape of the twin's metrics, in the Prometheus text format 0.0.4.

    Families come in `FAMILIES` order, series in object key order (namespace/name), so two
    renders of the same state are byte-identical. Holds the store's lock while reading, so
    the simulation cannot change the cluster half-way through a scrape. Pass the same
    `memory` to every call to keep pod network counters monotonic across container restarts.
    """
    with store.lock:
        renderer = _Renderer(store, runtime, now)
        renderer.namespaces()
        renderer.nodes()
        renderer.pods()
        renderer.deployments()
        renderer.replicasets()
        renderer.hpas()
        renderer.pdbs()
        renderer.volumes()
        renderer.containers(memory)
        renderer.volume_stats()
        renderer.node_exporter()
        renderer.golden_signals()
        return renderer.expo.render()

"""One detector table: the engine's `detect`, the runtime's sweep and its watch events all
run `DETECTORS`, so what a sweep finds is what the pure `detect` finds."""

from __future__ import annotations

from typing import Any

from kubeheal.clients.reflector import CacheEvent
from kubeheal.config import DetectionSettings
from kubeheal.engine.detect import DETECTORS, detect
from kubeheal.model import ClusterView, SignalKind
from kubeheal.model.cluster import LiveClusterView
from kubeheal.runtime import intake

S = DetectionSettings()


def _busy_view(k8s: Any) -> ClusterView:
    crash = [
        k8s.container_status(
            ready=False, restarts=9, waiting="CrashLoopBackOff", last_terminated="Error"
        )
    ]
    pods = [k8s.pod(f"web-2-{c}", ready=False, statuses=crash) for c in "abcde"]
    nodes = [k8s.node("n1", ready="False", ready_since=-5), k8s.node("n2", memory_pressure=True)]
    return ClusterView(
        pods=pods,
        deployments=[k8s.deployment(replicas=3, created=-60)],
        replica_sets=[k8s.replica_set("web-2", revision=2, created=-120)],
        nodes=nodes,
        pdbs=[],
        hpas=[k8s.hpa()],
    )


def test_every_detector_reads_a_watched_resource() -> None:
    watched = {w.resource for w in intake.WATCHED}
    assert list(DETECTORS) == ["pods", "deployments", "nodes", "horizontalpodautoscalers"]
    assert set(DETECTORS) <= watched
    assert all(d.resource == name for name, d in DETECTORS.items())


async def test_the_sweep_finds_what_detect_finds_while_yielding(k8s: Any) -> None:
    view = _busy_view(k8s)
    expected = detect(view, now=k8s.T0, settings=S)
    kinds = {s.kind for s in expected}
    assert {SignalKind.CRASH_LOOP_BACK_OFF, SignalKind.NODE_NOT_READY} <= kinds
    assert {SignalKind.HPA_MAXED_OUT, SignalKind.PDB_MISSING} <= kinds
    # chunk=2: the sweep yields to the event loop between every two objects
    assert await intake.sweep(view, now=k8s.T0, settings=S, chunk=2) == expected


def test_a_watch_event_updates_the_cache_and_runs_its_resource_detector(k8s: Any) -> None:
    view = LiveClusterView()
    node = k8s.node("n1", ready="False", ready_since=-5)
    added = CacheEvent(type="ADDED", key="n1", new=node, old=None)

    before_sync = intake.on_event(view, "nodes", added, now=k8s.T0, settings=S, detect=False)
    assert before_sync == [] and view.node("n1") is node

    signals = intake.on_event(view, "nodes", added, now=k8s.T0, settings=S, detect=True)
    assert [s.kind for s in signals] == [SignalKind.NODE_NOT_READY]
    assert signals == detect(view, now=k8s.T0, settings=S)

    namespace = k8s.namespace("shop")
    event = CacheEvent(type="ADDED", key="shop", new=namespace, old=None)
    assert intake.on_event(view, "namespaces", event, now=k8s.T0, settings=S, detect=True) == []
    assert view.namespace("shop") is namespace

    gone = CacheEvent(type="DELETED", key="n1", new=None, old=node)
    assert intake.on_event(view, "nodes", gone, now=k8s.T0, settings=S, detect=True) == []
    assert view.node("n1") is None

"""The game day: the mission's chaos experiments, against the cluster twin's sample workloads.

Five experiments on the ``sample-app+bookinfo`` scenario, in two phases (workload faults run
side by side on different workloads; the node fault runs alone, since it moves everyone's
pods):

==================  ========================================================  =============
experiment          fault                                                     kubeheal must
==================  ========================================================  =============
pod-delete          30 % of sample-app's pods deleted every 10 s for 300 s   (either)
network-latency     2000 ms network latency on 50 % of the reviews pods       act
cpu-hog             a 2-core CPU hog on 25 % of productpage's pods            (either)
oom-leak            ratings leaks 4 MiB/s for 240 s (OOMKilled at 256Mi)      act
node-pressure       worker-2 loses its free memory for 180 s (MemoryPressure) act
==================  ========================================================  =============

Every experiment expects recovery within the mission's 3 minutes (``MISSION_MTTR``), measured
from the fault's first injection. ``scale`` shortens every fault (tests); the expectations
stay as they are.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kubeheal.chaos.spec import Experiment, parse_experiment

__all__ = ["GAMEDAY_SCENARIO", "MISSION_MTTR", "gameday_phases"]

GAMEDAY_SCENARIO = "sample-app+bookinfo"
MISSION_MTTR = timedelta(minutes=3)


def _ready(name: str, namespace: str, deployment: str, minimum: int) -> dict[str, Any]:
    return {
        "name": name,
        "kubernetes": {
            "workload": {"namespace": namespace, "name": deployment},
            "min_ready": minimum,
        },
        "tolerance": 1,
    }


def _pods(name: str, namespace: str, app: str, count: int) -> dict[str, Any]:
    return {
        "name": name,
        "kubernetes": {"namespace": namespace, "labels": {"app": app}, "min_pods": count},
        "tolerance": 1,
    }


def gameday_phases(*, scale: float = 1.0) -> list[list[Experiment]]:
    """The game day's experiments, grouped in phases that run one after the other (the
    experiments of a phase run at the same time)."""
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1], got {scale}")
    mttr = int(MISSION_MTTR.total_seconds())

    def secs(value: float) -> str:
        return f"{max(10.0, value * scale):.0f}s"

    settings = {"probe_interval": "5s", "stable_for": "20s", "observe_after": secs(300)}
    raw: list[list[dict[str, Any]]] = [
        [
            {
                "name": "pod-delete",
                "description": "30% of sample-app's pods are deleted every 10 s for 300 s",
                "steady_state": [_ready("sample-app-serving", "demo", "sample-app", 1)],
                "method": [
                    {
                        "name": "delete-30pct",
                        "fault": "pod-delete",
                        "target": {
                            "namespace": "demo",
                            "labels": {"app": "sample-app"},
                            "share": 0.3,
                        },
                        "duration": secs(300),
                        "interval": "10s",
                        "expect": {"max_recover": f"{mttr}s"},
                    }
                ],
                "settings": settings,
            },
            {
                "name": "network-latency",
                "description": "2000 ms of network latency on 50% of the reviews pods "
                "(their probes time out: 1 s timeout)",
                "steady_state": [_pods("reviews-ready", "bookinfo", "reviews", 3)],
                "method": [
                    {
                        "name": "latency-2000ms",
                        "fault": "pod-network-latency",
                        "target": {
                            "namespace": "bookinfo",
                            "labels": {"app": "reviews"},
                            "share": 0.5,
                        },
                        "latency": "2000ms",
                        "duration": secs(300),
                        "expect": {"max_recover": f"{mttr}s", "kubeheal_acts": True},
                    }
                ],
                "settings": {**settings, "seed": 1},
            },
            {
                "name": "cpu-hog",
                "description": "a 2-core CPU hog in 25% of productpage's pods",
                "steady_state": [_ready("productpage-serving", "bookinfo", "productpage-v1", 1)],
                "method": [
                    {
                        "name": "hog-2-cores",
                        "fault": "pod-cpu-hog",
                        "target": {
                            "namespace": "bookinfo",
                            "labels": {"app": "productpage"},
                            "share": 0.25,
                        },
                        "cores": 2,
                        "duration": secs(300),
                        "expect": {"max_recover": f"{mttr}s"},
                    }
                ],
                "settings": settings,
            },
            {
                "name": "oom-leak",
                "description": "ratings leaks 4 MiB/s: OOMKilled at its 256Mi limit",
                "steady_state": [_ready("ratings-serving", "bookinfo", "ratings-v1", 1)],
                "method": [
                    {
                        "name": "leak-4mib-s",
                        "fault": "memory-leak",
                        "target": {"namespace": "bookinfo", "deployment": "ratings-v1"},
                        "bytes_per_second": 4 * 2**20,
                        "duration": secs(240),
                        "expect": {"max_recover": f"{mttr}s", "kubeheal_acts": True},
                    }
                ],
                "settings": settings,
            },
        ],
        [
            {
                "name": "node-pressure",
                "description": "worker-2 loses its free memory to a process outside Kubernetes",
                "steady_state": [
                    _ready("sample-app-ready", "demo", "sample-app", 3),
                    _pods("bookinfo-ready", "bookinfo", "reviews", 3),
                ],
                "method": [
                    {
                        "name": "memory-pressure",
                        "fault": "node-memory-pressure",
                        "target": {"name": "worker-2"},
                        "duration": secs(180),
                        "expect": {"max_recover": f"{mttr}s", "kubeheal_acts": True},
                    }
                ],
                "rollbacks": [{"action": "uncordon", "node": "worker-2"}],
                "settings": settings,
            },
        ],
    ]
    return [[parse_experiment(e, source=f"gameday/{e['name']}") for e in phase] for phase in raw]

"""The game day: the mission's chaos experiments, against the cluster twin's sample workloads.

Twelve experiments on the ``sample-app+bookinfo`` scenario, in five phases (workload faults
run side by side on different workloads; each node fault runs alone, since it moves
everyone's pods):

==================  ========================================================  =============
experiment          fault                                                     kubeheal must
==================  ========================================================  =============
pod-delete          30 % of sample-app's pods deleted every 10 s for 300 s   (either)
network-latency     2000 ms network latency on 50 % of the reviews pods       act
cpu-hog             a 2-core CPU hog on 25 % of productpage's pods            (either)
oom-leak            ratings leaks 4 MiB/s for 240 s (OOMKilled at 256Mi)      act
bad-rollout         sample-app rolled out with an image that crashes          act
image-pull-error    details rolled out with an image no registry has          act
traffic-4x          4x the traffic on productpage                             (either)
app-hang            reviews-v3 hangs 20 s after each start                    escalate
http-500-burst      60 % of ratings' requests fail with 500                   escalate
node-pressure       worker-2 loses its free memory for 180 s (MemoryPressure) act
node-disk-pressure  worker-1's disk fills up for 180 s (DiskPressure)         escalate
node-not-ready      worker-2's kubelet stops for 400 s                        act
==================  ========================================================  =============

The node faults after the first judge the steady state by Deployments' ready replicas (the
pods a kubelet evicted stay behind as Failed pods when nothing deletes them). Every fault
with a fix expects recovery within the mission's 3 minutes (``MISSION_MTTR``),
measured from the fault's first injection; a fault with no safe fix expects an escalation
within 60 s. ``scale`` shortens every fault (tests); the expectations stay as they are.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from kubeheal.chaos.spec import Experiment, parse_experiment

__all__ = ["GAMEDAY_SCENARIO", "MISSION_MTTR", "gameday_names", "gameday_phases"]

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


def gameday_phases(
    *, scale: float = 1.0, only: Iterable[str] | None = None
) -> list[list[Experiment]]:
    """The game day's experiments, grouped in phases that run one after the other (the
    experiments of a phase run at the same time); ``only`` keeps the named ones."""
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
                "name": "bad-rollout",
                "description": "a new sample-app image that crashes on start is rolled out",
                "steady_state": [_ready("sample-app-serving", "demo", "sample-app", 3)],
                "method": [
                    {
                        "name": "crashing-image",
                        "fault": "bad-rollout",
                        "target": {"namespace": "demo", "name": "sample-app"},
                        "duration": secs(300),
                        "expect": {"max_recover": f"{mttr}s", "kubeheal_acts": True},
                    }
                ],
                "settings": settings,
            },
            {
                "name": "image-pull-error",
                "description": "details is rolled out with an image no registry has",
                "steady_state": [_ready("details-serving", "bookinfo", "details-v1", 1)],
                "method": [
                    {
                        "name": "missing-image",
                        "fault": "image-pull-error",
                        "target": {"namespace": "bookinfo", "name": "details-v1"},
                        "duration": secs(300),
                        "expect": {"max_recover": f"{mttr}s", "kubeheal_acts": True},
                    }
                ],
                "settings": settings,
            },
            {
                "name": "traffic-4x",
                "description": "4x the traffic on productpage (its HPA may add replicas)",
                "steady_state": [_ready("productpage-serving", "bookinfo", "productpage-v1", 1)],
                "method": [
                    {
                        "name": "traffic-x4",
                        "fault": "traffic-spike",
                        "service": "productpage",
                        "target": {"namespace": "bookinfo", "labels": {"app": "productpage"}},
                        "multiplier": 4,
                        "duration": secs(300),
                        "expect": {"max_recover": f"{mttr}s"},
                    }
                ],
                "settings": settings,
            },
            {
                "name": "app-hang",
                "description": "reviews-v3 stops answering 20 s after each start "
                "(no safe fix: kubeheal must escalate)",
                "steady_state": [_ready("reviews-v3-serving", "bookinfo", "reviews-v3", 1)],
                "method": [
                    {
                        "name": "hang-after-start",
                        "fault": "pod-hang",
                        "target": {"namespace": "bookinfo", "deployment": "reviews-v3"},
                        "after": "20s",
                        "duration": secs(300),
                        "expect": {"max_escalate": "60s"},
                    }
                ],
                "settings": settings,
            },
            {
                "name": "http-500-burst",
                "description": "60% of ratings' requests fail with HTTP 500 "
                "(no safe fix: kubeheal must escalate)",
                "steady_state": [_ready("ratings-serving", "bookinfo", "ratings-v1", 1)],
                "method": [
                    {
                        "name": "errors-60pct",
                        "fault": "pod-http-errors",
                        "target": {"namespace": "bookinfo", "deployment": "ratings-v1"},
                        "error_rate": 0.6,
                        "duration": secs(300),
                        "expect": {"max_escalate": "60s"},
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
        [
            {
                "name": "node-disk-pressure",
                "description": "worker-1's disk fills up outside Kubernetes "
                "(no safe fix: kubeheal must escalate)",
                "steady_state": [
                    _ready("sample-app-ready", "demo", "sample-app", 3),
                    _ready("productpage-ready", "bookinfo", "productpage-v1", 1),
                    _ready("details-ready", "bookinfo", "details-v1", 1),
                ],
                "method": [
                    {
                        "name": "disk-pressure",
                        "fault": "node-disk-pressure",
                        "target": {"name": "worker-1"},
                        "duration": secs(180),
                        "expect": {"max_escalate": "60s"},
                    }
                ],
                "rollbacks": [{"action": "uncordon", "node": "worker-1"}],
                "settings": settings,
            },
        ],
        [
            {
                "name": "node-not-ready",
                "description": "worker-2's kubelet stops for 400 s: its pods must run "
                "elsewhere well before their 300 s toleration",
                "steady_state": [
                    _ready("sample-app-ready", "demo", "sample-app", 3),
                    _ready("productpage-ready", "bookinfo", "productpage-v1", 1),
                    _ready("details-ready", "bookinfo", "details-v1", 1),
                ],
                "method": [
                    {
                        "name": "kubelet-stopped",
                        "fault": "node-not-ready",
                        "target": {"name": "worker-2"},
                        "duration": secs(400),
                        "expect": {"max_recover": f"{mttr}s", "kubeheal_acts": True},
                    }
                ],
                "rollbacks": [{"action": "uncordon", "node": "worker-2"}],
                "settings": settings,
            },
        ],
    ]
    wanted = None if only is None else set(only)
    if wanted is not None:
        unknown = sorted(wanted - {e["name"] for phase in raw for e in phase})
        if unknown:
            raise ValueError(f"no game-day experiment named {', '.join(unknown)}")
    phases = [
        [
            parse_experiment(e, source=f"gameday/{e['name']}")
            for e in phase
            if wanted is None or e["name"] in wanted
        ]
        for phase in raw
    ]
    return [phase for phase in phases if phase]


def gameday_names() -> list[str]:
    """The names of the game day's experiments, in order."""
    return [e.name for phase in gameday_phases() for e in phase]

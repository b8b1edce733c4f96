"""`kubeheal demo`: the twin, kubeheal, and a suite of faults it must heal, with a timeline.

The twin runs sample-app and bookinfo on three nodes with simulated time accelerated; the
operator watches it over HTTP like any cluster. Faults are injected through the twin's fault
injector; each is followed until the cluster is healthy again (or a deadline passes) and the
table at the end says, per fault, how long detection, the first action and recovery took, in
simulated (cluster) seconds, which action kubeheal took, and whether the cluster healed.

Recovery is judged from the cluster, not from kubeheal's own word: a fault counts as healed
when its target is healthy again (Deployment fully available on the expected image, no
restarts since recovery, node free of pressure and of evicted pods) and, when kubeheal opened
an incident, that incident was resolved.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from kubeheal.cli.harness import Harness, running_harness
from kubeheal.config import Settings
from kubeheal.runtime.operator import OperatorEvent
from kubeheal.twin.sim.faults import FaultSpec

__all__ = ["DemoResult", "FaultCase", "run_demo"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]


@dataclass(frozen=True)
class FaultCase:
    """One fault of the suite and how to tell that its target is healthy again."""

    name: str
    spec: dict[str, Any]
    target: str  # Kind/namespace/name as OperatorEvent targets spell it
    expect_action: bool
    description: str
    check: str = "deployment"  # deployment | hpa | node: what "healthy again" means


SUITE: tuple[FaultCase, ...] = (
    FaultCase(
        name="bad rollout",
        spec={"kind": "crash-on-start", "target": {"namespace": "demo",
              "deployment": "sample-app"}},
        target="Deployment/demo/sample-app",
        expect_action=True,
        description="a new image that crashes on start is rolled out",
    ),
    FaultCase(
        name="memory leak to OOM",
        spec={"kind": "memory-leak", "target": {"namespace": "bookinfo",
              "deployment": "ratings-v1"}, "params": {"bytes_per_second": 2 * 2**20},
              "duration": 240},
        target="Deployment/bookinfo/ratings-v1",
        expect_action=True,
        description="ratings leaks 2 MiB/s for 4 minutes: OOMKilled at its 256Mi limit",
    ),
    FaultCase(
        name="pod kill",
        spec={"kind": "pod-kill", "target": {"namespace": "bookinfo",
              "deployment": "details-v1"}, "params": {"count": 1}},
        target="Deployment/bookinfo/details-v1",
        expect_action=False,
        description="the only details pod is deleted; its ReplicaSet replaces it",
    ),
    FaultCase(
        name="latency spike",
        spec={"kind": "traffic-spike", "target": {"namespace": "bookinfo",
              "service": "productpage"}, "params": {"multiplier": 3}},
        target="Deployment/bookinfo/productpage-v1",
        expect_action=True,
        description="3x traffic saturates productpage; its HPA is pinned at max 3 replicas",
        check="hpa",
    ),
    FaultCase(
        name="node memory pressure",
        spec={"kind": "node-memory-pressure", "target": {"node": "worker-2"},
              "duration": 180},
        target="Node/worker-2",
        expect_action=True,
        description="a process outside Kubernetes eats worker-2's memory for 3 minutes",
        check="node",
    ),
)  # fmt: skip


@dataclass
class DemoResult:
    """What happened to one fault (times in simulated seconds since its injection)."""

    fault: str
    description: str
    detected_s: float | None = None
    acted_s: float | None = None
    recovered_s: float | None = None
    verified_s: float | None = None
    action: str = ""
    outcome: str = ""
    healed: bool = False
    injected_at: datetime | None = None
    incident_id: str = ""
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "fault": self.fault,
            "detected_s": _round(self.detected_s),
            "acted_s": _round(self.acted_s),
            "recovered_s": _round(self.recovered_s),
            "verified_s": _round(self.verified_s),
            "action": self.action or "none",
            "healed": self.healed,
            "outcome": self.outcome,
            "description": self.description,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class _Tracker:
    """Follows operator events per target, for the table."""

    def __init__(self, console: Console, start_wall: float) -> None:
        self.console = console
        self.start_wall = start_wall
        self.events: list[OperatorEvent] = []

    def __call__(self, event: OperatorEvent) -> None:
        self.events.append(event)
        colour = {
            "incident": "yellow",
            "action": "cyan",
            "outcome": "cyan",
            "resolved": "green",
            "escalated": "red",
            "blocked": "magenta",
            "verify": "blue",
            "retry": "magenta",
        }.get(event.kind, "white")
        wall = time.monotonic() - self.start_wall
        message = event.message.splitlines()[0][:110]
        self.console.print(
            f"[dim]{wall:6.1f}s[/dim] [{colour}]{event.kind:9}[/{colour}] "
            f"{event.target.key}: {message}"
        )

    def for_target(self, target: str, since: datetime) -> list[OperatorEvent]:
        return [e for e in self.events if e.target.key == target and e.at >= since]


def _deployment_healthy(h: Harness, namespace: str, name: str, image: str | None) -> bool:
    store = h.twin.store
    dep = store.find(store.rtype("apps", "v1", "deployments"), namespace, name)
    if dep is None:
        return False
    spec, status = dep.get("spec", {}), dep.get("status", {})
    want = int(spec.get("replicas", 1))
    if image is not None:
        images = [c.get("image") for c in spec["template"]["spec"]["containers"]]
        if image not in images:
            return False
    return (
        int(status.get("observedGeneration", 0)) >= int(dep["metadata"].get("generation", 1))
        and int(status.get("availableReplicas", 0)) >= want
        and int(status.get("updatedReplicas", 0)) >= want
        and int(status.get("replicas", 0)) == want
    )


def _hpa_healthy(h: Harness, namespace: str, deployment: str) -> bool:
    """The Deployment is available and no HPA on it wants more replicas than it may have."""
    if not _deployment_healthy(h, namespace, deployment, None):
        return False
    store = h.twin.store
    for hpa in store.list_objects(
        store.rtype("autoscaling", "v2", "horizontalpodautoscalers"), namespace
    ):
        if hpa["spec"]["scaleTargetRef"].get("name") != deployment:
            continue
        status = hpa.get("status", {})
        limited = any(
            c.get("type") == "ScalingLimited" and c.get("status") == "True"
            and c.get("reason") == "TooManyReplicas"
            for c in status.get("conditions", [])
        )  # fmt: skip
        if limited or int(status.get("desiredReplicas", 0)) > int(hpa["spec"]["maxReplicas"]):
            return False
    return True


def _node_healthy(h: Harness, name: str) -> bool:
    store = h.twin.store
    node = store.find(store.rtype("", "v1", "nodes"), None, name)
    if node is None:
        return False
    conditions = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
    if conditions.get("MemoryPressure") != "False" or conditions.get("Ready") != "True":
        return False
    # every workload the node hosted runs somewhere again
    return _all_ready(h)


def _image_of(h: Harness, namespace: str, name: str) -> str:
    store = h.twin.store
    dep = store.get(store.rtype("apps", "v1", "deployments"), namespace, name)
    return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


async def _follow(
    h: Harness,
    case: FaultCase,
    tracker: _Tracker,
    *,
    deadline_s: float,
) -> DemoResult:
    """Inject one fault and follow it until healed or the (simulated) deadline."""
    result = DemoResult(fault=case.name, description=case.description)
    _, _, rest = case.target.partition("/")
    namespace, _, name = rest.partition("/")
    healthy: Callable[[], bool]
    if case.check == "node":

        def healthy() -> bool:
            return _node_healthy(h, rest)
    elif case.check == "hpa":

        def healthy() -> bool:
            return _hpa_healthy(h, namespace, name)
    else:
        image = _image_of(h, namespace, name)

        def healthy() -> bool:
            return _deployment_healthy(h, namespace, name, image)

    assert h.twin.faults is not None
    injected = h.now()
    result.injected_at = injected
    wall0 = time.monotonic()
    h.twin.faults.inject(FaultSpec.model_validate(case.spec))
    tracker.console.print(f"[bold]>>> fault: {case.name}[/bold] ({case.description})")
    disturbed = False
    healthy_since: datetime | None = None
    incident_id = ""
    while True:
        await asyncio.sleep(0.25)
        now = h.now()
        elapsed = (now - injected).total_seconds()
        events = tracker.for_target(case.target, injected)
        if not incident_id:
            opened = next((e for e in events if e.kind == "incident"), None)
            if opened is not None:
                incident_id = opened.incident_id
                result.incident_id = incident_id
                result.detected_s = (opened.at - injected).total_seconds()
        mine = [e for e in events if incident_id and e.incident_id == incident_id]
        acted = next((e for e in mine if e.kind == "action"), None)
        closed = next((e for e in mine if e.kind in ("resolved", "escalated")), None)
        if acted is not None and result.acted_s is None:
            result.acted_s = (acted.at - injected).total_seconds()
            result.action = acted.message.split(" (")[0]
        ok = healthy()
        disturbed = disturbed or not ok
        if not ok:
            healthy_since = None
        elif healthy_since is None and disturbed:
            healthy_since = now
        if closed is not None:
            result.outcome = closed.kind
            result.verified_s = (closed.at - injected).total_seconds()
            if closed.kind == "resolved" and ok:
                since = healthy_since or closed.at
                result.recovered_s = (since - injected).total_seconds()
                result.healed = True
                break
            if closed.kind == "escalated":
                result.notes.append(closed.message.splitlines()[0])
                break
        # Kubernetes healed it by itself; kubeheal rightly left it alone.
        if (
            not case.expect_action
            and healthy_since is not None
            and not incident_id
            and (now - healthy_since).total_seconds() >= 30
        ):
            result.recovered_s = (healthy_since - injected).total_seconds()
            result.healed = True
            result.outcome = "healed by its controller"
            break
        if elapsed > deadline_s:
            result.outcome = result.outcome or "deadline passed"
            break
    result.wall_s = time.monotonic() - wall0
    return result


async def run_demo(
    *,
    speed: float = 15.0,
    console: Console | None = None,
    suite: tuple[FaultCase, ...] = SUITE,
    settle_s: float = 20.0,
    deadline_s: float = 1500.0,
) -> list[DemoResult]:
    """Run the fault suite against the twin and return one result per fault."""
    console = console or Console()
    tracker = _Tracker(console, time.monotonic())
    console.print(
        f"[bold]kubeheal demo[/bold]: cluster twin with sample-app + bookinfo on 3 nodes, "
        f"simulated time x{speed:g}; every time below is in cluster seconds"
    )
    async with running_harness(
        scenario="sample-app+bookinfo",
        speed=speed,
        settings=demo_settings(),
        sweep_interval=0.5,
        on_event=tracker,
    ) as h:
        # Let the cluster settle and kubeheal finish its housekeeping (e.g. PDBs it creates
        # for multi-replica workloads without one) before the first fault.
        await _wait_sim(h, settle_s, lambda: _all_ready(h) and not h.operator.open_incidents())
        console.print(f"cluster ready after {h.now():%H:%M:%S} (cluster time); injecting faults")
        concurrent = [c for c in suite if c.target.startswith("Deployment/")]
        later = [c for c in suite if not c.target.startswith("Deployment/")]
        results = list(
            await asyncio.gather(
                *(_follow(h, c, tracker, deadline_s=deadline_s) for c in concurrent)
            )
        )
        for case in later:
            results.append(await _follow(h, case, tracker, deadline_s=deadline_s))
    order = {c.name: i for i, c in enumerate(suite)}
    return sorted(results, key=lambda r: order[r.fault])


def demo_settings() -> Settings:
    """Defaults, except a 3-minute cooldown so that one target's housekeeping action (a PDB
    created at start) does not hold back its remediation for the default 10 minutes, and no
    grace period for missing PDBs: the scenario's workloads all exist before kubeheal starts,
    so none can race a PDB of its own, and the housekeeping happens during the settling."""
    settings = Settings()
    guards = settings.guards.model_copy(update={"cooldown": timedelta(minutes=3)})
    detection = settings.detection.model_copy(update={"missing_pdb_grace": timedelta(0)})
    return settings.model_copy(update={"guards": guards, "detection": detection})


def _all_ready(h: Harness) -> bool:
    store = h.twin.store
    deps = store.list_objects(store.rtype("apps", "v1", "deployments"))
    return bool(deps) and all(
        _deployment_healthy(h, d["metadata"]["namespace"], d["metadata"]["name"], None)
        for d in deps
    )


async def _wait_sim(h: Harness, at_least_s: float, ready: Callable[[], bool]) -> None:
    start = h.now()
    while True:
        await asyncio.sleep(0.2)
        if (h.now() - start).total_seconds() >= at_least_s and ready():
            return
        if (h.now() - start).total_seconds() > 600:
            raise RuntimeError("the twin's workloads did not become ready")


def print_results(console: Console, results: list[DemoResult]) -> None:
    table = Table(title="kubeheal demo: per fault (cluster seconds after injection)")
    for column in ("fault", "detected after", "acted after", "recovered after",
                   "verified after", "action", "outcome", "healed"):  # fmt: skip
        table.add_column(column, justify="right" if "after" in column else "left")

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}s"

    for r in results:
        table.add_row(
            r.fault,
            fmt(r.detected_s),
            fmt(r.acted_s),
            fmt(r.recovered_s),
            fmt(r.verified_s),
            r.action or "none",
            r.outcome,
            "[green]yes[/green]" if r.healed else "[red]no[/red]",
        )
    console.print(table)


def write_json(path: Path, results: list[DemoResult]) -> None:
    path.write_text(json.dumps([r.to_json() for r in results], indent=2) + "\n")

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
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from kubeheal.chaos.sampling import OutageSampler
from kubeheal.cli.harness import Harness, running_harness
from kubeheal.config import Settings
from kubeheal.runtime.operator import OperatorEvent
from kubeheal.runtime.tasks import Tasks
from kubeheal.server.auth import Authenticator
from kubeheal.twin.cluster import Twin
from kubeheal.twin.sim.faults import FaultSpec

__all__ = ["DemoResult", "FaultCase", "print_results", "run_demo", "twin_deployments", "write_json"]

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
    expect: str = "heal"
    """What handling it well means: ``heal`` (kubeheal heals it), ``controller`` (Kubernetes
    does, kubeheal stays out), ``escalate`` (no safe fix: kubeheal escalates), ``either``
    (heal or escalate), ``metrics`` (only a metrics source can see it: without one, not
    detecting it is the expected outcome)."""
    phase: int = 0
    """Faults of the same phase run side by side (on different workloads)."""


BUSIEST = "busiest-worker"
"""A node fault's target chosen when it is injected: the worker running the most pods."""

SUITE: tuple[FaultCase, ...] = (
    FaultCase(
        name="bad rollout",
        spec={"kind": "crash-on-start", "target": {"namespace": "demo",
              "deployment": "sample-app"}, "duration": 300},
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
        expect="controller",
    ),
    FaultCase(
        name="latency spike",
        spec={"kind": "traffic-spike", "target": {"namespace": "bookinfo",
              "service": "productpage"}, "params": {"multiplier": 3}, "duration": 300},
        target="Deployment/bookinfo/productpage-v1",
        expect_action=True,
        description="3x traffic saturates productpage; its HPA is pinned at max 3 replicas",
        check="hpa",
    ),
    FaultCase(
        name="app hangs after start",
        spec={"kind": "hang", "target": {"namespace": "bookinfo", "deployment": "reviews-v3"},
              "params": {"after_seconds": 20}, "duration": 240},
        target="Deployment/bookinfo/reviews-v3",
        expect_action=False,
        description="reviews-v3 stops answering 20 s after each start (no safe fix)",
        expect="escalate",
        phase=1,
    ),
    FaultCase(
        name="image pull error",
        spec={"kind": "image-pull-error", "target": {"namespace": "bookinfo",
              "deployment": "details-v1"}, "duration": 300},
        target="Deployment/bookinfo/details-v1",
        expect_action=True,
        description="details is rolled out with an image no registry has",
        phase=1,
    ),
    FaultCase(
        name="CPU hog",
        spec={"kind": "cpu-hog", "target": {"namespace": "bookinfo",
              "deployment": "productpage-v1"}, "params": {"cores": 2}, "duration": 180},
        target="Deployment/bookinfo/productpage-v1",
        expect_action=False,
        description="every productpage pod burns 2 more cores for 3 minutes",
        expect="either",
        phase=1,
    ),
    FaultCase(
        name="HTTP 500 burst",
        spec={"kind": "error-burst", "target": {"namespace": "bookinfo",
              "deployment": "reviews-v1"}, "params": {"error_rate": 0.6}, "duration": 120},
        target="Deployment/bookinfo/reviews-v1",
        expect_action=False,
        description="60 % of reviews-v1's requests fail with HTTP 500 for 2 minutes",
        expect="metrics",
        phase=1,
    ),
    FaultCase(
        name="latency",
        spec={"kind": "latency-spike", "target": {"namespace": "bookinfo",
              "deployment": "reviews-v2"}, "params": {"latency_ms": 2000}, "duration": 120},
        target="Deployment/bookinfo/reviews-v2",
        expect_action=False,
        description="reviews-v2 answers 2 s slower for 2 minutes",
        expect="metrics",
        phase=1,
    ),
    FaultCase(
        name="node memory pressure",
        spec={"kind": "node-memory-pressure", "target": {"node": "worker-2"},
              "duration": 180},
        target="Node/worker-2",
        expect_action=True,
        description="a process outside Kubernetes eats worker-2's memory for 3 minutes",
        check="node",
        phase=2,
    ),
    FaultCase(
        name="node disk pressure",
        spec={"kind": "node-disk-pressure", "target": {"node": "worker-1"},
              "duration": 120},
        target="Node/worker-1",
        expect_action=False,
        description="worker-1's disk fills up outside Kubernetes for 2 minutes",
        check="node",
        expect="either",
        phase=3,
    ),
    FaultCase(
        name="node NotReady",
        spec={"kind": "node-not-ready", "target": {"node": BUSIEST}, "duration": 400},
        target=f"Node/{BUSIEST}",
        expect_action=True,
        description="the busiest worker's kubelet stops for 400 s (pods tolerate it for 300 s)",
        check="node",
        expect="either",
        phase=4,
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
    escalated_after_s: float | None = None
    outage_s: float | None = None
    """Replica-outage seconds of the fault's scope (`kubeheal.chaos.outage`)."""
    replicas_back_s: float | None = None
    """When the scope had every replica back (None: not by the end of the fault's window)."""
    expect: str = "heal"

    @property
    def handled(self) -> bool:
        """Whether the fault was handled as its case expects (`FaultCase.expect`)."""
        if self.expect in ("heal", "controller"):
            return self.healed
        if self.expect == "escalate":
            return self.escalated_after_s is not None
        if self.expect == "either":
            return self.healed or self.escalated_after_s is not None
        return True  # metrics: visible only to a metrics source

    def to_json(self) -> dict[str, Any]:
        return {
            "fault": self.fault,
            "detected_s": _round(self.detected_s),
            "acted_s": _round(self.acted_s),
            "recovered_s": _round(self.recovered_s),
            "verified_s": _round(self.verified_s),
            "escalated_after_s": _round(self.escalated_after_s),
            "outage_s": _round(self.outage_s),
            "replicas_back_s": _round(self.replicas_back_s),
            "action": self.action or "none",
            "healed": self.healed,
            "expect": self.expect,
            "handled": self.handled,
            "outcome": self.outcome,
            "description": self.description,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class _Tracker:
    """Follows operator events per target, for the table."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.start: datetime | None = None
        """Cluster time the timeline counts from (the first event's, until set)."""
        self.events: list[OperatorEvent] = []

    def stamp(self, at: datetime) -> str:
        """``at`` as cluster seconds since the start of the demo."""
        if self.start is None:
            self.start = at
        return f"{(at - self.start).total_seconds():6.0f}s"

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
        message = event.message.splitlines()[0] if event.message else ""
        self.console.print(
            f"[dim]{self.stamp(event.at)}[/dim] [{colour}]{event.kind:9}[/{colour}] "
            f"{event.target.key}: {message}",
            overflow="fold",
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


def twin_deployments(twin: Twin) -> Callable[[], Awaitable[Sequence[Mapping[str, Any]]]]:
    """Read the twin's Deployments from its object store (the view its API serves), copying
    the fields the outage accounting reads while the store is locked."""

    async def read() -> Sequence[Mapping[str, Any]]:
        store = twin.store
        with store.lock:
            return [
                {
                    "metadata": {
                        k: d["metadata"].get(k) for k in ("namespace", "name", "generation")
                    },
                    "spec": {
                        "replicas": d.get("spec", {}).get("replicas", 1),
                        "template": d.get("spec", {}).get("template"),
                    },
                    "status": dict(d.get("status", {})),
                }
                for d in store.list_objects(store.rtype("apps", "v1", "deployments"))
            ]

    return read


async def _follow(
    h: Harness,
    case: FaultCase,
    tracker: _Tracker,
    sampler: OutageSampler,
    *,
    deadline_s: float,
    stable_s: float = 20.0,
    recovered: asyncio.Event | None = None,
) -> DemoResult:
    """Inject one fault and follow it until kubeheal's part is over (healed, escalated, or
    rightly left alone), the fault has ended and its Deployments have had every replica
    back for ``stable_s``, or the (simulated) deadline passes. ``recovered`` is set as soon
    as the cluster has recovered (the fault over, its target healthy, every replica back),
    which may be before kubeheal's verification ends."""
    if case.spec.get("target", {}).get("node") == BUSIEST:
        node = _busiest_worker(h)
        case = replace(
            case,
            spec={**case.spec, "target": {**case.spec["target"], "node": node}},
            target=f"Node/{node}",
            description=case.description.replace("the busiest worker", node),
        )
    result = DemoResult(fault=case.name, description=case.description, expect=case.expect)
    _, _, rest = case.target.partition("/")
    namespace, _, name = rest.partition("/")
    healthy: Callable[[], bool]
    scope: frozenset[tuple[str, str]] | None = frozenset({(namespace, name)})
    if case.check == "node":
        scope = None  # a node's pods are everyone's

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
    fault_id = h.twin.faults.inject(FaultSpec.model_validate(case.spec))
    tracker.console.print(
        f"[dim]{tracker.stamp(injected)}[/dim] [bold]>>> fault: {case.name}[/bold] "
        f"({case.description})",
        overflow="fold",
    )
    disturbed = False
    healthy_since: datetime | None = None
    incident_id = ""
    decided = False  # kubeheal's part is over
    stable = timedelta(seconds=stable_s)
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
        escalated = next((e for e in mine if e.kind == "escalated"), None)
        if escalated is not None and result.escalated_after_s is None:
            result.escalated_after_s = (escalated.at - injected).total_seconds()
        ok = healthy()
        disturbed = disturbed or not ok
        if not ok:
            healthy_since = None
        elif healthy_since is None and disturbed:
            healthy_since = now
        if not decided and closed is not None:
            result.outcome = closed.kind
            result.verified_s = (closed.at - injected).total_seconds()
            if closed.kind == "resolved" and ok:
                since = healthy_since or closed.at
                result.recovered_s = (since - injected).total_seconds()
                result.healed = True
                decided = True
            elif closed.kind == "escalated":
                result.notes.append(closed.message.splitlines()[0])
                decided = True
        active = any(f.id == fault_id for f in h.twin.faults.active())
        back = sampler.back_for(since=injected, scope=scope, stable=stable)
        # Kubernetes healed it by itself; kubeheal rightly left it alone.
        if not decided and not case.expect_action and not incident_id:
            if healthy_since is not None and (now - healthy_since).total_seconds() >= 30:
                result.recovered_s = (healthy_since - injected).total_seconds()
            elif case.expect == "controller" and not active and ok and back and elapsed >= 30:
                # replaced between two looks at the Deployment: the samples saw it
                result.recovered_s = sampler.figures(start=injected, scope=scope).recovered_s
            if result.recovered_s is not None:
                result.healed = True
                result.outcome = "healed by its controller"
                decided = True
        if not active and back and ok:
            if recovered is not None:
                recovered.set()
            if decided:
                break
            if not incident_id and (healthy_since is None or now - healthy_since >= stable):
                # the fault is over, nothing is missing, kubeheal never saw it
                result.outcome = (
                    "not detected"
                    if case.expect != "metrics"
                    else ("not detected (no metrics source)")
                )
                break
        if elapsed > deadline_s:
            result.outcome = result.outcome or "deadline passed"
            break
    figures = sampler.figures(start=injected, end=h.now(), scope=scope)
    result.outage_s = figures.outage_s
    result.replicas_back_s = figures.recovered_s
    if case.check == "node":
        # a node fault is over for users once its workloads run elsewhere, whatever the
        # node's own state (it may still need repair: then kubeheal escalates)
        result.recovered_s = figures.recovered_s
    result.wall_s = time.monotonic() - wall0
    if case.check == "node":
        _uncordon_left_over(h, rest, tracker)
    return result


def _busiest_worker(h: Harness) -> str:
    """The schedulable node without taints that runs the most pods (ties: by name)."""
    store = h.twin.store
    with store.lock:
        nodes = store.list_objects(store.rtype("", "v1", "nodes"))
        pods = store.list_objects(store.rtype("", "v1", "pods"))
    workers = sorted(
        str(n["metadata"]["name"])
        for n in nodes
        if not n.get("spec", {}).get("taints") and not n.get("spec", {}).get("unschedulable")
    )
    if not workers:
        raise RuntimeError("the twin has no schedulable worker")
    count = dict.fromkeys(workers, 0)
    for pod in pods:
        node = pod.get("spec", {}).get("nodeName")
        if node in count and pod.get("status", {}).get("phase") in ("Running", "Pending"):
            count[node] += 1
    return max(workers, key=lambda w: (count[w], [-ord(c) for c in w]))


def _uncordon_left_over(h: Harness, node: str, tracker: _Tracker) -> None:
    """The demo's rollback after a node fault, as a chaos experiment's: a node kubeheal
    left cordoned is made schedulable again, so the next fault starts from a whole
    cluster (kubeheal itself uncordons after ``detection.uncordon_after``, 10 minutes)."""
    store = h.twin.store
    rtype = store.rtype("", "v1", "nodes")
    with store.lock:
        found = store.find(rtype, None, node)
        if found is None or not found.get("spec", {}).get("unschedulable"):
            return

        def uncordon(obj: Obj) -> Obj:
            obj.get("spec", {}).pop("unschedulable", None)
            return obj

        store.mutate(rtype, None, node, uncordon)
    tracker.console.print(
        f"[dim]{tracker.stamp(h.now())}[/dim] demo rollback: uncordoned {node} (kubeheal left "
        "it cordoned; it uncordons a node after detection.uncordon_after, 10 minutes)",
        overflow="fold",
    )


async def run_demo(
    *,
    speed: float = 20.0,
    console: Console | None = None,
    suite: tuple[FaultCase, ...] = SUITE,
    settle_s: float = 20.0,
    deadline_s: float = 900.0,
    hold: Callable[[list[DemoResult]], Awaitable[None]] | None = None,
) -> list[DemoResult]:
    """Run the fault suite against the twin and return one result per fault: the faults of
    a phase side by side, the phases one after the other. The web console is served on a
    free 127.0.0.1 port (its URL and login token printed); ``hold`` is awaited with the
    results before the twin stops (``kubeheal demo --keep``: serve it until Ctrl-C)."""
    console = console or Console()
    tracker = _Tracker(console)
    token = secrets.token_urlsafe(16)
    console.print(
        f"[bold]kubeheal demo[/bold]: cluster twin with sample-app + bookinfo on 3 nodes, "
        f"simulated time x{speed:g}; {len(suite)} faults; every time below is in cluster "
        "seconds"
    )
    async with running_harness(
        scenario="sample-app+bookinfo",
        speed=speed,
        settings=demo_settings(),
        sweep_interval=0.5,
        on_event=tracker,
        listen="127.0.0.1:0",
        auth=Authenticator.static(token=token),
    ) as h:
        console.print(f"web console: {h.http_url}/console/ (log in with the token {token})")
        tracker.start = h.now()
        tasks = Tasks()
        try:
            sampler = OutageSampler(
                read=twin_deployments(h.twin),
                clock=h.now,
                sleep=lambda seconds: asyncio.sleep(max(0.0, seconds) / speed),
            )
            await sampler.sample()
            tasks.spawn("demo-outage-sampler", sampler.run())
            # Let the cluster settle and kubeheal finish its housekeeping (e.g. PDBs it
            # creates for multi-replica workloads without one) before the first fault.
            await _wait_sim(h, settle_s, lambda: _all_ready(h) and not h.operator.open_incidents())
            console.print(f"[dim]{tracker.stamp(h.now())}[/dim] cluster ready; injecting faults")
            results = await _schedule(h, suite, tracker, sampler, deadline_s=deadline_s)
            order = {c.name: i for i, c in enumerate(suite)}
            results = sorted(results, key=lambda r: order[r.fault])
            if hold is not None:
                await hold(results)
        finally:
            await tasks.stop()
    return results


async def _schedule(
    h: Harness,
    suite: Sequence[FaultCase],
    tracker: _Tracker,
    sampler: OutageSampler,
    *,
    deadline_s: float,
) -> list[DemoResult]:
    """Run the suite: a workload fault starts once every fault of the earlier phases has
    recovered on the cluster and every earlier fault on the same target, or on a node, is
    over (kubeheal's verification included); a node fault starts once every earlier fault
    is over, since it moves everyone's pods."""
    ordered = sorted(suite, key=lambda c: c.phase)
    recovered = {c.name: asyncio.Event() for c in ordered}
    finished = {c.name: asyncio.Event() for c in ordered}

    async def run(index: int, case: FaultCase) -> DemoResult:
        for earlier in ordered[:index]:
            if earlier.phase == case.phase and earlier.target != case.target:
                continue
            whole = case.check == "node" or earlier.check == "node"
            if whole or earlier.target == case.target:
                await finished[earlier.name].wait()
            else:
                await recovered[earlier.name].wait()
        try:
            return await _follow(
                h, case, tracker, sampler, deadline_s=deadline_s, recovered=recovered[case.name]
            )
        finally:
            recovered[case.name].set()
            finished[case.name].set()

    return list(await asyncio.gather(*(run(i, c) for i, c in enumerate(ordered))))


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
    for column in ("fault", "detected after", "acted after", "escalated after",
                   "recovered after", "replicas back after", "replica-outage", "action",
                   "outcome", "healed"):  # fmt: skip
        right = "after" in column or column == "replica-outage"
        table.add_column(column, justify="right" if right else "left")

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}s"

    for r in results:
        table.add_row(
            r.fault,
            fmt(r.detected_s),
            fmt(r.acted_s),
            fmt(r.escalated_after_s),
            fmt(r.recovered_s),
            "never"
            if r.replicas_back_s is None and r.outage_s is not None
            else fmt(r.replicas_back_s),
            fmt(r.outage_s),
            r.action or "none",
            r.outcome,
            "[green]yes[/green]" if r.healed else "[red]no[/red]",
        )
    console.print(table)


def summary(results: Sequence[DemoResult], wall_s: float) -> str:
    """One line: how many faults healed, escalated, handled as expected, total outage."""
    healed = sum(r.healed for r in results)
    escalated = sum(1 for r in results if not r.healed and r.escalated_after_s is not None)
    handled = sum(r.handled for r in results)
    outage = sum(r.outage_s or 0.0 for r in results)
    return (
        f"{healed}/{len(results)} faults healed, {escalated} escalated, {handled}/"
        f"{len(results)} handled as expected; {outage:.0f} replica-outage seconds; "
        f"{wall_s:.0f} s of wall time"
    )


def write_json(path: Path, results: list[DemoResult]) -> None:
    path.write_text(json.dumps([r.to_json() for r in results], indent=2) + "\n")

"""Replica-outage seconds of a twin fault, with kubeheal and without it.

    .venv/bin/python bench/golden_bench.py [--fault cpu-hog] [--speed 20] [--window 600]
        [--runs 1] [--json OUT]

Each run builds the twin's ``sample-app+bookinfo`` scenario on a wall clock running
``--speed`` times faster, waits until every Deployment has all its replicas available and
then ``--settle`` more cluster seconds, injects the fault and samples the twin's store every
0.1 wall seconds for ``--window`` cluster seconds. The figure is the integral, over cluster
time, of ``sum over Deployments of max(0, spec.replicas - status.availableReplicas)``: the
replica-outage seconds of issue 22 (a replica the Deployment wants and does not have
available counts for as long as it is missing).

"with" runs the real operator (`running_harness`, the built-in playbooks, default settings)
in this process on the twin's clock; "without" runs the same twin alone. The operator's
ledger is read after a "with" run: the actions and escalations it made, with their reasons.

Faults (``--fault``):

- ``cpu-hog``: 2 extra cores of CPU demand in every productpage-v1 pod (bookinfo) for 300 s,
  the twin's own ``cpu-hog`` fault (as in issue 22's table);
- ``cpu-hog-one-pod``: the same in one productpage-v1 pod only (the game day's share: 25 %
  of productpage's pods), so more replicas dilute the slow pod's share of the traffic.

Besides the replica-outage seconds: ``below_baseline_seconds`` counts only replicas under the
pre-fault available count (a replica a scale-out adds is not counted while it starts), and
the faulted Deployment's traffic-weighted p50 latency (``latency_p50_mean_ms``; the twin's
per-pod p50 weighted by each pod's request rate) and ``slow_seconds`` (weighted p50 above
twice its pre-fault value).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from kubeheal.cli.harness import running_harness  # noqa: E402
from kubeheal.twin.clock import WallClock  # noqa: E402
from kubeheal.twin.cluster import Twin, build_twin  # noqa: E402
from kubeheal.twin.server import serve_in_thread  # noqa: E402
from kubeheal.twin.sim.faults import FaultSpec  # noqa: E402

SCENARIO = "sample-app+bookinfo"
FIRST_POD = "<first pod>"
"""Replaced at injection by the name of the Deployment's first pod (the game day's 25 %)."""
FAULTS: dict[str, dict[str, Any]] = {
    "cpu-hog": {
        "kind": "cpu-hog",
        "target": {"namespace": "bookinfo", "deployment": "productpage-v1"},
        "params": {"cores": 2},
        "duration": 300,
    },
    "cpu-hog-one-pod": {
        "kind": "cpu-hog",
        "target": {"namespace": "bookinfo", "deployment": "productpage-v1", "pod": FIRST_POD},
        "params": {"cores": 2},
        "duration": 300,
    },
}


@dataclass
class Sample:
    at: float
    missing: dict[str, int]
    available: dict[str, int]
    latency: float
    """rps-weighted p50 latency (s) of the fault's Deployment's serving pods."""


@dataclass
class RunResult:
    mode: str
    outage_seconds: float = 0.0
    below_baseline_seconds: float = 0.0
    """Replicas available under the pre-fault count, times seconds (scale-out not counted)."""
    slow_seconds: float = 0.0
    """Cluster seconds the faulted Deployment's p50 latency was above twice its pre-fault p50."""
    latency_p50_mean_ms: float = 0.0
    baseline_latency_p50_ms: float = 0.0
    per_deployment: dict[str, float] = field(default_factory=dict)
    actions: list[str] = field(default_factory=list)
    escalations: list[str] = field(default_factory=list)
    hpa_max: dict[str, int] = field(default_factory=dict)


def _replicas(twin: Twin) -> tuple[dict[str, int], dict[str, int]]:
    """(missing available replicas, available replicas) per Deployment."""
    store = twin.store
    missing: dict[str, int] = {}
    available: dict[str, int] = {}
    for dep in store.list_objects(store.rtype("apps", "v1", "deployments"), None):
        meta, spec, status = dep["metadata"], dep.get("spec") or {}, dep.get("status") or {}
        want = int(spec.get("replicas", 1) or 0)
        have = int(status.get("availableReplicas", 0) or 0)
        key = f"{meta['namespace']}/{meta['name']}"
        missing[key] = max(0, want - have)
        available[key] = have
    return missing, available


def _missing(twin: Twin) -> dict[str, int]:
    return _replicas(twin)[0]


def _latency(twin: Twin, namespace: str, deployment: str) -> float:
    store = twin.store
    uids = {
        p["metadata"]["uid"]
        for p in store.list_objects(store.rtype("", "v1", "pods"), namespace)
        if p["metadata"]["name"].startswith(deployment + "-")
    }
    pods = [twin.runtime.pods[u] for u in uids if u in twin.runtime.pods]
    served = [(p.current_rps, p.current_latency_p50) for p in pods if p.current_rps > 0]
    total = sum(r for r, _ in served)
    return sum(r * lat for r, lat in served) / total if total else 0.0


def _resolved(twin: Twin, fault: dict[str, Any]) -> dict[str, Any]:
    target = dict(fault["target"])
    if target.get("pod") != FIRST_POD:
        return fault
    store = twin.store
    names = sorted(
        p["metadata"]["name"]
        for p in store.list_objects(store.rtype("", "v1", "pods"), target["namespace"])
        if p["metadata"]["name"].startswith(target["deployment"] + "-")
    )
    target["pod"] = names[0]
    del target["deployment"]
    return {**fault, "target": target}


def _sample(twin: Twin, fault: dict[str, Any]) -> Sample:
    missing, available = _replicas(twin)
    target = fault["target"]
    latency = _latency(twin, target["namespace"], target["deployment"])
    return Sample(twin.clock.now(), missing, available, latency)


def _hpa_max(twin: Twin) -> dict[str, int]:
    store = twin.store
    return {
        f"{h['metadata']['namespace']}/{h['metadata']['name']}": int(h["spec"]["maxReplicas"])
        for h in store.list_objects(store.rtype("autoscaling", "v2", "horizontalpodautoscalers"))
    }


async def _until_ready(twin: Twin, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(_missing(twin).values()):
        if time.monotonic() > deadline:
            raise SystemExit(f"the scenario never became ready: {_missing(twin)}")
        await asyncio.sleep(0.1)


async def _measure(twin: Twin, *, fault: dict[str, Any], settle: float, window: float) -> RunResult:
    clock = twin.clock
    await _until_ready(twin, timeout=120)
    start = clock.now()
    quiet: list[float] = []
    while clock.now() - start < settle:
        await asyncio.sleep(0.1)
        quiet.append(_sample(twin, fault).latency)
    baseline = _replicas(twin)[1]
    base_latency = statistics.median(v for v in quiet if v > 0) if any(quiet) else 0.0
    assert twin.faults is not None
    twin.faults.inject(FaultSpec.model_validate(_resolved(twin, fault)))
    t0 = clock.now()
    samples = [_sample(twin, fault)]
    while samples[-1].at - t0 < window:
        await asyncio.sleep(0.1)
        samples.append(_sample(twin, fault))
    result = RunResult(mode="")
    below = 0.0
    slow = 0.0
    weighted = 0.0
    for before, after in itertools.pairwise(samples):
        span = after.at - before.at
        for name, count in before.missing.items():
            if count:
                result.per_deployment[name] = result.per_deployment.get(name, 0.0) + count * span
        for name, have in before.available.items():
            below += max(0, baseline.get(name, 0) - have) * span
        if base_latency and before.latency > 2 * base_latency:
            slow += span
        weighted += before.latency * span
    result.outage_seconds = round(sum(result.per_deployment.values()), 1)
    result.below_baseline_seconds = round(below, 1)
    result.slow_seconds = round(slow, 1)
    result.latency_p50_mean_ms = round(1000 * weighted / (samples[-1].at - t0), 1)
    result.baseline_latency_p50_ms = round(1000 * base_latency, 1)
    result.per_deployment = {k: round(v, 1) for k, v in sorted(result.per_deployment.items())}
    result.hpa_max = _hpa_max(twin)
    return result


async def run_without(
    *, fault: dict[str, Any], speed: float, settle: float, window: float
) -> RunResult:
    twin = build_twin(scenario=SCENARIO, clock=WallClock(speed=speed))
    with serve_in_thread(twin, tick=0.1):
        result = await _measure(twin, fault=fault, settle=settle, window=window)
    result.mode = "without"
    return result


async def run_with(
    *, fault: dict[str, Any], speed: float, settle: float, window: float
) -> RunResult:
    async with running_harness(scenario=SCENARIO, speed=speed, sweep_interval=0.3) as h:
        result = await _measure(h.twin, fault=fault, settle=settle, window=window)
        since = datetime(2000, 1, 1, tzinfo=UTC)
        for action in h.ledger.actions_since(since):
            where = f"{action.target.namespace}/{action.target.name}"
            line = f"{action.action} {where} {action.state.value}"
            params = {k: v for k, v in action.params.items() if k != "action"}
            result.actions.append(f"{line} {json.dumps(params, sort_keys=True)}")
        until = h.now()
        for incident in h.ledger.list_incidents(since=since, until=until):
            plans = h.ledger.plans_for_incident(incident.id)
            last = plans[-1] if plans else None
            what = f"{last.action or last.blocked_by}: {last.reason}" if last else ""
            result.escalations.append(
                f"{incident.target.kind} {incident.target.namespace}/{incident.target.name} "
                f"{incident.state.value} ({incident.playbook}) {what}"
            )
    result.mode = "with"
    return result


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fault", choices=sorted(FAULTS), default="cpu-hog")
    parser.add_argument("--speed", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=60.0, help="cluster seconds")
    parser.add_argument("--window", type=float, default=600.0, help="cluster seconds")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--modes", default="with,without")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    fault = FAULTS[args.fault]
    results: list[RunResult] = []
    for _ in range(args.runs):
        for mode in args.modes.split(","):
            runner = run_with if mode == "with" else run_without
            result = await runner(
                fault=fault, speed=args.speed, settle=args.settle, window=args.window
            )
            results.append(result)
            print(json.dumps(result.__dict__, sort_keys=True), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))

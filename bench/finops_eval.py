"""Right-sizing evaluated in the cluster twin: kubeheal's strategy against KRR's formula.

One command (about 10 minutes on 2 shared cores):

    .venv/bin/python bench/finops_eval.py --out finops-eval.json

1. **History.** A twin runs five Deployments (2 replicas each) with known usage profiles for
   `--warmup + --history` simulated days, ticking every 15 s:
   * ``steady``: 30 rps per pod with a daily cycle, ~330Mi;
   * ``spiky``: traffic bursts x5 for 2-4 minutes every 3-9 hours (CPU and memory jump);
   * ``startup``: +400Mi for the first ~50 s after every container start (caches, JIT),
     never restarted during the history window (pods started before it, as in krr #110);
   * ``startup-rolled``: the same program, rolled out once inside the window;
   * ``leak``: +120Mi per day of uptime.
   Every 30 simulated seconds of the window the twin's own `/metrics` renderer (the
   kube-state-metrics and cAdvisor series) is written out as OpenMetrics at that timestamp.
2. **Prometheus.** The file is backfilled with `promtool tsdb create-blocks-from
   openmetrics` and a real Prometheus 2.42 is started on the blocks.
3. **Recommendations.** `kubeheal.finops.service.rightsize` runs twice over the same
   Prometheus: kubeheal's strategy, and the baseline (KRR's simple formula on KRR-style
   queries: p95 of irate over 1m and the instantaneous working set, sampled every 75 s).
4. **Replay.** Three fresh twins (a different seed: other noise, other burst times) run the
   same workloads for `--replay` days with the original requests/limits, the KRR
   recommendation and kubeheal's. Each tick adds, per container, requested minus used (the
   waste) and used above requested, in core-hours and GiB-hours; OOM kills are counted from
   the pods' container statuses (every distinct OOMKilled termination).

Prints a Markdown table and writes every figure as JSON (`--out`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from kubeheal.clients.prometheus import PrometheusClient
from kubeheal.config.settings import FinopsSettings
from kubeheal.finops.model import Recommendation, Resources
from kubeheal.finops.render import resources_record
from kubeheal.finops.service import rightsize
from kubeheal.finops.units import format_bytes, format_cpu
from kubeheal.twin.clock import ManualClock
from kubeheal.twin.cluster import Twin, build_twin
from kubeheal.twin.defaults import template_defaults
from kubeheal.twin.metrics import CounterMemory, render_metrics
from kubeheal.twin.promstack import PromStack, find_binaries
from kubeheal.twin.sim.workloads import (
    DailyPattern,
    ObjectCache,
    Override,
    Profile,
    TrafficPlan,
    TrafficSource,
    container_requests,
)

MI = 2**20
GI = 2**30
NAMESPACE = "shop"
TICK = 15.0
SCRAPE = 30.0
CONTROL_PLANE_EVERY = 30.0
KEEP_PREFIXES = (
    "container_cpu_usage_seconds_total",
    "container_memory_working_set_bytes",
    "container_start_time_seconds",
    "kube_pod_owner",
    "kube_replicaset_owner",
    "kube_pod_container_resource_",
    "kube_pod_container_status_last_terminated_reason",
    "kube_pod_container_status_restarts_total",
    "kube_horizontalpodautoscaler_",
    "kube_namespace_status_phase",
)
ORIGINAL = Resources(cpu_request=0.5, cpu_limit=None, memory_request=1 * GI, memory_limit=1 * GI)


@dataclass(frozen=True)
class Workload:
    name: str
    profile: Profile
    rps: float
    daily: bool = False
    startup_extra: float = 0.0  # bytes added during the first ~50 s after a start
    bursts: bool = False
    rollout_at: float | None = None  # days after the history twin's start


def workloads(history_days: float, warmup_days: float) -> list[Workload]:
    mid = warmup_days + history_days / 2
    return [
        Workload(
            "steady",
            Profile(
                name="steady",
                cpu_idle_cores=0.01,
                cpu_per_request=0.004,
                memory_baseline_bytes=300 * MI,
                memory_per_rps_bytes=1 * MI,
            ),
            rps=60,
            daily=True,
        ),
        Workload(
            "spiky",
            Profile(
                name="spiky",
                cpu_idle_cores=0.005,
                cpu_per_request=0.006,
                memory_baseline_bytes=180 * MI,
                memory_per_rps_bytes=3 * MI,
            ),
            rps=30,
            bursts=True,
        ),
        Workload(
            "startup",
            Profile(
                name="startup",
                cpu_idle_cores=0.01,
                cpu_per_request=0.003,
                memory_baseline_bytes=256 * MI,
                memory_per_rps_bytes=1 * MI,
            ),
            rps=40,
            startup_extra=400 * MI,
        ),
        Workload(
            "startup-rolled",
            Profile(
                name="startup-rolled",
                cpu_idle_cores=0.01,
                cpu_per_request=0.003,
                memory_baseline_bytes=256 * MI,
                memory_per_rps_bytes=1 * MI,
            ),
            rps=40,
            startup_extra=400 * MI,
            rollout_at=mid,
        ),
        Workload(
            "leak",
            Profile(
                name="leak",
                cpu_idle_cores=0.005,
                cpu_per_request=0.002,
                memory_baseline_bytes=128 * MI,
                memory_leak_bytes_per_second=120 * MI / 86400,
            ),
            rps=20,
        ),
    ]


def startup_shape(uptime: float) -> float:
    """0..1: ramp up over 10 s, hold 30 s, ramp down over 10 s (from 5 s after the start)."""
    t = uptime - 5.0
    if t <= 0 or t >= 50:
        return 0.0
    if t < 10:
        return t / 10
    if t < 40:
        return 1.0
    return (50 - t) / 10


def _workload_of(pod_name: str) -> str:
    return pod_name.rsplit("-", 2)[0]


class Shaper:
    """Start-up peaks and traffic bursts, the two behaviours the twin's profiles lack.

    Runs right after the workload controller (which computes usage) and before the kubelet
    (which OOM-kills on it), so both the scrape and the kubelet see the shaped values.
    """

    name = "finops-shaper"

    def __init__(self, twin: Twin, specs: list[Workload], *, seed: int, end: float) -> None:
        self.twin = twin
        self.extra = {w.name: w.startup_extra for w in specs if w.startup_extra}
        self.profiles = twin.extras["profiles"]
        rng = random.Random(seed)
        self.bursts: list[tuple[float, float, str]] = []
        start = twin.clock.now()
        for w in specs:
            if not w.bursts:
                continue
            t = start + rng.uniform(1, 4) * 3600
            while t < end:
                length = rng.uniform(120, 240)
                self.bursts.append((t, t + length, w.name))
                t += length + rng.uniform(3, 9) * 3600
        self.active: set[str] = set()

    def step(self, now: float) -> None:
        for start, end, service in self.bursts:
            key = f"burst-{service}-{start:.0f}"
            if start <= now < end and key not in self.active:
                self.profiles.add_override(
                    Override(id=key, namespace=NAMESPACE, service=service, traffic_multiplier=5.0)
                )
                self.active.add(key)
            elif now >= end and key in self.active:
                self.profiles.remove_override(key)
                self.active.discard(key)
        for prt in self.twin.runtime.pods.values():
            extra = self.extra.get(_workload_of(prt.name))
            if not extra:
                continue
            for crt in prt.containers.values():
                if crt.started_at is None:
                    continue
                bump = int(extra * startup_shape(now - crt.started_at))
                if bump:
                    crt.memory_working_set_bytes += bump
                    crt.memory_rss_bytes = int(crt.memory_working_set_bytes * 0.85)


class Throttled:
    """Runs a control-plane controller at most every `every` simulated seconds.

    The replay only needs the control plane to create and replace pods; stepping the
    Deployment and ReplicaSet controllers every 10 s tick costs most of the simulation time.
    """

    def __init__(self, inner: Any, *, every: float) -> None:
        self.inner = inner
        self.name = inner.name
        self.every = every
        self.next = -math.inf

    def step(self, now: float) -> None:
        if now >= self.next:
            self.inner.step(now)
            self.next = now + self.every


_CONTROL_PLANE_MODULES = ("deployments", "scheduler", "disruption", "hpa")


def _resources_block(res: Resources) -> dict[str, Any]:
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if res.cpu_request is not None:
        requests["cpu"] = format_cpu(res.cpu_request)
    if res.memory_request is not None:
        requests["memory"] = format_bytes(res.memory_request)
    if res.cpu_limit is not None:
        limits["cpu"] = format_cpu(res.cpu_limit)
    if res.memory_limit is not None:
        limits["memory"] = format_bytes(res.memory_limit)
    out: dict[str, Any] = {"requests": requests}
    if limits:
        out["limits"] = limits
    return out


def build(
    *, start: float, seed: int, specs: list[Workload], resources: dict[str, Resources], end: float
) -> Twin:
    clock = ManualClock(start)
    twin = build_twin(scenario="empty", clock=clock, seed=seed)
    profiles = twin.extras["profiles"]
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    ]
    sources = []
    for w in specs:
        profiles.register(w.profile)
        deploy = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": w.name, "namespace": NAMESPACE, "labels": {"app": w.name}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": w.name}},
                "template": {
                    "metadata": {
                        "labels": {"app": w.name},
                        "annotations": {"twin.kubeheal.io/profile": w.name},
                    },
                    "spec": {
                        "containers": [
                            {
                                "name": "app",
                                "image": f"registry.example/{w.name}:1.0",
                                "resources": _resources_block(resources.get(w.name, ORIGINAL)),
                            }
                        ]
                    },
                },
            },
        }
        template_defaults(deploy)
        objects.append(deploy)
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": w.name, "namespace": NAMESPACE},
                "spec": {"selector": {"app": w.name}, "ports": [{"port": 80}]},
            }
        )
        sources.append(
            TrafficSource(
                namespace=NAMESPACE,
                service=w.name,
                rps=w.rps,
                daily=DailyPattern(amplitude=0.3, peak_hour=14) if w.daily else None,
                noise=0.05,
            )
        )
    profiles.traffic = TrafficPlan(sources=sources)
    twin.store.load(objects)
    controllers = twin.simulation.controllers
    for i, c in enumerate(controllers):
        if type(c).__module__.rsplit(".", 1)[-1] in _CONTROL_PLANE_MODULES:
            controllers[i] = Throttled(c, every=CONTROL_PLANE_EVERY)
    index = next(i for i, c in enumerate(controllers) if c.name == "workloads")
    controllers.insert(index + 1, Shaper(twin, specs, seed=seed, end=end))
    return twin


def rollout(twin: Twin, name: str) -> None:
    rtype = twin.store.rtype("apps", "v1", "deployments")

    def change(obj: dict[str, Any]) -> None:
        ann = obj["spec"]["template"]["metadata"].setdefault("annotations", {})
        ann["kubectl.kubernetes.io/restartedAt"] = str(twin.clock.now())

    twin.store.mutate(rtype, NAMESPACE, name, change)


def _openmetrics_lines(text: str, ts: float) -> Iterable[str]:
    stamp = f" {ts:.0f}\n"
    for line in text.splitlines():
        if not line or line.startswith("#") or not line.startswith(KEEP_PREFIXES):
            continue
        yield line + stamp


def run_history(
    *, specs: list[Workload], warmup_days: float, history_days: float, start: float, out: TextIO
) -> dict[str, Any]:
    end = start + (warmup_days + history_days) * 86400
    twin = build(start=start, seed=1, specs=specs, resources={}, end=end)
    assert isinstance(twin.clock, ManualClock)
    window_start = start + warmup_days * 86400
    rollouts = sorted((start + w.rollout_at * 86400, w.name) for w in specs if w.rollout_at)
    memory = CounterMemory()
    lines = 0
    next_scrape = window_start
    while twin.clock.now() < end - 1e-6:
        twin.simulation.run_for(TICK, tick=TICK)
        now = twin.clock.now()
        while rollouts and now >= rollouts[0][0]:
            rollout(twin, rollouts.pop(0)[1])
        if now >= next_scrape:
            text = render_metrics(store=twin.store, runtime=twin.runtime, now=now, memory=memory)
            for line in _openmetrics_lines(text.decode(), now):
                out.write(line)
                lines += 1
            next_scrape += SCRAPE
    out.write("# EOF\n")
    return {"window_start": window_start, "window_end": end, "openmetrics_lines": lines}


@dataclass
class Meter:
    """Per-workload waste, shortfall and OOM kills in a replay."""

    waste_core_h: dict[str, float] = field(default_factory=dict)
    waste_gib_h: dict[str, float] = field(default_factory=dict)
    above_core_h: dict[str, float] = field(default_factory=dict)
    above_gib_h: dict[str, float] = field(default_factory=dict)
    requested_core_h: dict[str, float] = field(default_factory=dict)
    requested_gib_h: dict[str, float] = field(default_factory=dict)
    ooms: dict[str, set[tuple[str, str, str]]] = field(default_factory=dict)


class Measure:
    name = "finops-measure"

    def __init__(self, twin: Twin, meter: Meter) -> None:
        self.twin = twin
        self.meter = meter
        self.pods = ObjectCache(twin.store, "", "v1", "pods")
        self.last: float | None = None

    def step(self, now: float) -> None:
        dt = 0.0 if self.last is None else now - self.last
        self.last = now
        m = self.meter
        hours = dt / 3600
        for pod in self.pods.all():
            spec, status = pod.get("spec") or {}, pod.get("status") or {}
            if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
                continue
            meta = pod["metadata"]
            app = _workload_of(meta["name"])
            prt = self.twin.runtime.pods.get(meta["uid"])
            for c in spec.get("containers") or []:
                cpu_req, mem_req = container_requests(c)
                crt = prt.containers.get(c["name"]) if prt is not None else None
                running = crt is not None and crt.started_at is not None
                cpu = crt.cpu_cores if running and crt is not None else 0.0
                mem = crt.memory_working_set_bytes if running and crt is not None else 0
                m.waste_core_h[app] = m.waste_core_h.get(app, 0.0) + max(0.0, cpu_req - cpu) * hours
                m.above_core_h[app] = m.above_core_h.get(app, 0.0) + max(0.0, cpu - cpu_req) * hours
                m.waste_gib_h[app] = (
                    m.waste_gib_h.get(app, 0.0) + max(0, mem_req - mem) / GI * hours
                )
                m.above_gib_h[app] = (
                    m.above_gib_h.get(app, 0.0) + max(0, mem - mem_req) / GI * hours
                )
                m.requested_core_h[app] = m.requested_core_h.get(app, 0.0) + cpu_req * hours
                m.requested_gib_h[app] = m.requested_gib_h.get(app, 0.0) + mem_req / GI * hours
            for cs in status.get("containerStatuses") or []:
                for term in (
                    (cs.get("state") or {}).get("terminated"),
                    (cs.get("lastState") or {}).get("terminated"),
                ):
                    if term and term.get("reason") == "OOMKilled":
                        m.ooms.setdefault(app, set()).add(
                            (meta["uid"], cs["name"], str(term.get("finishedAt")))
                        )


def replay(
    *, specs: list[Workload], start: float, days: float, resources: dict[str, Resources], seed: int
) -> dict[str, Any]:
    end = start + days * 86400
    twin = build(start=start, seed=seed, specs=specs, resources=resources, end=end)
    meter = Meter()
    twin.simulation.add(Measure(twin, meter))
    twin.simulation.run_for(days * 86400, tick=TICK)
    restarts: dict[str, int] = {}
    for stored in twin.store.iter_stored(twin.store.rtype("", "v1", "pods")):
        pod = stored.obj()
        app = _workload_of(pod["metadata"]["name"])
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            restarts[app] = restarts.get(app, 0) + int(cs.get("restartCount", 0))
    out: dict[str, Any] = {}
    for w in specs:
        n = w.name
        out[n] = {
            "waste_core_hours": round(meter.waste_core_h.get(n, 0.0), 3),
            "waste_gib_hours": round(meter.waste_gib_h.get(n, 0.0), 3),
            "above_request_core_hours": round(meter.above_core_h.get(n, 0.0), 3),
            "above_request_gib_hours": round(meter.above_gib_h.get(n, 0.0), 3),
            "requested_core_hours": round(meter.requested_core_h.get(n, 0.0), 3),
            "requested_gib_hours": round(meter.requested_gib_h.get(n, 0.0), 3),
            "oom_kills": len(meter.ooms.get(n, set())),
            "restarts_at_end": restarts.get(n, 0),
        }
    return out


def _by_workload(recs: Iterable[Recommendation]) -> dict[str, Recommendation]:
    return {r.workload.name: r for r in recs if r.container == "app"}


def _applied(recs: dict[str, Recommendation]) -> dict[str, Resources]:
    out: dict[str, Resources] = {}
    for name, rec in recs.items():
        if not rec.ok:
            continue
        new = rec.recommended
        out[name] = Resources(
            cpu_request=new.cpu_request if new.cpu_request is not None else ORIGINAL.cpu_request,
            cpu_limit=None if "cpu_limit" in rec.unset else new.cpu_limit,
            memory_request=new.memory_request
            if new.memory_request is not None
            else ORIGINAL.memory_request,
            memory_limit=new.memory_limit
            if new.memory_limit is not None
            else ORIGINAL.memory_limit,
        )
    return out


async def recommend_both(
    url: str, *, end: float, history: float
) -> tuple[dict[str, Any], dict[str, Recommendation], dict[str, Recommendation]]:
    settings = FinopsSettings()
    stats: dict[str, Any] = {}
    async with PrometheusClient(url, timeout=300.0) as client:
        t = time.perf_counter()
        mine = await rightsize(
            client, settings=settings, end=end, namespaces=(NAMESPACE,), history=history
        )
        stats["kubeheal"] = {
            "queries": mine.collection.queries,
            "requests": client.stats.requests,
            "seconds": round(time.perf_counter() - t, 3),
            "step": mine.collection.step,
            "problems": list(mine.collection.problems),
        }
        client.stats.reset()
        t = time.perf_counter()
        krr = await rightsize(
            client,
            settings=settings,
            end=end,
            namespaces=(NAMESPACE,),
            history=history,
            strategy="krr",
        )
        stats["krr"] = {
            "queries": krr.collection.queries,
            "requests": client.stats.requests,
            "seconds": round(time.perf_counter() - t, 3),
        }
    return stats, _by_workload(mine.recommendations), _by_workload(krr.recommendations)


def _record(rec: Recommendation | None) -> dict[str, Any]:
    if rec is None:
        return {"status": "missing"}
    return {
        "status": rec.status.value,
        "recommended": resources_record(rec.recommended),
        "unset": sorted(rec.unset),
        "reasons": dict(rec.reasons),
        "notes": list(rec.notes),
    }


def _table(results: dict[str, Any], specs: list[Workload]) -> str:
    rows = [
        "| workload | config | cpu req | mem req | mem limit | waste core-h | waste GiB-h "
        "| CPU above req core-h | mem above req GiB-h | OOM kills |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    totals: dict[str, dict[str, float]] = {}
    for w in specs:
        for config in ("current", "krr", "kubeheal"):
            res = results["resources"][config].get(w.name, {})
            r = results["replay"][config][w.name]
            rows.append(
                f"| {w.name} | {config} | {res.get('cpu_request') or '-'} | "
                f"{res.get('memory_request') or '-'} | {res.get('memory_limit') or '-'} | "
                f"{r['waste_core_hours']:.1f} | {r['waste_gib_hours']:.1f} | "
                f"{r['above_request_core_hours']:.2f} | {r['above_request_gib_hours']:.2f} | "
                f"{r['oom_kills']} |"
            )
            t = totals.setdefault(config, {})
            for key in (
                "waste_core_hours",
                "waste_gib_hours",
                "above_request_core_hours",
                "above_request_gib_hours",
                "oom_kills",
            ):
                t[key] = t.get(key, 0.0) + r[key]
    for config, t in totals.items():
        rows.append(
            f"| **total** | {config} | | | | {t['waste_core_hours']:.1f} | "
            f"{t['waste_gib_hours']:.1f} | {t['above_request_core_hours']:.2f} | "
            f"{t['above_request_gib_hours']:.2f} | {int(t['oom_kills'])} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", type=float, default=3.0, help="history window, days")
    parser.add_argument("--warmup", type=float, default=0.5, help="days before the window")
    parser.add_argument("--replay", type=float, default=5.0, help="replay length, days")
    parser.add_argument("--out", type=Path, default=Path("finops-eval.json"))
    parser.add_argument("--keep", type=Path, default=None, help="keep the TSDB here")
    args = parser.parse_args(argv)
    specs = workloads(args.history, args.warmup)
    total_days = args.warmup + args.history
    start = float(int(time.time() // 60 * 60) - int(total_days * 86400) - 3600)
    workdir = Path(tempfile.mkdtemp(prefix="finops-eval-"))
    results: dict[str, Any] = {
        "params": {
            "history_days": args.history,
            "warmup_days": args.warmup,
            "replay_days": args.replay,
            "tick_seconds": TICK,
            "scrape_seconds": SCRAPE,
            "workloads": [w.name for w in specs],
        }
    }
    timings: dict[str, float] = {}
    try:
        t = time.perf_counter()
        om = workdir / "history.om"
        with om.open("w") as fh:
            results["history"] = run_history(
                specs=specs,
                warmup_days=args.warmup,
                history_days=args.history,
                start=start,
                out=fh,
            )
        timings["simulate_history"] = time.perf_counter() - t
        t = time.perf_counter()
        data = args.keep or workdir / "data"
        subprocess.run(
            [
                find_binaries().promtool,
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                str(om),
                str(data),
            ],
            check=True,
            capture_output=True,
            timeout=1800,
        )
        om.unlink()
        timings["backfill"] = time.perf_counter() - t
        end = results["history"]["window_end"]
        stack = PromStack(workdir / "prom", data_dir=data)
        stack.start(wait_alertmanager=False)
        try:
            t = time.perf_counter()
            stats, mine, krr = asyncio.run(
                recommend_both(stack.prometheus_url, end=end, history=args.history * 86400)
            )
            timings["recommend"] = time.perf_counter() - t
        finally:
            stack.stop()
        results["queries"] = stats
        results["recommendations"] = {
            "kubeheal": {n: _record(r) for n, r in mine.items()},
            "krr": {n: _record(r) for n, r in krr.items()},
        }
        configs: dict[str, dict[str, Resources]] = {
            "current": {w.name: ORIGINAL for w in specs},
            "krr": {**{w.name: ORIGINAL for w in specs}, **_applied(krr)},
            "kubeheal": {**{w.name: ORIGINAL for w in specs}, **_applied(mine)},
        }
        results["resources"] = {
            config: {n: resources_record(r) for n, r in res.items()}
            for config, res in configs.items()
        }
        results["replay"] = {}
        for config, res in configs.items():
            t = time.perf_counter()
            results["replay"][config] = replay(
                specs=specs, start=end, days=args.replay, resources=res, seed=7
            )
            timings[f"replay_{config}"] = time.perf_counter() - t
        results["timings_seconds"] = {k: round(v, 1) for k, v in timings.items()}
        table = _table(results, specs)
        results["table_markdown"] = table
        args.out.write_text(json.dumps(results, indent=2, default=str))
        print(table)
        print(json.dumps({"queries": stats, "timings_seconds": results["timings_seconds"]}))
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

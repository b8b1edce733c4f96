"""Memory leaks in the cluster twin: are they predicted before the OOM kill, and how early?

    .venv/bin/python bench/twin_leak_bench.py [--rates 32Ki,64Ki,...] [--seeds 3]
        [--quiet-runs 4 --quiet-hours 2] [--json OUT]

Each run builds the twin's ``sample-app`` scenario (3 replicas, memory limit 256Mi, working
set ~100Mi that follows the traffic) on a manual clock and steps it in 5-second ticks. Every
15 s the twin's /metrics exposition (the bytes Prometheus would scrape) is parsed into
``container_memory_working_set_bytes`` and ``kube_pod_container_resource_limits{resource=
"memory"}`` series; every 30 s kubeheal's real `AnomalySource` polls them (through
`TwinScrape`, a stand-in for Prometheus' ``query_range`` serving those two families) with the
default settings (trend window 30 min, horizon 1 h, 90 % interval) and records its Forecast
signals.

- Leak runs: a ``memory-leak`` fault at each rate from the start; the run ends at the first
  OOM kill. Lead time = OOM kill - first Forecast about a container of the Deployment;
  also reported: the forecast's error (predicted - actual time of the kill).
- Quiet runs (no leak, normal traffic): every Forecast is a false prediction.

The share of false predictions = false Forecast episodes / all Forecast episodes (one episode
per container series).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from kubeheal.clients.prometheus import RangeSeries  # noqa: E402
from kubeheal.config.settings import AnomalySettings  # noqa: E402
from kubeheal.model.cluster import ClusterView  # noqa: E402
from kubeheal.model.core import Signal, SignalKind  # noqa: E402
from kubeheal.runtime.anomaly_source import AnomalySource  # noqa: E402
from kubeheal.twin.clock import ManualClock  # noqa: E402
from kubeheal.twin.cluster import Twin, build_twin  # noqa: E402
from kubeheal.twin.metrics import render_metrics  # noqa: E402
from kubeheal.twin.sim.faults import FaultSpec  # noqa: E402

_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}

Key = tuple[str, str, str]


class TwinScrape:
    """Scrapes the twin's metrics and answers ``query_range`` for the memory families.

    A stand-in for Prometheus covering the default memory forecast query (working set and
    memory limit per namespace/pod/container); any other expression returns no series.
    """

    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        self.usage: dict[Key, list[tuple[float, float]]] = {}
        self.limit: dict[Key, list[tuple[float, float]]] = {}

    def scrape(self) -> None:
        now = self.twin.clock.now()
        text = render_metrics(store=self.twin.store, runtime=self.twin.runtime, now=now).decode()
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            m = _LINE.match(line)
            if m is None:
                continue
            name, raw, value = m.groups()
            if name not in ("container_memory_working_set_bytes",
                            "kube_pod_container_resource_limits"):  # fmt: skip
                continue
            labels = dict(_LABEL.findall(raw))
            if labels.get("container", "") in ("", "POD"):
                continue
            key = (labels.get("namespace", ""), labels.get("pod", ""), labels["container"])
            if name == "container_memory_working_set_bytes":
                self.usage.setdefault(key, []).append((now, float(value)))
            elif labels.get("resource") == "memory":
                self.limit.setdefault(key, []).append((now, float(value)))

    async def query_range(
        self, expr: str, *, start: float, end: float, step: float
    ) -> list[RangeSeries]:
        if "container_memory_working_set_bytes" in expr:
            data = self.usage
        elif "kube_pod_container_resource_limits" in expr and 'resource="memory"' in expr:
            data = self.limit
        else:
            return []
        out = []
        for (ns, pod, container), points in data.items():
            arr = np.array([p for p in points if start <= p[0] <= end], dtype=float)
            if arr.size == 0:
                continue
            out.append(
                RangeSeries(
                    labels={"namespace": ns, "pod": pod, "container": container},
                    timestamps=arr[:, 0],
                    values=arr[:, 1],
                )
            )
        return out


@dataclass
class RecordingSink:
    """Collects the source's signals (the operator's place in the bench)."""

    clock: ManualClock
    view: ClusterView = field(default_factory=ClusterView)
    signals: list[tuple[float, Signal]] = field(default_factory=list)

    def submit(self, signals: Iterable[Signal]) -> None:
        now = self.clock.now()
        self.signals.extend((now, s) for s in signals)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), tz=UTC)


def memory_settings() -> AnomalySettings:
    """The default settings, watching only the memory forecast (what the bench measures)."""
    defaults = AnomalySettings()
    memory = tuple(q for q in defaults.forecast_queries if q.resource == "memory")
    return defaults.model_copy(update={"anomaly_queries": (), "forecast_queries": memory})


def parse_rate(text: str) -> float:
    for unit, factor in _UNITS.items():
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


def first_oom(twin: Twin) -> bool:
    pods = twin.store.list_objects(twin.store.rtype("", "v1", "pods"), "demo")
    for pod in pods:
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            last = (cs.get("lastState") or {}).get("terminated") or {}
            now = (cs.get("state") or {}).get("terminated") or {}
            if "OOMKilled" in (last.get("reason"), now.get("reason")):
                return True
    return False


def run(*, rate: float, seed: int, max_seconds: float) -> dict[str, Any]:
    clock = ManualClock()
    twin = build_twin(scenario="sample-app", clock=clock, seed=seed)
    start = clock.now()
    if rate > 0:
        assert twin.faults is not None
        twin.faults.inject(
            FaultSpec.model_validate(
                {
                    "kind": "memory-leak",
                    "target": {"namespace": "demo", "deployment": "sample-app"},
                    "params": {"bytes_per_second": int(rate)},
                }
            )
        )
    scrape = TwinScrape(twin)
    sink = RecordingSink(clock=clock)
    source = AnomalySource(settings=memory_settings(), querier=scrape, sink=sink, wall=clock.now)
    oom_at: float | None = None
    elapsed = 0.0
    while elapsed < max_seconds:
        for _ in range(3):
            twin.simulation.run_for(5.0, tick=1.0)
            if oom_at is None and first_oom(twin):
                oom_at = clock.now() - start
        elapsed = clock.now() - start
        scrape.scrape()
        if round(elapsed) % 30 == 0:
            asyncio.run(source.poll_once(now=clock.now()))
        if oom_at is not None and rate > 0:
            break
    forecasts = [(t - start, s) for t, s in sink.signals if s.kind is SignalKind.FORECAST]
    episodes = {s.subject for _, s in forecasts}
    first = forecasts[0] if forecasts else None
    out: dict[str, Any] = {
        "rate_bytes_per_second": rate,
        "seed": seed,
        "seconds": elapsed,
        "oom_at": oom_at,
        "forecast_episodes": len(episodes),
        "first_forecast_at": first[0] if first else None,
    }
    if first is not None and oom_at is not None:
        out["lead_time"] = oom_at - first[0]
        out["predicted_oom_at"] = first[0] + float(first[1].details["seconds"])
        out["forecast_error"] = out["predicted_oom_at"] - oom_at
        out["summary"] = first[1].details["summary"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rates", default="32Ki,64Ki,128Ki,256Ki,512Ki,1Mi")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--quiet-runs", type=int, default=4)
    ap.add_argument("--quiet-hours", type=float, default=2.0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    t0 = time.perf_counter()
    leak_runs = []
    print(f"{'rate/s':>8} {'seed':>4} {'OOM at':>8} {'1st forecast':>12} {'lead':>8} {'error':>8}")
    for text in args.rates.split(","):
        rate = parse_rate(text.strip())
        for seed in range(1, args.seeds + 1):
            r = run(rate=rate, seed=seed, max_seconds=4 * 3600)
            r["rate"] = text.strip()
            leak_runs.append(r)

            def fmt(v: float | None) -> str:
                return "-" if v is None else f"{v:.0f} s"

            print(
                f"{text:>8} {seed:>4} {fmt(r['oom_at']):>8} {fmt(r['first_forecast_at']):>12}"
                f" {fmt(r.get('lead_time')):>8} {fmt(r.get('forecast_error')):>8}"
            )
    quiet_runs = []
    for seed in range(1, args.quiet_runs + 1):
        r = run(rate=0.0, seed=100 + seed, max_seconds=args.quiet_hours * 3600)
        quiet_runs.append(r)
        print(f"no leak, seed {100 + seed}: {r['forecast_episodes']} forecasts, OOM {r['oom_at']}")

    predicted = [r for r in leak_runs if r.get("lead_time") is not None and r["lead_time"] > 0]
    true_episodes = sum(r["forecast_episodes"] for r in leak_runs)
    false_episodes = sum(r["forecast_episodes"] for r in quiet_runs)
    total = true_episodes + false_episodes
    summary = {
        "leak_runs": len(leak_runs),
        "predicted_before_oom": len(predicted),
        "lead_time_median_s": statistics.median(r["lead_time"] for r in predicted)
        if predicted
        else None,
        "lead_time_min_s": min((r["lead_time"] for r in predicted), default=None),
        "quiet_runs": len(quiet_runs),
        "quiet_hours": args.quiet_hours * len(quiet_runs),
        "false_forecast_episodes": false_episodes,
        "all_forecast_episodes": total,
        "false_share": false_episodes / total if total else 0.0,
        "wall_seconds": time.perf_counter() - t0,
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(
            json.dumps({"summary": summary, "leak": leak_runs, "quiet": quiet_runs}, indent=2)
        )


if __name__ == "__main__":
    main()

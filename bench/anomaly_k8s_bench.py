"""Anomaly detection on Kubernetes-shaped series: the twin's faults replayed as Prometheus series.

    .venv/bin/python bench/anomaly_k8s_bench.py [--seed 1] [--warmup-hours 2]
        [--quiet-hours 24] [--fault-minutes 30] [--recovery-minutes 30] [--config JSON]
        [--json OUT]

The twin's ``sample-app`` (3 replicas behind a Service, traffic with a daily pattern) runs on a
manual clock in 1-second ticks. Every 15 s its /metrics exposition (the bytes Prometheus would
scrape) is parsed and turned into the series of kubeheal's default anomaly queries, per pod:

- ``request_rate``  = sum of rate(http_requests_total[2m])
- ``error_ratio``   = rate of 5xx / rate of all requests (2m)
- ``latency_p95``   = histogram_quantile(0.95) of rate(http_request_duration_seconds_bucket[2m])
- ``cpu``           = sum of rate(container_cpu_usage_seconds_total{container!=""}[2m])
- ``memory``        = max of container_memory_working_set_bytes{container!=""}

(``rate`` here is increase / elapsed over the samples in the window, counter resets handled,
without Prometheus' extrapolation to the window's edges; the quantile interpolates linearly
inside the bucket, as Prometheus does.) Each series has its own ``AnomalyDetector`` with the
default configuration, fed one point per scrape: the online path.

Phases: ``--warmup-hours`` without faults (detectors learning; alarms reported, not counted),
``--quiet-hours`` without faults (every alarm is a false alarm: the figures are false alarms
per day over all series, per series-day of data, and per day counted as events, i.e. the
alarms of one query at one scrape on several pods counted once), then the faults one after
the other on the whole Deployment, each for ``--fault-minutes`` followed by
``--recovery-minutes`` without it:
memory-leak (64 KiB/s), cpu-hog (0.2 cores), latency-spike (+100 ms), error-burst (5 % 500s).
The detection delay of a fault is the time from its injection to the first alarm, while it
lasts, on the series of the query that shows it (memory, cpu, latency_p95, error_ratio) for one
of the Deployment's pods; the first alarm on any series is reported beside it (it can be a
coincidence), and alarms during recovery apart.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from kubeheal.anomaly import AnomalyDetector, DetectorConfig  # noqa: E402
from kubeheal.twin.clock import ManualClock  # noqa: E402
from kubeheal.twin.cluster import build_twin  # noqa: E402
from kubeheal.twin.metrics import render_metrics  # noqa: E402
from kubeheal.twin.sim.faults import FaultSpec  # noqa: E402

_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
SCRAPE = 15.0
WINDOW = 120.0  # the [2m] of the queries
NAMESPACE = "demo"
# (fault, params, the query whose series shows it)
FAULTS: tuple[tuple[str, dict[str, Any], str], ...] = (
    ("memory-leak", {"bytes_per_second": 64 * 1024}, "memory"),
    ("cpu-hog", {"cores": 0.2}, "cpu"),
    ("latency-spike", {"latency_ms": 100}, "latency_p95"),
    ("error-burst", {"error_rate": 0.05, "status": "500"}, "error_ratio"),
)
QUERIES = ("request_rate", "error_ratio", "latency_p95", "cpu", "memory")


@dataclass
class Counter:
    """Recent samples of one counter, for rate() over the window."""

    points: deque[tuple[float, float]] = field(default_factory=deque)

    def add(self, t: float, v: float) -> None:
        self.points.append((t, v))
        while self.points and self.points[0][0] <= t - WINDOW:
            self.points.popleft()

    def increase(self) -> tuple[float, float] | None:
        """(increase, elapsed seconds) over the window, counter resets handled."""
        if len(self.points) < 2:
            return None
        inc = 0.0
        for (_, a), (_, b) in zip(self.points, list(self.points)[1:], strict=False):
            inc += b - a if b >= a else b
        return inc, self.points[-1][0] - self.points[0][0]


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus' histogram_quantile over (upper bound, cumulative rate) pairs."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


class Replay:
    """Scrapes the twin and turns the exposition into the default queries' series."""

    def __init__(self) -> None:
        self.counters: dict[tuple[str, ...], Counter] = {}

    def _counter(self, key: tuple[str, ...], t: float, v: float) -> Counter:
        c = self.counters.setdefault(key, Counter())
        c.add(t, v)
        return c

    def scrape(self, text: str, t: float) -> dict[tuple[str, str], float]:
        requests: dict[str, list[Counter]] = {}
        errors: dict[str, list[Counter]] = {}
        buckets: dict[str, list[tuple[float, Counter]]] = {}
        cpu: dict[str, list[Counter]] = {}
        memory: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            m = _LINE.match(line)
            if m is None:
                continue
            name, raw, value = m.groups()
            if name not in (
                "http_requests_total",
                "http_request_duration_seconds_bucket",
                "container_cpu_usage_seconds_total",
                "container_memory_working_set_bytes",
            ):
                continue
            labels = dict(_LABEL.findall(raw))
            if labels.get("namespace") != NAMESPACE:
                continue
            pod = labels.get("pod", "")
            v = float(value)
            if name == "http_requests_total":
                c = self._counter((name, pod, labels.get("status", "")), t, v)
                requests.setdefault(pod, []).append(c)
                if labels.get("status", "").startswith("5"):
                    errors.setdefault(pod, []).append(c)
            elif name == "http_request_duration_seconds_bucket":
                le = labels.get("le", "+Inf")
                c = self._counter((name, pod, le), t, v)
                buckets.setdefault(pod, []).append((float(le), c))
            elif labels.get("container", "") not in ("", "POD"):
                if name == "container_cpu_usage_seconds_total":
                    c = self._counter((name, pod, labels["container"]), t, v)
                    cpu.setdefault(pod, []).append(c)
                else:
                    memory[pod] = max(memory.get(pod, 0.0), v)
        out: dict[tuple[str, str], float] = {}

        def rate(cs: list[Counter]) -> float | None:
            incs = [c.increase() for c in cs]
            got = [i for i in incs if i is not None and i[1] > 0]
            return sum(i / e for i, e in got) if got else None

        for pod, cs in requests.items():
            total = rate(cs)
            if total is None:
                continue
            out[("request_rate", pod)] = total
            if total > 0:
                out[("error_ratio", pod)] = (rate(errors.get(pod, [])) or 0.0) / total
        for pod, bs in buckets.items():
            rates = [(le, r) for le, c in bs if (r := rate([c])) is not None]
            p95 = quantile(0.95, rates)
            if p95 is not None:
                out[("latency_p95", pod)] = p95
        for pod, cs in cpu.items():
            r = rate(cs)
            if r is not None:
                out[("cpu", pod)] = r
        for pod, v in memory.items():
            out[("memory", pod)] = v
        return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    clock = ManualClock()
    twin = build_twin(scenario="sample-app", clock=clock, seed=args.seed)
    assert twin.faults is not None
    start = clock.now()
    replay = Replay()
    config = DetectorConfig(**json.loads(args.config))
    detectors: dict[tuple[str, str], AnomalyDetector] = {}
    alarms: list[tuple[float, str, str, str]] = []  # (t, query, pod, explanation)
    quiet_points = 0  # points scored during the quiet phase, over all series
    calls = 0
    detector_cpu = 0.0
    warm_end = args.warmup_hours * 3600
    quiet_end = warm_end + args.quiet_hours * 3600
    schedule = []
    t_f = quiet_end
    for kind, params, query in FAULTS:
        schedule.append((kind, params, query, t_f, t_f + args.fault_minutes * 60))
        t_f += (args.fault_minutes + args.recovery_minutes) * 60
    end = t_f
    active: dict[str, str] = {}
    while clock.now() - start < end:
        twin.simulation.run_for(SCRAPE, tick=1.0)
        now = clock.now()
        rel = now - start
        for kind, params, _, a, b in schedule:
            if a <= rel < b and kind not in active:
                active[kind] = twin.faults.inject(
                    FaultSpec.model_validate(
                        {
                            "kind": kind,
                            "target": {"namespace": NAMESPACE, "deployment": "sample-app"},
                            "params": params,
                        }
                    )
                )
            elif rel >= b and kind in active:
                twin.faults.clear(active.pop(kind))
        text = render_metrics(store=twin.store, runtime=twin.runtime, now=now).decode()
        for key, value in replay.scrape(text, now).items():
            det = detectors.get(key)
            if det is None:
                det = detectors[key] = AnomalyDetector(config)
            cpu0 = time.process_time()
            batch = det.update([now], [value])
            detector_cpu += time.process_time() - cpu0
            calls += 1
            quiet_points += warm_end <= rel < quiet_end
            if batch.anomalies[0]:
                alarms.append((rel, key[0], key[1], batch.explain(0).describe()))
    quiet = [a for a in alarms if warm_end <= a[0] < quiet_end]
    warm = [a for a in alarms if a[0] < warm_end]
    quiet_series = len({(q, p) for q, p in detectors})
    series_days = quiet_points * SCRAPE / 86400
    events = {(x[0], x[1]) for x in quiet}  # one scrape, one query: one event for a person
    faults = []
    for kind, _params, query, a, b in schedule:
        during = [x for x in alarms if a <= x[0] < b]
        after = [x for x in alarms if b <= x[0] < b + args.recovery_minutes * 60]
        own = next((x for x in during if x[1] == query), None)
        first = during[0] if during else None
        faults.append(
            {
                "fault": kind,
                "query": query,
                "detected": own is not None,
                "delay_s": None if own is None else own[0] - a,
                "explanation": None if own is None else own[3],
                "any_series_delay_s": None if first is None else first[0] - a,
                "any_series_first_query": None if first is None else first[1],
                "alarms_during": len(during),
                "alarms_in_recovery": len(after),
                "queries_alarming": sorted({x[1] for x in during}),
            }
        )
    days = args.quiet_hours / 24
    return {
        "seed": args.seed,
        "config": json.loads(args.config),
        "warmup_hours": args.warmup_hours,
        "twin_hours": end / 3600,
        "series": quiet_series,
        "calls": calls,
        "detector_cpu_s": detector_cpu,
        "us_per_call": 1e6 * detector_cpu / calls if calls else None,
        "warmup_alarms": len(warm),
        "quiet_alarms": len(quiet),
        "quiet_false_alarms_per_day": len(quiet) / days if days else None,
        "quiet_series_days": series_days,
        "quiet_false_alarms_per_series_day": len(quiet) / series_days if series_days else None,
        "quiet_false_alarm_events_per_day": len(events) / days if days else None,
        "quiet_alarm_queries": {q: sum(1 for x in quiet if x[1] == q) for q in QUERIES},
        "quiet_alarm_examples": [f"{x[0]:.0f}s {x[1]} {x[2]}: {x[3]}" for x in quiet[:5]],
        "faults": faults,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--warmup-hours", type=float, default=2.0)
    ap.add_argument("--quiet-hours", type=float, default=24.0)
    ap.add_argument("--fault-minutes", type=float, default=30.0)
    ap.add_argument("--recovery-minutes", type=float, default=30.0)
    ap.add_argument("--config", default="{}", help="DetectorConfig fields as JSON")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    t0 = time.perf_counter()
    out = run(args)
    out["wall_seconds"] = time.perf_counter() - t0
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

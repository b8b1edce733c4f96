"""Cost of kubeheal's anomaly detector: batched throughput and the online per-call cost.

    .venv/bin/python bench/anomaly_online_bench.py [--series 1000] [--rounds 40]
        [--warmup-hours 26] [--target-series 10000] [--scrape 15] [--json OUT]

- Batched: one series sampled every 15 s with a daily pattern and noise, three days (17,280
  points) fed in chunks of 1,000 rows; the points/s of the last two days (steady state: every
  deviation, the daily one included, is computed) in process CPU time.
- Online: ``--series`` detectors, each warmed up with ``--warmup-hours`` of 15-s points (so the
  daily comparison is live), then ``--rounds`` scrape rounds in which every series gets one
  point (one ``update`` call per series, as Prometheus scrapes). The CPU time per call gives
  the share of one core that ``--target-series`` series at one point per ``--scrape`` seconds
  need: ``calls/s x s/call``. Measured again with two points per call (what the runtime
  source does: it polls every 30 s a series scraped every 15 s). The detectors' saved state
  size is reported as their memory.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from kubeheal.anomaly import AnomalyDetector  # noqa: E402

STEP = 15.0
DAY = 86400.0


def synthetic(n: int, seed: int, start: float = 1.7e9) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = start + STEP * np.arange(n)
    daily = 1.0 + 0.5 * np.sin(2 * np.pi * (t % DAY) / DAY)
    return t, 100.0 * daily * (1.0 + 0.05 * rng.standard_normal(n))


def batched(chunk: int = 1000) -> dict[str, float]:
    n = int(3 * DAY / STEP)
    t, x = synthetic(n, seed=1)
    det = AnomalyDetector()
    first_day = int(DAY / STEP)
    det.update(t[:first_day], x[:first_day])
    cpu = time.process_time()
    for i in range(first_day, n, chunk):
        det.update(t[i : i + chunk], x[i : i + chunk])
    spent = time.process_time() - cpu
    return {"points": n - first_day, "cpu_s": spent, "points_per_s": (n - first_day) / spent}


def online(series: int, rounds: int, warmup_hours: float, per_call: int = 1) -> dict[str, float]:
    warm = int(warmup_hours * 3600 / STEP)
    dets = []
    for s in range(series):
        t, x = synthetic(warm + rounds * per_call, seed=100 + s, start=1.7e9 + 3.0 * s)
        det = AnomalyDetector()
        det.update(t[:warm], x[:warm])
        dets.append((det, t[warm:], x[warm:]))
    cpu = time.process_time()
    for r in range(0, rounds * per_call, per_call):
        for det, t, x in dets:
            det.update(t[r : r + per_call], x[r : r + per_call])
    spent = time.process_time() - cpu
    calls = series * rounds
    state = [len(det.to_bytes()) for det, _, _ in dets[:50]]
    return {
        "series": series,
        "rounds": rounds,
        "points_per_call": per_call,
        "calls": calls,
        "cpu_s": spent,
        "us_per_call": 1e6 * spent / calls,
        "state_bytes_per_series": float(np.mean(state)),
        "daily_live": float(all("daily" in det.seasonal_periods for det, _, _ in dets[:50])),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--warmup-hours", type=float, default=26.0)
    ap.add_argument("--target-series", type=int, default=10_000)
    ap.add_argument("--scrape", type=float, default=15.0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    b = batched()
    print(f"batched (chunks of 1,000, steady state): {b['points_per_s']:,.0f} points/s per core")
    results = []
    for per_call in (1, 2):
        o = online(args.series, args.rounds, args.warmup_hours, per_call)
        interval = args.scrape * per_call  # one call per series per poll
        share = args.target_series / interval * o["us_per_call"] / 1e6
        o["target_series"] = args.target_series
        o["seconds_between_calls"] = interval
        o["core_share_for_target"] = share
        results.append(o)
        print(
            f"online: {o['series']:,} series x {o['rounds']} rounds, {per_call} point(s) per"
            f" call: {o['us_per_call']:.1f} us per call; {args.target_series:,} series, one call"
            f" every {interval:g} s: {100 * share:.1f} % of one core;"
            f" state {o['state_bytes_per_series'] / 1024:.0f} KiB per series"
        )
    if args.json:
        args.json.write_text(json.dumps({"batched": b, "online": results}, indent=2))


if __name__ == "__main__":
    main()

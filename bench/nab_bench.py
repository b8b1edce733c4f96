"""Numenta Anomaly Benchmark (NAB) score and throughput of kubeheal's streaming detector.

    .venv/bin/python bench/nab_bench.py [--data /work/shared/data/nab] [--chunk 1000]
        [--files N] [--verbose] [--json OUT]

Reads ``<data>/data/<category>/<file>.csv`` (timestamp,value) and ``<data>/combined_windows.json``
(NAB's label windows), streams every file through a fresh ``AnomalyDetector`` in chunks of
``--chunk`` rows (the scores do not depend on the chunk size), and scores the result with
``kubeheal.anomaly.nab`` (NAB's rules: probationary period, scaled sigmoid for the earliest
detection in each window, per-profile costs, one threshold per profile optimised over the
whole corpus, normalised so that null = 0 and perfect = 100). Before that it checks the scorer:
a perfect detector (one detection at the first row of every window) must score 100 and the
null detector 0 under every profile.

Throughput is points scored per second of process CPU time, detector only (parsing and
scoring excluded), on one core.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from kubeheal.anomaly import AnomalyDetector  # noqa: E402
from kubeheal.anomaly.nab import (  # noqa: E402
    PROFILES,
    LabelledFile,
    score_corpus,
    score_file,
)

DEFAULT_DATA = Path("/work/shared/data/nab")


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.strip()).replace(tzinfo=UTC).timestamp()


def load_corpus(root: Path) -> list[tuple[LabelledFile, np.ndarray, np.ndarray]]:
    windows = json.loads((root / "combined_windows.json").read_text())
    corpus = []
    for name in sorted(windows):
        with (root / "data" / name).open(newline="") as fh:
            rows = list(csv.reader(fh))[1:]
        ts = np.array([parse_time(r[0]) for r in rows])
        values = np.array([float(r[1]) for r in rows])
        spans = []
        for start, end in windows[name]:
            a, b = parse_time(start), parse_time(end)
            i = int(np.searchsorted(ts, a, side="left"))
            j = int(np.searchsorted(ts, b, side="right")) - 1
            if ts[i] != a or ts[j] != b:
                raise SystemExit(f"{name}: window [{start}, {end}] does not match its rows")
            spans.append((i, j))
        corpus.append((LabelledFile(name, len(rows), tuple(spans)), ts, values))
    return corpus


def run_detector(ts: np.ndarray, values: np.ndarray, chunk: int) -> np.ndarray:
    det = AnomalyDetector()
    out = np.empty(values.size)
    for start in range(0, values.size, chunk):
        batch = det.update(ts[start : start + chunk], values[start : start + chunk])
        out[start : start + chunk] = batch.scores
    return out


def check_scorer(corpus: list[tuple[LabelledFile, np.ndarray, np.ndarray]]) -> None:
    if not any(lf.windows for lf, _, _ in corpus):
        raise SystemExit("these files have no label windows: nothing to score")
    perfect = []
    null = []
    for lf, _, _ in corpus:
        s = np.zeros(lf.rows)
        for start, _ in lf.windows:
            s[start] = 1.0
        perfect.append((lf, s))
        null.append((lf, np.zeros(lf.rows)))
    for profile in PROFILES:
        p = score_corpus(perfect, profile).normalised
        z = score_corpus(null, profile).normalised
        if abs(p - 100.0) > 1e-9 or abs(z) > 1e-9:
            raise SystemExit(f"scorer self-check failed for {profile.name}: perfect {p}, null {z}")
    print("scorer self-check: perfect detector = 100.0, null detector = 0.0 (all profiles)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--chunk", type=int, default=1000, help="rows per update() call")
    ap.add_argument("--files", type=int, default=0, help="only the first N files (0 = all)")
    ap.add_argument("--verbose", action="store_true", help="per-file detail (standard profile)")
    ap.add_argument("--json", type=Path, help="write the figures as JSON")
    args = ap.parse_args()

    corpus = load_corpus(args.data)
    if args.files:
        corpus = corpus[: args.files]
    points = sum(lf.rows for lf, _, _ in corpus)
    windows = sum(len(lf.windows) for lf, _, _ in corpus)
    print(f"data: {args.data} - {len(corpus)} files, {points:,} points, {windows} label windows")
    check_scorer(corpus)

    scored = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for lf, ts, values in corpus:
        scored.append((lf, run_detector(ts, values, args.chunk)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    rate = points / cpu
    print(
        f"detector: {points:,} points in {cpu:.2f} s CPU ({wall:.2f} s wall), chunk {args.chunk}:"
        f" {rate:,.0f} points/s"
    )

    results = {}
    print(f"{'profile':<20} {'score':>7} {'threshold':>10} {'windows':>9} {'FP':>5}")
    for profile in PROFILES:
        cs = score_corpus(scored, profile)
        results[profile.name] = {
            "score": round(cs.normalised, 2),
            "threshold": cs.threshold,
            "raw": cs.raw,
            "detected_windows": cs.detected_windows,
            "windows": cs.windows,
            "false_positives": cs.false_positives,
        }
        print(
            f"{profile.name:<20} {cs.normalised:7.2f} {cs.threshold:10.4f}"
            f" {cs.detected_windows:>4}/{cs.windows:<4} {cs.false_positives:5d}"
        )
        if args.verbose and profile is PROFILES[0]:
            for lf, s in scored:
                fs = score_file(s, lf, profile, threshold=cs.threshold)
                print(
                    f"    {lf.name:<52} {fs.score:7.3f}  windows {fs.detected_windows}/"
                    f"{len(lf.windows)}  FP {fs.false_positives}  first {fs.first_detections}"
                )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "files": len(corpus),
                    "points": points,
                    "chunk": args.chunk,
                    "cpu_seconds": cpu,
                    "points_per_second": rate,
                    "profiles": results,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()

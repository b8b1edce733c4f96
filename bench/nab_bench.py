"""Numenta Anomaly Benchmark (NAB) score and throughput of kubeheal's streaming detector.

    .venv/bin/python bench/nab_bench.py [--data /work/shared/data/nab] [--chunk 1000]
        [--files N] [--verbose] [--json OUT] [--cv]

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

``--cv`` adds leave-one-category-out cross-validation. The candidates are the defaults and
each one-parameter change of ``CV_GRID`` (a coarse grid, one parameter at a time). For each of
the five categories, the candidate and the per-profile thresholds are chosen on the other
four categories (best standard score there) and the held-out category is scored with them;
the held-out raw scores of the five folds are summed and normalised with the whole corpus's
null and perfect scores. That is the CV score, printed beside the in-sample one (candidate
and thresholds chosen on all 34 files). The per-candidate table gives each candidate's own CV
score (only the thresholds chosen on the other four), which is what the defaults are chosen
by: a change is kept only if it raises that score.
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

from kubeheal.anomaly import AnomalyDetector, DetectorConfig  # noqa: E402
from kubeheal.anomaly.nab import (  # noqa: E402
    PROFILES,
    CostProfile,
    LabelledFile,
    normalised_score,
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


# The coarse grid of --cv, one parameter at a time around the defaults.
CV_GRID: dict[str, tuple[object, ...]] = {
    "combine": ("both", "likelihood"),
    "alarm_ratio": (1.015, 1.05),
    "suppress_points": (10, 100),
    "reference_blocks": (50, 120),
    "weekly_lags": (0,),
    "season_calibration_periods": (1.0,),
    "relative_floor": (1e-3, 1e-2),
}

Corpus = list[tuple[LabelledFile, np.ndarray, np.ndarray]]
Scored = list[tuple[LabelledFile, np.ndarray]]


def category(lf: LabelledFile) -> str:
    return lf.name.split("/", 1)[0]


def candidates() -> list[tuple[str, DetectorConfig]]:
    out = [("defaults", DetectorConfig())]
    for name, values in CV_GRID.items():
        for v in values:
            out.append((f"{name}={v}", DetectorConfig(**{name: v})))  # type: ignore[arg-type]
    return out


def held_out_raw(train: Scored, test: Scored, profile: CostProfile) -> tuple[float, float]:
    """(threshold chosen on ``train``, summed raw score of ``test`` at that threshold)."""
    threshold = score_corpus(train, profile).threshold if train else float("inf")
    return threshold, sum(score_file(s, lf, profile, threshold=threshold).score for lf, s in test)


def cross_validate(runs: dict[str, Scored]) -> dict[str, object]:
    """Leave-one-category-out CV over the candidates' scores (see the module doc)."""
    any_run = next(iter(runs.values()))
    cats = sorted({category(lf) for lf, _ in any_run})
    nulls = {
        p.name: score_corpus([(lf, np.zeros(lf.rows)) for lf, _ in any_run], p) for p in PROFILES
    }
    per_candidate: dict[str, dict[str, float]] = {}
    for label, scored in runs.items():
        per_candidate[label] = {}
        for profile in PROFILES:
            total = 0.0
            for cat in cats:
                train = [(lf, s) for lf, s in scored if category(lf) != cat]
                test = [(lf, s) for lf, s in scored if category(lf) == cat]
                total += held_out_raw(train, test, profile)[1]
            z = nulls[profile.name]
            per_candidate[label][profile.name] = normalised_score(
                total, null=z.null, perfect=z.perfect
            )
    folds = []
    nested = dict.fromkeys((p.name for p in PROFILES), 0.0)
    for cat in cats:

        def train_of(scored: Scored, cat: str = cat) -> Scored:
            return [(lf, s) for lf, s in scored if category(lf) != cat]

        chosen = max(
            runs, key=lambda lab: score_corpus(train_of(runs[lab]), PROFILES[0]).normalised
        )
        scored = runs[chosen]
        test = [(lf, s) for lf, s in scored if category(lf) == cat]
        fold: dict[str, object] = {"held_out": cat, "files": len(test), "chosen": chosen}
        for profile in PROFILES:
            threshold, raw = held_out_raw(train_of(scored), test, profile)
            nested[profile.name] += raw
            fold[profile.name] = {"threshold": threshold, "raw": raw}
        folds.append(fold)
    cv = {
        p.name: normalised_score(
            nested[p.name], null=nulls[p.name].null, perfect=nulls[p.name].perfect
        )
        for p in PROFILES
    }
    return {"cv": cv, "folds": folds, "per_candidate": per_candidate}


def run_detector(
    ts: np.ndarray, values: np.ndarray, chunk: int, config: DetectorConfig | None = None
) -> np.ndarray:
    det = AnomalyDetector(config)
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
    ap.add_argument(
        "--cv", action="store_true", help="leave-one-category-out cross-validation (CV_GRID)"
    )
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
    report: dict[str, object] = {
        "files": len(corpus),
        "points": points,
        "chunk": args.chunk,
        "cpu_seconds": cpu,
        "points_per_second": rate,
        "profiles": results,
    }
    if args.cv:
        report["cv"] = run_cv(corpus, args.chunk, scored, results)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


def run_cv(
    corpus: Corpus, chunk: int, default_scored: Scored, in_sample: dict[str, dict[str, object]]
) -> dict[str, object]:
    runs: dict[str, Scored] = {}
    for label, config in candidates():
        if label == "defaults":
            runs[label] = default_scored
        else:
            runs[label] = [(lf, run_detector(ts, v, chunk, config)) for lf, ts, v in corpus]
    out = cross_validate(runs)
    names = [p.name for p in PROFILES]
    print("\nleave-one-category-out CV (candidate and thresholds chosen on the other categories)")
    for fold in out["folds"]:  # type: ignore[attr-defined]
        raws = "  ".join(f"{n} {fold[n]['raw']:+.3f}" for n in names)
        print(
            f"  held out {fold['held_out']:<22} ({fold['files']} files):"
            f" {fold['chosen']:<32} {raws}"
        )
    print(f"{'profile':<20} {'in-sample':>9} {'CV':>7}")
    for n in names:
        print(f"{n:<20} {in_sample[n]['score']:9.2f} {out['cv'][n]:7.2f}")  # type: ignore[index]
    print("\nper-candidate CV (thresholds chosen on the other categories):")
    for label, figs in out["per_candidate"].items():  # type: ignore[attr-defined]
        print(f"  {label:<34} " + "  ".join(f"{figs[n]:7.2f}" for n in names))
    return out


if __name__ == "__main__":
    main()

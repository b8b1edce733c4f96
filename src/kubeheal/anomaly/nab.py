"""Scoring of streaming anomaly detectors by the rules of the Numenta Anomaly Benchmark (NAB).

Pure: no I/O, no clock. Implemented from NAB's documented rules (Lavin & Ahmad 2015 and the
NAB repository's README and scoring code's docstrings):

- each data file has label windows (index ranges, inclusive); the first
  ``min(floor(0.15 * rows), 750)`` rows are a probationary period whose detections are ignored
  (a window is scored only through its rows after the probationary period);
- a row is a detection when its anomaly score is ``>= threshold``;
- inside a window only the earliest detection counts, rewarded with
  ``A_TP * S(p) / S(-1)`` where ``p = -(right - i + 1) / width`` (``-1`` at the window's first
  row) and ``S(p) = 2 * sigmoid(-5 * p) - 1`` (``-1`` when ``p >= 3``);
- a window without detection costs ``A_FN``;
- a detection outside windows costs ``A_FP`` before any window, and ``-A_FP * S(q)`` after one,
  where ``q = |prev_right - i| / (prev_width - 1)`` (so a detection just after a window costs
  little and one three window widths later the full ``A_FP``);
- one threshold per profile is chosen to maximise the summed score over the whole corpus, and
  the result is normalised ``100 * (S - S_null) / (S_perfect - S_null)`` where the null
  detector detects nothing and the perfect one detects every window at its first row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "PROFILES",
    "CorpusScore",
    "CostProfile",
    "FileScore",
    "LabelledFile",
    "normalised_score",
    "optimise_threshold",
    "probationary_length",
    "scaled_sigmoid",
    "score_corpus",
    "score_file",
]

FloatArray = npt.NDArray[np.float64]

_OUTSIDE = -1
_PROBATION = -2


@dataclass(frozen=True, slots=True)
class CostProfile:
    """One NAB application profile: reward of a true positive, costs of FP and FN."""

    name: str
    tp: float
    fp: float
    fn: float


PROFILES: tuple[CostProfile, ...] = (
    CostProfile("standard", 1.0, 0.11, 1.0),
    CostProfile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    CostProfile("reward_low_FN_rate", 1.0, 0.11, 2.0),
)


@dataclass(frozen=True, slots=True)
class LabelledFile:
    """A data file's length and its label windows as inclusive row-index ranges, in order."""

    name: str
    rows: int
    windows: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        previous_end = -1
        for start, end in self.windows:
            if not 0 <= start <= end < self.rows or start <= previous_end:
                raise ValueError(f"{self.name}: bad or overlapping window [{start}, {end}]")
            previous_end = end


@dataclass(frozen=True, slots=True)
class FileScore:
    """The raw score of one file at one threshold, with its counts."""

    name: str
    score: float
    detected_windows: int
    missed_windows: int
    false_positives: int
    first_detections: tuple[int | None, ...]


@dataclass(frozen=True, slots=True)
class CorpusScore:
    """The best threshold of one profile over a corpus and the scores that go with it."""

    profile: CostProfile
    threshold: float
    raw: float
    null: float
    perfect: float
    normalised: float
    detected_windows: int
    windows: int
    false_positives: int


def probationary_length(rows: int) -> int:
    """Rows at the start of a file whose detections are ignored: ``min(floor(.15 n), 750)``."""
    return min(math.floor(0.15 * rows), 750)


def scaled_sigmoid(position: FloatArray) -> FloatArray:
    """NAB's ``2 * sigmoid(-5 x) - 1``, and ``-1`` for ``x >= 3`` (vectorised)."""
    x = np.asarray(position, dtype=np.float64)
    out: FloatArray = 2.0 / (1.0 + np.exp(5.0 * x)) - 1.0
    return np.where(x >= 3.0, -1.0, out)


_MAX_TP = float(scaled_sigmoid(np.array([-1.0]))[0])


def _row_values(
    labelled: LabelledFile, profile: CostProfile
) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """Per row: the window index (or _OUTSIDE / _PROBATION) and the row's score if detected."""
    n = labelled.rows
    window_of = np.full(n, _OUTSIDE, dtype=np.int64)
    value = np.empty(n, dtype=np.float64)
    idx = np.arange(n, dtype=np.float64)
    # Before any window: full false-positive cost.
    first_start = labelled.windows[0][0] if labelled.windows else n
    value[:first_start] = -profile.fp
    for k, (start, end) in enumerate(labelled.windows):
        width = float(end - start + 1)
        window_of[start : end + 1] = k
        pos = -(end - idx[start : end + 1] + 1.0) / width
        value[start : end + 1] = scaled_sigmoid(pos) * profile.tp / _MAX_TP
        next_start = labelled.windows[k + 1][0] if k + 1 < len(labelled.windows) else n
        if next_start > end + 1:
            after = idx[end + 1 : next_start]
            # A one-row window has width 1: NAB divides by zero there; treat it as far away.
            q = np.abs(end - after) / (width - 1.0) if width > 1 else np.full_like(after, 3.0)
            value[end + 1 : next_start] = scaled_sigmoid(q) * profile.fp
    window_of[: probationary_length(n)] = _PROBATION
    return window_of, value


def _scorable_windows(labelled: LabelledFile) -> list[int]:
    prob = probationary_length(labelled.rows)
    return [k for k, (_, end) in enumerate(labelled.windows) if end >= prob]


def score_file(
    scores: FloatArray, labelled: LabelledFile, profile: CostProfile, *, threshold: float
) -> FileScore:
    """Score one file's anomaly scores at ``threshold`` (a detection is ``score >= threshold``)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != (labelled.rows,):
        raise ValueError(f"{labelled.name}: {s.shape[0]} scores for {labelled.rows} rows")
    window_of, value = _row_values(labelled, profile)
    detected = s >= threshold
    total = 0.0
    false_positives = 0
    fp_rows = detected & (window_of == _OUTSIDE)
    total += float(value[fp_rows].sum())
    false_positives = int(fp_rows.sum())
    hits = 0
    firsts: list[int | None] = []
    for k in _scorable_windows(labelled):
        rows = np.flatnonzero(detected & (window_of == k))
        if rows.size:
            hits += 1
            firsts.append(int(rows[0]))
            total += float(value[rows[0]])
        else:
            firsts.append(None)
            total -= profile.fn
    windows = len(firsts)
    return FileScore(
        name=labelled.name,
        score=total,
        detected_windows=hits,
        missed_windows=windows - hits,
        false_positives=false_positives,
        first_detections=tuple(firsts),
    )


def optimise_threshold(
    corpus: Sequence[tuple[LabelledFile, FloatArray]], profile: CostProfile
) -> tuple[float, float]:
    """The threshold maximising the summed raw score over ``corpus``, and that score.

    Every distinct score value is a candidate (plus "detect nothing", returned as ``inf``); on
    ties the highest threshold wins.
    """
    all_scores: list[FloatArray] = []
    all_deltas: list[FloatArray] = []
    base = 0.0
    for labelled, raw in corpus:
        s = np.asarray(raw, dtype=np.float64)
        if s.shape != (labelled.rows,):
            raise ValueError(f"{labelled.name}: {s.shape[0]} scores for {labelled.rows} rows")
        window_of, value = _row_values(labelled, profile)
        outside = window_of == _OUTSIDE
        all_scores.append(s[outside])
        all_deltas.append(value[outside])
        for k in _scorable_windows(labelled):
            base -= profile.fn
            rows = np.flatnonzero(window_of == k)
            order = np.argsort(-s[rows], kind="stable")
            best = np.maximum.accumulate(value[rows][order])
            delta = np.diff(best, prepend=-profile.fn)
            all_scores.append(s[rows][order])
            all_deltas.append(delta)
    if not all_scores:
        return math.inf, base
    scores = np.concatenate(all_scores)
    deltas = np.concatenate(all_deltas)
    order = np.argsort(-scores, kind="stable")
    scores = scores[order]
    totals = base + np.cumsum(deltas[order])
    # Evaluate only at the end of each group of equal scores.
    last_of_group = np.ones(scores.size, dtype=bool)
    last_of_group[:-1] = scores[1:] != scores[:-1]
    candidates = totals[last_of_group]
    thresholds = scores[last_of_group]
    if candidates.size == 0 or candidates.max() <= base:
        return math.inf, base
    best_i = int(np.argmax(candidates))  # first maximum = highest threshold
    return float(thresholds[best_i]), float(candidates[best_i])


def normalised_score(raw: float, *, null: float, perfect: float) -> float:
    """``100 * (raw - null) / (perfect - null)``."""
    return 100.0 * (raw - null) / (perfect - null)


def score_corpus(
    corpus: Sequence[tuple[LabelledFile, FloatArray]], profile: CostProfile
) -> CorpusScore:
    """Optimise the profile's threshold over ``corpus`` and normalise the resulting score."""
    threshold, raw = optimise_threshold(corpus, profile)
    files = [score_file(s, lf, profile, threshold=threshold) for lf, s in corpus]
    total = sum(f.score for f in files)
    if not math.isclose(total, raw, rel_tol=1e-9, abs_tol=1e-9):
        raise AssertionError(f"sweep {raw} and per-file score {total} disagree")
    windows = sum(len(_scorable_windows(lf)) for lf, _ in corpus)
    null = -profile.fn * windows
    perfect = profile.tp * windows
    return CorpusScore(
        profile=profile,
        threshold=threshold,
        raw=raw,
        null=null,
        perfect=perfect,
        normalised=normalised_score(raw, null=null, perfect=perfect),
        detected_windows=sum(f.detected_windows for f in files),
        windows=windows,
        false_positives=sum(f.false_positives for f in files),
    )

"""The NAB scorer: perfect = 100, null = 0, hand-computed cases, and a published file score."""

from __future__ import annotations

import csv
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from kubeheal.anomaly.nab import (
    PROFILES,
    LabelledFile,
    optimise_threshold,
    probationary_length,
    scaled_sigmoid,
    score_corpus,
    score_file,
)

STANDARD, LOW_FP, LOW_FN = PROFILES
NAB = Path("/work/shared/data/nab")


def s(x: float) -> float:
    return float(scaled_sigmoid(np.array([x]))[0])


def test_probationary_period_and_sigmoid() -> None:
    assert probationary_length(1000) == 150
    assert probationary_length(10_000) == 750
    assert s(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert s(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert s(0.0) == 0.0
    assert s(3.0) == -1.0


def test_perfect_is_100_and_null_is_0() -> None:
    files = [
        LabelledFile("a", 1000, ((400, 449), (700, 749))),
        LabelledFile("b", 500, ((300, 320),)),
    ]
    perfect = []
    for lf in files:
        x = np.zeros(lf.rows)
        x[[w[0] for w in lf.windows]] = 1.0
        perfect.append((lf, x))
    null = [(lf, np.zeros(lf.rows)) for lf in files]
    for profile in PROFILES:
        assert score_corpus(perfect, profile).normalised == pytest.approx(100.0)
        assert score_corpus(null, profile).normalised == pytest.approx(0.0)


def test_hand_computed_file() -> None:
    # 1000 rows: probation 150; window [400, 449] (width 50).
    lf = LabelledFile("f", 1000, ((400, 449),))
    x = np.zeros(1000)
    x[100] = 1.0  # in the probationary period: ignored
    x[200] = 1.0  # before any window: -A_FP
    x[424] = 1.0  # in the window: position -(449-424+1)/50 = -0.52
    x[430] = 1.0  # later in the same window: not counted
    x[474] = 1.0  # after the window: position (474-449)/49
    got = score_file(x, lf, STANDARD, threshold=0.5)
    tp = s(-0.52) / s(-1.0)
    fp_after = s(25 / 49) * 0.11
    assert got.score == pytest.approx(-0.11 + tp + fp_after)
    assert (got.detected_windows, got.missed_windows, got.false_positives) == (1, 0, 2)
    assert got.first_detections == (424,)
    missed = score_file(np.zeros(1000), lf, LOW_FN, threshold=0.5)
    assert missed.score == -2.0


def test_threshold_is_optimised_over_the_corpus() -> None:
    lf = LabelledFile("f", 1000, ((400, 449),))
    x = np.zeros(1000)
    x[410] = 0.9  # a true detection
    x[[200, 600, 800]] = 0.8  # three far false positives
    x[[250]] = 0.95  # one false positive above the true detection
    threshold, raw = optimise_threshold([(lf, x)], STANDARD)
    assert threshold == 0.9
    assert raw == pytest.approx(score_file(x, lf, STANDARD, threshold=0.9).score)
    assert raw == pytest.approx(-0.11 + s(-(449 - 410 + 1) / 50) / s(-1.0))
    # with costlier false positives the same threshold still wins; with nothing, inf
    empty = optimise_threshold([(lf, np.zeros(1000))], STANDARD)
    assert empty == (math.inf, -1.0)


def test_bad_windows_are_refused() -> None:
    with pytest.raises(ValueError):
        LabelledFile("x", 100, ((50, 40),))
    with pytest.raises(ValueError):
        LabelledFile("x", 100, ((10, 40), (30, 60)))
    with pytest.raises(ValueError):
        score_file(np.zeros(5), LabelledFile("x", 10, ()), STANDARD, threshold=0.5)


@pytest.mark.skipif(not NAB.is_dir(), reason="NAB data not present")
def test_reproduces_nabs_published_score_of_htm_on_one_file() -> None:
    """Numenta HTM's detections on realTraffic/speed_7578.csv (NAB's results/numenta, threshold
    0.5127) scored 1.23649741556 under the standard profile in NAB's own results file."""
    path = NAB / "data" / "realTraffic" / "speed_7578.csv"
    with path.open() as fh:
        rows = list(csv.reader(fh))[1:]
    when = [r[0] for r in rows]
    windows = []
    for start, end in (
        ("2015-09-11 15:34:00", "2015-09-11 17:54:00"),
        ("2015-09-15 13:26:00", "2015-09-15 15:54:00"),
        ("2015-09-16 13:04:00", "2015-09-16 15:20:00"),
        ("2015-09-16 16:00:00", "2015-09-16 18:20:00"),
    ):
        windows.append((when.index(start), when.index(end)))
    lf = LabelledFile("speed_7578", len(rows), tuple(windows))
    x = np.zeros(len(rows))
    for hit in (
        "2015-09-12 00:16:00",
        "2015-09-14 17:45:00",
        "2015-09-15 06:05:00",
        "2015-09-15 14:34:00",
        "2015-09-16 14:19:00",
        "2015-09-16 17:15:00",
        "2015-09-16 17:45:00",
    ):
        x[when.index(hit)] = 1.0
    got = score_file(x, lf, STANDARD, threshold=0.5)
    assert got.score == pytest.approx(1.23649741556, abs=1e-9)
    assert (got.detected_windows, got.false_positives) == (3, 3)
    assert datetime.fromisoformat(when[0]).replace(tzinfo=UTC).year == 2015

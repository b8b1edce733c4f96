"""The anomaly detector's vocabulary: deviations, constants, parameters and results.

:class:`DetectorConfig` (the one parameter set), :class:`Explanation` (why one point scored what
it did) and :class:`ScoreBatch` (the scores of one call), with the feature indices and the
constants both scoring paths share. Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "FEATURES",
    "DetectorConfig",
    "Explanation",
    "ScoreBatch",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

FEATURES: Final = ("spike", "level", "daily", "daily_trend", "weekly", "weekly_trend")
SPIKE, LEVEL, DAILY, DAILY_TREND, WEEKLY, WEEKLY_TREND = range(6)
NF: Final = len(FEATURES)
DAY: Final = 86400.0
WEEK: Final = 7 * DAY
STEP_SAMPLE: Final = 33  # the sampling step is the median of the first 32 intervals
STATE_VERSION: Final = 2
RATIO_CAP: Final = 2.0  # ratios are capped here before the likelihood's moments
# Ratios and their moments are summed on a grid of 2**-20, so sums are exact and the scores do
# not depend on how the stream is cut into chunks.
GRID: Final = float(2**20)
SIGMA_FLOOR: Final = 0.01  # least spread of the averaged ratios (ratios are scale-free)
BUFFER_ROOM: Final = 1024  # points appended in place before the history buffer is copied
SMALL_BATCH: Final = 8  # up to this many points per call are scored one at a time
NO_ALARM: Final = -(10**18)
SUPPRESSED_CAP: Final = 0.49


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """The one parameter set of the detector (the defaults are the benchmarked ones)."""

    local_window: int = 24
    """Points of the local median the ``spike`` deviation is measured from."""
    level_span: int = 6
    """Points averaged by the ``level`` and ``*_trend`` deviations."""
    level_window: int = 96
    """Points of the baseline median the ``level`` deviation is measured from."""
    daily_lags: int = 5
    """Previous days whose values give the daily expectation (median)."""
    weekly_lags: int = 1
    """Previous weeks whose values give the weekly expectation (median)."""
    season_calibration_periods: float = 2.0
    """Periods of seasonal residuals needed before a seasonal deviation may raise alarms."""
    min_history: int = 200
    """Points of history needed before the local deviations may raise alarms."""
    block_size: int = 100
    """Points per block of the reference maxima."""
    reference_blocks: int = 80
    """Blocks of history the reference maximum spans (80 x 100 = 8,000 points)."""
    alarm_ratio: float = 1.03
    """Deviation relative to the reference that scores 0.5 (the alarm level)."""
    suppress_points: int = 30
    """Points after an alarm that raise no new alarm."""
    max_history_points: int = 10080
    """Most points of raw history kept (a week at one sample per minute)."""
    relative_floor: float = 1e-9
    """Least reference, relative to the value: deviations smaller than this share of the value
    are never unusual (1e-9: only rounding noise is ignored)."""
    combine: Literal["record", "likelihood", "both"] = "record"
    """Which stages make the score: the record stage (ratio to the recent maximum), the
    likelihood stage (tail probability of the recent ratios), or the larger of the two."""
    likelihood_span: int = 10
    """Points of ratios averaged before the likelihood is taken (HTM's averaging window)."""
    likelihood_alarm: float = 1e-5
    """Combined tail probability that scores 0.5 (the alarm level) in the likelihood stage."""

    def __post_init__(self) -> None:
        ints = (
            self.local_window,
            self.level_span,
            self.level_window,
            self.block_size,
            self.reference_blocks,
            self.min_history,
            self.max_history_points,
        )
        if min(ints) < 1 or self.daily_lags < 0 or self.weekly_lags < 0:
            raise ValueError("detector windows must be positive")
        if self.suppress_points < 0 or self.season_calibration_periods < 0:
            raise ValueError("suppress_points and season_calibration_periods must be >= 0")
        if not self.alarm_ratio > 1.0:
            raise ValueError("alarm_ratio must be > 1")
        if not 0.0 <= self.relative_floor < 1.0:
            raise ValueError("relative_floor must be >= 0 and < 1")
        if self.combine not in ("record", "likelihood", "both"):
            raise ValueError("combine must be 'record', 'likelihood' or 'both'")
        if self.likelihood_span < 1 or not 0.0 < self.likelihood_alarm < 0.5:
            raise ValueError("likelihood_span must be >= 1 and 0 < likelihood_alarm < 0.5")


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a point scored what it did.

    ``feature`` is the deviation that dominated ("" while nothing is calibrated yet);
    ``observed`` is what that deviation looked at (the value, or the mean of the last few points
    for ``level``/``*_trend``), ``expected`` what it expected, and ``lower``..``upper`` the band
    that would not have raised an alarm. ``ratio`` is the deviation over its reference.
    """

    timestamp: float
    value: float
    score: float
    anomaly: bool
    feature: str
    observed: float
    expected: float
    lower: float
    upper: float
    ratio: float

    def describe(self) -> str:
        """One line for humans."""
        if not self.feature:
            return f"value {self.value:.6g}: not enough history yet"
        verdict = "ANOMALY" if self.anomaly else "normal"
        return (
            f"{verdict} (score {self.score:.2f}): {self.feature} observed {self.observed:.6g}, "
            f"expected {self.expected:.6g} (band {self.lower:.6g}..{self.upper:.6g})"
        )


@dataclass(frozen=True, slots=True, eq=False)
class ScoreBatch:
    """Scores and explanations of one :meth:`AnomalyDetector.update` call, one entry per point.

    ``scores`` are after de-duplication, ``raw_scores`` before; ``anomalies`` marks the alarms.
    ``expected``/``lower``/``upper`` are the band of the primary point expectation (the daily
    one once calibrated, otherwise the local median), for plotting; :meth:`explain` gives the
    dominant deviation of one point.
    """

    timestamps: FloatArray
    values: FloatArray
    scores: FloatArray
    raw_scores: FloatArray
    anomalies: BoolArray
    ratios: FloatArray
    reasons: IntArray
    expected: FloatArray
    lower: FloatArray
    upper: FloatArray
    _observed: FloatArray = field(repr=False)
    _predicted: FloatArray = field(repr=False)
    _reference: FloatArray = field(repr=False)
    _alarm_ratio: float = field(repr=False)

    def __len__(self) -> int:
        return int(self.scores.size)

    def explain(self, i: int) -> Explanation:
        """The explanation of point ``i`` of this batch."""
        k = int(self.reasons[i])
        if k < 0:
            feature, observed, expected, half = "", float(self.values[i]), math.nan, math.nan
        else:
            feature = FEATURES[k]
            observed = float(self._observed[k, i])
            expected = float(self._predicted[k, i])
            half = self._alarm_ratio * float(self._reference[k, i])
        return Explanation(
            timestamp=float(self.timestamps[i]),
            value=float(self.values[i]),
            score=float(self.scores[i]),
            anomaly=bool(self.anomalies[i]),
            feature=feature,
            observed=observed,
            expected=expected,
            lower=expected - half,
            upper=expected + half,
            ratio=float(self.ratios[i]),
        )

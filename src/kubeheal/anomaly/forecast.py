"""Time to exhaustion: when will a growing series reach its limit?

Pure: no I/O, no clock (``now`` is a parameter). Used for memory growing towards its limit (a
leak ends in an OOM kill), a volume filling up, CPU approaching its limit and replicas
approaching an HPA's maximum.

The trend is the Theil-Sen estimator (median of the pairwise slopes, robust to up to ~29 %
outliers: restarts, spikes, scrape hiccups) over the points given (or the last ``window``
seconds of them). Its confidence interval is Sen's rank interval of the pairwise slopes; the
level's spread is the residuals' robust standard deviation (1.4826 x MAD). The interval of the
time to exhaustion combines the two: earliest = (limit - (level + z s)) / slope_high, latest =
(limit - (level - z s)) / slope_low (unbounded when the slope's interval includes zero).

Input: timestamps in seconds, strictly increasing (an error names the first bad point);
non-finite values are ignored (Prometheus returns NaN for e.g. a division by zero).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from kubeheal.anomaly.errors import AnomalyInputError

__all__ = ["Exhaustion", "Trend", "format_duration", "robust_trend", "time_to_exhaustion"]

_MAX_POINTS = 200


@dataclass(frozen=True, slots=True)
class Exhaustion:
    """A forecast that a series reaches ``limit`` ``seconds`` after ``at`` (``lower..upper``)."""

    seconds: float
    lower: float
    upper: float
    slope: float
    """Growth per second (Theil-Sen)."""
    level: float
    """The fitted value at ``at``."""
    limit: float
    at: float
    points: int

    @property
    def reached(self) -> bool:
        """The series is already at or above its limit."""
        return self.seconds <= 0.0

    def describe(self) -> str:
        """E.g. ``exhaustion in 14 min (interval 11 min..19 min)``."""
        if self.reached:
            return "limit reached"
        return (
            f"exhaustion in {format_duration(self.seconds)} "
            f"(interval {format_duration(self.lower)}..{format_duration(self.upper)})"
        )


def format_duration(seconds: float) -> str:
    """``42 s``, ``14 min``, ``3.5 h``, ``2.1 d`` or ``never``."""
    if not math.isfinite(seconds):
        return "never"
    s = max(seconds, 0.0)
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 2 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


def _thin(
    t: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    if t.size <= _MAX_POINTS:
        return t, y
    idx = np.unique(np.linspace(0, t.size - 1, _MAX_POINTS).round().astype(np.int64))
    return t[idx], y[idx]


@dataclass(frozen=True, slots=True)
class Trend:
    """A robust linear trend: ``level + slope * (t - at)``, with intervals."""

    slope: float
    slope_low: float
    slope_high: float
    level: float
    """The fitted value at ``at``."""
    spread: float
    """Robust standard deviation of the residuals (1.4826 x MAD)."""
    at: float
    points: int
    z: float
    """The normal quantile of the confidence level (for ``level +- z * spread``)."""

    def value_at(self, t: float) -> float:
        """The trend's value at ``t``."""
        return self.level + self.slope * (t - self.at)


def _clean(
    timestamps: npt.ArrayLike, values: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    t = np.asarray(timestamps, dtype=np.float64).reshape(-1)
    y = np.asarray(values, dtype=np.float64).reshape(-1)
    if t.shape != y.shape:
        raise AnomalyInputError(f"{t.size} timestamps but {y.size} values")
    bad = np.flatnonzero(~np.isfinite(t))
    if bad.size:
        raise AnomalyInputError(f"point {bad[0]}: timestamp is not finite", index=int(bad[0]))
    back = np.flatnonzero(np.diff(t) <= 0)
    if back.size:
        i = int(back[0]) + 1
        raise AnomalyInputError(f"point {i}: timestamps not strictly increasing", index=i)
    keep = np.isfinite(y)
    return t[keep], y[keep]


def robust_trend(
    timestamps: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    now: float | None = None,
    window: float | None = None,
    min_points: int = 8,
    confidence: float = 0.9,
) -> Trend | None:
    """The Theil-Sen trend of the points (the last ``window`` seconds of them), or None.

    Timestamps must be strictly increasing; non-finite values are ignored. ``now`` (default:
    the last timestamp) is where ``level`` is evaluated.
    """
    if not 0.0 < confidence < 1.0:
        raise AnomalyInputError(f"confidence {confidence} is not in (0, 1)")
    t, y = _clean(timestamps, values)
    if t.size == 0:
        return None
    at = float(t[-1]) if now is None else float(now)
    if window is not None:
        recent = t >= t[-1] - window
        t, y = t[recent], y[recent]
    if t.size < max(min_points, 3):
        return None
    t, y = _thin(t, y)
    n = int(t.size)
    t0 = t[-1]
    tr = t - t0
    left, right = np.triu_indices(n, k=1)
    slopes = np.sort((y[right] - y[left]) / (tr[right] - tr[left]))
    slope = float(np.median(slopes))
    intercept = float(np.median(y - slope * tr))
    resid = y - (intercept + slope * tr)
    spread = 1.4826 * float(np.median(np.abs(resid - np.median(resid))))
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    pairs = slopes.size
    c = z * math.sqrt(n * (n - 1) * (2 * n + 5) / 18.0)
    lo_rank = max(math.floor((pairs - c) / 2.0), 0)
    hi_rank = min(math.ceil((pairs + c) / 2.0), pairs - 1)
    return Trend(
        slope=slope,
        slope_low=float(slopes[lo_rank]),
        slope_high=float(slopes[hi_rank]),
        level=intercept + slope * (at - t0),
        spread=spread,
        at=at,
        points=n,
        z=z,
    )


def time_to_exhaustion(
    timestamps: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    limit: float,
    now: float | None = None,
    window: float | None = None,
    min_points: int = 8,
    confidence: float = 0.9,
    horizon: float | None = None,
    significant: bool = True,
) -> Exhaustion | None:
    """Forecast when ``values`` reach ``limit``; ``None`` when they are not growing.

    ``now`` defaults to the last timestamp; ``window`` keeps only the last seconds of points;
    ``horizon`` returns ``None`` for forecasts further away than that; ``confidence`` is the
    two-sided level of the slope's and the level's intervals. With ``significant`` (default)
    a rise whose slope interval includes zero (noise) is no forecast; without it such a
    forecast has an unbounded ``upper``.
    """
    if not math.isfinite(limit):
        raise AnomalyInputError(f"limit {limit} is not a finite number")
    trend = robust_trend(
        timestamps, values, now=now, window=window, min_points=min_points, confidence=confidence
    )
    if trend is None:
        return None
    slope, level, at, n = trend.slope, trend.level, trend.at, trend.points
    if level >= limit:
        return Exhaustion(0.0, 0.0, 0.0, slope, level, limit, at, n)
    if slope <= 0.0 or (significant and trend.slope_low <= 0.0):
        return None
    seconds = (limit - level) / slope
    if horizon is not None and seconds > horizon:
        return None
    margin = trend.z * trend.spread
    earliest = max((limit - (level + margin)) / max(trend.slope_high, slope), 0.0)
    latest = (limit - (level - margin)) / trend.slope_low if trend.slope_low > 0.0 else math.inf
    return Exhaustion(
        seconds=seconds,
        lower=min(earliest, seconds),
        upper=max(latest, seconds),
        slope=slope,
        level=level,
        limit=limit,
        at=at,
        points=n,
    )

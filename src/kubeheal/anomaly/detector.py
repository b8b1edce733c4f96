"""Streaming anomaly detector for one time series: an ensemble of cheap causal statistics.

Pure: no I/O, no clock. Feed points in time order with :meth:`AnomalyDetector.update` (one point
or a chunk at a time; the result does not depend on how the stream is cut into chunks); each
point gets a score in [0, 1] that uses only that point and the points before it.

How a point is scored
---------------------
Six deviations are measured at every point (a deviation is "not yet available" while its
history is too short):

``spike``
    ``|x - median(previous 24 points)|``
``level``
    ``|mean(last 6 points) - median(the 96 points before them)|`` (level shifts, bursts)
``daily`` / ``weekly``
    ``|x - seasonal expectation|``; the expectation is the median of the values at the same time
    of day on up to 5 previous days (``daily``) or on the previous week (``weekly``), matched by
    timestamp so gaps are harmless. A period is used only when the sampling allows: at least 4
    samples per period and the period within ``max_history_points``.
``daily_trend`` / ``weekly_trend``
    ``|mean of the last 6 seasonal residuals|`` (a pattern that stays off, e.g. a missing peak)

Each deviation is compared with the largest value the same deviation took over the previous
~8,000 points (``reference_blocks * block_size``; kept as block maxima, so the memory per series
is small). The ratio ``deviation / reference`` says how unusual the point is for this series
*in its own units*: 1 means "as large as the largest deviation seen recently". No distribution
is assumed, and noise, heavy tails, repeating edges of square waves and seasonal patterns are
absorbed because they keep the reference high. A deviation contributes only once it has been
calibrated on enough history (200 points; two full periods for the seasonal ones).

The score is ``1 - 2 ** (-(ratio - 1) / (alarm_ratio - 1))`` for the largest ratio (0 below 1),
so a ratio of ``alarm_ratio`` (1.03: 3 % beyond the largest recent deviation) scores 0.5, which
is the alarm level. After an alarm, the next ``suppress_points`` points are de-duplicated: their
score is capped below 0.5 and they raise no alarm (one anomaly, one alarm). This "record" stage
is calibrated by construction: a ratio above 1 means "beyond everything this series did in its
last ~8,000 points", a conformal statement with no distribution assumed.

An optional likelihood stage (``combine="likelihood"`` or ``"both"``, after Numenta HTM's
anomaly likelihood) averages the ratios over ``likelihood_span`` points and takes the upper
tail probability of that average under a normal law fitted to the same average over the
previous ~8,000 points, Bonferroni-corrected over the deviations; ``likelihood_alarm`` is the
tail probability that scores 0.5. Leave-one-category-out cross-validation on NAB lowers the
score with it (docs/benchmarks.md), so it is off by default.

Every point carries an explanation: which deviation dominated, the observed and expected values
and the band of values that would not have raised an alarm.

The parameters that matter are few: ``alarm_ratio`` (how far beyond the recent record is an
alarm), ``suppress_points`` (de-duplication), the reference span ``reference_blocks *
block_size`` and the window lengths of the deviations. The defaults of :class:`DetectorConfig`
are the candidate with the best leave-one-category-out cross-validated NAB score on a coarse
one-parameter-at-a-time grid (``bench/nab_bench.py --cv``); the same set serves every series.

One point per call (online use) takes a scalar path that computes exactly what a batch does,
without the batch's per-call array overhead (~0.1 ms instead of ~1 ms).
"""

from __future__ import annotations

import base64
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal

import msgspec
import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from kubeheal.anomaly.errors import AnomalyInputError, DetectorStateError

__all__ = [
    "FEATURES",
    "AnomalyDetector",
    "DetectorConfig",
    "Explanation",
    "ScoreBatch",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

FEATURES: Final = ("spike", "level", "daily", "daily_trend", "weekly", "weekly_trend")
_SPIKE, _LEVEL, _DAILY, _DAILY_TREND, _WEEKLY, _WEEKLY_TREND = range(6)
_NF: Final = len(FEATURES)
_DAY: Final = 86400.0
_WEEK: Final = 7 * _DAY
_STEP_SAMPLE: Final = 33  # the sampling step is the median of the first 32 intervals
_STATE_VERSION: Final = 2
_RATIO_CAP: Final = 2.0  # ratios are capped here before the likelihood's moments
# Ratios and their moments are summed on a grid of 2**-20, so sums are exact and the scores do
# not depend on how the stream is cut into chunks.
_GRID: Final = float(2**20)
_SIGMA_FLOOR: Final = 0.01  # least spread of the averaged ratios (ratios are scale-free)
_BUFFER_ROOM: Final = 1024  # points appended in place before the history buffer is copied
_SMALL_BATCH: Final = 8  # up to this many points per call are scored one at a time
_NO_ALARM: Final = -(10**18)
_SUPPRESSED_CAP: Final = 0.49


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


def _median_windows(x: FloatArray, width: int, count: int, end: int) -> FloatArray:
    """Medians of the ``count`` windows ``x[j-width:j]`` for ``j`` in ``end-count+1..end``."""
    start = end - count + 1 - width
    rows = sliding_window_view(x[start : end + 1], width)[:count].copy()
    lo, hi = (width - 1) // 2, width // 2
    rows.partition((lo, hi) if lo != hi else lo, axis=1)  # np.median's order statistics
    if lo == hi:
        return rows[:, lo].copy()
    out: FloatArray = (rows[:, lo] + rows[:, hi]) / 2
    return out


def _rolling_max(
    f: FloatArray, g0: int, bsz: int, ring: FloatArray, partial: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per point: max of each row of ``f`` over the ring's blocks and this block before it.

    ``ring`` holds the maxima of the last complete blocks, ``partial`` the maximum of the
    current block so far; returns the per-point maxima and both updated.
    """
    nb = ring.shape[1]
    m, n = f.shape
    off = g0 % bsz
    total = off + n
    nblk = -(-total // bsz)
    buf = np.full((m, nblk * bsz), -np.inf)
    buf[:, off : off + n] = f
    blocks = buf.reshape(m, nblk, bsz)
    pm = np.maximum.accumulate(blocks, axis=2)
    excl = np.empty_like(pm)
    excl[:, :, 0] = -np.inf
    excl[:, :, 1:] = pm[:, :, :-1]
    excl[:, 0, :] = np.maximum(excl[:, 0, :], partial[:, None])
    block_max = pm[:, :, -1].copy()
    block_max[:, 0] = np.maximum(block_max[:, 0], partial)
    allb = np.concatenate([ring, block_max], axis=1)
    window = sliding_window_view(allb, nb, axis=1)[:, :nblk, :].max(axis=2)
    ref = np.maximum(window[:, :, None], excl).reshape(m, -1)[:, off : off + n]
    complete = nblk if total % bsz == 0 else nblk - 1
    new_ring = allb[:, complete : complete + nb].copy()
    new_partial = block_max[:, -1].copy() if total % bsz else np.full(m, -np.inf)
    out: FloatArray = np.asarray(ref, dtype=np.float64)
    return out, new_ring, new_partial


# One point scored by AnomalyDetector._point: (timestamp, value, score, raw score, ratio,
# expected, lower, upper), alarm, reason, and per deviation: observed, predicted, reference.
_Point = tuple[list[float], bool, int, list[float], list[float], list[float]]


def _concat(parts: list[ScoreBatch], alarm_ratio: float) -> ScoreBatch:
    """Consecutive batches as one."""

    def cat(name: str) -> npt.NDArray[Any]:
        return np.concatenate([getattr(b, name) for b in parts], axis=-1)

    return ScoreBatch(
        timestamps=cat("timestamps"),
        values=cat("values"),
        scores=cat("scores"),
        raw_scores=cat("raw_scores"),
        anomalies=cat("anomalies"),
        ratios=cat("ratios"),
        reasons=cat("reasons"),
        expected=cat("expected"),
        lower=cat("lower"),
        upper=cat("upper"),
        _observed=cat("_observed"),
        _predicted=cat("_predicted"),
        _reference=cat("_reference"),
        _alarm_ratio=alarm_ratio,
    )


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise DetectorStateError(message)


def _array(d: dict[str, Any], expect: tuple[int, ...] | None) -> npt.NDArray[Any]:
    raw = base64.b64decode(d["data"], validate=True)
    out = np.frombuffer(raw, dtype=np.dtype(d["dtype"])).reshape(d["shape"]).copy()
    _check(expect is None or out.shape == expect, f"state array of shape {out.shape}")
    return out


class AnomalyDetector:
    """A streaming, causal, deterministic anomaly detector for one series (see module doc)."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        c = self.config
        self._n = 0
        self._last_t = -math.inf
        self._hist_t = np.empty(0, dtype=np.float64)
        self._hist_x = np.empty(0, dtype=np.float64)
        self._step = math.nan
        self._counts = np.zeros(_NF, dtype=np.int64)
        self._ring = np.full((_NF, c.reference_blocks), -np.inf)
        self._partial = np.full(_NF, -np.inf)
        self._res_tail = np.full((2, max(c.level_span - 1, 0)), np.nan)
        self._last_alarm = _NO_ALARM
        self._u_tail = np.full((_NF, c.likelihood_span - 1), np.nan)
        self._ring_max: list[float] | None = None  # row maxima of _ring (the one-point path)
        self._in_buffer = False  # _hist_* are views into _buf_* with room to append
        self._buf_t = self._buf_x = np.empty(0)
        self._buf_start = 0
        self._mring = np.zeros((3, _NF, c.reference_blocks))
        self._mpartial = np.zeros((3, _NF))

    # -- public API -------------------------------------------------------------------------

    @property
    def points_seen(self) -> int:
        """How many points this detector has scored."""
        return self._n

    @property
    def sampling_step(self) -> float | None:
        """Seconds between samples (median of the first intervals), once known."""
        return None if math.isnan(self._step) else self._step

    @property
    def seasonal_periods(self) -> tuple[str, ...]:
        """The seasonal periods this series' sampling allows ("daily", "weekly")."""
        return tuple(name for name, p, _ in self._periods() if p > 0)

    def update(self, timestamps: npt.ArrayLike, values: npt.ArrayLike) -> ScoreBatch:
        """Score new points, in time order.

        Timestamps are seconds; they must not go backwards (an :class:`AnomalyInputError` names
        the first point that does, and nothing is scored). A repeated timestamp is scored as the
        next sample. Values must be finite: drop or fill missing samples before calling.
        """
        t = np.ascontiguousarray(timestamps, dtype=np.float64).reshape(-1)
        x = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
        if t.size == 1 and x.size == 1:
            one = self._point(float(t[0]), float(x[0]))
            if one is not None:
                return self._batch_of([one])
        self._validate(t, x)
        if t.size == 0:
            empty = np.empty(0)
            return ScoreBatch(
                empty, empty, empty, empty, np.empty(0, dtype=bool), empty,
                np.empty(0, dtype=np.int64), empty, empty, empty,
                np.empty((_NF, 0)), np.empty((_NF, 0)), np.empty((_NF, 0)),
                self.config.alarm_ratio,
            )  # fmt: skip
        if t.size <= _SMALL_BATCH and self._score_one_ready():
            # a few points (a poll of recent scrapes): one at a time is cheaper, same result
            points: list[_Point] = []
            for i, (ti, xi) in enumerate(zip(t.tolist(), x.tolist(), strict=True)):
                one = self._point(ti, xi)
                if one is None:  # not expected once ready; the batch path is always right
                    rest = self._score(t[i:], x[i:])
                    if not points:
                        return rest
                    return _concat([self._batch_of(points), rest], self.config.alarm_ratio)
                points.append(one)
            return self._batch_of(points)
        return self._score(t, x)

    def score_one(self, timestamp: float, value: float) -> Explanation:
        """Score one point and explain it."""
        return self.update([timestamp], [value]).explain(0)

    def state(self) -> dict[str, Any]:
        """Everything needed to resume this detector, as JSON-safe plain data."""

        def arr(a: npt.NDArray[Any]) -> dict[str, Any]:
            data = np.ascontiguousarray(a)
            return {
                "dtype": data.dtype.str,
                "shape": list(data.shape),
                "data": base64.b64encode(data.tobytes()).decode("ascii"),
            }

        return {
            "version": _STATE_VERSION,
            "config": asdict(self.config),
            "n": self._n,
            "last_t": self._last_t if math.isfinite(self._last_t) else None,
            "step": None if math.isnan(self._step) else self._step,
            "last_alarm": self._last_alarm,
            "hist_t": arr(self._hist_t),
            "hist_x": arr(self._hist_x),
            "counts": arr(self._counts),
            "ring": arr(self._ring),
            "partial": arr(self._partial),
            "res_tail": arr(self._res_tail),
            "u_tail": arr(self._u_tail),
            "mring": arr(self._mring),
            "mpartial": arr(self._mpartial),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> AnomalyDetector:
        """Restore a detector saved with :meth:`state`."""
        try:
            return cls._restore(state)
        except DetectorStateError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise DetectorStateError(f"invalid detector state: {e}") from e

    @classmethod
    def _restore(cls, state: dict[str, Any]) -> AnomalyDetector:
        _check(state["version"] == _STATE_VERSION, "unsupported detector state version")
        det = cls(DetectorConfig(**state["config"]))
        c = det.config
        det._n = int(state["n"])
        det._last_t = -math.inf if state["last_t"] is None else float(state["last_t"])
        det._step = math.nan if state["step"] is None else float(state["step"])
        det._last_alarm = int(state["last_alarm"])
        det._hist_t = _array(state["hist_t"], None).astype(np.float64)
        det._hist_x = _array(state["hist_x"], None).astype(np.float64)
        det._counts = _array(state["counts"], (_NF,)).astype(np.int64)
        det._ring = _array(state["ring"], (_NF, c.reference_blocks)).astype(np.float64)
        det._partial = _array(state["partial"], (_NF,)).astype(np.float64)
        tail = (2, max(c.level_span - 1, 0))
        det._res_tail = _array(state["res_tail"], tail).astype(np.float64)
        det._u_tail = _array(state["u_tail"], (_NF, c.likelihood_span - 1)).astype(np.float64)
        det._mring = _array(state["mring"], (3, _NF, c.reference_blocks)).astype(np.float64)
        det._mpartial = _array(state["mpartial"], (3, _NF)).astype(np.float64)
        _check(
            det._hist_t.shape == det._hist_x.shape and det._hist_t.ndim == 1,
            "history arrays of different shapes",
        )
        return det

    def to_bytes(self) -> bytes:
        """:meth:`state` as compact bytes (msgpack)."""
        return msgspec.msgpack.encode(self.state())

    @classmethod
    def from_bytes(cls, data: bytes) -> AnomalyDetector:
        """Restore a detector saved with :meth:`to_bytes`."""
        try:
            state = msgspec.msgpack.decode(data)
        except msgspec.DecodeError as e:
            raise DetectorStateError(f"invalid detector state bytes: {e}") from e
        if not isinstance(state, dict):
            raise DetectorStateError("invalid detector state bytes: not a mapping")
        return cls.from_state(state)

    # -- internals -------------------------------------------------------------------------

    def _validate(self, t: FloatArray, x: FloatArray) -> None:
        if t.shape != x.shape:
            raise AnomalyInputError(f"{t.size} timestamps but {x.size} values")
        if t.size == 0:
            return
        bad_t = ~np.isfinite(t)
        if bad_t.any():
            i = int(np.flatnonzero(bad_t)[0])
            raise AnomalyInputError(f"point {i}: timestamp is not a finite number", index=i)
        bad_x = ~np.isfinite(x)
        if bad_x.any():
            i = int(np.flatnonzero(bad_x)[0])
            raise AnomalyInputError(
                f"point {i} (t={t[i]:.3f}): value is {x[i]} (not a finite number)", index=i
            )
        if t[0] < self._last_t:
            raise AnomalyInputError(
                f"point 0 (t={t[0]:.3f}): out-of-order timestamp, before the last point seen"
                f" (t={self._last_t:.3f})",
                index=0,
            )
        back = np.flatnonzero(np.diff(t) < 0)
        if back.size:
            i = int(back[0]) + 1
            raise AnomalyInputError(
                f"point {i} (t={t[i]:.3f}): out-of-order timestamp, before point {i - 1}"
                f" (t={t[i - 1]:.3f})",
                index=i,
            )

    def _periods(self) -> list[tuple[str, float, int]]:
        """(name, period seconds or 0 when not allowed, lags) for daily and weekly."""
        c = self.config
        out: list[tuple[str, float, int]] = []
        for name, period, lags in (("daily", _DAY, c.daily_lags), ("weekly", _WEEK, c.weekly_lags)):
            ok = (
                lags > 0
                and not math.isnan(self._step)
                and self._step > 0
                and period / self._step >= 4
                and period / self._step <= c.max_history_points
            )
            out.append((name, period if ok else 0.0, lags))
        return out

    def _score(self, t: FloatArray, x: FloatArray) -> ScoreBatch:
        c = self.config
        n = t.size
        h = self._hist_t.size
        g0 = self._n
        all_t = np.concatenate([self._hist_t, t])
        all_x = np.concatenate([self._hist_x, x])
        gidx = g0 + np.arange(n)  # global index of each new point
        step_was_known = not math.isnan(self._step)
        if not step_was_known and g0 + n >= _STEP_SAMPLE:
            first = all_t[h - g0 : h - g0 + _STEP_SAMPLE]
            self._step = float(np.median(np.diff(first)))

        f = np.full((_NF, n), np.nan)
        obs = np.full((_NF, n), np.nan)
        pred = np.full((_NF, n), np.nan)
        pos = h + np.arange(n)  # positions of new points in all_*

        # spike: deviation from the median of the previous local_window points
        w = c.local_window
        ok = np.flatnonzero(gidx >= w)
        if ok.size:
            med = _median_windows(all_x, w, ok.size, int(pos[-1]))
            pred[_SPIKE, ok] = med
            obs[_SPIKE, ok] = x[ok]
            f[_SPIKE, ok] = np.abs(x[ok] - med)

        # level: mean of the last k points against the median of the W points before them
        k, big_w = c.level_span, c.level_window
        ok = np.flatnonzero(gidx >= k + big_w)
        if ok.size:
            last = int(pos[-1])
            base = _median_windows(all_x, big_w, ok.size, last - k)
            means = sliding_window_view(all_x[last - ok.size - k + 2 : last + 1], k)
            mean_k = np.asarray(means.mean(axis=1), dtype=np.float64)
            pred[_LEVEL, ok] = base
            obs[_LEVEL, ok] = mean_k
            f[_LEVEL, ok] = np.abs(mean_k - base)

        # seasonal expectations
        for slot, (_, period, lags) in enumerate(self._periods()):
            fi, ti = (_DAILY, _DAILY_TREND) if slot == 0 else (_WEEKLY, _WEEKLY_TREND)
            sp = np.full(n, np.nan)
            if period > 0:
                sp = self._seasonal(all_t, all_x, pos, gidx, period, lags)
            resid = np.where(np.isnan(sp), 0.0, x - sp)
            tail = self._res_tail[slot]
            seq = np.concatenate([tail, resid])
            if k > 1:
                win = sliding_window_view(seq, k)
                with np.errstate(invalid="ignore"):
                    smooth = np.nanmean(win, axis=1) if np.isnan(tail).any() else win.mean(axis=1)
            else:
                smooth = resid.copy()
            have = ~np.isnan(sp)
            pred[fi, have] = sp[have]
            obs[fi, have] = x[have]
            f[fi, have] = np.abs(resid[have])
            pred[ti, have] = sp[have]
            obs[ti, have] = sp[have] + smooth[have]
            f[ti, have] = np.abs(smooth[have])
            if k > 1:
                self._res_tail[slot] = seq[-(k - 1) :]

        # reference maxima and calibration
        valid = ~np.isnan(f)
        counts = self._counts[:, None] + np.cumsum(valid, axis=1)
        warm = np.full(_NF, float(c.min_history))
        step = self._step
        for fi, period in ((_DAILY, _DAY), (_WEEKLY, _WEEK)):
            if not math.isnan(step) and step > 0:
                warm[fi] = warm[fi + 1] = max(
                    float(c.min_history), math.ceil(c.season_calibration_periods * period / step)
                )
        f_ref = np.where(valid, f, -np.inf)
        ref = self._reference(f_ref, g0)
        floor = 1e-12 + c.relative_floor * np.abs(x)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(valid, f / np.maximum(ref, floor[None, :]), 0.0)
        usable = valid & (counts >= warm[:, None])
        ratio = np.where(usable, ratio, 0.0)
        best = np.max(ratio, axis=0)
        reasons = np.where(usable.any(axis=0), np.argmax(ratio, axis=0), -1).astype(np.int64)
        self._counts = counts[:, -1].copy()

        with np.errstate(over="ignore"):
            raw = np.where(best > 1.0, 1.0 - np.exp2(-(best - 1.0) / (c.alarm_ratio - 1.0)), 0.0)
        if c.combine != "record":
            with np.errstate(invalid="ignore", divide="ignore"):
                u = np.where(np.isfinite(ref), f / np.maximum(ref, floor[None, :]), np.nan)
            u = np.round(np.minimum(u, _RATIO_CAP) * _GRID) / _GRID
            lik, lik_reason = self._likelihood(u, usable, g0)
            if c.combine == "likelihood":
                raw = lik
                reasons = np.where(lik > 0, lik_reason, reasons)
            else:
                reasons = np.where(lik > raw, lik_reason, reasons)
                raw = np.maximum(raw, lik)
        scores = raw.copy()
        alarms = np.zeros(n, dtype=bool)
        last = self._last_alarm
        for i in np.flatnonzero(raw >= 0.5):
            if int(gidx[i]) - last > c.suppress_points:
                alarms[i] = True
                last = int(gidx[i])
            else:
                scores[i] = min(raw[i], _SUPPRESSED_CAP)
        self._last_alarm = last

        # the band of the primary point expectation: daily once calibrated, else local
        primary = np.where(usable[_DAILY], _DAILY, _SPIKE)
        cols = np.arange(n)
        half = c.alarm_ratio * np.where(np.isfinite(ref), ref, np.nan)
        expected = pred[primary, cols]
        lower = expected - half[primary, cols]
        upper = expected + half[primary, cols]

        self._n = g0 + n
        self._last_t = float(t[-1])
        self._retain(all_t, all_x)
        return ScoreBatch(
            timestamps=t,
            values=x,
            scores=scores,
            raw_scores=raw,
            anomalies=alarms,
            ratios=best,
            reasons=reasons,
            expected=expected,
            lower=lower,
            upper=upper,
            _observed=obs,
            _predicted=pred,
            _reference=np.where(np.isfinite(ref), ref, np.nan),
            _alarm_ratio=c.alarm_ratio,
        )

    def _seasonal(
        self,
        all_t: FloatArray,
        all_x: FloatArray,
        pos: IntArray,
        gidx: IntArray,
        period: float,
        lags: int,
    ) -> FloatArray:
        """Median of the values one..``lags`` periods before each new point (NaN if none)."""
        step = self._step
        cap = self.config.max_history_points
        n = pos.size
        cand = np.full((lags, n), np.nan)
        tp = all_t[pos]
        for m in range(1, lags + 1):
            target = tp - m * period
            j = np.searchsorted(all_t, target + step / 2, side="right") - 1
            jj = np.maximum(j, 0)
            ok = (j >= 0) & (np.abs(all_t[jj] - target) <= step) & (pos - jj <= cap)
            cand[m - 1] = np.where(ok, all_x[jj], np.nan)
        known = gidx >= _STEP_SAMPLE
        cand[:, ~known] = np.nan
        if lags == 1:
            first: FloatArray = cand[0]
            return first
        have = ~np.isnan(cand)
        out = np.full(n, np.nan)
        cols = have.any(axis=0)
        if cols.any():
            sub = cand[:, cols]
            # median ignoring NaN: sort puts NaN last; take the middle of the valid ones
            srt = np.sort(sub, axis=0)
            cnt = have[:, cols].sum(axis=0)
            lo = (cnt - 1) // 2
            hi = cnt // 2
            idx = np.arange(sub.shape[1])
            out[cols] = 0.5 * (srt[lo, idx] + srt[hi, idx])
        return out

    def _likelihood(self, u: FloatArray, usable: BoolArray, g0: int) -> tuple[FloatArray, IntArray]:
        """The likelihood stage: (score per point, the feature with the smallest tail).

        ``u`` are the ratios (NaN where a deviation is not available). Their mean over the last
        ``likelihood_span`` points is compared with the mean and spread the same average had
        over the previous ~``reference_blocks * block_size`` points (block sums, like the
        reference maxima); its upper tail probability under a normal law is corrected for the
        number of deviations compared (Bonferroni) and mapped so that ``likelihood_alarm``
        scores 0.5.
        """
        c = self.config
        span = c.likelihood_span
        seq = np.concatenate([self._u_tail, u], axis=1)
        have = ~np.isnan(seq)
        cs_v = np.concatenate([np.zeros((_NF, 1)), np.cumsum(np.where(have, seq, 0.0), axis=1)], 1)
        cs_n = np.concatenate([np.zeros((_NF, 1)), np.cumsum(have, axis=1)], axis=1)
        win_n = cs_n[:, span:] - cs_n[:, :-span]
        with np.errstate(invalid="ignore", divide="ignore"):
            m = np.where(win_n > 0, (cs_v[:, span:] - cs_v[:, :-span]) / win_n, np.nan)
        if span > 1:
            self._u_tail = seq[:, -(span - 1) :].copy()
        ok = ~np.isnan(m)
        mv = np.round(np.where(ok, m, 0.0) * _GRID) / _GRID
        stats = self._moments(
            np.stack([ok.astype(np.float64), mv, np.round(mv * mv * _GRID) / _GRID]), g0
        )
        cnt, s1, s2 = stats[0], stats[1], stats[2]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = s1 / cnt
            sd = np.sqrt(np.maximum(s2 / cnt - mean * mean, 0.0))
            z = (m - mean) / np.maximum(sd, _SIGMA_FLOOR)
        live = ok & usable & (cnt >= c.min_history) & (z > 0)
        zz = np.where(live, np.maximum(z, 1e-6), 1e-6)
        # log10 of the normal upper tail Q(z) (Karagiannidis & Lioumpas 2007, a few % relative)
        log_q = (
            np.log1p(-np.exp(-1.4 * zz))
            - 0.5 * zz * zz
            - np.log(1.135 * math.sqrt(2 * math.pi) * zz)
        ) / math.log(10.0)
        log_q = np.where(live, np.minimum(log_q, 0.0), 0.0)
        k = np.maximum(live.sum(axis=0), 1)
        combined = np.minimum(log_q.min(axis=0) + np.log10(k), 0.0)  # Bonferroni over features
        level = -math.log10(c.likelihood_alarm)
        score = np.where(live.any(axis=0), 1.0 - np.exp2(combined / level), 0.0)
        return score, np.argmin(log_q, axis=0).astype(np.int64)

    def _moments(self, q: FloatArray, g0: int) -> FloatArray:
        """Per point: sums of ``q[j]`` over the previous blocks and this block before the point."""
        c = self.config
        bsz, nb = c.block_size, c.reference_blocks
        nq, m, n = q.shape
        off = g0 % bsz
        total = off + n
        nblk = -(-total // bsz)
        buf = np.zeros((nq, m, nblk * bsz))
        buf[:, :, off : off + n] = q
        blocks = buf.reshape(nq, m, nblk, bsz)
        excl = np.cumsum(blocks, axis=3) - blocks
        excl[:, :, 0, :] += self._mpartial[:, :, None]
        block_sum = excl[:, :, :, -1] + blocks[:, :, :, -1]
        allb = np.concatenate([self._mring, block_sum], axis=2)
        csum = np.concatenate([np.zeros((nq, m, 1)), np.cumsum(allb, axis=2)], axis=2)
        window = csum[:, :, nb : nb + nblk] - csum[:, :, :nblk]
        out = (window[:, :, :, None] + excl).reshape(nq, m, -1)[:, :, off : off + n]
        complete = nblk if total % bsz == 0 else nblk - 1
        self._mring = allb[:, :, complete : complete + nb].copy()
        self._mpartial = block_sum[:, :, -1].copy() if total % bsz else np.zeros((nq, m))
        result: FloatArray = np.asarray(out, dtype=np.float64)
        return result

    def _reference(self, f: FloatArray, g0: int) -> FloatArray:
        """Per point: max of each deviation over the previous blocks and this block so far."""
        ref, self._ring, self._partial = _rolling_max(
            f, g0, self.config.block_size, self._ring, self._partial
        )
        self._ring_max = None
        return ref

    def _retain(self, all_t: FloatArray, all_x: FloatArray) -> None:
        c = self.config
        keep_points = c.level_window + c.level_span + 1
        if math.isnan(self._step):
            start = 0  # fewer than _STEP_SAMPLE points so far: keep them all
        else:
            span = max(
                (lags * period for _, period, lags in self._periods() if period > 0), default=0.0
            )
            span += 2 * self._step
            by_time = int(np.searchsorted(all_t, all_t[-1] - span, side="left"))
            start = min(by_time, max(0, all_t.size - keep_points))
            start = max(start, all_t.size - max(c.max_history_points, keep_points))
        self._hist_t = all_t[start:].copy()
        self._hist_x = all_x[start:].copy()
        self._in_buffer = False

    def _retain_start(self, all_t: FloatArray, periods: list[tuple[str, float, int]]) -> int:
        """Where the kept history starts in ``all_t`` (the rule of :meth:`_retain`)."""
        c = self.config
        keep_points = c.level_window + c.level_span + 1
        span = max((lags * period for _, period, lags in periods if period > 0), default=0.0)
        span += 2 * self._step
        by_time = int(all_t.searchsorted(all_t[-1] - span, side="left"))
        start = min(by_time, max(0, all_t.size - keep_points))
        return max(start, all_t.size - max(c.max_history_points, keep_points))

    def _score_one_ready(self) -> bool:
        c = self.config
        return (
            c.combine == "record"
            and not math.isnan(self._step)
            and self._n >= max(c.local_window, c.level_span + c.level_window, _STEP_SAMPLE)
        )

    def _batch_of(self, points: list[_Point]) -> ScoreBatch:
        """The ScoreBatch of points scored by :meth:`_point`."""
        rows = np.array([p[0] for p in points]).T.copy()
        return ScoreBatch(
            timestamps=rows[0],
            values=rows[1],
            scores=rows[2],
            raw_scores=rows[3],
            anomalies=np.array([p[1] for p in points], dtype=bool),
            ratios=rows[4],
            reasons=np.array([p[2] for p in points], dtype=np.int64),
            expected=rows[5],
            lower=rows[6],
            upper=rows[7],
            _observed=np.array([p[3] for p in points]).T.copy(),
            _predicted=np.array([p[4] for p in points]).T.copy(),
            _reference=np.array([p[5] for p in points]).T.copy(),
            _alarm_ratio=self.config.alarm_ratio,
        )

    def _point(self, t: float, x: float) -> _Point | None:
        """One point in the steady state, with scalar arithmetic (None: use :meth:`_score`).

        The same computation as :meth:`_score` for a batch of one point, operation for
        operation (the tests compare both bit for bit), without its per-call array overhead:
        the online case (one point per series per scrape) costs tens of microseconds. History
        lives in a buffer with room to append, so a point is not a copy of the history.
        """
        c = self.config
        g = self._n
        w, k, big_w = c.local_window, c.level_span, c.level_window
        step = self._step
        if (
            c.combine != "record"
            or math.isnan(step)
            or g < max(w, k + big_w, _STEP_SAMPLE)
            or not (math.isfinite(t) and math.isfinite(x))
            or t < self._last_t
        ):
            return None
        h = self._hist_t.size
        if not self._in_buffer or self._buf_start + h >= self._buf_t.size:
            cap = h + _BUFFER_ROOM
            self._buf_t = np.empty(cap)
            self._buf_x = np.empty(cap)
            self._buf_t[:h] = self._hist_t
            self._buf_x[:h] = self._hist_x
            self._buf_start = 0
            self._in_buffer = True
        b0 = self._buf_start
        self._buf_t[b0 + h] = t
        self._buf_x[b0 + h] = x
        all_t = self._buf_t[b0 : b0 + h + 1]
        all_x = self._buf_x[b0 : b0 + h + 1]
        p = h
        nan = math.nan
        f = [nan] * _NF
        obs = [nan] * _NF
        pred = [nan] * _NF

        local = all_x[p - w : p].tolist()
        local.sort()
        med = (local[(w - 1) // 2] + local[w // 2]) / 2 if w % 2 == 0 else local[w // 2]
        pred[_SPIKE], obs[_SPIKE], f[_SPIKE] = med, x, abs(x - med)

        window = all_x[p - k - big_w : p - k].tolist()
        window.sort()
        base = (
            (window[(big_w - 1) // 2] + window[big_w // 2]) / 2
            if big_w % 2 == 0
            else window[big_w // 2]
        )
        mean_k = float(np.add.reduce(all_x[p - k + 1 : p + 1])) / k
        pred[_LEVEL], obs[_LEVEL], f[_LEVEL] = base, mean_k, abs(mean_k - base)

        cap_points = c.max_history_points
        periods = self._periods()
        for slot, (_, period, lags) in enumerate(periods):
            fi, ti = (_DAILY, _DAILY_TREND) if slot == 0 else (_WEEKLY, _WEEKLY_TREND)
            sp = nan
            if period > 0:
                cand: list[float] = []
                for m in range(1, lags + 1):
                    target = t - m * period
                    j = int(all_t.searchsorted(target + step / 2, side="right")) - 1
                    jj = max(j, 0)
                    if j >= 0 and abs(float(all_t[jj]) - target) <= step and p - jj <= cap_points:
                        cand.append(float(all_x[jj]))
                    elif lags == 1:
                        cand.append(nan)
                if lags == 1:
                    sp = cand[0]
                elif cand:
                    cand.sort()
                    cnt = len(cand)
                    sp = 0.5 * (cand[(cnt - 1) // 2] + cand[cnt // 2])
            have = not math.isnan(sp)
            resid = x - sp if have else 0.0
            if k > 1:
                tail = self._res_tail[slot]
                seq = np.empty(k)
                seq[: k - 1] = tail
                seq[k - 1] = resid
                win = seq[None, :]
                if np.isnan(tail).any():
                    with np.errstate(invalid="ignore"):
                        smooth = float(np.nanmean(win, axis=1)[0])
                else:  # what ndarray.mean does: a sum reduction, then a division
                    smooth = float(np.add.reduce(win, axis=1)[0]) / k
                self._res_tail[slot] = seq[1:]
            else:
                smooth = resid
            if have:
                pred[fi], obs[fi], f[fi] = sp, x, abs(resid)
                pred[ti], obs[ti], f[ti] = sp, sp + smooth, abs(smooth)

        counts = self._counts
        floor = 1e-12 + c.relative_floor * abs(x)
        if self._ring_max is None:
            self._ring_max = self._ring.max(axis=1).tolist()
        ring_max = self._ring_max
        partial = self._partial
        warm = [float(c.min_history)] * _NF
        if step > 0:
            for fi, period in ((_DAILY, _DAY), (_WEEKLY, _WEEK)):
                warm[fi] = warm[fi + 1] = max(
                    float(c.min_history), math.ceil(c.season_calibration_periods * period / step)
                )
        ref = [0.0] * _NF
        ratios = [0.0] * _NF
        any_usable = False
        for i in range(_NF):
            r = max(ring_max[i], float(partial[i]))
            ref[i] = r
            fv = f[i]
            if math.isnan(fv):
                continue
            counts[i] += 1
            partial[i] = max(float(partial[i]), fv)
            if counts[i] >= warm[i]:
                ratios[i] = fv / max(r, floor)
                any_usable = True
        best = max(ratios)
        reason = ratios.index(best) if any_usable else -1
        if (g % c.block_size) + 1 == c.block_size:  # this point completes a block
            self._ring[:, :-1] = self._ring[:, 1:]
            self._ring[:, -1] = partial
            self._partial = np.full(_NF, -np.inf)
            self._ring_max = None

        raw = (
            float(1.0 - np.exp2(-(np.float64(best) - 1.0) / (c.alarm_ratio - 1.0)))
            if best > 1.0
            else 0.0
        )
        score, alarm = raw, False
        if raw >= 0.5:
            if g - self._last_alarm > c.suppress_points:
                alarm = True
                self._last_alarm = g
            else:
                score = min(raw, _SUPPRESSED_CAP)

        primary = (
            _DAILY if (not math.isnan(f[_DAILY]) and counts[_DAILY] >= warm[_DAILY]) else _SPIKE
        )
        refs = [r if math.isfinite(r) else nan for r in ref]
        half = c.alarm_ratio * refs[primary]
        expected = pred[primary]
        self._n = g + 1
        self._last_t = t
        start = self._retain_start(all_t, periods)
        self._buf_start = b0 + start
        self._hist_t = self._buf_t[b0 + start : b0 + h + 1]
        self._hist_x = self._buf_x[b0 + start : b0 + h + 1]
        row = [t, x, score, raw, best, expected, expected - half, expected + half]
        return row, alarm, reason, obs, pred, refs

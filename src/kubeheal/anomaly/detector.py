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

The detector is cut into rooms: :mod:`~kubeheal.anomaly.base` (parameters and results),
:mod:`~kubeheal.anomaly.stream` (the series' state), :mod:`~kubeheal.anomaly.batch` and
:mod:`~kubeheal.anomaly.scalar` (the two scoring paths); this module is the public class and its
saved state.
"""

from __future__ import annotations

import base64
import math
from dataclasses import asdict
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from kubeheal.anomaly.base import (
    FEATURES,
    NF,
    SMALL_BATCH,
    STATE_VERSION,
    DetectorConfig,
    Explanation,
    ScoreBatch,
)
from kubeheal.anomaly.batch import BatchScoring, concat_batches
from kubeheal.anomaly.errors import DetectorStateError
from kubeheal.anomaly.scalar import Point, ScalarScoring

__all__ = [
    "FEATURES",
    "AnomalyDetector",
    "DetectorConfig",
    "Explanation",
    "ScoreBatch",
]


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise DetectorStateError(message)


def _array(d: dict[str, Any], expect: tuple[int, ...] | None) -> npt.NDArray[Any]:
    raw = base64.b64decode(d["data"], validate=True)
    out = np.frombuffer(raw, dtype=np.dtype(d["dtype"])).reshape(d["shape"]).copy()
    _check(expect is None or out.shape == expect, f"state array of shape {out.shape}")
    return out


class AnomalyDetector(BatchScoring, ScalarScoring):
    """A streaming, causal, deterministic anomaly detector for one series (see module doc)."""

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
                np.empty((NF, 0)), np.empty((NF, 0)), np.empty((NF, 0)),
                self.config.alarm_ratio,
            )  # fmt: skip
        if t.size <= SMALL_BATCH and self._score_one_ready():
            # a few points (a poll of recent scrapes): one at a time is cheaper, same result
            points: list[Point] = []
            for i, (ti, xi) in enumerate(zip(t.tolist(), x.tolist(), strict=True)):
                one = self._point(ti, xi)
                if one is None:  # not expected once ready; the batch path is always right
                    rest = self._score(t[i:], x[i:])
                    if not points:
                        return rest
                    return concat_batches([self._batch_of(points), rest], self.config.alarm_ratio)
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
            "version": STATE_VERSION,
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
        _check(state["version"] == STATE_VERSION, "unsupported detector state version")
        det = cls(DetectorConfig(**state["config"]))
        c = det.config
        det._n = int(state["n"])
        det._last_t = -math.inf if state["last_t"] is None else float(state["last_t"])
        det._step = math.nan if state["step"] is None else float(state["step"])
        det._last_alarm = int(state["last_alarm"])
        det._hist_t = _array(state["hist_t"], None).astype(np.float64)
        det._hist_x = _array(state["hist_x"], None).astype(np.float64)
        det._counts = _array(state["counts"], (NF,)).astype(np.int64)
        det._ring = _array(state["ring"], (NF, c.reference_blocks)).astype(np.float64)
        det._partial = _array(state["partial"], (NF,)).astype(np.float64)
        tail = (2, max(c.level_span - 1, 0))
        det._res_tail = _array(state["res_tail"], tail).astype(np.float64)
        det._u_tail = _array(state["u_tail"], (NF, c.likelihood_span - 1)).astype(np.float64)
        det._mring = _array(state["mring"], (3, NF, c.reference_blocks)).astype(np.float64)
        det._mpartial = _array(state["mpartial"], (3, NF)).astype(np.float64)
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

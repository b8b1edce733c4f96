"""A series' stream state and the rules both of the detector's scoring paths share.

:class:`DetectorCore` holds what the detector remembers of its series (the kept history, the
sampling step, the reference maxima and moments, the counters) and checks input and seasonal
periods; :mod:`kubeheal.anomaly.batch` and :mod:`kubeheal.anomaly.scalar` score points over it.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import math

import numpy as np

from kubeheal.anomaly.base import DAY, NF, NO_ALARM, WEEK, DetectorConfig, FloatArray
from kubeheal.anomaly.errors import AnomalyInputError

__all__ = ["DetectorCore"]


class DetectorCore:
    """The state of one series' detector (see :class:`kubeheal.anomaly.AnomalyDetector`)."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        c = self.config
        self._n = 0
        self._last_t = -math.inf
        self._hist_t = np.empty(0, dtype=np.float64)
        self._hist_x = np.empty(0, dtype=np.float64)
        self._step = math.nan
        self._counts = np.zeros(NF, dtype=np.int64)
        self._ring = np.full((NF, c.reference_blocks), -np.inf)
        self._partial = np.full(NF, -np.inf)
        self._res_tail = np.full((2, max(c.level_span - 1, 0)), np.nan)
        self._last_alarm = NO_ALARM
        self._u_tail = np.full((NF, c.likelihood_span - 1), np.nan)
        self._ring_max: list[float] | None = None  # row maxima of _ring (the one-point path)
        self._in_buffer = False  # _hist_* are views into _buf_* with room to append
        self._buf_t = self._buf_x = np.empty(0)
        self._buf_start = 0
        self._mring = np.zeros((3, NF, c.reference_blocks))
        self._mpartial = np.zeros((3, NF))

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
        for name, period, lags in (("daily", DAY, c.daily_lags), ("weekly", WEEK, c.weekly_lags)):
            ok = (
                lags > 0
                and not math.isnan(self._step)
                and self._step > 0
                and period / self._step >= 4
                and period / self._step <= c.max_history_points
            )
            out.append((name, period if ok else 0.0, lags))
        return out

"""The detector's scalar path: one point in the steady state, bit for bit the batch result.

Online use scores one point per series per scrape; plain float arithmetic over a history
buffer with room to append avoids the batch path's per-call array overhead. Pure: no I/O,
no clock.
"""

from __future__ import annotations

import math

import numpy as np

from kubeheal.anomaly.base import (
    BUFFER_ROOM,
    DAILY,
    DAILY_TREND,
    DAY,
    LEVEL,
    NF,
    SPIKE,
    STEP_SAMPLE,
    SUPPRESSED_CAP,
    WEEK,
    WEEKLY,
    WEEKLY_TREND,
    FloatArray,
    ScoreBatch,
)
from kubeheal.anomaly.stream import DetectorCore

__all__ = ["Point", "ScalarScoring"]

# One point scored by AnomalyDetector._point: (timestamp, value, score, raw score, ratio,
# expected, lower, upper), alarm, reason, and per deviation: observed, predicted, reference.
Point = tuple[list[float], bool, int, list[float], list[float], list[float]]


class ScalarScoring(DetectorCore):
    """Scores one point at a time once the detector is warm (``None``: use the batch path)."""

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
            and self._n >= max(c.local_window, c.level_span + c.level_window, STEP_SAMPLE)
        )

    def _batch_of(self, points: list[Point]) -> ScoreBatch:
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

    def _point(self, t: float, x: float) -> Point | None:
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
            or g < max(w, k + big_w, STEP_SAMPLE)
            or not (math.isfinite(t) and math.isfinite(x))
            or t < self._last_t
        ):
            return None
        h = self._hist_t.size
        if not self._in_buffer or self._buf_start + h >= self._buf_t.size:
            cap = h + BUFFER_ROOM
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
        f = [nan] * NF
        obs = [nan] * NF
        pred = [nan] * NF

        local = all_x[p - w : p].tolist()
        local.sort()
        med = (local[(w - 1) // 2] + local[w // 2]) / 2 if w % 2 == 0 else local[w // 2]
        pred[SPIKE], obs[SPIKE], f[SPIKE] = med, x, abs(x - med)

        window = all_x[p - k - big_w : p - k].tolist()
        window.sort()
        base = (
            (window[(big_w - 1) // 2] + window[big_w // 2]) / 2
            if big_w % 2 == 0
            else window[big_w // 2]
        )
        mean_k = float(np.add.reduce(all_x[p - k + 1 : p + 1])) / k
        pred[LEVEL], obs[LEVEL], f[LEVEL] = base, mean_k, abs(mean_k - base)

        cap_points = c.max_history_points
        periods = self._periods()
        for slot, (_, period, lags) in enumerate(periods):
            fi, ti = (DAILY, DAILY_TREND) if slot == 0 else (WEEKLY, WEEKLY_TREND)
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
        warm = [float(c.min_history)] * NF
        if step > 0:
            for fi, period in ((DAILY, DAY), (WEEKLY, WEEK)):
                warm[fi] = warm[fi + 1] = max(
                    float(c.min_history), math.ceil(c.season_calibration_periods * period / step)
                )
        ref = [0.0] * NF
        ratios = [0.0] * NF
        any_usable = False
        for i in range(NF):
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
            self._partial = np.full(NF, -np.inf)
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
                score = min(raw, SUPPRESSED_CAP)

        primary = DAILY if (not math.isnan(f[DAILY]) and counts[DAILY] >= warm[DAILY]) else SPIKE
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

"""The detector's batch path: every deviation, reference and score of a chunk of points.

Array arithmetic over a chunk (any length); the scalar path of :mod:`kubeheal.anomaly.scalar`
computes the same thing for one point. Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from kubeheal.anomaly.base import (
    DAILY,
    DAILY_TREND,
    DAY,
    GRID,
    LEVEL,
    NF,
    RATIO_CAP,
    SIGMA_FLOOR,
    SPIKE,
    STEP_SAMPLE,
    SUPPRESSED_CAP,
    WEEK,
    WEEKLY,
    WEEKLY_TREND,
    BoolArray,
    FloatArray,
    IntArray,
    ScoreBatch,
)
from kubeheal.anomaly.stream import DetectorCore

__all__ = ["BatchScoring", "concat_batches"]


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


def concat_batches(parts: list[ScoreBatch], alarm_ratio: float) -> ScoreBatch:
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


class BatchScoring(DetectorCore):
    """Scores a chunk of points with array arithmetic (any length, any configuration)."""

    def _score(self, t: FloatArray, x: FloatArray) -> ScoreBatch:
        c = self.config
        n = t.size
        h = self._hist_t.size
        g0 = self._n
        all_t = np.concatenate([self._hist_t, t])
        all_x = np.concatenate([self._hist_x, x])
        gidx = g0 + np.arange(n)  # global index of each new point
        step_was_known = not math.isnan(self._step)
        if not step_was_known and g0 + n >= STEP_SAMPLE:
            first = all_t[h - g0 : h - g0 + STEP_SAMPLE]
            self._step = float(np.median(np.diff(first)))

        f = np.full((NF, n), np.nan)
        obs = np.full((NF, n), np.nan)
        pred = np.full((NF, n), np.nan)
        pos = h + np.arange(n)  # positions of new points in all_*

        # spike: deviation from the median of the previous local_window points
        w = c.local_window
        ok = np.flatnonzero(gidx >= w)
        if ok.size:
            med = _median_windows(all_x, w, ok.size, int(pos[-1]))
            pred[SPIKE, ok] = med
            obs[SPIKE, ok] = x[ok]
            f[SPIKE, ok] = np.abs(x[ok] - med)

        # level: mean of the last k points against the median of the W points before them
        k, big_w = c.level_span, c.level_window
        ok = np.flatnonzero(gidx >= k + big_w)
        if ok.size:
            last = int(pos[-1])
            base = _median_windows(all_x, big_w, ok.size, last - k)
            means = sliding_window_view(all_x[last - ok.size - k + 2 : last + 1], k)
            mean_k = np.asarray(means.mean(axis=1), dtype=np.float64)
            pred[LEVEL, ok] = base
            obs[LEVEL, ok] = mean_k
            f[LEVEL, ok] = np.abs(mean_k - base)

        # seasonal expectations
        for slot, (_, period, lags) in enumerate(self._periods()):
            fi, ti = (DAILY, DAILY_TREND) if slot == 0 else (WEEKLY, WEEKLY_TREND)
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
        warm = np.full(NF, float(c.min_history))
        step = self._step
        for fi, period in ((DAILY, DAY), (WEEKLY, WEEK)):
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
            u = np.round(np.minimum(u, RATIO_CAP) * GRID) / GRID
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
                scores[i] = min(raw[i], SUPPRESSED_CAP)
        self._last_alarm = last

        # the band of the primary point expectation: daily once calibrated, else local
        primary = np.where(usable[DAILY], DAILY, SPIKE)
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
        known = gidx >= STEP_SAMPLE
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
        cs_v = np.concatenate([np.zeros((NF, 1)), np.cumsum(np.where(have, seq, 0.0), axis=1)], 1)
        cs_n = np.concatenate([np.zeros((NF, 1)), np.cumsum(have, axis=1)], axis=1)
        win_n = cs_n[:, span:] - cs_n[:, :-span]
        with np.errstate(invalid="ignore", divide="ignore"):
            m = np.where(win_n > 0, (cs_v[:, span:] - cs_v[:, :-span]) / win_n, np.nan)
        if span > 1:
            self._u_tail = seq[:, -(span - 1) :].copy()
        ok = ~np.isnan(m)
        mv = np.round(np.where(ok, m, 0.0) * GRID) / GRID
        stats = self._moments(
            np.stack([ok.astype(np.float64), mv, np.round(mv * mv * GRID) / GRID]), g0
        )
        cnt, s1, s2 = stats[0], stats[1], stats[2]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = s1 / cnt
            sd = np.sqrt(np.maximum(s2 / cnt - mean * mean, 0.0))
            z = (m - mean) / np.maximum(sd, SIGMA_FLOOR)
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
            start = 0  # fewer than STEP_SAMPLE points so far: keep them all
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

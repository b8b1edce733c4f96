"""Time to exhaustion on synthetic leaks, fills and flat series."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kubeheal.anomaly import AnomalyInputError, time_to_exhaustion
from kubeheal.anomaly.forecast import format_duration, robust_trend

MI = 2.0**20


def leak(
    n: int = 120,
    *,
    rate: float = 0.5 * MI,
    step: float = 15.0,
    noise: float = 2 * MI,
    base: float = 100 * MI,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = 1e9 + step * np.arange(n)
    return t, base + rate * (t - t[0]) + noise * rng.standard_normal(n)


@pytest.mark.parametrize("rate", [0.1 * MI, 0.5 * MI, 2 * MI])
def test_memory_leak_to_the_limit(rate: float) -> None:
    t, y = leak(rate=rate)
    truth = 1200.0  # the limit is 20 minutes ahead of the last point
    limit = 100 * MI + rate * (t[-1] - t[0]) + rate * truth
    ex = time_to_exhaustion(t, y, limit=limit)
    assert ex is not None
    assert ex.seconds == pytest.approx(truth, rel=0.1)
    assert ex.lower <= truth <= ex.upper
    assert ex.slope == pytest.approx(rate, rel=0.1)
    assert ex.describe().startswith("exhaustion in ")


def test_robust_to_outliers() -> None:
    t, y = leak(noise=0.5 * MI)
    y[::10] = 0.0  # scrape hiccups
    y[5] = 10_000 * MI
    ex = time_to_exhaustion(t, y, limit=2048 * MI)
    assert ex is not None and ex.slope == pytest.approx(0.5 * MI, rel=0.1)


def test_flat_or_falling_series_give_none() -> None:
    t, y = leak(rate=0.0)
    assert time_to_exhaustion(t, y, limit=512 * MI) is None
    t, y = leak(rate=-0.2 * MI)
    assert time_to_exhaustion(t, y, limit=512 * MI) is None


def test_noise_only_has_an_open_interval() -> None:
    t, y = leak(rate=0.01 * MI, noise=20 * MI, n=40, seed=0)
    assert time_to_exhaustion(t, y, limit=4096 * MI) is None
    ex = time_to_exhaustion(t, y, limit=4096 * MI, significant=False)
    assert ex is not None and math.isinf(ex.upper) and ex.lower <= ex.seconds


def test_horizon_window_and_reached() -> None:
    t, y = leak()
    assert time_to_exhaustion(t, y, limit=10_000 * MI, horizon=3600) is None
    reached = time_to_exhaustion(t, y, limit=50 * MI)
    assert reached is not None and reached.reached and reached.describe() == "limit reached"
    # a leak that started recently: the window sees only the growth
    flat_t = 1e9 + 15.0 * np.arange(200)
    flat_y = np.full(200, 100 * MI)
    flat_y[150:] += 2 * MI * 15.0 * np.arange(50)
    ex = time_to_exhaustion(flat_t, flat_y, limit=1024 * MI, window=45 * 15.0)
    assert ex is not None and ex.slope == pytest.approx(2 * MI, rel=0.05)


def test_disk_fill_and_hpa_replicas() -> None:
    t = 1e9 + 60.0 * np.arange(60)
    used = 40e9 + 1e6 * (t - t[0])  # 1 MB/s into a 50 GB volume
    ex = time_to_exhaustion(t, used, limit=50e9)
    assert ex is not None and ex.seconds == pytest.approx(10e9 / 1e6 - 3540, rel=0.01)
    replicas = np.minimum(2 + np.floor((t - t[0]) / 600), 10.0)
    assert time_to_exhaustion(t, replicas, limit=10) is not None


def test_too_few_points_and_nan_values() -> None:
    t, y = leak(n=5)
    assert time_to_exhaustion(t, y, limit=2048 * MI) is None
    t, y = leak()
    y[3] = math.nan
    assert time_to_exhaustion(t, y, limit=2048 * MI) is not None
    assert time_to_exhaustion([], [], limit=1.0) is None


def test_bad_input() -> None:
    t, y = leak()
    with pytest.raises(AnomalyInputError, match="point 2"):
        time_to_exhaustion(np.r_[t[:2], t[1:]], np.r_[y[:2], y[1:]], limit=1.0)
    with pytest.raises(AnomalyInputError):
        time_to_exhaustion(t, y[:-1], limit=1.0)
    with pytest.raises(AnomalyInputError):
        time_to_exhaustion(t, y, limit=math.inf)
    with pytest.raises(AnomalyInputError):
        robust_trend(t, y, confidence=1.5)


def test_format_duration() -> None:
    assert format_duration(42) == "42 s"
    assert format_duration(14 * 60) == "14 min"
    assert format_duration(5 * 3600) == "5.0 h"
    assert format_duration(math.inf) == "never"

"""The streaming detector on synthetic series with known answers, and its guarantees."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest

from kubeheal.anomaly import (
    FEATURES,
    AnomalyDetector,
    AnomalyInputError,
    DetectorConfig,
    DetectorStateError,
)

STEP = 300.0  # 5-minute samples
DAY_POINTS = int(86400 / STEP)


def series(n: int, *, seed: int = 0, noise: float = 1.0, level: float = 50.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return level + noise * rng.standard_normal(n)


def times(n: int, start: float = 1_700_000_000.0) -> np.ndarray:
    return start + STEP * np.arange(n)


def alarms(values: np.ndarray, ts: np.ndarray | None = None) -> np.ndarray:
    ts = times(values.size) if ts is None else ts
    return np.flatnonzero(AnomalyDetector().update(ts, values).anomalies)


def test_spike_is_found_at_once_and_only_there() -> None:
    x = series(3000)
    x[2500] += 25.0
    found = alarms(x)
    assert 2500 in found
    assert found.size <= 3  # noise alone raises (almost) nothing


def test_step_change_is_found_soon_after_the_step() -> None:
    x = series(3000)
    x[2000:] += 12.0
    found = alarms(x)
    after = found[found >= 2000]
    assert after.size and after[0] <= 2010
    assert found[found < 2000].size <= 2


def test_drift_is_found_while_it_builds_up() -> None:
    x = series(4000, noise=0.5)
    x[3000:] += 0.05 * np.arange(1000)  # +50 over 1000 points
    found = alarms(x)
    assert found[found >= 3000].size >= 1
    assert found[found >= 3000][0] < 3300
    assert found[found < 3000].size <= 2


def test_daily_seasonality_is_learnt_and_a_missing_peak_is_found() -> None:
    n = 12 * DAY_POINTS
    phase = np.arange(n) % DAY_POINTS
    peak = (phase > 100) & (phase < 180)
    x = 20.0 + 60.0 * peak + series(n, noise=1.0, level=0.0)
    day = 10 * DAY_POINTS
    x[day + 101 : day + 180] = 20.0 + series(79, seed=3, level=0.0)  # the peak does not come
    det = AnomalyDetector()
    batch = det.update(times(n), x)
    found = np.flatnonzero(batch.anomalies)
    assert "daily" in det.seasonal_periods
    assert found[(found > day + 100) & (found < day + 180)].size >= 1
    # the regular peaks (steep edges every day) raise nothing once the pattern is known
    assert found[(found > 4 * DAY_POINTS) & (found < day)].size == 0
    first = int(found[found > day + 100][0])
    assert FEATURES[batch.reasons[first]] in ("daily", "daily_trend", "weekly", "weekly_trend")


def test_scores_are_in_unit_interval_and_alarms_score_half_or_more() -> None:
    x = series(2000)
    x[1500] += 40
    batch = AnomalyDetector().update(times(2000), x)
    assert np.all((batch.scores >= 0) & (batch.scores <= 1))
    assert np.all(batch.scores[batch.anomalies] >= 0.5)
    assert np.all(batch.scores[~batch.anomalies] < 0.5)


def test_consecutive_detections_are_deduplicated() -> None:
    x = series(3000)
    x[2500:2506] += 40.0  # one anomaly of six points
    batch = AnomalyDetector().update(times(3000), x)
    assert int(batch.anomalies[2490:2530].sum()) == 1
    assert batch.raw_scores[2500:2506].max() >= 0.5


def test_explanation_gives_expected_band_and_observed_value() -> None:
    x = series(3000)
    x[2500] = 120.0
    batch = AnomalyDetector().update(times(3000), x)
    ex = batch.explain(2500)
    assert ex.anomaly and ex.feature == "spike"
    assert ex.observed == 120.0
    assert abs(ex.expected - 50.0) < 2.0
    assert ex.lower < 50.0 < ex.upper < 120.0
    assert "ANOMALY" in ex.describe()
    early = batch.explain(5)
    assert early.feature == "" and not early.anomaly and math.isnan(early.expected)


def test_causal_appending_future_points_never_changes_past_scores() -> None:
    x = series(2500, seed=5)
    x[2100] += 30
    ts = times(2500)
    full = AnomalyDetector().update(ts, x).scores
    for cut in (300, 1234, 2101):
        part = AnomalyDetector().update(ts[:cut], x[:cut]).scores
        np.testing.assert_array_equal(part, full[:cut])


@pytest.mark.parametrize("chunk", [1, 7, 100, 999])
def test_chunking_does_not_change_the_scores(chunk: int) -> None:
    n = 3 * DAY_POINTS + 500
    x = series(n, seed=2) + 10 * np.sin(np.arange(n) * 2 * np.pi / DAY_POINTS)
    x[n - 300] += 30
    ts = times(n)
    whole = AnomalyDetector().update(ts, x)
    det = AnomalyDetector()
    parts = [det.update(ts[i : i + chunk], x[i : i + chunk]) for i in range(0, n, chunk)]
    np.testing.assert_allclose(
        np.concatenate([p.scores for p in parts]), whole.scores, rtol=1e-12, atol=0
    )
    np.testing.assert_array_equal(np.concatenate([p.anomalies for p in parts]), whole.anomalies)


def test_deterministic() -> None:
    x = series(2000, seed=9)
    a = AnomalyDetector().update(times(2000), x).scores
    b = AnomalyDetector().update(times(2000), x).scores
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("how", ["dict", "json", "bytes"])
def test_state_save_and_restore_is_equivalent(how: str) -> None:
    n = 2 * DAY_POINTS + 800
    x = series(n, seed=4) + 5 * np.sin(np.arange(n) * 2 * np.pi / DAY_POINTS)
    x[n - 100] += 25
    ts = times(n)
    cut = n - 400
    reference = AnomalyDetector().update(ts, x).scores[cut:]
    det = AnomalyDetector()
    det.update(ts[:cut], x[:cut])
    if how == "dict":
        restored = AnomalyDetector.from_state(det.state())
    elif how == "json":
        restored = AnomalyDetector.from_state(json.loads(json.dumps(det.state())))
    else:
        restored = AnomalyDetector.from_bytes(det.to_bytes())
    assert restored.points_seen == cut
    np.testing.assert_allclose(restored.update(ts[cut:], x[cut:]).scores, reference, rtol=1e-12)


def test_bad_state_is_refused() -> None:
    state = AnomalyDetector().state()
    with pytest.raises(DetectorStateError):
        AnomalyDetector.from_state({**state, "version": 99})
    with pytest.raises(DetectorStateError):
        AnomalyDetector.from_state({**state, "ring": {**state["ring"], "shape": [2, 2]}})
    with pytest.raises(DetectorStateError):
        AnomalyDetector.from_bytes(b"\x00not msgpack")
    with pytest.raises(DetectorStateError):
        AnomalyDetector.from_state({"version": 1})


def test_bad_input_names_the_point_and_scores_nothing() -> None:
    det = AnomalyDetector()
    with pytest.raises(AnomalyInputError, match="point 2") as e:
        det.update([1.0, 2.0, 3.0], [1.0, 2.0, math.nan])
    assert e.value.index == 2
    with pytest.raises(AnomalyInputError, match=r"point 2.*out-of-order"):
        det.update([1.0, 5.0, 4.0], [1.0, 2.0, 3.0])
    with pytest.raises(AnomalyInputError, match="timestamp is not a finite"):
        det.update([math.inf], [1.0])
    with pytest.raises(AnomalyInputError, match="2 timestamps but 3 values"):
        det.update([1.0, 2.0], [1.0, 2.0, 3.0])
    assert det.points_seen == 0  # nothing was consumed by the failed calls
    det.update([10.0], [1.0])
    with pytest.raises(AnomalyInputError, match="before the last point seen"):
        det.update([9.0], [1.0])
    assert len(det.update([], [])) == 0


def test_repeated_timestamps_are_successive_samples() -> None:
    ts = np.repeat(times(1000), 2)[:1500]
    batch = AnomalyDetector().update(ts, series(1500))
    assert len(batch) == 1500 and np.all(np.isfinite(batch.scores))


def test_constant_series_scores_zero_and_a_change_is_found() -> None:
    x = np.full(2000, 7.0)
    batch = AnomalyDetector().update(times(2000), x)
    assert not batch.scores.any()
    x[1500] = 8.0
    assert 1500 in alarms(x)


def test_gaps_are_harmless() -> None:
    ts = times(3000)
    ts[1000:] += 6 * 3600  # a six-hour gap
    x = series(3000)
    x[2000] += 30
    found = alarms(x, ts)
    assert 2000 in found and found.size <= 3


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="alarm_ratio"):
        DetectorConfig(alarm_ratio=1.0)
    with pytest.raises(ValueError):
        DetectorConfig(local_window=0)


def test_weekly_seasonality_only_when_sampling_allows() -> None:
    det = AnomalyDetector()
    det.update(times(40), series(40))
    assert det.seasonal_periods == ("daily", "weekly")
    fine = AnomalyDetector()
    fine.update(1e9 + 15.0 * np.arange(40), series(40))  # 15 s: a week is 40,320 points
    assert fine.seasonal_periods == ("daily",)
    assert fine.sampling_step == 15.0


# -- the likelihood stage (DetectorConfig.combine) ----------------------------------------


@pytest.mark.parametrize("combine", ["both", "likelihood"])
@pytest.mark.parametrize("chunk", [1, 13, 1000])
def test_likelihood_stage_does_not_depend_on_chunking(combine: str, chunk: int) -> None:
    n = 2 * DAY_POINTS + 900
    x = series(n, seed=6) + 8 * np.sin(np.arange(n) * 2 * np.pi / DAY_POINTS)
    x[n - 400 : n - 300] += 6.0
    ts = times(n)
    config = DetectorConfig(combine=combine)  # type: ignore[arg-type]
    whole = AnomalyDetector(config).update(ts, x)
    det = AnomalyDetector(config)
    parts = [det.update(ts[i : i + chunk], x[i : i + chunk]) for i in range(0, n, chunk)]
    np.testing.assert_array_equal(np.concatenate([p.scores for p in parts]), whole.scores)
    np.testing.assert_array_equal(np.concatenate([p.reasons for p in parts]), whole.reasons)


def test_likelihood_stage_finds_a_sustained_shift_and_stays_quiet_on_noise() -> None:
    x = series(4000, seed=8)
    x[3000:3200] += 3.0  # three noise widths for 200 points
    batch = AnomalyDetector(DetectorConfig(combine="likelihood")).update(times(4000), x)
    found = np.flatnonzero(batch.anomalies)
    assert found[(found >= 3000) & (found < 3200)].size >= 1
    assert found[found < 3000].size <= 2
    assert np.all((batch.scores >= 0) & (batch.scores <= 1))
    ex = batch.explain(int(found[found >= 3000][0]))
    assert ex.feature in FEATURES


def test_likelihood_state_save_and_restore_is_equivalent() -> None:
    n = 3000
    x = series(n, seed=10)
    x[2600:] += 4.0
    ts = times(n)
    config = DetectorConfig(combine="both")
    reference = AnomalyDetector(config).update(ts, x).scores[2000:]
    det = AnomalyDetector(config)
    det.update(ts[:2000], x[:2000])
    restored = AnomalyDetector.from_bytes(det.to_bytes())
    np.testing.assert_array_equal(restored.update(ts[2000:], x[2000:]).scores, reference)


def test_likelihood_config_is_validated() -> None:
    with pytest.raises(ValueError, match="combine"):
        DetectorConfig(combine="sum")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="likelihood_alarm"):
        DetectorConfig(likelihood_alarm=0.0)
    with pytest.raises(ValueError, match="likelihood_span"):
        DetectorConfig(likelihood_span=0)


# -- the one-point path (online use) must be the batch computation, bit for bit ---------------


def _few_at_a_time_equals_batch(
    ts: np.ndarray, x: np.ndarray, config: DetectorConfig, chunk: int
) -> None:
    whole = AnomalyDetector(config).update(ts, x)
    det = AnomalyDetector(config)
    parts = [det.update(ts[i : i + chunk], x[i : i + chunk]) for i in range(0, ts.size, chunk)]
    for name in ("scores", "raw_scores", "anomalies", "ratios", "reasons"):
        got = np.concatenate([getattr(p, name) for p in parts])
        np.testing.assert_array_equal(got, getattr(whole, name), err_msg=name)
    for name in ("expected", "lower", "upper"):
        got = np.concatenate([getattr(p, name) for p in parts])
        np.testing.assert_array_equal(got, getattr(whole, name), err_msg=name)
    for i in range(0, ts.size, 37):
        assert repr(parts[i // chunk].explain(i % chunk)) == repr(whole.explain(i))
    # and the state it leaves behind resumes exactly like the batch's
    tail_t, tail_x = ts[-1] + 300.0 * np.arange(1, 301), x[-300:] + 1.0
    a = AnomalyDetector.from_bytes(det.to_bytes()).update(tail_t, tail_x).scores
    b = det.update(tail_t, tail_x).scores
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("chunk", [1, 3])
@pytest.mark.parametrize(
    "shape", ["noise", "daily_edges", "fine_sampling", "gap", "constant", "repeats", "odd_config"]
)
def test_one_or_a_few_points_per_call_score_exactly_like_a_batch(shape: str, chunk: int) -> None:
    rng = np.random.default_rng(11)
    n = 3500
    ts, config = times(n), DetectorConfig()
    x = 50 + rng.standard_normal(n)
    if shape == "daily_edges":
        x = 20 + 60 * ((np.arange(n) % DAY_POINTS) > 100) + rng.standard_normal(n)
        x[3300] += 30
    elif shape == "fine_sampling":
        n = 7000
        ts = 1.7e9 + 15.0 * np.arange(n)
        x = 10 * np.sin(np.arange(n) / 500) + rng.standard_normal(n)
    elif shape == "gap":
        ts[2000:] += 6 * 3600
    elif shape == "constant":
        x = np.full(n, 7.0)
        x[3000] = 8.0
    elif shape == "repeats":
        ts = np.repeat(times(n), 2)[:n]
    elif shape == "odd_config":
        ts = 1.7e9 + 3600.0 * np.arange(n)
        x = 5 * np.sin(np.arange(n) * 2 * np.pi / 24) + rng.standard_normal(n)
        config = DetectorConfig(level_span=1, local_window=7, daily_lags=2, weekly_lags=2)
    _few_at_a_time_equals_batch(ts, x, config, chunk)


def test_one_point_call_costs_well_under_a_millisecond_of_cpu() -> None:
    # online use: one point per series per scrape; the batch path costs ~0.7-1 ms per call
    n = 3000
    ts = 1.7e9 + 15.0 * np.arange(n)
    x = series(n, seed=12)
    det = AnomalyDetector()
    det.update(ts[:2500], x[:2500])
    cpu = time.process_time()
    for i in range(2500, n):
        det.update(ts[i : i + 1], x[i : i + 1])
    per_call = (time.process_time() - cpu) / 500
    assert per_call < 400e-6, f"{per_call * 1e6:.0f} us per one-point call"

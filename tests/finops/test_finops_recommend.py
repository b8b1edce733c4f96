"""The pure right-sizing core: kubeheal's strategy and the KRR baseline on plain data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kubeheal.finops.model import (
    Confidence,
    ContainerHistory,
    HpaInfo,
    PodUsage,
    ResourceBounds,
    Resources,
    Series,
    Status,
    WorkloadRef,
)
from kubeheal.finops.recommend import (
    KrrParams,
    StrategyParams,
    detect_leak,
    format_duration,
    recommend,
    recommend_krr,
    startup_mask,
)
from kubeheal.finops.units import format_cpu, human_bytes, round_cpu, round_memory

MI = 2**20
DAY = 86400.0
STEP = 300.0
END = 1_790_000_000.0
START = END - 3 * DAY
REF = WorkloadRef("shop", "Deployment", "web")
CURRENT = Resources(cpu_request=1.0, memory_request=1024 * MI, memory_limit=1024 * MI)


def _ts(start: float = START, end: float = END, step: float = STEP) -> np.ndarray:
    return np.arange(start + step, end + 1e-6, step, dtype=np.float64)


def _pod(
    name: str,
    *,
    cpu: np.ndarray | float,
    mem: np.ndarray | float,
    ts: np.ndarray | None = None,
    starts: tuple[float, ...] = (START - DAY,),
    oom: float | None = None,
    krr_mem: Series | None = None,
) -> PodUsage:
    t = _ts() if ts is None else ts
    cpu_arr = np.full(t.shape, cpu) if isinstance(cpu, float) else cpu
    mem_arr = np.full(t.shape, mem) if isinstance(mem, float) else mem
    return PodUsage(
        pod=name,
        cpu=Series(t, cpu_arr.astype(np.float64)),
        memory_peak=Series(t, mem_arr.astype(np.float64)),
        starts=starts,
        oom_killed_limit=oom,
        krr_memory=krr_mem,
    )


def _history(*pods: PodUsage, hpa: HpaInfo | None = None, current: Resources | None = CURRENT):
    return ContainerHistory(
        workload=REF,
        container="app",
        window_start=START,
        window_end=END,
        step=STEP,
        pods=pods,
        current=current,
        hpa=hpa,
    )


def _wave(n: int, base: float, amplitude: float) -> np.ndarray:
    return base + amplitude * np.sin(np.arange(n) / 17.0)


def test_steady_workload_request_from_percentiles_and_limit_kept_without_a_start() -> None:
    n = _ts().size
    cpu = _wave(n, 0.2, 0.05)
    mem = _wave(n, 300 * MI, 20 * MI)
    rec = recommend(_history(_pod("a", cpu=cpu, mem=mem)), params=StrategyParams())
    assert rec.status is Status.OK
    assert rec.recommended.cpu_request == round_cpu(float(np.percentile(cpu, 95)))
    expected_req = round_memory(float(np.percentile(mem, 99)) * 1.10)
    assert rec.recommended.memory_request == expected_req
    # pods started before the window: the start-up peak is unknown, the limit is kept
    assert rec.recommended.memory_limit == 1024 * MI
    assert any("start-up peak unknown" in n for n in rec.notes)
    assert rec.confidence is Confidence.MEDIUM  # 3 days of a 7-day ideal
    assert rec.replicas == pytest.approx(1.0)


def test_unknown_startup_without_a_current_limit_uses_headroom() -> None:
    rec = recommend(
        _history(_pod("a", cpu=0.1, mem=200.0 * MI), current=None), params=StrategyParams()
    )
    assert rec.recommended.memory_limit == round_memory(200 * MI * 1.5)


def test_startup_peak_sets_the_limit_not_the_request() -> None:
    t = _ts()
    rollout = START + DAY
    mem_old = np.where(t <= rollout, 300.0 * MI, np.nan)
    mem_new = np.where(t > rollout, 300.0 * MI, np.nan)
    mem_new[np.argmax(t > rollout)] = 700 * MI  # the first step after the start
    old = _pod("old", cpu=0.1, mem=mem_old, starts=(START - DAY,))
    new = _pod("new", cpu=0.1, mem=mem_new, starts=(rollout + 10,))
    rec = recommend(_history(old, new), params=StrategyParams())
    assert rec.recommended.memory_limit == round_memory(700 * MI * 1.15)
    assert "start-up peak" in rec.reasons["memory_limit"] or "peak" in rec.reasons["memory_limit"]
    assert rec.recommended.memory_request == round_memory(300 * MI * 1.10)
    assert not any("start-up peak unknown" in n for n in rec.notes)


def test_startup_mask_marks_windows_overlapping_the_first_minutes() -> None:
    series = Series(np.array([100.0, 400.0, 700.0, 1000.0]), np.ones(4))
    mask = startup_mask(series, [350.0], window=300.0, step=300.0)
    assert mask.tolist() == [0.0, 1.0, 1.0, 0.0]


def test_oom_history_floors_the_limit() -> None:
    pod = _pod("a", cpu=0.1, mem=300.0 * MI, starts=(START + 3600,), oom=512 * MI)
    rec = recommend(_history(pod), params=StrategyParams())
    assert rec.recommended.memory_limit == round_memory(512 * MI * 1.25)
    assert "OOM-killed" in rec.reasons["memory_limit"]
    krr = recommend_krr(_history(pod), params=KrrParams(use_oomkill_data=True))
    assert krr.recommended.memory_limit == math.ceil(512 * MI * 1.25 / MI) * MI
    assert recommend_krr(_history(pod), params=KrrParams()).recommended.memory_limit == (
        math.ceil(300 * MI * 1.15 / MI) * MI
    )


def test_short_peak_missed_by_krr_sampling_is_kept_by_per_step_peaks() -> None:
    t = _ts()
    peaks = np.full(t.shape, 300.0 * MI)
    peaks[400] = 600 * MI  # one step window held a 600Mi sample
    sampled = Series(t, np.full(t.shape, 300.0 * MI))  # instantaneous samples missed it
    pod = _pod("a", cpu=0.1, mem=peaks, starts=(START + 60,), krr_mem=sampled)
    mine = recommend(_history(pod), params=StrategyParams())
    krr = recommend_krr(_history(pod), params=KrrParams())
    assert mine.recommended.memory_limit is not None
    assert mine.recommended.memory_limit >= 600 * MI * 1.15
    assert krr.recommended.memory_limit is not None
    assert krr.recommended.memory_limit < 600 * MI


def test_hpa_scaled_cpu_is_not_shrunk_below_peak_over_target() -> None:
    n = _ts().size
    cpu = _wave(n, 0.1, 0.02)
    hpa = HpaInfo(name="web", min_replicas=2, max_replicas=10, targets={"cpu": 50.0})
    history = _history(_pod("a", cpu=cpu, mem=300.0 * MI), hpa=hpa)
    rec = recommend(history, params=StrategyParams())
    assert rec.recommended.cpu_request == round_cpu(float(cpu.max()) / 0.5)
    assert "HPA web" in rec.reasons["cpu_request"]
    # never above the current request: the HPA keeps its current view
    small = _history(
        _pod("a", cpu=cpu, mem=300.0 * MI),
        hpa=hpa,
        current=Resources(cpu_request=0.15, memory_limit=1024 * MI),
    )
    assert recommend(small, params=StrategyParams()).recommended.cpu_request == round_cpu(0.15)
    # without HPA awareness it is the plain percentile
    plain = recommend(history, params=StrategyParams(hpa_aware=False))
    assert plain.recommended.cpu_request == round_cpu(float(np.percentile(cpu, 95)))
    # KRR gives no CPU recommendation for an HPA-scaled resource
    krr = recommend_krr(history, params=KrrParams())
    assert krr.recommended.cpu_request == CURRENT.cpu_request
    assert "HPA" in krr.reasons["cpu_request"]


def test_too_little_history_gives_no_recommendation_with_a_message() -> None:
    ts = _ts(start=END - 3 * 3600)
    pod = _pod("a", cpu=0.1, mem=100.0 * MI, ts=ts)
    rec = recommend(_history(pod), params=StrategyParams())
    assert rec.status is Status.NO_RECOMMENDATION
    assert rec.confidence is Confidence.NONE
    assert "3h" in rec.notes[0] and "at least 1d" in rec.notes[0]
    assert rec.recommended == CURRENT  # nothing changes
    krr = recommend_krr(_history(pod), params=KrrParams())
    assert krr.status is Status.NO_RECOMMENDATION
    assert "not enough data" in krr.notes[0]


def test_no_samples_at_all_says_so() -> None:
    rec = recommend(_history(), params=StrategyParams())
    assert rec.status is Status.NO_RECOMMENDATION
    assert "no CPU or memory usage samples" in rec.notes[0]


def test_slow_leak_is_projected_to_the_horizon() -> None:
    t = _ts()
    started = START - 0.5 * DAY
    leak_per_s = 100 * MI / DAY
    mem = 128 * MI + leak_per_s * (t - started)
    pod = _pod("a", cpu=0.05, mem=mem, starts=(started,))
    params = StrategyParams()
    leak = detect_leak([pod], step=STEP, params=params)
    assert leak is not None
    assert leak.slope == pytest.approx(leak_per_s, rel=0.01)
    assert leak.projected == pytest.approx(128 * MI + leak_per_s * 7 * DAY, rel=0.01)
    small = Resources(cpu_request=0.5, memory_request=512 * MI, memory_limit=512 * MI)
    rec = recommend(_history(pod, current=small), params=params)
    assert rec.recommended.memory_limit == round_memory(leak.projected * 1.15)
    assert any("leak suspected" in n for n in rec.notes)
    # a flat working set is no leak
    flat = _pod("b", cpu=0.05, mem=_wave(t.size, 300 * MI, 5 * MI), starts=(started,))
    assert detect_leak([flat], step=STEP, params=params) is None


def test_namespace_bounds_and_their_warning() -> None:
    pod = _pod("a", cpu=0.001, mem=300.0 * MI, starts=(START + 60,))
    bounds = ResourceBounds(min_cpu=0.05, max_memory=256 * MI, min_memory=64 * MI)
    rec = recommend(_history(pod), params=StrategyParams(bounds=bounds))
    assert rec.recommended.cpu_request == 0.05
    assert rec.recommended.memory_limit == 256 * MI
    assert rec.recommended.memory_request is not None
    assert rec.recommended.memory_request <= 256 * MI
    assert any("OOM kills are likely" in n for n in rec.notes)


def test_memory_request_equals_limit_option() -> None:
    pod = _pod("a", cpu=0.1, mem=300.0 * MI, starts=(START + 60,))
    rec = recommend(_history(pod), params=StrategyParams(memory_request_equals_limit=True))
    assert rec.recommended.memory_request == rec.recommended.memory_limit


def test_krr_formula_exactly() -> None:
    n = _ts().size
    cpu = _wave(n, 0.3, 0.1)
    mem = _wave(n, 400 * MI, 50 * MI)
    history = _history(_pod("a", cpu=cpu, mem=mem), _pod("b", cpu=cpu * 0.5, mem=mem * 0.9))
    rec = recommend_krr(history, params=KrrParams())
    both = np.concatenate([cpu, cpu * 0.5])
    assert rec.recommended.cpu_request == pytest.approx(
        math.ceil(np.percentile(both, 95) * 1000) / 1000
    )
    assert rec.recommended.memory_request == math.ceil(mem.max() * 1.15 / MI) * MI
    assert rec.recommended.memory_limit == rec.recommended.memory_request
    assert "cpu_limit" in rec.unset
    assert rec.replicas == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("cores", "rounded", "text"),
    [(0.0012, 0.005, "5m"), (0.2341, 0.24, "240m"), (1.26, 1.3, "1300m"), (2.0, 2.0, "2")],
)
def test_cpu_rounding(cores: float, rounded: float, text: str) -> None:
    assert round_cpu(cores) == pytest.approx(rounded)
    assert format_cpu(round_cpu(cores)) == text


def test_memory_rounding_and_display() -> None:
    assert round_memory(100 * MI + 1) == 104 * MI
    assert round_memory(300 * MI + 1) == 304 * MI
    assert round_memory(1.5 * 1024 * MI + 1) == 1600 * MI
    assert human_bytes(113148774) == "107.9Mi"
    assert format_duration(3 * DAY + 3600) == "3d1h"
    assert format_duration(5400) == "1h30m"

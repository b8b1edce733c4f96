"""The right-sizing core: requests and limits of one container from its usage history.

Two strategies over the same `ContainerHistory`:

* `recommend_krr` — the baseline, KRR's "simple" formula: CPU request = 95th percentile of
  usage, no CPU limit; memory request = limit = peak working set x 1.15 (optionally at least
  the last OOM-killed limit x 1.25); no recommendation below 100 data points or for a
  resource an HPA scales on.
* `recommend` — kubeheal's strategy, which keeps the baseline's spirit and fixes its known
  failure modes (see docs/finops.md): every raw memory sample counts (per-step peaks, not
  instantaneous samples), start-up peaks are measured after each container start and kept
  apart from the steady state, an unseen start-up keeps the current limit, OOM kills floor
  the limit, slow leaks are projected, HPA-scaled resources keep the HPA's behaviour, too
  little history gives no recommendation, and namespace bounds and rounding apply.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from kubeheal.finops.model import (
    Confidence,
    ContainerHistory,
    FloatArray,
    PodUsage,
    Recommendation,
    ResourceBounds,
    Resources,
    Series,
    Status,
)
from kubeheal.finops.units import format_cpu, human_bytes, round_cpu, round_memory

__all__ = [
    "KrrParams",
    "LeakEstimate",
    "StrategyParams",
    "detect_leak",
    "format_duration",
    "recommend",
    "recommend_krr",
    "startup_mask",
]

_MI = 2**20


@dataclass(frozen=True, slots=True)
class StrategyParams:
    """Knobs of kubeheal's strategy (the `finops` settings section fills them)."""

    cpu_percentile: float = 95.0
    memory_request_percentile: float = 99.0
    memory_request_buffer: float = 0.10
    memory_limit_buffer: float = 0.15
    oom_factor: float = 1.25
    startup_window: float = 300.0
    unseen_startup_headroom: float = 1.5
    leak_horizon: float = 7 * 86400.0
    leak_min_uptime: float = 6 * 3600.0
    leak_min_r2: float = 0.8
    leak_min_growth: float = 0.2
    min_history: float = 86400.0
    full_history: float = 7 * 86400.0
    hpa_aware: bool = True
    memory_request_equals_limit: bool = False
    bounds: ResourceBounds = field(default_factory=ResourceBounds)


@dataclass(frozen=True, slots=True)
class KrrParams:
    """KRR's "simple" strategy with its defaults (history 14 days, step 1.25 minutes)."""

    cpu_percentile: float = 95.0
    memory_buffer: float = 0.15
    points_required: int = 100
    allow_hpa: bool = False
    use_oomkill_data: bool = False
    oom_buffer: float = 0.25
    min_cpu: float = 0.01
    min_memory: float = 100 * _MI


@dataclass(frozen=True, slots=True)
class LeakEstimate:
    """A working set that grows with uptime: bytes per second, and the size at the horizon."""

    slope: float
    projected: float
    instances: int


def format_duration(seconds: float) -> str:
    """``"3d4h"``, ``"5h12m"``, ``"45m"``, ``"30s"``."""
    s = max(0, round(seconds))
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def _concat(arrays: Iterable[FloatArray]) -> FloatArray:
    parts = [a[np.isfinite(a)] for a in arrays]
    parts = [p for p in parts if p.size]
    if not parts:
        return np.zeros(0, dtype=np.float64)
    return np.concatenate(parts)


def _timestamps(history: ContainerHistory) -> FloatArray:
    parts: list[FloatArray] = []
    for pod in history.pods:
        for series in (pod.cpu, pod.memory_peak):
            finite = series.finite()
            if len(finite):
                parts.append(finite.timestamps)
    if not parts:
        return np.zeros(0, dtype=np.float64)
    return np.concatenate(parts)


def _coverage(history: ContainerHistory) -> float:
    ts = _timestamps(history)
    if ts.size == 0:
        return 0.0
    return float(ts.max() - ts.min()) + history.step


def _replicas(history: ContainerHistory) -> float:
    """Average number of pods with samples per sampled instant (memory, else CPU)."""
    for metric in ("memory_peak", "cpu"):
        parts = [getattr(p, metric).finite().timestamps for p in history.pods]
        parts = [x for x in parts if x.size]
        if parts:
            ts = np.concatenate(parts)
            return float(ts.size / np.unique(ts).size)
    return 0.0


def _confidence(coverage: float, params: StrategyParams) -> Confidence:
    if coverage < params.min_history:
        return Confidence.NONE
    if coverage >= 0.9 * params.full_history:
        return Confidence.HIGH
    if coverage >= 0.4 * params.full_history:
        return Confidence.MEDIUM
    return Confidence.LOW


def startup_mask(
    series: Series, starts: Iterable[float], *, window: float, step: float
) -> FloatArray:
    """1.0 where a step window (t - step, t] overlaps the first `window` seconds after a start."""
    mask = np.zeros(series.timestamps.shape, dtype=np.float64)
    for start in starts:
        hit = (series.timestamps > start) & (series.timestamps - step < start + window)
        mask[hit] = 1.0
    return mask


def detect_leak(
    pods: Iterable[PodUsage], *, step: float, params: StrategyParams
) -> LeakEstimate | None:
    """A steady growth of the working set with uptime, fitted per container instance.

    Each instance (the samples between two starts) whose steady-state samples span at least
    `leak_min_uptime` is fitted with a straight line over its uptime; it leaks when the slope
    is positive, the fit explains at least `leak_min_r2` of the variance and the growth over
    the span is at least `leak_min_growth` of the starting level. The projection is the
    largest fitted working set at `leak_horizon` of uptime.
    """
    slopes: list[float] = []
    projections: list[float] = []
    for pod in pods:
        series = pod.memory_peak.finite()
        if len(series) < 10:
            continue
        starts = sorted(pod.starts)
        if not starts:
            starts = [float(series.timestamps[0]) - step]
        bounds = [*starts, math.inf]
        for begin, end in itertools.pairwise(bounds):
            sel = (series.timestamps > begin) & (series.timestamps <= end)
            uptime = series.timestamps[sel] - begin
            values = series.values[sel]
            steady = uptime > params.startup_window + step
            uptime, values = uptime[steady], values[steady]
            if uptime.size < 10 or float(uptime.max() - uptime.min()) < params.leak_min_uptime:
                continue
            slope, intercept = np.polyfit(uptime, values, 1)
            fitted = intercept + slope * uptime
            total = float(np.sum((values - values.mean()) ** 2))
            r2 = 1.0 - float(np.sum((values - fitted) ** 2)) / total if total > 0 else 0.0
            start_level = max(float(intercept + slope * uptime.min()), 1.0)
            growth = float(slope * (uptime.max() - uptime.min())) / start_level
            if slope > 0 and r2 >= params.leak_min_r2 and growth >= params.leak_min_growth:
                slopes.append(float(slope))
                projections.append(float(intercept + slope * params.leak_horizon))
    if not slopes:
        return None
    return LeakEstimate(
        slope=float(np.median(slopes)), projected=max(projections), instances=len(slopes)
    )


def _clamp(value: float, low: float | None, high: float | None) -> tuple[float, str]:
    if low is not None and value < low:
        return low, "min"
    if high is not None and value > high:
        return high, "max"
    return value, ""


def _no_recommendation(
    history: ContainerHistory,
    strategy: str,
    message: str,
    *,
    coverage: float = 0.0,
    notes: Iterable[str] = (),
) -> Recommendation:
    return Recommendation(
        workload=history.workload,
        container=history.container,
        strategy=strategy,
        status=Status.NO_RECOMMENDATION,
        current=history.current,
        recommended=history.current or Resources(),
        confidence=Confidence.NONE,
        notes=(message, *notes),
        history_seconds=coverage,
        replicas=_replicas(history),
    )


def recommend(history: ContainerHistory, *, params: StrategyParams) -> Recommendation:
    """kubeheal's recommendation for one container (see the module docstring)."""
    notes = list(history.notes)
    cpu_all = _concat(p.cpu.values for p in history.pods)
    mem_all = _concat(p.memory_peak.values for p in history.pods)
    coverage = _coverage(history)
    if cpu_all.size == 0 and mem_all.size == 0:
        return _no_recommendation(
            history,
            "kubeheal",
            "no CPU or memory usage samples in the history window (is cAdvisor scraped?)",
            notes=notes,
        )
    if coverage < params.min_history:
        return _no_recommendation(
            history,
            "kubeheal",
            f"only {format_duration(coverage)} of usage history; at least "
            f"{format_duration(params.min_history)} is needed for a recommendation",
            coverage=coverage,
            notes=notes,
        )
    current = history.current or Resources()
    bounds = params.bounds
    reasons: dict[str, str] = {}

    # ---- CPU: a percentile of per-window averages; HPA-scaled requests keep the HPA's view.
    cpu_request: float | None = None
    cpu_limit: float | None = current.cpu_limit
    if cpu_all.size == 0:
        notes.append("no CPU usage samples: CPU request left as it is")
    else:
        p = float(np.percentile(cpu_all, params.cpu_percentile))
        cpu_request = p
        reasons["cpu_request"] = (
            f"p{params.cpu_percentile:g} of {format_duration(history.step)} CPU averages: "
            f"{p:.3f} cores"
        )
        hpa = history.hpa
        target = hpa.targets.get("cpu") if hpa is not None else None
        if params.hpa_aware and hpa is not None and target:
            need = float(cpu_all.max()) / (target / 100)
            floor = min(need, current.cpu_request) if current.cpu_request else need
            if floor > cpu_request:
                cpu_request = floor
                reasons["cpu_request"] = (
                    f"HPA {hpa.name} scales on CPU at {target:g}%: request kept at "
                    f"{floor:.3f} cores (peak usage / target, at most the current request) so "
                    "it scales no more than before"
                )
        cpu_request, side = _clamp(cpu_request, bounds.min_cpu, bounds.max_cpu)
        if side:
            reasons["cpu_request"] += f"; namespace bound {side}_cpu applied"
        cpu_request = round_cpu(cpu_request)
        if cpu_limit is not None and cpu_limit < cpu_request:
            cpu_limit = cpu_request
            notes.append(f"CPU limit raised to the new request {format_cpu(cpu_request)}")

    # ---- memory: request from the steady state, limit from every peak that matters.
    memory_request: float | None = None
    memory_limit: float | None = None
    if mem_all.size == 0:
        notes.append("no memory usage samples: memory left as it is")
    else:
        steady_parts: list[FloatArray] = []
        startup_parts: list[FloatArray] = []
        seen_start = False
        for pod in history.pods:
            series = pod.memory_peak.finite()
            if not len(series):
                continue
            mask = startup_mask(series, pod.starts, window=params.startup_window, step=history.step)
            steady_parts.append(series.values[mask == 0])
            startup_parts.append(series.values[mask == 1])
            if any(s >= history.window_start for s in pod.starts):
                seen_start = True
        steady = _concat(steady_parts)
        startup = _concat(startup_parts)
        if steady.size == 0:
            steady = mem_all
        peak = float(mem_all.max())
        steady_p = float(np.percentile(steady, params.memory_request_percentile))
        memory_request = steady_p * (1 + params.memory_request_buffer)
        reasons["memory_request"] = (
            f"p{params.memory_request_percentile:g} of the steady-state working set "
            f"{human_bytes(steady_p)} + {params.memory_request_buffer:.0%}"
        )
        buffer = 1 + params.memory_limit_buffer
        candidates: list[tuple[float, str]] = [
            (
                peak * buffer,
                f"peak working set {human_bytes(peak)} + {params.memory_limit_buffer:.0%}",
            )
        ]
        if startup.size:
            startup_peak = float(startup.max())
            candidates.append(
                (
                    startup_peak * buffer,
                    f"start-up peak {human_bytes(startup_peak)} (first "
                    f"{format_duration(params.startup_window)} after a start) "
                    f"+ {params.memory_limit_buffer:.0%}",
                )
            )
        oom = max((p.oom_killed_limit or 0.0 for p in history.pods), default=0.0)
        if oom > 0:
            candidates.append(
                (
                    oom * params.oom_factor,
                    f"OOM-killed at a limit of {human_bytes(oom)} x {params.oom_factor:g}",
                )
            )
            notes.append(f"OOM kill seen at a limit of {human_bytes(oom)}")
        elif not history.oom_data:
            notes.append(
                "OOM history unknown (no kube-state-metrics termination series): the limit "
                "is not floored by past OOM kills"
            )
        leak = detect_leak(history.pods, step=history.step, params=params)
        if leak is not None:
            candidates.append(
                (
                    leak.projected * buffer,
                    f"working set grows {human_bytes(leak.slope * 86400)}/day with uptime; "
                    f"sized for {format_duration(params.leak_horizon)} of uptime "
                    f"({human_bytes(leak.projected)}) + {params.memory_limit_buffer:.0%}",
                )
            )
            notes.append(
                f"memory leak suspected: +{human_bytes(leak.slope * 86400)}/day of uptime in "
                f"{leak.instances} container instance(s); fix it or restart within "
                f"{format_duration(params.leak_horizon)}"
            )
        if not seen_start:
            if current.memory_limit:
                candidates.append(
                    (
                        current.memory_limit,
                        "no container start in the history: start-up peak unknown, current "
                        "limit kept",
                    )
                )
            else:
                candidates.append(
                    (
                        peak * params.unseen_startup_headroom,
                        "no container start in the history: start-up peak unknown, peak x "
                        f"{params.unseen_startup_headroom:g}",
                    )
                )
            notes.append("no container start seen in the history window: start-up peak unknown")
        memory_limit, reasons["memory_limit"] = max(candidates, key=lambda c: c[0])
        memory_request = min(memory_request, memory_limit)
        hpa = history.hpa
        target = hpa.targets.get("memory") if hpa is not None else None
        if params.hpa_aware and hpa is not None and target:
            need = peak / (target / 100)
            floor = min(need, current.memory_request) if current.memory_request else need
            if floor > memory_request:
                memory_request = floor
                memory_limit = max(memory_limit, floor)
                reasons["memory_request"] = (
                    f"HPA {hpa.name} scales on memory at {target:g}%: request kept at "
                    f"{human_bytes(floor)} so it scales no more than before"
                )
        if params.memory_request_equals_limit:
            memory_request = memory_limit
            reasons["memory_request"] = "equal to the limit (memory_request_equals_limit)"
        memory_limit, side = _clamp(memory_limit, bounds.min_memory, bounds.max_memory)
        if side == "max" and memory_limit < peak:
            notes.append(
                f"namespace bound max_memory {human_bytes(memory_limit)} is below the peak "
                f"{human_bytes(peak)}: OOM kills are likely"
            )
        if side:
            reasons["memory_limit"] += f"; namespace bound {side}_memory applied"
        memory_request, side = _clamp(memory_request, bounds.min_memory, memory_limit)
        memory_request = float(round_memory(memory_request))
        memory_limit = float(round_memory(memory_limit))

    return Recommendation(
        workload=history.workload,
        container=history.container,
        strategy="kubeheal",
        status=Status.OK,
        current=history.current,
        recommended=Resources(
            cpu_request=cpu_request,
            cpu_limit=cpu_limit,
            memory_request=memory_request,
            memory_limit=memory_limit,
        ),
        confidence=_confidence(coverage, params),
        reasons=reasons,
        notes=tuple(notes),
        history_seconds=coverage,
        replicas=_replicas(history),
    )


def _krr_values(pods: Iterable[PodUsage], *, cpu: bool) -> FloatArray:
    out: list[FloatArray] = []
    for pod in pods:
        chosen = (pod.krr_cpu or pod.cpu) if cpu else (pod.krr_memory or pod.memory_peak)
        out.append(chosen.values)
    return _concat(out)


def recommend_krr(history: ContainerHistory, *, params: KrrParams) -> Recommendation:
    """The baseline: KRR's "simple" strategy on KRR-style samples (see the module docstring)."""
    cpu = _krr_values(history.pods, cpu=True)
    mem = _krr_values(history.pods, cpu=False)
    coverage = _coverage(history)
    notes: list[str] = list(history.notes)
    reasons: dict[str, str] = {}
    hpa = history.hpa
    cpu_request: float | None = None
    unset: set[str] = set()
    if cpu.size < params.points_required:
        reasons["cpu_request"] = f"not enough data ({cpu.size} < {params.points_required} points)"
    elif hpa is not None and "cpu" in hpa.targets and not params.allow_hpa:
        reasons["cpu_request"] = f"HPA {hpa.name} detected: no recommendation"
    else:
        value = max(float(np.percentile(cpu, params.cpu_percentile)), params.min_cpu)
        cpu_request = math.ceil(round(value * 1000, 6)) / 1000
        unset.add("cpu_limit")
        reasons["cpu_request"] = f"p{params.cpu_percentile:g} of CPU usage, no limit"
    memory: float | None = None
    if mem.size < params.points_required:
        reasons["memory_limit"] = f"not enough data ({mem.size} < {params.points_required} points)"
    elif hpa is not None and "memory" in hpa.targets and not params.allow_hpa:
        reasons["memory_limit"] = f"HPA {hpa.name} detected: no recommendation"
    else:
        value = float(mem.max()) * (1 + params.memory_buffer)
        reasons["memory_limit"] = f"max working set + {params.memory_buffer:.0%}"
        if params.use_oomkill_data:
            oom = max((p.oom_killed_limit or 0.0 for p in history.pods), default=0.0)
            if oom * (1 + params.oom_buffer) > value:
                value = oom * (1 + params.oom_buffer)
                reasons["memory_limit"] = f"OOM-killed limit + {params.oom_buffer:.0%}"
        memory = float(math.ceil(max(value, params.min_memory) / _MI) * _MI)
        reasons["memory_request"] = "equal to the limit"
    if cpu_request is None and memory is None:
        return _no_recommendation(
            history,
            "krr",
            "; ".join(reasons.values()) or "no data",
            coverage=coverage,
            notes=notes,
        )
    current = history.current or Resources()
    return Recommendation(
        workload=history.workload,
        container=history.container,
        strategy="krr",
        status=Status.OK,
        current=history.current,
        recommended=Resources(
            cpu_request=cpu_request if cpu_request is not None else current.cpu_request,
            cpu_limit=None if cpu_request is not None else current.cpu_limit,
            memory_request=memory if memory is not None else current.memory_request,
            memory_limit=memory if memory is not None else current.memory_limit,
        ),
        unset=frozenset(unset),
        confidence=Confidence.HIGH if coverage >= 3 * 3600 else Confidence.LOW,
        reasons=reasons,
        notes=tuple(notes),
        history_seconds=coverage,
        replicas=_replicas(history),
    )

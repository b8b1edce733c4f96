"""Input series for the generated promtool tests, in promtool's expanding notation.

A timeline is a list of phases, each lasting a number of steps of `step` seconds. Counters
take a rate per second per phase; gauges take a value per phase (None: no sample, `STALE`: a
staleness marker, after which the series is gone). The first phase also produces the sample
at time 0, so a timeline of N steps has N + 1 samples and its last one is at N x step.

Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

__all__ = [
    "STALE",
    "counter",
    "gauge",
    "number",
    "selector",
    "staircase",
    "step_for",
    "steps",
]


class _Stale:
    def __repr__(self) -> str:
        return "STALE"


STALE: Final = _Stale()
Value = float | None | _Stale


def number(value: float) -> str:
    """A number as promtool reads it, without float noise (``1.5``, ``3``, ``+Inf``)."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.12g}"


def selector(name: str, labels: Mapping[str, str]) -> str:
    """``name{a="1",b="2"}`` (labels in the given order)."""
    inner = ",".join(f'{key}="{value}"' for key, value in labels.items())
    return f"{name}{{{inner}}}"


def steps(seconds: int, step: int) -> int:
    """Whole steps covering `seconds`."""
    return math.ceil(seconds / step)


def step_for(*durations: int) -> int:
    """A sampling step fine enough for the given windows and `for` durations (zeros ignored):
    a fifth of the shortest, between 1 s and 5 min (Prometheus' lookback)."""
    relevant = [d for d in durations if d > 0]
    if not relevant:
        return 60
    return max(1, min(300, min(relevant) // 5))


def counter(step: int, phases: Sequence[tuple[float, int]]) -> str:
    """A counter growing at each phase's rate (per second) for its number of steps."""
    parts: list[str] = []
    value = 0.0
    first = True
    for rate, count in phases:
        inc = rate * step
        if first:
            parts.append(f"0+{number(inc)}x{count}")
            value = inc * count
            first = False
        elif count > 0:
            start = value + inc
            parts.append(f"{number(start)}+{number(inc)}x{count - 1}")
            value = start + inc * (count - 1)
    return " ".join(parts)


def _one(value: Value) -> str:
    if value is None:
        return "_"
    if isinstance(value, _Stale):
        return "stale"
    return number(value)


def gauge(phases: Sequence[tuple[Value, int]]) -> str:
    """A gauge holding each phase's value for its number of steps."""
    parts: list[str] = []
    first = True
    for value, count in phases:
        n = count if first else count - 1
        first_phase, first = first, False
        if n < 0:
            continue
        if isinstance(value, _Stale):
            # one marker ends the series; later samples are simply missing
            parts.append("stale")
            if n > 0:
                parts.append(f"_x{n}")
            continue
        if n == 0 and not first_phase:
            parts.append(_one(value))
        else:
            parts.append(f"{_one(value)}x{n}")
    return " ".join(parts)


def staircase(samples: Sequence[float]) -> str:
    """Explicit samples, runs of equal values compressed (``0 0 0 1 1`` -> ``0x2 1x1``)."""
    parts: list[str] = []
    i = 0
    while i < len(samples):
        j = i
        while j + 1 < len(samples) and samples[j + 1] == samples[i]:
            j += 1
        run = j - i
        parts.append(number(samples[i]) if run == 0 else f"{number(samples[i])}x{run}")
        i = j + 1
    return " ".join(parts)

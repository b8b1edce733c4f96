"""Rounding and formatting of CPU and memory amounts, as people write them in manifests.

Pure: no I/O, no clock. Rounding is always upwards, so a rounded recommendation never falls
below the value it was computed from.
"""

from __future__ import annotations

import math

from kubeheal.model.quantity import format_memory

__all__ = [
    "format_bytes",
    "format_cpu",
    "human_bytes",
    "round_cpu",
    "round_memory",
]

_MI = 2**20
_GI = 2**30


def round_cpu(cores: float) -> float:
    """Cores rounded up: to 5m below 0.1 core, 10m below 1 core, 50m from 1 core up."""
    if cores <= 0:
        return 0.0
    milli = cores * 1000
    grain = 5 if milli < 100 else 10 if milli < 1000 else 50
    return math.ceil(round(milli, 6) / grain) * grain / 1000


def round_memory(size: float) -> int:
    """Bytes rounded up: to 4Mi below 128Mi, 16Mi below 1Gi, 64Mi below 8Gi, 256Mi above."""
    if size <= 0:
        return 0
    if size < 128 * _MI:
        grain = 4 * _MI
    elif size < _GI:
        grain = 16 * _MI
    elif size < 8 * _GI:
        grain = 64 * _MI
    else:
        grain = 256 * _MI
    return int(math.ceil(size / grain) * grain)


def format_cpu(cores: float) -> str:
    """A CPU quantity: ``"250m"``, ``"2"``, ``"1500m"``."""
    milli = round(cores * 1000)
    if milli % 1000 == 0:
        return str(milli // 1000)
    return f"{milli}m"


def format_bytes(size: float) -> str:
    """A memory quantity, exact in Ki/Mi/Gi when possible (``"384Mi"``), else bytes."""
    return format_memory(math.ceil(size))


def human_bytes(size: float) -> str:
    """For reading, not for manifests: ``"107.9Mi"``, ``"1.25Gi"``, ``"512Ki"``."""
    for suffix, unit in (("Gi", _GI), ("Mi", _MI), ("Ki", 2**10)):
        if abs(size) >= unit:
            return f"{size / unit:.4g}{suffix}"
    return f"{size:.0f}"

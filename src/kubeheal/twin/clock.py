"""Clocks for the cluster twin: wall time, accelerated time, and a manual clock for tests.

Every simulated timestamp (creationTimestamp, container start times, back-off deadlines,
metrics) comes from one of these, so tests can drive time explicitly and the demo can run
simulated time faster than the wall.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "ManualClock", "WallClock", "format_time", "parse_time"]


class Clock(Protocol):
    """Anything that tells the simulated time, in epoch seconds."""

    def now(self) -> float: ...


class WallClock:
    """Wall time, optionally running `speed` times faster from the moment it was created."""

    def __init__(self, *, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.speed = speed
        self._wall0 = time.time()
        self._mono0 = time.monotonic()

    def now(self) -> float:
        return self._wall0 + (time.monotonic() - self._mono0) * self.speed


class ManualClock:
    """A clock that moves only when told to: for deterministic tests."""

    def __init__(self, start: float = 1_790_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward by `seconds` (never backwards) and return the new time."""
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._now += seconds
            return self._now


def format_time(ts: float) -> str:
    """RFC 3339 in UTC with second precision, as Kubernetes writes timestamps."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> float:
    """Parse an RFC 3339 timestamp as written by Kubernetes into epoch seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

"""The operator's clock: wall time, or the clock of a cluster twin running faster than the wall.

Every timestamp the operator reads from the cluster (condition transitions, container
``finishedAt``, events) is in the cluster's time, and so must be every timer and threshold
compared with them: NotReady for 60 s, rollout progress, verification windows, cooldowns,
a drain's back-off and timeout. Against a real cluster that is the wall clock; against a
twin serving ``--speed 20`` it is the twin's clock, 20 cluster seconds per wall second.

An `OperatorClock` is one of those: ``now()`` (the cluster's time, for thresholds and the
ledger), ``elapsed()`` (monotonic cluster seconds, for deadlines), ``sleep(s)`` (wait ``s``
cluster seconds) and ``wall_seconds(s)`` (how long that is on the wall, for loops paced in
wall time such as the sweep). `following` builds the one of a twin from a reading of its
``/twin/status`` (`kubeheal.clients.cluster_time`): simulated time is the twin's epoch at
the reading plus the wall time since, times its speed (the twin's own clock is exactly
that, so the two agree to within the reading's round trip). `operator_clock` decides which
clock to keep against an API server (``kubeheal run --cluster-clock``).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from kubeheal.clients.cluster_time import (
    TWIN_STATUS_PATH,
    ClusterTime,
    ClusterTimeError,
    read_cluster_time,
)
from kubeheal.clients.kube import KubeConnection

__all__ = [
    "SWEEP_SECONDS",
    "WALL",
    "ClockMode",
    "OperatorClock",
    "following",
    "operator_clock",
    "sweep_interval",
    "wall_now",
]

log = logging.getLogger(__name__)


def wall_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(tz=UTC)


class OperatorClock:
    """Cluster time for the operator (see the module docstring). ``now`` tells the time;
    ``speed`` is how many cluster seconds pass per wall second (1 for the wall clock)."""

    def __init__(
        self,
        *,
        now: Callable[[], datetime] = wall_now,
        speed: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self._now = now
        self.speed = speed
        self._monotonic = monotonic

    def __repr__(self) -> str:
        return f"OperatorClock(speed={self.speed:g})"

    @property
    def accelerated(self) -> bool:
        """Whether cluster time runs at another pace than the wall."""
        return self.speed != 1.0

    def now(self) -> datetime:
        """The cluster's time now."""
        return self._now()

    def __call__(self) -> datetime:
        """The same as `now`: an `OperatorClock` is also the plain clock callable the
        operator's parts take."""
        return self._now()

    def elapsed(self) -> float:
        """Monotonic cluster seconds (only differences mean anything)."""
        return self._monotonic() * self.speed

    def wall_seconds(self, seconds: float) -> float:
        """How many wall seconds ``seconds`` of cluster time take."""
        return seconds / self.speed

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of cluster time."""
        await asyncio.sleep(max(0.0, seconds) / self.speed)


WALL = OperatorClock()
"""The wall clock: a real cluster's time."""


def following(
    reading: ClusterTime, *, monotonic: Callable[[], float] = time.monotonic
) -> OperatorClock:
    """The clock of the twin ``reading`` was taken from."""
    epoch, speed, at = reading.epoch, reading.speed, reading.monotonic

    def now() -> datetime:
        return datetime.fromtimestamp(epoch + (monotonic() - at) * speed, tz=UTC)

    return OperatorClock(now=now, speed=speed, monotonic=monotonic)


class ClockMode(enum.StrEnum):
    """Whose clock to keep (``kubeheal run --cluster-clock``)."""

    AUTO = "auto"
    TWIN = "twin"
    WALL = "wall"


SWEEP_SECONDS = 5.0
"""Cluster seconds between two detection sweeps (`OperatorOptions.sweep_interval`'s default
on a real cluster)."""


def sweep_interval(clock: OperatorClock) -> float:
    """Wall seconds between sweeps: `SWEEP_SECONDS` of the cluster's time (at least 20 ms),
    so that "NotReady for 60 s" is seen after 60 cluster seconds at any speed."""
    return max(0.02, clock.wall_seconds(SWEEP_SECONDS))


async def operator_clock(
    connection: KubeConnection, *, mode: ClockMode, in_cluster: bool = False
) -> OperatorClock:
    """The clock kubeheal keeps against the API server of ``connection`` (``kubeheal run
    --cluster-clock``; any command talking to a cluster may ask the same): the wall's, or
    the clock of a twin running at another speed. Raises `ClusterTimeError` (one line) when
    the clock of the twin cannot be read, or ``mode`` is ``twin`` and the API server is not
    a twin."""
    if mode is ClockMode.WALL or (mode is ClockMode.AUTO and in_cluster):
        return WALL
    reading = await read_cluster_time(connection)
    if reading is None:
        if mode is ClockMode.TWIN:
            raise ClusterTimeError(
                f"--cluster-clock twin: the API server at {connection.server} is not a kubeheal "
                f"twin (it does not serve {TWIN_STATUS_PATH})"
            )
        return WALL
    if reading.speed == 1.0:
        log.info("the twin at %s runs at real speed: kubeheal keeps the wall clock", reading.server)
        return WALL
    clock = following(reading)
    log.info(
        "the twin at %s runs x%g: kubeheal follows its clock (now %s); every threshold, window "
        "and cooldown is in cluster seconds, a sweep every %.2f wall seconds",
        reading.server, reading.speed, clock.now().isoformat(timespec="seconds"),
        sweep_interval(clock),
    )  # fmt: skip
    return clock

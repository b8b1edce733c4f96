"""The operator's clock (`kubeheal.runtime.clock`) over a reading of the twin's status
(`kubeheal.clients.cluster_time`), with a fake monotonic clock and httpx's mock transport."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx2
import pytest

from kubeheal.clients.cluster_time import ClusterTime, ClusterTimeError, read_cluster_time
from kubeheal.clients.kube import KubeConnection
from kubeheal.runtime.clock import WALL, OperatorClock, following, sweep_interval

SERVER = "http://127.0.0.1:6443"


class Monotonic:
    def __init__(self, start: float = 100.0) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value


def test_following_extrapolates_the_twins_time_at_its_speed() -> None:
    mono = Monotonic()
    reading = ClusterTime(epoch=1_800_000_000.0, speed=20.0, monotonic=100.0, server=SERVER)
    clock = following(reading, monotonic=mono)
    assert clock.now() == datetime.fromtimestamp(1_800_000_000.0, tz=UTC)
    mono.value += 3.0  # three wall seconds: a minute of the twin's
    assert clock.now() == datetime.fromtimestamp(1_800_000_060.0, tz=UTC)
    assert clock() == clock.now()
    start = clock.elapsed()
    mono.value += 0.5
    assert clock.elapsed() - start == pytest.approx(10.0)
    assert clock.wall_seconds(60.0) == pytest.approx(3.0)
    assert clock.accelerated and not WALL.accelerated
    assert sweep_interval(clock) == pytest.approx(0.25)
    assert sweep_interval(OperatorClock(speed=10_000.0)) == 0.02  # floored


async def test_sleep_waits_cluster_seconds() -> None:
    clock = OperatorClock(speed=200.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await clock.sleep(20.0)  # 0.1 s of the wall
    assert 0.09 <= loop.time() - started < 2.0
    await clock.sleep(-5.0)  # never negative


def test_a_clock_needs_a_positive_speed() -> None:
    with pytest.raises(ValueError, match="speed must be positive"):
        OperatorClock(speed=0.0)


def _answering(status: int, body: object) -> httpx2.MockTransport:
    def handler(request: httpx2.Request) -> httpx2.Response:
        assert request.url.path == "/twin/status"
        return httpx2.Response(status, content=json.dumps(body).encode())

    return httpx2.MockTransport(handler)


async def test_reading_a_twin_takes_the_middle_of_the_round_trip() -> None:
    ticks = iter([10.0, 10.2])
    body = {"scenario": "empty", "simulationSteps": 0, "epochSeconds": 5e8, "speed": 8,
            "clock": "wall", "time": "1985-11-05T00:53:20Z"}  # fmt: skip
    reading = await read_cluster_time(
        KubeConnection.from_server(SERVER),
        transport=_answering(200, body),
        monotonic=lambda: next(ticks),
    )
    assert reading == ClusterTime(epoch=5e8, speed=8.0, monotonic=10.1, server=SERVER)


@pytest.mark.parametrize(
    ("status", "body", "problem"),
    [
        (503, {"kind": "Status"}, "answered 503"),
        (200, {"scenario": "x", "simulationSteps": 1, "speed": "fast"}, "cannot read: Expected"),
        (200, ["scenario", "simulationSteps"], None),
        (200, {"kind": "Status", "speed": 3}, None),
        (200, {"scenario": "x", "simulationSteps": 1, "speed": 1e9, "epochSeconds": 1e9},
         "speed 1000000000.0"),
        (200, {"scenario": "x", "simulationSteps": 1, "speed": 2, "epochSeconds": -1},
         "time -1"),
    ],
)  # fmt: skip
async def test_a_status_that_cannot_be_followed_is_refused(
    status: int, body: object, problem: str | None
) -> None:
    connection = KubeConnection.from_server(SERVER)
    if problem is None:  # not the twin's status at all
        assert await read_cluster_time(connection, transport=_answering(status, body)) is None
        return
    with pytest.raises(ClusterTimeError, match=problem):
        await read_cluster_time(connection, transport=_answering(status, body))


async def test_transport_errors_do_not_leak() -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused\x1b[2J")

    with pytest.raises(ClusterTimeError) as caught:
        await read_cluster_time(
            KubeConnection.from_server(SERVER), transport=httpx2.MockTransport(refuse)
        )
    assert str(caught.value).startswith(f"cannot read the clock of {SERVER}: connection refused")
    assert "\x1b" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__

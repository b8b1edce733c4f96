"""`/twin/status` publishes the twin's clock: its time, its speed and its kind, which
`kubeheal run` follows."""

from __future__ import annotations

import httpx

from kubeheal.twin.clock import ManualClock, WallClock, parse_time
from kubeheal.twin.cluster import build_twin
from kubeheal.twin.server import serve_in_thread


def test_an_accelerated_twin_publishes_its_speed_and_time() -> None:
    clock = WallClock(speed=20.0)
    twin = build_twin(scenario="empty", clock=clock)
    with serve_in_thread(twin, simulate=False) as url:
        before = clock.now()
        status = httpx.get(f"{url}/twin/status").json()
        after = clock.now()
    assert status["speed"] == 20.0 and status["clock"] == "wall"
    assert before <= status["epochSeconds"] <= after
    assert parse_time(status["time"]) == int(status["epochSeconds"])


def test_a_manual_clock_has_no_speed() -> None:
    clock = ManualClock(start=1_800_000_000.0)
    twin = build_twin(scenario="empty", clock=clock)
    with serve_in_thread(twin, simulate=False) as url:
        clock.advance(90.5)
        status = httpx.get(f"{url}/twin/status").json()
    assert status["speed"] is None and status["clock"] == "manual"
    assert status["epochSeconds"] == 1_800_000_090.5
    assert status["time"] == "2027-01-15T08:01:30Z"

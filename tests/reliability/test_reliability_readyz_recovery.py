"""/readyz recovers within a bound once API faults end.

Cause of the old behaviour: /readyz is not ready while any watch reports a failure, and a
watch reports one until its next try succeeds; the reflectors' back-off was capped at 30 s,
so after a storm of 5xx a watch could sleep up to 30 s past the end of the faults, and
/readyz stayed 503 that long. The cap is now 5 s (`kubeheal.clients.reflector.Backoff`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time

import httpx
import httpx2
import msgspec
import pytest

from kubeheal.cli.harness import running_harness
from kubeheal.clients.kube import KubeConnection
from kubeheal.clients.reflector import CacheEvent, Reflector, resource_path

ERROR_RATE = 0.6
BACKED_OFF = 7
"""Consecutive failures of one watch before the faults end (old delay: 15-30 s)."""
RECOVERY_BOUND = 5.0
"""Fake seconds from the end of the faults to the watch being healthy again (the cap)."""
WALL_BACKED_OFF = 6
"""Consecutive failures of the worst watch before the faults end in the operator test: the
old back-off slept 8-16 s after that, the capped one sleeps 2.5-5 s."""
WALL_BOUND = 30.0
"""Wall seconds for the whole operator's /readyz, with room for a loaded 2-core machine: this
test proves the recovery end to end; the tight bound is the fake-clock test above, and the
figure (3-5 s here, 10.5 s before the cap) is measured in docs/benchmarks.md."""


class _Meta(msgspec.Struct):
    name: str = ""
    namespace: str = ""


class _Slim(msgspec.Struct):
    metadata: _Meta = msgspec.field(default_factory=_Meta)


class FlakyApi:
    """One collection behind an API that answers 60 % of requests 503 (seeded) until
    `clear`; time is fake and moves only when the reflector sleeps."""

    def __init__(self, *, seed: int) -> None:
        self.rng = random.Random(seed)
        self.now = 0.0
        self.down = True
        self.cleared_at: float | None = None
        self.recovered_at: float | None = None
        self.requests = 0
        self.reflector: Reflector[_Slim] | None = None

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests += 1
        if self.down and self.rng.random() < ERROR_RATE:
            status = {"kind": "Status", "code": 503, "reason": "ServiceUnavailable"}
            return httpx2.Response(503, json=status)
        if request.url.params.get("watch"):
            return httpx2.Response(200, content=b"")  # the server ends the watch at once
        item = {"metadata": {"name": "a", "namespace": "ns", "resourceVersion": "5"}}
        body = {"kind": "List", "metadata": {"resourceVersion": "5"}, "items": [item]}
        return httpx2.Response(200, content=json.dumps(body).encode())

    async def sleep(self, seconds: float) -> None:
        status = self.reflector.status if self.reflector is not None else None
        if status is not None:
            if self.down and status.consecutive_failures >= BACKED_OFF:
                self.down, self.cleared_at = False, self.now  # the faults end now
            healthy = status.synced and status.consecutive_failures == 0
            if self.cleared_at is not None and self.recovered_at is None and healthy:
                self.recovered_at = self.now
        self.now += seconds
        await asyncio.sleep(0)


async def test_a_watch_is_healthy_within_the_cap_after_a_5xx_storm() -> None:
    api = FlakyApi(seed=7)
    http = KubeConnection.from_server("http://twin.invalid").http_client(
        transport=httpx2.MockTransport(api.handle)
    )
    seen: list[CacheEvent[_Slim]] = []
    reflector = Reflector(
        http=http,
        path=resource_path("", "v1", "pods"),
        item_type=_Slim,
        handler=seen.append,
        sleep=api.sleep,  # the production back-off, on fake time
    )
    api.reflector = reflector
    task = asyncio.create_task(reflector.run(), name="flaky-reflector")
    try:
        deadline = time.monotonic() + 20
        while api.recovered_at is None and time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.001)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await http.aclose()
    assert api.cleared_at is not None, f"never backed off {BACKED_OFF} times ({api.requests})"
    assert api.recovered_at is not None, "the watch never recovered"
    recovery = api.recovered_at - api.cleared_at
    print(f"watch healthy {recovery:.2f} fake s after the faults ended")
    assert 0 < recovery <= RECOVERY_BOUND, f"healthy {recovery:.1f}s after the faults ended"
    assert [e.key for e in seen] == ["ns/a"]


@pytest.mark.slow
async def test_readyz_is_200_within_the_bound_after_60_percent_5xx() -> None:
    """The measurement in docs/benchmarks.md ("/readyz after API faults")."""
    async with running_harness(scenario="sample-app", speed=20.0, sweep_interval=0.3) as h:
        op, twin = h.operator, h.twin

        async def readyz() -> int:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=h.http.app), base_url="http://kubeheal"
            ) as client:
                return (await client.get("/readyz")).status_code

        def worst() -> int:
            return max(r.status.consecutive_failures for r in op.reflectors.values())

        assert await readyz() == 200
        twin.api_faults.configure(error_rate=ERROR_RATE)
        # Watches stay connected through request faults; an API server in trouble also
        # drops them, so each reconnection meets the 60 % and backs off.
        deadline = time.monotonic() + 120
        while worst() < WALL_BACKED_OFF:
            assert time.monotonic() < deadline, "the watches never backed off"
            twin.store.drop_watches()
            await asyncio.sleep(0.2)
        assert await readyz() == 503
        twin.api_faults.reset()
        cleared = time.monotonic()
        while await readyz() != 200:
            assert time.monotonic() - cleared < 60, op.health()
            await asyncio.sleep(0.05)
        recovery = time.monotonic() - cleared
        print(f"/readyz 200 {recovery:.2f}s after the faults ended")
        assert recovery <= WALL_BOUND, f"/readyz took {recovery:.1f}s"

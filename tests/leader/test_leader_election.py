"""The leader elector's protocol on a fake Lease store and a manual clock (no I/O, no sleeps).

Timings are client-go's defaults (15 s lease, 10 s renew deadline, 2 s retry period); the
manual clock drives both the monotonic and the wall clock, and the injected sleep advances it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from kubeheal.clients.kube import KubeConflict, KubeUnavailable
from kubeheal.clients.lease import LeaseRecord
from kubeheal.runtime.leader import LeaderElectionTimings, LeaderElector

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@dataclass
class Clock:
    t: float = 0.0
    skew: float = 0.0
    """Seconds this replica's wall clock runs ahead of the others'."""

    def mono(self) -> float:
        return self.t

    def wall(self) -> datetime:
        return T0 + timedelta(seconds=self.t + self.skew)

    async def sleep(self, seconds: float) -> None:
        self.t += seconds
        await asyncio.sleep(0)


class FakeLease:
    """One Lease with resourceVersion semantics; can be made unreachable."""

    def __init__(self) -> None:
        self.record: LeaseRecord | None = None
        self.version = 0
        self.down = False
        self.writes: list[LeaseRecord] = []
        self.pause_after_get: asyncio.Event | None = None

    def _check(self) -> None:
        if self.down:
            raise KubeUnavailable("API server answered 503 ServiceUnavailable: down")

    async def get(self) -> LeaseRecord | None:
        self._check()
        record = self.record
        if self.pause_after_get is not None:
            await self.pause_after_get.wait()
        return record

    def _store(self, record: LeaseRecord) -> LeaseRecord:
        self.version += 1
        self.record = replace(record, resource_version=str(self.version))
        self.writes.append(self.record)
        return self.record

    async def create(self, record: LeaseRecord) -> LeaseRecord:
        self._check()
        if self.record is not None:
            raise KubeConflict(code=409, reason="AlreadyExists", message="exists")
        return self._store(record)

    async def update(self, record: LeaseRecord) -> LeaseRecord:
        self._check()
        assert self.record is not None
        if record.resource_version != self.record.resource_version:
            raise KubeConflict(code=409, reason="Conflict", message="modified")
        return self._store(record)


def elector(lease: FakeLease, clock: Clock, identity: str, **kw: object) -> LeaderElector:
    return LeaderElector(
        lease, identity=identity, clock=clock.mono, wall_clock=clock.wall, sleep=clock.sleep,
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip


async def test_the_first_candidate_takes_an_absent_lease_and_the_second_waits() -> None:
    lease, clock = FakeLease(), Clock()
    a, b = elector(lease, clock, "a"), elector(lease, clock, "b")
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()
    assert b.leader == "a"
    assert lease.record is not None
    assert lease.record.holder == "a" and lease.record.duration_seconds == 15
    assert lease.record.acquire_time == lease.record.renew_time == T0


async def test_a_standby_takes_over_exactly_when_the_lease_expires() -> None:
    lease, clock = FakeLease(), Clock()
    a, b = elector(lease, clock, "a"), elector(lease, clock, "b")
    assert await a.try_acquire_or_renew()
    clock.t = 6.0
    assert await a.try_acquire_or_renew()  # last renewal at t=6
    assert not await b.try_acquire_or_renew()
    clock.t = 6.0 + 14.9
    assert not await b.try_acquire_or_renew()
    clock.t = 6.0 + 15.0
    assert await b.try_acquire_or_renew()
    assert lease.record is not None and lease.record.holder == "b"
    assert lease.record.transitions == 1
    # The old leader, back, finds the lease taken.
    assert not await a.try_acquire_or_renew()
    assert a.leader == "b"


async def test_failover_takes_at_most_the_lease_duration_after_the_last_renewal() -> None:
    lease, clock = FakeLease(), Clock()
    a = elector(lease, clock, "a")
    assert await a.try_acquire_or_renew()
    clock.t = 0.3  # the leader dies right after renewing at t=0; the standby starts here
    took_over: list[float] = []
    b = elector(lease, clock, "b", on_started_leading=lambda: took_over.append(clock.t))
    task = asyncio.create_task(b.run())
    while not took_over:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert 15.0 <= took_over[0] <= 15.1, took_over
    assert not b.is_leader  # cancelling run() stops leading


async def test_the_leader_steps_down_when_it_cannot_renew_within_the_deadline() -> None:
    lease, clock = FakeLease(), Clock()
    events: list[tuple[str, float]] = []
    a = elector(
        lease, clock, "a",
        on_started_leading=lambda: events.append(("started", clock.t)),
        on_stopped_leading=lambda: events.append(("stopped", clock.t)),
    )  # fmt: skip
    task = asyncio.create_task(a.run())
    while not a.is_leader:
        await asyncio.sleep(0)
    while clock.t < 7.0:  # renews every 2 s
        await asyncio.sleep(0)
    renewals = len(lease.writes)
    assert renewals >= 3
    lease.down = True
    last_renewal = (lease.writes[-1].renew_time - T0).total_seconds()  # type: ignore[operator]
    await asyncio.wait_for(task, 5)
    assert events[0] == ("started", 0.0)
    kind, at = events[1]
    assert kind == "stopped"
    assert 10.0 <= at - last_renewal <= 12.0, (at, last_renewal)
    # It stops before anyone else may take the lease (15 s after the last renewal).
    assert at - last_renewal < LeaderElectionTimings().lease_duration
    assert not a.is_leader


async def test_a_released_lease_is_taken_at_once() -> None:
    lease, clock = FakeLease(), Clock()
    a, b = elector(lease, clock, "a"), elector(lease, clock, "b")
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()
    assert await a.release()
    assert lease.record is not None and lease.record.holder == ""
    assert not await a.release()  # not the holder any more
    clock.t = 0.1
    assert await b.try_acquire_or_renew()


async def test_two_candidates_racing_end_with_one_leader() -> None:
    lease, clock = FakeLease(), Clock()
    assert await elector(lease, clock, "old").try_acquire_or_renew()
    clock.t = 20.0  # "old" expired
    gate = asyncio.Event()
    lease.pause_after_get = gate  # both read the same resourceVersion before writing
    a, b = elector(lease, clock, "a"), elector(lease, clock, "b")
    attempts = asyncio.gather(a.try_acquire_or_renew(), b.try_acquire_or_renew())
    await asyncio.sleep(0)
    gate.set()
    results = await attempts
    assert sorted(results) == [False, True]
    assert lease.record is not None and lease.record.holder in ("a", "b")
    assert lease.record.transitions == 1


async def test_a_leader_whose_clock_runs_ahead_cannot_hold_the_lease_for_ever() -> None:
    lease, clock = FakeLease(), Clock()
    ahead = Clock(skew=3600.0)
    assert await elector(lease, ahead, "a").try_acquire_or_renew()  # renewTime an hour ahead
    b = elector(lease, clock, "b")
    assert not await b.try_acquire_or_renew()
    clock.t = 15.0  # 15 s after b first saw the record: expired by b's own clock
    assert await b.try_acquire_or_renew()


async def test_a_lease_taken_by_someone_else_makes_the_leader_step_down() -> None:
    lease, clock = FakeLease(), Clock()
    a = elector(lease, clock, "a")
    task = asyncio.create_task(a.run())
    while not a.is_leader:
        await asyncio.sleep(0)
    assert lease.record is not None
    lease._store(replace(lease.record, holder="intruder", renew_time=clock.wall()))
    await asyncio.wait_for(task, 5)
    assert not a.is_leader and a.leader == "intruder"


async def test_api_errors_are_failed_attempts_not_exceptions() -> None:
    lease, clock = FakeLease(), Clock()
    lease.down = True
    a = elector(lease, clock, "a")
    assert not await a.try_acquire_or_renew()
    lease.down = False
    assert await a.try_acquire_or_renew()


def test_timings_must_leave_a_margin() -> None:
    assert LeaderElectionTimings() == LeaderElectionTimings(15.0, 10.0, 2.0)
    with pytest.raises(ValueError, match="renew_deadline < lease_duration"):
        LeaderElectionTimings(lease_duration=10.0, renew_deadline=10.0)
    with pytest.raises(ValueError, match="identity"):
        LeaderElector(FakeLease(), identity="")

"""Leader election against the cluster twin's API (real HTTP, real Lease objects, real time).

Timings are shortened (2 s lease, 1.4 s renew deadline, 0.25 s retry) so that the tests take
seconds; the protocol at client-go's 15/10/2 s is covered with a manual clock in
test_leader_election.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from kubeheal.clients.kube import KubeConnection
from kubeheal.clients.lease import LeaseClient
from kubeheal.runtime.leader import LeaderElectionTimings, LeaderElector
from kubeheal.twin.api import ApiOptions, AuditRecord
from kubeheal.twin.apifaults import ApiFaultSettings
from kubeheal.twin.clock import WallClock
from kubeheal.twin.cluster import Twin
from kubeheal.twin.server import serve_in_thread
from support import until

FAST = LeaderElectionTimings(lease_duration=2.0, renew_deadline=1.4, retry_period=0.25)
NAMESPACE = "kubeheal-system"
LEASE = "kubeheal-leader"


@dataclass
class Served:
    twin: Twin
    url: str
    calls: list[AuditRecord] = field(default_factory=list)

    def lease(self) -> dict[str, Any] | None:
        rtype = self.twin.store.rtype("coordination.k8s.io", "v1", "leases")
        found: dict[str, Any] | None = self.twin.store.find(rtype, NAMESPACE, LEASE)
        return found


@pytest.fixture
def served() -> Iterator[Served]:
    twin = Twin.bare(clock=WallClock(), seed=1)
    namespaces = twin.store.rtype("", "v1", "namespaces")
    twin.store.create(namespaces, {"apiVersion": "v1", "kind": "Namespace",
                                   "metadata": {"name": NAMESPACE}})  # fmt: skip
    calls: list[AuditRecord] = []
    with serve_in_thread(twin, simulate=False, options=ApiOptions(audit=calls.append)) as url:
        yield Served(twin=twin, url=url, calls=calls)


@dataclass
class Candidate:
    elector: LeaderElector
    client: LeaseClient
    task: asyncio.Task[None] | None = None
    started_at: list[float] = field(default_factory=list)
    stopped_at: list[float] = field(default_factory=list)

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.elector.run())

    async def crash(self) -> None:
        """Die without a goodbye: stop renewing, release nothing."""
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    async def shutdown(self) -> None:
        await self.crash()
        await self.elector.release()


@contextlib.asynccontextmanager
async def candidates(served: Served, *names: str) -> AsyncIterator[list[Candidate]]:
    made: list[Candidate] = []
    for name in names:
        client = LeaseClient(
            KubeConnection.from_server(served.url), namespace=NAMESPACE, name=LEASE, timeout=2.0
        )
        c = Candidate(elector=LeaderElector(client, identity=name, timings=FAST), client=client)
        c.elector.on_started_leading = lambda c=c: c.started_at.append(time.monotonic())
        c.elector.on_stopped_leading = lambda c=c: c.stopped_at.append(time.monotonic())
        made.append(c)
    try:
        yield made
    finally:
        for c in made:
            if c.task is not None:
                await c.crash()
            await c.client.aclose()


async def test_two_candidates_elect_exactly_one_leader(served: Served) -> None:
    async with candidates(served, "replica-a", "replica-b") as (a, b):
        a.start()
        await until(lambda: a.elector.is_leader, what="a to lead", timeout=10.0)
        b.start()
        await asyncio.sleep(FAST.lease_duration + 0.5)  # b tried many times meanwhile
        assert a.elector.is_leader and not b.elector.is_leader
        assert b.elector.leader == "replica-a"
        lease = served.lease()
        assert lease is not None
        assert lease["spec"]["holderIdentity"] == "replica-a"
        assert lease["spec"]["leaseDurationSeconds"] == 2
    # Everything went through the Lease API with the verbs the Role grants.
    verbs = {(c.verb, c.resource, c.namespace) for c in served.calls}
    assert verbs <= {
        ("get", "leases", NAMESPACE),
        ("create", "leases", NAMESPACE),
        ("update", "leases", NAMESPACE),
    }, verbs


async def test_a_crashed_leader_is_replaced_within_the_lease_duration(served: Served) -> None:
    async with candidates(served, "replica-a", "replica-b") as (a, b):
        a.start()
        await until(lambda: a.elector.is_leader, what="a to lead", timeout=10.0)
        b.start()
        await asyncio.sleep(0.6)
        await a.crash()
        killed = time.monotonic()
        await until(lambda: b.elector.is_leader, what="b to lead", timeout=FAST.lease_duration + 3)
        failover = b.started_at[0] - killed
        assert failover <= FAST.lease_duration + 0.3, failover
        lease = served.lease()
        assert lease is not None and lease["spec"]["holderIdentity"] == "replica-b"
        assert lease["spec"]["leaseTransitions"] == 1


async def test_a_clean_shutdown_hands_over_at_once(served: Served) -> None:
    async with candidates(served, "replica-a", "replica-b") as (a, b):
        a.start()
        await until(lambda: a.elector.is_leader, what="a to lead", timeout=10.0)
        b.start()
        await asyncio.sleep(0.6)
        await a.shutdown()
        released = time.monotonic()
        lease = served.lease()
        assert lease is not None and "holderIdentity" not in lease["spec"]
        await until(lambda: b.elector.is_leader, what="b to lead", timeout=FAST.lease_duration)
        assert b.started_at[0] - released <= FAST.retry_period + 0.3
        assert a.stopped_at and not a.elector.is_leader


async def test_a_leader_cut_off_from_the_api_steps_down_before_the_lease_expires(
    served: Served,
) -> None:
    async with candidates(served, "replica-a") as (a,):
        a.start()
        await until(lambda: a.elector.is_leader, what="a to lead", timeout=10.0)
        served.twin.api_faults.configure(ApiFaultSettings(error_rate=1.0, error_codes=(503,)))
        cut = time.monotonic()
        assert a.task is not None
        await asyncio.wait_for(a.task, FAST.lease_duration + 2)
        assert not a.elector.is_leader
        assert a.stopped_at[0] - cut <= FAST.lease_duration

"""Leader election over a coordination.k8s.io/v1 Lease: one replica acts, the others wait.

Every replica runs a `LeaderElector` on the same Lease. The protocol is client-go's:

- **acquire**: every ``retry_period`` a candidate reads the Lease; it takes it (writes its
  identity, ``acquireTime``, ``renewTime``) when nobody holds it or the holder's last renewal
  is older than ``lease_duration``. The write carries the resourceVersion it read, so of two
  candidates racing, one wins and the other gets a conflict and keeps waiting. A standby
  retries right when the Lease will expire, not up to ``retry_period`` later, so failover
  takes at most ``lease_duration`` after the leader's last renewal.
- **renew**: the leader rewrites ``renewTime`` every ``retry_period``. If no renewal has
  succeeded for ``renew_deadline`` (API server unreachable, conflicts), it stops leading at
  once: ``renew_deadline < lease_duration`` leaves the margin in which the old leader has
  stopped before anyone else may start (it also absorbs clock skew between nodes below
  ``lease_duration - renew_deadline``).
- **release**: on a clean shutdown the leader clears ``holderIdentity`` so a standby takes
  over on its next retry instead of waiting for the Lease to expire.

Defaults are client-go's: 15 s lease, 10 s renew deadline, 2 s retry period.

Expiry is judged from the Lease's ``renewTime`` (the holder's wall clock) and, as a bound for
a holder whose clock runs ahead, from when this replica last saw the record change (its own
monotonic clock), whichever comes first. Clocks and sleep are injected for tests.

`run` returns once leadership is lost (a process should then exit and restart as a standby:
its in-memory state may be stale); cancelling it stops leading too. Callbacks and the
`leading` event tell the rest of the operator; `release` gives the Lease up. `campaign` wires
it all for a process: the elector runs in the background, and leaving the block stops it and
releases the Lease (leave it only after the work it guards has stopped).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from kubeheal.clients.kube import KubeConflict, KubeConnection, KubeError
from kubeheal.clients.lease import LeaseClient, LeaseRecord
from kubeheal.runtime.tasks import Tasks

__all__ = [
    "DEFAULT_LEASE_NAME",
    "LeaderElectionTimings",
    "LeaderElector",
    "LeaseStore",
    "campaign",
    "default_identity",
    "default_namespace",
]

DEFAULT_LEASE_NAME = "kubeheal-leader"
DEFAULT_NAMESPACE = "kubeheal-system"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

log = logging.getLogger(__name__)


class LeaseStore(Protocol):
    """Where the Lease lives (`kubeheal.clients.lease.LeaseClient`, or a fake in tests)."""

    async def get(self) -> LeaseRecord | None: ...

    async def create(self, record: LeaseRecord) -> LeaseRecord: ...

    async def update(self, record: LeaseRecord) -> LeaseRecord: ...


@dataclass(frozen=True, slots=True)
class LeaderElectionTimings:
    """How long a Lease lasts and how often it is renewed (seconds; client-go's defaults)."""

    lease_duration: float = 15.0
    """A holder that has not renewed for this long has lost the Lease to whoever takes it."""
    renew_deadline: float = 10.0
    """The leader stops leading when it has not renewed for this long (< lease_duration)."""
    retry_period: float = 2.0
    """Between two attempts to acquire or renew."""

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError(
                "leader election needs 0 < retry_period < renew_deadline < lease_duration, got "
                f"{self.retry_period}, {self.renew_deadline}, {self.lease_duration}"
            )


def _utcnow() -> datetime:
    return datetime.now(tz=UTC)


Callback = Callable[[], None]


class LeaderElector:
    """Campaign for one Lease under one identity. See the module docstring."""

    def __init__(
        self,
        lease: LeaseStore,
        *,
        identity: str,
        timings: LeaderElectionTimings | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = _utcnow,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_started_leading: Callback | None = None,
        on_stopped_leading: Callback | None = None,
        on_new_leader: Callable[[str], None] | None = None,
    ) -> None:
        if not identity:
            raise ValueError("a leader election identity must not be empty")
        self.lease = lease
        self.identity = identity
        self.timings = timings or LeaderElectionTimings()
        self.clock = clock
        self.wall_clock = wall_clock
        self.sleep = sleep
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.on_new_leader = on_new_leader
        self.leading = asyncio.Event()
        """Set while this replica leads."""
        self.leader = ""
        """The holder last seen on the Lease (this identity while leading)."""
        self.transitions = 0
        """Times this elector started leading (for metrics)."""
        self._observed: LeaseRecord | None = None
        self._observed_at = 0.0
        self._last_renew = 0.0

    @property
    def is_leader(self) -> bool:
        return self.leading.is_set()

    # -- one step

    def _expires_in(self, record: LeaseRecord) -> float:
        """Seconds until ``record`` (held by someone else) expires; <= 0: expired now."""
        duration = record.duration_seconds or self.timings.lease_duration
        by_monotonic = self._observed_at + duration - self.clock()
        if record.renew_time is None:
            return by_monotonic
        by_wall = (
            record.renew_time + timedelta(seconds=duration) - self.wall_clock()
        ).total_seconds()
        return min(by_wall, by_monotonic)

    def _observe(self, record: LeaseRecord | None) -> None:
        if record is None:
            return
        seen = self._observed
        if seen is None or (seen.holder, seen.renew_time, seen.resource_version) != (
            record.holder,
            record.renew_time,
            record.resource_version,
        ):
            self._observed = record
            self._observed_at = self.clock()
        if record.holder != self.leader:
            self.leader = record.holder
            if record.holder:
                log.info("leader is now %s", record.holder)
                if self.on_new_leader is not None and record.holder != self.identity:
                    self.on_new_leader(record.holder)

    async def try_acquire_or_renew(self) -> bool:
        """One attempt: True if this replica holds the Lease afterwards.

        API errors count as a failed attempt (logged), never raised.
        """
        now = self.wall_clock()
        duration = round(self.timings.lease_duration)
        try:
            current = await self.lease.get()
            if current is None:
                mine = LeaseRecord(
                    holder=self.identity, duration_seconds=duration, acquire_time=now,
                    renew_time=now, transitions=0,
                )  # fmt: skip
                self._observe(await self.lease.create(mine))
                return self._held()
            self._observe(current)
            if current.holder == self.identity:
                renewed = replace(current, renew_time=now, duration_seconds=duration)
            elif current.holder and self._expires_in(current) > 0:
                return False
            else:
                renewed = replace(
                    current, holder=self.identity, duration_seconds=duration, acquire_time=now,
                    renew_time=now, transitions=current.transitions + 1,
                )  # fmt: skip
            self._observe(await self.lease.update(renewed))
            return self._held()
        except KubeConflict as e:
            log.debug("lease changed under us (%s); will look again", e)
            return False
        except KubeError as e:
            log.warning("leader election: cannot read or write the lease: %s", e)
            return False

    def _held(self) -> bool:
        if self.leader == self.identity:
            self._last_renew = self.clock()
            return True
        return False

    # -- the loops

    async def run(self) -> None:
        """Acquire, then renew until leadership is lost; returns when it is lost."""
        try:
            await self._acquire()
            self._start_leading()
            await self._renew()
        finally:
            self._stop_leading()

    async def _acquire(self) -> None:
        while not await self._attempt():
            wait = self.timings.retry_period
            record = self._observed
            if record is not None and record.holder and record.holder != self.identity:
                # Try again right when the holder's Lease runs out.
                wait = min(wait, max(0.0, self._expires_in(record)) + 0.01)
            await self.sleep(wait)

    async def _attempt(self) -> bool:
        """`try_acquire_or_renew`, bounded so that a hung request cannot outlive the deadline."""
        limit = max(0.1, self.timings.renew_deadline - self.timings.retry_period)
        try:
            async with asyncio.timeout(limit):
                return await self.try_acquire_or_renew()
        except TimeoutError:
            log.warning("leader election: the API server did not answer within %.1fs", limit)
            return False

    async def _renew(self) -> None:
        while True:
            await self.sleep(self.timings.retry_period)
            if await self._attempt():
                continue
            if self.clock() - self._last_renew >= self.timings.renew_deadline:
                log.error(
                    "leader election: could not renew the lease for %.0fs; stepping down",
                    self.timings.renew_deadline,
                )
                return
            if self.leader and self.leader != self.identity:
                log.error("leader election: the lease was taken by %s; stepping down", self.leader)
                return

    def _start_leading(self) -> None:
        self.transitions += 1
        self.leading.set()
        log.info("%s started leading", self.identity)
        if self.on_started_leading is not None:
            self.on_started_leading()

    def _stop_leading(self) -> None:
        if not self.leading.is_set():
            return
        self.leading.clear()
        log.info("%s stopped leading", self.identity)
        if self.on_stopped_leading is not None:
            self.on_stopped_leading()

    async def release(self) -> bool:
        """Give the Lease up if this replica holds it; True if it did.

        Call after `run` has ended (or been cancelled) and the work it guarded has stopped.
        Clears ``holderIdentity`` so a standby takes over on its next retry.
        """
        self._stop_leading()
        try:
            current = await self.lease.get()
            if current is None or current.holder != self.identity:
                return False
            released = replace(current, holder="", acquire_time=None, renew_time=self.wall_clock())
            await self.lease.update(replace(released, duration_seconds=1))
        except KubeError as e:
            log.warning("leader election: could not release the lease (it will expire): %s", e)
            return False
        log.info("%s released the lease", self.identity)
        return True


def default_identity(env: Mapping[str, str]) -> str:
    """``POD_NAME`` (set from the downward API), else this host's name plus a random suffix."""
    pod = env.get("POD_NAME", "").strip()
    return pod or f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def default_namespace(
    env: Mapping[str, str], *, service_account: Path = SERVICE_ACCOUNT_NAMESPACE
) -> str:
    """``POD_NAMESPACE``, else the service account's namespace in a pod, else kubeheal-system."""
    namespace = env.get("POD_NAMESPACE", "").strip()
    if namespace:
        return namespace
    try:
        return service_account.read_text().strip() or DEFAULT_NAMESPACE
    except OSError:
        return DEFAULT_NAMESPACE


@contextlib.asynccontextmanager
async def campaign(
    connection: KubeConnection,
    *,
    namespace: str,
    identity: str,
    name: str = DEFAULT_LEASE_NAME,
    timings: LeaderElectionTimings | None = None,
    on_stopped_leading: Callback | None = None,
) -> AsyncIterator[LeaderElector]:
    """Campaign for ``namespace/name`` in the background while the block runs.

    ``elector.leading`` is the gate of the work (`kubeheal.runtime.operator.Operator`'s
    ``leader``); ``on_stopped_leading`` is called when leadership is lost (the process should
    then shut down). Leaving the block stops campaigning and releases the Lease if held.
    """
    timings = timings or LeaderElectionTimings()
    client = LeaseClient(
        connection, namespace=namespace, name=name, timeout=max(1.0, timings.renew_deadline / 2)
    )
    elector = LeaderElector(
        client, identity=identity, timings=timings, on_stopped_leading=on_stopped_leading
    )
    tasks = Tasks()
    tasks.spawn("leader-election", elector.run())
    log.info("campaigning for lease %s/%s as %s", namespace, name, identity)
    try:
        yield elector
    finally:
        await tasks.stop()
        await elector.release()
        await client.aclose()

"""Two operator replicas on one ledger: the leader dies in the middle of a remediation.

The twin runs sample-app 20x faster than the wall clock; two `Operator`s, each with its own
`LeaderElector` on the same Lease and its own connection, share one ledger (PostgreSQL, or
the same SQLite file). A bad rollout makes the leader roll the Deployment back; it dies right
after its write reached the cluster and before it recorded the outcome. The standby must take
over within the lease duration, resume the incident from the ledger, and finish it without
writing the rollback a second time. Lease timings are shortened (2 s) to keep the test short.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import kubeheal.actions
from kubeheal.clients.kube import KubeConnection
from kubeheal.clients.lease import LeaseClient
from kubeheal.clients.writer import Kind
from kubeheal.config import Settings
from kubeheal.engine.playbooks import load_builtin_playbooks
from kubeheal.runtime.leader import LeaderElectionTimings, LeaderElector
from kubeheal.runtime.operator import Operator, OperatorEvent, OperatorOptions
from kubeheal.store import Ledger
from kubeheal.store import records as rec
from kubeheal.twin.api import ApiOptions, AuditRecord
from kubeheal.twin.clock import WallClock
from kubeheal.twin.cluster import Twin, build_twin
from kubeheal.twin.pgserver import LocalPostgres
from kubeheal.twin.server import serve_in_thread
from kubeheal.twin.sim.faults import FaultSpec
from support import until

FAST = LeaderElectionTimings(lease_duration=2.0, renew_deadline=1.4, retry_period=0.25)
NAMESPACE = "kubeheal-system"
BAD_ROLLOUT = {
    "kind": "crash-on-start",
    "target": {"namespace": "demo", "deployment": "sample-app"},
}
GOOD_IMAGE = "ghcr.io/kubeheal/sample-app:1.4.2"


@dataclass
class Replica:
    name: str
    operator: Operator
    elector: LeaderElector
    lease: LeaseClient
    ledger: Ledger
    timeline: list[OperatorEvent] = field(default_factory=list)
    writes: list[tuple[str, str, bool]] = field(default_factory=list)
    """(method, object, leading at the time) of every cluster write but the Lease's."""
    led_at: list[float] = field(default_factory=list)
    elector_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.elector_task = asyncio.get_running_loop().create_task(self.elector.run())
        await self.operator.start()

    async def crash(self) -> None:
        """The process dies: no more renewals, no release, every task gone."""
        if self.elector_task is not None:
            self.elector_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.elector_task
            self.elector_task = None
        await self.operator.stop()

    async def close(self) -> None:
        await self.crash()
        await self.lease.aclose()
        self.ledger.close()


def _spy(replica: Replica) -> None:
    writer = replica.operator.writer
    for method in ("patch", "create", "replace", "delete"):
        real = getattr(writer, method)

        async def spy(kind: Kind, namespace: str | None, *args: Any, _m=method, _r=real, **kw: Any):
            obj = args[0] if args else ""
            name = obj if isinstance(obj, str) else (obj.get("metadata") or {}).get("name", "")
            replica.writes.append(
                (_m, f"{kind.name}/{namespace}/{name}", replica.elector.is_leader)
            )
            return await _r(kind, namespace, *args, **kw)

        setattr(writer, method, spy)


@dataclass
class Cluster:
    twin: Twin
    url: str
    calls: list[AuditRecord]

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.twin.clock.now(), tz=UTC)

    def deployment(self) -> dict[str, Any]:
        rtype = self.twin.store.rtype("apps", "v1", "deployments")
        dep: dict[str, Any] = self.twin.store.find(rtype, "demo", "sample-app")
        return dep

    def replica_sets(self) -> set[str]:
        rtype = self.twin.store.rtype("apps", "v1", "replicasets")
        return {rs["metadata"]["name"] for rs in self.twin.store.list_objects(rtype, "demo")}

    def replica(self, name: str, ledger: Ledger) -> Replica:
        connection = KubeConnection.from_server(self.url)
        lease = LeaseClient(connection, namespace=NAMESPACE, name="kubeheal-leader", timeout=2.0)
        elector = LeaderElector(lease, identity=name, timings=FAST)
        timeline: list[OperatorEvent] = []
        operator = Operator(
            connection=connection,
            ledger=ledger,
            settings=Settings(),
            playbooks=load_builtin_playbooks(),
            clock=self.now,
            options=OperatorOptions(sweep_interval=0.3, ledger_in_thread=True),
            on_event=timeline.append,
            leader=elector.leading,
        )
        replica = Replica(
            name=name, operator=operator, elector=elector, lease=lease, ledger=ledger,
            timeline=timeline,
        )  # fmt: skip
        elector.on_started_leading = lambda: replica.led_at.append(time.monotonic())
        _spy(replica)
        return replica


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    twin = build_twin(scenario="sample-app", clock=WallClock(speed=20.0), seed=0)
    namespaces = twin.store.rtype("", "v1", "namespaces")
    twin.store.create(namespaces, {"apiVersion": "v1", "kind": "Namespace",
                                   "metadata": {"name": NAMESPACE}})  # fmt: skip
    calls: list[AuditRecord] = []
    with serve_in_thread(twin, tick=0.1, options=ApiOptions(audit=calls.append)) as url:
        yield Cluster(twin=twin, url=url, calls=calls)


@pytest.fixture(params=["postgres", "sqlite"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "shared-ledger.db")
        return
    server: LocalPostgres = request.getfixturevalue("leader_postgres")
    url = server.create_database("failover")
    yield url
    server.drop_database(url)


@contextlib.asynccontextmanager
async def replicas(cluster: Cluster, ledger_url: str) -> AsyncIterator[tuple[Replica, Replica]]:
    a = cluster.replica("replica-a", Ledger.open(ledger_url))
    b = cluster.replica("replica-b", Ledger.open(ledger_url))
    try:
        await a.start()
        await until(lambda: a.elector.is_leader, what="replica-a to lead")
        await b.start()
        yield a, b
    finally:
        await a.close()
        await b.close()


def _incidents(ledger: Ledger, cluster: Cluster) -> list[rec.IncidentRecord]:
    return ledger.list_incidents(
        since=datetime(2000, 1, 1, tzinfo=UTC), until=cluster.now() + timedelta(days=1)
    )


async def test_leader_killed_mid_remediation_standby_finishes_it_exactly_once(
    cluster: Cluster, ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_execute = kubeheal.actions.execute
    written = asyncio.Event()
    async with replicas(cluster, ledger_url) as (a, b):

        async def execute(plan: Any, **kw: Any) -> Any:
            outcome = await real_execute(plan, **kw)  # the write reaches the cluster ...
            if kw["writer"] is a.operator.writer:
                written.set()
                await asyncio.Event().wait()  # ... and the leader dies before recording it
            return outcome

        monkeypatch.setattr(kubeheal.actions, "execute", execute)
        await asyncio.sleep(1.0)  # the standby's caches are warm; it has done nothing
        assert not b.elector.is_leader and b.writes == []
        cluster.twin.faults.inject(FaultSpec.model_validate(BAD_ROLLOUT))  # type: ignore[union-attr]
        await until(written.is_set, what="the leader's rollback to reach the cluster")
        generation = cluster.deployment()["metadata"]["generation"]
        replica_sets = cluster.replica_sets()
        [pending] = a.ledger.pending_actions()
        await a.crash()
        killed = time.monotonic()

        await until(
            lambda: b.led_at, what="the standby to take over", timeout=FAST.lease_duration + 3
        )
        failover = b.led_at[0] - killed
        assert failover <= FAST.lease_duration + 0.3, failover

        def closed() -> rec.IncidentRecord | None:
            found = _incidents(b.ledger, cluster)
            return found[-1] if found and found[-1].is_terminal else None

        done = await until(closed, what="the standby to finish the incident")
        assert done.state is rec.IncidentState.RESOLVED, [e.message for e in b.timeline]
        assert done.resolution is rec.Resolution.AUTO
        assert len(_incidents(b.ledger, cluster)) == 1
        [action] = b.ledger.actions_for_incident(done.id)
        assert action.idempotency_key == pending.idempotency_key
        assert action.state is rec.ActionState.SUCCEEDED
        # The cluster saw one rollback: no second template change, no new ReplicaSet.
        deployment = cluster.deployment()
        assert deployment["metadata"]["generation"] == generation
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == GOOD_IMAGE
        assert cluster.replica_sets() == replica_sets
        deployment_patches = [w for w in a.writes + b.writes if w[0] == "patch" and
                              w[1] == "DEPLOYMENT/demo/sample-app"]  # fmt: skip
        assert [w for w in b.writes if w[0] == "patch"] == [], b.writes
        assert deployment_patches and all(leading for _, _, leading in deployment_patches)
        # Only leaders ever wrote to the cluster.
        assert all(leading for _, _, leading in a.writes + b.writes), a.writes + b.writes
        assert any("already at the template" in e.message for e in b.timeline)

"""Failover of two operator replicas with client-go's default Lease timings (15/10/2 s).

Each trial: the twin runs sample-app (20x faster than the wall clock); two in-process
`Operator` replicas, each with a `LeaderElector` on the same Lease and its own connection, share
a PostgreSQL ledger (a local server started here). A bad rollout makes the leader roll the
Deployment back; it dies right after its write reached the cluster, before recording the
outcome (no renewals, no release, every task cancelled). Measured: seconds from the kill until
the standby leads, until the incident is resolved, and the duplicate cluster writes (template
changes after the leader's one: Deployment generation) and duplicate ledger actions.
A last trial stops the leader cleanly instead and measures the hand-over.

    .venv/bin/python bench/failover_bench.py --trials 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import kubeheal.actions
from kubeheal.clients.kube import KubeConnection
from kubeheal.clients.lease import LeaseClient
from kubeheal.config import Settings
from kubeheal.engine.playbooks import load_builtin_playbooks
from kubeheal.runtime.leader import LeaderElectionTimings, LeaderElector
from kubeheal.runtime.operator import Operator, OperatorOptions
from kubeheal.store import Ledger
from kubeheal.twin.clock import WallClock
from kubeheal.twin.cluster import build_twin
from kubeheal.twin.pgserver import LocalPostgres
from kubeheal.twin.server import serve_in_thread
from kubeheal.twin.sim.faults import FaultSpec

BAD_ROLLOUT = {
    "kind": "crash-on-start",
    "target": {"namespace": "demo", "deployment": "sample-app"},
}


async def until(predicate: Any, timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.02)
    return value


async def trial(pg: LocalPostgres, *, crash: bool) -> dict[str, float]:
    twin = build_twin(scenario="sample-app", clock=WallClock(speed=20.0), seed=0)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubeheal-system"}}
    twin.store.create(twin.store.rtype("", "v1", "namespaces"), namespace)
    url_db = pg.create_database("failover")
    deployments = twin.store.rtype("apps", "v1", "deployments")

    def now() -> datetime:
        return datetime.fromtimestamp(twin.clock.now(), tz=UTC)

    with serve_in_thread(twin, tick=0.1) as url:
        replicas = []
        for name in ("replica-a", "replica-b"):
            connection = KubeConnection.from_server(url)
            lease = LeaseClient(connection, namespace="kubeheal-system", name="kubeheal-leader")
            elector = LeaderElector(lease, identity=name, timings=LeaderElectionTimings())
            ledger = Ledger.open(url_db)
            operator = Operator(
                connection=connection, ledger=ledger, settings=Settings(),
                playbooks=load_builtin_playbooks(), clock=now,
                options=OperatorOptions(sweep_interval=0.3, ledger_in_thread=True),
                leader=elector.leading,
            )  # fmt: skip
            replicas.append((elector, lease, ledger, operator))
        (ea, _, _, oa), (eb, _, ledger_b, ob) = replicas
        ta = asyncio.get_running_loop().create_task(ea.run())
        await oa.start()
        await until(lambda: ea.is_leader)
        tb = asyncio.get_running_loop().create_task(eb.run())
        await ob.start()
        await asyncio.sleep(1.0)
        real = kubeheal.actions.execute
        written = asyncio.Event()

        async def execute(plan: Any, **kw: Any) -> Any:
            outcome = await real(plan, **kw)
            if kw["writer"] is oa.writer:
                written.set()
                await asyncio.Event().wait()
            return outcome

        kubeheal.actions.execute = execute  # type: ignore[assignment]
        try:
            if crash:
                assert twin.faults is not None
                twin.faults.inject(FaultSpec.model_validate(BAD_ROLLOUT))
                await until(written.is_set)
            generation = twin.store.find(deployments, "demo", "sample-app")["metadata"][
                "generation"
            ]
            stopped = time.monotonic()
            ta.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ta
            await oa.stop()
            if not crash:
                await ea.release()
            await until(lambda: eb.is_leader)
            led = time.monotonic() - stopped
            result = {"takeover_s": led}
            if crash:

                def resolved() -> Any:
                    found = ledger_b.list_incidents(
                        since=datetime(2000, 1, 1, tzinfo=UTC), until=now() + timedelta(days=1)
                    )
                    return found and found[-1].is_terminal and found[-1]

                incident = await until(resolved)
                result["recovered_s"] = time.monotonic() - stopped
                end = twin.store.find(deployments, "demo", "sample-app")["metadata"]["generation"]
                result["duplicate_cluster_writes"] = end - generation
                result["ledger_actions"] = len(ledger_b.actions_for_incident(incident.id))
        finally:
            kubeheal.actions.execute = real
            tb.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await tb
            await ob.stop()
            for _, lease, ledger, _ in replicas:
                await lease.aclose()
                ledger.close()
    pg.drop_database(url_db)
    return result


async def main(trials: int) -> None:
    with LocalPostgres() as pg:
        crashes = [await trial(pg, crash=True) for _ in range(trials)]
        handover = await trial(pg, crash=False)
    takeover = [t["takeover_s"] for t in crashes]
    print(json.dumps({"crash_trials": crashes, "clean_handover": handover}, indent=2))
    print(
        f"leader killed: standby leads after {min(takeover):.1f}-{max(takeover):.1f} s "
        f"(median {statistics.median(takeover):.1f}), incident resolved after "
        f"{statistics.median(t['recovered_s'] for t in crashes):.1f} s (median); duplicate "
        f"cluster writes {sum(t['duplicate_cluster_writes'] for t in crashes):.0f}, ledger "
        f"actions per incident {sorted({t['ledger_actions'] for t in crashes})}; clean "
        f"shutdown hands over in {handover['takeover_s']:.1f} s"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    asyncio.run(main(parser.parse_args().trials))

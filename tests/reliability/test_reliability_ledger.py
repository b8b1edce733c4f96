"""The ledger fails under the operator: its disk is full (SQLite), or PostgreSQL is gone.

Either way the operator must say so clearly (one error line naming the ledger error, and
/readyz answering 503 with the reason), take no cluster action it could not record first (the
writer is never called while the ledger refuses writes), and heal once the ledger is back,
with exactly one recorded action and one write to the cluster.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubeheal.cli.harness import Harness, running_harness
from kubeheal.clients.writer import Kind
from kubeheal.config import DetectionSettings, Settings
from kubeheal.server import Authenticator
from kubeheal.store import StorageError
from kubeheal.store import records as rec
from kubeheal.twin.pgserver import LocalPostgres, find_binaries
from kubeheal.twin.sim.faults import FaultSpec

SETTINGS = Settings(detection=DetectionSettings(missing_pdb=False))


class DiskFull:
    """Wraps a ledger's backend: while ``full``, every write transaction fails as SQLite does
    when the disk is full."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.full = False
        self.refused = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    def transaction(self, *, write: bool) -> Any:
        if write and self.full:
            self.refused += 1
            raise StorageError(f"ledger {self.backend.location}: database or disk is full")
        return self.backend.transaction(write=write)


def spy_writes(h: Harness) -> list[str]:
    """Every write the operator's writer makes (reads are not recorded)."""
    writes: list[str] = []
    writer = h.operator.writer
    for method in ("patch", "create", "replace", "delete"):
        real = getattr(writer, method)

        async def spy(kind: Kind, namespace: str | None, *args: Any, _m=method, _r=real, **kw: Any):
            writes.append(f"{_m} {kind.name} {namespace}")
            return await _r(kind, namespace, *args, **kw)

        setattr(writer, method, spy)
    real_evict = writer.evict

    async def evict(namespace: str, name: str, **kw: Any) -> None:
        writes.append(f"evict {namespace}/{name}")
        await real_evict(namespace, name, **kw)

    writer.evict = evict  # type: ignore[method-assign]
    return writes


@contextlib.asynccontextmanager
async def harness(rk: Any, ledger: str | Path) -> Any:
    async with running_harness(
        scenario="sample-app", speed=rk.SPEED, settings=SETTINGS, sweep_interval=rk.SWEEP,
        listen="127.0.0.1:0", auth=Authenticator.static(token=rk.TOKEN),
        ledger_path=ledger,  # type: ignore[arg-type]  # a postgresql:// URL is accepted too
    ) as h:  # fmt: skip
        yield h


def closed(rk: Any, h: Harness) -> rec.IncidentRecord | None:
    found = rk.incidents(h.ledger)
    return found[-1] if found and found[-1].is_terminal else None


async def check_healed_once(rk: Any, h: Harness, writes: list[str]) -> None:
    done = await rk.until(lambda: closed(rk, h), what="the incident to be healed", timeout=60)
    assert done.state is rec.IncidentState.RESOLVED
    [action] = h.ledger.actions_for_incident(done.id)
    assert action.action == "rollback_deployment" and action.state is rec.ActionState.SUCCEEDED
    # One action reached the cluster: its patches (template, then annotation) and one Event.
    assert "patch DEPLOYMENT demo" in writes and writes.count("create EVENT demo") == 1, writes
    dep = h.twin.store.find(h.twin.store.rtype("apps", "v1", "deployments"), "demo", "sample-app")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == rk.GOOD_IMAGE


async def test_disk_full_no_action_unrecorded_then_healed(
    rk: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="kubeheal.runtime")
    async with harness(rk, tmp_path / "ledger.db") as h:
        disk = DiskFull(h.ledger._backend)
        h.ledger._backend = disk
        writes = spy_writes(h)
        disk.full = True
        assert h.twin.faults is not None
        h.twin.faults.inject(FaultSpec.model_validate(rk.BAD_ROLLOUT))
        await rk.until(lambda: disk.refused >= 3, what="the operator to try to record")
        await rk.until(
            lambda: any("disk is full" in r.getMessage() for r in caplog.records),
            what="the error line",
        )
        line = next(r.getMessage() for r in caplog.records if "disk is full" in r.getMessage())
        assert "the ledger cannot be written (StorageError:" in line
        assert "no action taken" in line and "Deployment/demo/sample-app" in line, line
        assert writes == [], writes  # nothing done that the ledger could not record
        assert h.ledger.pending_actions() == []
        image = h.twin.store.find(
            h.twin.store.rtype("apps", "v1", "deployments"), "demo", "sample-app"
        )["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image != rk.GOOD_IMAGE  # still broken: nobody acted
        async with httpx.AsyncClient(base_url=h.http_url or "", timeout=10) as http:
            ready = await http.get("/readyz")
        assert ready.status_code == 200  # a full disk still reads: the probe's read succeeds

        disk.full = False
        await check_healed_once(rk, h, writes)


@pytest.fixture
def postgres() -> Iterator[LocalPostgres]:
    """A PostgreSQL server of this test's own (it is killed in the middle)."""
    if find_binaries() is None:
        pytest.skip("PostgreSQL binaries not installed (scripts/setup installs 'postgresql')")
    with LocalPostgres() as server:
        yield server


async def test_postgres_gone_not_ready_no_action_then_healed(
    rk: Any, postgres: LocalPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="kubeheal.runtime")
    url = postgres.create_database("outage")
    async with harness(rk, url) as h, httpx.AsyncClient(base_url=h.http_url or "") as http:
        assert (await http.get("/readyz")).json()["checks"]["ledger"]["ok"] is True
        writes = spy_writes(h)
        postgres.kill()
        assert h.twin.faults is not None
        h.twin.faults.inject(FaultSpec.model_validate(rk.BAD_ROLLOUT))
        await rk.until(
            lambda: any("ledger cannot be written" in r.getMessage() for r in caplog.records),
            what="the error line",
        )
        answer = await http.get("/readyz", timeout=10)
        assert answer.status_code == 503, answer.text
        body = answer.json()
        assert body["status"] == "not ready"
        assert body["checks"]["ledger"]["ok"] is False
        assert any(r.startswith("ledger: ") for r in body["reasons"]), body
        assert "password" not in answer.text and "@" in body["checks"]["ledger"]["location"]
        assert writes == [], writes

        postgres.restart()
        await check_healed_once(rk, h, writes)
        ready = await http.get("/readyz", timeout=10)
        assert ready.status_code == 200 and ready.json()["checks"]["ledger"]["ok"] is True

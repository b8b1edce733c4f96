"""Fixtures of the reliability suite: the operator against its cluster twin, served over HTTP,
with a helper to wait on conditions and a local PostgreSQL server for the ledger outage.

Helpers are handed out through the `rk` fixture (a conftest cannot be imported in importlib
mode).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubeheal.store import Ledger
from kubeheal.store import records as rec
from kubeheal.twin.pgserver import LocalPostgres, find_binaries

SPEED = 20.0
SWEEP = 0.3
TOKEN = "reliability-token-5e1"
BAD_ROLLOUT = {
    "kind": "crash-on-start",
    "target": {"namespace": "demo", "deployment": "sample-app"},
}
GOOD_IMAGE = "ghcr.io/kubeheal/sample-app:1.4.2"
SAMPLE = rec.TargetRef(kind="Deployment", namespace="demo", name="sample-app")


async def until(predicate: Callable[[], Any], *, what: str, timeout: float = 30.0) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned) or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)


def incidents(ledger: Ledger, target: rec.TargetRef = SAMPLE) -> list[rec.IncidentRecord]:
    since = datetime(2000, 1, 1, tzinfo=UTC)
    later = datetime.now(tz=UTC) + timedelta(days=30)
    return [i for i in ledger.list_incidents(since=since, until=later) if i.target == target]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class Kit:
    SPEED = SPEED
    SWEEP = SWEEP
    TOKEN = TOKEN
    BAD_ROLLOUT = BAD_ROLLOUT
    GOOD_IMAGE = GOOD_IMAGE
    SAMPLE = SAMPLE
    until = staticmethod(until)
    incidents = staticmethod(incidents)
    closed_port = staticmethod(closed_port)


@pytest.fixture
def rk() -> type[Kit]:
    return Kit


@pytest.fixture(scope="session")
def reliability_postgres() -> Iterator[LocalPostgres]:
    """One local PostgreSQL server for the session (each test creates its own database)."""
    if find_binaries() is None:
        pytest.skip("PostgreSQL binaries not installed (scripts/setup installs 'postgresql')")
    with LocalPostgres() as server:
        yield server

"""The vocabulary of the tests that run the operator against its cluster twin.

The operator and reliability suites start a harness (the twin at accelerated speed, the
operator in the test's event loop) and share these constants and helpers, handed out as
``Kit`` (directly, or through an area's fixture).
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from typing import Any

from kubeheal.store import Ledger
from kubeheal.store import records as rec
from support.waiting import DEADLINE, until, until_sync

__all__ = ["Kit"]


def incidents(ledger: Ledger, target: rec.TargetRef | None = None) -> list[rec.IncidentRecord]:
    """Every incident of ``target`` (the sample app by default) in ``ledger``."""
    target = target or Kit.SAMPLE
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
    """Constants and helpers of the harness tests (see the module docstring)."""

    SPEED = 20.0
    """Cluster seconds per wall second: fast, and stable on a loaded 2-core machine."""
    SWEEP = 0.3
    """Wall seconds between the operator's detection sweeps."""
    DEADLINE = DEADLINE
    """Default wall-clock deadline of a wait."""
    TOKEN = "reliability-token-5e1"
    """A bearer token for the webhook servers the tests start."""
    SAMPLE_IMAGE = "ghcr.io/kubeheal/sample-app:1.4.2"
    """The sample app's good image (what a rollback restores)."""
    GOOD_IMAGE = SAMPLE_IMAGE
    SAMPLE = rec.TargetRef(kind="Deployment", namespace="demo", name="sample-app")
    """The sample app's Deployment as the ledger names it."""
    BAD_ROLLOUT: dict[str, Any] = {
        "kind": "crash-on-start",
        "target": {"namespace": "demo", "deployment": "sample-app"},
    }
    """A fault that makes the sample app's pods crash on start (a bad rollout)."""
    until = staticmethod(until)
    until_sync = staticmethod(until_sync)
    incidents = staticmethod(incidents)
    closed_port = staticmethod(closed_port)

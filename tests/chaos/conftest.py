"""Chaos test kit: a cluster twin (no operator) at accelerated speed and a `ChaosEnv` on it.

Handed out through the `chaos_twin` fixture (a conftest cannot be imported in importlib
mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kubeheal.chaos.runner import ChaosEnv
from kubeheal.cli.chaos import TwinSimulator
from kubeheal.clients.httpcheck import HttpChecker
from kubeheal.clients.kube import KubeConnection
from kubeheal.clients.writer import KubeWriter
from kubeheal.twin.api import ApiOptions
from kubeheal.twin.clock import WallClock
from kubeheal.twin.cluster import Twin, build_twin
from kubeheal.twin.server import serve_in_thread, write_kubeconfig

SPEED = 20.0


@dataclass
class TwinKit:
    twin: Twin
    env: ChaosEnv
    writer: KubeWriter

    def deployment(self, namespace: str, name: str) -> dict[str, Any]:
        store = self.twin.store
        with store.lock:
            found: dict[str, Any] = store.get(
                store.rtype("apps", "v1", "deployments"), namespace, name
            )
        return found

    def pod_names(self, namespace: str) -> set[str]:
        store = self.twin.store
        with store.lock:
            pods = store.list_objects(store.rtype("", "v1", "pods"), namespace)
        return {p["metadata"]["name"] for p in pods}

    def ready(self) -> bool:
        store = self.twin.store
        with store.lock:
            deps = store.list_objects(store.rtype("apps", "v1", "deployments"))
        return bool(deps) and all(
            int(d.get("status", {}).get("availableReplicas", 0))
            >= int(d["spec"].get("replicas", 1))
            for d in deps
        )


@contextlib.asynccontextmanager
async def _twin(scenario: str, audit: Any = None) -> AsyncIterator[TwinKit]:
    clock = WallClock(speed=SPEED)
    twin = build_twin(scenario=scenario, clock=clock)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(serve_in_thread(twin, options=ApiOptions(audit=audit)))
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kh-chaos-")))
        kubeconfig = write_kubeconfig(workdir / "kubeconfig", server=url)
        writer = KubeWriter(KubeConnection.from_kubeconfig(kubeconfig).with_agent("kubeheal-chaos"))
        http = HttpChecker(timeout=2.0)

        def now() -> datetime:
            return datetime.fromtimestamp(clock.now(), tz=UTC)

        async def sleep(seconds: float) -> None:
            await asyncio.sleep(max(0.0, seconds) / SPEED)

        env = ChaosEnv(
            kube=writer, http=http, clock=now, sleep=sleep, simulator=TwinSimulator(twin)
        )
        kit = TwinKit(twin=twin, env=env, writer=writer)
        try:
            for _ in range(400):
                if kit.ready():
                    break
                await asyncio.sleep(0.05)
            assert kit.ready(), "the twin's workloads did not become ready"
            yield kit
        finally:
            await writer.aclose()
            await http.aclose()


@pytest.fixture
def chaos_twin() -> Any:
    """``async with chaos_twin("sample-app", audit=None) as kit: ...``"""
    return _twin

"""Bad input end to end: invalid playbook files, an API server that is not there at start,
and one that answers nothing but 503 for a while."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kubeheal.clients.kube import KubeConnection
from kubeheal.config import Settings
from kubeheal.engine.playbooks import (
    PlaybookError,
    builtin_directory,
    load_builtin_playbooks,
    load_playbooks,
    validate_directory,
)
from kubeheal.runtime.operator import Operator, OperatorOptions
from kubeheal.store import Ledger
from kubeheal.twin.clock import WallClock
from kubeheal.twin.cluster import build_twin
from kubeheal.twin.server import serve_in_thread, write_kubeconfig

GOOD = """\
name: good-one
description: A valid playbook next to the broken one.
triggers:
  signals: [CrashLoopBackOff]
steps:
  - action: restart_pod
verification:
  check: no_new_restarts_for
  stable_for: 5m
  timeout: 10m
"""

BROKEN = """\
name: broken
description: Three mistakes, each reported with its line and field.
priority: high
triggers:
  signals: [CrashLoopBackOff]
steps:
  - action: restart_pod
  - action: reboot_the_world
verification:
  check: no_new_restarts_for
  stable_for: 5m
  timeout: 10m
on_failure: give_up
"""


def test_invalid_playbook_directory_is_refused_with_file_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "broken.yaml").write_text(BROKEN)
    issues = validate_directory(tmp_path)
    where = {(i.file.name, i.line, i.field) for i in issues}
    assert ("broken.yaml", 3, "priority") in where
    assert ("broken.yaml", 8, "steps[1].action") in where
    assert ("broken.yaml", 13, "on_failure") in where
    assert all(i.file.name == "broken.yaml" for i in issues), issues
    with pytest.raises(PlaybookError) as refused:
        load_playbooks(tmp_path)
    text = str(refused.value)
    assert f"{tmp_path / 'broken.yaml'}:3: priority:" in text
    assert f"{tmp_path / 'broken.yaml'}:13: on_failure:" in text
    # the last good set stays usable: fix the file and the directory loads
    (tmp_path / "broken.yaml").write_text(
        BROKEN.replace("priority: high\n", "priority: 1\n")
        .replace("  - action: reboot_the_world\n", "")
        .replace("on_failure: give_up\n", "on_failure: escalate\n")
    )
    assert set(load_playbooks(tmp_path).names) == {"good-one", "broken"}


def test_builtin_playbooks_validate() -> None:
    assert validate_directory(builtin_directory()) == []
    assert len(load_builtin_playbooks()) >= 9


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_unreachable_api_server_is_retried_with_backoff_and_reported(
    kh: Any, tmp_path: Path
) -> None:
    port = _free_port()
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server=f"http://127.0.0.1:{port}")
    clock = WallClock(speed=kh.SPEED)
    ledger = Ledger.open(tmp_path / "ledger.db")
    operator = Operator(
        connection=KubeConnection.from_kubeconfig(kubeconfig),
        ledger=ledger,
        settings=Settings(),
        playbooks=load_builtin_playbooks(),
        clock=lambda: datetime.fromtimestamp(clock.now(), tz=UTC),
        options=OperatorOptions(sweep_interval=kh.SWEEP),
    )
    starting = asyncio.create_task(operator.start())
    try:

        def failing() -> bool:
            health = operator.health()
            return bool(health) and health["namespaces"]["consecutive_failures"] >= 3

        t0 = time.monotonic()
        await kh.wait_for(failing, timeout=15, what="repeated connection failures")
        waited = time.monotonic() - t0
        await asyncio.sleep(1.0)
        health = operator.health()["namespaces"]
        assert not operator.healthy and not starting.done()
        assert not health["synced"]
        assert "cannot reach the API server" in health["last_error"]
        # back-off, not a busy loop: a handful of attempts in a few seconds
        assert health["consecutive_failures"] <= 8, (health, waited)
        twin = build_twin(scenario="sample-app", clock=clock)
        with serve_in_thread(twin, port=port):
            await asyncio.wait_for(starting, timeout=30)
            assert operator.healthy, operator.health()
            assert all(
                h["synced"] and h["consecutive_failures"] == 0 for h in operator.health().values()
            )
            assert operator.view.deployment_for(_sample()) is not None
            await operator.stop()
    finally:
        if not starting.done():
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            await operator.stop()
        ledger.close()


def _sample() -> Any:
    from kubeheal.model.core import Target, TargetKind

    return Target(kind=TargetKind.DEPLOYMENT, namespace="demo", name="sample-app")


async def test_health_reports_an_api_answering_503_and_recovers(kh: Any) -> None:
    async with kh.run() as r:
        operator = r.h.operator
        assert operator.healthy
        r.h.twin.api_faults.configure(error_rate=1.0, error_codes=(503,))
        r.h.twin.store.drop_watches()  # every client has to come back through the faults
        await r.until(lambda: not operator.healthy, what="health to report the failures")
        failing = [n for n, h in operator.health().items() if h["consecutive_failures"] > 0]
        assert failing and "503" in operator.health()[failing[0]]["last_error"]
        r.h.twin.api_faults.reset()
        await r.until(lambda: operator.healthy, what="health to recover", timeout=20)
        # and it still works: a fault injected now is healed
        r.inject(kh.BAD_ROLLOUT)
        inc = await r.until(r.closed, what="the incident to close")
        assert inc.resolution is not None and inc.resolution.value == "auto"

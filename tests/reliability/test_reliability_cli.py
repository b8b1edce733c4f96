"""`kubeheal run --leader-elect` as a process: /readyz reports leadership, the settings file
reloads on SIGHUP (valid edits applied, invalid ones refused with the field named, restart-only
fields reported), and SIGTERM stops it cleanly and releases the Lease."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubeheal.twin.clock import WallClock
from kubeheal.twin.cluster import Twin, build_twin
from kubeheal.twin.server import serve_in_thread, write_kubeconfig
from support import until_sync

_NOT_YET = (httpx.HTTPError,)  # the replica's HTTP server is not up yet

CONFIG = "guards:\n  cooldown: 1m\nserver:\n  auth: none\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def twin(tmp_path: Path) -> Iterator[tuple[Twin, Path]]:
    cluster = build_twin(scenario="sample-app", clock=WallClock(speed=10))
    namespaces = cluster.store.rtype("", "v1", "namespaces")
    cluster.store.create(namespaces, {"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": "kubeheal-system"}})  # fmt: skip
    with serve_in_thread(cluster) as url:
        yield cluster, write_kubeconfig(tmp_path / "kubeconfig", server=url)


def _holder(cluster: Twin) -> str | None:
    leases = cluster.store.rtype("coordination.k8s.io", "v1", "leases")
    lease = cluster.store.find(leases, "kubeheal-system", "kubeheal-leader")
    return None if lease is None else str(lease["spec"].get("holderIdentity") or "")


def test_leader_reloads_settings_on_sighup_and_releases_the_lease_on_sigterm(
    tmp_path: Path, twin: tuple[Twin, Path]
) -> None:
    cluster, kubeconfig = twin
    config = tmp_path / "settings.yaml"
    config.write_text(CONFIG)
    port = _free_port()
    env = {**os.environ, "POD_NAME": "kubeheal-0", "KUBEHEAL_DETECTION__MISSING_PDB": "false"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubeheal.cli.main", "run", "--kubeconfig", str(kubeconfig),
         "--config", str(config), "--ledger", str(tmp_path / "ledger.db"),
         "--listen", f"127.0.0.1:{port}", "--leader-elect",
         "--lease", "kubeheal-system/kubeheal-leader", "--log-json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def readyz() -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(f"{base}/readyz", timeout=5).json()
        return body

    try:
        until_sync(
            lambda: readyz()["role"] == "leader", what="the replica to lead", ignore=_NOT_YET
        )
        body = readyz()
        assert body["status"] == "ready" and body["checks"]["leadership"]["role"] == "leader"
        assert body["checks"]["ledger"]["ok"] is True
        assert _holder(cluster) == "kubeheal-0"

        # A valid edit, applied live on SIGHUP; a restart-only field is reported, not applied.
        config.write_text(CONFIG.replace("1m", "3m") + "  listen: 127.0.0.1:1\n")
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200  # still on its port

        # An invalid edit: refused, the last good settings kept, /readyz says degraded.
        config.write_text("guards:\n  cooldown: soon\n")
        proc.send_signal(signal.SIGHUP)
        body = until_sync(
            lambda: readyz() if readyz()["status"] == "degraded" else None,
            what="degraded",
            ignore=_NOT_YET,
        )
        assert "guards.cooldown" in body["checks"]["settings"], body
        assert body["checks"]["leadership"]["role"] == "leader"

        # Fixed again (found by polling the file, no signal): healthy again.
        config.write_text(CONFIG.replace("1m", "4m"))
        until_sync(
            lambda: readyz()["status"] == "ready",
            what="the fixed settings to load",
            ignore=_NOT_YET,
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=40)
    assert proc.returncode == 0, err[-3000:]
    messages = [json.loads(line)["message"] for line in err.splitlines() if line.startswith("{")]
    assert any("settings reloaded" in m and "guards.cooldown" in m for m in messages), messages
    assert any("after a restart" in m and "server.listen" in m for m in messages), messages
    refused = [m for m in messages if "settings not reloaded" in m]
    assert refused and all("guards.cooldown" in m for m in refused), refused
    assert any("released the lease" in m for m in messages), messages
    assert _holder(cluster) == ""  # handed over: a standby takes it on its next retry

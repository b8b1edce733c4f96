"""`kubeheal run` serves the webhook: authenticated with --token-file, an alert is remediated
in the twin, and the process shuts down cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kubeheal.twin.clock import WallClock
from kubeheal.twin.cluster import build_twin
from kubeheal.twin.server import serve_in_thread, write_kubeconfig
from support import until_sync


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Iterator[Path]:
    twin = build_twin(scenario="sample-app", clock=WallClock(speed=10))
    with serve_in_thread(twin) as url:
        yield write_kubeconfig(tmp_path / "kubeconfig", server=url)


def test_run_serves_the_authenticated_webhook(wk, tmp_path: Path, kubeconfig: Path) -> None:
    token = tmp_path / "token"
    token.write_text("cli-token-93\n")
    port = _free_port()
    env = {**os.environ, "KUBEHEAL_DETECTION__MISSING_PDB": "false"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubeheal.cli.main", "run", "--kubeconfig", str(kubeconfig),
         "--ledger", str(tmp_path / "ledger.db"), "--listen", f"127.0.0.1:{port}",
         "--token-file", str(token)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": "Bearer cli-token-93"}
    try:
        until_sync(
            lambda: httpx.get(f"{base}/readyz").status_code == 200,
            timeout=90,  # a subprocess starting on a loaded machine
            what="readiness",
            ignore=(httpx.HTTPError,),
        )
        body = wk.notification(wk.workload_alerts(2))
        assert httpx.post(f"{base}{wk.PATH}", json=body).status_code == 401
        answer = httpx.post(f"{base}{wk.PATH}", json=body, headers=auth)
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted"] == 2

        def scaled_out() -> bool:
            text = httpx.get(f"{base}/metrics").text
            return 'kubeheal_actions_total{action="scale_out",outcome="succeeded"} 1.0' in text

        until_sync(
            scaled_out, timeout=30, what="the alert's remediation", ignore=(httpx.HTTPError,)
        )

        def inbox() -> dict[str, object]:
            return dict(httpx.get(f"{base}/readyz").json()["checks"]["alert_inbox"])

        until_sync(
            lambda: inbox()["pending"] == 0,
            timeout=10,
            what="the inbox to be marked processed",
            ignore=(httpx.HTTPError,),
        )
        assert inbox() == {"pending": 0, "recovered": True}
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-3000:]
    assert "cli-token-93" not in err
    assert f"{base}{wk.PATH}" in err  # the start-up log says where the webhook is


def test_run_refuses_an_unreadable_token_file(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kubeheal.cli.main", "run", "--kubeconfig",
         str(tmp_path / "kubeconfig"), "--token-file", str(tmp_path / "no-such-token")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "no-such-token" in result.stderr

"""`kubeheal run` as a process against the twin; `validate` and `report` on its results."""

from __future__ import annotations

import json
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
from kubeheal.twin.sim.faults import FaultSpec
from support import until_sync

GOOD_PLAYBOOK = """\
name: custom-crashloop-rollback
description: Roll a crash-looping Deployment back (a user's playbook, loaded from a directory).
enabled: true
mode: enforce
priority: 200
triggers:
  signals: [NewReplicaSetUnhealthy, CrashLoopBackOff]
  target_kinds: [Deployment]
steps:
  - action: rollback_deployment
verification:
  check: workload_ready
  timeout: 5m
  stable_for: 30s
on_failure: escalate
"""

BROKEN_PLAYBOOK = GOOD_PLAYBOOK.replace("  check: workload_ready", "  check: when_it_feels_ok")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kubeheal(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubeheal.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def twin_kubeconfig(tmp_path: Path) -> Iterator[tuple[Path, object]]:
    twin = build_twin(scenario="sample-app", clock=WallClock(speed=10))
    with serve_in_thread(twin) as url:
        yield write_kubeconfig(tmp_path / "kubeconfig", server=url), twin


def test_run_heals_reloads_playbooks_and_reports(
    tmp_path: Path, twin_kubeconfig: tuple[Path, object]
) -> None:
    kubeconfig, twin = twin_kubeconfig
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "custom.yaml").write_text(GOOD_PLAYBOOK)
    config = tmp_path / "kubeheal.yaml"
    config.write_text(f"playbooks:\n  directories: [{playbooks}]\nguards:\n  cooldown: 1m\n")
    ledger = tmp_path / "ledger.db"
    # The location comes from a file, as the manifests pass it (a mounted Secret).
    ledger_file = tmp_path / "ledger-url"
    ledger_file.write_text(f"{ledger}\n")
    port = _free_port()
    env = {**os.environ, "KUBEHEAL_DETECTION__MISSING_PDB": "false"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubeheal.cli.main", "run", "--kubeconfig", str(kubeconfig),
         "--config", str(config), "--ledger-file", str(ledger_file),
         "--listen", f"127.0.0.1:{port}",
         "--log-json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        until_sync(
            lambda: httpx.get(f"{base}/readyz").status_code == 200,
            timeout=90,  # a subprocess starting on a loaded machine
            what="readiness",
            every=0.3,
            ignore=(httpx.HTTPError,),
        )
        ready = httpx.get(f"{base}/readyz").json()
        assert ready["checks"]["api_server"]["pods"]["synced"] is True
        assert "kubeheal_watch_events_total" in httpx.get(f"{base}/metrics").text

        twin.faults.inject(  # type: ignore[attr-defined]
            FaultSpec.model_validate(
                {"kind": "crash-on-start",
                 "target": {"namespace": "demo", "deployment": "sample-app"}}
            )
        )  # fmt: skip

        def rolled_back() -> bool:
            text = httpx.get(f"{base}/metrics").text
            return (
                'kubeheal_actions_total{action="rollback_deployment",outcome="succeeded"}' in text
                and 'kubeheal_incidents_closed_total{resolution="auto"} 1.0' in text
            )

        until_sync(
            rolled_back,
            timeout=60,
            what="the rollback and the incident's resolution",
            every=0.3,
            ignore=(httpx.HTTPError,),
        )

        # A broken edit is reported and the last good set kept; the operator keeps running.
        (playbooks / "custom.yaml").write_text(BROKEN_PLAYBOOK)
        until_sync(
            lambda: "playbooks" in httpx.get(f"{base}/readyz").json()["checks"],
            timeout=20,
            what="the playbook error in /readyz",
            every=0.3,
            ignore=(httpx.HTTPError,),
        )
        problem = httpx.get(f"{base}/readyz").json()["checks"]["playbooks"]
        assert "custom.yaml" in problem and "verification.check" in problem
        assert httpx.get(f"{base}/healthz").status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-3000:]
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any("custom-crashloop-rollback" in rec["message"] for rec in logs), err[-3000:]

    report = _kubeheal("report", "--ledger", str(ledger), "--json")
    assert report.returncode == 0, report.stderr
    figures = json.loads(report.stdout)
    assert figures["incidents"] >= 1
    assert figures["auto_recovered"] >= 1, figures


def test_validate_reports_file_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(BROKEN_PLAYBOOK)
    result = _kubeheal("validate", str(tmp_path))
    assert result.returncode == 1
    line = next(iter(result.stdout.splitlines()))
    assert line.startswith(f"{tmp_path / 'bad.yaml'}:12:")
    assert "verification.check" in line
    (tmp_path / "bad.yaml").write_text(GOOD_PLAYBOOK)
    ok = _kubeheal("validate", str(tmp_path))
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_run_refuses_invalid_playbooks_at_start(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(BROKEN_PLAYBOOK)
    config = tmp_path / "kubeheal.yaml"
    config.write_text(f"playbooks:\n  directories: [{tmp_path}]\n")
    result = _kubeheal("run", "--kubeconfig", str(tmp_path / "missing"), "--config", str(config))
    assert result.returncode == 2
    assert "bad.yaml" in result.stderr and "verification.check" in result.stderr


def test_run_reports_unusable_kubeconfig(tmp_path: Path) -> None:
    result = _kubeheal("run", "--kubeconfig", str(tmp_path / "missing"))
    assert result.returncode == 2
    assert "missing" in result.stderr


def test_playbook_schema_and_list() -> None:
    schema = _kubeheal("playbooks", "schema")
    assert schema.returncode == 0
    assert json.loads(schema.stdout)["title"]
    listing = _kubeheal("playbooks", "list")
    assert "crashloop-after-rollout" in listing.stdout

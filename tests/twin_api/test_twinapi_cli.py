"""`kubeheal twin serve|fault|api-fault`: the command line around the twin."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from kubeheal.cli.main import app

KUBEHEAL = Path(sys.executable).parent / "kubeheal"
runner = CliRunner()


def test_api_fault_command_sets_and_resets(served: Any) -> None:
    result = runner.invoke(
        app,
        [
            "twin",
            "api-fault",
            "--server",
            served.url,
            "--error-rate",
            "0.5",
            "--error-code",
            "503",
            "--latency",
            "0.01",
        ],
    )
    assert result.exit_code == 0, result.output
    settings = json.loads(result.output)["settings"]
    assert settings["error_rate"] == 0.5 and settings["error_codes"] == [503]
    assert served.twin.api_faults.settings.latency_seconds == 0.01
    result = runner.invoke(app, ["twin", "api-fault", "--server", served.url, "--reset"])
    assert result.exit_code == 0 and served.twin.api_faults.settings.error_rate == 0
    result = runner.invoke(app, ["twin", "api-fault", "--server", served.url, "--compact"])
    assert json.loads(result.output)["compactedResourceVersion"] == str(
        served.twin.store.resource_version
    )
    bad = runner.invoke(app, ["twin", "api-fault", "--server", served.url, "--error-rate", "3"])
    assert bad.exit_code == 1 and "invalid API fault settings" in bad.output


def test_fault_command_reports_errors(served: Any) -> None:
    result = runner.invoke(
        app, ["twin", "fault", "--server", served.url, "cpu-hog", "--deployment", "x"]
    )
    assert result.exit_code == 1
    assert "not available" in result.output  # a bare twin has no fault injector
    unreachable = runner.invoke(app, ["twin", "fault", "--server", "http://127.0.0.1:9", "--list"])
    assert unreachable.exit_code == 1 and "cannot reach the twin" in unreachable.output


def test_serve_runs_a_scenario_for_kubectl_and_faults(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc"
    proc = subprocess.Popen(
        [
            str(KUBEHEAL),
            "twin",
            "serve",
            "--port",
            "0",
            "--scenario",
            "sample-app",
            "--kubeconfig-out",
            str(kubeconfig),
            "--speed",
            "20",
            "--seed",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not kubeconfig.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert kubeconfig.exists(), "serve did not write the kubeconfig"
        server = next(
            line.split()[-1] for line in kubeconfig.read_text().splitlines() if "server:" in line
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{server}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(tmp_path)}
        kubectl = Path(sys.executable).parent / "kubectl"
        args = ["rollout", "status", "deploy/sample-app", "-n", "demo", "--timeout=30s"]
        out = subprocess.run(
            [str(kubectl), "--request-timeout=10s", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=40,
            check=False,
        )
        assert "successfully rolled out" in out.stdout, out.stderr
        result = runner.invoke(
            app,
            [
                "twin",
                "fault",
                "--server",
                server,
                "pod-kill",
                "-n",
                "demo",
                "--deployment",
                "sample-app",
                "-p",
                "count=1",
            ],
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["id"].startswith("pod-kill")
        listed = runner.invoke(app, ["twin", "fault", "--server", server, "--list"])
        assert listed.exit_code == 0 and "faults" in json.loads(listed.output)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == 0


def test_serve_rejects_an_unknown_scenario(tmp_path: Path) -> None:
    result = runner.invoke(app, ["twin", "serve", "--port", "0", "--scenario", "nope"])
    assert result.exit_code != 0
    assert "nope" in result.output


def test_the_kubeconfig_appears_only_once_complete(tmp_path: Path, monkeypatch: Any) -> None:
    """`serve` writes the kubeconfig that others wait for: it must never be seen half-written
    (a reader polling for the file once read it before the `server:` line was there)."""
    from kubeheal.twin import server as twin_server

    target = tmp_path / "kc"
    seen: list[bool] = []
    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:
        seen.append(Path(dst).exists())
        assert "server: http://127.0.0.1:1" in Path(src).read_text()
        real_replace(src, dst)

    monkeypatch.setattr(twin_server.os, "replace", replace)
    twin_server.write_kubeconfig(target, server="http://127.0.0.1:1")
    assert seen == [False]
    assert "server: http://127.0.0.1:1" in target.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kc"]


def test_fault_list_needs_no_server() -> None:
    """`kubeheal twin fault --list`, as the README writes it, prints the fault kinds; every
    other use still needs --server."""
    from kubeheal.twin.sim.faults import FAULT_KINDS

    listed = runner.invoke(app, ["twin", "fault", "--list"])
    assert listed.exit_code == 0, listed.output
    assert listed.output.split() == list(FAULT_KINDS)
    assert {"crash-on-start", "node-not-ready", "traffic-spike"} <= set(FAULT_KINDS)
    missing = runner.invoke(app, ["twin", "fault", "cpu-hog", "--deployment", "x"])
    assert missing.exit_code == 2 and "--server URL is required" in missing.output
    cleared = runner.invoke(app, ["twin", "fault", "--clear", "all"])
    assert cleared.exit_code == 2 and "--server URL is required" in cleared.output

"""`kubeheal run` keeps the cluster's time: against a twin serving ``--speed 20`` every
threshold is in the twin's seconds (a node NotReady for 60 cluster seconds is an incident
after about 3 wall seconds); a twin at real speed and a real-looking API server without
``/twin/status`` keep the wall clock; a twin whose clock cannot be followed is refused with
one line and exit code 2."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import msgspec
import pytest

from kubeheal.clients.cluster_time import ClusterTimeError, read_cluster_time
from kubeheal.clients.kube import KubeConnection
from kubeheal.config import DetectionSettings
from kubeheal.engine.detect import detect_node
from kubeheal.model.cluster import Node
from kubeheal.runtime.clock import WALL, ClockMode, operator_clock, sweep_interval
from kubeheal.store import Ledger
from kubeheal.twin.clock import ManualClock, WallClock, parse_time
from kubeheal.twin.cluster import build_twin
from kubeheal.twin.server import serve_in_thread, write_kubeconfig
from kubeheal.twin.sim.faults import FaultSpec
from support import until_sync

SPEED = 20.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kubeheal_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubeheal.cli.main", "run", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@contextlib.contextmanager
def fake_api_server(status: int, body: dict[str, object]) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 that answers every GET with ``status`` and ``body``
    (e.g. a Kubernetes API server's 404 Status for a path it does not serve)."""
    payload = json.dumps(body).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


NOT_FOUND = {
    "kind": "Status",
    "apiVersion": "v1",
    "status": "Failure",
    "message": "the server could not find the requested resource",
    "reason": "NotFound",
    "code": 404,
}


def test_run_against_a_x20_twin_sees_a_node_notready_after_60_cluster_seconds(
    tmp_path: Path,
) -> None:
    clock = WallClock(speed=SPEED)
    twin = build_twin(scenario="sample-app", clock=clock)
    with serve_in_thread(twin) as url:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server=url)
        ledger = tmp_path / "ledger.db"
        port = _free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "kubeheal.cli.main", "run", "--kubeconfig", str(kubeconfig),
             "--ledger", str(ledger), "--listen", f"127.0.0.1:{port}", "--log-json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            until_sync(
                lambda: httpx.get(f"{base}/readyz").status_code == 200,
                timeout=30,
                what="readiness",
                every=0.2,
                ignore=(httpx.HTTPError,),
            )
            assert twin.faults is not None
            twin.faults.inject(
                FaultSpec.model_validate({"kind": "node-not-ready", "target": {"node": "worker-1"}})
            )
            injected_wall, injected_cluster = time.monotonic(), clock.now()
            # 40 s until the node controller marks it Unknown, 60 s more until kubeheal's
            # threshold: about 5 wall seconds at x20 (keeping wall time it took 60+).
            until_sync(
                lambda: (
                    'kubeheal_incidents_total{target_kind="Node"} 1.0'
                    in httpx.get(f"{base}/metrics").text
                ),
                timeout=40,
                what="the NodeNotReady incident",
                every=0.2,
                ignore=(httpx.HTTPError,),
            )
            detected_wall = time.monotonic() - injected_wall
            detected_cluster = clock.now()
            node = twin.store.find(twin.store.rtype("", "v1", "nodes"), None, "worker-1")
        finally:
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err[-3000:]
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any("runs x20: kubeheal follows its clock" in r["message"] for r in logs), err[-3000:]
    with Ledger.open(ledger) as book:
        far = datetime(2100, 1, 1, tzinfo=UTC)
        (incident,) = [
            i
            for i in book.list_incidents(since=datetime(2000, 1, 1, tzinfo=UTC), until=far)
            if i.target.kind == "Node"
        ]
        signals = book.signals_for_incident(incident.id)
    assert incident.target.name == "worker-1"
    assert [s.kind for s in signals][:1] == ["NodeNotReady"], signals
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] != "True"
    since = parse_time(ready["lastTransitionTime"])
    threshold = _not_ready_threshold(node, since)
    detected = incident.detected_at.timestamp()
    # the ledger speaks the twin's time, and the threshold was kept in cluster seconds
    # (lastTransitionTime has whole seconds: one second of slack below)
    assert threshold - 1 <= detected - since < threshold + 30, (detected - since, threshold)
    assert abs(detected - detected_cluster) < 30, (detected, detected_cluster)
    # after the fault in the twin's time (the wall clock is minutes behind it by now), and
    # seconds of the wall after it, not minutes
    assert detected > injected_cluster, (detected, injected_cluster)
    assert detected_wall < 40


def _not_ready_threshold(node: dict[str, object], since: float) -> float:
    """How long the detector wants this node NotReady before it reports it (cluster
    seconds): ``detection.node_not_ready_for`` (60 s), or nothing for a condition it reports
    at once."""
    decoded = msgspec.json.decode(json.dumps(node), type=Node)
    settings = DetectionSettings()
    at = datetime.fromtimestamp(since + 1, tz=UTC)
    if detect_node(decoded, now=at, settings=settings):
        return 0.0
    return settings.node_not_ready_for.total_seconds()


async def test_a_x20_twin_is_followed_and_a_x1_twin_keeps_the_wall_clock() -> None:
    fast = build_twin(scenario="sample-app", clock=WallClock(speed=SPEED))
    with serve_in_thread(fast, simulate=False) as url:
        connection = KubeConnection.from_server(url)
        clock = await operator_clock(connection, mode=ClockMode.AUTO)
        assert clock.speed == SPEED
        ahead = fast.clock.now() - clock.now().timestamp()
        assert abs(ahead) < 0.5 * SPEED, ahead  # agrees to within the reading's round trip
        assert sweep_interval(clock) == pytest.approx(5.0 / SPEED)
        # wall time was asked for: never even read
        assert await operator_clock(connection, mode=ClockMode.WALL) is WALL
    real_speed = build_twin(scenario="sample-app", clock=WallClock(speed=1.0))
    with serve_in_thread(real_speed, simulate=False) as url:
        connection = KubeConnection.from_server(url)
        assert await operator_clock(connection, mode=ClockMode.AUTO) is WALL
        assert await operator_clock(connection, mode=ClockMode.TWIN) is WALL


@pytest.mark.parametrize("status", [404, 403, 401])
async def test_a_real_looking_api_server_keeps_the_wall_clock(status: int) -> None:
    with fake_api_server(status, {**NOT_FOUND, "code": status}) as url:
        connection = KubeConnection.from_server(url)
        assert await read_cluster_time(connection) is None
        assert await operator_clock(connection, mode=ClockMode.AUTO) is WALL
        with pytest.raises(ClusterTimeError, match="is not a kubeheal twin"):
            await operator_clock(connection, mode=ClockMode.TWIN)
    assert sweep_interval(WALL) == 5.0


async def test_a_200_that_is_not_a_twin_status_keeps_the_wall_clock() -> None:
    with fake_api_server(200, {"kind": "Status", "message": "ok"}) as url:
        assert await operator_clock(KubeConnection.from_server(url), mode=ClockMode.AUTO) is WALL


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    # (log records before it are timestamped; the refusal is one plain line, the last)
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    assert result.stderr.rstrip().endswith(lines[0]), result.stderr
    return lines[0]


def test_run_refuses_a_twin_whose_clock_it_cannot_follow(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.db"
    manual = build_twin(scenario="sample-app", clock=ManualClock())
    with serve_in_thread(manual, simulate=False) as url:
        kubeconfig = write_kubeconfig(tmp_path / "manual.kubeconfig", server=url)
        line = _one_error_line(
            _kubeheal_run("--kubeconfig", str(kubeconfig), "--ledger", str(ledger))
        )
    assert "manual clock" in line and "cannot follow it" in line
    # an older twin: a status without speed or time
    old = {"scenario": "sample-app", "simulationSteps": 3, "time": "2026-01-01T00:00:00Z"}
    with fake_api_server(200, old) as url:
        kubeconfig = write_kubeconfig(tmp_path / "old.kubeconfig", server=url)
        line = _one_error_line(
            _kubeheal_run("--kubeconfig", str(kubeconfig), "--ledger", str(ledger))
        )
    assert "publishes no speed or time" in line
    nonsense = {**old, "speed": -3, "epochSeconds": 1.8e9, "clock": "wall"}
    with fake_api_server(200, nonsense) as url:
        kubeconfig = write_kubeconfig(tmp_path / "bad.kubeconfig", server=url)
        line = _one_error_line(
            _kubeheal_run("--kubeconfig", str(kubeconfig), "--ledger", str(ledger))
        )
    assert "speed -3" in line
    # nobody answers: neither a twin's clock nor a cluster's
    port = _free_port()
    kubeconfig = write_kubeconfig(tmp_path / "gone.kubeconfig", server=f"http://127.0.0.1:{port}")
    line = _one_error_line(_kubeheal_run("--kubeconfig", str(kubeconfig), "--ledger", str(ledger)))
    assert f"cannot read the clock of http://127.0.0.1:{port}" in line
    # --cluster-clock twin against a real-looking server
    with fake_api_server(404, NOT_FOUND) as url:
        kubeconfig = write_kubeconfig(tmp_path / "real.kubeconfig", server=url)
        line = _one_error_line(
            _kubeheal_run(
                "--kubeconfig", str(kubeconfig), "--ledger", str(ledger), "--cluster-clock", "twin"
            )
        )
    assert "is not a kubeheal twin" in line
    assert not ledger.exists(), "refused before the ledger is opened"

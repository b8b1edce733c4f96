"""Benchmark of the Alertmanager webhook: throughput, latency, loss, and kubeheal's own share.

    .venv/bin/python bench/webhook_bench.py [--seconds 20] [--batch 10 --batch-rate 300]
        [--single-rate 2000] [--single-seconds 10] [--connections 32] [--share-samples 7]
        [--out FILE]

1. load: the receiver runs in its own process exactly as `kubeheal run` serves it (uvicorn,
   FastAPI app with bearer authentication, the SQLite ledger in a temporary directory with
   WAL, ``synchronous=FULL`` and a checkpoint every 5 s, the alert consumer draining the
   inbox into a counting stand-in for the operator). A loopback load generator (asyncio +
   httpx, one process) sends pre-serialised Alertmanager v4 notifications on an open loop:
   request ``i`` is due at ``t0 + i / rate``, and its latency runs from that due time to the
   answer, so a server that falls behind is charged for the queue it builds. Phases:
   realistic batches (``--batch`` alerts per notification, as Alertmanager groups them) and
   one alert per notification. Every alert has its own fingerprint.
2. loss: after the load, the inbox's rows are counted in the database and compared with the
   alerts the server acknowledged (200); the time the consumer needs to drain is reported.
3. share: kubeheal's own part of the alert path, "webhook received -> action request sent",
   against the cluster twin (bookinfo, real time): for each Deployment one HighLatency alert
   is posted; received = the inbox's ``received_at``, action = the wall time at which the
   operator emitted its ``action`` event (just before the scale-out request is sent).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
PATH = "/api/v1/alerts/alertmanager"


# -- the server process ------------------------------------------------------------------


def serve(port: int, ledger_path: Path) -> None:
    """Run the receiver as `kubeheal run` does, without a cluster (see the docstring)."""
    from prometheus_client import CollectorRegistry

    from kubeheal.config import WebhookSettings
    from kubeheal.model.cluster import LiveClusterView
    from kubeheal.runtime.alerts import AlertConsumer, AlertMetrics
    from kubeheal.server import Authenticator, create_app
    from kubeheal.server.serving import serving
    from kubeheal.server.webhook import webhook_router
    from kubeheal.store import Ledger
    from kubeheal.store.inbox import AlertInbox

    class CountingSink:
        def __init__(self) -> None:
            self.view = LiveClusterView()
            self.started = asyncio.Event()
            self.leader: asyncio.Event | None = None
            self.signals = 0

        def submit(self, signals: Any) -> None:
            self.signals += len(list(signals))

        def revisit(self, target: Any) -> None:
            pass

        def now(self) -> datetime:
            return datetime.now(tz=UTC)

    async def main() -> None:
        ledger = Ledger.open(ledger_path, manual_checkpoints=True)
        inbox = AlertInbox(ledger)
        registry = CollectorRegistry()
        sink = CountingSink()
        sink.started.set()
        consumer = AlertConsumer(inbox=inbox, sink=sink, metrics=AlertMetrics(registry))
        router = webhook_router(
            inbox=inbox,
            settings=WebhookSettings(max_pending=10_000_000),
            registry=registry,
            on_accepted=consumer.offer,
            ledger_in_thread=os.environ.get("KUBEHEAL_BENCH_COMMIT_ON_LOOP") != "1",
        )
        app = create_app(
            registry=registry,
            ready=lambda: (True, {"pending": inbox.pending_count, "processed": consumer.processed}),
            webhook=router,
            auth=Authenticator.static(token=TOKEN),
        )

        async def checkpoints() -> None:
            while True:
                await asyncio.sleep(5)
                await asyncio.to_thread(ledger.checkpoint)

        tasks = [
            asyncio.get_running_loop().create_task(consumer.run(), name="consumer"),
            asyncio.get_running_loop().create_task(checkpoints(), name="checkpoints"),
        ]
        async with serving(app, host="127.0.0.1", port=port) as url:
            print(f"READY {url}", flush=True)
            await asyncio.Event().wait()
        for task in tasks:
            task.cancel()

    asyncio.run(main())


# -- the load generator ------------------------------------------------------------------


def _alert(i: int, phase: str) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {
            "alertname": "HighErrorRate",
            "namespace": f"team-{i % 50}",
            "deployment": f"svc-{i % 400}",
            "pod": f"svc-{i % 400}-7d9f8-{i % 7}",
            "instance": f"10.2.{(i // 250) % 250}.{i % 250}:8080",
            "job": "kubernetes-pods",
            "severity": "critical",
            "phase": phase,
        },
        "annotations": {
            "summary": "More than 5% of requests fail",
            "description": f"svc-{i % 400} answers 7.3% errors over 5m",
            "runbook_url": "https://runbooks.example/HighErrorRate",
        },
        "startsAt": "2026-11-23T10:00:00.000000000Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=rate%28errors%5B5m%5D%29",
        "fingerprint": f"{phase[:2]}{i:014x}",
    }


def _notification(alerts: list[dict[str, Any]]) -> bytes:
    return orjson.dumps(
        {
            "receiver": "kubeheal",
            "status": "firing",
            "alerts": alerts,
            "groupLabels": {"alertname": "HighErrorRate"},
            "commonLabels": {"alertname": "HighErrorRate", "severity": "critical"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "version": "4",
            "groupKey": '{}/{severity="critical"}:{alertname="HighErrorRate"}',
            "truncatedAlerts": 0,
        }
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class _Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough of the protocol for the load:
    pre-encoded POSTs, answers read by Content-Length (see the module docstring for why not
    httpx here)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> _Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def post(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await self.reader.readexactly(length) if length else b""
        return status, body

    def close(self) -> None:
        self.writer.close()


def _request(host: str, port: int, body: bytes) -> bytes:
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def load_phase(
    url: str,
    *,
    name: str,
    rate: float,
    seconds: float,
    per_request: int,
    connections: int,
    server_pid: int | None = None,
) -> dict[str, Any]:
    """Open-loop load: `rate` notifications/s of `per_request` alerts for `seconds`."""
    host, port = httpx.URL(url).host, httpx.URL(url).port or 80
    count = int(rate * seconds)
    requests = [
        _request(
            host,
            port,
            _notification([_alert(i * per_request + k, name) for k in range(per_request)]),
        )
        for i in range(count)
    ]
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    acked = 0
    pool = [await _Connection.open(host, port) for _ in range(connections)]
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.05
    last_answer = t0

    async def worker(conn: _Connection) -> None:
        nonlocal acked, last_answer
        while (item := await queue.get()) is not None:
            due, request = item
            try:
                status, body = await conn.post(request)
            except (OSError, asyncio.IncompleteReadError):
                statuses[-1] += 1
                conn.close()
                conn = await _Connection.open(host, port)
                continue
            now = loop.time()
            last_answer = max(last_answer, now)
            latencies.append(now - due)
            statuses[status] += 1
            if status == 200:
                acked += orjson.loads(body)["accepted"]

    workers = [loop.create_task(worker(conn)) for conn in pool]
    cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
    mine_before = cpu_seconds(os.getpid())
    sent = 0
    while sent < count:
        now = loop.time()
        due_count = min(count, int((now - t0) * rate) + 1)
        while sent < due_count:
            queue.put_nowait((t0 + sent / rate, requests[sent]))
            sent += 1
        await asyncio.sleep(max(0.0, t0 + sent / rate - loop.time()))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    server_cpu = cpu_seconds(server_pid) - cpu_before if server_pid else float("nan")
    generator_cpu = cpu_seconds(os.getpid()) - mine_before
    for conn in pool:
        conn.close()
    elapsed = last_answer - t0
    return {
        "phase": name,
        "alerts_per_request": per_request,
        "offered_requests_per_s": rate,
        "offered_alerts_per_s": rate * per_request,
        "seconds": seconds,
        "requests": count,
        "alerts_sent": count * per_request,
        "alerts_acknowledged": acked,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "achieved_requests_per_s": round(count / elapsed, 1),
        "achieved_alerts_per_s": round(acked / elapsed, 1),
        "server_cpu_ms_per_request": round(server_cpu / count * 1000, 3),
        "generator_cpu_ms_per_request": round(generator_cpu / count * 1000, 3),
        "latency_ms": {
            "p50": round(_pct(latencies, 0.50) * 1000, 2),
            "p90": round(_pct(latencies, 0.90) * 1000, 2),
            "p99": round(_pct(latencies, 0.99) * 1000, 2),
            "max": round(max(latencies) * 1000, 2) if latencies else None,
        },
    }


async def run_load(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    ledger_path = workdir / "ledger.db"
    port = args.port
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), "--ledger", str(ledger_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError(f"the server did not start: {line!r}")
        url = line.split()[1]
        phases = [
            await load_phase(
                url,
                name="batched",
                rate=args.batch_rate,
                seconds=args.seconds,
                per_request=args.batch,
                connections=args.connections,
                server_pid=server.pid,
            ),
            await load_phase(
                url,
                name="single",
                rate=args.single_rate,
                seconds=args.single_seconds,
                per_request=1,
                connections=args.connections,
                server_pid=server.pid,
            ),
        ]
        acked = sum(p["alerts_acknowledged"] for p in phases)
        started = time.monotonic()
        async with httpx.AsyncClient(base_url=url) as client:
            while True:
                ready = (await client.get("/readyz")).json()["checks"]
                if ready["pending"] == 0:
                    break
                await asyncio.sleep(0.1)
        drain = time.monotonic() - started
        processed = ready["processed"]
    finally:
        server.terminate()
        server.wait(30)

    from kubeheal.store import Ledger
    from kubeheal.store.inbox import AlertInbox

    with Ledger.open(ledger_path) as ledger:
        stored = AlertInbox(ledger).count()
    return {
        "phases": phases,
        "alerts_acknowledged": acked,
        "alerts_in_inbox": stored,
        "alerts_lost": acked - stored,
        "alerts_processed_by_consumer": processed,
        "drain_seconds_after_load": round(drain, 2),
    }


# -- kubeheal's own share ------------------------------------------------------------------


async def run_share(samples: int) -> dict[str, Any]:
    """Webhook received -> action request sent, per remediation, against the twin."""
    from kubeheal.cli.harness import running_harness
    from kubeheal.config import DetectionSettings, Settings
    from kubeheal.runtime.operator import OperatorEvent
    from kubeheal.server import Authenticator

    actions: dict[str, float] = {}
    opened: dict[str, float] = {}

    def on_event(event: OperatorEvent) -> None:
        if event.kind == "action" and event.target.name not in actions:
            actions[event.target.name] = time.time()
        if event.kind == "incident":
            opened.setdefault(event.target.name, time.time())

    settings = Settings(detection=DetectionSettings(missing_pdb=False))
    results = []
    async with running_harness(
        scenario="bookinfo",
        speed=1.0,
        settings=settings,
        on_event=on_event,
        listen="127.0.0.1:0",
        auth=Authenticator.static(token=TOKEN),
    ) as h:
        names = sorted(
            d.metadata.name
            for d in h.operator.view.deployments
            if d.metadata.namespace == "bookinfo"
        )[:samples]
        async with httpx.AsyncClient(base_url=h.http_url or "", headers=AUTH) as client:
            for index, name in enumerate(names):
                alert = {
                    "status": "firing",
                    "labels": {"alertname": "HighLatency", "namespace": "bookinfo",
                               "deployment": name, "severity": "warning"},
                    "annotations": {"summary": "p99 latency above 500ms"},
                    "startsAt": datetime.now(tz=UTC).isoformat(),
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus:9090/graph",
                    "fingerprint": f"{index:016x}",
                }  # fmt: skip
                await asyncio.sleep(0.5)  # the operator idle, as between real alerts
                sent = time.time()
                response = await client.post(PATH, content=_notification([alert]))
                answered = time.time()
                assert response.status_code == 200, response.text
                deadline = time.monotonic() + 20
                while name not in actions and time.monotonic() < deadline:
                    await asyncio.sleep(0.002)
                if name not in actions:
                    results.append({"deployment": name, "error": "no action within 20 s"})
                    continue
                row = next(r for r in h.inbox.rows() if r.fingerprint == f"{index:016x}")
                received = row.received_at.timestamp()
                results.append(
                    {
                        "deployment": name,
                        "received_to_action_ms": round((actions[name] - received) * 1000, 2),
                        "received_to_incident_ms": round((opened[name] - received) * 1000, 2),
                        "sent_to_action_ms": round((actions[name] - sent) * 1000, 2),
                        "request_ms": round((answered - sent) * 1000, 2),
                    }
                )
    shares = [r["received_to_action_ms"] for r in results if "received_to_action_ms" in r]
    return {
        "samples": results,
        "received_to_action_ms": {
            "median": round(statistics.median(shares), 2) if shares else None,
            "max": round(max(shares), 2) if shares else None,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ledger", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=18089)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--batch-rate", type=float, default=300.0)
    parser.add_argument("--single-rate", type=float, default=2000.0)
    parser.add_argument("--single-seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--share-samples", type=int, default=7)
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.ledger)
        return
    result: dict[str, Any] = {
        "date": datetime.now(tz=UTC).strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    with tempfile.TemporaryDirectory(prefix="kubeheal-webhook-bench-") as tmp:
        if not args.skip_load:
            result["load"] = asyncio.run(run_load(args, Path(tmp)))
    result["share"] = asyncio.run(run_share(args.share_samples))
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()

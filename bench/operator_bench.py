"""Benchmark of the operator at Kubernetes' documented scalability limits, with a peer figure.

    .venv/bin/python bench/operator_bench.py [--nodes 5000 --pods 150000] [--repeats 3]
        [--events 200000] [--latency-seconds 20 --latency-rate 1000 --fault-every 100]
        [--peer-events 20000 --peer-list-pods 20000] [--out FILE]

Every measured party runs in its own process, and each figure is the median of ``--repeats``
runs (all runs are in the JSON):

1. sync: the twin (bench/twin_server.py --realistic: N nodes, P pods of ~4.6 KB JSON with
   managedFields, one Deployment and ReplicaSet per workload) in one process; the full
   Operator (SQLite ledger in a temporary directory, built-in playbooks, every reflector) in
   another: seconds from ``Operator.start()`` until every reflector has synced, and that
   process's peak RSS (VmHWM) then and after the latency run.
2. latency: in the same operator process, the twin modifies pods at R/s for S seconds and
   every K-th change turns a pod of a workload not touched before into CrashLoopBackOff. The
   twin notes when it emitted that change and when the operator's GET and DELETE of the pod
   (the crash-loop playbook's restart) arrive; latency = DELETE arrival - emission.
3. throughput: a replay server (own process) serves a list of P pods and then a watch of E
   pre-built MODIFIED events (1 in 100 a crash loop) as fast as the socket takes them; the
   consumer process runs the operator's pod reflector (decode + compaction), LiveClusterView
   update and per-object detectors (``Operator._apply``; signals go to ``submit``) on one
   thread. Events/s over the wall time of the watch, and per CPU second.
4. peer: the official ``kubernetes`` client's typed watch
   (``watch.Watch().stream(CoreV1Api().list_pod_for_all_namespaces, ...)``) on the same replay
   stream, and its typed paginated list of ``--peer-list-pods`` pods with its peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import synthetic  # noqa: E402
import twin_server  # noqa: E402

Obj = dict[str, Any]


def proc_status(pid: int | str = "self") -> dict[str, int]:
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


def mib(n: int) -> float:
    return round(n / 2**20, 1)


def wait_for_file(path: Path, proc: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text().strip():
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.args!r} did not report within {timeout}s")
        time.sleep(0.1)
    time.sleep(0.05)
    return path.read_text()


def spawn(
    args: list[str], report: Path, timeout: float = 600
) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen([sys.executable, *args])
    return proc, wait_for_file(report, proc, timeout)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median_of(runs: list[dict[str, Any]], key: str) -> Any:
    values = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(values), 3) if values else None


# ---------------------------------------------------------------------------- operator child


def bench_settings() -> Any:
    """Built-in policy with budgets large enough for hundreds of restarts in one run, and the
    missing-PDB report off (the synthetic workloads have none: it would create 5,000)."""
    from kubeheal.config import Settings
    from kubeheal.config.settings import DetectionSettings, GuardSettings

    return Settings(
        detection=DetectionSettings(missing_pdb=False),
        guards=GuardSettings(namespace_budget_per_hour=100_000, global_budget_per_hour=100_000),
    )


async def operator_child(
    server: str, report: Path, sweep_interval: float = 5.0, ledger_sync: str = "FULL"
) -> None:
    """Run the full operator against `server`; report sync figures, then keep running."""
    from kubeheal.clients.kube import KubeConnection
    from kubeheal.engine.playbooks import load_builtin_playbooks
    from kubeheal.runtime.operator import Operator, OperatorOptions
    from kubeheal.store import Ledger

    tmp = Path(tempfile.mkdtemp(prefix="kubeheal-bench-"))
    ledger = Ledger.open(tmp / "ledger.db")
    if ledger_sync != "FULL":
        # Experiment only (--ledger-synchronous): what the fsync per ledger commit costs.
        ledger._backend._conn.execute(f"PRAGMA synchronous = {ledger_sync}")  # type: ignore[attr-defined]
    operator = Operator(
        connection=KubeConnection.from_server(server),
        ledger=ledger,
        settings=bench_settings(),
        playbooks=load_builtin_playbooks(),
        options=OperatorOptions(sweep_interval=sweep_interval),
    )
    # Stage times per target (wall clock, comparable with the twin's), dumped on SIGTERM.
    stages: dict[str, dict[str, float]] = {}
    submit = operator.submit

    def timed_submit(signals: Any) -> None:
        signals = list(signals)
        now = time.time()
        for s in signals:
            stages.setdefault(s.target.key, {}).setdefault("signal", now)
        submit(signals)

    apply = operator._apply

    def timed_apply(name: str, event: Any) -> None:
        # When the faulted pod's event reaches the operator: "received", for the figure that
        # leaves out the twin and the socket (event received -> action request).
        pod = event.new
        if name == "pods" and pod is not None:
            for status in pod.status.container_statuses:
                waiting = status.state.waiting
                if waiting is not None and waiting.reason == "CrashLoopBackOff":
                    meta = pod.metadata
                    key = f"Deployment/{meta.namespace}/{meta.name[: meta.name.rindex('-')]}"
                    stages.setdefault(key, {}).setdefault("received", time.time())
                    break
        apply(name, event)

    operator._apply = timed_apply  # type: ignore[method-assign]

    def on_event(event: Any) -> None:
        if event.kind in ("incident", "action", "outcome"):
            stages.setdefault(event.target.key, {}).setdefault(event.kind, time.time())

    ledger_calls: dict[str, list[float]] = {}

    def timed(name: str, method: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                ledger_calls.setdefault(name, []).append(time.perf_counter() - t)

        return call

    for name in (
        "open_incident",
        "record_signal",
        "list_incidents",
        "actions_since",
        "record_plan",
        "transition_incident",
        "begin_action",
        "finish_action",
    ):
        setattr(ledger, name, timed(name, getattr(ledger, name)))  # fmt: skip
    operator.submit = timed_submit  # type: ignore[method-assign]
    operator.on_event = on_event
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    started = time.perf_counter()
    start = asyncio.create_task(operator.start())
    while (
        not all(r.status.synced for r in operator.reflectors.values())
        or len(operator.reflectors) < 7
    ):
        await asyncio.sleep(0.01)
    synced = time.perf_counter() - started
    mem_synced = proc_status()
    await start  # the first full sweep
    started_s = time.perf_counter() - started
    report.write_text(
        json.dumps(
            {
                "sync_seconds": synced,
                "start_seconds": started_s,
                "pods": len(operator.reflectors["pods"].cache),
                "objects": {name: len(r.cache) for name, r in operator.reflectors.items()},
                "rss_synced_mib": mib(mem_synced["VmRSS"]),
                "peak_rss_synced_mib": mib(mem_synced["VmHWM"]),
                "pid": os.getpid(),
            }
        )
    )
    lags: list[float] = []
    sweeps: list[float] = []
    sweep = operator.sweep

    async def timed_sweep() -> None:
        t = time.perf_counter()
        await sweep()
        sweeps.append(time.perf_counter() - t)

    operator.sweep = timed_sweep  # type: ignore[method-assign]

    async def lag_monitor() -> None:
        # How late a 5 ms timer fires: the longest stretches the event loop was busy.
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - t - 0.005)

    monitor = asyncio.create_task(lag_monitor())
    await stopping.wait()
    monitor.cancel()
    stages["_loop"] = {
        "lag_p50_ms": 1000 * percentile(lags, 50),
        "lag_p99_ms": 1000 * percentile(lags, 99),
        "lag_max_ms": 1000 * max(lags),
        "sweeps": len(sweeps),
        "sweep_max_s": max(sweeps, default=0.0),
    }
    stages["_ledger"] = {
        name: {
            "calls": len(v),
            "p50_ms": 1000 * percentile(v, 50),
            "p99_ms": 1000 * percentile(v, 99),
            "max_ms": 1000 * max(v),
        }
        for name, v in ledger_calls.items()
    }
    report.with_suffix(".stages.json").write_text(json.dumps(stages))
    os._exit(0)  # skip tearing down 150,000 objects


def run_operator(
    base: str, churn: dict[str, Any] | None, *, sweep_interval: float, ledger_sync: str
) -> dict[str, Any]:
    report = Path(tempfile.mkdtemp()) / "sync.json"
    proc, text = spawn(
        [__file__, "_operator", base, str(report), str(sweep_interval), ledger_sync], report
    )
    try:
        result: dict[str, Any] = json.loads(text)
        if churn is not None:
            with httpx.Client(base_url=base, timeout=600) as client:
                done = client.post("/bench/churn", params=churn).json()
                time.sleep(2.0)  # the last faults' actions
                rows = client.get("/bench/latency").json()["faults"]
            result["churn"] = done
            result["latency_rows"] = rows
        result["peak_rss_end_mib"] = mib(proc_status(proc.pid)["VmHWM"])
    finally:
        stop(proc)
    if churn is not None:
        stages = json.loads(report.with_suffix(".stages.json").read_text())
        result["event_loop"] = {k: round(v, 2) for k, v in stages.pop("_loop").items()}
        result["ledger_calls"] = {
            name: {k: round(v, 2) for k, v in figures.items()}
            for name, figures in stages.pop("_ledger").items()
        }
        result["stages_ms"] = stage_latencies(result["latency_rows"], stages)
    return result


def stage_latencies(rows: list[Obj], stages: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Per fault, ms from the twin emitting it to: the detector's signal, the incident opened
    in the ledger, the action about to run (plan, guards, ledger writes done), the DELETE."""
    found: dict[str, list[float]] = {
        "received": [], "signal": [], "incident": [], "action": [], "delete": [],
        "operator_received_to_delete": [],
    }  # fmt: skip
    for row in rows:
        ns, name = row["pod"].split("/")
        seen = stages.get(f"Deployment/{ns}/{name[: name.rindex('-')]}", {})
        for stage in ("received", "signal", "incident", "action"):
            if stage in seen:
                found[stage].append(1000 * (seen[stage] - row["sent_wall"]))
        if row["delete_s"] is not None:
            found["delete"].append(1000 * row["delete_s"])
            if "received" in seen:
                delete_wall = row["sent_wall"] + row["delete_s"]
                found["operator_received_to_delete"].append(1000 * (delete_wall - seen["received"]))
    return {
        stage: {f"p{q}": round(percentile(v, q), 1) for q in (50, 95, 99)}
        for stage, v in found.items()
        if v
    }


# ---------------------------------------------------------------------------- replay server


def replay_objects(pods: int, nodes: int, events: int) -> tuple[list[bytes], list[bytes]]:
    """P listed pods, and min(E, 20000) distinct watch lines modifying them (1% crash loops)."""
    items = []
    for i in range(pods):
        obj = twin_server.realistic_times(synthetic.pod(i, nodes=nodes), i)
        obj["metadata"]["resourceVersion"] = "1"
        obj["metadata"]["uid"] = f"{i:08d}-0000-4000-8000-000000000000"
        obj["metadata"]["creationTimestamp"] = "2026-10-20T00:00:00Z"
        items.append(orjson.dumps(obj))
    lines = []
    for j in range(min(events, 20_000)):
        i = (j * 7) % pods
        obj = orjson.loads(items[i])
        obj["metadata"]["resourceVersion"] = str(2 + j)
        obj["metadata"]["annotations"]["bench/seq"] = str(j)
        if j % 100 == 99:
            twin_server._crash_loop(obj)
        lines.append(b'{"type":"MODIFIED","object":' + orjson.dumps(obj) + b"}\n")
    return items, lines


async def replay_server(pods: int, nodes: int, events: int, report: Path) -> None:
    """An HTTP/1.1 server for GET /api/v1/pods: paginated list, then a watch of E events."""
    items, lines = replay_objects(pods, nodes, events)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                target = head.split(b" ", 2)[1].decode()
                _path, _, query = target.partition("?")
                params = dict(p.partition("=")[::2] for p in query.split("&") if p)
                if params.get("watch", "").lower() in ("1", "true"):
                    await stream(writer)
                    return
                body = page(params)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def page(params: dict[str, str]) -> bytes:
        limit = int(params.get("limit", "0") or 0) or len(items)
        start = int(params.get("continue", "0") or 0)
        end = min(len(items), start + limit)
        token = str(end) if end < len(items) else ""
        meta = orjson.dumps({"resourceVersion": "1", "continue": token})
        return (
            b'{"kind":"PodList","apiVersion":"v1","metadata":'
            + meta
            + b',"items":['
            + b",".join(items[start:end])
            + b"]}"
        )

    async def stream(writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        sent = 0
        batch: list[bytes] = []
        size = 0
        while sent < events:
            line = lines[sent % len(lines)]
            batch.append(line)
            size += len(line)
            sent += 1
            if size >= 256 * 1024 or sent == events:
                data = b"".join(batch)
                writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                await writer.drain()
                batch, size = [], 0
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    report.write_text(str(port))
    async with server:
        await server.serve_forever()


# ---------------------------------------------------------------------------- consumers


async def throughput_child(base: str, pods: int, nodes: int, events: int, report: Path) -> None:
    """Operator._apply on the replay stream: list P pods, then consume E watch events."""
    import msgspec

    from kubeheal.clients.kube import KubeConnection
    from kubeheal.clients.reflector import CacheEvent, Reflector, resource_path
    from kubeheal.engine.playbooks import load_builtin_playbooks
    from kubeheal.model.cluster import Deployment, Pod, ReplicaSet
    from kubeheal.runtime.operator import Operator
    from kubeheal.store import Ledger

    tmp = Path(tempfile.mkdtemp(prefix="kubeheal-bench-"))
    operator = Operator(
        connection=KubeConnection.from_server(base),
        ledger=Ledger.open(tmp / "ledger.db", manual_checkpoints=True),
        settings=bench_settings(),
        playbooks=load_builtin_playbooks(),
    )
    workloads = sorted({
        (f"team-{i % 50:03d}", f"app-{(i // 10) % 500:03d}") for i in range(pods)
    })  # fmt: skip
    for ns, app in workloads:
        dep, rs = twin_server.workload_objects(ns, app, 30)
        for name, obj, kind in (("deployments", dep, Deployment), ("replicasets", rs, ReplicaSet)):
            decoded = msgspec.convert(obj, kind)
            operator._apply(
                name, CacheEvent("ADDED", f"{ns}/{obj['metadata']['name']}", decoded, None)
            )
    reflector: Reflector[Any] = Reflector(
        http=operator._http,
        path=resource_path("", "v1", "pods"),
        item_type=Pod,
        handler=operator._handler("pods"),
        transform=operator.compactor.pod,
        watch_timeout=3600,
    )
    t0 = time.perf_counter()
    await reflector.relist()
    list_s = time.perf_counter() - t0
    operator.started.set()  # detectors run on every event from here on
    before = operator.event_count
    cpu0, t0 = time.process_time(), time.perf_counter()
    await reflector.watch_once()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    got = operator.event_count - before
    signals = sum(len(s.pending) for s in operator._targets.values())
    report.write_text(
        json.dumps(
            {
                "list_pods": len(reflector.cache),
                "list_seconds": list_s,
                "events": got,
                "seconds": wall,
                "cpu_seconds": cpu,
                "events_per_second": got / wall,
                "events_per_cpu_second": got / cpu,
                "signals_submitted": signals,
                "peak_rss_mib": mib(proc_status()["VmHWM"]),
            }
        )
    )
    await operator._http.aclose()


def peer_child(base: str, events: int, list_pods: int, report: Path) -> None:
    """The official client: typed watch of E events, then a typed list of `list_pods` pods."""
    from kubernetes import client, watch

    config = client.Configuration(host=base)
    api = client.CoreV1Api(client.ApiClient(config))
    got = 0
    w = watch.Watch()
    cpu0, t0 = time.process_time(), time.perf_counter()
    for _event in w.stream(
        api.list_pod_for_all_namespaces, resource_version="1", timeout_seconds=3600
    ):
        got += 1
        if got >= events:
            w.stop()
            break
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    kept: list[Any] = []
    token = None
    t1 = time.perf_counter()
    while len(kept) < list_pods:
        page = api.list_pod_for_all_namespaces(limit=500, _continue=token)
        kept.extend(page.items)
        token = page.metadata._continue
        if not token:
            break
    list_s = time.perf_counter() - t1
    report.write_text(
        json.dumps(
            {
                "events": got,
                "seconds": wall,
                "cpu_seconds": cpu,
                "events_per_second": got / wall,
                "events_per_cpu_second": got / cpu,
                "list_pods": len(kept),
                "list_seconds": list_s,
                "peak_rss_mib": mib(proc_status()["VmHWM"]),
            }
        )
    )


# ---------------------------------------------------------------------------- main


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        role, *rest = sys.argv[1:]
        if role == "_operator":
            asyncio.run(operator_child(rest[0], Path(rest[1]), float(rest[2]), rest[3]))
        elif role == "_replay":
            pods, nodes, events = (int(x) for x in rest[:3])
            asyncio.run(replay_server(pods, nodes, events, Path(rest[3])))
        elif role == "_throughput":
            base, (pods, nodes, events), report = rest[0], map(int, rest[1:4]), Path(rest[4])
            asyncio.run(throughput_child(base, pods, nodes, events, report))
        elif role == "_peer":
            peer_child(rest[0], int(rest[1]), int(rest[2]), Path(rest[3]))
        return

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pods", type=int, default=150_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--events", type=int, default=200_000, help="throughput watch events")
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--latency-rate", type=float, default=1000.0)
    parser.add_argument("--fault-every", type=int, default=100)
    parser.add_argument(
        "--ledger-synchronous",
        choices=("FULL", "NORMAL"),
        default="FULL",
        help="experiment: the ledger's PRAGMA synchronous (the product uses FULL)",
    )
    parser.add_argument(
        "--sweep-interval", type=float, default=5.0, help="OperatorOptions.sweep_interval"
    )
    parser.add_argument("--peer-events", type=int, default=20_000)
    parser.add_argument("--peer-list-pods", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--phases", default="sync,replay", help="sync (1+2) and/or replay (3+4), comma-separated"
    )
    args = parser.parse_args()
    phases = set(args.phases.split(","))
    tmp = Path(tempfile.mkdtemp(prefix="operator-bench-"))
    wall0 = time.perf_counter()
    result: dict[str, Any] = {"nodes": args.nodes, "pods": args.pods}
    runs: dict[str, Any] = {}
    if "sync" in phases:
        result |= sync_phase(args, tmp, runs)
    if "replay" in phases:
        result |= replay_phase(args, tmp, runs)
    kh_eps = result.get("throughput", {}).get("events_per_second_median")
    peer_eps = result.get("peer_kubernetes_typed", {}).get("events_per_second_median")
    if kh_eps and peer_eps:
        result["ratio_events_per_second_kubeheal_over_peer"] = round(kh_eps / peer_eps, 1)
    result["runs"] = runs
    result["wall_seconds"] = round(time.perf_counter() - wall0, 1)
    result["python"] = sys.version.split()[0]
    result["cpus"] = os.cpu_count()
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


def sync_phase(args: argparse.Namespace, tmp: Path, runs: dict[str, Any]) -> dict[str, Any]:
    """1 + 2: the twin, the operator, paced churn with faults."""
    twin, port = spawn(
        [str(HERE / "twin_server.py"), "--nodes", str(args.nodes), "--pods", str(args.pods),
         "--ready-file", str(tmp / "twin.port"), "--realistic"],
        tmp / "twin.port",
    )  # fmt: skip
    base = f"http://127.0.0.1:{port.strip()}"
    sync_runs: list[dict[str, Any]] = []
    try:
        twin_stats = httpx.get(f"{base}/bench/stats", timeout=60).json()
        for _ in range(args.repeats):
            churn = {
                "n": str(int(args.latency_rate * args.latency_seconds)),
                "rate": str(args.latency_rate),
                "fault_every": str(args.fault_every),
            }
            run = run_operator(
                base,
                churn,
                sweep_interval=args.sweep_interval,
                ledger_sync=args.ledger_synchronous,
            )
            rows = run.pop("latency_rows")
            got = [r["delete_s"] for r in rows if r["delete_s"] is not None]
            gets = [r["get_s"] for r in rows if r["get_s"] is not None]
            run["faults"] = len(rows)
            run["actions"] = len(got)
            if got:
                run["latency_ms"] = {
                    f"p{q}": round(1000 * percentile(got, q), 1) for q in (50, 95, 99)
                } | {"max": round(1000 * max(got), 1)}
            if gets:
                run["first_get_ms"] = {
                    f"p{q}": round(1000 * percentile(gets, q), 1) for q in (50, 95, 99)
                }
            sync_runs.append(run)
            print(json.dumps({"sync_run": run}), file=sys.stderr)
        twin_rss = proc_status(twin.pid)
    finally:
        stop(twin)
    runs["sync_latency"] = sync_runs
    latency_runs = [r["latency_ms"] for r in sync_runs if "latency_ms" in r]
    return {
        "twin": {
            "load_seconds": round(twin_stats["load_seconds"], 1),
            "peak_rss_mib": mib(twin_rss["VmHWM"]),
        },
        "sync": {
            "what": "full Operator (7 reflectors, SQLite ledger, built-in playbooks)",
            "ledger_synchronous": args.ledger_synchronous,
            "seconds_median": median_of(sync_runs, "sync_seconds"),
            "start_with_first_sweep_seconds_median": median_of(sync_runs, "start_seconds"),
            "peak_rss_synced_mib_median": median_of(sync_runs, "peak_rss_synced_mib"),
            "peak_rss_after_latency_run_mib_median": median_of(sync_runs, "peak_rss_end_mib"),
            "objects": sync_runs[0]["objects"],
        },
        "latency": {
            "rate_per_second": args.latency_rate,
            "seconds": args.latency_seconds,
            "faults_per_run": sync_runs[0].get("faults"),
            "actions_per_run": [r.get("actions") for r in sync_runs],
            "event_to_delete_ms_median_of_runs": {
                k: round(statistics.median(x[k] for x in latency_runs), 1)
                for k in ("p50", "p95", "p99", "max")
            }
            if latency_runs
            else None,
            "event_loop_lag_max_ms_per_run": [r["event_loop"]["lag_max_ms"] for r in sync_runs],
            "ledger_call_ms_median_of_runs": {
                name: {
                    k: round(statistics.median(r["ledger_calls"][name][k] for r in sync_runs), 1)
                    for k in ("p50_ms", "p99_ms", "max_ms")
                }
                for name in sync_runs[0]["ledger_calls"]
                if all(name in r["ledger_calls"] for r in sync_runs)
            },
            "stages_ms_median_of_runs": {
                stage: {
                    k: round(statistics.median(r["stages_ms"][stage][k] for r in staged), 1)
                    for k in ("p50", "p95", "p99")
                }
                for stage in (
                    "received",
                    "signal",
                    "incident",
                    "action",
                    "delete",
                    "operator_received_to_delete",
                )
                if (staged := [r for r in sync_runs if stage in r.get("stages_ms", {})])
            },
        },
    }


def replay_phase(args: argparse.Namespace, tmp: Path, runs: dict[str, Any]) -> dict[str, Any]:
    """3 + 4: replay server, kubeheal consumer, peer consumer."""
    replay, rport = spawn(
        [__file__, "_replay", str(args.pods), str(args.nodes), str(args.events),
         str(tmp / "replay.port")],
        tmp / "replay.port",
    )  # fmt: skip
    rbase = f"http://127.0.0.1:{rport.strip()}"
    tp_runs: list[dict[str, Any]] = []
    peer_runs: list[dict[str, Any]] = []
    try:
        for r in range(args.repeats):
            report = tmp / f"tp{r}.json"
            proc, text = spawn(
                [__file__, "_throughput", rbase, str(args.pods), str(args.nodes),
                 str(args.events), str(report)],
                report,
            )  # fmt: skip
            proc.wait(60)
            tp_runs.append(json.loads(text))
            print(json.dumps({"throughput_run": tp_runs[-1]}), file=sys.stderr)
            report = tmp / f"peer{r}.json"
            peer_list = args.peer_list_pods if r == 0 else 0
            proc, text = spawn(
                [__file__, "_peer", rbase, str(args.peer_events), str(peer_list), str(report)],
                report,
            )  # fmt: skip
            proc.wait(60)
            peer_runs.append(json.loads(text))
            print(json.dumps({"peer_run": peer_runs[-1]}), file=sys.stderr)
    finally:
        stop(replay)
    runs["throughput"] = tp_runs
    runs["peer"] = peer_runs
    peer_list_run = peer_runs[0]
    per_pod_s = peer_list_run["list_seconds"] / max(1, peer_list_run["list_pods"])
    return {
        "throughput": {
            "events": args.events,
            "events_per_second_median": median_of(tp_runs, "events_per_second"),
            "events_per_cpu_second_median": median_of(tp_runs, "events_per_cpu_second"),
            "list_pods": tp_runs[0]["list_pods"],
            "list_seconds_median": median_of(tp_runs, "list_seconds"),
            "peak_rss_mib_median": median_of(tp_runs, "peak_rss_mib"),
        },
        "peer_kubernetes_typed": {
            "events": args.peer_events,
            "events_per_second_median": median_of(peer_runs, "events_per_second"),
            "events_per_cpu_second_median": median_of(peer_runs, "events_per_cpu_second"),
            "list_pods": peer_list_run["list_pods"],
            "list_seconds": round(peer_list_run["list_seconds"], 2),
            "peak_rss_mib": peer_list_run["peak_rss_mib"],
            "list_seconds_extrapolated_to_pods": round(per_pod_s * args.pods, 1),
        },
    }


if __name__ == "__main__":
    main()

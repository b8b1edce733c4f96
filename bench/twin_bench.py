"""Benchmark of the cluster twin at Kubernetes' documented scalability limits.

    .venv/bin/python bench/twin_bench.py [--nodes 5000 --pods 150000 --watchers 10 --events 50000]

Starts the twin (bench/twin_server.py) in its own process loaded with N nodes and P pods
(~4 KB of JSON each, managedFields included), then measures:
- the server's resident memory once loaded (VmRSS, and its peak VmHWM);
- a paginated list of all pods (limit=500, following `continue`) as pods/s, best of 3;
- watch fan-out: W watchers on all pods while the server modifies E pods as fast as it can;
  events/s = E / time until every watcher has received all E events.
Prints a JSON summary (also written to --out).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson

HERE = Path(__file__).resolve().parent


def proc_status(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


def start_server(nodes: int, pods: int) -> tuple[subprocess.Popen[bytes], str]:
    ready = Path(tempfile.mkdtemp()) / "port"
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "twin_server.py"), "--nodes", str(nodes), "--pods",
         str(pods), "--ready-file", str(ready)],
    )  # fmt: skip
    deadline = time.monotonic() + 600
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("bench twin server did not start")
        time.sleep(0.2)
    time.sleep(0.2)
    return proc, f"http://127.0.0.1:{ready.read_text().strip()}"


def paginated_list(client: httpx.Client) -> tuple[int, float]:
    started = time.perf_counter()
    count = 0
    token = ""
    while True:
        params = {"limit": "500"}
        if token:
            params["continue"] = token
        body = client.get("/api/v1/pods", params=params).content
        # Measure the server, not a client decoding 2 MB into Python objects: read the list
        # metadata from the head of the body and count the items by their opening bytes.
        head_end = body.index(b',"items":[')
        meta = orjson.loads(body[:head_end] + b"}")["metadata"]
        count += body.count(b'{"apiVersion":"v1","kind":"Pod"')
        token = meta.get("continue", "")
        if not token:
            return count, time.perf_counter() - started


def watch_fanout(base: str, watchers: int, events: int) -> dict[str, float]:
    with httpx.Client(base_url=base, timeout=60) as client:
        rv = client.get("/api/v1/namespaces/default/pods").json()["metadata"]["resourceVersion"]
    counts = [0] * watchers
    done = [threading.Event() for _ in range(watchers)]
    finished_at = [0.0] * watchers
    started_streams = threading.Barrier(watchers + 1)

    def watch(i: int) -> None:
        with httpx.Client(base_url=base, timeout=httpx.Timeout(300, connect=10)) as c, c.stream(
            "GET", "/api/v1/pods",
            params={"watch": "1", "resourceVersion": rv, "timeoutSeconds": "300"},
        ) as response:  # fmt: skip
            started_streams.wait()
            for chunk in response.iter_raw():
                counts[i] += chunk.count(b"\n")
                if counts[i] >= events:
                    finished_at[i] = time.perf_counter()
                    done[i].set()
                    return

    threads = [threading.Thread(target=watch, args=(i,), daemon=True) for i in range(watchers)]
    for t in threads:
        t.start()
    started_streams.wait()
    time.sleep(0.5)
    with httpx.Client(base_url=base, timeout=600) as client:
        t0 = time.perf_counter()
        server_side = client.post("/bench/churn", params={"n": str(events)}).json()
    for d in done:
        d.wait(600)
    elapsed = max(finished_at) - t0
    return {
        "watchers": watchers,
        "events": events,
        "events_received_per_watcher": min(counts),
        "server_write_seconds": server_side["seconds"],
        "fanout_seconds": elapsed,
        "events_per_second_per_watcher": events / elapsed,
        "events_per_second_total": events * watchers / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pods", type=int, default=150_000)
    parser.add_argument("--watchers", type=int, default=10)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    proc, base = start_server(args.nodes, args.pods)
    try:
        with httpx.Client(base_url=base, timeout=120) as client:
            stats = client.get("/bench/stats").json()
            mem = proc_status(proc.pid)
            runs = [paginated_list(client) for _ in range(3)]
        count, seconds = min(runs, key=lambda r: r[1])
        fan = watch_fanout(base, args.watchers, args.events)
        mem_after = proc_status(proc.pid)
        result = {
            "nodes": args.nodes,
            "pods": args.pods,
            "load_seconds": round(stats["load_seconds"], 1),
            "rss_loaded_mib": round(mem["VmRSS"] / 2**20),
            "peak_rss_mib": round(mem_after["VmHWM"] / 2**20),
            "list_pods": count,
            "list_seconds": round(seconds, 2),
            "list_pods_per_second": round(count / seconds),
            "watch": {k: round(v, 2) if isinstance(v, float) else v for k, v in fan.items()},
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
        }
    finally:
        proc.terminate()
        proc.wait(30)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()

"""A cluster twin loaded with a synthetic cluster, for benchmarks (run as a separate process).

    python bench/twin_server.py --nodes 5000 --pods 150000 --port 0 --ready-file F

Writes "<port>" to the ready file once serving. Adds `POST /bench/churn?n=N` which modifies N
pods (an annotation) inside the server as fast as it can, yielding to the watch streams every
few hundred writes, and answers with the elapsed seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import time
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

sys.path.insert(0, str(Path(__file__).resolve().parent))

import synthetic
from kubeheal.twin.api import create_app
from kubeheal.twin.clock import WallClock
from kubeheal.twin.cluster import Twin


def load(twin: Twin, *, nodes: int, pods: int, namespaces: int = 50) -> float:
    store = twin.store
    started = time.perf_counter()
    ns_type = store.rtype("", "v1", "namespaces")
    for i in range(namespaces):
        store.create(ns_type, synthetic.namespace(f"team-{i:03d}"))
    node_type = store.rtype("", "v1", "nodes")
    for i in range(nodes):
        store.create(node_type, synthetic.node(i))
    pod_type = store.rtype("", "v1", "pods")
    for i in range(pods):
        store.create(pod_type, synthetic.pod(i, nodes=nodes, namespaces=namespaces))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pods", type=int, default=150_000)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", type=Path, required=True)
    args = parser.parse_args()

    twin = Twin.bare(clock=WallClock())
    load_s = load(twin, nodes=args.nodes, pods=args.pods)
    pod_type = twin.store.rtype("", "v1", "pods")
    names = [(s.namespace, s.name) for s in twin.store.iter_stored(pod_type)]

    async def churn(request: Request) -> JSONResponse:
        n = int(request.query_params.get("n", "10000"))
        rate = float(request.query_params.get("rate", "0"))
        started = time.perf_counter()
        for i in range(n):
            ns, name = names[i % len(names)]

            def touch(obj: dict, i: int = i) -> None:
                obj["metadata"].setdefault("annotations", {})["bench/seq"] = str(i)
                obj["metadata"]["annotations"]["bench/sent"] = repr(time.time())

            twin.store.mutate(pod_type, ns, name, touch)
            if rate:
                delay = started + (i + 1) / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif i % 200 == 199:
                await asyncio.sleep(0)
        return JSONResponse({"n": n, "seconds": time.perf_counter() - started})

    async def stats(_: Request) -> JSONResponse:
        return JSONResponse({"load_seconds": load_s, "rv": twin.store.resource_version})

    app = Starlette(
        routes=[
            Route("/bench/churn", churn, methods=["POST"]),
            Route("/bench/stats", stats),
            Mount("/", app=create_app(twin)),
        ]
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
    server = uvicorn.Server(config)

    async def serve() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.05)
        args.ready_file.write_text(str(port))
        await task

    asyncio.run(serve())


if __name__ == "__main__":
    main()

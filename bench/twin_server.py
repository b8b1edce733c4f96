"""A cluster twin loaded with a synthetic cluster, for benchmarks (run as a separate process).

    python bench/twin_server.py --nodes 5000 --pods 150000 --port 0 --ready-file F [--realistic]

Writes "<port>" to the ready file once serving. Bench endpoints:

- `POST /bench/churn?n=N[&rate=R][&fault_every=K]` modifies N pods (an annotation) inside the
  server, as fast as it can (yielding to the watch streams every few hundred writes) or paced at
  R writes/s, and answers with the elapsed seconds. With `fault_every=K`, every K-th write
  instead turns the first pod of a workload not faulted before into CrashLoopBackOff, and the
  server notes the time it emitted that change;
- `GET /bench/latency` lists, per faulted pod, the seconds from emitting its fault to the
  arrival of the first GET and the first DELETE of that pod (an operator's restart request),
  and the wall time (epoch seconds) of the emission;
- `GET /bench/stats`: load time and the store's resourceVersion.

`--realistic` makes the data closer to a real cluster for the operator benchmark: per-pod
timestamps spread over 30 days (startTime, condition and container start times), and one
Deployment plus its ReplicaSet (revision 1, created 30 days ago) per workload the pods name.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import socket
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

sys.path.insert(0, str(Path(__file__).resolve().parent))

import synthetic
from kubeheal.twin.api import create_app
from kubeheal.twin.cluster import Twin
from kubeheal.twin.errors import ApiError

Obj = dict[str, Any]
Scope = MutableMapping[str, Any]
Asgi = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Any]

_DAY = 86400
_REALISTIC_BASE = 1_795_000_000  # 2026-11-18: pods started over the 30 days before it


class ShiftedClock:
    """Wall time plus `offset` seconds (objects loaded with a negative offset look old)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset


def _ts(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def realistic_times(pod: Obj, i: int) -> Obj:
    """Give pod `i` its own start time: scheduled at t, container up at t+3, ready at t+5."""
    t = _REALISTIC_BASE - (i * 7919) % (30 * _DAY)
    status = pod["status"]
    status["startTime"] = _ts(t)
    for cond in status["conditions"]:
        late = cond["type"] in ("Ready", "ContainersReady")
        cond["lastTransitionTime"] = _ts(t + 5 if late else t)
    for cs in status["containerStatuses"]:
        cs["state"] = {"running": {"startedAt": _ts(t + 3)}}
    return pod


def workload_objects(ns: str, app: str, replicas: int) -> tuple[Obj, Obj]:
    """A Deployment `app` and its ReplicaSet `app-7c9f8d` matching the synthetic pods."""
    labels = {"app": app, "tier": "backend", "app.kubernetes.io/part-of": "shop"}
    template = {
        "metadata": {"labels": {**labels, "pod-template-hash": "7c9f8d"}},
        "spec": {
            "containers": [{
                "name": "app", "image": f"registry.example.com/{app}:1.0.0",
                "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                              "limits": {"cpu": "500m", "memory": "256Mi"}},
            }],
            "restartPolicy": "Always",
        },
    }  # fmt: skip
    ready = {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": app, "namespace": ns, "labels": labels,
                     "annotations": {"deployment.kubernetes.io/revision": "1"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}},
                 "template": template,
                 "strategy": {"type": "RollingUpdate",
                              "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}},
        "status": {**ready, "observedGeneration": 1, "updatedReplicas": replicas,
                   "conditions": [
                       {"type": "Available", "status": "True",
                        "reason": "MinimumReplicasAvailable"},
                       {"type": "Progressing", "status": "True",
                        "reason": "NewReplicaSetAvailable"}]},
    }  # fmt: skip
    replica_set = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": f"{app}-7c9f8d", "namespace": ns,
                     "labels": {**labels, "pod-template-hash": "7c9f8d"},
                     "annotations": {"deployment.kubernetes.io/revision": "1"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                          "name": app, "uid": f"dep-{ns}-{app}",
                                          "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"replicas": replicas,
                 "selector": {"matchLabels": {"app": app, "pod-template-hash": "7c9f8d"}},
                 "template": template},
        "status": ready,
    }  # fmt: skip
    return deployment, replica_set


def load(
    twin: Twin, *, nodes: int, pods: int, namespaces: int = 50, realistic: bool = False
) -> float:
    store = twin.store
    started = time.perf_counter()
    ns_type = store.rtype("", "v1", "namespaces")
    for i in range(namespaces):
        store.create(ns_type, synthetic.namespace(f"team-{i:03d}"))
    node_type = store.rtype("", "v1", "nodes")
    for i in range(nodes):
        store.create(node_type, synthetic.node(i))
    pod_type = store.rtype("", "v1", "pods")
    replicas: dict[tuple[str, str], int] = {}
    for i in range(pods):
        obj = synthetic.pod(i, nodes=nodes, namespaces=namespaces)
        if realistic:
            realistic_times(obj, i)
            key = (obj["metadata"]["namespace"], obj["metadata"]["labels"]["app"])
            replicas[key] = replicas.get(key, 0) + 1
        store.create(pod_type, obj)
    dep_type = store.rtype("apps", "v1", "deployments")
    rs_type = store.rtype("apps", "v1", "replicasets")
    for (ns, app), count in sorted(replicas.items()):
        deployment, replica_set = workload_objects(ns, app, count)
        store.create(dep_type, deployment)
        store.create(rs_type, replica_set)
    return time.perf_counter() - started


def _crash_loop(obj: Obj) -> None:
    """Turn the pod's first container into CrashLoopBackOff after repeated OOM-free errors."""
    status = obj["status"]
    for cond in status.get("conditions", []):
        if cond["type"] in ("Ready", "ContainersReady"):
            cond["status"] = "False"
    cs = status["containerStatuses"][0]
    cs["ready"] = False
    cs["started"] = False
    cs["restartCount"] = int(cs.get("restartCount", 0)) + 5
    cs["state"] = {
        "waiting": {
            "reason": "CrashLoopBackOff",
            "message": "back-off 40s restarting failed container",
        }
    }
    cs["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error",
                                      "startedAt": _ts(time.time() - 10),
                                      "finishedAt": _ts(time.time() - 5)}}  # fmt: skip


class Arrivals:
    """ASGI wrapper noting when GET/DELETE requests for faulted pods arrive."""

    def __init__(self, app: Asgi, faults: dict[tuple[str, str], float]) -> None:
        self.app = app
        self.faults = faults
        self.first: dict[tuple[str, str, str], float] = {}

    async def __call__(
        self, scope: Scope, receive: Callable[[], Awaitable[Any]], send: Any
    ) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "DELETE"):
            now = time.perf_counter()
            parts = scope["path"].split("/")
            # /api/v1/namespaces/NS/pods/NAME
            if len(parts) == 7 and parts[3] == "namespaces" and parts[5] == "pods":
                key = (parts[4], parts[6])
                if key in self.faults:
                    self.first.setdefault((scope["method"], *key), now)
        await self.app(scope, receive, send)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pods", type=int, default=150_000)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--realistic", action="store_true")
    args = parser.parse_args()

    clock = ShiftedClock()
    clock.offset = -30 * _DAY if args.realistic else 0.0
    twin = Twin.bare(clock=clock)
    load_s = load(twin, nodes=args.nodes, pods=args.pods, realistic=args.realistic)
    # The loaded cluster lives as long as the process: keep the cyclic collector from walking
    # its million index objects on every full collection (pauses of ~100 ms in the stream).
    gc.collect()
    gc.freeze()
    clock.offset = 0.0
    pod_type = twin.store.rtype("", "v1", "pods")
    names = [(s.namespace, s.name) for s in twin.store.iter_stored(pod_type)]
    # The first pod of every workload (namespace, ReplicaSet), in a stable order.
    firsts: dict[tuple[str, str], tuple[str, str]] = {}
    for stored in twin.store.iter_stored(pod_type):
        refs = stored.obj()["metadata"].get("ownerReferences") or [{"name": ""}]
        firsts.setdefault((stored.namespace, refs[0]["name"]), (stored.namespace, stored.name))
    fault_pods = list(firsts.values())
    faults: dict[tuple[str, str], float] = {}
    faults_wall: dict[tuple[str, str], float] = {}
    faulted = [0]
    cursor = [-1]

    async def churn(request: Request) -> JSONResponse:
        n = int(request.query_params.get("n", "10000"))
        rate = float(request.query_params.get("rate", "0"))
        fault_every = int(request.query_params.get("fault_every", "0"))
        if fault_every:  # a new latency run: report only its own faults
            faults.clear()
            faults_wall.clear()
        started = time.perf_counter()
        missing = 0
        for i in range(n):
            if fault_every and i % fault_every == fault_every - 1 and faulted[0] < len(fault_pods):
                ns, name = fault_pods[faulted[0]]
                faulted[0] += 1
                faults[(ns, name)] = time.perf_counter()
                faults_wall[(ns, name)] = time.time()
                change: Callable[[Obj], None] = _crash_loop
                subresource: str | None = "status"
            else:
                subresource = None
                cursor[0] += 1
                ns, name = names[cursor[0] % len(names)]

                def change(obj: Obj, i: int = i) -> None:
                    obj["metadata"].setdefault("annotations", {})["bench/seq"] = str(i)
                    obj["metadata"]["annotations"]["bench/sent"] = repr(time.time())

            for _attempt in range(100):
                try:
                    twin.store.mutate(pod_type, ns, name, change, subresource=subresource)
                    break
                except ApiError:  # deleted by the operator under test: touch the next pod
                    missing += 1
                    if subresource:
                        break
                    cursor[0] += 1
                    ns, name = names[cursor[0] % len(names)]
            if rate:
                delay = started + (i + 1) / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif i % 200 == 199:
                await asyncio.sleep(0)
        elapsed = time.perf_counter() - started
        return JSONResponse({"n": n, "seconds": elapsed, "missing": missing})

    async def latency(_: Request) -> JSONResponse:
        rows = []
        for (ns, name), sent in faults.items():
            got = arrivals.first.get(("GET", ns, name))
            deleted = arrivals.first.get(("DELETE", ns, name))
            rows.append({
                "pod": f"{ns}/{name}",
                "sent_wall": faults_wall[(ns, name)],
                "get_s": None if got is None else got - sent,
                "delete_s": None if deleted is None else deleted - sent,
            })  # fmt: skip
        return JSONResponse({"faults": rows})

    async def stats(_: Request) -> JSONResponse:
        return JSONResponse({"load_seconds": load_s, "rv": twin.store.resource_version})

    app = Starlette(
        routes=[
            Route("/bench/churn", churn, methods=["POST"]),
            Route("/bench/latency", latency),
            Route("/bench/stats", stats),
            Mount("/", app=create_app(twin)),
        ]
    )
    arrivals = Arrivals(app, faults)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(arrivals, lifespan="off", log_level="warning", access_log=False)
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

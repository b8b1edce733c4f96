"""Queries and Prometheus time for right-sizing 10,000 pods: batched against one query per pod.

    .venv/bin/python bench/finops_queries.py --out finops-queries.json

Backfills synthetic cAdvisor + kube-state-metrics history for `--pods` pods (one container
each, spread over `--namespaces` namespaces; `--hours` of samples every `--interval` seconds,
kube-state-metrics every 5 minutes) with `promtool tsdb create-blocks-from openmetrics`,
starts a real Prometheus 2.42 on it, then fetches the same facts twice:

* **batched** — `kubeheal.finops.collect.collect`: one count query, then per batch of at most
  `--max-series` containers the memory-peak, CPU and start-time range queries and the OOM,
  resources and owner instant queries, plus ReplicaSet owners and HPAs per namespace set;
* **per pod** — the same six expressions with a ``namespace="...",pod="..."`` selector, one
  pod after another (what tools that query per object do). `--per-pod-sample N` measures N
  random pods and extrapolates linearly to all (0 = measure every pod).

Reports requests, seconds spent in HTTP calls to Prometheus (client side, includes
Prometheus' evaluation and the transfer) and wall time for both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from kubeheal.clients.prometheus import PrometheusClient
from kubeheal.finops.collect import CollectOptions, collect
from kubeheal.finops.queries import (
    choose_step,
    cpu_expr,
    memory_peak_expr,
    oom_expr,
    owners_expr,
    per_pod_selector,
    resources_expr,
    starts_expr,
)
from kubeheal.twin.promstack import PromStack, find_binaries

MI = 2**20
ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def pod_names(pods: int, namespaces: int) -> list[tuple[str, str, str]]:
    """(namespace, deployment, pod) with Deployment-style pod names (deterministic)."""
    rng = random.Random(42)
    out = []
    for i in range(pods):
        ns = f"team-{i % namespaces:02d}"
        deploy = f"svc-{(i // namespaces) // 5:04d}"
        rs_hash = "".join(rng.choice(ALPHABET) for _ in range(9))
        suffix = "".join(rng.choice(ALPHABET) for _ in range(5))
        out.append((ns, deploy, f"{deploy}-{rs_hash}-{suffix}"))
    return out


def write_history(
    path: Path, pods: list[tuple[str, str, str]], *, end: float, hours: float, interval: float
) -> int:
    start = end - hours * 3600
    steps = int(hours * 3600 / interval)
    lines = 0
    rng = np.random.default_rng(7)
    with path.open("w") as out:
        for ns, deploy, pod in pods:
            rs = pod.rsplit("-", 1)[0]
            c = f'namespace="{ns}",pod="{pod}",container="app"'
            base = float(rng.uniform(64, 900)) * MI
            cores = float(rng.uniform(0.01, 1.0))
            noise = rng.normal(1.0, 0.05, steps + 1)
            cpu_total = 0.0
            started = start - 3600
            chunk = []
            for i in range(steps + 1):
                t = int(start + i * interval)
                cpu_total += cores * noise[i] * interval
                chunk.append(
                    f"container_memory_working_set_bytes{{{c}}} {base * noise[i]:.0f} {t}\n"
                    f"container_cpu_usage_seconds_total{{{c}}} {cpu_total:.2f} {t}\n"
                    f"container_start_time_seconds{{{c}}} {started:.0f} {t}\n"
                )
                if i % max(1, int(300 / interval)) == 0:
                    chunk.append(
                        f'kube_pod_owner{{namespace="{ns}",pod="{pod}",owner_kind="ReplicaSet",'
                        f'owner_name="{rs}",owner_is_controller="true"}} 1 {t}\n'
                        f'kube_replicaset_owner{{namespace="{ns}",replicaset="{rs}",'
                        f'owner_kind="Deployment",owner_name="{deploy}"}} 1 {t}\n'
                        f'kube_pod_container_resource_requests{{{c},resource="cpu",unit="core"}}'
                        f" 1 {t}\n"
                        f'kube_pod_container_resource_requests{{{c},resource="memory",'
                        f'unit="byte"}} {2**30} {t}\n'
                    )
                    lines += 4
                lines += 3
            out.write("".join(chunk))
        out.write("# EOF\n")
    return lines


async def batched(url: str, *, end: float, history: float, max_series: int) -> dict[str, Any]:
    async with PrometheusClient(url, timeout=600.0) as client:
        started = time.perf_counter()
        result = await collect(
            client, CollectOptions(history=history, end=end, max_series=max_series)
        )
        wall = time.perf_counter() - started
        return {
            "requests": client.stats.requests,
            "queries": result.queries,
            "batches": len(result.batches),
            "containers": sum(len(h.pods) for h in result.histories),
            "prometheus_seconds": round(client.stats.seconds, 2),
            "wall_seconds": round(wall, 2),
            "problems": list(result.problems),
        }


async def per_pod(
    url: str,
    pods: list[tuple[str, str, str]],
    *,
    end: float,
    history: float,
    sample: int,
) -> dict[str, Any]:
    step = choose_step(history)
    start = end - history
    chosen = pods if sample <= 0 or sample >= len(pods) else random.Random(1).sample(pods, sample)
    async with PrometheusClient(url, timeout=600.0) as client:
        started = time.perf_counter()
        for ns, _, pod in chosen:
            sel = per_pod_selector(ns, pod)
            for expr in (memory_peak_expr, cpu_expr, starts_expr):
                await client.query_range(expr(sel, step=step), start=start, end=end, step=step)
            await client.query(oom_expr(sel, history=history, step=step), at=end)
            await client.query(resources_expr(sel), at=end)
            await client.query(owners_expr(sel, history=history, step=step), at=end)
        wall = time.perf_counter() - started
        factor = len(pods) / len(chosen)
        return {
            "measured_pods": len(chosen),
            "requests_measured": client.stats.requests,
            "prometheus_seconds_measured": round(client.stats.seconds, 2),
            "wall_seconds_measured": round(wall, 2),
            "requests": round(client.stats.requests * factor),
            "prometheus_seconds": round(client.stats.seconds * factor, 1),
            "wall_seconds": round(wall * factor, 1),
            "extrapolated": factor != 1.0,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--namespaces", type=int, default=20)
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--max-series", type=int, default=500)
    parser.add_argument("--per-pod-sample", type=int, default=0, help="0: every pod")
    parser.add_argument("--out", type=Path, default=Path("finops-queries.json"))
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="finops-queries-"))
    end = float(int(time.time() // 60 * 60) - 600)
    history = args.hours * 3600
    pods = pod_names(args.pods, args.namespaces)
    results: dict[str, Any] = {"params": vars(args) | {"out": str(args.out)}}
    try:
        t = time.perf_counter()
        om = workdir / "history.om"
        results["openmetrics_lines"] = write_history(
            om, pods, end=end, hours=args.hours, interval=args.interval
        )
        results["generate_seconds"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        data = workdir / "data"
        subprocess.run(
            [
                find_binaries().promtool,
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                str(om),
                str(data),
            ],
            check=True,
            capture_output=True,
            timeout=3600,
        )
        om.unlink()
        results["backfill_seconds"] = round(time.perf_counter() - t, 1)
        stack = PromStack(workdir / "prom", data_dir=data)
        stack.start(wait_alertmanager=False)
        try:
            # warm the page cache and the index once, so neither approach pays for it alone
            asyncio.run(
                batched(stack.prometheus_url, end=end, history=history, max_series=args.max_series)
            )
            results["batched"] = asyncio.run(
                batched(stack.prometheus_url, end=end, history=history, max_series=args.max_series)
            )
            results["per_pod"] = asyncio.run(
                per_pod(
                    stack.prometheus_url, pods, end=end, history=history, sample=args.per_pod_sample
                )
            )
        finally:
            stack.stop()
        b, p = results["batched"], results["per_pod"]
        results["ratio"] = {
            "requests": round(p["requests"] / max(b["requests"], 1), 1),
            "prometheus_seconds": round(
                p["prometheus_seconds"] / max(b["prometheus_seconds"], 1e-9), 1
            ),
        }
        args.out.write_text(json.dumps(results, indent=2))
        print(
            f"| approach | requests | seconds in Prometheus calls | wall seconds |\n"
            f"|---|---|---|---|\n"
            f"| batched ({b['batches']} batches of <= {args.max_series}) | {b['requests']} | "
            f"{b['prometheus_seconds']} | {b['wall_seconds']} |\n"
            f"| one query per pod{' (extrapolated)' if p['extrapolated'] else ''} | "
            f"{p['requests']} | {p['prometheus_seconds']} | {p['wall_seconds']} |"
        )
        print(json.dumps({k: v for k, v in results.items() if k != "params"}))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

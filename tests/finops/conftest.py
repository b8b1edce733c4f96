"""Fixtures for the FinOps tests: synthetic cAdvisor + kube-state-metrics history, and a real
Prometheus started on it (backfilled with promtool)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubeheal.twin.promstack import PromStack, PromStackError, backfill, find_binaries

MI = 2**20
INTERVAL = 60.0
DAYS = 2.0


@dataclass(frozen=True)
class History:
    """What was written: the window end and facts the tests check against."""

    end: float
    start: float
    web_spike_bytes: float
    api_startup_peak_bytes: float
    api_oom_limit_bytes: float


def _labels(**kv: str) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in kv.items()) + "}"


def synthetic_openmetrics(end: float) -> tuple[str, History]:
    """Two days of one-minute samples for four namespaces' pods (deterministic).

    * shop/web (Deployment via ReplicaSet web-7d9f8c6b5): 2 pods, steady ~200Mi and 0.2 cores,
      one 2-minute spike to 400Mi; started before the window; requests 1 CPU / 1Gi, limit 1Gi.
    * shop/api (Deployment, HPA at 50% CPU, min 2): 2 pods replaced mid-window; each new
      container peaks at 600Mi for its first 2 minutes; the old pods were OOM-killed at a
      512Mi limit; requests 500m / 768Mi, limit 768Mi.
    * noksm/batchy: cAdvisor series only (no kube-state-metrics).
    * young/fresh: one pod with three hours of history.
    """
    start = end - DAYS * 86400
    lines: list[str] = []
    steps = int(DAYS * 86400 / INTERVAL)
    spike_at = start + 30 * 3600
    rollout = start + 26 * 3600

    def container(
        ns: str,
        pod: str,
        name: str,
        *,
        t0: float,
        t1: float,
        started: float,
        mem: float,
        cpu: float,
        spike: tuple[float, float, float] | None = None,
        startup_peak: float = 0.0,
    ) -> None:
        cpu_total = 0.0
        base = _labels(namespace=ns, pod=pod, container=name, id=f"/kubepods/{pod}/{name}")
        for i in range(steps + 1):
            t = start + i * INTERVAL
            if t < t0 or t > t1:
                continue
            wobble = 1 + 0.05 * math.sin(i / 37.0) + 0.03 * math.sin(i / 5.0)
            value = mem * wobble
            if spike and spike[0] <= t < spike[1]:
                value = spike[2]
            if startup_peak and t - started < 120:
                value = startup_peak
            cpu_total += cpu * wobble * INTERVAL
            lines.append(f"container_memory_working_set_bytes{base} {value:.0f} {t:.0f}")
            lines.append(f"container_cpu_usage_seconds_total{base} {cpu_total:.3f} {t:.0f}")
            lines.append(f"container_start_time_seconds{base} {started:.0f} {t:.0f}")

    def ksm(
        ns: str,
        pod: str,
        name: str,
        rs: str,
        deploy: str,
        *,
        t0: float,
        t1: float,
        requests: dict[str, float],
        limits: dict[str, float],
        oom: bool = False,
    ) -> None:
        owner = _labels(
            namespace=ns,
            pod=pod,
            uid=f"uid-{pod}",
            owner_kind="ReplicaSet",
            owner_name=rs,
            owner_is_controller="true",
        )
        rs_owner = _labels(
            namespace=ns,
            replicaset=rs,
            owner_kind="Deployment",
            owner_name=deploy,
            owner_is_controller="true",
        )
        for i in range(0, steps + 1, 5):
            t = start + i * INTERVAL
            if t < t0 or t > t1:
                continue
            lines.append(f"kube_pod_owner{owner} 1 {t:.0f}")
            lines.append(f"kube_replicaset_owner{rs_owner} 1 {t:.0f}")
            for kind, values in (("requests", requests), ("limits", limits)):
                for resource, value in values.items():
                    unit = "core" if resource == "cpu" else "byte"
                    lbl = _labels(
                        namespace=ns,
                        pod=pod,
                        uid=f"uid-{pod}",
                        container=name,
                        node="worker-1",
                        resource=resource,
                        unit=unit,
                    )
                    lines.append(f"kube_pod_container_resource_{kind}{lbl} {value} {t:.0f}")
            if oom:
                lbl = _labels(
                    namespace=ns, pod=pod, uid=f"uid-{pod}", container=name, reason="OOMKilled"
                )
                lines.append(f"kube_pod_container_status_last_terminated_reason{lbl} 1 {t:.0f}")

    # shop/web
    for pod in ("web-7d9f8c6b5-abcde", "web-7d9f8c6b5-fghij"):
        container(
            "shop",
            pod,
            "app",
            t0=start,
            t1=end,
            started=start - 86400,
            mem=200 * MI,
            cpu=0.2,
            spike=(spike_at, spike_at + 120, 400 * MI) if pod.endswith("abcde") else None,
        )
        ksm(
            "shop",
            pod,
            "app",
            "web-7d9f8c6b5",
            "web",
            t0=start,
            t1=end,
            requests={"cpu": 1, "memory": 1024 * MI},
            limits={"memory": 1024 * MI},
        )
    # shop/api: old pods (OOM-killed once at 512Mi), replaced at `rollout`
    for pod in ("api-5c6d7e8f9-klmno", "api-5c6d7e8f9-pqrst"):
        container(
            "shop", pod, "app", t0=start, t1=rollout, started=start - 3600, mem=300 * MI, cpu=0.1
        )
        ksm(
            "shop",
            pod,
            "app",
            "api-5c6d7e8f9",
            "api",
            t0=start,
            t1=rollout,
            requests={"cpu": 0.5, "memory": 512 * MI},
            limits={"memory": 512 * MI},
            oom=True,
        )
    for pod in ("api-6b7c8d9f2-uvwxy", "api-6b7c8d9f2-zabcd"):
        container(
            "shop",
            pod,
            "app",
            t0=rollout,
            t1=end,
            started=rollout,
            mem=300 * MI,
            cpu=0.1,
            startup_peak=600 * MI,
        )
        ksm(
            "shop",
            pod,
            "app",
            "api-6b7c8d9f2",
            "api",
            t0=rollout,
            t1=end,
            requests={"cpu": 0.5, "memory": 768 * MI},
            limits={"memory": 768 * MI},
        )
    hpa = _labels(namespace="shop", horizontalpodautoscaler="api")
    for i in range(0, steps + 1, 5):
        t = start + i * INTERVAL
        info = _labels(
            namespace="shop",
            horizontalpodautoscaler="api",
            scaletargetref_api_version="apps/v1",
            scaletargetref_kind="Deployment",
            scaletargetref_name="api",
        )
        lines.append(f"kube_horizontalpodautoscaler_info{info} 1 {t:.0f}")
        target = _labels(
            namespace="shop",
            horizontalpodautoscaler="api",
            metric_name="cpu",
            metric_target_type="utilization",
        )
        lines.append(f"kube_horizontalpodautoscaler_spec_target_metric{target} 50 {t:.0f}")
        lines.append(f"kube_horizontalpodautoscaler_spec_min_replicas{hpa} 2 {t:.0f}")
        lines.append(f"kube_horizontalpodautoscaler_spec_max_replicas{hpa} 10 {t:.0f}")
        lines.append(f"kube_horizontalpodautoscaler_status_current_replicas{hpa} 2 {t:.0f}")
    # noksm/batchy: cAdvisor only
    container(
        "noksm",
        "batchy-6f7b9c8d4-qwert",
        "worker",
        t0=start,
        t1=end,
        started=start - 600,
        mem=100 * MI,
        cpu=0.05,
    )
    # young/fresh: three hours only
    container(
        "young",
        "fresh-7c8d9b6f5-zxcvb",
        "app",
        t0=end - 3 * 3600,
        t1=end,
        started=end - 3 * 3600,
        mem=64 * MI,
        cpu=0.01,
    )
    ksm(
        "young",
        "fresh-7c8d9b6f5-zxcvb",
        "app",
        "fresh-7c8d9b6f5",
        "fresh",
        t0=end - 3 * 3600,
        t1=end,
        requests={"cpu": 0.1, "memory": 128 * MI},
        limits={"memory": 128 * MI},
    )
    facts = History(
        end=end,
        start=start,
        web_spike_bytes=400 * MI,
        api_startup_peak_bytes=600 * MI,
        api_oom_limit_bytes=512 * MI,
    )
    return "\n".join(lines) + "\n# EOF\n", facts


@dataclass(frozen=True)
class FinopsProm:
    url: str
    history: History


@pytest.fixture(scope="module")
def finops_prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FinopsProm]:
    """A real Prometheus 2.42 serving two days of backfilled synthetic history."""
    try:
        find_binaries()
    except PromStackError as e:
        pytest.fail(str(e), pytrace=False)
    workdir: Path = tmp_path_factory.mktemp("finops-prom")
    end = float(int(time.time() // 60 * 60) - 600)
    text, facts = synthetic_openmetrics(end)
    data_dir = backfill(text, data_dir=workdir / "data")
    stack = PromStack(workdir, data_dir=data_dir)
    stack.start(wait_alertmanager=False)
    try:
        yield FinopsProm(url=stack.prometheus_url, history=facts)
    finally:
        stack.stop()

"""Traffic generator and usage model: counters, CPU saturation, the bookinfo call graph."""

from __future__ import annotations

import copy
from typing import Any

from kubeheal.twin.clock import ManualClock
from kubeheal.twin.scenarios import load_scenario
from kubeheal.twin.sim.faults import FaultInjector, FaultSpec
from kubeheal.twin.sim.loop import Simulation
from kubeheal.twin.sim.node_side import node_controllers
from kubeheal.twin.sim.state import LATENCY_BUCKETS, PodRuntime, RuntimeState
from kubeheal.twin.sim.workloads import (
    DailyPattern,
    Profile,
    latency_factor,
    lognormal_cdf,
)
from kubeheal.twin.store import ObjectStore

Obj = dict[str, Any]


class Cluster:
    """A scenario with its Deployments' pods created directly on the workers (no scheduler)."""

    def __init__(self, scenario: str) -> None:
        self.clock = ManualClock(1_790_000_000.0)
        self.store = ObjectStore(clock=self.clock, seed=3)
        loaded = load_scenario(scenario)
        self.profiles = loaded.profiles
        self.store.load(loaded.objects)  # no deployment controller here: pods made below
        self.runtime = RuntimeState()
        self.faults = FaultInjector(
            store=self.store, runtime=self.runtime, clock=self.clock, profiles=self.profiles
        )
        self.sim = Simulation(
            store=self.store,
            clock=self.clock,
            controllers=node_controllers(
                store=self.store, runtime=self.runtime, profiles=self.profiles, seed=3
            ),
        )
        pods = self.store.rtype("", "v1", "pods")
        workers = ["worker-1", "worker-2"]
        n = 0
        for deploy in loaded.of_kind("Deployment"):
            for i in range(int(deploy["spec"].get("replicas", 1))):
                template = copy.deepcopy(deploy["spec"]["template"])
                template["metadata"]["name"] = f"{deploy['metadata']['name']}-{i}"
                template["metadata"]["namespace"] = deploy["metadata"]["namespace"]
                template["spec"]["nodeName"] = workers[n % 2]
                n += 1
                self.store.create(pods, template)

    def pod_rt(self, prefix: str) -> list[PodRuntime]:
        return sorted(
            (p for p in self.runtime.pods.values() if p.name.startswith(prefix)),
            key=lambda p: p.name,
        )


def total(prt: PodRuntime) -> float:
    return sum(prt.requests_total.values())


def test_traffic_reaches_ready_pods_and_counters_grow() -> None:
    c = Cluster("sample-app")
    c.sim.run_for(60)
    pods = c.pod_rt("sample-app")
    assert len(pods) == 3
    before = [total(p) for p in pods]
    assert all(b > 0 for b in before)
    c.sim.run_for(30)
    after = [total(p) for p in pods]
    offered = 30 * DailyPattern(amplitude=0.3, peak_hour=14).factor(c.clock.now())
    served = sum(a - b for a, b in zip(after, before, strict=True)) / 30
    assert abs(served - offered) / offered < 0.1
    for p in pods:
        assert p.current_rps > 0
        assert 0.02 < p.current_latency_p50 < 0.05
        assert p.latency_bucket_counts[-1] == total(p)
        # cumulative histogram: non-decreasing
        counts = p.latency_bucket_counts
        assert all(counts[i] <= counts[i + 1] + 1e-9 for i in range(len(LATENCY_BUCKETS)))
        app = p.containers["app"]
        assert app.cpu_cores > 0.005
        assert app.cpu_seconds_total > 0
        assert app.memory_working_set_bytes > 96 * 2**20
        assert app.network_rx_bytes_total > 0
        assert any("listening" in line for line in app.logs)
    node = c.runtime.nodes["worker-1"]
    assert 0 < node.memory_available_bytes < node.memory_total_bytes
    assert node.cpu_seconds_total["user"] > 0


def test_latency_grows_under_cpu_saturation() -> None:
    c = Cluster("sample-app")
    c.sim.run_for(60)
    calm = c.pod_rt("sample-app")[0].current_latency_p50
    c.faults.inject(
        FaultSpec(
            kind="cpu-hog",
            target={"namespace": "demo", "deployment": "sample-app"},
            params={"cores": 0.48},
        )
    )
    c.sim.run_for(5)
    hot = c.pod_rt("sample-app")[0]
    assert hot.containers["app"].cpu_cores <= 0.5  # capped at the CPU limit
    assert hot.current_latency_p50 > 5 * calm
    assert latency_factor(0.5) < latency_factor(0.9) < latency_factor(1.5)


def test_error_burst_and_latency_spike() -> None:
    c = Cluster("sample-app")
    c.sim.run_for(60)
    fid = c.faults.inject(
        FaultSpec(
            kind="error-burst",
            target={"namespace": "demo", "labels": {"app": "sample-app"}},
            params={"error_rate": 0.5, "status": "503"},
        )
    )
    c.sim.run_for(20)
    pod = c.pod_rt("sample-app")[0]
    assert 0.45 < pod.current_error_rate < 0.55
    assert pod.requests_total["503"] > 100
    c.faults.clear(fid)
    c.faults.inject(
        FaultSpec(
            kind="latency-spike",
            target={"namespace": "demo", "deployment": "sample-app"},
            params={"latency_ms": 800},
        )
    )
    c.sim.run_for(5)
    assert c.pod_rt("sample-app")[0].current_latency_p50 > 0.8


def test_bookinfo_dependencies_show_in_productpage() -> None:
    c = Cluster("bookinfo")
    c.sim.run_for(90)
    productpage = c.pod_rt("productpage")[0]
    ratings = c.pod_rt("ratings")[0]
    reviews = {p.name: p for p in c.pod_rt("reviews")}
    assert productpage.current_rps > 15
    # reviews v1 does not call ratings; v2 and v3 do: ratings gets 2/3 of productpage's load
    assert abs(ratings.current_rps - productpage.current_rps * 2 / 3) < 1.0
    assert abs(sum(p.current_rps for p in reviews.values()) - productpage.current_rps) < 0.5
    baseline = productpage.current_latency_p50
    assert baseline > reviews["reviews-v1-0"].current_latency_p50
    c.faults.inject(
        FaultSpec(
            kind="latency-spike",
            target={"namespace": "bookinfo", "deployment": "ratings-v1"},
            params={"latency_ms": 2000},
        )
    )
    c.sim.run_for(5)
    assert productpage.current_latency_p50 > baseline + 1.0
    c.faults.inject(
        FaultSpec(
            kind="error-burst",
            target={"namespace": "bookinfo", "deployment": "details-v1"},
            params={"error_rate": 1.0},
        )
    )
    c.sim.run_for(5)
    assert productpage.current_error_rate > 0.99
    assert reviews["reviews-v1-0"].current_error_rate < 0.01


def test_traffic_spike_multiplies_load() -> None:
    c = Cluster("sample-app")
    c.sim.run_for(60)
    rps = sum(p.current_rps for p in c.pod_rt("sample-app"))
    c.faults.inject(
        FaultSpec(
            kind="traffic-spike",
            target={"namespace": "demo", "service": "sample-app"},
            params={"multiplier": 4},
            duration=10,
        )
    )
    c.sim.run_for(2)
    spiked = sum(p.current_rps for p in c.pod_rt("sample-app"))
    assert 3.3 * rps < spiked < 4.7 * rps
    c.sim.run_for(10)
    assert sum(p.current_rps for p in c.pod_rt("sample-app")) < 1.5 * rps


def test_model_functions() -> None:
    assert abs(lognormal_cdf(0.02, 0.02, 0.5) - 0.5) < 1e-9
    assert lognormal_cdf(1.0, 0.02, 0.5) > 0.99
    assert Profile().crashes_with("nginx:crash-1")
    assert Profile(crash_images=["example/app:2.*"]).crashes_with("example/app:2.0")
    assert not Profile().crashes_with("nginx:1.27")

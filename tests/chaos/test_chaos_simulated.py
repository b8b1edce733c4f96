"""The game day's newer faults reach the twin as its own fault kinds, and an experiment's
result carries the replica-outage its Deployments suffered (sampled from the twin)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubeheal.chaos.errors import UnsupportedFault
from kubeheal.chaos.faults import FaultDriver
from kubeheal.chaos.runner import ExperimentRunner
from kubeheal.chaos.sampling import OutageSampler, from_kube
from kubeheal.chaos.spec import parse_experiment

READY = {"name": "ready", "kubernetes": {"workload": {"namespace": "demo", "name": "sample-app"}}}
TARGET = {"namespace": "demo", "deployment": "sample-app"}


def _experiment(*method: dict[str, Any], **settings: Any) -> Any:
    return parse_experiment(
        {"name": "sim", "steady_state": [READY], "method": list(method), "settings": settings}
    )


async def test_simulated_faults_become_the_twins_fault_kinds(chaos_twin: Any) -> None:
    method = [
        {"name": "hang", "fault": "pod-hang", "target": TARGET, "after": "15s"},
        {"name": "errors", "fault": "pod-http-errors", "target": TARGET, "error_rate": 0.6},
        {
            "name": "traffic",
            "fault": "traffic-spike",
            "service": "sample-app",
            "target": {"namespace": "demo", "labels": {"app": "sample-app"}},
            "multiplier": 4,
        },
        {"name": "disk", "fault": "node-disk-pressure", "target": {"name": "worker-1"}},
        {"name": "kubelet", "fault": "node-not-ready", "target": {"name": "worker-2"}},
    ]
    async with chaos_twin("sample-app") as kit:
        experiment = _experiment(*method)
        driver = FaultDriver(
            experiment=experiment, kube=kit.writer, simulator=kit.env.simulator, clock=kit.env.clock
        )
        injections = [await driver.inject(f) for f in experiment.method]
        active = {f.spec.kind: f.spec for f in kit.twin.faults.active()}
        assert set(active) == {
            "hang",
            "error-burst",
            "traffic-spike",
            "node-disk-pressure",
            "node-not-ready",
        }
        assert active["hang"].params == {"after_seconds": 15.0}
        assert active["error-burst"].params == {"error_rate": 0.6, "status": "500"}
        assert active["traffic-spike"].target.service == "sample-app"
        assert active["node-not-ready"].target.node == "worker-2"
        assert active["hang"].target.deployment == "sample-app"
        # the pods' owner is the fault's target (the outage scope)
        assert ("Deployment", "demo", "sample-app") in {
            (t.kind, t.namespace, t.name) for t in injections[0].targets
        }
        for injection in injections:
            assert injection.undo is not None
            await injection.undo()
        assert kit.twin.faults.active() == []


async def test_simulated_only_faults_are_refused_without_the_twin(chaos_twin: Any) -> None:
    async with chaos_twin("sample-app") as kit:
        experiment = _experiment(
            {"name": "kubelet", "fault": "node-not-ready", "target": {"name": "worker-2"}}
        )
        driver = FaultDriver(
            experiment=experiment, kube=kit.writer, simulator=None, clock=kit.env.clock
        )
        with pytest.raises(UnsupportedFault, match="simulated by the cluster twin only"):
            await driver.resolve(experiment.method[0])


async def test_an_image_pull_error_is_measured_in_replica_outage_seconds(chaos_twin: Any) -> None:
    async with chaos_twin("sample-app") as kit:
        experiment = _experiment(
            {
                "name": "pull",
                "fault": "image-pull-error",
                "target": {"namespace": "demo", "name": "sample-app"},
                "duration": "40s",
            },
            probe_interval="5s",
            stable_for="10s",
            observe_after="120s",
        )
        sampler = OutageSampler(
            read=from_kube(kit.writer), clock=kit.env.clock, sleep=kit.env.sleep
        )
        kit.env.outages = sampler
        sampling = asyncio.ensure_future(sampler.run())
        try:
            journal = await ExperimentRunner(experiment, kit.env).run()
        finally:
            sampling.cancel()
            with pytest.raises(asyncio.CancelledError):
                await sampling
        image = kit.deployment("demo", "sample-app")["spec"]["template"]["spec"]["containers"][0]
        assert "missing" not in image["image"]  # the undo restored it
        (result,) = journal.results
        # nobody heals: the new ReplicaSet's pods never pull, so its replicas count as missing
        # until the undo rolls the old image back
        assert result.outage_s is not None and result.outage_s > 0, result
        assert result.peak_missing >= 1
        assert result.outage_recovered_s is not None and result.outage_recovered_s >= 40
        data = journal.to_dict()["faults"][0]
        assert data["outage_s"] == round(result.outage_s, 1)
        assert data["escalated_after_s"] is None
        assert set(data["outage_by_deployment"]) == {"demo/sample-app"}

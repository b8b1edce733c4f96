"""In the twin, a memory leak is predicted and the predictive playbook prevents the OOM kill.

The operator runs against the twin (accelerated clock); kubeheal's `AnomalySource` polls the
twin's /metrics exposition through `TwinScrape` (bench/twin_leak_bench.py: a stand-in for
Prometheus' query_range over the two memory families) and submits its Forecast signals to
the operator, exactly as it would with Prometheus.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from kubeheal.cli.harness import running_harness
from kubeheal.runtime.anomaly_source import AnomalySource
from kubeheal.store import records as rec
from kubeheal.twin.sim.faults import FaultSpec

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from twin_leak_bench import TwinScrape, first_oom, memory_settings

SPEED = 20.0
LEAK = 512 * 1024  # bytes/s: 96Mi -> the 256Mi limit in ~5 min of container uptime


@pytest.mark.slow
async def test_leak_is_predicted_and_the_limit_raised_before_any_oom_kill() -> None:
    events: list[Any] = []
    async with running_harness(
        scenario="sample-app", speed=SPEED, sweep_interval=0.3, on_event=events.append
    ) as h:
        twin = h.twin
        assert twin.faults is not None
        twin.faults.inject(
            FaultSpec.model_validate(
                {
                    "kind": "memory-leak",
                    "target": {"namespace": "demo", "deployment": "sample-app"},
                    "params": {"bytes_per_second": LEAK},
                }
            )
        )

        def started() -> list[float]:
            return [
                c.started_at
                for p in list(twin.runtime.pods.values())
                for c in list(p.containers.values())
                if c.started_at is not None
            ]

        wait_until = time.monotonic() + 30
        while len(started()) < 3:  # sample-app's three replicas
            assert time.monotonic() < wait_until, "sample-app's containers did not start"
            await asyncio.sleep(0.1)
        # without remediation the first container reaches its limit at this cluster time
        oom_due = min(started()) + (256 - 96) * 2**20 / LEAK
        settings = memory_settings().model_copy(update={"forecast_window": timedelta(minutes=10)})
        scrape = TwinScrape(twin)
        source = AnomalySource(
            settings=settings, querier=scrape, sink=h.operator, wall=twin.clock.now
        )
        forecasts = 0
        deadline = time.monotonic() + 60
        while twin.clock.now() < oom_due + 45:
            assert time.monotonic() < deadline, "the cluster clock did not advance"
            scrape.scrape()
            report = await source.poll_once(now=twin.clock.now())
            forecasts += len(report.forecasts)
            assert not first_oom(twin), "a container was OOM-killed"
            await asyncio.sleep(0.25)

        assert forecasts >= 1
        raises = [
            a
            for a in h.ledger.actions_since(h.now() - timedelta(days=1))
            if a.action == "raise_memory_limit" and a.state is rec.ActionState.SUCCEEDED
        ]
        assert raises, "\n".join(f"{e.kind} {e.message}" for e in events)
        dep = twin.store.get(twin.store.rtype("apps", "v1", "deployments"), "demo", "sample-app")
        limits = dep["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert limits["memory"] == "384Mi"
        incidents = h.ledger.list_incidents(since=h.now() - timedelta(days=1), until=h.now())
        assert any(i.playbook == "oom-predicted-raise-memory" for i in incidents)
        assert not first_oom(twin)

"""The generated rules in a real Prometheus scraping the cluster twin."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any

import pytest

from kubeheal.monitoring import MonitoringConfig, rule_file_texts
from kubeheal.twin.clock import WallClock
from kubeheal.twin.cluster import build_twin
from kubeheal.twin.promstack import PromStack
from kubeheal.twin.server import serve_in_thread
from kubeheal.twin.sim.faults import FaultSpec
from support import until_sync


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())["data"]


def _query(stack: PromStack, expr: str) -> list[dict[str, Any]]:
    params = urllib.parse.urlencode({"query": expr})
    result: list[dict[str, Any]] = _get(f"{stack.prometheus_url}/api/v1/query?{params}")["result"]
    return result


def _alerts(stack: PromStack, name: str) -> list[dict[str, Any]]:
    alerts = _get(f"{stack.prometheus_url}/api/v1/alerts")["alerts"]
    return [a for a in alerts if a["labels"]["alertname"] == name]


@pytest.mark.slow
def test_latency_spike_in_the_twin_fires_high_latency_for_its_deployment(
    promstack: PromStack,
) -> None:
    twin = build_twin(scenario="sample-app", clock=WallClock(speed=5), seed=5)
    assert twin.faults is not None
    with serve_in_thread(twin, tick=0.05) as url:
        promstack.configure(
            scrape_targets=[url],
            rule_files=rule_file_texts(MonitoringConfig.fast()),
            wait_alertmanager=False,
        )
        # the pod -> Deployment mapping and the per-workload request rate work on real series
        until_sync(
            lambda: _query(
                promstack, 'namespace_workload:http_requests:rate10s{deployment="sample-app"} > 0'
            ),
            timeout=30,
            what="sample-app's request rate",
            every=0.25,
        )
        assert _alerts(promstack, "HighLatency") == []

        twin.faults.inject(
            FaultSpec.model_validate(
                {
                    "kind": "latency-spike",
                    "target": {"namespace": "demo", "deployment": "sample-app"},
                    "params": {"latency_ms": 1000},
                }
            )
        )
        firing = until_sync(
            lambda: [a for a in _alerts(promstack, "HighLatency") if a["state"] == "firing"],
            timeout=20,
            what="HighLatency to fire",
            every=0.25,
        )
        twin.faults.clear_all()
    labels = firing[0]["labels"]
    assert labels["namespace"] == "demo" and labels["deployment"] == "sample-app"
    assert labels["instance"] == "demo/sample-app"
    assert labels["kubeheal"] == "remediate" and labels["severity"] == "warning"
    assert "pod" not in labels

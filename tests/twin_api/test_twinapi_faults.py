"""Fault injection on the API (errors, throttling, latency, watches) and the control endpoints."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kubeheal.twin.apifaults import ApiFaults, ApiFaultSettings


@pytest.fixture(scope="module")
def client(sample_app: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sample_app.url, timeout=10) as c:
        yield c


@pytest.fixture(autouse=True)
def _no_faults(client: httpx.Client) -> Iterator[None]:
    client.delete("/twin/faults/api")
    yield
    client.delete("/twin/faults/api")


def test_error_share_is_roughly_honoured_and_deterministic() -> None:
    def run(seed: int) -> list[int]:
        faults = ApiFaults(seed=seed, settings=ApiFaultSettings(error_rate=0.3, throttle_rate=0.1))
        codes = []
        for _ in range(2000):
            err = faults.decide("GET", "/api/v1/pods").error
            codes.append(0 if err is None else err.code)
        return codes

    codes = run(42)
    errors = sum(1 for c in codes if c in (500, 503)) / len(codes)
    throttled = codes.count(429) / len(codes)
    assert 0.26 < errors < 0.34 and 0.07 < throttled < 0.13
    assert {500, 503} <= set(codes)
    assert run(42) == codes  # same seed, same failures
    assert run(43) != codes


def test_exempt_paths_and_filters() -> None:
    faults = ApiFaults(settings=ApiFaultSettings(error_rate=1.0, verbs=("post",)))
    assert faults.decide("POST", "/twin/faults/api").error is None
    assert faults.decide("GET", "/metrics").error is None
    assert faults.decide("GET", "/api/v1/pods").error is None  # only POST is faulted
    assert faults.decide("POST", "/api/v1/namespaces/default/pods").error is not None
    with pytest.raises(ValueError, match="use 500 or 503"):
        ApiFaultSettings(error_codes=(404,))


def test_http_control_endpoint_sets_errors_with_retry_after(client: httpx.Client) -> None:
    resp = client.post(
        "/twin/faults/api", json={"error_rate": 1.0, "error_codes": [503], "retry_after_seconds": 7}
    )
    assert resp.status_code == 200 and resp.json()["settings"]["error_rate"] == 1.0
    failed = client.get("/api/v1/namespaces")
    assert failed.status_code == 503 and failed.headers["retry-after"] == "7"
    body = failed.json()
    assert body["kind"] == "Status" and body["reason"] == "ServiceUnavailable"
    assert body["details"]["retryAfterSeconds"] == 7
    assert client.get("/twin/status").status_code == 200  # control endpoints are exempt
    assert client.get("/metrics").status_code == 200
    client.delete("/twin/faults/api")
    assert client.get("/api/v1/namespaces").status_code == 200


def test_http_share_of_errors_over_many_requests(client: httpx.Client) -> None:
    client.post("/twin/faults/api", json={"error_rate": 0.25, "throttle_rate": 0.25})
    codes = [client.get("/api/v1/namespaces/demo/configmaps").status_code for _ in range(400)]
    errors = sum(1 for c in codes if c >= 500) / len(codes)
    throttled = codes.count(429) / len(codes)
    assert 0.15 < errors < 0.35 and 0.15 < throttled < 0.35
    snapshot = client.get("/twin/faults/api").json()
    assert snapshot["errorsInjected"] >= sum(1 for c in codes if c >= 500)


def test_latency_is_added(client: httpx.Client) -> None:
    client.post("/twin/faults/api", json={"latency_seconds": 0.2})
    started = time.monotonic()
    assert client.get("/api/v1/namespaces").status_code == 200
    assert time.monotonic() - started >= 0.2


def test_invalid_settings_are_rejected(client: httpx.Client) -> None:
    resp = client.post("/twin/faults/api", json={"error_rate": 2})
    assert resp.status_code == 400 and resp.json()["kind"] == "Status"
    resp = client.post("/twin/faults/api", content=b"{nope")
    assert resp.status_code == 400


def test_pod_faults_are_forwarded_to_the_injector(client: httpx.Client, sample_app: Any) -> None:
    spec = {
        "kind": "cpu-hog",
        "target": {"namespace": "demo", "deployment": "sample-app"},
        "params": {"cores": 1.5},
    }
    resp = client.post("/twin/faults", json=spec)
    assert resp.status_code == 201, resp.text
    fault_id = resp.json()["id"]
    listed = client.get("/twin/faults").json()["faults"]
    assert [f["id"] for f in listed] == [fault_id] and listed[0]["kind"] == "cpu-hog"
    assert client.delete(f"/twin/faults/{fault_id}").json() == {"cleared": fault_id}
    assert client.get("/twin/faults").json()["faults"] == []
    missing = client.delete(f"/twin/faults/{fault_id}")
    assert missing.status_code == 404 and missing.json()["kind"] == "Status"
    bad = client.post("/twin/faults", json={"kind": "cpu-hog"})
    assert bad.status_code == 400 and "needs target" in bad.json()["message"]
    ghost = client.post(
        "/twin/faults", json={**spec, "target": {"namespace": "demo", "deployment": "ghost"}}
    )
    assert ghost.status_code in (400, 404) and ghost.json()["kind"] == "Status"


def test_metrics_endpoint_serves_prometheus_text(client: httpx.Client) -> None:
    resp = client.get("/metrics")
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "kube_pod_status_phase" in resp.text


def test_status_endpoint(client: httpx.Client) -> None:
    status = client.get("/twin/status").json()
    assert status["scenario"] == "sample-app"
    assert "kubelet" in status["controllers"] and status["simulationSteps"] > 0
    assert status["objects"]["pods"] >= 3

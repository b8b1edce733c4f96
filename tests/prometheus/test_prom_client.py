"""PrometheusClient and AlertmanagerClient against httpx.MockTransport: parsing and errors."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
import numpy as np
import pytest

from kubeheal.clients.alertmanager import (
    AlertmanagerClient,
    AlertmanagerRequestError,
    AlertmanagerResponseError,
    AlertmanagerUnavailable,
    PostableAlert,
)
from kubeheal.clients.prometheus import (
    MAX_POINTS_PER_SERIES,
    PrometheusClient,
    PrometheusError,
    PrometheusQueryError,
    PrometheusResponseError,
    PrometheusUnavailable,
)

Handler = Callable[[httpx.Request], httpx.Response]


def prom(handler: Handler, **kwargs: Any) -> PrometheusClient:
    return PrometheusClient("http://prom.test", transport=httpx.MockTransport(handler), **kwargs)


def success(data: Any) -> httpx.Response:
    return httpx.Response(200, json={"status": "success", "data": data})


def form(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.content.decode())


# --- parsing --------------------------------------------------------------------------


async def test_query_vector_sends_form_and_parses_special_values() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return success(
            {
                "resultType": "vector",
                "result": [
                    {"metric": {"__name__": "up", "job": "a"}, "value": [1700000000.5, "1"]},
                    {"metric": {"job": "b"}, "value": [1700000000.5, "NaN"]},
                    {"metric": {"job": "c"}, "value": [1700000000.5, "+Inf"]},
                ],
            }
        )

    async with prom(handler) as client:
        samples = await client.query('up{job=~"a|b"}', at=1700000000.5)
    request = seen[0]
    assert request.method == "POST"
    assert request.url.path == "/api/v1/query"
    assert form(request) == {"query": ['up{job=~"a|b"}'], "time": ["1700000000.5"]}
    assert [s.labels for s in samples] == [
        {"__name__": "up", "job": "a"},
        {"job": "b"},
        {"job": "c"},
    ]
    assert samples[0].value == 1.0
    assert samples[0].timestamp == 1700000000.5
    assert math.isnan(samples[1].value)
    assert samples[2].value == math.inf


async def test_query_scalar_is_one_sample_with_empty_labels() -> None:
    async with prom(lambda r: success({"resultType": "scalar", "result": [17.0, "3.5"]})) as c:
        samples = await c.query("scalar(vector(3.5))")
    assert len(samples) == 1
    assert samples[0].labels == {}
    assert (samples[0].timestamp, samples[0].value) == (17.0, 3.5)


async def test_query_range_selector_flattens_points() -> None:
    data = {
        "resultType": "matrix",
        "result": [{"metric": {"a": "1"}, "values": [[1, "1"], [2, "2"]]}],
    }
    async with prom(lambda r: success(data)) as c:
        samples = await c.query("x[1m]")
    assert [(s.timestamp, s.value) for s in samples] == [(1.0, 1.0), (2.0, 2.0)]


async def test_rules_alerts_targets_and_tsdb_status_are_typed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v1/rules":
            assert request.url.params.get("type") == "alert"
            return success(
                {
                    "groups": [
                        {
                            "name": "g",
                            "file": "/r.yml",
                            "interval": 1,
                            "lastEvaluation": "2024-01-02T03:04:05.123456789Z",
                            "evaluationTime": 0.001,
                            "rules": [
                                {
                                    "type": "alerting",
                                    "name": "A",
                                    "query": "vector(1)",
                                    "duration": 2,
                                    "labels": {"severity": "page"},
                                    "annotations": {"summary": "s"},
                                    "state": "firing",
                                    "health": "ok",
                                    "lastError": "",
                                    "lastEvaluation": "0001-01-01T00:00:00Z",
                                    "evaluationTime": 0,
                                    "alerts": [
                                        {
                                            "labels": {"alertname": "A"},
                                            "annotations": {},
                                            "state": "firing",
                                            "activeAt": "2024-01-02T03:04:05Z",
                                            "value": "1e+00",
                                        }
                                    ],
                                }
                            ],
                        }
                    ]
                }
            )
        if path == "/api/v1/alerts":
            return success(
                {
                    "alerts": [
                        {
                            "labels": {"alertname": "B"},
                            "annotations": {"x": "y"},
                            "state": "pending",
                            "activeAt": "2024-01-02T03:04:05+00:00",
                            "value": "0.5",
                        }
                    ]
                }
            )
        if path == "/api/v1/targets":
            return success(
                {
                    "activeTargets": [
                        {
                            "discoveredLabels": {"__address__": "127.0.0.1:1"},
                            "labels": {"instance": "127.0.0.1:1", "job": "twin"},
                            "scrapePool": "twin",
                            "scrapeUrl": "http://127.0.0.1:1/metrics",
                            "globalUrl": "http://h:1/metrics",
                            "lastError": "",
                            "lastScrape": "2024-01-02T03:04:05Z",
                            "lastScrapeDuration": 0.01,
                            "health": "up",
                        }
                    ],
                    "droppedTargets": [],
                }
            )
        if path == "/api/v1/status/tsdb":
            assert request.url.params.get("limit") == "2"
            return success(
                {
                    "headStats": {
                        "numSeries": 5,
                        "chunkCount": 6,
                        "minTime": 1000,
                        "maxTime": 3000,
                    },
                    "seriesCountByMetricName": [{"name": "up", "value": 3}],
                    "labelValueCountByLabelName": [],
                    "memoryInBytesByLabelName": [],
                    "seriesCountByLabelValuePair": [{"name": "job=a", "value": 2}],
                }
            )
        return httpx.Response(404)

    async with prom(handler) as client:
        (group,) = await client.rules(kind="alert")
        (alert,) = await client.alerts()
        (target,) = await client.targets()
        status = await client.tsdb_status(limit=2)
    assert group.name == "g"
    assert group.last_evaluation == pytest.approx(1704164645.123456)
    (rule,) = group.rules
    assert (rule.type, rule.state, rule.duration, rule.last_evaluation) == (
        "alerting",
        "firing",
        2.0,
        None,
    )
    assert rule.alerts[0].name == "A"
    assert rule.alerts[0].active_at == 1704164645.0
    assert (alert.name, alert.state, alert.value) == ("B", "pending", 0.5)
    assert (target.job, target.instance, target.health) == ("twin", "127.0.0.1:1", "up")
    assert status.num_series == 5
    assert (status.min_time, status.max_time) == (1.0, 3.0)
    assert status.series_count_by_metric_name == (("up", 3),)


async def test_series_and_label_values() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/series":
            assert form(request) == {"match[]": ["up", "kube_pod_info"], "start": ["10.0"]}
            return success([{"__name__": "up", "job": "a"}])
        assert request.url.path == "/api/v1/label/job/values"
        assert request.url.params.get_list("match[]") == ["up"]
        return success(["a", "b"])

    async with prom(handler) as client:
        assert await client.series(["up", "kube_pod_info"], start=10) == [
            {"__name__": "up", "job": "a"}
        ]
        assert await client.label_values("job", match=["up"]) == ["a", "b"]


async def test_ready_is_false_when_unreachable_or_not_ready() -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with prom(refused) as client:
        assert await client.ready() is False
    async with prom(lambda r: httpx.Response(503, text="Service Unavailable")) as client:
        assert await client.ready() is False
    async with prom(lambda r: httpx.Response(200, text="Prometheus Server is Ready.")) as client:
        assert await client.ready() is True


# --- query_range chunking ------------------------------------------------------------------


def range_handler(seen: list[dict[str, float]]) -> Handler:
    """A fake Prometheus that evaluates `t` (value = time) at start + i*step <= end."""

    def handler(request: httpx.Request) -> httpx.Response:
        params = {k: v[0] for k, v in form(request).items()}
        start, end, step = float(params["start"]), float(params["end"]), float(params["step"])
        seen.append({"start": start, "end": end, "step": step})
        if (end - start) / step > MAX_POINTS_PER_SERIES:
            return httpx.Response(
                400,
                json={
                    "status": "error",
                    "errorType": "bad_data",
                    "error": "exceeded maximum resolution of 11,000 points per timeseries",
                },
            )
        times = np.arange(start, end + step / 2, step)
        result = [
            {"metric": {"s": "a"}, "values": [[t, str(t)] for t in times]},
            {"metric": {"s": "b"}, "values": [[t, "1"] for t in times if t < 1000]},
        ]
        return success({"resultType": "matrix", "result": result})

    return handler


async def test_query_range_splits_long_ranges_and_merges_series() -> None:
    seen: list[dict[str, float]] = []
    async with prom(range_handler(seen)) as client:
        series = await client.query_range("t", start=0, end=25_000, step=1)
    assert len(seen) == 3
    assert all((r["end"] - r["start"]) / r["step"] < MAX_POINTS_PER_SERIES for r in seen)
    assert [r["start"] for r in seen] == [0, 10_000, 20_000]
    by_name = {s.labels["s"]: s for s in series}
    a = by_name["a"]
    assert len(a) == 25_001
    np.testing.assert_array_equal(a.timestamps, np.arange(0, 25_001, dtype=np.float64))
    np.testing.assert_array_equal(a.values, a.timestamps)
    assert a.timestamps.dtype == np.float64
    assert len(by_name["b"]) == 1000  # present only in the first chunk


async def test_query_range_short_range_is_one_request_and_keeps_grid() -> None:
    seen: list[dict[str, float]] = []
    async with prom(range_handler(seen), max_points_per_request=4) as client:
        series = await client.query_range("t", start=100, end=110.5, step=2.5)
    # points at 100, 102.5, 105, 107.5, 110: two requests of at most 4 points each
    assert [(r["start"], r["end"]) for r in seen] == [(100, 107.5), (110, 110)]
    a = next(s for s in series if s.labels["s"] == "a")
    assert a.timestamps.tolist() == [100, 102.5, 105, 107.5, 110]
    assert client.stats.requests == 2
    assert client.stats.by_endpoint == {"/api/v1/query_range": 2}


async def test_query_range_rejects_bad_arguments() -> None:
    async with prom(lambda r: success({})) as client:
        with pytest.raises(ValueError, match="step"):
            await client.query_range("x", start=0, end=10, step=0)
        with pytest.raises(ValueError, match="end"):
            await client.query_range("x", start=10, end=0, step=1)
        assert client.stats.requests == 0


# --- error mapping -----------------------------------------------------------------------


async def test_bad_data_400_is_a_query_error_with_prometheus_text() -> None:
    body = {"status": "error", "errorType": "bad_data", "error": "1:5: parse error: unexpected"}
    async with prom(lambda r: httpx.Response(400, json=body)) as client:
        with pytest.raises(PrometheusQueryError) as info:
            await client.query("up{")
    err = info.value
    assert (err.status_code, err.error_type, err.message) == (400, "bad_data", body["error"])
    assert "parse error" in str(err)
    assert client.stats.errors == 1


async def test_execution_422_is_a_query_error() -> None:
    body = {"status": "error", "errorType": "execution", "error": "many-to-many matching"}
    async with prom(lambda r: httpx.Response(422, json=body)) as client:
        with pytest.raises(PrometheusQueryError, match="execution: many-to-many"):
            await client.query("a / b")


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (503, {"status": "error", "errorType": "unavailable", "error": "not ready"}),
        (503, "Service Unavailable"),
        (500, {"status": "error", "errorType": "internal", "error": "boom"}),
        (429, "slow down"),
    ],
)
async def test_5xx_and_429_are_unavailable(status: int, body: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    async with prom(handler) as client:
        with pytest.raises(PrometheusUnavailable) as info:
            await client.query("up")
    assert info.value.status_code == status


async def test_timeout_is_unavailable_and_cause_is_kept() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    async with prom(handler) as client:
        with pytest.raises(PrometheusUnavailable, match="timeout") as info:
            await client.query("up")
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert client.stats.errors == 1
    assert client.stats.requests == 1


async def test_connection_refused_against_a_closed_port_is_unavailable() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with PrometheusClient(f"http://127.0.0.1:{port}", timeout=2) as client:
        with pytest.raises(PrometheusUnavailable, match="cannot reach") as info:
            await client.query("up")
        assert await client.ready() is False
    assert isinstance(info.value.__cause__, httpx.ConnectError)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="{not json"),
        httpx.Response(200, json=["a list"]),
        httpx.Response(200, json={"status": "error", "errorType": "x", "error": "y"}),
        httpx.Response(200, json={"status": "success"}),
        httpx.Response(200, json={"status": "success", "data": {"resultType": "vector"}}),
        httpx.Response(
            200,
            json={
                "status": "success",
                "data": {"resultType": "vector", "result": [{"value": [1, {}]}]},
            },
        ),
        httpx.Response(200, json={"status": "success", "data": {"resultType": "string"}}),
        httpx.Response(400, text="plain text"),
        httpx.Response(404, text="404 page not found"),
    ],
)
async def test_malformed_answers_are_response_errors(response: httpx.Response) -> None:
    async with prom(lambda r: response) as client:
        with pytest.raises(PrometheusResponseError):
            await client.query("up")


async def test_no_library_error_leaks_from_any_method() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed", request=request)

    async with prom(handler) as client:
        calls = [
            client.query("up"),
            client.query_range("up", start=0, end=10, step=1),
            client.alerts(),
            client.rules(),
            client.targets(),
            client.series("up"),
            client.label_values("job"),
            client.tsdb_status(),
        ]
        for call in calls:
            with pytest.raises(PrometheusError):
                await call
    assert client.stats.errors == len(calls)


# --- Alertmanager client ---------------------------------------------------------------------


def am(handler: Handler) -> AlertmanagerClient:
    return AlertmanagerClient("http://am.test/", transport=httpx.MockTransport(handler))


async def test_alertmanager_alerts_filter_and_parse() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json=[
                {
                    "labels": {"alertname": "X", "severity": "page"},
                    "annotations": {"summary": "s"},
                    "fingerprint": "abc",
                    "startsAt": "2024-01-02T03:04:05.5Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "updatedAt": "2024-01-02T03:04:06.123456789Z",
                    "receivers": [{"name": "kubeheal"}],
                    "status": {"state": "suppressed", "silencedBy": ["s1"], "inhibitedBy": []},
                    "generatorURL": "http://prom/graph",
                }
            ],
        )

    async with am(handler) as client:
        (alert,) = await client.alerts(filter=['alertname="X"'], silenced=False)
    params = seen[0].url.params
    assert seen[0].url.path == "/api/v2/alerts"
    assert params.get_list("filter") == ['alertname="X"']
    assert params.get("silenced") == "false"
    assert (alert.name, alert.fingerprint, alert.state) == ("X", "abc", "suppressed")
    assert alert.starts_at == 1704164645.5
    assert alert.ends_at is None
    assert alert.receivers == ("kubeheal",)
    assert alert.silenced_by == ("s1",)


async def test_alertmanager_post_alerts_body() -> None:
    bodies: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200)

    async with am(handler) as client:
        await client.post_alerts(
            [PostableAlert(labels={"alertname": "Y"}, starts_at=1704164645.0, ends_at=None)]
        )
    assert bodies == [[{"labels": {"alertname": "Y"}, "startsAt": "2024-01-02T03:04:05Z"}]]


async def test_alertmanager_errors_are_mapped() -> None:
    async with am(lambda r: httpx.Response(400, json="bad matcher")) as client:
        with pytest.raises(AlertmanagerRequestError, match="bad matcher"):
            await client.alerts(filter=["{{"])
    async with am(lambda r: httpx.Response(503, text="busy")) as client:
        with pytest.raises(AlertmanagerUnavailable):
            await client.silences()
    async with am(lambda r: httpx.Response(200, text="<html>")) as client:
        with pytest.raises(AlertmanagerResponseError):
            await client.status()
    async with am(lambda r: httpx.Response(200, json=[{"no": "labels"}])) as client:
        with pytest.raises(AlertmanagerResponseError):
            await client.alerts()

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("slow", request=request)

    async with am(timeout) as client:
        with pytest.raises(AlertmanagerUnavailable) as info:
            await client.status()
        assert await client.ready() is False
    assert isinstance(info.value.__cause__, httpx.ConnectTimeout)

"""The Prometheus and Alertmanager clients share one HTTP plumbing (clients/_http.py): the
same failures map onto each client's own exception tree, and nothing from httpx leaks."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from kubeheal.clients.alertmanager import (
    AlertmanagerClient,
    AlertmanagerError,
    AlertmanagerRequestError,
    AlertmanagerResponseError,
    AlertmanagerUnavailable,
)
from kubeheal.clients.httpcheck import HttpChecker
from kubeheal.clients.prometheus import (
    PrometheusClient,
    PrometheusError,
    PrometheusQueryError,
    PrometheusResponseError,
    PrometheusUnavailable,
)

Handler = Callable[[httpx.Request], httpx.Response]


def _raise(error: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    return handler


def _answer(status: int, body: str = "", content_type: str = "text/plain") -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text=body, headers={"Content-Type": content_type})

    return handler


async def _prometheus(handler: Handler) -> None:
    async with PrometheusClient("http://prom:9090/", transport=httpx.MockTransport(handler)) as c:
        await c.query("up")


async def _alertmanager(handler: Handler) -> None:
    async with AlertmanagerClient("http://am:9093/", transport=httpx.MockTransport(handler)) as c:
        await c.silences()


CASES = [
    (_raise(httpx.ConnectTimeout("slow")), "Unavailable", "timeout calling {s} /api/", None),
    (_raise(httpx.ConnectError("refused")), "Unavailable", "cannot reach {s} at http://", None),
    (_raise(httpx.DecodingError("garbled")), "Error", "request to {s} /api/", None),
    (_answer(503, "not ready"), "Unavailable", "{s} answered 503 on /api/", 503),
    (_answer(429, "slow down"), "Unavailable", "{s} answered 429 on /api/", 429),
    (_answer(302, "elsewhere"), "ResponseError", "unexpected HTTP 302 from {s} on /api/", 302),
]
TREES = {
    "Prometheus": (
        _prometheus,
        {
            "Error": PrometheusError,
            "Unavailable": PrometheusUnavailable,
            "ResponseError": PrometheusResponseError,
        },
    ),
    "Alertmanager": (
        _alertmanager,
        {
            "Error": AlertmanagerError,
            "Unavailable": AlertmanagerUnavailable,
            "ResponseError": AlertmanagerResponseError,
        },
    ),
}


@pytest.mark.parametrize("service", sorted(TREES))
@pytest.mark.parametrize(("handler", "kind", "message", "status"), CASES)
async def test_the_same_failure_maps_onto_each_tree(
    service: str, handler: Handler, kind: str, message: str, status: int | None
) -> None:
    call, tree = TREES[service]
    with pytest.raises(tree["Error"]) as caught:
        await call(handler)
    assert type(caught.value) is tree[kind]
    assert str(caught.value).startswith(message.format(s=service)), str(caught.value)
    assert not isinstance(caught.value, httpx.HTTPError)
    assert getattr(caught.value, "status_code", None) == status


async def test_a_refused_request_keeps_each_services_own_error() -> None:
    bad = '{"status": "error", "errorType": "bad_data", "error": "parse error"}'
    with pytest.raises(PrometheusQueryError, match="bad_data: parse error"):
        await _prometheus(_answer(400, bad, "application/json"))
    with pytest.raises(AlertmanagerRequestError, match="bad matcher"):
        await _alertmanager(_answer(400, '"bad matcher"', "application/json"))


async def test_data_of_the_wrong_shape_is_a_response_error_naming_the_service() -> None:
    with pytest.raises(PrometheusResponseError, match="unexpected data in Prometheus' answer"):
        await _prometheus(
            _answer(200, '{"status": "success", "data": {"resultType": 7}}', "application/json")
        )
    with pytest.raises(AlertmanagerResponseError, match="unexpected data in Alertmanager's"):
        await _alertmanager(_answer(200, '[{"nothing": 1}]', "application/json"))


@pytest.mark.parametrize(
    "make",
    [
        lambda t: PrometheusClient("http://prom:9090", transport=t),
        lambda t: AlertmanagerClient("http://am:9093", transport=t),
        lambda t: HttpChecker(transport=t),
    ],
)
async def test_leaving_the_context_closes_the_connection_pool(
    make: Callable[[httpx.AsyncBaseTransport], PrometheusClient | AlertmanagerClient | HttpChecker],
) -> None:
    closed: list[bool] = []

    class Transport(httpx.MockTransport):
        async def aclose(self) -> None:
            closed.append(True)

    async with make(Transport(_answer(200))) as client:
        assert client is not None
    assert closed == [True]

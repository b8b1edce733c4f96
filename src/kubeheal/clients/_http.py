"""What the clients of HTTP services share: one `httpx.AsyncClient` and its lifecycle, and
the mapping of transport errors and HTTP statuses onto each client's own exception tree.

`HttpClient` owns the connection pool (``async with`` or ``aclose()``); `ServiceClient`
adds a base URL and `ServiceErrors`, the three exceptions of one service's tree (its base,
"unavailable: retry later", "the answer is not what the API documents"), so that
`PrometheusClient` and `AlertmanagerClient` say "timeout", "cannot reach", "answered 503"
and "unexpected HTTP 302" the same way while keeping their own trees::

    <Service>Error              any other request failure (bad URL, protocol error)
    ├── <Service>Unavailable    connection refused/reset, timeout, HTTP 5xx or 429
    └── <Service>ResponseError  unexpected status or data

Nothing from httpx leaks past these helpers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import httpx

__all__ = ["HttpClient", "ServiceClient", "ServiceErrors", "StatusError"]

_T = TypeVar("_T")


class StatusError(Exception):
    """Mixed into a service's errors that may carry the HTTP status of the answer."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class _StatusError(Protocol):
    def __call__(self, message: str, *, status_code: int | None = None) -> Exception: ...


@dataclass(frozen=True, slots=True)
class ServiceErrors:
    """The exception tree of one service, and how its messages name it."""

    service: str
    """``Prometheus``: "timeout calling Prometheus /api/v1/query"."""
    possessive: str
    """``Prometheus'``: "unexpected data in Prometheus' answer"."""
    base: Callable[[str], Exception]
    unavailable: _StatusError
    response: _StatusError


class HttpClient:
    """Owner of one `httpx.AsyncClient`; use as ``async with`` or call ``aclose()``."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()


class ServiceClient(HttpClient):
    """A client of one HTTP API at `base_url` (`timeout` in seconds, `headers` on every
    request, `transport` for tests: `httpx.MockTransport`); subclasses set `errors`."""

    errors: ServiceErrors

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        super().__init__(
            httpx.AsyncClient(
                base_url=self.base_url,
                timeout=timeout,
                headers=dict(headers or {}),
                transport=transport,
            )
        )

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        content: bytes | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One request; a transport failure raises the service's own error."""
        e_ = self.errors
        try:
            return await self._http.request(
                method,
                path,
                params=list(params) or None,
                content=content,
                json=json_body,
                headers=None if headers is None else dict(headers),
            )
        except httpx.TimeoutException as e:
            raise e_.unavailable(f"timeout calling {e_.service} {path}: {e!r}") from e
        except httpx.TransportError as e:
            raise e_.unavailable(f"cannot reach {e_.service} at {self.base_url}: {e!r}") from e
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as e:
            raise e_.base(f"request to {e_.service} {path} failed: {e!r}") from e

    def _raise_if_unavailable(
        self, response: httpx.Response, path: str, detail: Callable[[], str]
    ) -> None:
        """HTTP 5xx and 429: the service cannot answer now (`detail()` says what it said)."""
        status = response.status_code
        if status >= 500 or status == 429:
            raise self.errors.unavailable(
                f"{self.errors.service} answered {status} on {path}: {detail()}",
                status_code=status,
            )

    def _raise_unless_ok(
        self, response: httpx.Response, path: str, detail: Callable[[], str]
    ) -> None:
        """Any status but 200 left after the service's own cases."""
        status = response.status_code
        if status != 200:
            raise self.errors.response(
                f"unexpected HTTP {status} from {self.errors.service} on {path}: {detail()}",
                status_code=status,
            )

    def _parse(self, parse: Callable[[Any], _T], data: Any) -> _T:
        """`parse(data)`; data not shaped as documented raises the service's response error."""
        try:
            return parse(data)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            raise self.errors.response(
                f"unexpected data in {self.errors.possessive} answer: {e!r}"
            ) from e

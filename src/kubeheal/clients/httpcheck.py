"""One HTTP request, timed: what a chaos experiment's HTTP probe needs.

The probe compares the status code and the latency with its expectations; this module only
makes the request (httpx, async) and measures it.

Exception tree (nothing from httpx leaks past this module)::

    HttpCheckError          the request could not be made
    └── HttpUnreachable     connection refused or reset, DNS failure, timeout
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from kubeheal.clients._http import HttpClient

__all__ = ["HttpCheckError", "HttpCheckResult", "HttpChecker", "HttpUnreachable"]


class HttpCheckError(Exception):
    """An HTTP check could not be made (bad URL, protocol error)."""


class HttpUnreachable(HttpCheckError):
    """The server could not be reached in time."""


@dataclass(frozen=True, slots=True)
class HttpCheckResult:
    """Status code and seconds from sending the request to reading the whole body."""

    status: int
    latency_s: float


class HttpChecker(HttpClient):
    """Makes timed HTTP requests; use as ``async with`` or call ``aclose()``."""

    def __init__(
        self,
        *,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        super().__init__(
            httpx.AsyncClient(
                timeout=timeout, transport=transport, follow_redirects=False, trust_env=False
            )
        )
        self._clock = clock

    async def check(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> HttpCheckResult:
        """Send one request to ``url`` and time it."""
        started = self._clock()
        try:
            if timeout is None:
                response = await self._http.request(method, url, headers=dict(headers or {}))
            else:
                response = await self._http.request(
                    method, url, headers=dict(headers or {}), timeout=timeout
                )
            await response.aread()
        except (httpx.TimeoutException, httpx.ConnectError, httpx.RemoteProtocolError) as e:
            raise HttpUnreachable(f"cannot reach {url}: {e!r}") from e
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as e:
            raise HttpCheckError(f"request to {url} failed: {e!r}") from e
        return HttpCheckResult(status=response.status_code, latency_s=self._clock() - started)

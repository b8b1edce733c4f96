"""Async client for Alertmanager's HTTP API v2 (`/api/v2/...`), with typed results.

Reads alerts, silences and status (for tests, tools and checks that a route works) and posts
alerts (to drive Alertmanager directly in tests and load tools). Times are seconds since
the epoch; Go's zero time ("0001-01-01T00:00:00Z") and absent times become None.

Exception tree (nothing from httpx or the JSON decoder leaks past this module)::

    AlertmanagerError
    ├── AlertmanagerUnavailable    connection refused/reset, timeout, HTTP 5xx or 429
    ├── AlertmanagerRequestError   HTTP 400/422: Alertmanager refused the request (message)
    └── AlertmanagerResponseError  the answer is not the documented JSON
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from kubeheal.clients._http import ServiceClient, ServiceErrors, StatusError

__all__ = [
    "AlertmanagerClient",
    "AlertmanagerError",
    "AlertmanagerRequestError",
    "AlertmanagerResponseError",
    "AlertmanagerStatus",
    "AlertmanagerUnavailable",
    "AmAlert",
    "Matcher",
    "PostableAlert",
    "Silence",
]

log = logging.getLogger(__name__)


class AlertmanagerError(Exception):
    """Base of every error talking to Alertmanager."""


class AlertmanagerUnavailable(AlertmanagerError, StatusError):
    """Alertmanager cannot answer now (network, timeout, 5xx, 429): retry later."""


class AlertmanagerRequestError(AlertmanagerError):
    """Alertmanager refused the request (HTTP 400/422) with `message`."""

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


class AlertmanagerResponseError(AlertmanagerError, StatusError):
    """The answer is not what the API documents (bad JSON, unexpected shape or status)."""


@dataclass(frozen=True)
class AmAlert:
    """An alert held by Alertmanager (`GET /api/v2/alerts`)."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    fingerprint: str
    state: str  # "active" | "suppressed" | "unprocessed"
    starts_at: float | None
    ends_at: float | None
    updated_at: float | None
    receivers: tuple[str, ...]
    silenced_by: tuple[str, ...]
    inhibited_by: tuple[str, ...]
    generator_url: str

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")


@dataclass(frozen=True)
class PostableAlert:
    """An alert to post (`POST /api/v2/alerts`); times in seconds since the epoch."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str] | None = None
    starts_at: float | None = None
    ends_at: float | None = None
    generator_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"labels": dict(self.labels)}
        if self.annotations:
            body["annotations"] = dict(self.annotations)
        if self.starts_at is not None:
            body["startsAt"] = _iso(self.starts_at)
        if self.ends_at is not None:
            body["endsAt"] = _iso(self.ends_at)
        if self.generator_url:
            body["generatorURL"] = self.generator_url
        return body


@dataclass(frozen=True)
class Matcher:
    """One matcher of a silence."""

    name: str
    value: str
    is_regex: bool
    is_equal: bool = True


@dataclass(frozen=True)
class Silence:
    """A silence (`GET /api/v2/silences`)."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float | None
    ends_at: float | None
    created_by: str
    comment: str
    state: str  # "active" | "pending" | "expired"


@dataclass(frozen=True)
class AlertmanagerStatus:
    """`GET /api/v2/status`: version, start time, cluster state and the loaded configuration."""

    version: str
    started_at: float | None  # the API's `uptime` field is the start time
    cluster_status: str
    peers: int
    config: str


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat().replace("+00:00", "Z")


def _time(raw: Any) -> float | None:
    if raw is None or raw == "":
        return None
    text = str(raw)
    if text.startswith("0001-01-01"):
        return None
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    head, sep, rest = text.partition(".")
    if sep:  # Go writes up to 9 fractional digits; Python parses at most 6
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    return datetime.fromisoformat(text).timestamp()


def _labels(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise TypeError(f"labels must be an object, got {type(raw).__name__}")
    return {str(k): str(v) for k, v in raw.items()}


def _parse_alert(raw: Mapping[str, Any]) -> AmAlert:
    status = raw.get("status") or {}
    return AmAlert(
        labels=_labels(raw["labels"]),
        annotations=_labels(raw.get("annotations")),
        fingerprint=str(raw.get("fingerprint", "")),
        state=str(status.get("state", "")),
        starts_at=_time(raw.get("startsAt")),
        ends_at=_time(raw.get("endsAt")),
        updated_at=_time(raw.get("updatedAt")),
        receivers=tuple(str(r["name"]) for r in raw.get("receivers") or ()),
        silenced_by=tuple(str(s) for s in status.get("silencedBy") or ()),
        inhibited_by=tuple(str(s) for s in status.get("inhibitedBy") or ()),
        generator_url=str(raw.get("generatorURL", "")),
    )


def _parse_silence(raw: Mapping[str, Any]) -> Silence:
    return Silence(
        id=str(raw["id"]),
        matchers=tuple(
            Matcher(
                name=str(m["name"]),
                value=str(m["value"]),
                is_regex=bool(m.get("isRegex", False)),
                is_equal=bool(m.get("isEqual", True)),
            )
            for m in raw.get("matchers") or ()
        ),
        starts_at=_time(raw.get("startsAt")),
        ends_at=_time(raw.get("endsAt")),
        created_by=str(raw.get("createdBy", "")),
        comment=str(raw.get("comment", "")),
        state=str((raw.get("status") or {}).get("state", "")),
    )


def _parse_status(raw: Mapping[str, Any]) -> AlertmanagerStatus:
    cluster = raw.get("cluster") or {}
    return AlertmanagerStatus(
        version=str((raw.get("versionInfo") or {}).get("version", "")),
        started_at=_time(raw.get("uptime")),
        cluster_status=str(cluster.get("status", "")),
        peers=len(cluster.get("peers") or ()),
        config=str((raw.get("config") or {}).get("original", "")),
    )


class AlertmanagerClient(ServiceClient):
    """Async client of one Alertmanager; use as `async with` or call `aclose()`."""

    errors = ServiceErrors(
        service="Alertmanager",
        possessive="Alertmanager's",
        base=AlertmanagerError,
        unavailable=AlertmanagerUnavailable,
        response=AlertmanagerResponseError,
    )

    async def alerts(
        self,
        *,
        filter: Sequence[str] = (),
        active: bool = True,
        silenced: bool = True,
        inhibited: bool = True,
        unprocessed: bool = True,
        receiver: str | None = None,
    ) -> list[AmAlert]:
        """Alerts matching every matcher in `filter` (e.g. `'alertname="X"'`)."""
        params: list[tuple[str, str]] = [("filter", f) for f in filter]
        params += [
            ("active", str(active).lower()),
            ("silenced", str(silenced).lower()),
            ("inhibited", str(inhibited).lower()),
            ("unprocessed", str(unprocessed).lower()),
        ]
        if receiver is not None:
            params.append(("receiver", receiver))
        body = await self._call("GET", "/api/v2/alerts", params=params)
        return self._parse(lambda b: [_parse_alert(a) for a in b], body)

    async def post_alerts(self, alerts: Sequence[PostableAlert]) -> None:
        """Post alerts as Prometheus does (for tests and load tools)."""
        await self._call("POST", "/api/v2/alerts", json_body=[a.to_json() for a in alerts])

    async def silences(self) -> list[Silence]:
        """Every silence Alertmanager knows (active, pending and expired)."""
        body = await self._call("GET", "/api/v2/silences")
        return self._parse(lambda b: [_parse_silence(s) for s in b], body)

    async def status(self) -> AlertmanagerStatus:
        """Version, uptime, cluster status and the loaded configuration."""
        body = await self._call("GET", "/api/v2/status")
        return self._parse(_parse_status, body)

    async def ready(self) -> bool:
        """True when Alertmanager answers 200 on `/-/ready`; False otherwise."""
        try:
            response = await self._send("GET", "/-/ready")
        except AlertmanagerError:
            return False
        return response.status_code == 200

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        json_body: Any = None,
    ) -> Any:
        response = await self._send(method, path, params=params, json_body=json_body)
        status = response.status_code
        self._raise_if_unavailable(response, path, lambda: _message(response))
        if status in (400, 422):
            raise AlertmanagerRequestError(_message(response), status_code=status)
        self._raise_unless_ok(response, path, lambda: _message(response))
        if not response.content:
            return None
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as e:
            raise AlertmanagerResponseError(
                f"Alertmanager's answer on {path} is not JSON: {e}", status_code=status
            ) from e


def _message(response: httpx.Response) -> str:
    """The error text of an answer: a JSON string, `{"message": ...}` or the raw text."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return response.text[:300].strip() or response.reason_phrase
    if isinstance(body, str):
        return body
    if isinstance(body, dict) and "message" in body:
        return str(body["message"])
    return response.text[:300].strip()

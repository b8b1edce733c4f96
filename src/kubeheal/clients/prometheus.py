"""Async client for the Prometheus HTTP API (`/api/v1/...`), with typed results.

Used to enrich incidents (e.g. memory history before raising a limit), by the SLO, anomaly
and FinOps features, and by the tests against a real Prometheus. Every call goes through one
`httpx.AsyncClient`; tests inject an `httpx.MockTransport` with `transport=`.

Exception tree (nothing from httpx or the JSON decoder leaks past this module)::

    PrometheusError
    ├── PrometheusUnavailable    connection refused/reset, timeout, HTTP 5xx or 429
    │                            (including 503 "not ready" and query timeouts): retry later
    ├── PrometheusQueryError     HTTP 400/422: the expression or its parameters are wrong
    │                            (`error_type` and `message` carry Prometheus' own text)
    └── PrometheusResponseError  the answer is not the documented JSON envelope/shape

Values keep Prometheus' semantics: "NaN", "+Inf" and "-Inf" become the float values; a
scalar result becomes one `Sample` with empty labels; an instant query of a range selector
(`x[5m]`) returns one `Sample` per stored point.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote, urlencode

import httpx
import numpy as np
import numpy.typing as npt

from kubeheal.clients._http import ServiceClient, ServiceErrors, StatusError

__all__ = [
    "MAX_POINTS_PER_SERIES",
    "PromAlert",
    "PrometheusClient",
    "PrometheusError",
    "PrometheusQueryError",
    "PrometheusResponseError",
    "PrometheusStats",
    "PrometheusUnavailable",
    "RangeSeries",
    "Rule",
    "RuleGroup",
    "Sample",
    "Target",
    "TsdbStatus",
]

log = logging.getLogger(__name__)

MAX_POINTS_PER_SERIES = 11_000
"""Prometheus refuses a range query whose (end - start) / step exceeds this."""

_DEFAULT_CHUNK_POINTS = 10_000

FloatArray = npt.NDArray[np.float64]
# --- errors -------------------------------------------------------------------------------


class PrometheusError(Exception):
    """Base of every error talking to Prometheus."""


class PrometheusUnavailable(PrometheusError, StatusError):
    """Prometheus cannot answer now (network, timeout, 5xx, 429, not ready): retry later."""


class PrometheusQueryError(PrometheusError):
    """Prometheus refused the request (HTTP 400 bad_data, 422 execution error)."""

    def __init__(self, message: str, *, status_code: int, error_type: str) -> None:
        super().__init__(f"{error_type}: {message}" if error_type else message)
        self.status_code = status_code
        self.error_type = error_type
        self.message = message


class PrometheusResponseError(PrometheusError, StatusError):
    """The answer is not what the HTTP API documents (bad JSON, unexpected shape/status)."""


# --- result types -------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One value of an instant query: the series' labels, time (s since epoch), value."""

    labels: Mapping[str, str]
    timestamp: float
    value: float


@dataclass(frozen=True, eq=False)
class RangeSeries:
    """One series of a range query: labels and parallel float64 arrays (seconds, values)."""

    labels: Mapping[str, str]
    timestamps: FloatArray
    values: FloatArray

    def __len__(self) -> int:
        return int(self.timestamps.shape[0])


@dataclass(frozen=True)
class PromAlert:
    """An alert as Prometheus holds it (`/api/v1/alerts`, or inside an alerting rule)."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    state: str  # "pending" | "firing" (| "inactive" in rules)
    active_at: float | None
    value: float

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")


@dataclass(frozen=True)
class Rule:
    """One rule of a loaded rule group."""

    name: str
    query: str
    type: Literal["alerting", "recording"]
    health: str  # "ok" | "err" | "unknown"
    last_error: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    state: str  # alerting rules: "inactive" | "pending" | "firing"; "" for recording rules
    duration: float  # alerting rules' `for`, seconds
    alerts: tuple[PromAlert, ...]
    last_evaluation: float | None
    evaluation_time: float


@dataclass(frozen=True)
class RuleGroup:
    """A rule group as loaded by Prometheus (`/api/v1/rules`)."""

    name: str
    file: str
    interval: float
    rules: tuple[Rule, ...]
    last_evaluation: float | None
    evaluation_time: float


@dataclass(frozen=True)
class Target:
    """An active scrape target (`/api/v1/targets`)."""

    scrape_pool: str
    scrape_url: str
    health: str  # "up" | "down" | "unknown"
    labels: Mapping[str, str]
    discovered_labels: Mapping[str, str]
    last_error: str
    last_scrape: float | None
    last_scrape_duration: float
    global_url: str

    @property
    def instance(self) -> str:
        return self.labels.get("instance", "")

    @property
    def job(self) -> str:
        return self.labels.get("job", "")


@dataclass(frozen=True)
class TsdbStatus:
    """Cardinality statistics of the head block (`/api/v1/status/tsdb`)."""

    num_series: int
    chunk_count: int
    min_time: float | None
    max_time: float | None
    series_count_by_metric_name: tuple[tuple[str, int], ...]
    label_value_count_by_label_name: tuple[tuple[str, int], ...]
    memory_in_bytes_by_label_name: tuple[tuple[str, int], ...]
    series_count_by_label_value_pair: tuple[tuple[str, int], ...]


@dataclass
class PrometheusStats:
    """Counters of one client's requests (for query-count benchmarks); `reset()` to zero."""

    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    by_endpoint: dict[str, int] = field(default_factory=dict)

    def reset(self) -> None:
        self.requests = 0
        self.errors = 0
        self.seconds = 0.0
        self.by_endpoint.clear()


# --- parsing helpers (raise ValueError/TypeError/KeyError on bad shapes) --------------------


def _labels(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise TypeError(f"labels must be an object, got {type(raw).__name__}")
    return {str(k): str(v) for k, v in raw.items()}


def _float(raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise TypeError(f"expected a number, got {raw!r}")
    return float(raw)


_ZERO_TIME_PREFIX = "0001-01-01"


def _rfc3339(raw: Any) -> float | None:
    """Seconds since the epoch, or None for Go's zero time / absent."""
    if raw is None or raw == "":
        return None
    text = str(raw)
    if text.startswith(_ZERO_TIME_PREFIX):
        return None
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Go writes up to 9 fractional digits; Python parses at most 6.
    head, sep, rest = text.partition(".")
    if sep:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    return datetime.fromisoformat(text).timestamp()


def _pairs(raw: Any) -> tuple[tuple[str, int], ...]:
    if raw is None:
        return ()
    return tuple((str(item["name"]), int(item["value"])) for item in raw)


def _parse_alert(raw: Mapping[str, Any]) -> PromAlert:
    return PromAlert(
        labels=_labels(raw.get("labels")),
        annotations=_labels(raw.get("annotations")),
        state=str(raw.get("state", "")),
        active_at=_rfc3339(raw.get("activeAt")),
        value=_float(raw.get("value", "NaN")),
    )


def _parse_rule(raw: Mapping[str, Any]) -> Rule:
    kind = raw["type"]
    if kind not in ("alerting", "recording"):
        raise ValueError(f"unknown rule type {kind!r}")
    return Rule(
        name=str(raw["name"]),
        query=str(raw["query"]),
        type=kind,
        health=str(raw.get("health", "")),
        last_error=str(raw.get("lastError", "")),
        labels=_labels(raw.get("labels")),
        annotations=_labels(raw.get("annotations")),
        state=str(raw.get("state", "")),
        duration=_float(raw.get("duration", 0)),
        alerts=tuple(_parse_alert(a) for a in raw.get("alerts") or ()),
        last_evaluation=_rfc3339(raw.get("lastEvaluation")),
        evaluation_time=_float(raw.get("evaluationTime", 0)),
    )


def _parse_group(raw: Mapping[str, Any]) -> RuleGroup:
    return RuleGroup(
        name=str(raw["name"]),
        file=str(raw["file"]),
        interval=_float(raw.get("interval", 0)),
        rules=tuple(_parse_rule(r) for r in raw.get("rules") or ()),
        last_evaluation=_rfc3339(raw.get("lastEvaluation")),
        evaluation_time=_float(raw.get("evaluationTime", 0)),
    )


def _parse_target(raw: Mapping[str, Any]) -> Target:
    return Target(
        scrape_pool=str(raw.get("scrapePool", "")),
        scrape_url=str(raw.get("scrapeUrl", "")),
        health=str(raw.get("health", "")),
        labels=_labels(raw.get("labels")),
        discovered_labels=_labels(raw.get("discoveredLabels")),
        last_error=str(raw.get("lastError", "")),
        last_scrape=_rfc3339(raw.get("lastScrape")),
        last_scrape_duration=_float(raw.get("lastScrapeDuration", 0)),
        global_url=str(raw.get("globalUrl", "")),
    )


def _parse_samples(data: Mapping[str, Any]) -> list[Sample]:
    kind = data["resultType"]
    result = data["result"]
    if kind == "vector":
        out = []
        for item in result:
            if "value" not in item:
                raise ValueError("vector sample without a float value (native histogram?)")
            ts, val = item["value"]
            out.append(Sample(_labels(item.get("metric")), _float(ts), _float(val)))
        return out
    if kind == "scalar":
        ts, val = result
        return [Sample({}, _float(ts), _float(val))]
    if kind == "matrix":
        return [
            Sample(_labels(item.get("metric")), _float(ts), _float(val))
            for item in result
            for ts, val in item.get("values") or ()
        ]
    raise ValueError(f"result type {kind!r} is not supported")


def _parse_matrix(data: Mapping[str, Any]) -> list[RangeSeries]:
    if data["resultType"] != "matrix":
        raise ValueError(f"expected a matrix, got {data['resultType']!r}")
    out = []
    for item in data["result"]:
        points = item.get("values") or ()
        ts = np.fromiter((_float(p[0]) for p in points), dtype=np.float64, count=len(points))
        vs = np.fromiter((_float(p[1]) for p in points), dtype=np.float64, count=len(points))
        out.append(RangeSeries(_labels(item.get("metric")), ts, vs))
    return out


def _key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def _merge(parts: Sequence[list[RangeSeries]]) -> list[RangeSeries]:
    """Concatenate the chunks of each series (chunks are in time order, never overlapping)."""
    if len(parts) == 1:
        return parts[0]
    grouped: dict[tuple[tuple[str, str], ...], list[RangeSeries]] = {}
    for part in parts:
        for series in part:
            grouped.setdefault(_key(series.labels), []).append(series)
    out = []
    for pieces in grouped.values():
        ts = np.concatenate([p.timestamps for p in pieces])
        vs = np.concatenate([p.values for p in pieces])
        if ts.size > 1 and not bool(np.all(np.diff(ts) > 0)):
            ts, index = np.unique(ts, return_index=True)
            vs = vs[index]
        out.append(RangeSeries(pieces[0].labels, ts, vs))
    return out


def _form_body(form: Mapping[str, str] | Sequence[tuple[str, str]]) -> bytes:
    pairs = list(form.items()) if isinstance(form, Mapping) else list(form)
    return urlencode(pairs).encode()


def _fmt(value: float) -> str:
    return repr(float(value))


# --- client -------------------------------------------------------------------------------


class PrometheusClient(ServiceClient):
    """Async client of one Prometheus server; use as `async with` or call `aclose()`.

    `base_url` is the server's root (e.g. "http://127.0.0.1:9090", or with the path prefix
    given by `--web.external-url`/`--web.route-prefix`).
    """

    errors = ServiceErrors(
        service="Prometheus",
        possessive="Prometheus'",
        base=PrometheusError,
        unavailable=PrometheusUnavailable,
        response=PrometheusResponseError,
    )

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_points_per_request: int = _DEFAULT_CHUNK_POINTS,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not 1 <= max_points_per_request <= MAX_POINTS_PER_SERIES:
            raise ValueError(f"max_points_per_request must be in 1..{MAX_POINTS_PER_SERIES}")
        super().__init__(base_url, timeout=timeout, headers=headers, transport=transport)
        self.max_points_per_request = max_points_per_request
        self.stats = PrometheusStats()
        self._clock = clock

    # --- queries --------------------------------------------------------------------------

    async def query(self, expr: str, *, at: float | None = None) -> list[Sample]:
        """Instant query of `expr` at `at` (seconds since the epoch; default: now)."""
        params = {"query": expr}
        if at is not None:
            params["time"] = _fmt(at)
        data = await self._api("POST", "/api/v1/query", form=params)
        return self._parse(_parse_samples, data)

    async def query_range(
        self, expr: str, *, start: float, end: float, step: float
    ) -> list[RangeSeries]:
        """Range query; long ranges are split so no request exceeds the per-series limit.

        Evaluation times are `start + i * step` for every `i` with the time <= `end`,
        exactly as Prometheus computes them in one request.
        """
        if not step > 0 or not math.isfinite(step):
            raise ValueError("step must be a positive number of seconds")
        if end < start:
            raise ValueError("end must not be before start")
        total = math.floor((end - start) / step + 1e-9) + 1
        per = self.max_points_per_request
        parts = []
        for first in range(0, total, per):
            last = min(first + per, total) - 1
            chunk_start = start + first * step
            chunk_end = min(start + last * step, end)
            data = await self._api(
                "POST",
                "/api/v1/query_range",
                form={
                    "query": expr,
                    "start": _fmt(chunk_start),
                    "end": _fmt(chunk_end),
                    "step": _fmt(step),
                },
            )
            parts.append(self._parse(_parse_matrix, data))
        return _merge(parts)

    async def series(
        self, match: str | Sequence[str], *, start: float | None = None, end: float | None = None
    ) -> list[Mapping[str, str]]:
        """Label sets of the series matching any of the selectors in `match`."""
        params: list[tuple[str, str]] = [
            ("match[]", m) for m in ([match] if isinstance(match, str) else match)
        ]
        if not params:
            raise ValueError("series() needs at least one selector")
        params += self._range_params(start, end)
        data = await self._api("POST", "/api/v1/series", form=params)
        return self._parse(lambda d: [_labels(item) for item in d], data)

    async def label_values(
        self,
        name: str,
        *,
        match: Sequence[str] = (),
        start: float | None = None,
        end: float | None = None,
    ) -> list[str]:
        """The values of label `name` (optionally only in series matching `match`)."""
        params: list[tuple[str, str]] = [("match[]", m) for m in match]
        params += self._range_params(start, end)
        path = f"/api/v1/label/{quote(name, safe='')}/values"
        data = await self._api("GET", path, params=params)
        return self._parse(lambda d: [str(v) for v in d], data)

    # --- rules, alerts, targets, status --------------------------------------------------

    async def alerts(self) -> list[PromAlert]:
        """Pending and firing alerts of every alerting rule."""
        data = await self._api("GET", "/api/v1/alerts")
        return self._parse(lambda d: [_parse_alert(a) for a in d["alerts"]], data)

    async def rules(self, *, kind: Literal["alert", "record"] | None = None) -> list[RuleGroup]:
        """The loaded rule groups with each rule's health, state and active alerts."""
        params = [("type", kind)] if kind else []
        data = await self._api("GET", "/api/v1/rules", params=params)
        return self._parse(lambda d: [_parse_group(g) for g in d["groups"]], data)

    async def targets(self) -> list[Target]:
        """The active scrape targets with their health and last scrape."""
        data = await self._api("GET", "/api/v1/targets", params=[("state", "active")])
        return self._parse(lambda d: [_parse_target(t) for t in d["activeTargets"]], data)

    async def tsdb_status(self, *, limit: int = 10) -> TsdbStatus:
        """Head-block cardinality statistics (top `limit` entries of each list)."""
        data = await self._api("GET", "/api/v1/status/tsdb", params=[("limit", str(limit))])

        def parse(d: Any) -> TsdbStatus:
            head = d.get("headStats") or {}
            min_ms, max_ms = head.get("minTime"), head.get("maxTime")
            return TsdbStatus(
                num_series=int(head.get("numSeries", 0)),
                chunk_count=int(head.get("chunkCount", 0)),
                min_time=None if min_ms is None else int(min_ms) / 1000,
                max_time=None if max_ms is None else int(max_ms) / 1000,
                series_count_by_metric_name=_pairs(d.get("seriesCountByMetricName")),
                label_value_count_by_label_name=_pairs(d.get("labelValueCountByLabelName")),
                memory_in_bytes_by_label_name=_pairs(d.get("memoryInBytesByLabelName")),
                series_count_by_label_value_pair=_pairs(d.get("seriesCountByLabelValuePair")),
            )

        return self._parse(parse, data)

    async def ready(self) -> bool:
        """True when Prometheus answers 200 on `/-/ready`; False if not ready or unreachable."""
        try:
            response = await self._request("GET", "/-/ready")
        except PrometheusError:
            return False
        return response.status_code == 200

    # --- plumbing -------------------------------------------------------------------------

    @staticmethod
    def _range_params(start: float | None, end: float | None) -> list[tuple[str, str]]:
        params = []
        if start is not None:
            params.append(("start", _fmt(start)))
        if end is not None:
            params.append(("end", _fmt(end)))
        return params

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        form: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
    ) -> httpx.Response:
        started = self._clock()
        self.stats.requests += 1
        self.stats.by_endpoint[path] = self.stats.by_endpoint.get(path, 0) + 1
        try:
            return await self._send(
                method,
                path,
                params=params,
                content=None if form is None else _form_body(form),
                headers=None
                if form is None
                else {"Content-Type": "application/x-www-form-urlencoded"},
            )
        except PrometheusError:
            self.stats.errors += 1
            raise
        finally:
            self.stats.seconds += self._clock() - started

    async def _api(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        form: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
    ) -> Any:
        """One API call; returns the envelope's `data` or raises the mapped error."""
        response = await self._request(method, path, params=params, form=form)
        try:
            return self._envelope(response, path)
        except PrometheusError:
            self.stats.errors += 1
            raise

    def _envelope(self, response: httpx.Response, path: str) -> Any:
        status = response.status_code
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as e:
            body = None
            decode_error: Exception | None = e
        else:
            decode_error = None
        envelope = body if isinstance(body, dict) else None
        error_type = str(envelope.get("errorType", "")) if envelope else ""
        error_text = str(envelope.get("error", "")) if envelope else ""
        self._raise_if_unavailable(
            response,
            path,
            lambda: error_text or response.text[:200].strip() or response.reason_phrase,
        )
        if status in (400, 422):
            if envelope is None:
                raise PrometheusResponseError(
                    f"Prometheus answered {status} on {path} without a JSON error: "
                    f"{response.text[:200]!r}",
                    status_code=status,
                )
            raise PrometheusQueryError(error_text, status_code=status, error_type=error_type)
        self._raise_unless_ok(response, path, lambda: repr(response.text[:200]))
        if envelope is None:
            what = f"invalid JSON ({decode_error})" if decode_error else "not a JSON object"
            raise PrometheusResponseError(
                f"Prometheus' answer on {path} is {what}", status_code=status
            ) from decode_error
        if envelope.get("status") != "success" or "data" not in envelope:
            raise PrometheusResponseError(
                f"Prometheus' answer on {path} is not a success envelope: "
                f"{error_type or envelope.get('status')!r} {error_text}",
                status_code=status,
            )
        for warning in envelope.get("warnings") or ():
            log.warning("Prometheus warning on %s: %s", path, warning)
        return envelope["data"]

"""Fault injection on the twin's API itself, for reliability tests of clients.

A share of requests can be answered with an error instead of being served (500 or 503 with
`Retry-After`, or 429 TooManyRequests), every request can be delayed, and two one-shot actions
break clients' watch machinery: drop every open watch now, and compact the history now (older
watches and `continue` tokens then get 410 Gone).

Settings come from tests in-process (`ApiFaults.configure`) or from the HTTP control endpoint
`/twin/faults/api` (validated with `ApiFaultSettings`, a pydantic model, as untrusted input).
Control endpoints under `/twin/`, `/metrics` and the health checks are never faulted.

Decisions draw from a seeded random generator, so a run with the same seed and the same
request sequence fails the same requests.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kubeheal.twin.errors import ApiError, InternalError, ServiceUnavailable, TooManyRequests

__all__ = ["EXEMPT_PREFIXES", "ApiFaultSettings", "ApiFaults", "FaultDecision"]

EXEMPT_PREFIXES = ("/twin/", "/metrics", "/healthz", "/readyz", "/livez")


class ApiFaultSettings(BaseModel):
    """What the API should do wrong, and how often."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    error_rate: float = Field(0.0, ge=0.0, le=1.0, description="share answered 5xx")
    error_codes: tuple[int, ...] = Field((500, 503), description="5xx codes to pick from")
    throttle_rate: float = Field(0.0, ge=0.0, le=1.0, description="share answered 429")
    retry_after_seconds: int = Field(1, ge=0, le=3600, description="Retry-After on 503/429")
    latency_seconds: float = Field(0.0, ge=0.0, le=60.0, description="added to each request")
    latency_jitter_seconds: float = Field(0.0, ge=0.0, le=60.0, description="uniform extra")
    verbs: tuple[str, ...] = Field((), description="only these HTTP methods (all when empty)")
    path_prefix: str = Field("", description="only paths starting with this")

    @field_validator("error_codes")
    @classmethod
    def _codes(cls, codes: tuple[int, ...]) -> tuple[int, ...]:
        if not codes:
            raise ValueError("error_codes must not be empty")
        for code in codes:
            if code not in (500, 503):
                raise ValueError(f"error code {code} is not supported: use 500 or 503")
        return codes

    @field_validator("verbs")
    @classmethod
    def _verbs(cls, verbs: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(v.upper() for v in verbs)


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What to do to one request: wait `delay` seconds, then fail with `error` if set."""

    delay: float
    error: ApiError | None


_NOTHING = FaultDecision(0.0, None)


class ApiFaults:
    """The API fault settings in force, a seeded random source, and counters."""

    def __init__(self, *, seed: int = 0, settings: ApiFaultSettings | None = None) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.settings = settings or ApiFaultSettings()
        self.requests_seen = 0
        self.errors_injected = 0
        self.throttled = 0

    @property
    def active(self) -> bool:
        s = self.settings
        return bool(
            s.error_rate or s.throttle_rate or s.latency_seconds or s.latency_jitter_seconds
        )

    def configure(self, settings: ApiFaultSettings | None = None, **changes: object) -> None:
        """Replace the settings, or change some of them by name."""
        with self._lock:
            base = settings or self.settings
            data = base.model_dump()
            data.update(changes)
            self.settings = ApiFaultSettings.model_validate(data)

    def reset(self) -> None:
        """No faults any more (counters are kept)."""
        with self._lock:
            self.settings = ApiFaultSettings()

    def decide(self, method: str, path: str) -> FaultDecision:
        """Whether and how to fault this request."""
        if path.startswith(EXEMPT_PREFIXES) or not self.active:
            return _NOTHING
        with self._lock:
            s = self.settings
            if s.verbs and method.upper() not in s.verbs:
                return _NOTHING
            if s.path_prefix and not path.startswith(s.path_prefix):
                return _NOTHING
            self.requests_seen += 1
            delay = s.latency_seconds
            if s.latency_jitter_seconds:
                delay += self._rng.uniform(0.0, s.latency_jitter_seconds)
            draw = self._rng.random()
            error: ApiError | None = None
            if draw < s.error_rate:
                code = self._rng.choice(s.error_codes)
                self.errors_injected += 1
                if code == 503:
                    error = ServiceUnavailable(
                        "the server is currently unable to handle the request "
                        "(injected by the twin's API faults)",
                        retry_after=s.retry_after_seconds,
                    )
                else:
                    error = InternalError(
                        "an error on the server (injected by the twin's API faults) has "
                        "prevented the request from succeeding"
                    )
            elif draw < s.error_rate + s.throttle_rate:
                self.throttled += 1
                error = TooManyRequests(
                    "the server has received too many requests and has asked us to try again "
                    "later (injected by the twin's API faults)",
                    retry_after=s.retry_after_seconds,
                )
            return FaultDecision(delay, error)

    def snapshot(self) -> dict[str, object]:
        """Settings and counters, for the control endpoint."""
        with self._lock:
            return {
                "settings": self.settings.model_dump(mode="json"),
                "requestsSeen": self.requests_seen,
                "errorsInjected": self.errors_injected,
                "throttled": self.throttled,
            }

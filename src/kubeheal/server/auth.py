"""Authentication of kubeheal's HTTP server: one ASGI middleware over every route.

Every request needs valid credentials except the health endpoints (/healthz, /livez,
/readyz) and, unless ``server.metrics_auth`` is set, /metrics. Routers added to the app (the
webhook, the incidents API...) are covered without doing anything themselves.

Accepted credentials:

- ``Authorization: Bearer <token>`` when a token is configured;
- ``Authorization: Basic base64(user:password)`` when a password is configured.

Secrets are compared in constant time (``hmac.compare_digest``), come from the settings
(``SecretStr``) or from files that are re-read when they change (a mounted Kubernetes Secret
rotates in place), and are never logged. ``server.auth: none`` turns the check off, with a
warning at start. When authentication is required and no secret is configured, every
protected request is refused (401) and the start-up log says how to configure one.

A browser login (the console, `kubeheal.server.console`) plugs in as a `BrowserSessions`:
its login page is served without credentials, a request with no ``Authorization`` header
but a valid session cookie passes, and an unauthenticated page request (GET) is redirected
(303) to the login page instead of answered 401.

Errors: `AuthConfigError` (a ``ValueError``) when a secret file cannot be read at start.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter
from pydantic import SecretStr

from kubeheal.config import ServerSettings

__all__ = [
    "HEALTH_PATHS",
    "AuthConfigError",
    "AuthMiddleware",
    "Authenticator",
    "BrowserSessions",
    "SecretSource",
    "auth_failures_counter",
]

log = logging.getLogger(__name__)

HEALTH_PATHS = frozenset({"/healthz", "/livez", "/readyz"})
"""Paths that never need credentials (probes of the kubelet and load balancers)."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class AuthConfigError(ValueError):
    """A configured secret cannot be read."""


class SecretSource:
    """A secret from a value or a file; a file is re-read (at most once a second) when its
    modification time changes, and its last good content is kept if it becomes unreadable."""

    def __init__(self, *, value: SecretStr | None = None, path: Path | None = None) -> None:
        if (value is None) == (path is None):
            raise ValueError("a secret comes from exactly one of a value or a file")
        self._path = path
        self._value = value.get_secret_value().encode() if value is not None else b""
        self._stamp: float | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        if path is not None:
            try:
                self._load()
            except OSError as e:
                raise AuthConfigError(f"cannot read the secret file {path}: {e.strerror}") from e

    @classmethod
    def of(cls, value: SecretStr | None, path: Path | None) -> SecretSource | None:
        """A source for the configured value or file, or None when neither is set."""
        if value is None and path is None:
            return None
        return cls(value=value, path=path)

    @property
    def where(self) -> str:
        """Where the secret comes from (never the secret)."""
        return f"file {self._path}" if self._path is not None else "settings"

    def _load(self) -> None:
        assert self._path is not None
        stamp = os.stat(self._path).st_mtime_ns
        if stamp != self._stamp:
            content = self._path.read_bytes().strip()
            self._value, self._stamp = content, stamp

    def get(self) -> bytes:
        """The secret's current bytes (empty: none usable)."""
        if self._path is not None:
            now = time.monotonic()
            with self._lock:
                if now - self._checked >= 1.0:
                    self._checked = now
                    try:
                        self._load()
                    except OSError as e:
                        log.warning(
                            "secret file %s unreadable (%s); keeping its last content",
                            self._path,
                            e.strerror,
                        )
        return self._value


def _same(given: bytes, expected: bytes) -> bool:
    # compare_digest takes time independent of where the inputs differ; an empty expected
    # secret never matches.
    return hmac.compare_digest(given, expected) and bool(expected)


@dataclass(frozen=True)
class Authenticator:
    """Decides whether an ``Authorization`` header is acceptable."""

    token: SecretSource | None = None
    username: str = "kubeheal"
    password: SecretSource | None = None
    disabled: bool = False
    metrics_auth: bool = False

    @classmethod
    def from_settings(cls, settings: ServerSettings) -> Authenticator:
        """The authenticator the settings describe; logs a warning when it is off or has no
        secret. Raises `AuthConfigError` if a secret file cannot be read."""
        auth = cls(
            token=SecretSource.of(settings.token, settings.token_file),
            username=settings.username,
            password=SecretSource.of(settings.password, settings.password_file),
            disabled=settings.auth == "none",
            metrics_auth=settings.metrics_auth,
        )
        auth.log_configuration()
        return auth

    @classmethod
    def static(
        cls,
        *,
        token: str | None = None,
        username: str = "kubeheal",
        password: str | None = None,
        metrics_auth: bool = False,
    ) -> Authenticator:
        """Fixed credentials (tests, embedding)."""
        return cls(
            token=SecretSource(value=SecretStr(token)) if token is not None else None,
            username=username,
            password=SecretSource(value=SecretStr(password)) if password is not None else None,
            metrics_auth=metrics_auth,
        )

    @classmethod
    def off(cls) -> Authenticator:
        """No authentication at all (the explicit ``auth: none``)."""
        return cls(disabled=True)

    def log_configuration(self) -> None:
        if self.disabled:
            log.warning(
                "HTTP authentication is OFF (server.auth: none): anyone who can reach the "
                "server can post alerts and use the API"
            )
        elif self.token is None and self.password is None:
            log.warning(
                "HTTP authentication is required but no secret is configured: every request "
                "to the webhook and API is refused; set server.token_file (or "
                "KUBEHEAL_SERVER__TOKEN) or server.password_file"
            )
        else:
            schemes = [
                f"bearer token from {self.token.where}" if self.token else "",
                f"basic auth for {self.username!r} from {self.password.where}"
                if self.password
                else "",
            ]
            log.info("HTTP authentication: %s", ", ".join(s for s in schemes if s))

    def exempt(self, path: str) -> bool:
        """Whether ``path`` is served without credentials."""
        return path in HEALTH_PATHS or (path == "/metrics" and not self.metrics_auth)

    def check(self, header: bytes | None) -> str | None:
        """None when ``header`` (the raw Authorization value) is acceptable, else why not."""
        if self.disabled:
            return None
        if not header:
            return "missing credentials"
        scheme, _, credentials = header.strip().partition(b" ")
        scheme = scheme.lower()
        credentials = credentials.strip()
        if scheme == b"bearer" and self.token is not None:
            return None if _same(credentials, self.token.get()) else "invalid credentials"
        if scheme == b"basic" and self.password is not None:
            try:
                decoded = base64.b64decode(credentials, validate=True)
            except (binascii.Error, ValueError):
                return "malformed basic credentials"
            user, sep, password = decoded.partition(b":")
            user_ok = _same(user, self.username.encode())
            password_ok = _same(password, self.password.get())
            return None if sep and user_ok & password_ok else "invalid credentials"
        return "unsupported authorization scheme"

    @property
    def challenge(self) -> bytes:
        """The WWW-Authenticate value of a 401 answer."""
        offers = []
        if self.token is not None or self.password is None:
            offers.append('Bearer realm="kubeheal"')
        if self.password is not None:
            offers.append('Basic realm="kubeheal"')
        return ", ".join(offers).encode()


def auth_failures_counter(registry: CollectorRegistry | None) -> Counter:
    """The counter of refused requests, registered in ``registry`` (None: unregistered)."""
    return Counter(
        "kubeheal_http_auth_failures_total",
        "HTTP requests refused for missing or invalid credentials, by reason.",
        ["reason"],
        registry=registry,
    )


class BrowserSessions(Protocol):
    """Browser logins the middleware honours (see the module docstring)."""

    def exempt(self, path: str) -> bool:
        """Whether ``path`` (the login page) is served without credentials."""
        ...

    def has_session(self, scope: Scope) -> bool:
        """Whether the request carries a valid session cookie."""
        ...

    def login_redirect(self, scope: Scope) -> bytes | None:
        """Where to send an unauthenticated request (a Location), or None to answer 401."""
        ...


class AuthMiddleware:
    """Refuses (401) HTTP requests without acceptable credentials; see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticator: Authenticator,
        failures: Counter | None = None,
        browser: BrowserSessions | None = None,
    ) -> None:
        self.app = app
        self.auth = authenticator
        self.failures = failures if failures is not None else auth_failures_counter(None)
        self.browser = browser

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        browser = self.browser
        if (
            scope["type"] != "http"
            or self.auth.exempt(scope["path"])
            or (browser is not None and browser.exempt(scope["path"]))
        ):
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value
                break
        if header is None and browser is not None and browser.has_session(scope):
            await self.app(scope, receive, send)
            return
        problem = self.auth.check(header)
        if problem is None:
            await self.app(scope, receive, send)
            return
        self.failures.labels(reason=problem).inc()
        client = scope.get("client") or ("?", 0)
        log.info("refused %s %s from %s: %s", scope["method"], scope["path"], client[0], problem)
        location = browser.login_redirect(scope) if browser is not None and header is None else None
        if location is not None:
            await send(
                {
                    "type": "http.response.start",
                    "status": 303,
                    "headers": [(b"location", location), (b"content-length", b"0")],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        body = b'{"detail":"' + problem.encode() + b'"}'
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", self.auth.challenge),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

"""Console sessions: the login cookie, its role, and the CSRF check of every state change.

A successful login (`ConsoleGate.login`) with the server's bearer token or basic-auth
password gives the **operator** role; the read-only ``server.viewer_token`` gives the
**viewer** role (pages only: every state change answers 403). The session cookie
``kubeheal_session`` is ``payload.signature``: the payload names the role, the credential
used, its expiry, and the CSRF value bound to it; the signature is an HMAC-SHA256 keyed by a
key derived from that credential's current secret, so sessions survive a restart, work on
every replica sharing the secret, and end when the secret is rotated. The cookie is HttpOnly,
SameSite=Strict, Path=/console, and Secure when the request came over HTTPS (or always /
never, ``server.cookie_secure``).

CSRF (`ConsoleGate.csrf_problem`): a state-changing request must come from the console's own
origin (its ``Origin``, or ``Referer`` when there is no ``Origin``, names the request's own
scheme and host; ``Sec-Fetch-Site: cross-site`` is refused) and carry the CSRF value
(form field ``csrf`` or header ``X-CSRF-Token``) equal to the ``kubeheal_csrf`` cookie and,
with a session, to the value signed into it (double submit, bound to the session).

Errors: none of its own; every problem is a reason string the routes turn into 401/403.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from kubeheal.server.auth import Authenticator, SecretSource

__all__ = [
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "ConsoleGate",
    "Role",
    "Session",
]

SESSION_COOKIE = "kubeheal_session"
CSRF_COOKIE = "kubeheal_csrf"
_KEY_LABEL = b"kubeheal console session v1"


class Role(StrEnum):
    """What a console user may do."""

    VIEWER = "viewer"
    """Read every page; change nothing."""
    OPERATOR = "operator"
    """Also acknowledge incidents and pull or release the kill switch."""


@dataclass(frozen=True)
class Session:
    """A verified console session."""

    role: Role
    credential: str
    """Which secret it was opened with: token, password, viewer or none (auth off)."""
    user: str
    csrf: str
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _cookies(headers: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in headers.get("cookie", "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name not in out:
            out[name] = value
    return out


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


@dataclass(frozen=True)
class ConsoleGate:
    """Logs users in, verifies their sessions and checks CSRF (see the module docstring)."""

    auth: Authenticator
    viewer: SecretSource | None = None
    lifetime: int = 12 * 3600
    """Seconds a session lasts."""
    cookie_secure: str = "auto"
    """auto (Secure when the request came over HTTPS), always or never."""
    clock: Callable[[], float] = time.time

    # ------------------------------------------------------------------ keys and cookies

    def _secret(self, credential: str) -> bytes:
        if credential == "token" and self.auth.token is not None:
            return self.auth.token.get()
        if credential == "password" and self.auth.password is not None:
            return self.auth.password.get()
        if credential == "viewer" and self.viewer is not None:
            return self.viewer.get()
        return b""

    def _sign(self, credential: str, payload: bytes) -> str:
        secret = self._secret(credential)
        if not secret:
            return ""
        key = hmac.new(secret, _KEY_LABEL, hashlib.sha256).digest()
        return _b64(hmac.new(key, payload, hashlib.sha256).digest())

    def secure(self, scheme: str) -> bool:
        """Whether cookies set over ``scheme`` get the Secure attribute."""
        if self.cookie_secure == "always":
            return True
        if self.cookie_secure == "never":
            return False
        return scheme in ("https", "wss")

    @property
    def enabled(self) -> bool:
        """False when the server runs without authentication (``server.auth: none``)."""
        return not self.auth.disabled

    # ------------------------------------------------------------------ login

    def login(self, *, user: str, secret: str) -> tuple[Role, str] | None:
        """(role, credential name) for a user name and secret typed in the login form, or
        None. The token (any user name) and the basic-auth password (its user name) give the
        operator role, the viewer token the viewer role."""
        given = secret.encode()
        if not given:
            return None
        checks: list[tuple[str, Role, bool]] = [
            ("token", Role.OPERATOR, True),
            (
                "password",
                Role.OPERATOR,
                hmac.compare_digest(user.encode(), self.auth.username.encode()),
            ),
            ("viewer", Role.VIEWER, True),
        ]
        found: tuple[Role, str] | None = None
        for credential, role, user_ok in checks:
            expected = self._secret(credential)
            # Every secret is compared (constant work whichever matches).
            if (
                hmac.compare_digest(given, expected)
                and bool(expected)
                and user_ok
                and found is None
            ):
                found = (role, credential)
        return found

    def issue(self, *, role: Role, credential: str, user: str) -> tuple[str, str]:
        """(session cookie value, CSRF value) of a new session."""
        csrf = secrets.token_urlsafe(24)
        body = {
            "r": role.value,
            "c": credential,
            "u": user[:64],
            "x": csrf,
            "e": int(self.clock()) + self.lifetime,
        }
        payload = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64(payload)}.{self._sign(credential, payload)}", csrf

    def session(self, headers: Mapping[str, str]) -> Session | None:
        """The valid session the request's cookie carries, or None."""
        raw = _cookies(headers).get(SESSION_COOKIE, "")
        encoded, sep, signature = raw.partition(".")
        if not sep or len(raw) > 4096:
            return None
        try:
            payload = _unb64(encoded)
            body: Any = json.loads(payload)
        except (binascii.Error, ValueError):
            return None
        if not isinstance(body, dict):
            return None
        credential = body.get("c")
        if not isinstance(credential, str):
            return None
        expected = self._sign(credential, payload)
        if not expected or not hmac.compare_digest(signature.encode(), expected.encode()):
            return None
        expires, role, user, csrf = body.get("e"), body.get("r"), body.get("u"), body.get("x")
        if not isinstance(expires, int) or expires <= self.clock():
            return None
        if role not in (Role.VIEWER.value, Role.OPERATOR.value) or (
            credential == "viewer" and role != Role.VIEWER.value
        ):
            return None
        if not isinstance(user, str) or not isinstance(csrf, str):
            return None
        return Session(
            role=Role(role), credential=credential, user=user, csrf=csrf, expires=expires
        )

    # ------------------------------------------------------------------ requests

    def authenticated(self, headers: Mapping[str, str]) -> bool:
        """Whether the request may see console pages: authentication off, a valid session,
        or an ``Authorization`` header (the middleware has already checked it)."""
        return self.auth.disabled or "authorization" in headers or self.session(headers) is not None

    def role(self, headers: Mapping[str, str]) -> Role:
        """The role of an authenticated request (header credentials are operator's)."""
        if self.auth.disabled or "authorization" in headers:
            return Role.OPERATOR
        found = self.session(headers)
        return found.role if found is not None else Role.VIEWER

    def user(self, headers: Mapping[str, str]) -> str:
        """Who the request is (recorded with acknowledgements and kill-switch changes)."""
        found = self.session(headers)
        if found is not None:
            return found.user
        return "console" if self.auth.disabled else "api-client"

    def csrf_value(self, headers: Mapping[str, str]) -> str:
        """The CSRF value pages must embed: the session's, or the CSRF cookie's."""
        found = self.session(headers)
        if found is not None:
            return found.csrf
        return _cookies(headers).get(CSRF_COOKIE, "")

    @staticmethod
    def new_csrf() -> str:
        return secrets.token_urlsafe(24)

    def csrf_problem(
        self, *, headers: Mapping[str, str], scheme: str, host: str, submitted: str
    ) -> str | None:
        """None when a state-changing request passes the CSRF check, else why not."""
        own = f"{scheme}://{host}".lower()
        origin = headers.get("origin", "")
        if origin:
            if origin.lower() != own:
                return "cross-origin request"
        else:
            referer = headers.get("referer", "")
            if not referer or _origin_of(referer) != own:
                return "request without a same-origin Origin or Referer"
        if headers.get("sec-fetch-site", "") == "cross-site":
            return "cross-site request"
        cookie = _cookies(headers).get(CSRF_COOKIE, "")
        if (
            not submitted
            or not cookie
            or not hmac.compare_digest(submitted.encode(), cookie.encode())
        ):
            return "missing or wrong CSRF token"
        found = self.session(headers)
        if found is not None and not hmac.compare_digest(found.csrf.encode(), cookie.encode()):
            return "CSRF token not of this session"
        return None

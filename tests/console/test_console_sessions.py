"""Console sessions and CSRF, on plain data: what a forged, tampered, expired or rotated
cookie gets, which credential gives which role, and which requests pass the CSRF check."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from kubeheal.server.auth import Authenticator, SecretSource
from kubeheal.server.console import ConsoleBrowser, ConsoleGate, Role

BASE = "http://127.0.0.1:8080"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _gate(clock: Clock | None = None, token: str = "tok") -> ConsoleGate:
    return ConsoleGate(
        auth=Authenticator.static(token=token, username="ops", password="pw"),
        viewer=SecretSource(value=SecretStr("view")),
        lifetime=3600,
        clock=clock or Clock(),
    )


def _cookie(value: str, csrf: str = "") -> dict[str, str]:
    jar = f"kubeheal_session={value}"
    if csrf:
        jar += f"; kubeheal_csrf={csrf}"
    return {"cookie": jar}


def test_each_credential_gives_its_role_and_nothing_else_logs_in() -> None:
    gate = _gate()
    assert gate.login(user="", secret="tok") == (Role.OPERATOR, "token")
    assert gate.login(user="ops", secret="pw") == (Role.OPERATOR, "password")
    assert gate.login(user="someone", secret="pw") is None  # password is the user's
    assert gate.login(user="", secret="view") == (Role.VIEWER, "viewer")
    assert gate.login(user="", secret="") is None
    assert gate.login(user="", secret="tok2") is None


def test_a_session_holds_its_role_until_it_expires() -> None:
    clock = Clock()
    gate = _gate(clock)
    cookie, csrf = gate.issue(role=Role.VIEWER, credential="viewer", user="bob")
    session = gate.session(_cookie(cookie))
    assert session is not None and session.role is Role.VIEWER and session.csrf == csrf
    assert gate.role(_cookie(cookie)) is Role.VIEWER and gate.user(_cookie(cookie)) == "bob"
    clock.now += 3601
    assert gate.session(_cookie(cookie)) is None


def test_tampered_or_forged_cookies_are_not_sessions() -> None:
    gate = _gate()
    cookie, _ = gate.issue(role=Role.VIEWER, credential="viewer", user="bob")
    payload, signature = cookie.split(".")
    import base64
    import json

    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["r"] = "operator"  # a viewer promoting itself
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    assert gate.session(_cookie(f"{forged}.{signature}")) is None
    assert gate.session(_cookie(payload + "." + signature[:-2] + "AA")) is None
    assert gate.session(_cookie("garbage")) is None
    assert gate.session(_cookie("a.b")) is None
    # Signed with the viewer key but claiming the operator role: refused too.
    other = _gate()
    promoted, _ = other.issue(role=Role.OPERATOR, credential="viewer", user="bob")
    assert gate.session(_cookie(promoted)) is None


def test_rotating_the_secret_ends_its_sessions(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("first")
    clock = Clock()
    gate = ConsoleGate(
        auth=Authenticator(token=SecretSource(path=secret)), lifetime=3600, clock=clock
    )
    cookie, _ = gate.issue(role=Role.OPERATOR, credential="token", user="a")
    assert gate.session(_cookie(cookie)) is not None
    # Another replica with the same secret accepts it; a rotated secret does not.
    assert _gate(token="first").session(_cookie(cookie)) is not None
    assert _gate(token="second").session(_cookie(cookie)) is None


def _post(
    origin: str = BASE, *, cookie: str = "", csrf_cookie: str = "", referer: str = ""
) -> dict[str, str]:
    headers = {"host": "127.0.0.1:8080"}
    if origin:
        headers["origin"] = origin
    if referer:
        headers["referer"] = referer
    jar = [f"kubeheal_session={cookie}"] if cookie else []
    if csrf_cookie:
        jar.append(f"kubeheal_csrf={csrf_cookie}")
    if jar:
        headers["cookie"] = "; ".join(jar)
    return headers


def test_csrf_needs_the_own_origin_and_the_token_of_the_session() -> None:
    gate = _gate()
    cookie, csrf = gate.issue(role=Role.OPERATOR, credential="token", user="a")

    def problem(headers: dict[str, str], submitted: str) -> str | None:
        return gate.csrf_problem(
            headers=headers, scheme="http", host="127.0.0.1:8080", submitted=submitted
        )

    assert problem(_post(cookie=cookie, csrf_cookie=csrf), csrf) is None
    assert (
        problem(_post("", referer=f"{BASE}/console/safety", cookie=cookie, csrf_cookie=csrf), csrf)
        is None
    )
    assert (
        problem(_post("http://evil.example", cookie=cookie, csrf_cookie=csrf), csrf)
        == "cross-origin request"
    )
    assert problem(_post("", cookie=cookie, csrf_cookie=csrf), csrf) is not None  # no origin at all
    assert problem(_post(cookie=cookie, csrf_cookie=csrf), "") == "missing or wrong CSRF token"
    assert (
        problem(_post(cookie=cookie, csrf_cookie=csrf), csrf + "x") == "missing or wrong CSRF token"
    )
    # An attacker who plants its own CSRF cookie (and submits it) is not this session.
    assert (
        problem(_post(cookie=cookie, csrf_cookie="planted"), "planted")
        == "CSRF token not of this session"
    )
    cross = _post(cookie=cookie, csrf_cookie=csrf) | {"sec-fetch-site": "cross-site"}
    assert problem(cross, csrf) == "cross-site request"


def test_the_middleware_hook_redirects_pages_only() -> None:
    browser = ConsoleBrowser(_gate())

    def scope(method: str, path: str, query: bytes = b"") -> dict[str, object]:
        return {
            "type": "http",
            "method": method,
            "path": path,
            "query_string": query,
            "headers": [],
        }

    assert browser.exempt("/console/login") and not browser.exempt("/console/incidents")
    assert browser.login_redirect(scope("GET", "/console/incidents", b"state=open")) == (
        b"/console/login?next=%2Fconsole%2Fincidents%3Fstate%3Dopen"
    )
    assert browser.login_redirect(scope("POST", "/console/safety/kill-switch")) is None
    assert browser.login_redirect(scope("GET", "/api/v1/incidents")) is None
    assert browser.login_redirect(scope("GET", "/consolex")) is None
    assert not browser.has_session(scope("GET", "/console/incidents"))

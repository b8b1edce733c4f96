"""Fixtures of the notification tests: local receivers on 127.0.0.1 and a fake clock.

- ``receiver``: one HTTP server (uvicorn, in the test's event loop) with a path per channel
  kind. Every request body is validated against the JSON Schema of its channel
  (``schemas/``, written from the vendors' documentation); generic webhook requests also have
  their HMAC signature checked. Responses can be scripted (status, Retry-After, delay), and
  the server can be stopped and started again on the same port ("down for a while").
- ``smtp``: a real SMTP server (aiosmtpd) capturing the mail; ``smtp_tls`` the same with
  STARTTLS required, AUTH LOGIN/PLAIN, and a self-signed certificate the client trusts via
  ``ca_file``.
- ``clock``: a manual clock; ``kit``: helpers that write incidents into a ledger and build
  settings.

Helpers are handed out through fixtures (a conftest cannot be imported in importlib mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import shutil
import socket
import subprocess
import threading
from collections import Counter, deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from kubeheal.config.settings import NotificationSettings
from kubeheal.server.serving import serving
from kubeheal.store import ActionState, IncidentState, Ledger, SignalRecord, TargetRef

SCHEMAS = Path(__file__).parent / "schemas"
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)

ROUTING_KEY = "R0UT1NGKEY0123456789abcdefSECRET"  # 32 characters, like PagerDuty's
SLACK_TOKEN = "T000/B000/XXslacktokenSECRET"
TEAMS_SIG = "teamsSIGsecretQQ"
SIGNING_SECRET = "whsec-hmac-SECRET-value"
SMTP_PASSWORD = "smtp-pa55word-SECRET"
SECRETS = (ROUTING_KEY, SLACK_TOKEN, TEAMS_SIG, SIGNING_SECRET, SMTP_PASSWORD)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime = T0) -> None:
        self.now_value = start

    def __call__(self) -> datetime:
        return self.now_value

    def advance(self, seconds: float) -> datetime:
        self.now_value += timedelta(seconds=seconds)
        return self.now_value

    def at(self, seconds: float) -> datetime:
        """Set the clock to T0 + seconds."""
        self.now_value = T0 + timedelta(seconds=seconds)
        return self.now_value


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


VALIDATORS = {
    "pagerduty": _validator("pagerduty-events-v2.json"),
    "slack": _validator("slack-webhook-blocks.json"),
    "teams": _validator("teams-adaptive-card-message.json"),
    "webhook": _validator("kubeheal-webhook.json"),
}


@dataclass
class Captured:
    """One request a receiver accepted (2xx)."""

    kind: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any


@dataclass
class Reply:
    """A scripted answer."""

    status: int = 200
    text: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Receiver:
    """Local receivers of every HTTP channel (see the module docstring)."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.accepted: list[Captured] = []
        self.received: list[Captured] = []
        """Every request that reached the server, whatever the answer."""
        self.violations: list[str] = []
        self.script: dict[str, deque[Reply]] = {}
        self._server: contextlib.AbstractAsyncContextManager[str] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, kind: str, secret_part: str = "") -> str:
        return f"{self.base}/{kind}/{secret_part}".rstrip("/")

    def reply(self, kind: str, *replies: dict[str, Any]) -> None:
        """Script the next answers on ``kind``: each a dict of `Reply` fields."""
        self.script.setdefault(kind, deque()).extend(Reply(**r) for r in replies)

    def of(self, kind: str) -> list[Captured]:
        return [c for c in self.accepted if c.kind == kind]

    def keys(self, kind: str = "webhook") -> Counter[str]:
        """Idempotency keys of the accepted generic-webhook requests, with counts."""
        return Counter(c.headers.get("idempotency-key", "") for c in self.of(kind))

    async def _handle(self, request: Request) -> Response:
        kind = request.path_params["kind"]
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            doc = json.loads(body)
        except ValueError:
            self.violations.append(f"{kind}: not JSON")
            return PlainTextResponse("invalid_payload", status_code=400)
        captured = Captured(kind=kind, path=request.url.path, headers=headers, body=body, json=doc)
        self.received.append(captured)
        validator = VALIDATORS.get(kind)
        if validator is not None:
            errors = [
                f"{kind}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in validator.iter_errors(doc)
            ]
            if errors:
                self.violations.extend(errors)
                return PlainTextResponse("invalid_payload", status_code=400)
        if kind == "webhook":
            stamp = headers.get("x-kubeheal-timestamp", "")
            expected = (
                "sha256="
                + hmac.new(
                    SIGNING_SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256
                ).hexdigest()
            )
            if not hmac.compare_digest(headers.get("x-kubeheal-signature", ""), expected):
                self.violations.append("webhook: bad signature")
                return PlainTextResponse("bad signature", status_code=401)
        if kind == "pagerduty" and doc.get("routing_key") != ROUTING_KEY:
            self.violations.append("pagerduty: wrong routing key")
        queue = self.script.get(kind)
        if queue:
            scripted = queue.popleft()
            if scripted.delay:
                await asyncio.sleep(scripted.delay)
            if not 200 <= scripted.status < 300:
                return PlainTextResponse(
                    scripted.text, status_code=scripted.status, headers=scripted.headers
                )
        self.accepted.append(captured)
        if kind == "pagerduty":
            return JSONResponse(
                {"status": "success", "message": "Event processed", "dedup_key": doc["dedup_key"]},
                status_code=202,
            )
        if kind == "teams":
            return Response(status_code=202)
        return PlainTextResponse("ok")

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/{kind}/{rest:path}", self._handle, methods=["POST"]),
                Route("/{kind}", self._handle, methods=["POST"]),
            ]
        )

    async def start(self) -> None:
        assert self._server is None
        self._server = serving(self.app(), host="127.0.0.1", port=self.port)
        await self._server.__aenter__()

    async def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await server.__aexit__(None, None, None)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    try:
        yield r
    finally:
        await r.stop()


@pytest.fixture
def down_receiver() -> Receiver:
    """A receiver whose server is not started yet (the test starts it)."""
    return Receiver()


# -- SMTP -----------------------------------------------------------------------------------


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    host: str
    port: int
    mailbox: _Mailbox
    ca_file: Path | None = None
    logins: list[str] = field(default_factory=list)

    @property
    def messages(self) -> list[EmailMessage]:
        with self.mailbox.lock:
            return list(self.mailbox.messages)


@contextlib.contextmanager
def _smtp_server(**kwargs: Any) -> Iterator[tuple[Controller, _Mailbox, int]]:
    mailbox = _Mailbox()
    port = _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield controller, mailbox, port
    finally:
        controller.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with _smtp_server() as (_, mailbox, port):
        yield SmtpServer(host="127.0.0.1", port=port, mailbox=mailbox)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (made with the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def smtp_tls(certificate: tuple[Path, Path]) -> Iterator[SmtpServer]:
    import ssl

    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    logins: list[str] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == b"kubeheal"
            and data.password == SMTP_PASSWORD.encode()
        )
        if ok:
            logins.append(mechanism)
        return AuthResult(success=ok, handled=False)

    with _smtp_server(
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_require_tls=True,
        auth_required=True,
    ) as (_, mailbox, port):
        yield SmtpServer(host="127.0.0.1", port=port, mailbox=mailbox, ca_file=cert, logins=logins)


# -- ledger and settings helpers ----------------------------------------------------------------


class Kit:
    """Writes incidents the way the operator does, and builds notification settings."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.ledger_path = tmp_path / "ledger.db"

    def open(self) -> Ledger:
        return Ledger.open(self.ledger_path)

    @staticmethod
    def incident(
        ledger: Ledger,
        incident_id: str = "inc-1",
        *,
        at: datetime = T0,
        namespace: str = "shop",
        name: str = "cart",
        kind: str = "CrashLoopBackOff",
        labels: dict[str, str] | None = None,
        escalate: bool = True,
        patch: str = "",
    ) -> TargetRef:
        """An incident on Deployment namespace/name that failed one action and (by default)
        was escalated at ``at`` + 60s with logs and a patch, like the operator's `_escalate`."""
        target = TargetRef(kind="Deployment", namespace=namespace, name=name)
        ledger.open_incident(incident_id=incident_id, target=target, opened_at=at, detected_at=at)
        details: dict[str, Any] = {"restarts": 7}
        details.update({f"label.{k}": v for k, v in (labels or {}).items()})
        ledger.record_signal(
            SignalRecord(
                id=f"sig-{incident_id}",
                kind=kind,
                target=target,
                subject=f"pod/{name}-7d9f-abcde/container/app",
                source="detector",
                observed_at=at,
                details=details,
                incident_id=incident_id,
            )
        )
        ledger.record_plan(
            incident_id=incident_id,
            decided_at=at + timedelta(seconds=5),
            reason="crashloop-restart step 0",
            playbook="crashloop-restart",
            step=0,
            action="restart_pods",
            params={"pods": [f"{name}-7d9f-abcde"]},
        )
        ledger.transition_incident(
            incident_id,
            from_state=IncidentState.OPEN,
            to_state=IncidentState.ACTING,
            at=at + timedelta(seconds=5),
            reason="crashloop-restart[0] restart_pods",
        )
        key = f"act-{incident_id}"
        ledger.begin_action(
            key,
            incident_id=incident_id,
            action="restart_pods",
            target=target,
            params={"pods": [f"{name}-7d9f-abcde"]},
            requested_at=at + timedelta(seconds=5),
        )
        ledger.finish_action(
            key, state=ActionState.FAILED, finished_at=at + timedelta(seconds=6), error="boom"
        )
        if escalate:
            ledger.transition_incident(
                incident_id,
                from_state=IncidentState.ACTING,
                to_state=IncidentState.VERIFYING,
                at=at + timedelta(seconds=6),
                reason="action failed",
            )
            ledger.record_plan(
                incident_id=incident_id,
                decided_at=at + timedelta(seconds=60),
                reason="every step failed",
                playbook="crashloop-restart",
                action="escalate",
                params={"patch": patch, "pod": f"{name}-7d9f-abcde"},
            )
            reason = "every step failed\nlast logs of cart-7d9f-abcde:\npanic: config missing" + (
                f"\npatch to commit:\n{patch}" if patch else ""
            )
            ledger.transition_incident(
                incident_id,
                from_state=IncidentState.VERIFYING,
                to_state=IncidentState.ESCALATED,
                at=at + timedelta(seconds=60),
                reason=reason,
            )
        return target

    @staticmethod
    def settings(
        receiver: Receiver | None = None, smtp: SmtpServer | None = None, **extra: Any
    ) -> NotificationSettings:
        """Four levels (chat 5m, on-call + e-mail 15m, PagerDuty 30m, management 60m) over
        the receiver's endpoints and the SMTP server."""
        channels: dict[str, Any] = {}
        if receiver is not None:
            channels.update(
                {
                    "chat": {"type": "slack", "url": receiver.url("slack", SLACK_TOKEN)},
                    "oncall": {"type": "teams", "url": receiver.url("teams", TEAMS_SIG)},
                    "pager": {
                        "type": "pagerduty",
                        "routing_key": ROUTING_KEY,
                        "url": receiver.url("pagerduty"),
                    },
                    "mgmt": {
                        "type": "webhook",
                        "url": receiver.url("webhook"),
                        "signing_secret": SIGNING_SECRET,
                    },
                }
            )
        if smtp is not None:
            channels["mail"] = {
                "type": "email",
                "smtp_host": smtp.host,
                "smtp_port": smtp.port,
                "smtp_security": "starttls" if smtp.ca_file else "none",
                "smtp_username": "kubeheal" if smtp.ca_file else "",
                "smtp_password": SMTP_PASSWORD if smtp.ca_file else None,
                "ca_file": str(smtp.ca_file) if smtp.ca_file else None,
                "email_from": "kubeheal@example.org",
                "email_to": ["oncall@example.org", "sre@example.org"],
            }
        level2 = [c for c in ("oncall", "mail") if c in channels]
        data: dict[str, Any] = {
            "channels": channels,
            "policies": {
                "default": {
                    "levels": [
                        {"after": "5m", "channels": ["chat"], "name": "chat"},
                        {"after": "15m", "channels": level2, "name": "on-call"},
                        {"after": "30m", "channels": ["pager"], "name": "pagerduty"},
                        {"after": "60m", "channels": ["mgmt"], "name": "management"},
                    ]
                }
            }
            if receiver is not None
            else {"default": {"levels": [{"after": "0s", "channels": list(channels)}]}},
            "retry_initial": "10s",
            "retry_max": "5m",
            "dashboard_url": "https://grafana.example.org/d/k8s?var-namespace={namespace}"
            "&var-workload={name}",
        }
        data.update(extra)
        return NotificationSettings.model_validate(data)


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return Kit(tmp_path)

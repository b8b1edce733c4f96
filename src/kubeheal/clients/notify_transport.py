"""Network transports of notifications: an HTTP POST (webhooks, Slack, Teams, PagerDuty) and
SMTP (e-mail). Only the bytes on the wire are handled here; what to send and to whom is
decided by `kubeheal.notify`.

Exception tree (nothing from httpx, smtplib, ssl or the socket layer leaks past this module)::

    DeliveryError
    ├── TemporaryDeliveryError   retry later (``retry_after``: the receiver's Retry-After in
    │                            seconds, when it gave one): connection refused/reset,
    │                            timeout, TLS failure, HTTP 408/425/429/5xx, SMTP 4xx
    └── PermanentDeliveryError   retrying cannot help: HTTP 3xx/4xx (bad payload, revoked
                                 webhook, unknown routing key), SMTP 5xx (recipient refused,
                                 authentication failed), a server without STARTTLS when it
                                 is required, an invalid URL, a request or mail that cannot
                                 be put on the wire (an illegal header, an unencodable
                                 address)

Header values are sent with their control characters replaced by spaces (CR/LF would split a
header; the notify layer strips them already, this is the last line of defence).

Secrets stay out of errors: messages never contain the URL (Slack and Teams webhook URLs are
credentials), the request body or a password, and every string the caller lists in
``redact`` is masked in the excerpts of answers that are kept.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Literal

import httpx

from kubeheal.model.text import escape_control, strip_control

__all__ = [
    "DeliveryError",
    "HttpRequest",
    "HttpResponse",
    "HttpSender",
    "PermanentDeliveryError",
    "SmtpSender",
    "SmtpTarget",
    "TemporaryDeliveryError",
    "redact",
]

log = logging.getLogger(__name__)

_TEMPORARY_STATUS = frozenset({408, 425, 429})
_EXCERPT = 300
MASK = "[redacted]"


class DeliveryError(Exception):
    """A notification could not be delivered."""


class TemporaryDeliveryError(DeliveryError):
    """The receiver may take it later; ``retry_after`` is its own hint, in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """The receiver refused it for good (or the configuration is wrong)."""


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every non-empty string of ``secrets`` replaced by a mask."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class _HttpxLogRedactor(logging.Filter):
    """Masks secrets in httpx's own log lines (it logs every request's full URL at INFO,
    and a Slack or Teams webhook URL is a credential)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            masked = redact(message, tuple(self.secrets))
            if masked != message:
                record.msg, record.args = masked, None
        return True


_HTTPX_REDACTOR = _HttpxLogRedactor()
logging.getLogger("httpx").addFilter(_HTTPX_REDACTOR)


@dataclass(frozen=True)
class HttpRequest:
    """One JSON POST. ``url`` and headers may hold secrets; ``redact`` lists them."""

    url: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    redact: tuple[str, ...] = ()
    timeout: float = 10.0
    ca_file: Path | None = None
    what: str = "notification"
    """Names the destination in messages (the channel name, never its URL)."""


@dataclass(frozen=True)
class HttpResponse:
    """A successful answer: status and (redacted) start of the body."""

    status: int
    excerpt: str


def _retry_after(value: str | None, now: Callable[[], float]) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())


class HttpSender:
    """POSTs notification requests; one connection pool per trusted-CA bundle."""

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._transport = transport
        self._now = now
        self._clients: dict[Path | None, httpx.AsyncClient] = {}

    def _client(self, ca_file: Path | None) -> httpx.AsyncClient:
        client = self._clients.get(ca_file)
        if client is None:
            verify: ssl.SSLContext | bool = True
            if ca_file is not None:
                verify = ssl.create_default_context(cafile=str(ca_file))
            client = httpx.AsyncClient(
                transport=self._transport,
                verify=verify,
                follow_redirects=False,
                headers={"User-Agent": "kubeheal"},
            )
            self._clients[ca_file] = client
        return client

    async def post(self, request: HttpRequest) -> HttpResponse:
        """Send ``request``; raise `TemporaryDeliveryError` or `PermanentDeliveryError`."""
        what = request.what
        _HTTPX_REDACTOR.secrets.update(s for s in (*request.redact, request.url) if s)
        try:
            client = self._client(request.ca_file)
        except (OSError, ssl.SSLError) as e:
            raise PermanentDeliveryError(
                f"{what}: cannot load ca_file: {type(e).__name__}"
            ) from None
        try:
            response = await client.post(
                request.url,
                content=request.body,
                headers={
                    strip_control(key): strip_control(value)
                    for key, value in request.headers.items()
                },
                timeout=request.timeout,
            )
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as e:
            raise PermanentDeliveryError(f"{what}: invalid URL ({type(e).__name__})") from None
        except httpx.LocalProtocolError as e:
            # Our own request is malformed (an illegal header): sending it again cannot help.
            detail = redact(escape_control(str(e)), (*request.redact, request.url))[:_EXCERPT]
            raise PermanentDeliveryError(
                f"{what}: the request cannot be sent ({type(e).__name__}: {detail})"
            ) from None
        except httpx.TimeoutException as e:
            raise TemporaryDeliveryError(f"{what}: timed out ({type(e).__name__})") from None
        except httpx.TransportError as e:
            detail = redact(str(e), (*request.redact, request.url))[:_EXCERPT]
            raise TemporaryDeliveryError(
                f"{what}: connection failed ({type(e).__name__}: {detail})"
            ) from None
        excerpt = redact(response.text[:_EXCERPT], (*request.redact, request.url))
        status = response.status_code
        if 200 <= status < 300:
            return HttpResponse(status=status, excerpt=excerpt)
        message = f"{what}: HTTP {status}" + (f": {excerpt}" if excerpt else "")
        if status in _TEMPORARY_STATUS or status >= 500:
            raise TemporaryDeliveryError(
                message, retry_after=_retry_after(response.headers.get("retry-after"), self._now)
            )
        raise PermanentDeliveryError(message)

    async def aclose(self) -> None:
        """Close every connection pool."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


@dataclass(frozen=True)
class SmtpTarget:
    """Where and how to submit mail. ``password`` is a secret (never in errors or logs)."""

    host: str
    port: int
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str = ""
    password: str | None = field(default=None, repr=False)
    timeout: float = 10.0
    ca_file: Path | None = None
    what: str = "email"


def _smtp_code_error(what: str, code: int, text: bytes | str) -> DeliveryError:
    reply = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    message = f"{what}: SMTP {code} {reply[:_EXCERPT]}".rstrip()
    if 400 <= code < 500:
        return TemporaryDeliveryError(message)
    return PermanentDeliveryError(message)


class SmtpSender:
    """Submits mail with the standard library's SMTP client, in a worker thread."""

    async def send(self, message: EmailMessage, *, target: SmtpTarget) -> None:
        """Submit ``message``; raise `TemporaryDeliveryError` or `PermanentDeliveryError`."""
        await asyncio.to_thread(self._send, message, target)

    @staticmethod
    def _send(message: EmailMessage, target: SmtpTarget) -> None:
        what = target.what
        secrets = (target.password or "",)
        try:
            context = ssl.create_default_context(
                cafile=str(target.ca_file) if target.ca_file else None
            )
        except (OSError, ssl.SSLError) as e:
            raise PermanentDeliveryError(
                f"{what}: cannot load ca_file: {type(e).__name__}"
            ) from None
        try:
            smtp: smtplib.SMTP
            if target.security == "tls":
                smtp = smtplib.SMTP_SSL(
                    target.host, target.port, timeout=target.timeout, context=context
                )
            else:
                smtp = smtplib.SMTP(target.host, target.port, timeout=target.timeout)
            with smtp:
                smtp.ehlo()
                if target.security == "starttls":
                    if not smtp.has_extn("starttls"):
                        raise PermanentDeliveryError(
                            f"{what}: {target.host} does not offer STARTTLS (smtp_security: "
                            "starttls requires it)"
                        )
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if target.username:
                    smtp.login(target.username, target.password or "")
                refused = smtp.send_message(message)
            if refused:
                log.warning(
                    "%s: some recipients were refused: %s", what, ", ".join(sorted(refused))
                )
        except DeliveryError:
            raise
        except smtplib.SMTPRecipientsRefused as e:
            codes = [code for code, _ in e.recipients.values()]
            if codes and all(400 <= code < 500 for code in codes):
                raise TemporaryDeliveryError(f"{what}: recipients deferred {codes}") from None
            raise PermanentDeliveryError(f"{what}: recipients refused {codes}") from None
        except smtplib.SMTPResponseException as e:
            error = _smtp_code_error(what, e.smtp_code, e.smtp_error)
            raise type(error)(redact(str(error), secrets)) from None
        except smtplib.SMTPNotSupportedError as e:
            raise PermanentDeliveryError(f"{what}: not supported by the server: {e}") from None
        except smtplib.SMTPException as e:
            detail = redact(str(e), secrets)[:_EXCERPT]
            raise TemporaryDeliveryError(f"{what}: {type(e).__name__}: {detail}") from None
        except (OSError, ssl.SSLError) as e:
            detail = redact(str(e), secrets)[:_EXCERPT]
            raise TemporaryDeliveryError(
                f"{what}: cannot reach {target.host}:{target.port} ({type(e).__name__}: {detail})"
            ) from None
        except (ValueError, TypeError, LookupError) as e:  # after OSError: SSL errors are both
            # Raised while serialising the mail (an address or header the e-mail library
            # cannot encode): the same mail fails the same way every time.
            detail = redact(escape_control(f"{type(e).__name__}: {e}"), secrets)[:_EXCERPT]
            raise PermanentDeliveryError(f"{what}: the message cannot be sent: {detail}") from None

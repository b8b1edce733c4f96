"""Sending one recorded notification through its channel's transport.

`Dispatcher.deliver` turns an outbox item into the request its channel expects, adding at
send time what must never be recorded: PagerDuty's routing key, the webhook URLs of Slack,
Teams and generic webhooks (their tokens), the HMAC signature of the generic webhook, the
SMTP password. The transports are injected (`HttpPoster`, `MailSender`; the real ones are in
`kubeheal.clients.notify_transport`), so this module does no network I/O of its own.

Generic webhook requests carry::

    Content-Type: application/json
    Idempotency-Key: <notification key>        (also X-Kubeheal-Delivery)
    X-Kubeheal-Timestamp: <unix seconds>
    X-Kubeheal-Signature: sha256=<hex HMAC-SHA256(signing_secret, "<timestamp>." + body)>

A receiver verifies the signature over the raw body and refuses timestamps too far from its
clock (replays). Errors are `kubeheal.clients.notify_transport`'s tree.

Every header value (HTTP headers, the e-mail's Subject, From, To and ids) has its control
characters replaced by spaces (`kubeheal.model.text.strip_control`): an incident id or an
alert label with a CR/LF can neither inject a header nor make a message unsendable. A mail the
e-mail library cannot build from what was recorded (an address it cannot parse) is a
`PermanentDeliveryError`: every attempt would fail the same way.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import parse_qsl, urlsplit

from kubeheal.clients.notify_transport import (
    HttpRequest,
    HttpResponse,
    PermanentDeliveryError,
    SmtpTarget,
    TemporaryDeliveryError,
)
from kubeheal.config.settings import (
    PAGERDUTY_EVENTS_URL,
    ChannelSettings,
    NotificationSettings,
    SettingsError,
)
from kubeheal.model.text import escape_control, strip_control
from kubeheal.notify.outbox import open_envelope
from kubeheal.store.outbox import OutboxItem
from kubeheal.store.records import JSONObject

__all__ = ["Dispatcher", "HttpPoster", "MailSender", "sign", "url_secrets"]

log = logging.getLogger(__name__)


class HttpPoster(Protocol):
    """Sends one HTTP request (`kubeheal.clients.notify_transport.HttpSender`)."""

    async def post(self, request: HttpRequest) -> HttpResponse: ...


class MailSender(Protocol):
    """Submits one e-mail (`kubeheal.clients.notify_transport.SmtpSender`)."""

    async def send(self, message: EmailMessage, *, target: SmtpTarget) -> None: ...


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Kubeheal-Signature`` value of a generic webhook request."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


_TOKEN_PIECE = 12
"""URL path segments and query values at least this long are masked on their own too: a
receiver may echo the token part of a webhook URL without the rest."""


def url_secrets(url: str) -> tuple[str, ...]:
    """A secret URL and its token-like pieces, to mask wherever they appear."""
    parts = urlsplit(url)
    pieces = [segment for segment in parts.path.split("/") if len(segment) >= _TOKEN_PIECE]
    pieces += [value for _, value in parse_qsl(parts.query) if len(value) >= _TOKEN_PIECE]
    return (url, *pieces)


def _json_bytes(body: JSONObject) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


class Dispatcher:
    """Delivers outbox items with the channels of ``settings``."""

    def __init__(
        self,
        *,
        settings: NotificationSettings,
        http: HttpPoster,
        mail: MailSender,
        wall_time: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.http = http
        self.mail = mail
        self.wall_time = wall_time

    def _secret(self, name: str, channel: ChannelSettings, field: str) -> str:
        try:
            value = channel.secret(field)
        except SettingsError as e:
            # A Secret volume being updated may be briefly unreadable: retry rather than lose.
            raise TemporaryDeliveryError(f"{name}: {e}") from None
        return value.get_secret_value() if value is not None else ""

    def secrets(self) -> tuple[str, ...]:
        """The secret values of every channel, to mask in errors and logs (a receiver may
        echo anything, even another channel's key)."""
        found: list[str] = []
        for channel in self.settings.channels.values():
            for field in ("url", "routing_key", "signing_secret", "smtp_password"):
                try:
                    value = channel.secret(field)
                except SettingsError:
                    continue
                if value is None or not value.get_secret_value():
                    continue
                text = value.get_secret_value()
                found.extend(url_secrets(text) if field == "url" else (text,))
        return tuple(found)

    async def deliver(self, item: OutboxItem) -> None:
        """Send ``item``; raise `TemporaryDeliveryError` or `PermanentDeliveryError`."""
        name = item.channel
        channel = self.settings.channels.get(name)
        if channel is None:
            raise PermanentDeliveryError(f"{name}: channel no longer configured")
        try:
            channel_type, body = open_envelope(item.payload)
        except ValueError as e:
            raise PermanentDeliveryError(f"{name}: {e}") from None
        if channel_type != channel.type:
            raise PermanentDeliveryError(
                f"{name}: recorded for a {channel_type} channel, now configured as {channel.type}"
            )
        if channel.type == "email":
            await self._send_email(name, channel, item, body)
            return
        await self.http.post(self._http_request(name, channel, item, body))

    def _http_request(
        self, name: str, channel: ChannelSettings, item: OutboxItem, body: JSONObject
    ) -> HttpRequest:
        headers = {"Content-Type": "application/json"}
        redact: list[str] = []
        if channel.type == "pagerduty":
            routing_key = self._secret(name, channel, "routing_key")
            if not routing_key:
                raise PermanentDeliveryError(f"{name}: no routing_key configured")
            url = self._secret(name, channel, "url") or PAGERDUTY_EVENTS_URL
            content = _json_bytes({**body, "routing_key": routing_key})
            redact.append(routing_key)
        else:
            url = self._secret(name, channel, "url")
            content = _json_bytes(body)
        if channel.type == "webhook":
            stamp = int(self.wall_time())
            headers["Idempotency-Key"] = item.key
            headers["X-Kubeheal-Delivery"] = item.key
            headers["X-Kubeheal-Timestamp"] = str(stamp)
            secret = self._secret(name, channel, "signing_secret")
            if secret:
                headers["X-Kubeheal-Signature"] = sign(secret, stamp, content)
                redact.append(secret)
        if not url:
            raise PermanentDeliveryError(f"{name}: no url configured")
        redact.extend(url_secrets(url))
        return HttpRequest(
            url=url,
            body=content,
            headers={key: strip_control(value) for key, value in headers.items()},
            redact=tuple(redact),
            timeout=channel.timeout.total_seconds(),
            ca_file=channel.ca_file,
            what=name,
        )

    async def _send_email(
        self, name: str, channel: ChannelSettings, item: OutboxItem, body: JSONObject
    ) -> None:
        fields = {k: body.get(k) for k in ("subject", "text", "html", "message_id", "thread")}
        if not all(isinstance(v, str) for v in fields.values()):
            raise PermanentDeliveryError(f"{name}: recorded e-mail is incomplete")
        try:
            message = self._email_message(channel, item, fields)
        # The e-mail library raises these on what it cannot parse (IndexError on "user@").
        except (ValueError, TypeError, LookupError) as e:
            detail = escape_control(f"{type(e).__name__}: {e}")[:300]
            raise PermanentDeliveryError(f"{name}: the message cannot be sent: {detail}") from None
        password = self._secret(name, channel, "smtp_password")
        target = SmtpTarget(
            host=channel.smtp_host,
            port=channel.smtp_port,
            security=channel.smtp_security,
            username=channel.smtp_username,
            password=password or None,
            timeout=channel.timeout.total_seconds(),
            ca_file=channel.ca_file,
            what=name,
        )
        await self.mail.send(message, target=target)

    def _email_message(
        self, channel: ChannelSettings, item: OutboxItem, fields: Mapping[str, object]
    ) -> EmailMessage:
        message = EmailMessage()
        headers = {
            "Subject": str(fields["subject"]),
            "From": channel.email_from,
            "To": ", ".join(channel.email_to),
            "Date": email.utils.formatdate(self.wall_time(), usegmt=True),
            "Message-ID": str(fields["message_id"]),
            "In-Reply-To": str(fields["thread"]),
            "References": str(fields["thread"]),
            "X-Kubeheal-Delivery": item.key,
        }
        for header, value in headers.items():
            message[header] = strip_control(value)
        message.set_content(str(fields["text"]))
        message.add_alternative(str(fields["html"]), subtype="html")
        return message

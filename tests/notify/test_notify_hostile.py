"""Hostile text in an incident (CR/LF and other control characters in alert labels) and
messages that can never be sent.

An alert's name and labels are chosen by whoever can post an alert. With a CR/LF in them the
e-mail must still go out (to the real local SMTP server) with a one-line subject and no
injected header; every HTTP header stays clean; and a message that cannot be built or that a
receiver refuses for good is recorded as failed after one attempt, with its reason, instead of
being retried for a day.
"""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from kubeheal.clients.notify_transport import (
    HttpRequest,
    HttpResponse,
    HttpSender,
    PermanentDeliveryError,
    SmtpSender,
    SmtpTarget,
)
from kubeheal.model.core import Target, TargetKind
from kubeheal.runtime.notifications import NotificationService, acknowledge_incident
from kubeheal.runtime.operator import OperatorEvent
from kubeheal.store.outbox import NotificationStore, OutboxState

CART = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="cart")
INJECTED = "HighLatency\r\nBcc: attacker@example.net\r\n\r\nforged body\x00\x1b[31m\u2028x"


def _one_level(kit: Any, receiver: Any = None, smtp: Any = None, **extra: Any) -> Any:
    settings = kit.settings(receiver, smtp, **extra)
    channels = sorted(settings.channels)
    return settings.model_copy(
        update={
            "policies": {
                "default": settings.policies["default"].model_copy(
                    update={
                        "levels": (
                            settings.policies["default"]
                            .levels[0]
                            .model_copy(update={"after": timedelta(0), "channels": channels}),
                        )
                    }
                )
            }
        }
    )


def _escalated(clock: Any) -> OperatorEvent:
    return OperatorEvent(
        at=clock(), kind="escalated", target=CART, message="x", incident_id="inc-1"
    )


async def test_mail_about_a_hostile_alert_is_sent_with_a_clean_subject(
    kit: Any, clock: Any, smtp: Any
) -> None:
    # The target's name and an alert label carry CR/LF (as they did before names were
    # checked at the edge, and still may in an old ledger), and so does the name of who
    # acknowledges through the API.
    settings = _one_level(kit, None, smtp)
    clock.at(100)
    with kit.open() as ledger:
        kit.incident(ledger, name=INJECTED, labels={"category": f"db{INJECTED}"})
        async with NotificationService(ledger=ledger, settings=settings, clock=clock) as service:
            service.on_event(_escalated(clock))
            assert await service.tick() == 1
            acknowledge_incident(
                ledger,
                "inc-1",
                by="mallory\r\nBcc: attacker@example.net",
                note="on it\r\nforged",
                at=clock(),
                settings=settings,
            )
            service.wake()
            assert await service.tick() == 1
            store = NotificationStore(ledger)
            for key in ("inc-1:level-1:mail", "inc-1:ack:mail"):
                item = store.get_item(key)
                assert item.state is OutboxState.SENT and item.attempts == 1, item
    assert len(smtp.messages) == 2
    level, ack = smtp.messages
    assert "HighLatency Bcc: attacker@example.net forged body" in str(level["Subject"])
    assert str(ack["Subject"]).startswith("[kubeheal] [")
    assert "Acknowledged by mallory Bcc: attacker@example.net" in str(ack["Subject"])
    for mail in (level, ack):
        subject = str(mail["Subject"])
        for char in ("\r", "\n", "\x00", "\x1b", "\u2028"):
            assert char not in subject
        assert [k.lower() for k in mail].count("bcc") == 0
        assert mail["X-Evil"] is None
    assert [rcpt for _, rcpt in smtp.mailbox.envelopes] == [
        ["oncall@example.org", "sre@example.org"]
    ] * 2
    plain = level.get_body(preferencelist=("plain",))
    assert plain is not None and "HighLatency" in plain.get_content()


class _Recorder:
    """An `HttpPoster` that keeps the requests (headers included) it was given."""

    def __init__(self) -> None:
        self.requests: list[HttpRequest] = []

    async def post(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        return HttpResponse(status=200, excerpt="")


async def test_http_headers_never_carry_control_characters(kit: Any, clock: Any) -> None:
    # A hostile incident id (it names the notification key, which is the webhook's
    # Idempotency-Key header).
    settings = kit.settings(
        None,
        None,
        channels={"hook": {"type": "webhook", "url": "http://127.0.0.1:9/hook",
                           "signing_secret": "s3cret"}},
        policies={"default": {"levels": [{"after": "0s", "channels": ["hook"]}]}},
    )  # fmt: skip
    http = _Recorder()
    clock.at(100)
    with kit.open() as ledger:
        kit.incident(ledger, "inc-1\r\nX-Evil: 1", name=INJECTED)
        async with NotificationService(
            ledger=ledger, settings=settings, clock=clock, http=http
        ) as service:
            service.on_event(
                OperatorEvent(
                    at=clock(), kind="escalated", target=CART, message="x",
                    incident_id="inc-1\r\nX-Evil: 1",
                )
            )  # fmt: skip
            assert await service.tick() == 1
    (request,) = http.requests
    for name, value in request.headers.items():
        assert not any(c in name + value for c in "\r\n\x00"), (name, value)
    assert request.headers["Idempotency-Key"] == "inc-1 X-Evil: 1:level-1:hook"


async def test_a_mail_that_cannot_be_built_fails_for_good_after_one_attempt(
    kit: Any, clock: Any, smtp: Any
) -> None:
    # A From address no mail can carry (set in the settings file): every attempt would fail
    # the same way, so the item is failed with its reason at once, not retried for a day.
    settings = _one_level(kit, None, smtp)
    channel = settings.channels["mail"].model_copy(update={"email_from": "kubeheal@"})
    settings = settings.model_copy(update={"channels": {"mail": channel}})
    clock.at(100)
    with kit.open() as ledger:
        kit.incident(ledger)
        async with NotificationService(ledger=ledger, settings=settings, clock=clock) as service:
            service.on_event(_escalated(clock))
            assert await service.tick() == 0
            store = NotificationStore(ledger)
            item = store.get_item("inc-1:level-1:mail")
            assert item.state is OutboxState.FAILED
            assert item.attempts == 1
            assert "cannot be sent" in (item.last_error or "")
            clock.advance(3600)
            await service.tick()
            assert store.get_item("inc-1:level-1:mail").attempts == 1
    assert smtp.messages == []


async def test_a_message_that_cannot_be_rendered_is_recorded_failed_with_its_reason(
    kit: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kubeheal.runtime.notifications as notifications

    def broken(channel_type: str, notice: Any, *, key: str) -> Any:
        raise ValueError("unrenderable headline")

    monkeypatch.setattr(notifications, "render", broken)
    settings = kit.settings(
        None,
        None,
        channels={"hook": {"type": "webhook", "url": "http://127.0.0.1:9/hook"}},
        policies={"default": {"levels": [{"after": "0s", "channels": ["hook"]}]}},
    )
    http = _Recorder()
    clock.at(100)
    with kit.open() as ledger:
        kit.incident(ledger)
        kit.incident(ledger, "inc-2", name="web")
        async with NotificationService(
            ledger=ledger, settings=settings, clock=clock, http=http
        ) as service:
            service.on_event(_escalated(clock))
            await service.tick()
            store = NotificationStore(ledger)
            item = store.get_item("inc-1:level-1:hook")
            assert item.state is OutboxState.FAILED
            assert "cannot be rendered: ValueError: unrenderable headline" in (
                item.last_error or ""
            )
            # The escalation went on (level recorded): the next pass does not try again.
            escalation = store.get_escalation("inc-1")
            assert escalation is not None and escalation.level == 1
            await service.tick()
            assert len(store.items_for_incident("inc-1")) == 1
    assert http.requests == []


async def test_an_unexpected_error_is_not_retried_for_a_day(kit: Any, clock: Any) -> None:
    class Buggy:
        calls = 0

        async def post(self, request: HttpRequest) -> HttpResponse:
            Buggy.calls += 1
            raise RuntimeError("a bug in a transport")

    settings = kit.settings(
        None,
        None,
        channels={"hook": {"type": "webhook", "url": "http://127.0.0.1:9/hook"}},
        policies={"default": {"levels": [{"after": "0s", "channels": ["hook"]}]}},
        retry_initial="10s",
    )
    clock.at(100)
    with kit.open() as ledger:
        kit.incident(ledger)
        async with NotificationService(
            ledger=ledger, settings=settings, clock=clock, http=Buggy(), rand=lambda: 0.99
        ) as service:
            service.on_event(_escalated(clock))
            for _ in range(10):
                await service.tick()
                clock.advance(600)
            item = NotificationStore(ledger).get_item("inc-1:level-1:hook")
    assert item.state is OutboxState.FAILED
    assert item.attempts == Buggy.calls == 3
    assert "RuntimeError: a bug in a transport" in (item.last_error or "")


async def test_the_http_transport_strips_control_characters_from_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="ok")

    sender = HttpSender(transport=httpx.MockTransport(handler))
    try:
        await sender.post(
            HttpRequest(
                url="http://receiver.test/hook",
                body=b"{}",
                headers={"X-Kubeheal-Delivery": "inc-1\r\nX-Evil: 1\x00"},
            )
        )
    finally:
        await sender.aclose()
    (request,) = seen
    assert request.headers["x-kubeheal-delivery"] == "inc-1 X-Evil: 1"
    assert "x-evil" not in request.headers


async def test_a_mail_smtplib_refuses_to_serialise_is_a_permanent_error(smtp: Any) -> None:
    message = EmailMessage()
    message["Subject"] = "x"
    message["From"] = "kubeheal@example.org"
    message["To"] = "sre@example.org"
    message["Resent-Date"] = "Mon, 1 Jan 2024 00:00:00 +0000"
    message["Resent-Date"] = "Tue, 2 Jan 2024 00:00:00 +0000"  # two blocks: smtplib refuses
    message.set_content("hello")
    target = SmtpTarget(host=smtp.host, port=smtp.port, security="none")
    with pytest.raises(PermanentDeliveryError, match="the message cannot be sent: ValueError"):
        await SmtpSender().send(message, target=target)
    assert smtp.messages == []

"""Each channel's payload, as its receiver sees it.

Slack, Teams and PagerDuty bodies are validated against JSON Schemas written from the vendors'
documentation (by the local receivers, which refuse what does not validate); the generic
webhook's HMAC signature is verified; mail goes through a real SMTP server, plain and with
STARTTLS + AUTH against a certificate trusted through ``ca_file``. The transports' error
classification (temporary vs permanent, Retry-After) is checked without a network.
"""

from __future__ import annotations

import json
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from kubeheal.clients.notify_transport import (
    HttpRequest,
    HttpSender,
    PermanentDeliveryError,
    SmtpSender,
    SmtpTarget,
    TemporaryDeliveryError,
)
from kubeheal.model.core import Target, TargetKind
from kubeheal.runtime.notifications import NotificationService
from kubeheal.runtime.operator import OperatorEvent
from kubeheal.store.outbox import NotificationStore, OutboxState

CART = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="cart")
PATCH = json.dumps(
    {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "app", "resources": {"limits": {"memory": "768Mi"}}}]
                }
            }
        }
    },
    separators=(",", ":"),
)


def _everywhere(kit: Any, receiver: Any = None, smtp: Any = None, **extra: Any) -> Any:
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


async def _escalate_once(service: NotificationService, clock: Any) -> None:
    service.on_event(
        OperatorEvent(at=clock(), kind="escalated", target=CART, message="x", incident_id="inc-1")
    )
    await service.tick()


async def test_every_channel_gets_a_schema_valid_message_with_the_context(
    kit: Any, clock: Any, receiver: Any, smtp: Any
) -> None:
    settings = _everywhere(kit, receiver, smtp, cluster="prod-eu-1")
    clock.at(100)
    with kit.open() as ledger:
        kit.incident(
            ledger,
            kind="OOMKilled",
            labels={"severity": "critical", "runbook_url": "https://runbooks.example.org/oom"},
            patch=PATCH,
        )
        async with NotificationService(ledger=ledger, settings=settings, clock=clock) as service:
            await _escalate_once(service, clock)
            assert NotificationStore(ledger).count(OutboxState.SENT) == 5
    assert receiver.violations == []

    slack = receiver.of("slack")[0]
    assert slack.path.endswith("/slack/T000/B000/XXslacktokenSECRET")
    text = json.dumps(slack.json)
    header = slack.json["blocks"][0]["text"]["text"]
    assert "Escalated (level 1/1" in header and "OOMKilled on Deployment shop/cart" in header
    for expected in (
        "What happened",
        "Timeline",
        "Actions and outcomes",
        "restart_pods: failed",
        "Suggested next step",
        "kubectl -n shop patch deployment/cart",
        "Patch to commit",
        "panic: config missing",
        "prod-eu-1",
        "https://runbooks.example.org/oom",
        "https://grafana.example.org/d/k8s?var-namespace=shop&var-workload=cart",
        "kubeheal incident ack inc-1",
    ):
        assert expected in text, expected
    buttons = next(b for b in slack.json["blocks"] if b["type"] == "actions")["elements"]
    assert [b["text"]["text"] for b in buttons] == ["Runbook", "Dashboard"]

    card = receiver.of("teams")[0].json["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard"
    assert next(a["url"] for a in card["actions"]) == "https://runbooks.example.org/oom"
    assert any(b.get("fontType") == "Monospace" and "kubectl" in b["text"] for b in card["body"])

    event = receiver.of("pagerduty")[0].json
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == "inc-1"
    assert event["payload"]["severity"] == "critical"
    assert event["payload"]["source"] == "prod-eu-1/Deployment shop/cart"
    assert event["payload"]["custom_details"]["patch"] == PATCH
    assert {link["text"] for link in event["links"]} == {"Runbook", "Dashboard"}

    hook = receiver.of("webhook")[0]
    assert hook.headers["idempotency-key"] == "inc-1:level-1:mgmt"
    assert hook.json["delivery"] == "inc-1:level-1:mgmt"
    assert hook.json["incident"]["target"] == {
        "kind": "Deployment",
        "namespace": "shop",
        "name": "cart",
    }
    assert hook.json["next_step"]["patch"] == PATCH
    assert hook.json["links"]["runbook"] == "https://runbooks.example.org/oom"

    [mail] = smtp.messages
    assert mail["Subject"].startswith("[kubeheal] [critical] Escalated (level 1/1")
    assert mail["From"] == "kubeheal@example.org"
    assert mail["To"] == "oncall@example.org, sre@example.org"
    assert mail["In-Reply-To"] == "<incident-inc-1@kubeheal>"
    assert mail["Message-ID"].endswith("@kubeheal>")
    plain = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    assert "kubectl -n shop patch deployment/cart" in plain.get_content()
    assert "<pre>" in html.get_content() and "&quot;spec&quot;" in html.get_content()


async def test_mail_goes_through_starttls_with_auth_and_a_private_ca(
    kit: Any, clock: Any, smtp_tls: Any
) -> None:
    settings = kit.settings(None, smtp_tls)
    clock.at(100)
    with kit.open() as ledger:
        kit.incident(ledger)
        async with NotificationService(ledger=ledger, settings=settings, clock=clock) as service:
            await _escalate_once(service, clock)
    assert len(smtp_tls.messages) == 1
    assert smtp_tls.logins, "the client did not authenticate"


def _mail() -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = "test"
    message["From"] = "kubeheal@example.org"
    message["To"] = "sre@example.org"
    message.set_content("hello")
    return message


async def test_smtp_errors_are_classified_and_never_show_the_password(
    smtp_tls: Any, smtp: Any
) -> None:
    sender = SmtpSender()
    wrong = SmtpTarget(
        host=smtp_tls.host,
        port=smtp_tls.port,
        username="kubeheal",
        password="not-the-SECRET-password",
        ca_file=smtp_tls.ca_file,
    )
    with pytest.raises(PermanentDeliveryError) as refused:
        await sender.send(_mail(), target=wrong)
    assert "535" in str(refused.value)
    assert "not-the-SECRET-password" not in str(refused.value)
    untrusted = SmtpTarget(
        host=smtp_tls.host, port=smtp_tls.port, username="kubeheal", password="x"
    )
    with pytest.raises(TemporaryDeliveryError, match="SSLCertVerificationError"):
        await sender.send(_mail(), target=untrusted)
    # A plain server that offers no STARTTLS while it is required: refused, not downgraded.
    with pytest.raises(PermanentDeliveryError, match="does not offer STARTTLS"):
        await sender.send(_mail(), target=SmtpTarget(host=smtp.host, port=smtp.port))
    with pytest.raises(TemporaryDeliveryError, match="cannot reach"):
        await sender.send(_mail(), target=SmtpTarget(host="127.0.0.1", port=1, security="none"))


def _sender(handler: Any) -> HttpSender:
    return HttpSender(transport=httpx.MockTransport(handler), now=lambda: 1_700_000_000.0)


async def _post(sender: HttpSender) -> Any:
    return await sender.post(
        HttpRequest(
            url="https://hooks.example.org/services/TOKEN-SECRET",
            body=b"{}",
            redact=("TOKEN-SECRET",),
            what="chat",
        )
    )


@pytest.mark.parametrize(
    ("status", "headers", "kind", "retry_after"),
    [
        (429, {"Retry-After": "30"}, TemporaryDeliveryError, 30.0),
        (503, {"Retry-After": "Tue, 14 Nov 2023 22:14:20 GMT"}, TemporaryDeliveryError, 60.0),
        (500, {}, TemporaryDeliveryError, None),
        (408, {}, TemporaryDeliveryError, None),
        (400, {}, PermanentDeliveryError, None),
        (403, {}, PermanentDeliveryError, None),
        (404, {}, PermanentDeliveryError, None),
        (410, {}, PermanentDeliveryError, None),
        (301, {"Location": "https://elsewhere.example.org/"}, PermanentDeliveryError, None),
    ],
)
async def test_http_answers_are_classified(
    status: int, headers: dict[str, str], kind: type[Exception], retry_after: float | None
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        # A receiver echoing the token in its error must not get it into our messages.
        return httpx.Response(status, headers=headers, text=f"bad {request.url.path}")

    sender = _sender(handler)
    try:
        with pytest.raises(kind) as caught:
            await _post(sender)
    finally:
        await sender.aclose()
    assert f"HTTP {status}" in str(caught.value)
    assert "TOKEN-SECRET" not in str(caught.value)
    assert "[redacted]" in str(caught.value)
    if isinstance(caught.value, TemporaryDeliveryError):
        assert caught.value.retry_after == retry_after


async def test_network_failures_are_temporary_and_library_errors_do_not_leak() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url}", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    for handler in (refuse, slow):
        sender = _sender(handler)
        try:
            with pytest.raises(TemporaryDeliveryError) as caught:
                await _post(sender)
        finally:
            await sender.aclose()
        assert not isinstance(caught.value, httpx.HTTPError)
        assert caught.value.__cause__ is None
        assert "TOKEN-SECRET" not in str(caught.value)
    sender = HttpSender()
    try:
        with pytest.raises(PermanentDeliveryError, match="invalid URL"):
            await sender.post(HttpRequest(url="ftp://example.org/x", body=b"{}"))
    finally:
        await sender.aclose()

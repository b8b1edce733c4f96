"""The outbox: recorded before sent, retried with back-off, never lost, never duplicated.

A receiver down for a while gets every message once it is back, each exactly once and in
order; kubeheal restarted in the middle of a delivery still delivers each exactly once (the
only resend, after a crash between sending and recording, carries the same idempotency key);
two delivery loops on one ledger never send one item twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from kubeheal.clients.notify_transport import HttpRequest, HttpResponse, HttpSender
from kubeheal.model.core import Target, TargetKind
from kubeheal.notify.outbox import envelope, retry_delay
from kubeheal.runtime.notifications import NotificationService
from kubeheal.runtime.operator import OperatorEvent
from kubeheal.store.outbox import NotificationKind, NotificationStore, OutboxState

CART = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="cart")


def _immediate(kit: Any, receiver: Any, **extra: Any) -> Any:
    """Settings with one level, right away, to the generic webhook and Slack."""
    return kit.settings(
        receiver,
        policies={"default": {"levels": [{"after": "0s", "channels": ["mgmt", "chat"]}]}},
        **extra,
    )


def _escalated(clock: Any, incident_id: str) -> OperatorEvent:
    return OperatorEvent(
        at=clock(), kind="escalated", target=CART, message="x", incident_id=incident_id
    )


def _resolved(clock: Any, incident_id: str) -> OperatorEvent:
    return OperatorEvent(
        at=clock(), kind="resolved", target=CART, message="fixed", incident_id=incident_id
    )


async def test_recording_is_idempotent_and_items_of_one_channel_go_in_order(kit: Any) -> None:
    with kit.open() as ledger:
        kit.incident(ledger)
        store = NotificationStore(ledger)
        common = {"incident_id": "inc-1", "channel": "c", "channel_type": "webhook"}
        first = envelope(what="level-1", kind=NotificationKind.LEVEL, body={"n": 1}, **common)
        second = envelope(what="resolve", kind=NotificationKind.RESOLVE, body={"n": 2}, **common)
        t = ledger.get_incident("inc-1").opened_at
        assert store.enqueue([first, second], at=t) == 2
        assert store.enqueue([first, second], at=t) == 0  # same keys: nothing new
        due = store.due(t)
        assert [i.key for i in due] == ["inc-1:level-1:c"]  # the resolve waits for the trigger
        claimed = store.claim(due[0], until=t + timedelta(minutes=2))
        assert claimed is not None and claimed.attempts == 1
        assert store.claim(due[0], until=t + timedelta(minutes=2)) is None  # taken
        assert store.due(t) == []
        assert store.mark_sent(claimed.key, at=t)
        assert [i.key for i in store.due(t)] == ["inc-1:resolve:c"]


def test_retry_delay_doubles_with_jitter_and_honours_retry_after() -> None:
    initial, maximum = timedelta(seconds=10), timedelta(minutes=5)
    low = [retry_delay(n, initial=initial, maximum=maximum, rand=0.0) for n in range(1, 8)]
    high = [retry_delay(n, initial=initial, maximum=maximum, rand=0.999) for n in range(1, 8)]
    assert [d.total_seconds() for d in low] == [5, 10, 20, 40, 80, 150, 150]
    assert all(h < 2 * lo for h, lo in zip(high, low, strict=True))
    assert all(h > lo for h, lo in zip(high, low, strict=True))
    hinted = retry_delay(1, initial=initial, maximum=maximum, rand=0.5, retry_after=120)
    assert hinted == timedelta(seconds=120)
    assert retry_delay(10_000, initial=initial, maximum=maximum, rand=1.0) == maximum


async def test_receiver_down_for_a_while_then_every_message_arrives_exactly_once(
    kit: Any, clock: Any, down_receiver: Any
) -> None:
    receiver = down_receiver
    settings = _immediate(kit, receiver)
    with kit.open() as ledger:
        for n in range(3):
            kit.incident(ledger, f"inc-{n}", name=f"svc-{n}")
        async with NotificationService(
            ledger=ledger, settings=settings, clock=clock, rand=lambda: 0.5
        ) as service:
            clock.at(100)
            for n in range(3):
                service.on_event(_escalated(clock, f"inc-{n}"))
            await service.tick()
            store = NotificationStore(ledger)
            pending = [i for n in range(3) for i in store.items_for_incident(f"inc-{n}")]
            assert len(pending) == 6
            assert all(i.state is OutboxState.PENDING and i.attempts == 1 for i in pending)
            assert all("connection failed" in (i.last_error or "") for i in pending)
            gaps = []
            # Down for ten minutes: retried with growing delays; two incidents end meanwhile.
            for step in range(20):
                clock.advance(30)
                if step == 3:
                    service.on_event(_resolved(clock, "inc-0"))
                    service.on_event(_resolved(clock, "inc-2"))
                await service.tick()
                item = store.get_item("inc-1:level-1:mgmt")
                gaps.append((item.next_attempt_at - clock()).total_seconds())
            assert store.count(OutboxState.SENT) == 0
            attempts = store.get_item("inc-1:level-1:mgmt").attempts
            assert 3 <= attempts < 20, "no back-off: retried at every tick"
            await receiver.start()
            try:
                for _ in range(10):
                    clock.advance(300)
                    await service.tick()
                assert store.count(OutboxState.PENDING) == 0
                assert store.count(OutboxState.FAILED) == 0
            finally:
                await receiver.stop()
    keys = receiver.keys("webhook")
    assert set(keys) == {
        "inc-0:level-1:mgmt",
        "inc-1:level-1:mgmt",
        "inc-2:level-1:mgmt",
        "inc-0:resolve:mgmt",
        "inc-2:resolve:mgmt",
    }
    assert all(count == 1 for count in keys.values()), keys
    assert len(receiver.of("slack")) == 5
    order = [c.headers["idempotency-key"] for c in receiver.of("webhook")]
    assert order.index("inc-0:level-1:mgmt") < order.index("inc-0:resolve:mgmt")
    assert order.index("inc-2:level-1:mgmt") < order.index("inc-2:resolve:mgmt")
    assert receiver.violations == []


async def test_retry_after_is_honoured_and_a_refusal_is_not_retried(
    kit: Any, clock: Any, receiver: Any
) -> None:
    levels = [{"after": "0s", "channels": ["mgmt", "chat"]}, {"after": "1m", "channels": ["chat"]}]
    settings = kit.settings(receiver, policies={"default": {"levels": levels}})
    receiver.reply("webhook", {"status": 503, "headers": {"Retry-After": "600"}})
    receiver.reply("slack", {"status": 404, "text": "no_service"})
    clock.at(100)
    with kit.open() as ledger:
        kit.incident(ledger)
        async with NotificationService(
            ledger=ledger, settings=settings, clock=clock, rand=lambda: 0.0
        ) as service:
            service.on_event(_escalated(clock, "inc-1"))
            await service.tick()
            store = NotificationStore(ledger)
            webhook = store.get_item("inc-1:level-1:mgmt")
            assert webhook.state is OutboxState.PENDING
            assert webhook.next_attempt_at == clock() + timedelta(seconds=600)
            assert "HTTP 503" in (webhook.last_error or "")
            slack = store.get_item("inc-1:level-1:chat")
            assert slack.state is OutboxState.FAILED  # 404: Slack's "no_service", final
            assert "HTTP 404: no_service" in (slack.last_error or "")
            clock.advance(599)
            await service.tick()
            assert store.get_item("inc-1:level-1:mgmt").attempts == 1
            clock.advance(1)
            await service.tick()
            assert store.get_item("inc-1:level-1:mgmt").state is OutboxState.SENT
            # The refused item does not block what comes after it on that channel (level 2
            # fired at +1m), and the resolution goes where a message was delivered.
            assert store.get_item("inc-1:level-2:chat").state is OutboxState.SENT
            service.on_event(_resolved(clock, "inc-1"))
            await service.tick()
            assert store.get_item("inc-1:resolve:chat").state is OutboxState.SENT
    assert [c.json["kind"] for c in receiver.of("webhook")] == ["level", "resolve"]
    assert len(receiver.of("slack")) == 2


async def test_an_item_undelivered_for_too_long_is_given_up_and_logged(
    kit: Any, clock: Any, down_receiver: Any, caplog: Any
) -> None:
    settings = _immediate(kit, down_receiver, give_up_after="1h")
    clock.at(100)
    with kit.open() as ledger:
        kit.incident(ledger)
        async with NotificationService(ledger=ledger, settings=settings, clock=clock) as service:
            service.on_event(_escalated(clock, "inc-1"))
            for _ in range(15):
                await service.tick()
                clock.advance(300)
            store = NotificationStore(ledger)
            item = store.get_item("inc-1:level-1:mgmt")
            assert item.state is OutboxState.FAILED
            assert "undelivered for 60m" in (item.last_error or "")
    assert any("given up" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)


async def test_restart_mid_delivery_still_delivers_each_exactly_once(
    kit: Any, clock: Any, receiver: Any
) -> None:
    settings = _immediate(kit, receiver, claim_timeout="2m")
    with kit.open() as ledger:
        for n in range(8):
            kit.incident(ledger, f"inc-{n}", name=f"svc-{n}")
    receiver.reply("webhook", *[{"delay": 0.05} for _ in range(16)])
    clock.at(100)
    with kit.open() as ledger:
        first = NotificationService(
            ledger=ledger, settings=settings, clock=clock, concurrency=1, batch=16
        )
        for n in range(8):
            first.on_event(_escalated(clock, f"inc-{n}"))
        first.escalate()
        task = asyncio.get_running_loop().create_task(first.deliver())
        while len(receiver.of("webhook")) < 3:
            await asyncio.sleep(0.01)
        task.cancel()  # kubeheal dies in the middle of a delivery
        await asyncio.gather(task, return_exceptions=True)
        await first.aclose()
        sent_before = NotificationStore(ledger).count(OutboxState.SENT)
        assert 0 < sent_before < 16
    # A new process on the same ledger file, after the dead one's claims expired.
    clock.advance(180)
    with kit.open() as ledger:
        async with NotificationService(ledger=ledger, settings=settings, clock=clock) as second:
            for _ in range(5):
                await second.tick()
                clock.advance(60)
            store = NotificationStore(ledger)
            assert store.count(OutboxState.SENT) == 16
            assert store.count(OutboxState.PENDING) == 0
    keys = receiver.keys("webhook")
    assert len(keys) == 8
    duplicates = sum(count - 1 for count in keys.values())
    # At most the one request in flight when it died was resent, with the same key (the
    # receiver de-duplicates it by Idempotency-Key).
    assert duplicates <= 1, keys
    assert len(receiver.of("slack")) >= 8


class _DiesAfterSending:
    """An HTTP transport that sends, then 'crashes' before kubeheal records the success."""

    def __init__(self, real: HttpSender) -> None:
        self.real = real
        self.crashed = False

    async def post(self, request: HttpRequest) -> HttpResponse:
        response = await self.real.post(request)
        if not self.crashed:
            self.crashed = True
            raise asyncio.CancelledError  # the process stops here
        return response


async def test_a_crash_between_send_and_record_resends_once_with_the_same_key(
    kit: Any, clock: Any, receiver: Any
) -> None:
    settings = kit.settings(
        receiver, policies={"default": {"levels": [{"after": "0s", "channels": ["pager"]}]}}
    )
    clock.at(100)
    with kit.open() as ledger:
        kit.incident(ledger)
        real = HttpSender()
        try:
            first = NotificationService(
                ledger=ledger, settings=settings, clock=clock, http=_DiesAfterSending(real)
            )
            first.on_event(_escalated(clock, "inc-1"))
            first.escalate()
            with contextlib.suppress(asyncio.CancelledError):
                await first.deliver()
        finally:
            await real.aclose()
        assert NotificationStore(ledger).count(OutboxState.PENDING) == 1
    clock.advance(121)
    with kit.open() as ledger:
        async with NotificationService(ledger=ledger, settings=settings, clock=clock) as second:
            await second.tick()
            assert NotificationStore(ledger).count(OutboxState.SENT) == 1
            await second.tick()
    events = receiver.of("pagerduty")
    assert len(events) == 2  # sent, crash, resent once: PagerDuty merges them by dedup_key
    assert events[0].json == events[1].json
    assert events[0].json["dedup_key"] == "inc-1"


async def test_two_loops_on_one_ledger_never_send_an_item_twice(
    kit: Any, clock: Any, receiver: Any
) -> None:
    settings = _immediate(kit, receiver)
    clock.at(100)
    with kit.open() as ledger_a, kit.open() as ledger_b:
        for n in range(6):
            kit.incident(ledger_a, f"inc-{n}", name=f"svc-{n}")
        receiver.reply("webhook", *[{"delay": 0.02} for _ in range(12)])
        async with (
            NotificationService(ledger=ledger_a, settings=settings, clock=clock) as a,
            NotificationService(ledger=ledger_b, settings=settings, clock=clock) as b,
        ):
            for n in range(6):
                a.on_event(_escalated(clock, f"inc-{n}"))
            a.escalate()
            b.escalate()
            for _ in range(4):
                await asyncio.gather(a.deliver(), b.deliver())
    keys = receiver.keys("webhook")
    assert len(keys) == 6 and set(keys.values()) == {1}
    assert len(receiver.of("slack")) == 6

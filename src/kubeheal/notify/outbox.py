"""Outbox rules: notification keys, what is recorded for a channel, retry timing.

Pure: no I/O, no clock, no randomness of its own (the jitter's random number is passed in).

Delivery guarantee (see docs/notifications.md): every notification is recorded in the ledger
before it is sent, under a unique key ``<incident>:<what>:<channel>`` (``what`` is
``level-N``, ``update-N``, ``ack`` or ``resolve``), so deciding twice to send it (a restart, a
second loop) records it once. It is marked sent only after the receiver accepted it; if
kubeheal stops in between, it is sent again once, after the claim expires. The channels
that support it de-duplicate that resend: PagerDuty by ``dedup_key`` (the incident id), the
generic webhook by the ``Idempotency-Key`` header (the notification key), e-mail by its
stable Message-ID. Failed attempts are retried with exponential back-off and jitter,
honouring the receiver's Retry-After, until ``give_up_after``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from kubeheal.store.outbox import NewNotification, NotificationKind
from kubeheal.store.records import JSONObject

__all__ = ["envelope", "notification_key", "open_envelope", "retry_at", "retry_delay"]

_MAX_DOUBLINGS = 30


def notification_key(incident_id: str, what: str, channel: str) -> str:
    """The unique key of one notification: incident, what (``level-2``, ``ack``...), channel."""
    return f"{incident_id}:{what}:{channel}"


def envelope(
    *,
    incident_id: str,
    what: str,
    channel: str,
    channel_type: str,
    kind: NotificationKind,
    body: JSONObject,
    failed: str | None = None,
) -> NewNotification:
    """The record of one notification: the rendered body and the type it was rendered for.
    With ``failed`` (why it can never be sent, e.g. it could not be rendered; ``body`` is then
    empty) it is recorded as failed at once."""
    return NewNotification(
        key=notification_key(incident_id, what, channel),
        incident_id=incident_id,
        channel=channel,
        kind=kind,
        payload={"channel_type": channel_type, "body": body},
        failed=failed,
    )


def open_envelope(payload: JSONObject) -> tuple[str, JSONObject]:
    """(channel type, body) of a recorded payload; ``ValueError`` if it is not one."""
    channel_type = payload.get("channel_type")
    body = payload.get("body")
    if not isinstance(channel_type, str) or not isinstance(body, dict):
        raise ValueError("not a notification envelope")  # noqa: TRY004 - bad data, not a bug
    out: JSONObject = body
    return channel_type, out


def retry_delay(
    attempts: int,
    *,
    initial: timedelta,
    maximum: timedelta,
    rand: float,
    retry_after: float | None = None,
) -> timedelta:
    """Delay before the next attempt after ``attempts`` failed ones: ``initial`` doubled per
    attempt up to ``maximum``, scaled by a jitter factor in [0.5, 1) from ``rand`` in [0, 1)
    ("equal jitter"), and never shorter than the receiver's ``retry_after`` seconds."""
    doublings = min(max(0, attempts - 1), _MAX_DOUBLINGS)
    base = min(maximum, initial * (2**doublings))
    delay: timedelta = base * (0.5 + 0.5 * min(max(rand, 0.0), 1.0))
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay


def retry_at(
    now: datetime,
    attempts: int,
    *,
    initial: timedelta,
    maximum: timedelta,
    rand: float,
    retry_after: float | None = None,
) -> datetime:
    """When to try again (see `retry_delay`)."""
    return now + retry_delay(
        attempts, initial=initial, maximum=maximum, rand=rand, retry_after=retry_after
    )

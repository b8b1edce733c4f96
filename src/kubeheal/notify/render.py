"""Messages per channel: Slack Block Kit, Microsoft Teams Adaptive Card, PagerDuty Events API
v2, e-mail (text and HTML) and a generic JSON webhook.

Pure: no I/O, no clock. `render` turns a `Notice` (what to say about which incident) into the
body a channel expects, without any secret: PagerDuty's routing key, webhook URLs and
signatures are added when the notification is sent (`kubeheal.notify.delivery`), so the
rendered body can be recorded in the ledger.

Formats, from the vendors' documentation:

- Slack incoming webhook: ``{"text": fallback, "blocks": [...]}`` with header, section
  (mrkdwn, fields), actions (link buttons) and context blocks; texts cut to Slack's limits
  (header 150, section 3000, field 2000, button 75 characters; 50 blocks, 10 fields).
- Teams (Workflows "post to a channel when a webhook request is received", or a classic
  incoming webhook): ``{"type": "message", "attachments": [{"contentType":
  "application/vnd.microsoft.card.adaptive", "content": <AdaptiveCard 1.4>}]}``.
- PagerDuty Events API v2: ``trigger`` for levels and updates (same ``dedup_key``, the
  incident id, so every level and update lands on one PagerDuty alert), ``acknowledge`` and
  ``resolve`` with that key.
- E-mail: subject, plain text and an HTML alternative, one thread per incident.
- Generic webhook: one JSON document with every field of the context.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubeheal.model.text import strip_control
from kubeheal.notify.context import IncidentContext
from kubeheal.store.outbox import NotificationKind
from kubeheal.store.records import JSONObject

__all__ = [
    "PAGERDUTY_SEVERITY",
    "Notice",
    "email_message_id",
    "email_thread_id",
    "render",
    "title",
]

PAGERDUTY_SEVERITY = {
    "critical": "critical",
    "error": "error",
    "warning": "warning",
    "info": "info",
}
"""kubeheal severity -> PagerDuty severity (the four PagerDuty accepts)."""

_SLACK_HEADER = 150
_SLACK_SECTION = 3000
_SLACK_FIELD = 2000
_SLACK_BUTTON = 75
_SLACK_BLOCKS = 50
_PD_SUMMARY = 1024
_EMOJI = {
    "critical": ":red_circle:",
    "error": ":large_orange_circle:",
    "warning": ":large_yellow_circle:",
    "info": ":large_blue_circle:",
}
_TEAMS_COLOR = {"critical": "Attention", "error": "Attention", "warning": "Warning"}


@dataclass(frozen=True)
class Notice:
    """One thing to tell about an incident."""

    kind: NotificationKind
    context: IncidentContext
    at: datetime
    level: int = 0
    """Level number (1-based) of a level notice."""
    levels: int = 0
    """Levels in the policy."""
    level_name: str = ""
    by: str = ""
    """Who acknowledged (ack notices)."""
    note: str = ""
    """Acknowledgement note, resolution reason, or what changed (updates)."""


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _clock(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%H:%M:%S")


def title(notice: Notice) -> str:
    """The one-line title of a notice (subject, header, summary)."""
    ctx = notice.context
    if notice.kind is NotificationKind.LEVEL:
        name = f", {notice.level_name}" if notice.level_name else ""
        return f"Escalated (level {notice.level}/{notice.levels}{name}): {ctx.headline}"
    if notice.kind is NotificationKind.UPDATE:
        return f"Update: {ctx.headline}"
    if notice.kind is NotificationKind.ACK:
        return f"Acknowledged by {notice.by}: {ctx.headline}"
    return f"Resolved: {ctx.headline}"


def _full(notice: Notice) -> bool:
    """Level and update notices carry the whole story; ack and resolve are short."""
    return notice.kind in (NotificationKind.LEVEL, NotificationKind.UPDATE)


def _ack_hint(ctx: IncidentContext) -> str:
    return f"kubeheal incident ack {ctx.incident_id} --by NAME"


def _facts(notice: Notice) -> list[tuple[str, str]]:
    ctx = notice.context
    facts = [
        ("Target", ctx.target),
        ("Severity", ctx.severity),
        ("Category", ctx.category),
        ("State", ctx.state),
        ("Incident", ctx.incident_id),
        ("Opened", _stamp(ctx.opened_at)),
    ]
    if notice.kind is NotificationKind.LEVEL:
        facts.append(("Level", f"{notice.level} of {notice.levels} {notice.level_name}".strip()))
    if ctx.cluster:
        facts.append(("Cluster", ctx.cluster))
    return facts


def _timeline_lines(ctx: IncidentContext) -> list[str]:
    lines = [f"{_clock(e.at)} {e.text}" for e in ctx.timeline]
    if ctx.omitted:
        lines.insert(0, f"({ctx.omitted} earlier entries not shown)")
    return lines


def _action_lines(ctx: IncidentContext) -> list[str]:
    return [f"{a.action}: {a.state}" + (f" - {a.detail}" if a.detail else "") for a in ctx.actions]


# -- Slack --------------------------------------------------------------------------------


def _mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn reserves."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_section(heading: str, body: str, *, code: bool = False) -> dict[str, Any]:
    head = f"*{heading}*\n"
    room = _SLACK_SECTION - len(head) - (8 if code else 0)
    text = _cut(_mrkdwn(body), room)
    if code:
        text = f"```{text}```"
    return {"type": "section", "text": {"type": "mrkdwn", "text": head + text}}


def _slack(notice: Notice) -> dict[str, Any]:
    ctx = notice.context
    mark = {
        NotificationKind.ACK: ":eyes:",
        NotificationKind.RESOLVE: ":white_check_mark:",
    }.get(notice.kind, _EMOJI.get(ctx.severity, ":warning:"))
    heading = title(notice)
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _cut(f"{mark} {heading}", _SLACK_HEADER),
                "emoji": True,
            },
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": _cut(f"*{k}*\n{_mrkdwn(v)}", _SLACK_FIELD)}
                for k, v in _facts(notice)[:10]
            ],
        },
    ]
    if notice.note:
        label = {NotificationKind.ACK: "Note", NotificationKind.RESOLVE: "Resolution"}.get(
            notice.kind, "What changed"
        )
        blocks.append(_slack_section(label, notice.note))
    if _full(notice):
        blocks.append(_slack_section("What happened", ctx.what_happened))
        if ctx.timeline:
            blocks.append(_slack_section("Timeline", "\n".join(_timeline_lines(ctx))))
        if ctx.actions:
            actions = "\n".join(f"• {line}" for line in _action_lines(ctx))
            blocks.append(_slack_section("Actions and outcomes", actions))
        blocks.append(_slack_section("Suggested next step", ctx.next_step))
        if ctx.commands:
            blocks.append(_slack_section("Commands", "\n".join(ctx.commands), code=True))
        if ctx.patch:
            blocks.append(_slack_section("Patch to commit", ctx.patch, code=True))
        if ctx.logs:
            blocks.append(_slack_section("Last logs", ctx.logs, code=True))
    buttons = [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": _cut(label, _SLACK_BUTTON)},
            "url": url,
            "action_id": f"kubeheal-{label.lower()}",
        }
        for label, url in (("Runbook", ctx.runbook_url), ("Dashboard", ctx.dashboard_url))
        if url and len(url) <= 3000
    ]
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    footer = f"kubeheal · incident `{ctx.incident_id}`"
    if notice.kind is not NotificationKind.RESOLVE:
        footer += f" · acknowledge: `{_mrkdwn(_ack_hint(ctx))}`"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]})
    return {"text": _cut(f"{heading}", _SLACK_SECTION), "blocks": blocks[:_SLACK_BLOCKS]}


# -- Microsoft Teams ------------------------------------------------------------------------


def _teams_text(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **extra}


def _teams(notice: Notice) -> dict[str, Any]:
    ctx = notice.context
    color = (
        "Good"
        if notice.kind is NotificationKind.RESOLVE
        else _TEAMS_COLOR.get(ctx.severity, "Default")
    )
    body: list[dict[str, Any]] = [
        _teams_text(title(notice), size="Large", weight="Bolder", color=color),
        {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in _facts(notice)]},
    ]
    if notice.note:
        body.append(_teams_text(notice.note))
    if _full(notice):
        body.append(_teams_text("What happened", weight="Bolder", spacing="Medium"))
        body.append(_teams_text(ctx.what_happened))
        if ctx.timeline:
            body.append(_teams_text("Timeline", weight="Bolder", spacing="Medium"))
            body.append(_teams_text("\n\n".join(_timeline_lines(ctx)), fontType="Monospace"))
        if ctx.actions:
            body.append(_teams_text("Actions and outcomes", weight="Bolder", spacing="Medium"))
            body.append(_teams_text("\n".join(f"- {line}" for line in _action_lines(ctx))))
        body.append(_teams_text("Suggested next step", weight="Bolder", spacing="Medium"))
        body.append(_teams_text(ctx.next_step))
        for command in ctx.commands:
            body.append(_teams_text(command, fontType="Monospace"))
        if ctx.patch:
            body.append(_teams_text("Patch to commit", weight="Bolder", spacing="Medium"))
            body.append(_teams_text(ctx.patch, fontType="Monospace"))
        if ctx.logs:
            body.append(_teams_text("Last logs", weight="Bolder", spacing="Medium"))
            body.append(_teams_text(ctx.logs, fontType="Monospace"))
    if notice.kind is not NotificationKind.RESOLVE:
        body.append(_teams_text(f"Acknowledge: {_ack_hint(ctx)}", isSubtle=True, size="Small"))
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "msteams": {"width": "Full"},
    }
    actions = [
        {"type": "Action.OpenUrl", "title": label, "url": url}
        for label, url in (("Runbook", ctx.runbook_url), ("Dashboard", ctx.dashboard_url))
        if url
    ]
    if actions:
        card["actions"] = actions
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


# -- PagerDuty ------------------------------------------------------------------------------


def _pagerduty(notice: Notice) -> dict[str, Any]:
    ctx = notice.context
    if notice.kind is NotificationKind.ACK:
        return {"event_action": "acknowledge", "dedup_key": ctx.incident_id}
    if notice.kind is NotificationKind.RESOLVE:
        return {"event_action": "resolve", "dedup_key": ctx.incident_id}
    details: dict[str, Any] = {
        "incident_id": ctx.incident_id,
        "state": ctx.state,
        "what_happened": ctx.what_happened,
        "timeline": _timeline_lines(ctx),
        "actions": _action_lines(ctx),
        "next_step": ctx.next_step,
        "commands": list(ctx.commands),
    }
    if notice.kind is NotificationKind.LEVEL:
        details["level"] = f"{notice.level} of {notice.levels} {notice.level_name}".strip()
    if notice.note:
        details["note"] = notice.note
    if ctx.patch:
        details["patch"] = ctx.patch
    if ctx.logs:
        details["logs"] = ctx.logs
    source = f"{ctx.cluster}/{ctx.target}" if ctx.cluster else ctx.target
    event: dict[str, Any] = {
        "event_action": "trigger",
        "dedup_key": ctx.incident_id,
        "client": "kubeheal",
        "payload": {
            "summary": _cut(f"[kubeheal] {ctx.headline}", _PD_SUMMARY),
            "source": source,
            "severity": PAGERDUTY_SEVERITY.get(ctx.severity, "error"),
            "timestamp": notice.at.astimezone(UTC).isoformat(),
            "component": f"{ctx.target_kind}/{ctx.name}",
            "class": ctx.category,
            "custom_details": details,
        },
    }
    if ctx.namespace:
        event["payload"]["group"] = ctx.namespace
    links = [
        {"href": url, "text": label}
        for label, url in (("Runbook", ctx.runbook_url), ("Dashboard", ctx.dashboard_url))
        if url
    ]
    if links:
        event["links"] = links
    if ctx.dashboard_url:
        event["client_url"] = ctx.dashboard_url
    return event


# -- e-mail ---------------------------------------------------------------------------------


def email_thread_id(incident_id: str) -> str:
    """The Message-ID every e-mail about an incident refers to (one thread per incident)."""
    return f"<incident-{incident_id}@kubeheal>"


def email_message_id(key: str) -> str:
    """A stable Message-ID for one notification: a resent mail is recognisably the same."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@kubeheal>"


def _email_sections(notice: Notice) -> list[tuple[str, str, bool]]:
    """(heading, text, preformatted) in order."""
    ctx = notice.context
    sections: list[tuple[str, str, bool]] = []
    if notice.note:
        sections.append(
            ("Note" if notice.kind is NotificationKind.ACK else "Details", notice.note, False)
        )
    if _full(notice):
        sections.append(("What happened", ctx.what_happened, False))
        if ctx.timeline:
            sections.append(("Timeline", "\n".join(_timeline_lines(ctx)), True))
        if ctx.actions:
            sections.append(("Actions and outcomes", "\n".join(_action_lines(ctx)), False))
        sections.append(("Suggested next step", ctx.next_step, False))
        if ctx.commands:
            sections.append(("Commands", "\n".join(ctx.commands), True))
        if ctx.patch:
            sections.append(("Patch to commit", ctx.patch, True))
        if ctx.logs:
            sections.append(("Last logs", ctx.logs, True))
    links = [
        (label, url)
        for label, url in (("Runbook", ctx.runbook_url), ("Dashboard", ctx.dashboard_url))
        if url
    ]
    if links:
        sections.append(("Links", "\n".join(f"{label}: {url}" for label, url in links), False))
    if notice.kind is not NotificationKind.RESOLVE:
        sections.append(("Acknowledge", _ack_hint(ctx), True))
    return sections


def _email(notice: Notice, key: str) -> dict[str, Any]:
    ctx = notice.context
    subject = f"[kubeheal] [{ctx.severity}] {title(notice)}"
    facts = _facts(notice)
    sections = _email_sections(notice)
    text_parts = [title(notice), ""]
    text_parts += [f"{k}: {v}" for k, v in facts]
    for heading, body, pre in sections:
        text_parts += ["", heading, "-" * len(heading)]
        text_parts += [f"    {line}" for line in body.splitlines()] if pre else [body]
    e = html.escape
    rows = "".join(f"<tr><th align='left'>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in facts)
    html_parts = [f"<h2>{e(title(notice))}</h2>", f"<table>{rows}</table>"]
    for heading, body, pre in sections:
        html_parts.append(f"<h3>{e(heading)}</h3>")
        if heading == "Links":
            items = "".join(
                f'<li><a href="{e(url)}">{e(label)}</a></li>'
                for label, url in (("Runbook", ctx.runbook_url), ("Dashboard", ctx.dashboard_url))
                if url
            )
            html_parts.append(f"<ul>{items}</ul>")
        elif pre:
            html_parts.append(f"<pre>{e(body)}</pre>")
        else:
            html_parts.append("".join(f"<p>{e(line)}</p>" for line in body.splitlines()))
    return {
        # One line whatever the labels hold: a CR/LF would make the header unsendable.
        "subject": _cut(strip_control(subject), 250),
        "text": "\n".join(text_parts) + "\n",
        "html": "<html><body>" + "".join(html_parts) + "</body></html>",
        "message_id": email_message_id(key),
        "thread": email_thread_id(ctx.incident_id),
    }


# -- generic webhook ----------------------------------------------------------------------


def _webhook(notice: Notice, key: str) -> dict[str, Any]:
    ctx = notice.context
    level = (
        {"number": notice.level, "of": notice.levels, "name": notice.level_name}
        if notice.kind is NotificationKind.LEVEL
        else None
    )
    return {
        "version": 1,
        "delivery": key,
        "kind": notice.kind.value,
        "title": title(notice),
        "at": notice.at.astimezone(UTC).isoformat(),
        "level": level,
        "acknowledged_by": notice.by or None,
        "note": notice.note or None,
        "incident": {
            "id": ctx.incident_id,
            "state": ctx.state,
            "category": ctx.category,
            "severity": ctx.severity,
            "opened_at": ctx.opened_at.astimezone(UTC).isoformat(),
            "cluster": ctx.cluster or None,
            "target": {"kind": ctx.target_kind, "namespace": ctx.namespace, "name": ctx.name},
        },
        "headline": ctx.headline,
        "what_happened": ctx.what_happened,
        "timeline": [
            {"at": e.at.astimezone(UTC).isoformat(), "text": e.text} for e in ctx.timeline
        ],
        "actions": [
            {
                "action": a.action,
                "state": a.state,
                "requested_at": a.requested_at.astimezone(UTC).isoformat(),
                "finished_at": a.finished_at.astimezone(UTC).isoformat() if a.finished_at else None,
                "detail": a.detail,
            }
            for a in ctx.actions
        ],
        "next_step": {"text": ctx.next_step, "commands": list(ctx.commands), "patch": ctx.patch},
        "logs": ctx.logs or None,
        "links": {"runbook": ctx.runbook_url or None, "dashboard": ctx.dashboard_url or None},
    }


def render(channel_type: str, notice: Notice, *, key: str) -> JSONObject:
    """The body ``channel_type`` expects for ``notice`` (``key``: the notification's key)."""
    if channel_type == "slack":
        body = _slack(notice)
    elif channel_type == "teams":
        body = _teams(notice)
    elif channel_type == "pagerduty":
        body = _pagerduty(notice)
    elif channel_type == "email":
        body = _email(notice, key)
    elif channel_type == "webhook":
        body = _webhook(notice, key)
    else:
        raise ValueError(f"unknown channel type {channel_type!r}")
    out: JSONObject = body
    return out

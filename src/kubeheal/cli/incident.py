"""`kubeheal incident list|show|ack`: open incidents, one incident's story, acknowledgement.

Works on the ledger directly (a SQLite file or a PostgreSQL URL), so it needs no running
operator: an acknowledgement recorded here is announced by the running operator's
notification loop within its poll interval. Exit codes: 0 done, 1 unknown incident or
acknowledgement refused, 2 bad input or unusable ledger.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from kubeheal.config import SettingsError, load_settings, parse_duration
from kubeheal.config.settings import NotificationSettings
from kubeheal.runtime.notifications import acknowledge_incident
from kubeheal.server.incidents_api import (
    IncidentDetail,
    incident_detail,
    incident_summary,
    open_incidents,
)
from kubeheal.store import ConflictError, InvalidRecordError, Ledger, LedgerError, NotFoundError

__all__ = ["incident_app"]

incident_app = typer.Typer(
    name="incident",
    help="Open incidents, their story, and acknowledging an escalation.",
    no_args_is_help=True,
    add_completion=False,
)

LedgerOpt = Annotated[
    str, typer.Option("--ledger", help="Ledger: a SQLite file, or a postgresql:// URL.")
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="kubeheal settings YAML (links, routes).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
_DEFAULT_LEDGER = "kubeheal-ledger.db"


def _notification_settings(config: Path | None) -> NotificationSettings:
    try:
        return load_settings(config, os.environ).notifications
    except SettingsError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e


def _open(ledger: str) -> Ledger:
    if "://" not in ledger and not Path(ledger).exists():
        typer.echo(f"error: no ledger at {ledger}", err=True)
        raise typer.Exit(2)
    try:
        return Ledger.open(ledger)
    except LedgerError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e


def _stamp(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


@incident_app.command("list")
def list_incidents(
    ledger: LedgerOpt = _DEFAULT_LEDGER,
    since: Annotated[
        str, typer.Option(help="Also list incidents escalated this recently (e.g. 24h, 7d).")
    ] = "24h",
    as_json: JsonOpt = False,
) -> None:
    """Incidents kubeheal is handling, and escalated incidents not over yet."""
    try:
        window = parse_duration(since)
    except ValueError as e:
        typer.echo(f"error: --since {since!r}: {e}", err=True)
        raise typer.Exit(2) from e
    if not isinstance(window, timedelta):
        typer.echo(f"error: --since {since!r}: use e.g. 24h or 7d", err=True)
        raise typer.Exit(2)
    escalated_since = datetime.now(tz=UTC) - window
    with _open(ledger) as book:
        rows = [
            incident_summary(book, i, e)
            for i, e in open_incidents(book, escalated_since=escalated_since)
        ]
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))
        return
    if not rows:
        typer.echo("no open incidents")
        return
    table = Table(title="open incidents")
    for column in ("id", "target", "state", "severity", "opened (UTC)", "escalation"):
        table.add_column(column)
    for r in rows:
        where = f"{r.target.namespace}/{r.target.name}" if r.target.namespace else r.target.name
        escalation = "-"
        if r.escalation is not None:
            escalation = f"level {r.escalation.level} ({r.escalation.policy or 'no policy'})"
            if r.escalation.acknowledged_by:
                escalation += f", acked by {r.escalation.acknowledged_by}"
        table.add_row(
            r.id,
            f"{r.target.kind} {where}",
            r.state,
            r.severity,
            _stamp(r.opened_at),
            escalation,
        )
    Console().print(table)


def _print_detail(d: IncidentDetail) -> None:
    out: list[str] = [
        d.headline,
        f"  incident {d.id}: {d.state}, {d.severity}/{d.category}, opened {_stamp(d.opened_at)}",
    ]
    if d.escalation is not None:
        e = d.escalation
        started = _stamp(e.started_at)
        line = f"  escalation: policy {e.policy or '-'}, level {e.level}, started {started}"
        if e.acknowledged_by:
            line += f", acknowledged by {e.acknowledged_by} at {_stamp(e.acknowledged_at)}"
        if e.resolved_at:
            line += f", over at {_stamp(e.resolved_at)} ({e.resolve_reason})"
        out.append(line)
    out += ["", "What happened:", *(f"  {x}" for x in d.what_happened.splitlines())]
    out += ["", "Timeline:", *(f"  {_stamp(t.at)}  {t.text}" for t in d.timeline)]
    if d.actions:
        out += ["", "Actions:"]
        out += [
            f"  {a.action}: {a.state}" + (f" - {a.detail}" if a.detail else "") for a in d.actions
        ]
    out += ["", f"Next step: {d.next_step}", *(f"  {c}" for c in d.commands)]
    if d.runbook_url or d.dashboard_url:
        out += ["", f"Runbook: {d.runbook_url or '-'}", f"Dashboard: {d.dashboard_url or '-'}"]
    if d.notifications:
        out += ["", "Notifications:"]
        out += [
            f"  {n.kind:8} {n.channel:20} {n.state:8} attempts {n.attempts}"
            + (f"  ({n.last_error})" if n.last_error and n.state != "sent" else "")
            for n in d.notifications
        ]
    typer.echo("\n".join(out))


@incident_app.command("show")
def show(
    incident_id: Annotated[str, typer.Argument(help="The incident's id.")],
    ledger: LedgerOpt = _DEFAULT_LEDGER,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What happened, the timeline, actions, the next step, escalation and notifications."""
    settings = _notification_settings(config)
    with _open(ledger) as book:
        try:
            detail = incident_detail(book, settings, incident_id)
        except NotFoundError as e:
            typer.echo(f"error: no incident {incident_id}", err=True)
            raise typer.Exit(1) from e
    if as_json:
        typer.echo(json.dumps(detail.model_dump(mode="json"), indent=2))
        return
    _print_detail(detail)


@incident_app.command("ack")
def ack(
    incident_id: Annotated[str, typer.Argument(help="The incident's id.")],
    by: Annotated[str, typer.Option("--by", help="Who acknowledges (name or handle).")],
    reason: Annotated[str, typer.Option("--reason", help="Why, or what you are doing.")] = "",
    ledger: LedgerOpt = _DEFAULT_LEDGER,
    config: ConfigOpt = None,
) -> None:
    """Acknowledge an incident: its escalation stops climbing."""
    settings = _notification_settings(config)
    with _open(ledger) as book:
        try:
            record, changed = acknowledge_incident(
                book,
                incident_id,
                by=by,
                note=reason,
                at=datetime.now(tz=UTC),
                settings=settings,
            )
        except NotFoundError as e:
            typer.echo(f"error: no incident {incident_id}", err=True)
            raise typer.Exit(1) from e
        except (ConflictError, InvalidRecordError) as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(1) from e
    result: dict[str, Any] = {
        "incident": incident_id,
        "acknowledged_by": record.acknowledged_by,
        "acknowledged_at": _stamp(record.acknowledged_at),
    }
    if changed:
        typer.echo(f"acknowledged {incident_id} as {by}")
    elif record.resolved:
        typer.echo(f"{incident_id} is already over ({record.resolve_reason}); nothing to do")
    else:
        typer.echo(
            f"{incident_id} was already acknowledged by {result['acknowledged_by']} "
            f"at {result['acknowledged_at']} UTC"
        )

"""Operator commands: `kubeheal run`, `validate`, `report`, `playbooks schema`."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from kubeheal.cli.logs import setup_logging
from kubeheal.clients.cluster_time import ClusterTimeError
from kubeheal.clients.kube import KubeConnection, KubeError
from kubeheal.config import ServerSettings, Settings, SettingsError, load_settings
from kubeheal.engine.playbooks import (
    PlaybookError,
    PlaybookSet,
    export_json_schema,
    load_builtin_playbooks,
    load_playbooks,
    validate_directory,
)
from kubeheal.runtime.assembly import build
from kubeheal.runtime.clock import WALL, ClockMode, OperatorClock, operator_clock, sweep_interval
from kubeheal.runtime.leader import (
    DEFAULT_LEASE_NAME,
    campaign,
    default_identity,
    default_namespace,
)
from kubeheal.runtime.operator import OperatorOptions
from kubeheal.runtime.reload import SettingsReloader
from kubeheal.server.auth import Authenticator
from kubeheal.server.serving import operator_http, serving, split_listen
from kubeheal.server.webhook import ALERTMANAGER_PATH
from kubeheal.store import Ledger, LedgerError
from kubeheal.store.postgres import is_postgres_url
from kubeheal.store.report import build_report

__all__ = [
    "load_playbook_set",
    "load_run_settings",
    "read_ledger_location",
    "register",
    "setup_logging",
]

log = logging.getLogger(__name__)


def load_playbook_set(settings: Settings) -> PlaybookSet:
    """Built-in playbooks (unless disabled) plus every configured directory.

    A directory that does not exist yet is a warning, not an error (the README's sample
    config names /etc/kubeheal/playbooks): its playbooks are loaded once it appears with
    files in it (`PlaybookReloader`). A path that exists but is no directory is an error."""
    sets: list[PlaybookSet] = []
    if settings.playbooks.builtins:
        sets.append(load_builtin_playbooks())
    for directory in settings.playbooks.directories:
        path = Path(directory)
        if not path.exists():
            log.warning(
                "playbook directory %r does not exist (yet): no playbooks of its own loaded "
                "until it is created",
                str(path),
            )
            continue
        sets.append(load_playbooks(path))
    merged = sets[0] if sets else PlaybookSet(())
    for extra in sets[1:]:
        merged = merged.merged(extra)
    return merged


class PlaybookReloader:
    """Reloads the configured playbook directories when a file in them changes.

    Returns None while nothing changed, the new set after a valid change, and raises
    PlaybookError (with file, line and field of every problem) after an invalid one, so the
    operator keeps its last good set.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stamp = self._fingerprint()

    def _fingerprint(self) -> tuple[tuple[str, float], ...]:
        found: list[tuple[str, float]] = []
        for directory in self.settings.playbooks.directories:
            for path in sorted(Path(directory).glob("*.y*ml")):
                try:
                    found.append((str(path), path.stat().st_mtime))
                except OSError:
                    continue
        return tuple(found)

    def __call__(self) -> PlaybookSet | None:
        stamp = self._fingerprint()
        if stamp == self._stamp:
            return None
        fresh = load_playbook_set(self.settings)  # raises PlaybookError: stamp stays old
        self._stamp = stamp
        return fresh


def load_run_settings(
    config: Path | None, *, dry_run: bool = False, token_file: Path | None = None
) -> Settings:
    """The settings of `kubeheal run`: the file, the environment and the command-line options
    (``--dry-run``, ``--token-file``); raises `SettingsError`.

    The same function builds the settings at start and at every reload, so an option is
    never seen as a change of the file (e.g. "server.token_file needs a restart").
    """
    settings = load_settings(config, os.environ)
    if dry_run:
        settings = settings.model_copy(
            update={"guards": settings.guards.model_copy(update={"dry_run": True})}
        )
    if token_file is not None:
        try:
            server = ServerSettings.model_validate(
                {**settings.server.model_dump(), "token_file": token_file, "token": None}
            )
        except ValueError as e:
            raise SettingsError(f"--token-file: {e}") from None
        settings = settings.model_copy(update={"server": server})
    return settings


def read_ledger_location(ledger: str | None, ledger_file: Path | None) -> str:
    """Where the ledger is: ``--ledger``, or the contents of ``--ledger-file`` (a mounted
    Secret: a PostgreSQL URL holds a password, and a command line is readable by every
    process on the node), or ``kubeheal-ledger.db``. Raises ``ValueError`` naming the
    option."""
    if ledger is not None and ledger_file is not None:
        raise ValueError("use --ledger or --ledger-file, not both")
    if ledger_file is None:
        return ledger or "kubeheal-ledger.db"
    try:
        text = ledger_file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
        raise ValueError(f"--ledger-file: cannot read {ledger_file}: {reason}") from None
    if not text:
        raise ValueError(f"--ledger-file: {ledger_file} is empty")
    return text


def register(app: typer.Typer) -> None:
    """Add the operator commands to the CLI."""

    @app.command()
    def run(
        kubeconfig: Annotated[
            Path | None,
            typer.Option(help="kubeconfig file; in-cluster service account when omitted."),
        ] = None,
        config: Annotated[Path | None, typer.Option(help="kubeheal settings YAML.")] = None,
        ledger: Annotated[
            str | None,
            typer.Option(
                help="Ledger: a SQLite file, or a postgresql:// URL (for HA); default "
                "kubeheal-ledger.db. A URL with a password belongs in --ledger-file."
            ),
        ] = None,
        ledger_file: Annotated[
            Path | None,
            typer.Option(
                help="File holding the ledger location (e.g. a mounted Secret with the "
                "postgresql:// URL), so the password is not on the command line."
            ),
        ] = None,
        leader_elect: Annotated[
            bool,
            typer.Option(
                help="Run as one of several replicas: only the holder of the Lease acts "
                "(needs a shared ledger: PostgreSQL)."
            ),
        ] = False,
        lease: Annotated[
            str,
            typer.Option(
                help="namespace/name of the leader-election Lease; default: "
                "$POD_NAMESPACE (or the service account's)/kubeheal-leader."
            ),
        ] = "",
        listen: Annotated[
            str | None,
            typer.Option(
                help="host:port of the HTTP server (webhook, API, /metrics, health); "
                "default: server.listen (127.0.0.1:8080)."
            ),
        ] = None,
        token_file: Annotated[
            Path | None,
            typer.Option(
                help="File holding the bearer token the webhook and API require "
                "(server.token_file)."
            ),
        ] = None,
        dry_run: Annotated[bool, typer.Option(help="Plan and record, change nothing.")] = False,
        cluster_clock: Annotated[
            ClockMode,
            typer.Option(
                help="Whose clock times every threshold, window and cooldown: 'auto' follows "
                "the clock of a kubeheal twin (its /twin/status answers at the API server's "
                "address, e.g. 'kubeheal twin serve --speed 20') and keeps the wall clock "
                "otherwise (always in-cluster); 'twin' requires a twin; 'wall' never asks."
            ),
        ] = ClockMode.AUTO,
        log_json: Annotated[bool, typer.Option(help="Log one JSON object per line.")] = False,
        log_level: Annotated[str, typer.Option()] = "INFO",
    ) -> None:
        """Run the operator against a cluster (the twin or a real one)."""
        setup_logging(level=log_level, json_output=log_json)
        load = functools.partial(load_run_settings, config, dry_run=dry_run, token_file=token_file)
        try:
            settings = load()
            location = read_ledger_location(ledger, ledger_file)
        except ValueError as e:  # includes SettingsError
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from e
        try:
            host, port = split_listen(listen or settings.server.listen)
            auth = Authenticator.from_settings(settings.server)
        except ValueError as e:  # includes AuthConfigError
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from e
        try:
            playbooks = load_playbook_set(settings)
        except PlaybookError as e:
            typer.echo(f"error: invalid playbooks:\n{e}", err=True)
            raise typer.Exit(2) from e
        try:
            connection = (
                KubeConnection.from_kubeconfig(kubeconfig)
                if kubeconfig
                else KubeConnection.in_cluster()
            )
        except KubeError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from e
        try:
            clock = asyncio.run(
                operator_clock(connection, mode=cluster_clock, in_cluster=kubeconfig is None)
            )
        except ClusterTimeError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from e
        try:
            book = Ledger.open(location, manual_checkpoints=True)
        except LedgerError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from e
        election = None
        if leader_elect:
            namespace, _, name = lease.partition("/")
            election = (namespace or default_namespace(os.environ), name or DEFAULT_LEASE_NAME)
        reload_from = None if config is None else load
        serve = _serve(connection, book, settings, playbooks, auth, host, port, election,
                       config=config, reload_settings=reload_from, clock=clock)  # fmt: skip
        asyncio.run(serve)

    @app.command()
    def validate(
        directory: Annotated[Path, typer.Argument(help="Directory of playbook YAML files.")],
    ) -> None:
        """Check playbooks: every error with its file, line and field."""
        issues = validate_directory(directory)
        for issue in issues:
            typer.echo(f"{issue.file}:{issue.line}: {issue.field}: {issue.message}")
        if issues:
            typer.echo(f"{len(issues)} error(s)", err=True)
            raise typer.Exit(1)
        typer.echo(f"{directory}: all playbooks valid")

    playbooks_app = typer.Typer(help="Playbook tools.", no_args_is_help=True)
    app.add_typer(playbooks_app, name="playbooks")

    @playbooks_app.command("schema")
    def schema() -> None:
        """Print the JSON Schema of playbook files."""
        typer.echo(json.dumps(export_json_schema(), indent=2))

    @playbooks_app.command("list")
    def list_playbooks() -> None:
        """List the built-in playbooks."""
        for playbook in load_builtin_playbooks():
            typer.echo(f"{playbook.name}: {playbook.description.strip().splitlines()[0]}")

    @app.command()
    def demo(
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Also write the results as JSON here.")
        ] = None,
        speed: Annotated[float, typer.Option(help="Simulated time runs this much faster.")] = 20.0,
        log_level: Annotated[str, typer.Option()] = "WARNING",
        keep: Annotated[
            bool,
            typer.Option("--keep", help="After the faults, keep serving the console until Ctrl-C."),
        ] = False,
    ) -> None:
        """Run the twin with sample-app and bookinfo, inject faults, watch kubeheal heal them."""
        from kubeheal.cli.demo import DemoResult, print_results, run_demo, summary, write_json

        setup_logging(level=log_level)
        console = Console()
        if not console.is_terminal:
            console = Console(width=140)
        started = time.monotonic()

        held: list[DemoResult] = []

        async def hold(done: list[DemoResult]) -> None:
            held.extend(done)
            print_results(console, done)
            console.print(summary(done, time.monotonic() - started))
            if json_out is not None:
                write_json(json_out, done)
            console.print("serving the web console (URL above) until Ctrl-C")
            await asyncio.Event().wait()

        try:
            results = asyncio.run(
                run_demo(speed=speed, console=console, hold=hold if keep else None)
            )
        except KeyboardInterrupt:
            # Ctrl-C while --keep serves the console after the faults is the normal end.
            ok = bool(held) and all(r.handled for r in held)
            raise typer.Exit(0 if ok else 130) from None
        print_results(console, results)
        console.print(summary(results, time.monotonic() - started))
        if json_out is not None:
            write_json(json_out, results)
            console.print(f"results written to {json_out}")
        if not all(r.handled for r in results):
            raise typer.Exit(1)

    @app.command()
    def report(
        ledger: Annotated[
            str | None,
            typer.Option(
                help="Ledger: a SQLite file, or a postgresql:// URL; default kubeheal-ledger.db."
            ),
        ] = None,
        ledger_file: Annotated[
            Path | None,
            typer.Option(help="Read the ledger location from this file (a mounted Secret)."),
        ] = None,
        since: Annotated[str, typer.Option(help="Window, e.g. 24h, 7d.")] = "7d",
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
        html: Annotated[
            Path | None,
            typer.Option(
                "--html", help="Also write the console's KPIs and incidents as one HTML file."
            ),
        ] = None,
    ) -> None:
        """Time to detect/act/recover (p50, p95), auto-recovery and false-positive rates."""
        units = {"m": 60, "h": 3600, "d": 86400}
        try:
            window = timedelta(seconds=float(since[:-1]) * units[since[-1]])
        except (KeyError, ValueError, IndexError):
            typer.echo(f"error: --since {since!r}: use a number and m, h or d (e.g. 24h)", err=True)
            raise typer.Exit(2) from None
        try:
            location = read_ledger_location(ledger, ledger_file)
        except ValueError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from None
        if not is_postgres_url(location) and not Path(location).exists():
            typer.echo(f"error: no ledger at {location}", err=True)
            raise typer.Exit(2)
        now = datetime.now(tz=UTC)
        # Up to a day ahead too: an accelerated twin's clock runs ahead of the wall clock.
        until = now + timedelta(days=1)
        with Ledger.open(location) as book:
            incidents = book.list_incidents(since=now - window, until=until)
            plans = book.list_plans(since=now - window, until=until)
            if html is not None:
                from kubeheal.server.console.report import html_report

                page = html_report(book, now=now, days=window / timedelta(days=1))
                html.write_text(page, encoding="utf-8")
                typer.echo(f"report written to {html}", err=True)
        result = build_report(incidents=incidents, plans=plans)
        if as_json:
            typer.echo(json.dumps(result.to_dict(), indent=2, default=str))
            return
        print_report(result.to_dict())


def print_report(data: dict[str, Any]) -> None:
    """The report as a table: a figure with no data is "n/a", an empty list "none", one row
    per playbook and per guard (never a Python ``None`` or ``[]``)."""
    console = Console()
    table = Table(title="kubeheal report")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in data.items():
        if key == "playbooks" and isinstance(value, list):
            for stats in value:
                rate = stats.get("success_rate")
                healed = f"{stats['auto_recovered']} of {stats['incidents']} auto-recovered"
                if rate is not None:
                    healed += f" ({rate:.0%})"
                table.add_row(f"playbooks.{stats['playbook']}", healed)
            if not value:
                table.add_row(key, "none")
        elif isinstance(value, dict):
            for sub, v in value.items():
                table.add_row(f"{key}.{sub}", _fmt(v))
            if not value:
                table.add_row(key, "none")
        else:
            table.add_row(key, _fmt(value))
    console.print(table)


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict | list):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


async def _serve(
    connection: KubeConnection,
    ledger: Ledger,
    settings: Settings,
    playbooks: PlaybookSet,
    auth: Authenticator,
    host: str,
    port: int,
    election: tuple[str, str] | None = None,
    *,
    config: Path | None = None,
    reload_settings: Callable[[], Settings] | None = None,
    clock: OperatorClock = WALL,
) -> None:
    stop = asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        leader = None
        if election is not None:
            elector = await stack.enter_async_context(
                campaign(
                    connection,
                    namespace=election[0],
                    name=election[1],
                    identity=default_identity(os.environ),
                    on_stopped_leading=stop.set,
                )
            )
            leader = elector.leading
        # Leaving the stack after the operator stopped releases the Lease.
        await _run_operator(
            connection, ledger, settings, playbooks, auth, host, port, stop=stop, leader=leader,
            reloader=(config, reload_settings) if config and reload_settings else None,
            clock=clock,
        )  # fmt: skip
    ledger.close()


async def _run_operator(
    connection: KubeConnection,
    ledger: Ledger,
    settings: Settings,
    playbooks: PlaybookSet,
    auth: Authenticator,
    host: str,
    port: int,
    *,
    stop: asyncio.Event,
    leader: asyncio.Event | None,
    reloader: tuple[Path, Callable[[], Settings]] | None = None,
    clock: OperatorClock = WALL,
) -> None:
    async with contextlib.AsyncExitStack() as sources:
        assembly = await build(
            settings,
            connection,
            ledger,
            playbooks=playbooks,
            stack=sources,
            clock=clock,
            options=OperatorOptions(
                ledger_in_thread=is_postgres_url(ledger.location),
                sweep_interval=sweep_interval(clock),
            ),
            reload_playbooks=PlaybookReloader(settings),
            leader=leader,
        )
        operator = assembly.operator
        http = operator_http(assembly, auth=auth, received_clock=clock.now)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if reloader is not None:
            settings_reloader = SettingsReloader(
                path=reloader[0], load=reloader[1], target=operator
            )
            operator.tasks.spawn("settings-reload", settings_reloader.run())
            loop.add_signal_handler(signal.SIGHUP, settings_reloader.request)
        try:
            async with serving(http.app, host=host, port=port) as url:
                operator.tasks.spawn("operator-start", operator.start())
                hook = f"; Alertmanager webhook {url}{ALERTMANAGER_PATH}" if http.consumer else ""
                log.info("kubeheal running against %s; HTTP on %s%s", connection.server, url, hook)
                await stop.wait()
                log.info("shutting down")
        finally:
            await operator.stop()

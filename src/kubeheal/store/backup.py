"""Backups of the ledger that restore: a consistent copy, its manifest, and a checked restore.

SQLite: the online backup API (``sqlite3.Connection.backup`` in one step) copies the database
under one read transaction, so the copy is exactly the ledger at one commit even while the
operator keeps writing (WAL: the writer is never blocked). PostgreSQL: ``pg_dump`` in the
custom format, run on a snapshot exported by a repeatable-read transaction of our own
(``pg_export_snapshot``), so the row counts of the manifest are counted on exactly the data
that was dumped.

Every backup is two files in the destination directory: the data (``ledger-<UTC>.sqlite`` or
``ledger-<UTC>.pgdump``) and ``<data>.manifest.json`` with its SHA-256, size, backend, schema
history (``schema_migrations``) and the row count of every table. `restore_ledger` checks the
checksum, refuses a target that already holds a ledger, restores, then checks the restored
database against the manifest: the same migrations (and none this kubeheal does not know,
none recorded under another name) and the same row count in every table. A restore that
does not match raises `BackupError` and says what differs.

Passwords never reach a command line or a message: ``pg_dump``/``pg_restore`` get them in
``PGPASSWORD``, and locations are printed without them.

The operator stack never starts a process (tests/reliability/test_reliability_security.py),
so this module does not either: ``pg_dump``/``pg_restore`` run through the `ProcessRunner`
the caller passes (``kubeheal.cli.processes.run_process`` for the CLI). A PostgreSQL backup
or restore without one is refused; SQLite needs none.

Errors: `BackupError` (a `LedgerError`) for everything; driver, process and file errors
are translated with ``raise ... from e``.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

from kubeheal.store.errors import LedgerError
from kubeheal.store.migrations import MIGRATIONS, Migration
from kubeheal.store.postgres import describe, is_postgres_url

__all__ = [
    "MANIFEST_KIND",
    "BackupError",
    "LedgerManifest",
    "ProcessRunner",
    "RestoreReport",
    "backup_ledger",
    "check_migrations",
    "find_pg_tool",
    "read_manifest",
    "restore_ledger",
]

MANIFEST_KIND = "kubeheal-ledger-backup"

ProcessRunner = Callable[[Sequence[str], Mapping[str, str], float], tuple[int, str]]
"""``(argv, environment, timeout seconds) -> (exit code, its stderr or stdout)``; raises
`OSError` when the program cannot start and `TimeoutError` when it runs past the timeout."""
_FORMAT = 1
_CHUNK = 1 << 20


class BackupError(LedgerError):
    """A backup could not be taken, or a restore could not be done or did not match."""


@dataclass(frozen=True, slots=True)
class LedgerManifest:
    """What a backup holds: written beside the data file, checked by every restore."""

    backend: str
    """``sqlite`` or ``postgresql``."""
    file: str
    """Name of the data file (in the manifest's directory)."""
    sha256: str
    size: int
    created_at: str
    """UTC ISO-8601 time the copy was taken (the caller's clock)."""
    source: str
    """Where the ledger was (no password)."""
    migrations: tuple[tuple[int, str], ...]
    """``schema_migrations`` of the copy: (version, name), oldest first."""
    row_counts: Mapping[str, int]
    """Rows of every table of the copy, by table name."""

    @property
    def schema_version(self) -> int:
        return max((v for v, _ in self.migrations), default=0)

    @property
    def rows(self) -> int:
        return sum(self.row_counts.values())

    def to_json(self) -> dict[str, object]:
        return {
            "kind": MANIFEST_KIND,
            "format": _FORMAT,
            "backend": self.backend,
            "file": self.file,
            "sha256": self.sha256,
            "size": self.size,
            "created_at": self.created_at,
            "source": self.source,
            "schema_version": self.schema_version,
            "migrations": [[v, n] for v, n in self.migrations],
            "row_counts": dict(sorted(self.row_counts.items())),
        }


@dataclass(frozen=True, slots=True)
class RestoreReport:
    """What `restore_ledger` restored and checked."""

    target: str
    manifest: LedgerManifest
    row_counts: Mapping[str, int]
    schema_version: int
    pending_migrations: int
    """Migrations this kubeheal will apply when it next opens the ledger (older backup)."""


# -- manifest --------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(path: Path) -> LedgerManifest:
    """Read and validate a manifest (the ``.manifest.json`` or the data file beside it)."""
    path = Path(path)
    if not path.name.endswith(".manifest.json"):
        path = path.with_name(path.name + ".manifest.json")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BackupError(f"cannot read the backup manifest {path}: {e}") from e
    try:
        if raw["kind"] != MANIFEST_KIND or raw["format"] != _FORMAT:
            raise BackupError(f"{path} is not a kubeheal ledger backup manifest (format 1)")
        backend = str(raw["backend"])
        if backend not in ("sqlite", "postgresql"):
            raise BackupError(f"{path}: unknown backend {backend!r}")
        name = str(raw["file"])
        if Path(name).name != name or name in ("", ".", ".."):
            raise BackupError(f"{path}: the data file must be a plain file name, not {name!r}")
        counts = {str(k): int(v) for k, v in dict(raw["row_counts"]).items()}
        migrations = tuple((int(v), str(n)) for v, n in raw["migrations"])
        return LedgerManifest(
            backend=backend,
            file=name,
            sha256=str(raw["sha256"]),
            size=int(raw["size"]),
            created_at=str(raw["created_at"]),
            source=str(raw["source"]),
            migrations=migrations,
            row_counts=counts,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise BackupError(f"{path}: malformed backup manifest ({e!r})") from e


def _write_manifest(directory: Path, manifest: LedgerManifest) -> Path:
    path = directory / f"{manifest.file}.manifest.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(manifest.to_json(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def check_migrations(
    recorded: Sequence[tuple[int, str]], migrations: Sequence[Migration] = MIGRATIONS
) -> int:
    """How many of ``migrations`` a database with history ``recorded`` still needs.

    Raises `BackupError` when the history is newer than this code or names a migration
    differently (the same checks `apply_migrations` makes before it writes).
    """
    known = {m.version: m.name for m in migrations}
    for version, name in recorded:
        if version not in known:
            raise BackupError(
                f"the backup has schema migration {version} ({name!r}), newer than this "
                f"kubeheal knows ({len(migrations)}): restore it with a newer kubeheal"
            )
        if known[version] != name:
            raise BackupError(
                f"the backup records migration {version} as {name!r} but this kubeheal's is "
                f"{known[version]!r}: it comes from a different build"
            )
    versions = sorted(v for v, _ in recorded)
    if versions != list(range(1, len(versions) + 1)):
        raise BackupError(f"the backup's migration history has gaps: {versions}")
    return len(migrations) - len(versions)


# -- SQLite ----------------------------------------------------------------------------------


def _sqlite_contents(
    conn: sqlite3.Connection,
) -> tuple[tuple[tuple[int, str], ...], dict[str, int]]:
    tables = [
        str(row[0])
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]
    counts = {t: int(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in tables}
    migrations: tuple[tuple[int, str], ...] = ()
    if "schema_migrations" in tables:
        migrations = tuple(
            (int(v), str(n))
            for v, n in conn.execute("SELECT version, name FROM schema_migrations ORDER BY 1")
        )
    return migrations, counts


def _stamp(now: datetime) -> str:
    if now.tzinfo is None:
        raise BackupError("the backup time must be timezone-aware")
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def _iso(now: datetime) -> str:
    return now.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _backup_sqlite(source: Path, directory: Path, now: datetime) -> LedgerManifest:
    if not source.is_file():
        raise BackupError(f"no ledger at {source}")
    name = f"ledger-{_stamp(now)}.sqlite"
    target = directory / name
    partial = directory / (name + ".partial")
    try:
        # Read-only URI: a backup never creates or changes the ledger it copies.
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0)
        try:
            dst = sqlite3.connect(partial)
            try:
                # One step (pages=-1): the whole copy is made under one read transaction,
                # so it is the ledger as of one commit; WAL readers never block the writer.
                src.backup(dst, pages=-1)
                dst.execute("PRAGMA journal_mode = DELETE")
                (check,) = dst.execute("PRAGMA integrity_check").fetchone()
                if check != "ok":
                    raise BackupError(f"the copy of {source} fails integrity_check: {check}")
                migrations, counts = _sqlite_contents(dst)
            finally:
                dst.close()
        finally:
            src.close()
        os.replace(partial, target)
    except sqlite3.Error as e:
        partial.unlink(missing_ok=True)
        raise BackupError(f"backing up the ledger {source}: {e}") from e
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return LedgerManifest(
        backend="sqlite",
        file=name,
        sha256=_sha256(target),
        size=target.stat().st_size,
        created_at=_iso(now),
        source=str(source),
        migrations=migrations,
        row_counts=counts,
    )


def _restore_sqlite(data: Path, manifest: LedgerManifest, target: Path) -> dict[str, int]:
    if target.exists() and target.stat().st_size > 0:
        raise BackupError(
            f"{target} already exists: restore into a new path (the running ledger is never "
            f"overwritten; stop kubeheal and move the old file away first)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        src = sqlite3.connect(f"{data.resolve().as_uri()}?mode=ro", uri=True)
        try:
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst, pages=-1)
                dst.execute("PRAGMA journal_mode = WAL")
                migrations, counts = _sqlite_contents(dst)
            finally:
                dst.close()
        finally:
            src.close()
        if migrations != manifest.migrations:
            raise BackupError(
                f"the restored ledger's migrations {migrations} differ from the manifest's "
                f"{manifest.migrations}"
            )
        os.replace(partial, target)
    except sqlite3.Error as e:
        raise BackupError(f"restoring {data} into {target}: {e}") from e
    finally:
        partial.unlink(missing_ok=True)
    return counts


# -- PostgreSQL ------------------------------------------------------------------------------


def find_pg_tool(name: str) -> str:
    """``pg_dump``/``pg_restore`` of the newest Debian PostgreSQL (a dump needs a client at
    least as new as the server), else the one on PATH."""
    found = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path is None:
        raise BackupError(f"{name} not found: install the Debian package postgresql-client")
    return on_path


def _pg_env(url: str) -> dict[str, str]:
    """libpq environment for ``url``: the password travels here, never on a command line."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error as e:
        raise BackupError(f"not a usable PostgreSQL URL ({describe(url)}): {e}") from e
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    names = {
        "host": "PGHOST",
        "port": "PGPORT",
        "user": "PGUSER",
        "password": "PGPASSWORD",
        "dbname": "PGDATABASE",
        "sslmode": "PGSSLMODE",
    }
    for key, var in names.items():
        value = params.get(key)
        if value:
            env[var] = str(value)
    return env


def _need_runner(run: ProcessRunner | None, tool: str) -> ProcessRunner:
    if run is None:
        raise BackupError(f"a PostgreSQL ledger is copied by {tool}, and no process runner was "
                          f"given (pass kubeheal.cli.processes.run_process)")  # fmt: skip
    return run


def _run(
    args: list[str], *, env: Mapping[str, str], what: str, timeout: float, run: ProcessRunner
) -> None:
    try:
        code, output = run(args, dict(env), timeout)
    except (OSError, TimeoutError) as e:
        raise BackupError(f"{what}: {e}") from e
    if code != 0:
        raise BackupError(f"{what}: {Path(args[0]).name} exited {code}: "
                          f"{output.strip()[-2000:]}")  # fmt: skip


def _pg_contents(conn: psycopg.Connection) -> tuple[tuple[tuple[int, str], ...], dict[str, int]]:
    tables = [
        str(row[0])
        for row in conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1"
        ).fetchall()
    ]
    counts: dict[str, int] = {}
    for t in tables:
        row = conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()
        counts[t] = int(row[0]) if row else 0
    migrations: tuple[tuple[int, str], ...] = ()
    if "schema_migrations" in tables:
        migrations = tuple(
            (int(v), str(n))
            for v, n in conn.execute(
                "SELECT version, name FROM schema_migrations ORDER BY 1"
            ).fetchall()
        )
    return migrations, counts


def _backup_postgres(
    url: str, directory: Path, now: datetime, *, timeout: float, run: ProcessRunner | None
) -> LedgerManifest:
    runner = _need_runner(run, "pg_dump")
    name = f"ledger-{_stamp(now)}.pgdump"
    target = directory / name
    partial = directory / (name + ".partial")
    where = describe(url)
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            # The dump and the counts see one snapshot: pg_dump --snapshot joins ours.
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            row = conn.execute("SELECT pg_export_snapshot()").fetchone()
            snapshot = str(row[0]) if row else ""
            migrations, counts = _pg_contents(conn)
            _run(
                [find_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                 f"--snapshot={snapshot}", f"--file={partial}"],
                env=_pg_env(url), what=f"pg_dump of {where}", timeout=timeout, run=runner,
            )  # fmt: skip
            conn.execute("COMMIT")
        os.replace(partial, target)
    except psycopg.Error as e:
        raise BackupError(f"backing up the ledger {where}: {e}") from e
    finally:
        partial.unlink(missing_ok=True)
    return LedgerManifest(
        backend="postgresql",
        file=name,
        sha256=_sha256(target),
        size=target.stat().st_size,
        created_at=_iso(now),
        source=where,
        migrations=migrations,
        row_counts=counts,
    )


def _restore_postgres(
    data: Path, manifest: LedgerManifest, url: str, *, timeout: float, run: ProcessRunner | None
) -> dict[str, int]:
    runner = _need_runner(run, "pg_restore")
    where = describe(url)
    try:
        with psycopg.connect(url, connect_timeout=10, autocommit=True) as conn:
            existing, _ = _pg_contents(conn)
            row = conn.execute(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            ).fetchone()
            if existing or (row and int(row[0]) > 0):
                raise BackupError(
                    f"{where} is not empty: restore into a new, empty database (the running "
                    f"ledger is never overwritten)"
                )
        _run(
            [find_pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
             "--single-transaction", f"--dbname={conninfo_to_dict(url).get('dbname', '')}",
             str(data)],
            env=_pg_env(url), what=f"pg_restore into {where}", timeout=timeout, run=runner,
        )  # fmt: skip
        with psycopg.connect(url, connect_timeout=10, autocommit=True) as conn:
            migrations, counts = _pg_contents(conn)
    except psycopg.Error as e:
        raise BackupError(f"restoring into {where}: {e}") from e
    if migrations != manifest.migrations:
        raise BackupError(
            f"the restored ledger's migrations {migrations} differ from the manifest's "
            f"{manifest.migrations}"
        )
    return counts


# -- entry points ----------------------------------------------------------------------------


def backup_ledger(
    source: str | os.PathLike[str],
    directory: Path,
    *,
    now: datetime,
    timeout: float = 600.0,
    run: ProcessRunner | None = None,
) -> LedgerManifest:
    """Copy the ledger at ``source`` (a SQLite path or a ``postgresql://`` URL) into
    ``directory`` (created if absent) and write its manifest; return the manifest."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BackupError(f"cannot create the backup directory {directory}: {e}") from e
    if is_postgres_url(source):
        manifest = _backup_postgres(str(source), directory, now, timeout=timeout, run=run)
    else:
        manifest = _backup_sqlite(Path(source), directory, now)
    check_migrations(manifest.migrations)
    try:
        _write_manifest(directory, manifest)
    except OSError as e:
        raise BackupError(f"cannot write the manifest into {directory}: {e}") from e
    return manifest


def restore_ledger(
    backup: Path,
    target: str | os.PathLike[str],
    *,
    timeout: float = 600.0,
    run: ProcessRunner | None = None,
) -> RestoreReport:
    """Restore the backup ``backup`` (its data file or manifest) into ``target`` (a new
    SQLite path or an empty PostgreSQL database's URL) and check it against the manifest.

    The backend of the target must be the backup's. Raises `BackupError` naming what is
    wrong: a checksum mismatch, an unknown or renamed migration, a non-empty target, a row
    count that differs from the manifest's.
    """
    manifest = read_manifest(Path(backup))
    folder = Path(backup).parent
    data = folder / manifest.file
    if not data.is_file():
        raise BackupError(f"the backup's data file {data} is missing")
    if data.stat().st_size != manifest.size or _sha256(data) != manifest.sha256:
        raise BackupError(f"{data} does not match its manifest's SHA-256: the copy is damaged")
    pending = check_migrations(manifest.migrations)
    to_postgres = is_postgres_url(target)
    if to_postgres != (manifest.backend == "postgresql"):
        raise BackupError(
            f"the backup is a {manifest.backend} ledger; restore it into a "
            f"{'postgresql:// URL' if manifest.backend == 'postgresql' else 'SQLite file path'}"
        )
    if to_postgres:
        counts = _restore_postgres(data, manifest, str(target), timeout=timeout, run=run)
        where = describe(str(target))
    else:
        counts = _restore_sqlite(data, manifest, Path(target))
        where = str(target)
    if dict(counts) != dict(manifest.row_counts):
        differ = sorted(
            f"{t}: {manifest.row_counts.get(t, 0)} in the backup, {counts.get(t, 0)} restored"
            for t in set(counts) | set(manifest.row_counts)
            if counts.get(t, 0) != manifest.row_counts.get(t, 0)
        )
        raise BackupError(f"the restored ledger at {where} differs: " + "; ".join(differ))
    return RestoreReport(
        target=where,
        manifest=manifest,
        row_counts=counts,
        schema_version=manifest.schema_version,
        pending_migrations=pending,
    )

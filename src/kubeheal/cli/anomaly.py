"""`kubeheal anomaly`: score a CSV series as a stream, and plot it with its band and forecast.

Input CSV: ``timestamp,value`` rows (a header row is recognised and skipped). Timestamps are
ISO 8601 (``2024-05-01 12:00:00``, ``2024-05-01T12:00:00Z``; naive ones are UTC) or epoch
seconds. What bad input does:

- empty file, or a header without rows: error;
- a row without two columns, an unreadable timestamp or value: error naming the row;
- a repeated timestamp or one earlier than the row before (a daylight-saving change, a
  late sample): scored in arrival order as the next sample, counted, and reported in one
  warning line at the end; ``--strict`` refuses them instead (an error naming the first such
  row; ``--strict --allow-duplicates`` still accepts repeats);
- an empty, NaN or infinite value: error naming the row, unless ``--skip-invalid`` (the row is
  then written with an empty score and not shown to the detector);
- gaps in time: scored normally (windows count points; seasonal comparisons match by time);
- a constant series: every score is 0.

On error nothing is written (the output appears only when every row was scored).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TextIO

import numpy as np
import typer

from kubeheal.anomaly import AnomalyDetector, AnomalyInputError, ScoreBatch
from kubeheal.anomaly.forecast import format_duration, robust_trend, time_to_exhaustion

__all__ = ["CsvInputError", "OrderReport", "anomaly_app", "read_series", "score_csv"]

anomaly_app = typer.Typer(
    help="Anomaly scores and forecasts of a time series (CSV).", no_args_is_help=True
)


class CsvInputError(ValueError):
    """A row of the input CSV cannot be used; the message names the row."""


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    ts_text: str
    value_text: str
    t: float  # the time the detector sees: never earlier than the row before
    value: float  # NaN when invalid and skipped


@dataclass(slots=True)
class OrderReport:
    """Rows whose timestamp repeated or went back, scored in arrival order (not ``--strict``)."""

    repeated: int = 0
    out_of_order: int = 0
    first_line: int | None = None

    def warning(self, name: str) -> str | None:
        """One line saying what was accepted, or None when the timestamps were in order."""
        if self.first_line is None:
            return None
        return (
            f"{name}: {self.repeated} repeated and {self.out_of_order} out-of-order timestamps "
            f"(first at row {self.first_line}) scored in arrival order as the next sample; "
            "--strict refuses them"
        )


def _parse_time(text: str) -> float:
    raw = text.strip()
    try:
        return float(raw)
    except ValueError:
        pass
    parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _rows(
    fh: TextIO,
    *,
    name: str,
    allow_duplicates: bool,
    skip_invalid: bool,
    strict: bool,
    order: OrderReport,
) -> Iterator[_Row]:
    reader = csv.reader(fh)
    last_t = -math.inf
    seen_data = False
    for cells in reader:
        line = reader.line_num
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) < 2:
            raise CsvInputError(f"{name} row {line}: expected timestamp,value, got {cells!r}")
        ts_text, value_text = cells[0].strip(), cells[1].strip()
        try:
            t = _parse_time(ts_text)
        except (ValueError, OverflowError):
            if not seen_data and line == 1:
                continue  # the header
            raise CsvInputError(f"{name} row {line}: unreadable timestamp {ts_text!r}") from None
        if not math.isfinite(t):
            raise CsvInputError(f"{name} row {line}: timestamp {ts_text!r} is not finite")
        try:
            value = float(value_text) if value_text else math.nan
        except ValueError:
            raise CsvInputError(f"{name} row {line}: unreadable value {value_text!r}") from None
        if not math.isfinite(value):
            if not skip_invalid:
                raise CsvInputError(
                    f"{name} row {line}: value {value_text or '(empty)'!r} is not a finite "
                    "number (use --skip-invalid to leave such rows unscored)"
                )
            value = math.nan
        if t < last_t:
            if strict:
                raise CsvInputError(
                    f"{name} row {line}: timestamp {ts_text!r} is earlier than the row before"
                )
            order.out_of_order += 1
            order.first_line = order.first_line or line
            t = last_t
        elif t == last_t:
            if strict and not allow_duplicates:
                raise CsvInputError(
                    f"{name} row {line}: duplicate timestamp {ts_text!r} (use --allow-duplicates "
                    "to score repeated timestamps as successive samples)"
                )
            if not strict:
                order.repeated += 1
                order.first_line = order.first_line or line
        last_t = t
        seen_data = True
        yield _Row(line, ts_text, value_text, t, value)
    if not seen_data:
        raise CsvInputError(f"{name}: no data rows")


def _chunks(rows: Iterator[_Row], size: int) -> Iterator[list[_Row]]:
    chunk: list[_Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def score_csv(
    source: Path,
    dest: Path,
    *,
    chunk: int = 1000,
    allow_duplicates: bool = False,
    skip_invalid: bool = False,
    strict: bool = False,
    order: OrderReport | None = None,
) -> tuple[int, int]:
    """Stream ``source`` through one detector into ``dest``; (rows, alarms).

    Rows are read, scored and written in order, ``chunk`` rows at a time; the output is
    written to a temporary file renamed over ``dest`` only when every row was scored.
    Repeated and out-of-order timestamps are counted in ``order`` (unless ``strict``).
    """
    order = OrderReport() if order is None else order
    detector = AnomalyDetector()
    rows_done = alarms = 0
    fd, tmp_name = tempfile.mkstemp(prefix=".score-", suffix=".csv", dir=dest.parent or ".")
    try:
        with (
            source.open(newline="") as fh,
            os.fdopen(fd, "w", newline="") as out,
        ):
            writer = csv.writer(out)
            writer.writerow(["timestamp", "value", "anomaly_score"])
            rows = _rows(
                fh,
                name=str(source),
                allow_duplicates=allow_duplicates,
                skip_invalid=skip_invalid,
                strict=strict,
                order=order,
            )
            for part in _chunks(rows, chunk):
                ok = [r for r in part if not math.isnan(r.value)]
                scores: dict[int, float] = {}
                if ok:
                    try:
                        batch = detector.update([r.t for r in ok], [r.value for r in ok])
                    except AnomalyInputError as e:  # pragma: no cover - rows are validated
                        raise CsvInputError(f"{source}: {e}") from e
                    scores = {r.line: float(s) for r, s in zip(ok, batch.scores, strict=True)}
                    alarms += int(batch.anomalies.sum())
                for r in part:
                    s = scores.get(r.line)
                    writer.writerow([r.ts_text, r.value_text, "" if s is None else f"{s:.6f}"])
                rows_done += len(part)
        Path(tmp_name).replace(dest)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return rows_done, alarms


def read_series(
    source: Path,
    *,
    allow_duplicates: bool = False,
    skip_invalid: bool = False,
    strict: bool = False,
    order: OrderReport | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """All valid (timestamp, value) rows of a CSV (same rules as ``score-csv``).

    A timestamp earlier than the row before is returned as the row before's (arrival order).
    """
    with source.open(newline="") as fh:
        rows = [
            r
            for r in _rows(
                fh,
                name=str(source),
                allow_duplicates=allow_duplicates,
                skip_invalid=skip_invalid,
                strict=strict,
                order=OrderReport() if order is None else order,
            )
            if not math.isnan(r.value)
        ]
    return np.array([r.t for r in rows]), np.array([r.value for r in rows])


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


AllowDuplicates = Annotated[
    bool, typer.Option(help="With --strict: still score repeated timestamps as successive samples.")
]
Strict = Annotated[
    bool,
    typer.Option(
        help="Refuse a repeated timestamp or one earlier than the row before (by default they "
        "are scored in arrival order, counted and reported in one warning)."
    ),
]
SkipInvalid = Annotated[
    bool, typer.Option(help="Leave rows with empty/NaN/infinite values unscored.")
]


@anomaly_app.command("score-csv")
def score_csv_command(
    source: Annotated[Path, typer.Argument(help="Input CSV: timestamp,value rows.")],
    dest: Annotated[Path, typer.Argument(help="Output CSV: timestamp,value,anomaly_score.")],
    chunk: Annotated[int, typer.Option(min=1, help="Rows scored per step.")] = 1000,
    allow_duplicates: AllowDuplicates = False,
    skip_invalid: SkipInvalid = False,
    strict: Strict = False,
) -> None:
    """Score every row of SOURCE in order (a stream) and write DEST with anomaly_score."""
    if not source.is_file():
        _fail(f"{source}: no such file")
    order = OrderReport()
    try:
        rows, alarms = score_csv(
            source,
            dest,
            chunk=chunk,
            allow_duplicates=allow_duplicates,
            skip_invalid=skip_invalid,
            strict=strict,
            order=order,
        )
    except CsvInputError as e:
        _fail(str(e))
    except UnicodeDecodeError as e:
        _fail(f"{source}: not a text CSV file ({e.reason})")
    else:
        warning = order.warning(str(source))
        if warning is not None:
            typer.echo(f"warning: {warning}", err=True)
        typer.echo(f"{rows} rows scored, {alarms} anomalies (score >= 0.5) -> {dest}")


@anomaly_app.command("plot")
def plot_command(
    source: Annotated[Path, typer.Argument(help="Input CSV: timestamp,value rows.")],
    out: Annotated[Path, typer.Option("--out", help="PNG to write.")],
    html_out: Annotated[
        Path | None, typer.Option("--html", help="Also write an HTML page (PNG + anomaly table).")
    ] = None,
    limit: Annotated[
        float | None,
        typer.Option(help="A limit the series may reach: the forecast shows when (if ever)."),
    ] = None,
    forecast_window: Annotated[
        float | None,
        typer.Option(help="Seconds of recent history the trend is fitted on (default: 1/4)."),
    ] = None,
    allow_duplicates: AllowDuplicates = False,
    skip_invalid: SkipInvalid = False,
    strict: Strict = False,
) -> None:
    """Plot SOURCE with its expected band, its anomalies and a trend forecast."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        _fail("plotting needs matplotlib: pip install 'kubeheal[plot]'")
    if not source.is_file():
        _fail(f"{source}: no such file")
    order = OrderReport()
    try:
        t, x = read_series(
            source,
            allow_duplicates=allow_duplicates,
            skip_invalid=skip_invalid,
            strict=strict,
            order=order,
        )
    except CsvInputError as e:
        _fail(str(e))
        return
    warning = order.warning(str(source))
    if warning is not None:
        typer.echo(f"warning: {warning}", err=True)
    batch = AnomalyDetector().update(t, x)
    when = np.array([datetime.fromtimestamp(v, tz=UTC) for v in t], dtype=object)
    fig, ax = plt.subplots(figsize=(12, 4.5))
    ax.plot(when, x, lw=0.8, color="#1f77b4", label="value")
    ax.fill_between(
        when, batch.lower, batch.upper, color="#2ca02c", alpha=0.15, label="expected band"
    )
    hits = np.flatnonzero(batch.anomalies)
    ax.scatter(when[hits], x[hits], color="#d62728", zorder=3, s=24, label="anomaly")
    summary = _forecast(ax, t, x, limit=limit, window=forecast_window)
    ax.set_title(f"{source.name}: {hits.size} anomalies; {summary}", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    buf = io.BytesIO()
    if html_out is not None:
        fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    if html_out is not None:
        html_out.write_text(_html(source, buf.getvalue(), batch, hits, summary))
    typer.echo(
        f"{len(t)} points, {hits.size} anomalies -> {out}" + (f", {html_out}" if html_out else "")
    )


def _forecast(
    ax: object, t: np.ndarray, x: np.ndarray, *, limit: float | None, window: float | None
) -> str:
    if t.size < 3:
        return "no forecast (too few points)"
    span = float(t[-1] - t[0])
    win = window if window is not None else span / 4
    trend = robust_trend(t, x, window=win)
    if trend is None:
        return "no forecast (too few points)"
    horizon = max(span / 5, 1.0)
    end = float(t[-1]) + horizon
    summary = f"trend {trend.slope * 3600:+.4g}/h"
    if limit is not None:
        ex = time_to_exhaustion(t, x, limit=limit, window=win)
        ax.axhline(limit, color="#7f7f7f", ls="--", lw=0.8, label="limit")  # type: ignore[attr-defined]
        if ex is None:
            summary += f"; limit {limit:g} not approached"
        else:
            summary += f"; {ex.describe()}"
            if math.isfinite(ex.seconds):
                end = max(end, float(t[-1]) + min(ex.seconds * 1.1, 10 * span + 1))
    grid = np.linspace(float(t[-1]), end, 50)
    mid = np.array([trend.value_at(v) for v in grid])
    margin = trend.z * trend.spread
    when = [datetime.fromtimestamp(v, tz=UTC) for v in grid]
    ax.plot(when, mid, color="#ff7f0e", lw=1.2, ls="--", label="forecast")  # type: ignore[attr-defined]
    ax.fill_between(when, mid - margin, mid + margin, color="#ff7f0e", alpha=0.15)  # type: ignore[attr-defined]
    return summary


def _html(source: Path, png: bytes, batch: ScoreBatch, hits: np.ndarray, summary: str) -> str:
    rows = []
    for i in hits:
        ex = batch.explain(int(i))
        when = datetime.fromtimestamp(ex.timestamp, tz=UTC).isoformat()
        rows.append(
            f"<tr><td>{html.escape(when)}</td><td>{ex.value:.6g}</td><td>{ex.score:.2f}</td>"
            f"<td>{html.escape(ex.feature)}</td><td>{ex.expected:.6g}</td>"
            f"<td>{ex.lower:.6g} .. {ex.upper:.6g}</td></tr>"
        )
    image = base64.b64encode(png).decode("ascii")
    table = "\n".join(rows) or '<tr><td colspan="6">no anomalies</td></tr>'
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(source.name)}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 8px;text-align:left}}</style>
</head><body>
<h1>{html.escape(source.name)}</h1>
<p>{html.escape(summary)}. Forecast durations use the series' own time units ({
        html.escape(format_duration(float(batch.timestamps[-1] - batch.timestamps[0])))
    } of data).</p>
<img alt="plot" src="data:image/png;base64,{image}">
<h2>Anomalies</h2>
<table><tr><th>time (UTC)</th><th>value</th><th>score</th><th>deviation</th><th>expected</th>
<th>band without alarm</th></tr>
{table}
</table></body></html>
"""

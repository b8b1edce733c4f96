"""Burn-rate alert windows of the Google SRE Workbook, scaled to any SLO period.

The Workbook's multi-window, multi-burn-rate alerts for a 30-day SLO:

==========  ======  ===========  ============  =====================================
severity    factor  long window  short window  budget spent when the long window fires
==========  ======  ===========  ============  =====================================
page        14.4    1h           5m            2 %
page        6       6h           30m           5 %
ticket      3       1d           2h            10 %
ticket      1       3d           6h            10 %
==========  ======  ===========  ============  =====================================

For another period P the *windows* are scaled by P / 30d and the factors are kept, so every
threshold stays an exact decimal and every alert still fires after the same share of the budget
(14.4 x over 56m of a 28-day budget is 2 % of it, as 14.4 x over 1h is of a 30-day one). A period
cannot be scaled to when a window would not be a whole number of seconds (``WindowError``).

A window must hold several scrapes for ``rate()`` to mean anything: at a 60 s scrape a ``1m10s``
window (the 5m of a 7-day period) holds one sample or two depending on where the evaluation
falls between scrapes, and ``rate()`` of one sample is empty, so the SLI would flicker between a
value and nothing. Every window is therefore floored at ``SCRAPES_PER_WINDOW`` (4) scrape
intervals: 4m at the default 60 s scrape. A floored window keeps its factor, so that condition
fires after a slightly larger share of the budget than the table's (documented in docs/slo.md).

Burn-rate comparisons use a relative tolerance (``BURN_TOLERANCE``, one billionth): a service
burning exactly its budget reads ``0.0005 + 1e-19`` as often as ``0.0005 - 1e-19`` in floats, and
must never alert; ``alert_threshold`` is ``factor x budget x (1 + BURN_TOLERANCE)``, still an
exact decimal.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

__all__ = [
    "BASE_PERIOD_SECONDS",
    "BURN_TOLERANCE",
    "DEFAULT_SCRAPE_INTERVAL",
    "MIN_WINDOW_SECONDS",
    "PYRRA_CONDITIONS",
    "SCRAPES_PER_WINDOW",
    "WORKBOOK_CONDITIONS",
    "AlertWindows",
    "BurnCondition",
    "BurnTable",
    "WindowError",
    "alert_threshold",
    "alert_windows",
    "decimal_text",
    "format_duration",
    "parse_duration",
]

BASE_PERIOD_SECONDS = 30 * 86_400
"""The period the Workbook's table is written for (30 days)."""

DEFAULT_SCRAPE_INTERVAL = 60
"""The scrape interval windows are floored against unless told otherwise (Prometheus' default)."""

SCRAPES_PER_WINDOW = 4
"""Every alert window holds at least this many scrape intervals."""

MIN_WINDOW_SECONDS = SCRAPES_PER_WINDOW * DEFAULT_SCRAPE_INTERVAL
"""The shortest alert window at the default scrape interval (4m)."""

BURN_TOLERANCE = Decimal("1e-9")
"""Relative tolerance of every burn-rate comparison: exactly 1x (or 6x, 14.4x) never fires."""

_M = 60
_H = 3_600
_D = 86_400


class WindowError(ValueError):
    """The alert windows cannot be scaled to the requested SLO period."""


@dataclass(frozen=True, slots=True)
class BurnCondition:
    """One multi-window condition: the error ratio exceeds ``factor`` x the budget over both
    ``long`` and ``short`` (seconds), for ``hold`` seconds (Pyrra's ``for:``; 0: at once)."""

    severity: str
    factor: Decimal
    long: int
    short: int
    hold: int = 0


WORKBOOK_CONDITIONS: tuple[BurnCondition, ...] = (
    BurnCondition("page", Decimal("14.4"), 1 * _H, 5 * _M),
    BurnCondition("page", Decimal(6), 6 * _H, 30 * _M),
    BurnCondition("ticket", Decimal(3), 1 * _D, 2 * _H),
    BurnCondition("ticket", Decimal(1), 3 * _D, 6 * _H),
)
"""The Workbook's conditions for a 30-day period (severity, factor, long, short)."""

PYRRA_BASE_SECONDS = 28 * _D
"""The period Pyrra's table is written for (28 days)."""

PYRRA_CONDITIONS: tuple[BurnCondition, ...] = (
    BurnCondition("page", Decimal(14), 1 * _H, 5 * _M, 2 * _M),
    BurnCondition("page", Decimal(7), 6 * _H, 30 * _M, 15 * _M),
    BurnCondition("ticket", Decimal(2), 1 * _D, 2 * _H, 1 * _H),
    BurnCondition("ticket", Decimal(1), 4 * _D, 6 * _H, 3 * _H),
)
"""Pyrra's multi-burn table for 28 days (pyrra-dev/pyrra slo/rules.go ``Windows``): factors
14/7/2/1, each condition its own alert with a ``for:`` of half its short window, scaled with
the period and rounded to the minute."""


class BurnTable(enum.StrEnum):
    """Which multi-burn table an SLO's alerts use."""

    WORKBOOK = "workbook"
    PYRRA = "pyrra"


@dataclass(frozen=True, slots=True)
class AlertWindows:
    """The conditions of one SLO period, and every window the rules must record."""

    period: int
    conditions: tuple[BurnCondition, ...]

    @property
    def page(self) -> tuple[BurnCondition, ...]:
        """The page conditions, fastest first."""
        return tuple(c for c in self.conditions if c.severity == "page")

    @property
    def ticket(self) -> tuple[BurnCondition, ...]:
        """The ticket conditions, fastest first."""
        return tuple(c for c in self.conditions if c.severity == "ticket")

    @property
    def windows(self) -> tuple[int, ...]:
        """Every distinct alert window, shortest first."""
        found = {c.long for c in self.conditions} | {c.short for c in self.conditions}
        return tuple(sorted(found))

    @property
    def short_windows(self) -> tuple[int, ...]:
        """The short windows (where the minimum-traffic guard applies), shortest first."""
        return tuple(sorted({c.short for c in self.conditions}))

    @property
    def step(self) -> int:
        """The greatest common divisor of all windows (the scaled 5m)."""
        return math.gcd(*self.windows)

    def severity_step(self, severity: str) -> int:
        """The greatest common divisor of the windows (and holds) of one severity's
        conditions."""
        found = [
            w
            for c in self.conditions
            if c.severity == severity
            for w in (c.long, c.short, c.hold)
            if w
        ]
        return math.gcd(*found) if found else self.step


def alert_threshold(factor: Decimal, budget: Decimal) -> Decimal:
    """The error ratio a condition must exceed: ``factor x budget``, raised by the relative
    ``BURN_TOLERANCE`` so that burning exactly that fast never alerts (exact decimal)."""
    return factor * budget * (1 + BURN_TOLERANCE)


def _round_minute(seconds: Fraction) -> int:
    """Go's ``Duration.Round(time.Minute)``: to the nearest minute, halves away from zero."""
    return int((seconds / _M + Fraction(1, 2)) // 1) * _M


def _pyrra_windows(period_seconds: int, floor: int) -> AlertWindows:
    scale = Fraction(period_seconds, PYRRA_BASE_SECONDS)
    scaled = []
    for cond in PYRRA_CONDITIONS:
        long, short = (max(_round_minute(w * scale), floor) for w in (cond.long, cond.short))
        hold = _round_minute(cond.hold * scale)
        if long >= period_seconds:
            raise WindowError(
                f"period {format_duration(period_seconds)} is not longer than its "
                f"{format_duration(long)} alert window"
            )
        scaled.append(BurnCondition(cond.severity, cond.factor, long, short, hold))
    return AlertWindows(period=period_seconds, conditions=tuple(scaled))


@lru_cache(maxsize=1024)
def alert_windows(
    period_seconds: int,
    scrape_interval: int = DEFAULT_SCRAPE_INTERVAL,
    table: BurnTable = BurnTable.WORKBOOK,
) -> AlertWindows:
    """The Workbook's conditions scaled to ``period_seconds``, every window floored at
    ``SCRAPES_PER_WINDOW`` x ``scrape_interval``; ``WindowError`` if impossible."""
    if period_seconds <= 0:
        raise WindowError(f"the SLO period must be positive, got {period_seconds}s")
    if scrape_interval <= 0:
        raise WindowError(f"the scrape interval must be positive, got {scrape_interval}s")
    floor = SCRAPES_PER_WINDOW * scrape_interval
    if table is BurnTable.PYRRA:
        return _pyrra_windows(period_seconds, floor)
    scaled: list[BurnCondition] = []
    for cond in WORKBOOK_CONDITIONS:
        windows: list[int] = []
        for base in (cond.long, cond.short):
            numerator = base * period_seconds
            if numerator < floor * BASE_PERIOD_SECONDS:
                windows.append(floor)
                continue
            if numerator % BASE_PERIOD_SECONDS:
                raise WindowError(
                    f"period {format_duration(period_seconds)}: the {format_duration(base)} "
                    f"window of the 30d table would scale to a fraction of a second; use a "
                    "period of whole days or whole hours"
                )
            windows.append(numerator // BASE_PERIOD_SECONDS)
        if windows[0] >= period_seconds:
            raise WindowError(
                f"period {format_duration(period_seconds)} is not longer than its "
                f"{format_duration(windows[0])} alert window ({SCRAPES_PER_WINDOW} scrapes of "
                f"{format_duration(scrape_interval)} at least)"
            )
        scaled.append(BurnCondition(cond.severity, cond.factor, windows[0], windows[1]))
    return AlertWindows(period=period_seconds, conditions=tuple(scaled))


_UNITS = (("d", _D), ("h", _H), ("m", _M), ("s", 1))
_UNIT_SECONDS = {"w": 7 * _D, "d": _D, "h": _H, "m": _M, "s": 1}
_DURATION = re.compile(r"(\d+)(w|d|h|m|s)")


@lru_cache(maxsize=4096)
def format_duration(seconds: int) -> str:
    """A Prometheus duration for whole ``seconds``: ``300`` -> ``5m``, ``280`` -> ``4m40s``."""
    if seconds == 0:
        return "0s"
    parts: list[str] = []
    rest = seconds
    for unit, size in _UNITS:
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def parse_duration(text: str) -> int:
    """Whole seconds of ``30d``, ``4w``, ``1h30m`` or ``90s``; ``ValueError`` otherwise."""
    value = text.strip()
    pos = 0
    total = 0
    for match in _DURATION.finditer(value):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(value):
        raise ValueError(f"invalid duration {text!r}: use units like 30d, 4w, 12h, 1h30m")
    return total


def decimal_text(value: Decimal) -> str:
    """``value`` as an exact plain decimal (``0.0144``, ``30``), never an exponent or ``-0``."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")

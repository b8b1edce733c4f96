"""The Workbook's alert windows, scaled to SLO periods, and exact decimals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kubeheal.slo.windows import (
    WindowError,
    alert_windows,
    decimal_text,
    format_duration,
    parse_duration,
)

DAY = 86_400


def _table(period: int, scrape: int = 60) -> list[tuple[str, str, str, str]]:
    return [
        (c.severity, decimal_text(c.factor), format_duration(c.long), format_duration(c.short))
        for c in alert_windows(period, scrape).conditions
    ]


def test_thirty_days_is_the_workbook_table() -> None:
    assert _table(30 * DAY) == [
        ("page", "14.4", "1h", "5m"),
        ("page", "6", "6h", "30m"),
        ("ticket", "3", "1d", "2h"),
        ("ticket", "1", "3d", "6h"),
    ]
    windows = alert_windows(30 * DAY)
    assert [format_duration(w) for w in windows.windows] == [
        "5m", "30m", "1h", "2h", "6h", "1d", "3d",
    ]  # fmt: skip
    assert windows.step == 300


def test_other_periods_scale_the_windows_and_keep_the_factors() -> None:
    assert _table(28 * DAY) == [
        ("page", "14.4", "56m", "4m40s"),
        ("page", "6", "5h36m", "28m"),
        ("ticket", "3", "22h24m", "1h52m"),
        ("ticket", "1", "2d19h12m", "5h36m"),
    ]
    assert _table(7 * DAY) == [
        ("page", "14.4", "14m", "4m"),  # 1m10s floored at 4 scrapes of 60 s
        ("page", "6", "1h24m", "7m"),
        ("ticket", "3", "5h36m", "28m"),
        ("ticket", "1", "16h48m", "1h24m"),
    ]
    assert _table(7 * DAY, scrape=15) == [
        ("page", "14.4", "14m", "1m10s"),  # 4 scrapes of 15 s: 1m, no floor
        ("page", "6", "1h24m", "7m"),
        ("ticket", "3", "5h36m", "28m"),
        ("ticket", "1", "16h48m", "1h24m"),
    ]


@pytest.mark.parametrize("period", [28 * DAY, 7 * DAY, 90 * DAY, 14 * DAY + 12 * 3600])
def test_every_condition_spends_the_same_share_of_the_budget(period: int) -> None:
    # factor x long window / period = budget spent when the long window fires: 2 %, 5 %,
    # 10 %, 10 % of any period, as for 30 days.
    shares = [c.factor * c.long / Decimal(period) for c in alert_windows(period).conditions]
    assert shares == [Decimal("0.02"), Decimal("0.05"), Decimal("0.1"), Decimal("0.1")]


@pytest.mark.parametrize(
    ("period", "message"),
    [
        (30 * DAY + 1, "fraction of a second"),
        (240, "period 4m is not longer than its 4m alert window"),
        (0, "must be positive"),
    ],
)
def test_periods_the_windows_cannot_scale_to_are_refused(period: int, message: str) -> None:
    with pytest.raises(WindowError, match=message.replace("(", r"\(").replace(")", r"\)")):
        alert_windows(period)


def test_durations_round_trip() -> None:
    for text in ("5m", "4m40s", "2d19h12m", "30d", "1h", "90s"):
        assert format_duration(parse_duration(text)) == format_duration(parse_duration(text))
    assert parse_duration("4w") == 28 * DAY
    assert format_duration(parse_duration("90s")) == "1m30s"
    for bad in ("", "5", "1M", "1y", "5 m", "-1d"):
        with pytest.raises(ValueError, match="invalid duration"):
            parse_duration(bad)


def test_thresholds_are_exact_decimals() -> None:
    budget = 1 - Decimal("99.9") / 100
    assert decimal_text(Decimal("14.4") * budget) == "0.0144"
    assert decimal_text(Decimal(6) * budget) == "0.006"
    assert decimal_text(Decimal(1) * (1 - Decimal("99.99999") / 100)) == "0.0000001"
    assert decimal_text(Decimal("30.0")) == "30"
    assert decimal_text(Decimal("0")) == "0"
    # what float arithmetic (and Sloth) would print instead:
    assert repr(14.4 * (1 - 99.9 / 100)) != "0.0144"

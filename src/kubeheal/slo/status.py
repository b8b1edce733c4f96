"""Where an SLO stands now: SLI, budget left, burn rates, time to exhaustion, alert state.

One instant query per SLO asks Prometheus for the SLO's error ratio over every alert window
and the period (and, for events SLIs, the events of each short window), straight from the
SLI's own queries, so the report works whether or not the generated rules are loaded:

    label_replace(<ratio over 5m>, "kubeheal_window", "300", "", "") or ... (one per window)

A multi-series SLI is taken as a whole (errors and totals summed, a ratio query's worst
series). ``evaluate_status`` then computes everything else, purely:

* SLI = 1 - error ratio over the period; budget remaining = 1 - error ratio / budget
  (1 untouched, 0 spent, negative overspent);
* burn rate over a window = error ratio / budget (1 = spending exactly the budget; with the
  budget 0 of a 100 % objective, +Inf on any error);
* time to exhaustion = remaining x period / burn rate over the page's long window (1h for
  30 days): how long the budget lasts if the current burn goes on;
* page / ticket: the same multi-window conditions (and traffic guard) as the alerts.

``fetch_status`` is the only function doing I/O (through any client with the
``PrometheusClient.query`` signature); its errors are ``SloQueryError``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from kubeheal.clients.prometheus import PrometheusError
from kubeheal.slo.errors import SloQueryError
from kubeheal.slo.model import SLO, EventsSLI, RatioSLI, Workload, fill_window
from kubeheal.slo.rules import RenderOptions
from kubeheal.slo.windows import BurnCondition, alert_threshold, decimal_text, format_duration

__all__ = [
    "QueryClient",
    "QuerySample",
    "SloStatus",
    "WindowBurn",
    "evaluate_status",
    "fetch_status",
    "status_query",
    "status_to_dict",
]

_WINDOW = "kubeheal_window"
_PART = "kubeheal_part"


class QuerySample(Protocol):
    """One sample of an instant query (``kubeheal.clients.prometheus.Sample``)."""

    @property
    def labels(self) -> Mapping[str, str]: ...

    @property
    def value(self) -> float: ...


class QueryClient(Protocol):
    """What the status needs of a Prometheus client (``PrometheusClient`` fits)."""

    async def query(self, expr: str, *, at: float | None = None) -> Sequence[QuerySample]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowBurn:
    """The error ratio and burn rate over one window (None: no data)."""

    window: int
    error_ratio: float | None
    burn_rate: float | None
    events: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SloStatus:
    """One SLO's state at ``at`` (seconds since the epoch)."""

    slo_id: str
    service: str
    name: str
    objective: float
    period: int
    at: float
    sli: float | None
    error_ratio: float | None
    budget_remaining: float | None
    windows: tuple[WindowBurn, ...]
    time_to_exhaustion: float | None
    page: bool
    ticket: bool
    workload: Workload | None = None

    def burn(self, window: int) -> float | None:
        """The burn rate over ``window`` seconds (None: no data or not a window)."""
        for item in self.windows:
            if item.window == window:
                return item.burn_rate
        return None


def _ratio(sli: EventsSLI | RatioSLI, window: int) -> str:
    text = format_duration(window)
    if isinstance(sli, RatioSLI):
        return f"max({fill_window(sli.error_ratio_query.strip(), text)})"
    errors = f"sum({fill_window(sli.error_query.strip(), text)})"
    total = f"sum({fill_window(sli.total_query.strip(), text)})"
    return f"(({errors}) or ({total}) * 0) / ({total})"


def _tagged(expr: str, part: str, window: int) -> str:
    inner = f'label_replace({expr}, "{_WINDOW}", "{window}", "", "")'
    return f'label_replace({inner}, "{_PART}", "{part}", "", "")'


def status_query(slo: SLO) -> str:
    """The one PromQL query ``fetch_status`` sends for ``slo``."""
    windows = slo.windows
    parts = [_tagged(_ratio(slo.sli, w), "ratio", w) for w in (*windows.windows, slo.period)]
    if isinstance(slo.sli, EventsSLI):
        for w in windows.short_windows:
            total = f"sum({fill_window(slo.sli.total_query.strip(), format_duration(w))}) * {w}"
            parts.append(_tagged(total, "events", w))
    return "\nor\n".join(parts)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _burn_rate(ratio: float, budget: float) -> float:
    """``ratio / budget``; with no budget (objective 100 %) +Inf on any error, 0 without."""
    if budget:
        return ratio / budget
    return math.inf if ratio > 0 else 0.0


def _holds(
    cond: BurnCondition,
    budget: Decimal,
    ratios: Mapping[int, float],
    events: Mapping[int, float],
    guard: int | None,
) -> bool:
    limit = float(alert_threshold(cond.factor, budget))
    short, long = ratios.get(cond.short), ratios.get(cond.long)
    if short is None or long is None or not (short > limit and long > limit):
        return False
    if guard is None:
        return True
    seen = events.get(cond.short)
    return seen is not None and seen >= guard


def evaluate_status(
    slo: SLO,
    values: Mapping[tuple[str, int], float],
    *,
    at: float,
    options: RenderOptions | None = None,
) -> SloStatus:
    """The status of ``slo`` from ``{(part, window seconds): value}`` (parts ``ratio`` and
    ``events``) as ``status_query`` returns them. Pure."""
    opts = options or RenderOptions()
    budget = float(slo.budget)
    windows = slo.windows
    ratios = {w: v for (p, w), v in values.items() if p == "ratio" and _finite(v) is not None}
    events = {w: v for (p, w), v in values.items() if p == "events" and _finite(v) is not None}
    burns = tuple(
        WindowBurn(
            window=w,
            error_ratio=ratios.get(w),
            burn_rate=_burn_rate(ratios[w], budget) if w in ratios else None,
            events=events.get(w),
        )
        for w in (*windows.windows, slo.period)
    )
    period_ratio = ratios.get(slo.period)
    remaining: float | None = None
    if period_ratio is not None:  # no budget (100 %): 1 untouched, 0 spent by any error
        remaining = 1 - period_ratio / budget if budget else float(period_ratio <= 0)
    fast_long = windows.page[0].long
    burn_now = _burn_rate(ratios[fast_long], budget) if fast_long in ratios else None
    exhaustion: float | None = None
    if remaining is not None:
        if remaining <= 0:
            exhaustion = 0.0
        elif burn_now is not None and burn_now > 0:
            exhaustion = remaining * slo.period / burn_now
    guard = opts.min_events if isinstance(slo.sli, EventsSLI) and opts.min_events > 0 else None
    page = not slo.page.disabled and any(
        _holds(c, slo.budget, ratios, events, guard) for c in windows.page
    )
    ticket = not slo.ticket.disabled and any(
        _holds(c, slo.budget, ratios, events, guard) for c in windows.ticket
    )
    return SloStatus(
        slo_id=slo.id,
        service=slo.service,
        name=slo.name,
        objective=float(slo.objective),
        period=slo.period,
        at=at,
        sli=1 - period_ratio if period_ratio is not None else None,
        error_ratio=period_ratio,
        budget_remaining=remaining,
        windows=burns,
        time_to_exhaustion=exhaustion,
        page=page,
        ticket=ticket,
        workload=slo.workload,
    )


async def fetch_status(
    client: QueryClient,
    slo: SLO,
    *,
    at: float,
    options: RenderOptions | None = None,
) -> SloStatus:
    """Query Prometheus (at ``at``, seconds since the epoch) and evaluate ``slo``."""
    try:
        samples = await client.query(status_query(slo), at=at)
    except PrometheusError as e:
        raise SloQueryError(f"SLO {slo.id}: {e}") from e
    values: dict[tuple[str, int], float] = {}
    for sample in samples:
        part = sample.labels.get(_PART, "")
        window = sample.labels.get(_WINDOW, "")
        if part and window.isdigit():
            values[(part, int(window))] = float(sample.value)
    return evaluate_status(slo, values, at=at, options=options)


def status_to_dict(status: SloStatus) -> dict[str, Any]:
    """A JSON-ready form of ``status`` (windows by their Prometheus duration)."""
    return {
        "slo": status.slo_id,
        "service": status.service,
        "name": status.name,
        "objective": decimal_text(Decimal(repr(status.objective))),
        "period": format_duration(status.period),
        "at": status.at,
        "sli": status.sli,
        "error_ratio": status.error_ratio,
        "budget_remaining": status.budget_remaining,
        "burn_rates": {format_duration(w.window): w.burn_rate for w in status.windows},
        "time_to_exhaustion_seconds": status.time_to_exhaustion,
        "page": status.page,
        "ticket": status.ticket,
        "workload": (
            {
                "kind": status.workload.kind,
                "namespace": status.workload.namespace,
                "name": status.workload.name,
            }
            if status.workload is not None
            else None
        ),
    }

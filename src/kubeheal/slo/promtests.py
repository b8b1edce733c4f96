"""``promtool test rules`` cases generated per SLO, proving its alerts fire when designed.

The cases run on a *test variant* of the SLO's rules: the same windows, thresholds, guard and
alerts, with the SLI replaced by two synthetic counters the cases feed
(``kubeheal_slo_test_requests_total`` and ``kubeheal_slo_test_errors_total``) and without
annotations or metadata recordings. What is proven is the alerting logic; the SLO's own
queries are checked by ``promtool check rules`` and against a live Prometheus.

The variant aggregates ``sum by (scenario)``, so several scenarios run side by side in one
test group, each as its own series (which also proves the alerts keep multi-series SLIs apart).
Samples and evaluations share one grid, so every window holds whole samples and ``rate`` needs
no extrapolation: the error ratio over a window is exactly Δerrors / Δtotal. Two grids: the
scaled 5m (``fast`` file: page alerts) and the scaled 2h (``slow`` file: ticket alerts).

Scenarios ("history" is error-free traffic filling the severity's longest window; errors
begin at ``t0`` after it):

* ``<severity> fires``: an error ratio chosen so the fastest condition's designed detection
  time ``factor x budget x long window / error ratio`` (SRE Workbook) falls half a step
  between two evaluations: quiet at the evaluation before it, firing at the one after.
* ``page on a total outage``: 100 % errors, firing at the first evaluation after the designed
  time (52 s for 99.9 % over 30 days: the first evaluation after t0).
* ``<severity> quiet below threshold``: 90 % of the severity's lowest factor from the first
  sample, so every window reads exactly that burn: the severity never fires.
* ``<severity> quiet at exactly its lowest factor``: the same at 100 % of it (1x for the
  ticket): a tie, which the thresholds' relative tolerance keeps quiet.
* ``low traffic``: 100 % errors with fewer events per short window than the guard needs:
  the severity never fires (events SLIs with a guard).
* ``SLI absent`` (its own group, no series): ``<name>SLIAbsent`` fires once ``absent_for``
  has passed.

Expected alerts at every check come from an exact model of those ratios (``Fraction``s) against
the tolerant thresholds, and the generator refuses to emit a case where the model disagrees with
the Workbook's formula or where a check lands within a trillionth of a threshold (a tie floats
could flip). An objective of 100 % (no budget) gets the outage and error-free cases only; an SLO
whose alerts are both disabled gets none. Pure: no I/O, no clock.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any

from kubeheal.slo.model import SLO, AlertPolicy, EventsSLI
from kubeheal.slo.rules import (
    RenderOptions,
    absent_alert,
    absent_alert_name,
    absent_labels,
    alert_name,
    ratio_metric,
    render_groups,
    series_labels,
    total_metric,
)
from kubeheal.slo.windows import (
    BURN_TOLERANCE,
    BurnTable,
    alert_threshold,
    alert_windows,
    format_duration,
)

__all__ = [
    "ERRORS_METRIC",
    "REQUESTS_METRIC",
    "Scenario",
    "Suite",
    "TestGenerationError",
    "promtool_tests",
    "suites",
    "variant_rule_file",
]

REQUESTS_METRIC = "kubeheal_slo_test_requests_total"
ERRORS_METRIC = "kubeheal_slo_test_errors_total"
_HALF = Fraction(1, 2)
_TIE = 10**12  # a compared value within a trillionth of its threshold is a tie


class TestGenerationError(RuntimeError):
    """The model disagrees with the designed detection time (a bug, never bad input)."""

    __test__ = False  # not a pytest class


@dataclass(frozen=True, slots=True)
class Scenario:
    """One scenario: traffic per step, when errors start (``history`` steps in) and their
    share, and the steps at which its owner checks the alerts."""

    key: str
    name: str
    rate: Fraction
    error_ratio: Fraction
    history: int
    checks: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Suite:
    """Scenarios sharing one evaluation grid (one test file) and what fires when.

    ``expected`` maps every check step to the alerts firing then (keyed by severity, or
    ``severity#condition index`` for Pyrra's table), per scenario key.
    """

    name: str
    step: int
    scenarios: tuple[Scenario, ...]
    expected: tuple[tuple[int, Mapping[str, frozenset[str]]], ...]
    absent_checks: tuple[tuple[int, bool], ...] = ()


# -- the test variant ----------------------------------------------------------------------


def _plain(labels: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if "{{" not in v}


def _variant(slo: SLO) -> SLO:
    sel = f'{{slo_id="{slo.id}"}}'
    return dataclasses.replace(
        slo,
        sli=EventsSLI(
            error_query=f"sum by (scenario) (rate({ERRORS_METRIC}{sel}[{{{{.window}}}}]))",
            total_query=f"sum by (scenario) (rate({REQUESTS_METRIC}{sel}[{{{{.window}}}}]))",
        ),
        labels=_plain(slo.labels),
        alert_labels=_plain(slo.alert_labels),
        alert_annotations={},
        page=AlertPolicy(labels=_plain(slo.page.labels), disabled=slo.page.disabled),
        ticket=AlertPolicy(labels=_plain(slo.ticket.labels), disabled=slo.ticket.disabled),
    )


def _guard(slo: SLO, options: RenderOptions) -> int | None:
    if isinstance(slo.sli, EventsSLI) and options.min_events > 0:
        return options.min_events
    return None


def variant_rule_file(slo: SLO, options: RenderOptions | None = None) -> dict[str, Any]:
    """The test variant of ``slo``'s rules: the synthetic SLI, the recordings the alerts read
    and the alerts themselves (no metadata, no period ratio, no annotations)."""
    opts = options or RenderOptions()
    variant_opts = dataclasses.replace(opts, min_events=_guard(slo, opts) or 0)
    read = {ratio_metric(w) for w in slo.windows.windows}
    read |= {total_metric(w) for w in slo.windows.short_windows}
    groups = []
    for group in render_groups(_variant(slo), variant_opts):
        kept = []
        for rule in group["rules"]:
            if "record" in rule and rule["record"] not in read:
                continue
            rule.pop("annotations", None)
            kept.append(rule)
        if kept:  # the period group holds nothing the alerts read
            groups.append({**group, "rules": kept})
    return {"groups": groups}


# -- the model -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Cond:
    severity: str
    limit: Fraction
    long: int
    short: int
    hold: int
    key: str


class _Model:
    """What Prometheus computes for a scenario on a grid of ``step`` seconds, exactly.

    A scenario's counters are ``total(k) = rate x k`` and ``errors(k) = rate x ratio x
    max(0, k - history)``, so the error ratio over the window ``[a, k]`` is
    ``ratio x |[a, k] after t0| / (k - a)``: the comparisons are done on integers
    (cross-multiplied), which keeps generating a thousand SLOs' tests fast. A condition with a
    ``hold`` (Pyrra's ``for:``) fires once it has held at every evaluation for that long.
    Alerts are keyed by severity (the Workbook's table: one alert per severity) or by
    ``severity#index`` (Pyrra's: one per condition).
    """

    def __init__(
        self, *, budget: Decimal, period: int, scrape: int, table: BurnTable,
        severities: frozenset[str], guard: int | None, step: int,
    ) -> None:  # fmt: skip
        self.step = step
        self.budget = Fraction(budget)
        self.guard = guard
        self.conds: list[_Cond] = []
        for index, cond in enumerate(alert_windows(period, scrape, table).conditions):
            if cond.severity in severities:
                key = cond.severity if table is BurnTable.WORKBOOK else f"{cond.severity}#{index}"
                self.conds.append(
                    _Cond(
                        cond.severity,
                        Fraction(alert_threshold(cond.factor, budget)),
                        cond.long // step,
                        cond.short // step,
                        cond.hold // step,
                        key,
                    )
                )
        self._ints = [(c.limit.numerator, c.limit.denominator, c.short, c.long) for c in self.conds]
        self._memo: dict[tuple[int, ...], tuple[tuple[bool, ...], bool]] = {}

    def of(self, severity: str) -> list[_Cond]:
        return [c for c in self.conds if c.severity == severity]

    def _active(self, sc: Scenario, k: int) -> tuple[tuple[bool, ...], bool]:
        """Whether each condition's expression holds at step ``k``, and whether any compared
        value lies within a trillionth of its threshold (a tie floats could flip)."""
        p, q = sc.error_ratio.numerator, sc.error_ratio.denominator
        rp, rq = sc.rate.numerator, sc.rate.denominator
        history = sc.history
        key = (p, q, rp, rq, history, k)
        known = self._memo.get(key)
        if known is not None:
            return known
        active: list[bool] = []
        tie = False
        guard = self.guard
        bad_now = k - history if k > history else 0
        for r, s, short, long in self._ints:
            ok = k >= 1
            for width in (short, long):
                if width < 1:  # one sample in the window: rate() is empty
                    ok = False
                    continue
                start = k - width if k > width else 0
                bad = bad_now - (start - history if start > history else 0)
                # ratio = (p / q) x bad / (k - start), compared with r / s
                left, right = p * bad * s, r * (k - start) * q
                if right and abs(left - right) * _TIE <= right:  # 0 > 0 is exact
                    tie = True
                ok = ok and left > right
            if guard is not None:
                span = k if k < short else short
                # events = rate x span, compared with the guard
                left, right = rp * span, guard * rq
                if short >= 1 and abs(left - right) * _TIE <= right:
                    tie = True
                ok = ok and left >= right
            active.append(ok)
        result = (tuple(active), tie)
        self._memo[key] = result
        return result

    def alerts(self, sc: Scenario, k: int) -> tuple[frozenset[str], bool]:
        """The alert keys firing at step ``k``, and whether a tie was met on the way."""
        firing: set[str] = set()
        tie = False
        for i, cond in enumerate(self.conds):
            held = True
            for j in range(k - cond.hold, k + 1):
                active, near = (
                    self._active(sc, j) if j >= 0 else ((False,) * len(self.conds), False)
                )
                tie = tie or near
                held = held and active[i]
            if held:
                firing.add(cond.key)
        return frozenset(firing), tie

    def firing(self, sc: Scenario, k: int) -> tuple[frozenset[str], bool]:
        """The severities firing at step ``k``, and whether a tie was met on the way."""
        keys, tie = self.alerts(sc, k)
        return frozenset(key.split("#", 1)[0] for key in keys), tie


def _detection(conds: Sequence[_Cond], error_ratio: Fraction) -> Fraction | None:
    """The Workbook's detection time in steps: the least ``limit x long / error ratio`` (plus
    the condition's hold) over the conditions the error ratio exceeds (the long window fills
    last)."""
    times = [c.limit * c.long / error_ratio + c.hold for c in conds if error_ratio > c.limit]
    return min(times) if times else None


def _burn(ratio: Fraction, budget: Fraction) -> str:
    if not budget:
        return "an error-free" if not ratio else "an infinite"
    return f"{float(ratio / budget):.4g}x"


def _designed(model: _Model, sc: Scenario, severity: str) -> tuple[int, Fraction] | None:
    """(first firing step after t0, designed time) after checking they agree.

    With the windows full of history and a constant burn from t0, every window's error
    ratio only grows until the window is full of errors, so a severity that is quiet at the
    step before the designed time and firing at the step after it first fires there.
    """
    designed = _detection([c for c in model.of(severity) if c.limit < 1], sc.error_ratio)
    if designed is None:
        return None
    fired = math.floor(designed) + 1
    before = severity in model.firing(sc, sc.history + fired - 1)[0]
    after = severity in model.firing(sc, sc.history + fired)[0]
    if before or not after:
        raise TestGenerationError(
            f"{severity}: the model disagrees with the Workbook's detection time {designed} "
            f"(firing {before} at step {fired - 1}, {after} at step {fired} after t0)"
        )
    return fired, designed


def _fires(model: _Model, severity: str, history: int, rate: Fraction) -> Scenario | None:
    conds = model.of(severity)
    for cond in (c for c in conds if c.limit < 1 and c.long >= 2):
        steps = max(cond.long // 2, math.ceil(cond.limit * cond.long - _HALF))
        while steps + _HALF < cond.long:
            ratio = cond.limit * cond.long / (steps + _HALF)
            probe = Scenario(f"{severity}-fires", "", rate, ratio, history, ())
            found = _designed(model, probe, severity)
            if found is not None:
                fired, designed = found
                checks = (history + fired - 1, history + fired)
                if not any(model.firing(probe, k)[1] for k in checks):
                    name = (
                        f"{severity} fires within its designed detection time "
                        f"({format_duration(math.ceil(designed * model.step))}) at a "
                        f"{_burn(ratio, model.budget)} burn"
                    )
                    return dataclasses.replace(probe, name=name, checks=checks)
            steps += 1
    return None


def _outage(model: _Model, history: int, rate: Fraction) -> Scenario | None:
    probe = Scenario("page-outage", "", rate, Fraction(1), history, ())
    found = _designed(model, probe, "page")
    if found is None:
        return None
    fired, designed = found
    checks = (history + fired - 1, history + fired)
    if any(model.firing(probe, k)[1] for k in checks):
        return None
    name = (
        "page fires on a total outage within its designed detection time "
        f"({format_duration(math.ceil(designed * model.step))})"
    )
    return dataclasses.replace(probe, name=name, checks=checks)


def _spread(model: _Model, sc: Scenario, last: int, count: int = 3) -> tuple[int, ...]:
    checks: list[int] = []
    for i in range(count):
        step = 1 + (last - 1) * i // max(count - 1, 1)
        for candidate in range(step, last + 1):
            if candidate not in checks and not model.firing(sc, candidate)[1]:
                checks.append(candidate)
                break
    return tuple(checks)


def _quiet(model: _Model, severity: str, rate: Fraction) -> Scenario | None:
    # Errors from the first sample: every window reads exactly this burn from the start,
    # the worst case of holding it for any length of time.
    conds = model.of(severity)
    if not conds:
        return None
    ratio = min(Fraction(1), min(c.limit for c in conds) * Fraction(9, 10))
    sc = Scenario(f"{severity}-quiet", "", rate, ratio, 0, ())
    checks = _spread(model, sc, max(*(c.short for c in conds), 1) + 2)
    name = f"{severity} stays quiet at a {_burn(ratio, model.budget)} burn, below its lowest factor"
    return dataclasses.replace(sc, name=name, checks=checks)


def _tie(model: _Model, severity: str, rate: Fraction) -> Scenario | None:
    # Exactly the lowest factor from the first sample: every window reads factor x budget,
    # which floats round either way; the tolerance keeps it quiet.
    conds = model.of(severity)
    if not conds or not model.budget:
        return None
    factor = min(c.limit for c in conds) / (1 + Fraction(BURN_TOLERANCE))
    if factor >= 1:
        return None
    sc = Scenario(f"{severity}-tie-quiet", "", rate, factor, 0, ())
    checks = _spread(model, sc, max(*(c.short for c in conds), 1) + 2)
    name = (
        f"{severity} stays quiet at exactly its lowest factor "
        f"({_burn(factor, model.budget)}, a tie the tolerance absorbs)"
    )
    return dataclasses.replace(sc, name=name, checks=checks)


def _low_traffic(model: _Model, severity: str) -> Scenario | None:
    conds = model.of(severity)
    if model.guard is None or not conds:
        return None
    widest = max(*(c.short for c in conds), 1)
    sc = Scenario(
        f"{severity}-low-traffic", "", Fraction(model.guard, 2 * widest), Fraction(1), 0, ()
    )
    checks = _spread(model, sc, widest + 2)
    name = (
        f"{severity} stays quiet on 100% errors with fewer than {model.guard} events per "
        "short window"
    )
    return dataclasses.replace(sc, name=name, checks=checks)


_MUST_STAY_QUIET = ("-quiet", "-low-traffic")  # "-tie-quiet" included


def _suite(name: str, model: _Model, found: Sequence[Scenario | None]) -> Suite | None:
    scenarios = tuple(s for s in found if s is not None)
    if not scenarios:
        return None
    times = sorted({k for sc in scenarios for k in sc.checks})
    expected: list[tuple[int, Mapping[str, frozenset[str]]]] = []
    for k in times:
        states: dict[str, frozenset[str]] = {}
        for sc in scenarios:
            state, tie = model.alerts(sc, k)
            if tie:
                raise TestGenerationError(f"{sc.key} is on a threshold at step {k}")
            severity = sc.key.split("-", 1)[0]
            if sc.key.endswith(_MUST_STAY_QUIET) and severity in model.firing(sc, k)[0]:
                raise TestGenerationError(f"{sc.key}: {severity} fires at step {k}")
            states[sc.key] = state
        expected.append((k, states))
    return Suite(name, model.step, scenarios, tuple(expected))


def suites(slo: SLO, options: RenderOptions | None = None) -> list[Suite]:
    """The test suites of ``slo`` (``fast``: page and absent, ``slow``: ticket)."""
    opts = options or RenderOptions()
    severities = frozenset(
        s for s, policy in (("page", slo.page), ("ticket", slo.ticket)) if not policy.disabled
    )
    return list(
        _suites(
            budget=slo.budget,
            period=slo.period,
            scrape=slo.scrape_interval,
            table=slo.burn_table,
            severities=severities,
            guard=_guard(slo, opts),
            absent_for=opts.absent_for if absent_alert(slo, opts) else None,
        )
    )


@lru_cache(maxsize=1024)
def _suites(
    *,
    budget: Decimal,
    period: int,
    scrape: int,
    table: BurnTable,
    severities: frozenset[str],
    guard: int | None,
    absent_for: int | None,
) -> tuple[Suite, ...]:
    # Only these parameters shape the scenarios, and many SLOs share them (99.9 % over
    # 30 days...): computed once per combination.
    windows = alert_windows(period, scrape, table)
    fast, slow = (
        _Model(
            budget=budget,
            period=period,
            scrape=scrape,
            table=table,
            severities=severities,
            guard=guard,
            step=windows.severity_step(severity),
        )
        for severity in ("page", "ticket")
    )
    rate = Fraction(max(1000, 10 * (guard or 0)))
    out: list[Suite] = []
    fast_found: list[Scenario | None] = []
    if fast.of("page"):
        history = max(c.long for c in fast.of("page"))
        fast_found += [
            _fires(fast, "page", history, rate),
            _outage(fast, history, rate),
            _quiet(fast, "page", rate),
            _tie(fast, "page", rate),
            _low_traffic(fast, "page"),
        ]
    suite = _suite("fast", fast, fast_found)
    absent: tuple[tuple[int, bool], ...] = ()
    if absent_for is not None:
        after = math.ceil(absent_for / fast.step)
        absent = ((max(after - 1, 0), False), (after + 1, True)) if after else ((1, True),)
    if suite is not None or absent:
        out.append(
            dataclasses.replace(suite, absent_checks=absent)
            if suite is not None
            else Suite("fast", fast.step, (), (), absent)
        )
    if slow.of("ticket"):
        history = max(c.long for c in slow.of("ticket"))
        slow_suite = _suite(
            "slow",
            slow,
            [
                _fires(slow, "ticket", history, rate),
                _quiet(slow, "ticket", rate),
                _tie(slow, "ticket", rate),
                _low_traffic(slow, "ticket"),
            ],
        )
        if slow_suite is not None:
            out.append(slow_suite)
    return tuple(out)


# -- the files -----------------------------------------------------------------------------


def _number(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else repr(float(value))


def _input_series(slo: SLO, sc: Scenario, end: int) -> list[dict[str, str]]:
    sel = f'slo_id="{slo.id}",scenario="{sc.key}"'
    per_step = sc.rate * sc.error_ratio
    errors = f"0+0x{sc.history}"
    if end > sc.history:
        errors += f" {_number(per_step)}+{_number(per_step)}x{end - sc.history - 1}"
    return [
        {"series": f"{REQUESTS_METRIC}{{{sel}}}", "values": f"0+{_number(sc.rate)}x{end}"},
        {"series": f"{ERRORS_METRIC}{{{sel}}}", "values": errors},
    ]


def _alert_labels(variant: SLO, alert: str, scenario: str) -> dict[str, str]:
    severity, _, index = alert.partition("#")
    policy = variant.page if severity == "page" else variant.ticket
    extra: dict[str, str] = {}
    if index:  # Pyrra's table: one alert per condition
        cond = variant.windows.conditions[int(index)]
        extra = {"long": format_duration(cond.long), "short": format_duration(cond.short)}
    labels = {
        **series_labels(variant),
        "scenario": scenario,
        **variant.alert_labels,
        **policy.labels,
        **extra,
        "slo_severity": severity,
    }
    return dict(sorted(labels.items()))


def promtool_tests(
    slo: SLO, *, rules_file: str, options: RenderOptions | None = None
) -> dict[str, dict[str, Any]]:
    """``promtool test rules`` documents of ``slo`` by suite (``fast``, ``slow``), each
    reading the variant rules ``rules_file``."""
    opts = options or RenderOptions()
    variant = _variant(slo)
    labels: dict[tuple[str, str], dict[str, str]] = {}

    def alert(firing: str, key: str) -> dict[str, Any]:
        # One label mapping per (alert, scenario): the YAML writer renders it once.
        if (firing, key) not in labels:
            labels[firing, key] = _alert_labels(variant, firing, key)
        return {"exp_labels": labels[firing, key]}

    files: dict[str, dict[str, Any]] = {}
    for suite in suites(slo, opts):
        interval = format_duration(suite.step)
        tests: list[dict[str, Any]] = []
        if suite.scenarios:
            end = max(k for k, _ in suite.expected)
            cases = []
            for k, states in suite.expected:
                alerts = [
                    alert(firing, key) for key, state in states.items() for firing in sorted(state)
                ]
                cases.append(
                    {
                        "eval_time": format_duration(k * suite.step),
                        "alertname": alert_name(slo),
                        "exp_alerts": alerts,
                    }
                )
            tests.append(
                {
                    "name": f"{slo.id}: " + " | ".join(sc.name for sc in suite.scenarios),
                    "interval": interval,
                    "input_series": [
                        series for sc in suite.scenarios for series in _input_series(slo, sc, end)
                    ],
                    "alert_rule_test": cases,
                }
            )
        if suite.absent_checks:
            tests.append(
                {
                    "name": (
                        f"{slo.id}: {absent_alert_name(slo)} fires after "
                        f"{format_duration(opts.absent_for)} without data"
                    ),
                    "interval": interval,
                    "input_series": [],
                    "alert_rule_test": [
                        {
                            "eval_time": format_duration(k * suite.step),
                            "alertname": absent_alert_name(slo),
                            "exp_alerts": [{"exp_labels": absent_labels(variant)}] if fires else [],
                        }
                        for k, fires in suite.absent_checks
                    ],
                }
            )
        files[suite.name] = {
            "rule_files": [rules_file],
            "evaluation_interval": interval,
            "tests": tests,
        }
    return files

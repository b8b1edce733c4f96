"""``kubeheal.self``: KubehealDown, KubehealRemediationsFailing, KubehealActionBudgetExhausted:
kubeheal's own health, from its metrics.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from kubeheal.monitoring.alerts._common import Builder, Timing, duration, pct
from kubeheal.monitoring.fixtures import STALE, counter, gauge, number, selector, staircase
from kubeheal.monitoring.model import (
    AlertRule,
    Category,
    ExpectedAlert,
    RuleGroup,
    Series,
    Severity,
)

__all__ = ["self_group"]

_INSTANCE = "10.0.0.7:8080"


def _kubeheal_down(b: Builder) -> AlertRule:
    cfg = b.c.kubeheal.down
    job = b.c.kubeheal.job
    t = Timing.held(cfg.for_)
    up = selector("up", {"job": job, "instance": _INSTANCE})
    return b.alert(
        name="KubehealDown",
        expr=f'absent(up{{job="{job}"}} == 1)',
        for_seconds=cfg.for_,
        severity=Severity.CRITICAL,
        category=Category.CRITICAL,
        summary="kubeheal is down",
        description=(
            f"No kubeheal instance (job {job}) has answered Prometheus' scrapes{{held}}: "
            "nothing is being remediated automatically."
        ),
        target_labels=(),
        instance=None,
        scenarios=(
            t.fires(
                "fires when kubeheal's target is down",
                [Series(up, gauge([(1, t.warm), (0, t.fault)]))],
                ExpectedAlert({}),
            ),
            t.fires(
                "fires when kubeheal's target disappears",
                [Series(up, gauge([(1, t.warm), (STALE, t.fault)]))],
                ExpectedAlert({}),
            ),
            t.quiet("stays quiet while kubeheal is up", [Series(up, gauge([(1, t.total)]))]),
        ),
    )


def _remediations_failing(b: Builder) -> AlertRule:
    cfg = b.c.kubeheal.remediations_failing
    job = b.c.kubeheal.job
    t = Timing.of(cfg.window, cfg.for_, warm=cfg.window, fault=cfg.window + cfg.for_)
    win = duration(cfg.window)
    failed = f'kubeheal_actions_total{{job="{job}", outcome="failed"}}'
    finished = f'kubeheal_actions_total{{job="{job}", outcome=~"succeeded|failed"}}'
    expr = (
        f"sum by (job) (increase({failed}[{win}])) >= {cfg.min_failures}\n"
        "and\n"
        f"sum by (job) (increase({failed}[{win}]))\n"
        f"  / sum by (job) (increase({finished}[{win}]))\n"
        f"  > {number(cfg.ratio)}"
    )
    base = {"job": job, "instance": _INSTANCE, "action": "restart_pod"}
    failure_rate = 2 * cfg.min_failures / cfg.window

    def series(ok: Sequence[tuple[float, int]], bad: str) -> list[Series]:
        return [
            Series(
                selector("kubeheal_actions_total", {**base, "outcome": "succeeded"}),
                counter(t.step, ok),
            ),
            Series(selector("kubeheal_actions_total", {**base, "outcome": "failed"}), bad),
        ]

    few = staircase(
        [0.0] * (t.warm + 1) + [float(min(i, cfg.min_failures - 1)) for i in range(1, t.fault + 1)]
    )
    success_rate = 4 * cfg.min_failures / cfg.window
    return b.alert(
        name="KubehealRemediationsFailing",
        expr=expr,
        for_seconds=cfg.for_,
        severity=Severity.WARNING,
        category=Category.CRITICAL,
        summary="Most of kubeheal's remediations fail",
        description=(
            f"More than {pct(cfg.ratio)} of kubeheal's actions failed over the last {win} "
            f"(at least {cfg.min_failures}){{held}}: check its RBAC, the API server and the "
            "ledger (`kubeheal report`)."
        ),
        target_labels=("job",),
        instance=None,
        scenarios=(
            t.fires(
                f"fires when every action fails, {2 * cfg.min_failures} per {win}",
                series(
                    [(success_rate, t.warm), (0.0, t.fault)],
                    counter(t.step, [(0.0, t.warm), (failure_rate, t.fault)]),
                ),
                ExpectedAlert({"job": job}),
            ),
            t.quiet(
                "stays quiet while actions succeed",
                series([(success_rate, t.total)], gauge([(1, t.total)])),
            ),
            t.quiet(
                f"stays quiet for {cfg.min_failures - 1} failure(s) and no success "
                "(below min_failures)",
                series([(0.0, t.total)], few),
            ),
        ),
    )


def _budget_exhausted(b: Builder) -> AlertRule:
    cfg = b.c.kubeheal.budget_exhausted
    job = b.c.kubeheal.job
    t = Timing.of(cfg.window, cfg.for_, warm=cfg.window, fault=cfg.for_)
    win = duration(cfg.window)
    guards = 'guard=~"budget_global|budget_namespace"'
    expr = (
        "sum by (job, guard) (\n"
        f'  increase(kubeheal_guard_blocks_total{{job="{job}", {guards}}}[{win}])\n'
        ") > 0"
    )
    base = {"job": job, "instance": _INSTANCE}

    def blocks(guard: str, jump: bool) -> Series:
        samples = [1.0] * (t.warm + 1) + [2.0 if jump else 1.0] * t.fault
        return Series(
            selector("kubeheal_guard_blocks_total", {**base, "guard": guard}),
            staircase(samples),
        )

    return b.alert(
        name="KubehealActionBudgetExhausted",
        expr=expr,
        for_seconds=cfg.for_,
        severity=Severity.WARNING,
        category=Category.CRITICAL,
        summary="kubeheal's action budget ({guard}) is exhausted",
        description=(
            "kubeheal's circuit breaker {guard} has blocked remediations within the last "
            f"{win}{{held}}: problems are escalated to humans instead of being fixed. Look for "
            "a storm of incidents (`kubeheal report`)."
        ),
        target_labels=("job", "guard"),
        instance=None,
        scenarios=(
            t.fires(
                "fires when the namespace budget blocks a plan",
                [blocks("budget_namespace", jump=True), blocks("cooldown", jump=False)],
                ExpectedAlert({"job": job, "guard": "budget_namespace"}),
            ),
            t.quiet(
                "stays quiet when other guards (cooldown) block plans",
                [blocks("budget_namespace", jump=False), blocks("cooldown", jump=True)],
            ),
        ),
    )


def self_group(b: Builder) -> RuleGroup:
    """The alerts on kubeheal itself."""
    return RuleGroup(
        name="kubeheal.self",
        slug="kubeheal-self",
        title="kubeheal's own health",
        rules=(_kubeheal_down(b), _remediations_failing(b), _budget_exhausted(b)),
        interval=b.c.evaluation_interval,
    )

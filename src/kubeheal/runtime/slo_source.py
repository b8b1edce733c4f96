"""SLO burn as a signal source, and the budgets the guards read.

Every ``evaluation_interval`` the source asks Prometheus for each SLO's status
(``kubeheal.slo.status.fetch_status``: one query per SLO). An SLO whose *page* condition holds
(the fast burn: 14.4x over 1h and 5m, or 6x over 6h and 30m, for 30 days) and that names a
workload (spec labels ``namespace`` and ``deployment``/``statefulset``) becomes an
``SLOBurn`` signal about that workload, handed to ``submit`` (``Operator.submit``). Between
evaluations the burning signals are re-submitted every ``resubmit_interval``, so the operator
sees them as still active (its ``signals_cleared`` check needs a signal every few seconds);
they stop as soon as the burn condition stops holding.

The same statuses feed:

* ``budgets()``: ``ErrorBudget`` facts for ``History.error_budgets`` (the budget policy guard);
* ``statuses()``: the ``SloCollector`` metrics (``collector``).

A failed evaluation (``SloQueryError``) keeps the previous status of that SLO (its budget
facts age out through ``slo.budget_max_age``) and is logged; it never stops the loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from kubeheal.config.settings import SloSettings
from kubeheal.model.core import Signal, SignalKind, SignalSource, Target, TargetKind
from kubeheal.model.history import ErrorBudget
from kubeheal.slo.errors import SloQueryError
from kubeheal.slo.metrics import SloCollector
from kubeheal.slo.model import SLO, Workload
from kubeheal.slo.rules import RenderOptions
from kubeheal.slo.specs import load_specs
from kubeheal.slo.status import QueryClient, SloStatus, fetch_status
from kubeheal.slo.windows import decimal_text, format_duration

__all__ = ["SloSource", "burn_signal", "workload_target"]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def _wall() -> datetime:
    return datetime.now(tz=UTC)


def workload_target(workload: Workload) -> Target:
    """The signal target of an SLO's workload."""
    kind = TargetKind.STATEFULSET if workload.kind == "StatefulSet" else TargetKind.DEPLOYMENT
    return Target(kind=kind, namespace=workload.namespace, name=workload.name)


def burn_signal(slo: SLO, status: SloStatus, *, now: datetime) -> Signal | None:
    """The ``SLOBurn`` signal of a fast-burning SLO about its workload (None otherwise)."""
    if not status.page or slo.workload is None:
        return None
    target = workload_target(slo.workload)
    subject = f"slo/{slo.id}"
    details: dict[str, str | int | float | bool] = {
        "slo": slo.id,
        "objective": decimal_text(slo.objective),
        "period": format_duration(slo.period),
        "severity": "page",
    }
    page = slo.windows.page
    for window in sorted({c.long for c in page} | {c.short for c in page}):
        burn = status.burn(window)
        if burn is not None:
            details[f"burn_rate_{format_duration(window)}"] = round(burn, 4)
    if status.budget_remaining is not None:
        details["budget_remaining"] = round(status.budget_remaining, 6)
    if status.time_to_exhaustion is not None:
        details["time_to_exhaustion_seconds"] = round(status.time_to_exhaustion, 1)
    labels = {"slo_id": slo.id, "slo_service": slo.service, "slo_name": slo.name}
    return Signal(
        id=Signal.make_id(SignalKind.SLO_BURN, target, subject),
        kind=SignalKind.SLO_BURN,
        target=target,
        observed_at=now,
        subject=subject,
        details=details,
        labels=labels,
        source=SignalSource.SLO,
    )


class SloSource:
    """Evaluates SLOs against Prometheus and turns fast burns into signals."""

    def __init__(
        self,
        *,
        client: QueryClient,
        slos: Sequence[SLO],
        submit: Callable[[Iterable[Signal]], None],
        options: RenderOptions | None = None,
        clock: Clock = _wall,
        stamp: Clock | None = None,
    ) -> None:
        """``clock`` is Prometheus' time (the instant every query asks about); ``stamp``
        (default: ``clock``) the operator's, which the signals and budgets carry, so that
        the guards compare them with their own ``now`` even while the cluster's clock runs
        ahead of Prometheus' (an accelerated twin)."""
        self.client = client
        self.slos = tuple(slos)
        self.submit = submit
        self.options = options or RenderOptions()
        self.clock = clock
        self.stamp = stamp or clock
        self._statuses: dict[str, SloStatus] = {}
        self._measured_at: dict[str, datetime] = {}
        self._burning: dict[str, Signal] = {}
        self.collector = SloCollector(self.statuses)
        self.failures = 0

    @classmethod
    def from_settings(
        cls,
        settings: SloSettings,
        *,
        client: QueryClient,
        submit: Callable[[Iterable[Signal]], None],
        clock: Clock = _wall,
        stamp: Clock | None = None,
    ) -> SloSource:
        """A source for the SLOs of ``settings.specs`` (``SloSpecError`` if one is bad),
        their windows floored at 4 of ``settings.scrape_interval`` as ``kubeheal slo generate
        --scrape-interval`` floors the rules' (the same value: the same windows)."""
        slos = load_specs(
            settings.specs,
            default_period=int(settings.default_period.total_seconds()),
            scrape_interval=int(settings.scrape_interval.total_seconds()),
        )
        return cls(
            client=client,
            slos=slos,
            submit=submit,
            options=RenderOptions(min_events=settings.min_events),
            clock=clock,
            stamp=stamp,
        )

    def statuses(self) -> list[SloStatus]:
        """The latest status of every SLO evaluated at least once."""
        return [self._statuses[s.id] for s in self.slos if s.id in self._statuses]

    def budgets(self) -> tuple[ErrorBudget, ...]:
        """Budget facts of the SLOs that name a workload, for ``History.error_budgets``."""
        found: list[ErrorBudget] = []
        for slo in self.slos:
            status = self._statuses.get(slo.id)
            if slo.workload is None or status is None or status.budget_remaining is None:
                continue
            found.append(
                ErrorBudget(
                    target=workload_target(slo.workload),
                    slo=slo.id,
                    remaining=status.budget_remaining,
                    observed_at=self._measured_at[slo.id],
                )
            )
        return tuple(found)

    def burning(self) -> list[Signal]:
        """The signals of the SLOs burning fast at the last evaluation."""
        return list(self._burning.values())

    async def evaluate_once(self) -> list[Signal]:
        """Evaluate every SLO now, submit the burning ones' signals and return them."""
        at, now = self.clock(), self.stamp()
        for slo in self.slos:
            try:
                status = await fetch_status(
                    self.client, slo, at=at.timestamp(), options=self.options
                )
            except SloQueryError as e:
                self.failures += 1
                log.warning("SLO %s not evaluated: %s", slo.id, e)
                continue
            self._statuses[slo.id] = status
            self._measured_at[slo.id] = now
            signal = burn_signal(slo, status, now=now)
            if signal is None:
                if self._burning.pop(slo.id, None) is not None:
                    log.info("SLO %s no longer burns fast", slo.id)
            else:
                if slo.id not in self._burning:
                    log.warning(
                        "SLO %s burns its error budget fast (%s): signalling %s",
                        slo.id,
                        ", ".join(f"{k}={v}" for k, v in sorted(signal.details.items())),
                        signal.target,
                    )
                self._burning[slo.id] = signal
        signals = self.burning()
        if signals:
            self.submit(signals)
        return signals

    async def run(self, *, interval: float, resubmit_interval: float = 2.0) -> None:
        """Evaluate every ``interval`` seconds and re-submit burning signals every
        ``resubmit_interval`` seconds in between, until cancelled."""
        next_evaluation = 0.0
        while True:
            started = time.monotonic()
            if started >= next_evaluation:
                await self.evaluate_once()
                next_evaluation = started + interval
            elif self._burning:
                self.submit(self.burning())
            await asyncio.sleep(max(0.0, min(resubmit_interval, next_evaluation - started)))

"""The internal SLO model every spec format is read into, and rules are rendered from.

An ``SLO`` has one service level indicator, either *events* (an error query and a total query,
both per-second rates) or an *error ratio* (a query returning the ratio of bad to all, 0..1).
Queries are templates with a ``{{.window}}`` placeholder (Sloth's convention), filled with each
alert window by ``fill_window``.

Pure data: no I/O, no clock.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from kubeheal.slo.windows import DEFAULT_SCRAPE_INTERVAL, AlertWindows, BurnTable, alert_windows

__all__ = [
    "SLO",
    "WINDOW_PLACEHOLDER",
    "AlertPolicy",
    "EventsSLI",
    "RatioSLI",
    "SliKind",
    "SpecFormat",
    "Workload",
    "fill_window",
    "has_window",
]

WINDOW_PLACEHOLDER = re.compile(r"\{\{\s*\.window\s*\}\}")
"""``{{.window}}`` (spaces allowed inside the braces)."""


def has_window(query: str) -> bool:
    """Whether ``query`` contains the ``{{.window}}`` placeholder."""
    return WINDOW_PLACEHOLDER.search(query) is not None


def fill_window(query: str, window: str) -> str:
    """``query`` with every ``{{.window}}`` replaced by the Prometheus duration ``window``."""
    return WINDOW_PLACEHOLDER.sub(window, query)


class SpecFormat(enum.StrEnum):
    """Which spec format an SLO was read from."""

    SLOTH = "prometheus/v1"
    SLOTH_K8S = "sloth.slok.dev/v1"
    OPENSLO = "openslo/v1"
    OPENSLO_V1ALPHA = "openslo/v1alpha"
    PYRRA = "pyrra.dev/v1alpha1"


class SliKind(enum.StrEnum):
    """How the error ratio is measured."""

    EVENTS = "events"
    RATIO = "ratio"


@dataclass(frozen=True, slots=True)
class EventsSLI:
    """Bad events over all events; both queries are per-second rates over ``{{.window}}``."""

    error_query: str
    total_query: str

    @property
    def kind(self) -> SliKind:
        return SliKind.EVENTS


@dataclass(frozen=True, slots=True)
class RatioSLI:
    """A query returning the error ratio (0..1) over ``{{.window}}`` directly."""

    error_ratio_query: str

    @property
    def kind(self) -> SliKind:
        return SliKind.RATIO


SLI = EventsSLI | RatioSLI


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertPolicy:
    """Labels and annotations of one alert (page or ticket), or that it is disabled."""

    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    disabled: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """The Kubernetes workload an SLO is about (from the spec labels ``namespace`` and
    ``deployment`` or ``statefulset``): its burn becomes a signal about this target."""

    kind: str
    namespace: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SLO:
    """One service level objective, whatever format it was written in.

    ``objective`` is a percentage in (0, 100] kept as an exact ``Decimal`` (100 leaves no
    budget: any error pages); ``period`` is the rolling window in seconds; ``labels`` are the
    spec's and the SLO's labels merged; ``info_labels`` go on its info series only (Sloth's
    ``info_labels`` SLO plugin); ``scrape_interval`` (seconds) floors the alert windows;
    ``warnings`` are what reading the spec found odd but valid (the CLI prints them);
    ``burn_table`` is the multi-burn table of its alerts (the Workbook's, or Pyrra's: one alert
    per condition with a ``for:``); ``absent_name`` overrides ``<alert name>SLIAbsent``,
    ``absent`` forces that alert on or off (None: on while an alert is), ``absent_severity``
    its ``severity`` label.
    """

    service: str
    name: str
    objective: Decimal
    period: int
    sli: EventsSLI | RatioSLI
    description: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    alert_name: str = ""
    alert_labels: Mapping[str, str] = field(default_factory=dict)
    alert_annotations: Mapping[str, str] = field(default_factory=dict)
    page: AlertPolicy = field(default_factory=AlertPolicy)
    ticket: AlertPolicy = field(default_factory=AlertPolicy)
    workload: Workload | None = None
    source: str = ""
    spec_format: SpecFormat = SpecFormat.SLOTH
    scrape_interval: int = DEFAULT_SCRAPE_INTERVAL
    info_labels: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    burn_table: BurnTable = BurnTable.WORKBOOK
    absent_name: str = ""
    absent: bool | None = None
    absent_severity: str = ""

    @property
    def id(self) -> str:
        """``service-name``, unique across every spec rendered together."""
        return f"{self.service}-{self.name}"

    @property
    def objective_ratio(self) -> Decimal:
        """The objective as a ratio: 99.9 -> 0.999."""
        return self.objective / 100

    @property
    def budget(self) -> Decimal:
        """The error budget as a ratio: 99.9 -> 0.001 (exact)."""
        return 1 - self.objective / 100

    @property
    def windows(self) -> AlertWindows:
        """The burn-rate conditions of this SLO's period."""
        return alert_windows(self.period, self.scrape_interval, self.burn_table)

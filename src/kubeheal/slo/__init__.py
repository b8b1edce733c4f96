"""Service level objectives: specs, burn-rate rules proven by promtool, budgets.

* ``load_specs`` / ``parse_specs`` read Sloth ``prometheus/v1`` and OpenSLO v1 specs into
  ``SLO`` (errors: ``SloSpecError``, naming the file and the field);
* ``render_outputs`` renders rule files, PrometheusRule resources and ``promtool test rules``
  cases (pure; ``kubeheal slo generate`` writes them);
* ``fetch_status`` / ``evaluate_status`` tell where an SLO stands (SLI, budget left, burn
  rates, time to exhaustion); ``SloCollector`` exposes that as metrics.

The runtime side (burn as a signal, budgets for the guards) is ``kubeheal.runtime.slo_source``.
See docs/slo.md.
"""

from kubeheal.slo.errors import SloError, SloQueryError, SloSpecError
from kubeheal.slo.generate import GenerateOptions, render_outputs
from kubeheal.slo.metrics import SloCollector, register_slo_metrics
from kubeheal.slo.model import SLO, AlertPolicy, EventsSLI, RatioSLI, SpecFormat, Workload
from kubeheal.slo.rules import RenderOptions, prometheus_rule, rule_count, rule_file
from kubeheal.slo.specs import load_specs, parse_specs
from kubeheal.slo.status import SloStatus, evaluate_status, fetch_status, status_to_dict
from kubeheal.slo.windows import AlertWindows, BurnCondition, WindowError, alert_windows

__all__ = [
    "SLO",
    "AlertPolicy",
    "AlertWindows",
    "BurnCondition",
    "EventsSLI",
    "GenerateOptions",
    "RatioSLI",
    "RenderOptions",
    "SloCollector",
    "SloError",
    "SloQueryError",
    "SloSpecError",
    "SloStatus",
    "SpecFormat",
    "WindowError",
    "Workload",
    "alert_windows",
    "evaluate_status",
    "fetch_status",
    "load_specs",
    "parse_specs",
    "prometheus_rule",
    "register_slo_metrics",
    "render_outputs",
    "rule_count",
    "rule_file",
    "status_to_dict",
]

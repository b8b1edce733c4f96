"""Monitoring as code: alert rules, their promtool tests, Alertmanager routes, dashboards.

`render_bundle(config)` returns every file `kubeheal generate monitoring` writes; the
pieces are available on their own (`build_rule_groups`, `alertmanager_config`,
`build_dashboards`, ...). Everything here is pure: it builds text, the CLI writes it.
"""

from kubeheal.monitoring.alertmanager import (
    CRASH_LOOP_ALERT,
    RECEIVER_CRITICAL,
    RECEIVER_INFO,
    RECEIVER_KUBEHEAL,
    RECEIVER_NULL,
    RECEIVER_WARNING,
    SECRET_FILES,
    alertmanager_config,
    render_alertmanager_config,
)
from kubeheal.monitoring.alerts import ALERT_NAMES, build_rule_groups
from kubeheal.monitoring.bundle import (
    REPLACED_DEFAULT_RULES,
    kube_prometheus_stack_values,
    render_bundle,
    rule_file_texts,
    rule_files_for,
)
from kubeheal.monitoring.config import (
    MonitoringConfig,
    MonitoringConfigError,
    parse_monitoring_config,
    validate_monitoring_config,
)
from kubeheal.monitoring.dashboards import (
    DASHBOARD_UIDS,
    Dashboard,
    build_dashboards,
    dashboard_queries,
)
from kubeheal.monitoring.model import AlertRule, Category, RecordingRule, RuleGroup, Severity
from kubeheal.monitoring.promql import WORKLOAD_MAPPING_RECORD
from kubeheal.monitoring.render import (
    render_prometheus_rule,
    render_rule_file,
    render_rule_tests,
)

__all__ = [
    "ALERT_NAMES",
    "CRASH_LOOP_ALERT",
    "DASHBOARD_UIDS",
    "RECEIVER_CRITICAL",
    "RECEIVER_INFO",
    "RECEIVER_KUBEHEAL",
    "RECEIVER_NULL",
    "RECEIVER_WARNING",
    "REPLACED_DEFAULT_RULES",
    "SECRET_FILES",
    "WORKLOAD_MAPPING_RECORD",
    "AlertRule",
    "Category",
    "Dashboard",
    "MonitoringConfig",
    "MonitoringConfigError",
    "RecordingRule",
    "RuleGroup",
    "Severity",
    "alertmanager_config",
    "build_dashboards",
    "build_rule_groups",
    "dashboard_queries",
    "kube_prometheus_stack_values",
    "parse_monitoring_config",
    "render_alertmanager_config",
    "render_bundle",
    "render_prometheus_rule",
    "render_rule_file",
    "render_rule_tests",
    "rule_file_texts",
    "rule_files_for",
    "validate_monitoring_config",
]

"""The alerting and recording rules kubeheal ships, built from a `MonitoringConfig`.

Groups (one rule file, one PrometheusRule, tests per alert each), one module each:

* ``kubeheal.workloads`` (here): the pod -> workload mapping other groups join on;
* ``kubeheal.golden-signals`` (`golden`): HighLatency, HighTraffic, HighErrorRate,
  HighCPUSaturation, HighMemorySaturation;
* ``kubeheal.kubernetes`` (`kubernetes`): PodCrashLooping, NodeMemoryPressure,
  PersistentVolumeUsageHigh, KubePodNotReady, KubeDeploymentReplicasMismatch, KubeHpaMaxedOut,
  NodeNotReady;
* ``kubeheal.cost`` (`cost`): OverProvisionedPods, UnusedPersistentVolumes, IneffectiveHPA;
* ``kubeheal.self`` (`self`): KubehealDown, KubehealRemediationsFailing,
  KubehealActionBudgetExhausted.

Every alert carries severity, category, summary/description/runbook_url, the labels that
name its target (namespace + deployment/statefulset/daemonset, pod, node, ...), an `instance`
label naming that target, and `kubeheal: remediate` when kubeheal has a playbook for it.
Each alert also carries the promtool scenarios that prove it fires and stays quiet
(`Timing.fires` / `Timing.quiet` in `_common`); they are computed from the same
configuration, so they follow its thresholds and durations. A new alert goes into the module
of its group; an alert on a node condition is one `Condition` entry for `condition_alert()`.

Pure: no I/O.
"""

from __future__ import annotations

from kubeheal.monitoring.alerts._common import Builder
from kubeheal.monitoring.alerts.cost import cost_group
from kubeheal.monitoring.alerts.golden import golden_group
from kubeheal.monitoring.alerts.kubernetes import kubernetes_group
from kubeheal.monitoring.alerts.self import self_group
from kubeheal.monitoring.config import MonitoringConfig
from kubeheal.monitoring.model import RecordingRule, RuleGroup
from kubeheal.monitoring.promql import WORKLOAD_MAPPING_RECORD, workload_mapping_expr

__all__ = ["ALERT_NAMES", "build_rule_groups"]

ALERT_NAMES = (
    "HighLatency",
    "HighTraffic",
    "HighErrorRate",
    "HighCPUSaturation",
    "HighMemorySaturation",
    "PodCrashLooping",
    "NodeMemoryPressure",
    "PersistentVolumeUsageHigh",
    "KubePodNotReady",
    "KubeDeploymentReplicasMismatch",
    "KubeHpaMaxedOut",
    "NodeNotReady",
    "OverProvisionedPods",
    "UnusedPersistentVolumes",
    "IneffectiveHPA",
    "KubehealDown",
    "KubehealRemediationsFailing",
    "KubehealActionBudgetExhausted",
)


def _workloads_group(b: Builder) -> RuleGroup:
    return RuleGroup(
        name="kubeheal.workloads",
        slug="kubeheal-workloads",
        title="Pod to workload mapping",
        rules=(RecordingRule(WORKLOAD_MAPPING_RECORD, workload_mapping_expr()),),
        interval=b.c.evaluation_interval,
    )


def build_rule_groups(config: MonitoringConfig | None = None) -> tuple[RuleGroup, ...]:
    """Every rule group kubeheal ships, for `config` (defaults when None)."""
    b = Builder(config if config is not None else MonitoringConfig())
    return (
        _workloads_group(b),
        golden_group(b),
        kubernetes_group(b),
        cost_group(b),
        self_group(b),
    )

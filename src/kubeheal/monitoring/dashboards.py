"""Grafana dashboards, built with Grafana's own foundation SDK.

* ``kubeheal-golden-signals``: traffic, errors, latency and saturation per workload;
* ``kubeheal-cluster-overview``: nodes, pods, capacity, volumes, firing alerts;
* ``kubeheal-remediation``: incidents, actions, guards, recovery rate and MTTR, from
  kubeheal's own metrics.

Every panel queries the data source chosen in the ``datasource`` variable; uids and panel
ids are fixed, so a regenerated dashboard replaces the previous one in Grafana. Queries use
Grafana's ``$__rate_interval`` / ``$__range`` and the dashboard's ``$namespace``.

Pure: no I/O (`Dashboard.json` is the text to write).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableRefresh

from kubeheal.monitoring.config import MonitoringConfig
from kubeheal.monitoring.promql import workload_sum
from kubeheal.monitoring.render import dump_yaml

__all__ = [
    "DASHBOARD_UIDS",
    "Dashboard",
    "build_dashboards",
    "dashboard_configmap",
    "dashboard_queries",
    "render_dashboard_configmap",
]

DASHBOARD_UIDS = ("kubeheal-golden-signals", "kubeheal-cluster-overview", "kubeheal-remediation")

_DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
_NS = 'namespace=~"$namespace"'
_RATE = "$__rate_interval"
_WORKLOAD_LEGEND = "{{namespace}}/{{deployment}}{{statefulset}}{{daemonset}}"
_REF_IDS = "ABCDEFGHIJ"


@dataclass(frozen=True, slots=True)
class Dashboard:
    """A generated dashboard: its uid, title and JSON model."""

    uid: str
    title: str
    json: str

    @property
    def model(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.json)
        return data


@dataclass(frozen=True, slots=True)
class _Query:
    expr: str
    legend: str = ""
    instant: bool = False


class _Layout:
    """Numbers panels in order (ids stay stable as long as the panel list does)."""

    def __init__(self) -> None:
        self.next_id = 1

    def take(self) -> int:
        panel_id = self.next_id
        self.next_id += 1
        return panel_id


def _targets(queries: Sequence[_Query]) -> list[prometheus.Dataquery]:
    out = []
    for ref, q in zip(_REF_IDS, queries, strict=False):
        target = prometheus.Dataquery().expr(q.expr).ref_id(ref).datasource(_DS)
        if q.legend:
            target = target.legend_format(q.legend)
        target = target.instant() if q.instant else target.range()
        out.append(target)
    return out


def _graph(
    layout: _Layout,
    title: str,
    queries: Sequence[_Query],
    *,
    unit: str,
    description: str = "",
    width: int = 12,
    max_value: float | None = None,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .id(layout.take())
        .title(title)
        .description(description)
        .datasource(_DS)
        .unit(unit)
        .min(0)
        .height(8)
        .span(width)
        .fill_opacity(10)
        .legend(
            common_builder.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
    )
    if max_value is not None:
        panel = panel.max(max_value)
    for target in _targets(queries):
        panel = panel.with_target(target)
    return panel


def _stat(
    layout: _Layout, title: str, query: _Query, *, unit: str = "short", description: str = ""
) -> stat.Panel:
    return (
        stat.Panel()
        .id(layout.take())
        .title(title)
        .description(description)
        .datasource(_DS)
        .unit(unit)
        .height(4)
        .span(4)
        .graph_mode(common.BigValueGraphMode.NONE)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]))
        .with_target(_targets([query])[0])
    )


def _base(uid: str, title: str, config: MonitoringConfig, *, namespaces: bool) -> dash.Dashboard:
    board = (
        dash.Dashboard(title)
        .uid(uid)
        .tags(["kubeheal"])
        .editable()
        .refresh(config.dashboards.refresh)
        .time(config.dashboards.time_from, "now")
        .timezone("browser")
        .with_variable(
            dash.DatasourceVariable("datasource").label("Data source").type("prometheus")
        )
    )
    if namespaces:
        board = board.with_variable(
            dash.QueryVariable("namespace")
            .label("Namespace")
            .datasource(_DS)
            .query("label_values(kube_namespace_status_phase, namespace)")
            .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
            .multi(True)
            .include_all(True)
            .all_value(".*")
        )
    return board


def _to_json(board: dash.Dashboard) -> str:
    return json.dumps(board.build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def _golden_signals(config: MonitoringConfig) -> Dashboard:
    uid, title = DASHBOARD_UIDS[0], "kubeheal / Golden signals"
    layout = _Layout()
    requests = workload_sum(f"rate(http_requests_total{{{_NS}}}[{_RATE}])")
    errors = workload_sum(f'rate(http_requests_total{{{_NS}, status=~"5.."}}[{_RATE}])')
    buckets = workload_sum(f"rate(http_request_duration_seconds_bucket{{{_NS}}}[{_RATE}])", "le")
    sel = f'{{{_NS}, container!="", container!="POD"}}'
    by_container = "sum by (namespace, pod, container)"
    usage = f"{by_container} (rate(container_cpu_usage_seconds_total{sel}[{_RATE}]))"
    limits = f'{by_container} (kube_pod_container_resource_limits{{{_NS}, resource="cpu"}})'
    cpu = (
        workload_sum(f"{usage}\nand on (namespace, pod, container)\n{limits}")
        + "\n/\n"
        + workload_sum(f"{limits}\nand on (namespace, pod, container)\n{usage}")
    )
    memory = (
        "max by (namespace, pod, container) (\n"
        f"  container_memory_working_set_bytes{sel}\n"
        f"  / (container_spec_memory_limit_bytes{sel} > 0)\n"
        ")"
    )
    golden_alerts = (
        'count by (alertname, severity) (ALERTS{alertstate="firing", '
        'alertname=~"HighLatency|HighTraffic|HighErrorRate|HighCPUSaturation|'
        f'HighMemorySaturation", {_NS}}})'
    )
    board = (
        _base(uid, title, config, namespaces=True)
        .description("Latency, traffic, errors and saturation of every workload.")
        .with_row(dash.Row("Traffic and errors").id(layout.take()))
        .with_panel(
            _graph(
                layout,
                "Requests per second",
                [_Query(requests, _WORKLOAD_LEGEND)],
                unit="reqps",
                description="HTTP requests served per workload.",
            )
        )
        .with_panel(
            _graph(
                layout,
                "Error ratio (5xx)",
                [_Query(f"{errors}\n/\n{requests}", _WORKLOAD_LEGEND)],
                unit="percentunit",
                description="Share of requests answered with a 5xx status.",
            )
        )
        .with_row(dash.Row("Latency").id(layout.take()))
    )
    for quantile in ("0.5", "0.95", "0.99"):
        board = board.with_panel(
            _graph(
                layout,
                f"Latency p{round(float(quantile) * 100)}",
                [_Query(f"histogram_quantile({quantile},\n{buckets}\n)", _WORKLOAD_LEGEND)],
                unit="s",
                width=8,
            )
        )
    board = (
        board.with_row(dash.Row("Saturation").id(layout.take()))
        .with_panel(
            _graph(
                layout,
                "CPU used / CPU limit",
                [_Query(cpu, _WORKLOAD_LEGEND)],
                unit="percentunit",
                description="Containers near 100% are throttled.",
            )
        )
        .with_panel(
            _graph(
                layout,
                "Memory working set / memory limit",
                [_Query(memory, "{{namespace}}/{{pod}} {{container}}")],
                unit="percentunit",
                description="Containers reaching 100% are OOM-killed.",
            )
        )
        .with_panel(
            _graph(
                layout,
                "Firing golden-signal alerts",
                [_Query(golden_alerts, "{{alertname}} ({{severity}})")],
                unit="short",
                width=24,
            )
        )
    )
    return Dashboard(uid, title, _to_json(board))


def _cluster_overview(config: MonitoringConfig) -> Dashboard:
    uid, title = DASHBOARD_UIDS[1], "kubeheal / Cluster overview"
    layout = _Layout()
    not_ready_nodes = (
        "count(\n  max by (node) (\n"
        '    kube_node_status_condition{condition="Ready", status=~"false|unknown"}\n'
        "  ) == 1\n) or vector(0)"
    )
    crash_looping = (
        'count(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff", '
        f"{_NS}}} == 1) or vector(0)"
    )
    by_pod = "max by (namespace, pod)"
    not_ready_pods = (
        "count(\n"
        f'  {by_pod} (kube_pod_status_ready{{{_NS}, condition=~"false|unknown"}}) == 1\n'
        "  and on (namespace, pod)\n"
        f'  {by_pod} (kube_pod_status_phase{{{_NS}, phase="Running"}}) == 1\n'
        ") or vector(0)"
    )
    board = (
        _base(uid, title, config, namespaces=True)
        .description("Nodes, pods, capacity and volumes of the whole cluster.")
        .with_row(dash.Row("Health").id(layout.take()))
        .with_panel(_stat(layout, "Nodes", _Query("count(kube_node_info)", instant=True)))
        .with_panel(_stat(layout, "Nodes not ready", _Query(not_ready_nodes, instant=True)))
        .with_panel(
            _stat(
                layout,
                "Pods running",
                _Query(f'sum(kube_pod_status_phase{{{_NS}, phase="Running"}})', instant=True),
            )
        )
        .with_panel(_stat(layout, "Pods not ready", _Query(not_ready_pods, instant=True)))
        .with_panel(_stat(layout, "Containers crash-looping", _Query(crash_looping, instant=True)))
        .with_panel(
            _stat(
                layout,
                "Firing alerts",
                _Query('count(ALERTS{alertstate="firing"}) or vector(0)', instant=True),
            )
        )
        .with_row(dash.Row("Capacity").id(layout.take()))
        .with_panel(
            _graph(
                layout,
                "CPU requested / allocatable per node",
                [
                    _Query(
                        'sum by (node) (kube_pod_container_resource_requests{resource="cpu"})\n'
                        '/ sum by (node) (kube_node_status_allocatable{resource="cpu"})',
                        "{{node}}",
                    )
                ],
                unit="percentunit",
            )
        )
        .with_panel(
            _graph(
                layout,
                "CPU busy per node",
                [
                    _Query(
                        "1 - avg by (instance) (\n"
                        f'  rate(node_cpu_seconds_total{{mode="idle"}}[{_RATE}])\n'
                        ")",
                        "{{instance}}",
                    )
                ],
                unit="percentunit",
            )
        )
        .with_panel(
            _graph(
                layout,
                "Memory used per node",
                [
                    _Query(
                        "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
                        "{{instance}}",
                    )
                ],
                unit="percentunit",
            )
        )
        .with_panel(
            _graph(
                layout,
                "Root file system used per node",
                [
                    _Query(
                        "max by (instance) (\n"
                        '  1 - node_filesystem_avail_bytes{fstype!=""}\n'
                        '    / node_filesystem_size_bytes{fstype!=""}\n'
                        ")",
                        "{{instance}}",
                    )
                ],
                unit="percentunit",
            )
        )
        .with_row(dash.Row("Workloads and storage").id(layout.take()))
        .with_panel(
            _graph(
                layout,
                "Container restarts (1h)",
                [
                    _Query(
                        "sum by (namespace) (\n"
                        f"  increase(kube_pod_container_status_restarts_total{{{_NS}}}[1h])\n"
                        ")",
                        "{{namespace}}",
                    )
                ],
                unit="short",
            )
        )
        .with_panel(
            _graph(
                layout,
                "Volume used per claim",
                [
                    _Query(
                        "max by (namespace, persistentvolumeclaim) (\n"
                        f"  1 - kubelet_volume_stats_available_bytes{{{_NS}}}\n"
                        f"    / kubelet_volume_stats_capacity_bytes{{{_NS}}}\n"
                        ")",
                        "{{namespace}}/{{persistentvolumeclaim}}",
                    )
                ],
                unit="percentunit",
            )
        )
        .with_panel(
            _graph(
                layout,
                "HPA replicas / maxReplicas",
                [
                    _Query(
                        "max by (namespace, horizontalpodautoscaler) (\n"
                        f"  kube_horizontalpodautoscaler_status_current_replicas{{{_NS}}}\n"
                        ")\n/\nmax by (namespace, horizontalpodautoscaler) (\n"
                        f"  kube_horizontalpodautoscaler_spec_max_replicas{{{_NS}}}\n"
                        ")",
                        "{{namespace}}/{{horizontalpodautoscaler}}",
                    )
                ],
                unit="percentunit",
            )
        )
        .with_panel(
            _graph(
                layout,
                "Firing alerts by severity",
                [_Query('count by (severity) (ALERTS{alertstate="firing"})', "{{severity}}")],
                unit="short",
            )
        )
    )
    return Dashboard(uid, title, _to_json(board))


def _remediation(config: MonitoringConfig) -> Dashboard:
    uid, title = DASHBOARD_UIDS[2], "kubeheal / Remediation and MTTR"
    layout = _Layout()
    job = f'job="{config.kubeheal.job}"'
    recover = f"kubeheal_time_to_recover_seconds_bucket{{{job}}}"

    def quantile(q: str, bucket: str, window: str) -> str:
        return f"histogram_quantile({q},\n  sum by (le) (increase({bucket}[{window}]))\n)"

    board = (
        _base(uid, title, config, namespaces=False)
        .description("What kubeheal detects, does and recovers, and how fast (from its /metrics).")
        .with_row(dash.Row("Now").id(layout.take()))
        .with_panel(
            _stat(layout, "kubeheal instances up", _Query(f"sum(up{{{job}}})", instant=True))
        )
        .with_panel(
            _stat(
                layout,
                "Open incidents",
                _Query(f"max(kubeheal_open_incidents{{{job}}})", instant=True),
            )
        )
        .with_panel(
            _stat(
                layout,
                "Auto-recovery rate (time range)",
                _Query(
                    f'sum(increase(kubeheal_incidents_closed_total{{{job}, resolution="auto"}}'
                    "[$__range]))\n"
                    f"/ sum(increase(kubeheal_incidents_closed_total{{{job}}}[$__range]))",
                    instant=True,
                ),
                unit="percentunit",
                description="Incidents closed by kubeheal's own remediation, of all closed.",
            )
        )
        .with_panel(
            _stat(
                layout,
                "Mean time to recover (time range)",
                _Query(
                    f"sum(increase(kubeheal_time_to_recover_seconds_sum{{{job}}}[$__range]))\n"
                    f"/ sum(increase(kubeheal_time_to_recover_seconds_count{{{job}}}[$__range]))",
                    instant=True,
                ),
                unit="s",
            )
        )
        .with_panel(
            _stat(
                layout,
                "MTTR p90 (time range)",
                _Query(quantile("0.9", recover, "$__range"), instant=True),
                unit="s",
            )
        )
        .with_panel(
            _stat(
                layout,
                "API server watches healthy",
                _Query(f"min(kubeheal_api_server_up{{{job}}})", instant=True),
            )
        )
        .with_row(dash.Row("Incidents and actions").id(layout.take()))
        .with_panel(
            _graph(
                layout,
                "Incidents opened by target kind",
                [
                    _Query(
                        "sum by (target_kind) (\n"
                        f"  increase(kubeheal_incidents_total{{{job}}}[{_RATE}])\n)",
                        "{{target_kind}}",
                    )
                ],
                unit="short",
            )
        )
        .with_panel(
            _graph(
                layout,
                "Incidents closed by resolution",
                [
                    _Query(
                        "sum by (resolution) (\n"
                        f"  increase(kubeheal_incidents_closed_total{{{job}}}[{_RATE}])\n)",
                        "{{resolution}}",
                    )
                ],
                unit="short",
            )
        )
        .with_panel(
            _graph(
                layout,
                "Actions by outcome",
                [
                    _Query(
                        "sum by (action, outcome) (\n"
                        f"  increase(kubeheal_actions_total{{{job}}}[{_RATE}])\n)",
                        "{{action}} {{outcome}}",
                    )
                ],
                unit="short",
            )
        )
        .with_panel(
            _graph(
                layout,
                "Plans blocked by guard",
                [
                    _Query(
                        "sum by (guard) (\n"
                        f"  increase(kubeheal_guard_blocks_total{{{job}}}[{_RATE}])\n)",
                        "{{guard}}",
                    )
                ],
                unit="short",
            )
        )
        .with_row(dash.Row("Speed").id(layout.take()))
        .with_panel(
            _graph(
                layout,
                "Time to recover (1h windows)",
                [
                    _Query(quantile("0.5", recover, "1h"), "p50"),
                    _Query(quantile("0.9", recover, "1h"), "p90"),
                ],
                unit="s",
                width=8,
            )
        )
        .with_panel(
            _graph(
                layout,
                "Time to act (1h windows)",
                [
                    _Query(
                        quantile("0.9", f"kubeheal_time_to_act_seconds_bucket{{{job}}}", "1h"),
                        "p90",
                    )
                ],
                unit="s",
                width=8,
            )
        )
        .with_panel(
            _graph(
                layout,
                "Time to detect (1h windows)",
                [
                    _Query(
                        quantile("0.9", f"kubeheal_time_to_detect_seconds_bucket{{{job}}}", "1h"),
                        "p90",
                    )
                ],
                unit="s",
                width=8,
            )
        )
        .with_panel(
            _graph(
                layout,
                "Work queue and signals",
                [
                    _Query(f"max(kubeheal_queue_depth{{{job}}})", "queue depth"),
                    _Query(
                        f"sum by (kind) (rate(kubeheal_signals_total{{{job}}}[{_RATE}]))",
                        "signals/s {{kind}}",
                    ),
                ],
                unit="short",
            )
        )
        .with_panel(
            _graph(
                layout,
                "Firing alerts kubeheal acts on",
                [
                    _Query(
                        'count by (alertname) (ALERTS{alertstate="firing", kubeheal="remediate"})',
                        "{{alertname}}",
                    )
                ],
                unit="short",
            )
        )
    )
    return Dashboard(uid, title, _to_json(board))


def build_dashboards(config: MonitoringConfig | None = None) -> tuple[Dashboard, ...]:
    """The three dashboards, in `DASHBOARD_UIDS` order."""
    config = config if config is not None else MonitoringConfig()
    return (_golden_signals(config), _cluster_overview(config), _remediation(config))


def dashboard_queries(dashboard: Dashboard) -> list[str]:
    """Every PromQL expression of the dashboard's panels and variables, in panel order."""
    model = dashboard.model
    out: list[str] = []

    def panels(items: list[dict[str, Any]]) -> None:
        for panel in items:
            out.extend(str(t["expr"]) for t in panel.get("targets") or [] if "expr" in t)
            panels(panel.get("panels") or [])

    panels(model.get("panels") or [])
    return out


def dashboard_configmap(dashboard: Dashboard, config: MonitoringConfig) -> dict[str, Any]:
    """A ConfigMap holding the dashboard, labelled for Grafana's dashboard sidecar."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"{dashboard.uid}-dashboard",
            "namespace": config.dashboards.namespace,
            "labels": {
                "grafana_dashboard": "1",
                "app.kubernetes.io/name": "kubeheal",
                "app.kubernetes.io/component": "monitoring",
            },
        },
        "data": {f"{dashboard.uid}.json": dashboard.json},
    }


def render_dashboard_configmap(dashboard: Dashboard, config: MonitoringConfig) -> str:
    return dump_yaml(dashboard_configmap(dashboard, config))

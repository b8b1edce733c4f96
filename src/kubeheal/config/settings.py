"""The settings object: one tree of validated values, nested per concern.

Every field has a default and a description, so ``Settings()`` is a working configuration.
Nothing here reads the environment at import time: ``load_settings`` takes the config file
path and the environment mapping as parameters and is called once by the CLI.

Errors: every problem with a config file or an environment override is raised as
``SettingsError`` (a ``ValueError``) naming the file or variable and the field.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)

from kubeheal.config.base import Duration, SettingsError, parse_duration
from kubeheal.config.base import Section as _Section
from kubeheal.config.errors import format_validation_error
from kubeheal.config.notifications import (
    PAGERDUTY_EVENTS_URL,
    ChannelSettings,
    EscalationLevelSettings,
    EscalationPolicySettings,
    NotificationRouteSettings,
    NotificationSettings,
)

__all__ = [
    "PAGERDUTY_EVENTS_URL",
    "AnomalyQuerySettings",
    "AnomalySettings",
    "ChannelSettings",
    "DetectionSettings",
    "Duration",
    "EscalationLevelSettings",
    "EscalationPolicySettings",
    "FinopsBounds",
    "FinopsSettings",
    "ForecastQuerySettings",
    "GuardSettings",
    "IncidentSettings",
    "NodeGroupSettings",
    "NotificationRouteSettings",
    "NotificationSettings",
    "PlaybookSettings",
    "RemediationSettings",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "SloSettings",
    "WebhookSettings",
    "load_settings",
    "parse_duration",
]

logger = logging.getLogger(__name__)

ENV_PREFIX = "KUBEHEAL_"


class DetectionSettings(_Section):
    """Thresholds of the detectors."""

    restart_rate_min_restarts: int = Field(
        3, ge=1, description="Restarts a container needs before its restart rate is judged."
    )
    restart_rate_per_hour: float = Field(
        6.0, gt=0, description="Restarts per hour of pod life that count as a high restart rate."
    )
    restart_rate_recent_within: Duration = Field(
        timedelta(minutes=15),
        description="A container whose last restart is older than this is not reported for "
        "its restart rate, however high its lifetime rate (kube-prometheus's "
        "KubePodCrashLooping looks at restarts in the last 10-15 min the same way).",
    )
    oom_recent_within: Duration = Field(
        timedelta(hours=1),
        description="An OOMKilled termination older than this is no longer reported.",
    )
    readiness_failing_for: Duration = Field(
        timedelta(minutes=3),
        description="A running pod not ready for longer than this is reported.",
    )
    unschedulable_for: Duration = Field(
        timedelta(seconds=30),
        description="A Pending pod the scheduler rejected for longer than this is reported.",
    )
    rollout_recent_within: Duration = Field(
        timedelta(minutes=30),
        description="A ReplicaSet created within this window counts as a recent rollout.",
    )
    new_replicaset_grace: Duration = Field(
        timedelta(seconds=60),
        description="Pods of a new ReplicaSet get this long to become ready before they count.",
    )
    node_not_ready_for: Duration = Field(
        timedelta(seconds=60),
        description="A node whose Ready condition is not True for longer than this is reported.",
    )
    uncordon_after: Duration = Field(
        timedelta(minutes=10),
        description="A node kubeheal cordoned or drained that has been Ready without memory or "
        "disk pressure for this long is reported as recovered (and made schedulable again).",
    )
    missing_pdb: bool = Field(
        True, description="Report workloads with several replicas and no PodDisruptionBudget."
    )
    missing_pdb_min_replicas: int = Field(
        2, ge=2, description="Replicas from which a workload should have a PodDisruptionBudget."
    )
    missing_pdb_grace: Duration = Field(
        timedelta(minutes=10),
        description="How long a workload must have existed (from its creationTimestamp) "
        "without any PodDisruptionBudget covering it before it is reported, so that a PDB "
        "applied with it, or just after it, lands before kubeheal creates a second one.",
    )


class IncidentSettings(_Section):
    """How signals become incidents."""

    flapping_threshold: int = Field(
        3,
        ge=2,
        description="Openings of incidents for one target within the window that mean "
        "flapping; an earlier incident counts when it had a signal kind in common with the new "
        "one or kubeheal took a disruptive action in it (docs/playbooks.md, Flapping).",
    )
    flapping_window: Duration = Field(
        timedelta(hours=1), description="Window in which re-openings are counted."
    )
    unmatched_escalate_after: Duration = Field(
        timedelta(seconds=60),
        description="How long an incident that no enabled playbook matches stays open before "
        "it is escalated with its signals as evidence (a signal a playbook matches may still "
        "arrive within it; docs/playbooks.md, Unmatched incidents).",
    )


class NodeGroupSettings(_Section):
    """A node group an autoscaler (Cluster Autoscaler, Karpenter, the twin's ``node-group``
    scenario) can grow: its nodes carry ``match_labels``; new nodes are sized like its
    existing members."""

    name: str = Field(min_length=1, description="The group's name, for the reasons.")
    match_labels: dict[str, str] = Field(
        min_length=1, description="Labels every node of the group carries."
    )
    max_nodes: int = Field(ge=1, description="The group's maximum size (the autoscaler's max).")


class GuardSettings(_Section):
    """Safety limits applied to every action."""

    cooldown: Duration = Field(
        timedelta(minutes=10), description="Minimum time between two actions on one target."
    )
    max_attempts_per_incident: int = Field(
        3, ge=1, description="Actions tried for one incident before it is escalated."
    )
    namespace_budget_per_hour: int = Field(
        10, ge=0, description="Actions per namespace per hour; beyond it kubeheal escalates."
    )
    global_budget_per_hour: int = Field(
        30, ge=0, description="Actions per hour cluster-wide; beyond it kubeheal escalates."
    )
    max_disrupted_share: float = Field(
        0.25,
        gt=0,
        le=1,
        description="Largest share of a workload's pods that may be unavailable at once "
        "(at least one pod is always allowed).",
    )
    max_cordoned_share: float = Field(
        0.2, gt=0, le=1, description="Largest share of nodes that may be cordoned at once."
    )
    max_concurrent_drains: int = Field(
        1, ge=1, description="Nodes kubeheal may cordon or drain at the same time cluster-wide."
    )
    node_lock: str = Field(
        "kube-node-lease/kubeheal-node-maintenance",
        description="namespace/name of the Lease held while a node is drained, so that kubeheal "
        "replicas (and tools honouring it) drain one node at a time cluster-wide; empty: none.",
    )
    excluded_namespaces: tuple[str, ...] = Field(
        ("kube-system",), description="Namespaces kubeheal never acts in."
    )
    kill_switch: bool = Field(
        False, description="Stop all actions (the ConfigMap switch is passed in the history)."
    )
    kill_switch_configmap: str = Field(
        "kubeheal-system/kubeheal-kill-switch",
        description="namespace/name of the ConfigMap whose data.disabled='true' stops all actions.",
    )
    kill_switch_unknown_escalate_after: Duration = Field(
        timedelta(minutes=15),
        description="While the kill switch ConfigMap cannot be read (any error but 404), no "
        "action is taken; an incident that has waited this long for it is escalated to humans.",
    )
    node_groups: tuple[NodeGroupSettings, ...] = Field(
        (),
        description="Node groups an autoscaler grows: a drain whose pods do not fit on the "
        "other schedulable nodes proceeds when one of them is below its max_nodes and an empty "
        "node of its size holds each pod that does not fit (guard capacity).",
    )
    dry_run: bool = Field(False, description="Plan everything, change nothing.")
    gitops_policy: Literal["least-persistent", "escalate"] = Field(
        "least-persistent",
        description="For GitOps-owned workloads: take only non-persistent actions "
        "(least-persistent) or never act (escalate); both escalate with the patch to commit.",
    )


class RemediationSettings(_Section):
    """Hard caps that bound the parameters of every playbook."""

    max_memory_limit: str = Field(
        "8Gi", description="No memory limit is ever raised above this quantity."
    )
    max_replicas: int = Field(50, ge=1, description="No workload is ever scaled above this.")
    max_hpa_max_replicas: int = Field(
        100, ge=1, description="No HPA maxReplicas is ever raised above this."
    )


class PlaybookSettings(_Section):
    """Where playbooks come from."""

    builtins: bool = Field(True, description="Load the built-in playbooks.")
    directories: tuple[Path, ...] = Field(
        (), description="Extra directories of playbook YAML files."
    )
    disabled: tuple[str, ...] = Field((), description="Names of playbooks to turn off.")


class ServerSettings(_Section):
    """kubeheal's HTTP server: listen address and authentication.

    Authentication covers every path except /healthz, /livez and /readyz (and /metrics unless
    ``metrics_auth``): a bearer token (``Authorization: Bearer <token>``) when a token is
    configured, basic auth when a password is configured, either when both are. Secrets come
    from a file (re-read when it changes, e.g. a mounted Kubernetes Secret) or the environment
    (``KUBEHEAL_SERVER__TOKEN``); they are never logged. With ``auth: required`` and no secret
    configured every protected request is refused.
    """

    listen: str = Field(
        "127.0.0.1:8080",
        description="host:port of the HTTP server (webhook, API, /metrics, health); the "
        "--listen option of `kubeheal run` overrides it.",
    )
    auth: Literal["required", "none"] = Field(
        "required",
        description="'required': every request but health (and /metrics unless metrics_auth) "
        "needs valid credentials; 'none' turns authentication off (logged as a warning).",
    )
    token: SecretStr | None = Field(None, description="Bearer token (prefer token_file).")
    token_file: Path | None = Field(None, description="File holding the bearer token.")
    username: str = Field("kubeheal", min_length=1, description="User name of basic auth.")
    password: SecretStr | None = Field(
        None, description="Password of basic auth (prefer password_file)."
    )
    password_file: Path | None = Field(None, description="File holding the basic-auth password.")
    metrics_auth: bool = Field(False, description="Require credentials on /metrics too.")
    viewer_token: SecretStr | None = Field(
        None,
        description="Read-only token of the web console (prefer viewer_token_file): logging "
        "in with it gives the viewer role, which sees every page and changes nothing; the "
        "token and password give the operator role. Not accepted by the API.",
    )
    viewer_token_file: Path | None = Field(
        None, description="File holding the console's read-only token (re-read when it changes)."
    )
    cookie_secure: Literal["auto", "always", "never"] = Field(
        "auto",
        description="The console's cookies get the Secure attribute: 'auto' when the request "
        "came over HTTPS, 'always' (behind a TLS-terminating proxy), or 'never'.",
    )

    @model_validator(mode="after")
    def _one_source_per_secret(self) -> ServerSettings:
        if self.token is not None and self.token_file is not None:
            raise ValueError("set token or token_file, not both")
        if self.password is not None and self.password_file is not None:
            raise ValueError("set password or password_file, not both")
        if self.viewer_token is not None and self.viewer_token_file is not None:
            raise ValueError("set viewer_token or viewer_token_file, not both")
        return self


class WebhookSettings(_Section):
    """The Alertmanager webhook receiver and its durable inbox."""

    enabled: bool = Field(True, description="Serve POST /api/v1/alerts/alertmanager.")
    max_body_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="Larger request bodies are refused with 413."
    )
    max_pending: int = Field(
        20_000,
        ge=1,
        description="Unprocessed alerts the inbox may hold; beyond it the webhook answers 503 "
        "with Retry-After so that Alertmanager retries later.",
    )
    retry_after: Duration = Field(
        timedelta(seconds=10), description="Retry-After of a 503 answer (whole seconds)."
    )
    retention: Duration = Field(
        timedelta(hours=24),
        description="Processed alerts are kept this long (alerts still firing are kept).",
    )
    batch_size: int = Field(500, ge=1, description="Inbox rows turned into signals per pass.")
    alertmanager_url: str = Field(
        "",
        description="Base URL of the Alertmanager that posts to the webhook (e.g. "
        "http://alertmanager-operated.monitoring:9093); when set, /readyz probes it and reports "
        "'degraded' while it is unreachable. Empty: not probed.",
    )


_QUANTITY = re.compile(r"^\d+(\.\d+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")


class FinopsBounds(_Section):
    """Smallest and largest requests/limits right-sizing may recommend (quantities)."""

    min_cpu: str | None = Field("10m", description="Lowest CPU request recommended.")
    max_cpu: str | None = Field(None, description="Highest CPU request recommended.")
    min_memory: str | None = Field("32Mi", description="Lowest memory request/limit recommended.")
    max_memory: str | None = Field(
        None, description="Highest memory limit recommended (below a peak it means OOM kills)."
    )

    @model_validator(mode="after")
    def _quantities(self) -> FinopsBounds:
        for name in ("min_cpu", "max_cpu", "min_memory", "max_memory"):
            value = getattr(self, name)
            if value is not None and not _QUANTITY.match(value):
                raise ValueError(f"{name}: {value!r} is not a quantity like 250m, 1, 512Mi, 2Gi")
        return self


class FinopsSettings(_Section):
    """Right-sizing, waste and monitoring-cost reports (`kubeheal rightsize`)."""

    history: Duration = Field(
        timedelta(days=14), description="Usage history the recommendations rest on."
    )
    step: Duration | None = Field(
        None,
        description="Resolution of the history (per-step peaks and averages); "
        "default: about 2,000 points over the history, at least 1m.",
    )
    min_history: Duration = Field(
        timedelta(days=1),
        description="Containers with less usage history than this get no recommendation.",
    )
    max_series_per_query: int = Field(
        500,
        ge=1,
        description="Containers per Prometheus query; larger scopes are split into batches "
        "(by namespace, then by the last character of pod names).",
    )
    cpu_percentile: float = Field(
        95.0, gt=0, le=100, description="Percentile of per-step CPU averages for the request."
    )
    memory_request_percentile: float = Field(
        99.0,
        gt=0,
        le=100,
        description="Percentile of the steady-state working set for the memory request.",
    )
    memory_request_buffer: float = Field(
        0.10, ge=0, description="Added to the memory request (0.10 = 10%)."
    )
    memory_limit_buffer: float = Field(
        0.15, ge=0, description="Added to the memory peaks that set the limit (0.15 = 15%)."
    )
    oom_factor: float = Field(
        1.25, ge=1, description="The limit is at least the last OOM-killed limit times this."
    )
    startup_window: Duration = Field(
        timedelta(minutes=5),
        description="Time after a container start whose usage counts as start-up, not steady.",
    )
    unseen_startup_headroom: float = Field(
        1.5,
        ge=1,
        description="When no start was seen and no limit is set: limit = peak times this.",
    )
    leak_horizon: Duration = Field(
        timedelta(days=7),
        description="A leaking container's limit covers its working set after this uptime.",
    )
    hpa_aware: bool = Field(
        True,
        description="Never shrink a request an HPA scales on below peak usage / target, so "
        "the HPA scales no more than before.",
    )
    memory_request_equals_limit: bool = Field(
        False, description="Recommend memory request = limit (Guaranteed-style memory)."
    )
    bounds: FinopsBounds = Field(
        default_factory=FinopsBounds, description="Bounds for every namespace."
    )
    namespace_bounds: dict[str, FinopsBounds] = Field(
        {}, description="Bounds per namespace, replacing `bounds` there."
    )
    price_per_core_hour: float = Field(
        0.0316, ge=0, description="Price of one CPU core requested for an hour."
    )
    price_per_gib_hour: float = Field(
        0.0042, ge=0, description="Price of one GiB of memory requested for an hour."
    )
    price_per_storage_gib_month: float = Field(
        0.08, ge=0, description="Price of one GiB of persistent volume for a month."
    )
    overprovisioned_share: float = Field(
        0.2,
        gt=0,
        le=1,
        description="A workload is over-provisioned when right-sizing saves at least this "
        "share of its requested cost.",
    )
    idle_namespace_cores: float = Field(
        0.01,
        ge=0,
        description="A namespace whose total CPU use never exceeds this (cores) is idle.",
    )
    hpa_min_replicas_floor: int = Field(
        2, ge=1, description="Never suggest lowering an HPA's minReplicas below this."
    )
    excluded_namespaces: tuple[str, ...] = Field((), description="Namespaces the reports skip.")
    apply_enabled: bool = Field(
        False,
        description="Run the right-sizing source in the operator: Rightsize signals for the "
        "`rightsize-gradual` playbook (which must be enabled too).",
    )
    prometheus_url: str = Field(
        "http://prometheus-operated.monitoring:9090",
        description="Base URL of the Prometheus the operator's right-sizing source reads.",
    )
    apply_interval: Duration = Field(
        timedelta(hours=1),
        description="Time between two right-sizing passes of the operator (each may start one "
        "step per workload; keep it above the guards' cooldown and above flapping_window / "
        "(flapping_threshold - 1)).",
    )
    apply_namespaces: tuple[str, ...] = Field(
        (), description="Namespaces the operator right-sizes; empty: all."
    )
    apply_min_confidence: Literal["low", "medium", "high"] = Field(
        "medium", description="Recommendations with less confidence are not applied."
    )
    apply_min_change: float = Field(
        0.05,
        ge=0,
        lt=1,
        description="A value within this share of its recommendation is left as it is.",
    )
    apply_pause_after_escalation: Duration = Field(
        timedelta(days=1),
        description="After an incident of a workload is escalated, no right-sizing of it for "
        "this long.",
    )


class AnomalyQuerySettings(_Section):
    """One PromQL expression watched for anomalies (one detector per returned series)."""

    name: str = Field(..., min_length=1, description="Short name, used in signals and metrics.")
    expr: str = Field(..., min_length=1, description="PromQL; each series is one detector.")


class ForecastQuerySettings(_Section):
    """One resource watched for exhaustion: usage against its limit, series matched by labels."""

    resource: Literal["memory", "cpu", "disk", "replicas"] = Field(
        ..., description="What runs out (memory ends in an OOM kill)."
    )
    expr: str = Field(..., min_length=1, description="PromQL of the usage.")
    limit_expr: str = Field(
        ..., min_length=1, description="PromQL of the limit, with the same labels as `expr`."
    )


def _default_anomaly_queries() -> tuple[AnomalyQuerySettings, ...]:
    return (
        AnomalyQuerySettings(
            name="request_rate",
            expr="sum by (namespace, pod) (rate(http_requests_total[2m]))",
        ),
        AnomalyQuerySettings(
            name="error_ratio",
            expr='sum by (namespace, pod) (rate(http_requests_total{status=~"5.."}[2m]))'
            " / sum by (namespace, pod) (rate(http_requests_total[2m]))",
        ),
        AnomalyQuerySettings(
            name="latency_p95",
            expr="histogram_quantile(0.95, sum by (namespace, pod, le) "
            "(rate(http_request_duration_seconds_bucket[2m])))",
        ),
        AnomalyQuerySettings(
            name="cpu",
            expr='sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{container!=""}'
            "[2m]))",
        ),
    )


def _default_forecast_queries() -> tuple[ForecastQuerySettings, ...]:
    return (
        ForecastQuerySettings(
            resource="memory",
            expr="max by (namespace, pod, container) "
            '(container_memory_working_set_bytes{container!=""})',
            limit_expr="max by (namespace, pod, container) "
            '(kube_pod_container_resource_limits{resource="memory"})',
        ),
        ForecastQuerySettings(
            resource="cpu",
            expr="sum by (namespace, pod, container) (rate(container_cpu_usage_seconds_total"
            '{container!=""}[2m]))',
            limit_expr="max by (namespace, pod, container) "
            '(kube_pod_container_resource_limits{resource="cpu"})',
        ),
        ForecastQuerySettings(
            resource="disk",
            expr="max by (namespace, persistentvolumeclaim) (kubelet_volume_stats_used_bytes)",
            limit_expr="max by (namespace, persistentvolumeclaim) "
            "(kubelet_volume_stats_capacity_bytes)",
        ),
        ForecastQuerySettings(
            resource="replicas",
            expr="max by (namespace, horizontalpodautoscaler) "
            "(kube_horizontalpodautoscaler_status_desired_replicas)",
            limit_expr="max by (namespace, horizontalpodautoscaler) "
            "(kube_horizontalpodautoscaler_spec_max_replicas)",
        ),
    )


class AnomalySettings(_Section):
    """Online anomaly detection and exhaustion forecasts over Prometheus series."""

    enabled: bool = Field(False, description="Watch the queries below (needs Prometheus).")
    prometheus_url: str = Field(
        "http://prometheus-operated.monitoring:9090",
        description="Base URL of the Prometheus whose series are watched.",
    )
    interval: Duration = Field(timedelta(minutes=1), description="Time between two polls.")
    step: Duration = Field(timedelta(seconds=30), description="Resolution of the series read.")
    history: Duration = Field(
        timedelta(hours=6),
        description="Series history read when a detector starts (later polls read only what "
        "is new).",
    )
    anomaly_queries: tuple[AnomalyQuerySettings, ...] = Field(
        default_factory=_default_anomaly_queries,
        description="Series scored for anomalies (default: golden signals and CPU per pod).",
    )
    forecast_queries: tuple[ForecastQuerySettings, ...] = Field(
        default_factory=_default_forecast_queries,
        description="Resources forecast against their limits (memory, CPU, volumes, HPAs).",
    )
    forecast_window: Duration = Field(
        timedelta(minutes=30), description="Recent history the trend is fitted on."
    )
    forecast_horizon: Duration = Field(
        timedelta(hours=1), description="Only exhaustion predicted within this time is signalled."
    )
    forecast_confidence: float = Field(
        0.9, gt=0, lt=1, description="Two-sided level of the forecast's interval."
    )
    min_forecast_points: int = Field(
        10, ge=3, description="Points in the window needed before forecasting."
    )
    confirm_window: Duration = Field(
        timedelta(minutes=30),
        description="An anomaly alarm counts as confirmed when another source opens an "
        "incident on the same target within this time; otherwise as a false alarm.",
    )
    max_series: int = Field(
        5000, ge=1, description="Most series watched at once (the rest is skipped and counted)."
    )


class SloSettings(_Section):
    """Service level objectives: the specs the operator evaluates, and the budget policy."""

    specs: tuple[Path, ...] = Field(
        (),
        description="SLO spec files (Sloth prometheus/v1 or OpenSLO v1) or directories of "
        "them that the operator evaluates; empty: no SLOs.",
    )
    prometheus_url: str = Field(
        "http://prometheus-operated.monitoring:9090",
        description="Base URL of the Prometheus the SLOs are evaluated against.",
    )
    default_period: Duration = Field(
        timedelta(days=30),
        description="SLO period of Sloth specs (which carry none); OpenSLO specs have their own.",
    )
    min_events: int = Field(
        20,
        ge=0,
        description="Events the short window of a burn-rate condition needs before it may "
        "fire (events SLIs), so a handful of requests cannot page; 0: no guard.",
    )
    scrape_interval: Duration = Field(
        timedelta(minutes=1),
        description="Scrape interval of the SLI metrics (whole seconds): every alert window "
        "holds at least 4 of them, as `kubeheal slo generate --scrape-interval` floors them, "
        "so the operator reads the same windows as the rules generated with the same value.",
    )
    evaluation_interval: Duration = Field(
        timedelta(seconds=30),
        description="How often the operator asks Prometheus for every SLO's burn rates and "
        "budget (burning SLOs are re-signalled every few seconds in between).",
    )
    budget_policy: bool = Field(
        True,
        description="Freeze disruptive actions on workloads whose error budget is below "
        "freeze_below (and chaos experiments, through budget_allows).",
    )
    freeze_below: float = Field(
        0.1,
        le=1,
        description="Remaining share of the error budget below which disruptive actions are "
        "frozen (0.1: less than 10% left; 0: only once the budget is spent).",
    )
    disruptive_actions: tuple[str, ...] = Field(
        ("restart_pod", "drain_node", "raise_memory_limit", "set_resources"),
        description="Actions the budget policy freezes (restart_pod only when the pod is "
        "ready: restarting a broken pod costs no budget).",
    )
    budget_max_age: Duration = Field(
        timedelta(minutes=10),
        description="Budget figures older than this are ignored by the policy (stale data "
        "neither blocks nor allows).",
    )

    @model_validator(mode="after")
    def _whole_scrape_interval(self) -> SloSettings:
        seconds = self.scrape_interval.total_seconds()
        if seconds <= 0 or seconds != int(seconds):
            raise ValueError("scrape_interval: must be a positive whole number of seconds")
        return self


class Settings(_Section):
    """Every setting of kubeheal, nested per concern."""

    detection: DetectionSettings = Field(default_factory=DetectionSettings)
    incidents: IncidentSettings = Field(default_factory=IncidentSettings)
    guards: GuardSettings = Field(default_factory=GuardSettings)
    remediation: RemediationSettings = Field(default_factory=RemediationSettings)
    playbooks: PlaybookSettings = Field(default_factory=PlaybookSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    finops: FinopsSettings = Field(default_factory=FinopsSettings)
    anomaly: AnomalySettings = Field(default_factory=AnomalySettings)
    slo: SloSettings = Field(default_factory=SloSettings)


def _is_sequence_field(model: type[BaseModel], name: str) -> bool:
    field = model.model_fields.get(name)
    if field is None:
        return False
    origin = getattr(field.annotation, "__origin__", None)
    return origin in (tuple, list)


def _env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """Turn ``KUBEHEAL_GUARDS__COOLDOWN=5m`` into ``{"guards": {"cooldown": "5m"}}``."""
    tree: dict[str, Any] = {}
    for key in sorted(env):
        if not key.startswith(ENV_PREFIX):
            continue
        path = key[len(ENV_PREFIX) :].lower().split("__")
        if len(path) < 2 or path[0] not in Settings.model_fields:
            raise SettingsError(
                f"{key}: unknown setting; use {ENV_PREFIX}<SECTION>__<FIELD>, "
                f"sections: {', '.join(sorted(Settings.model_fields))}"
            )
        section, name = path[0], path[-1]
        section_model = Settings.model_fields[section].annotation
        assert isinstance(section_model, type) and issubclass(section_model, BaseModel)
        raw = env[key]
        if len(path) == 2:
            sequence = _is_sequence_field(section_model, name)
        else:
            # Deeper paths go through named entries, e.g.
            # KUBEHEAL_NOTIFICATIONS__CHANNELS__PAGER__ROUTING_KEY.
            found = _nested_is_sequence(section_model, path[1:])
            if found is None:
                raise SettingsError(f"{key}: unknown setting {'.'.join(path)}")
            sequence = found
        value: Any = [i.strip() for i in raw.split(",") if i.strip()] if sequence else raw
        node = tree.setdefault(section, {})
        for part in path[1:-1]:
            node = node.setdefault(part, {})
        node[name] = value
    return tree


def _nested_is_sequence(model: type[BaseModel], names: list[str]) -> bool | None:
    """Whether the field reached by ``names`` (model fields and mapping keys) takes a list;
    ``None`` when the path leads to no field."""
    annotation: Any = model
    for name in names:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(name)
            if field is None:
                return None
            annotation = field.annotation
        elif getattr(annotation, "__origin__", None) is dict:
            annotation = annotation.__args__[1]
        else:
            return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return None
    return getattr(annotation, "__origin__", None) in (tuple, list)


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def load_settings(path: Path | None, env: Mapping[str, str]) -> Settings:
    """Build the settings from an optional YAML/JSON file, then ``KUBEHEAL_*`` overrides.

    Environment variables name a section and a field joined by a double underscore, e.g.
    ``KUBEHEAL_GUARDS__DRY_RUN=true``; list fields take comma-separated values.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise SettingsError(f"{path}: cannot read settings: {e}") from e
        try:
            loaded = yaml.safe_load(text)
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as e:
            raise SettingsError(f"{path}: not valid YAML: {e}") from e
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise SettingsError(f"{path}: settings must be a mapping of sections")
        data = loaded
        try:
            Settings.model_validate(data)
        except ValidationError as e:
            raise SettingsError(format_validation_error(e, file=str(path), root=root)) from e
    overrides = _env_overrides(env)
    try:
        settings = Settings.model_validate(_merge(data, overrides))
    except ValidationError as e:
        raise SettingsError(format_validation_error(e, file="environment")) from e
    logger.debug("settings loaded from %s with %d overrides", path, len(overrides))
    return settings

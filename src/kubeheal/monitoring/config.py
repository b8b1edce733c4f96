"""Settings of the generated monitoring: thresholds, windows, `for` durations, routing.

Every field has the default an SRE would start with; a YAML file given to
`kubeheal generate monitoring --config FILE` overrides any of them. Durations are written as
Prometheus writes them (``30s``, ``5m``, ``1h30m``) or as a number of seconds, and are kept
as whole seconds.

Pure: no I/O (the CLI reads the file and hands the text to `parse_monitoring_config`).

Exception tree::

    ValueError
    └── MonitoringConfigError   the configuration is not valid YAML or a field is wrong; the
                                message names the field, e.g. ``golden_signals.latency.for``
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)

from kubeheal.config.errors import format_validation_error

__all__ = [
    "AlertmanagerConfig",
    "CostConfig",
    "DashboardsConfig",
    "GoldenSignalsConfig",
    "KubehealHealthConfig",
    "KubernetesConfig",
    "MonitoringConfig",
    "MonitoringConfigError",
    "PrometheusRuleConfig",
    "format_duration",
    "parse_duration",
    "parse_monitoring_config",
    "validate_monitoring_config",
]


class MonitoringConfigError(ValueError):
    """The monitoring configuration is invalid; the message names the field."""


_UNITS = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_UNIT_SECONDS = dict(_UNITS)
_DURATION = re.compile(r"^(?:\d+[wdhms])+$")
_PART = re.compile(r"(\d+)([wdhms])")


def parse_duration(value: object) -> object:
    """``"1h30m"``, ``"90s"`` or a whole number of seconds -> seconds (int).

    Other values are passed through for pydantic to reject with its own message.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a duration must not be negative, got {value}")
        return value
    if isinstance(value, float):
        if value < 0 or not value.is_integer():
            raise ValueError(f"a duration must be a whole number of seconds, got {value}")
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        if not _DURATION.match(text):
            raise ValueError(
                f"invalid duration {value!r}: use Prometheus units like 30s, 5m, 1h30m, 1d"
            )
        return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(text))
    return value


def format_duration(seconds: int) -> str:
    """Seconds as the shortest Prometheus duration (``5400`` -> ``"1h30m"``, ``0`` -> ``"0s"``)."""
    if seconds == 0:
        return "0s"
    parts: list[str] = []
    rest = seconds
    for unit, size in _UNITS:
        if unit == "w" and rest % size:
            continue  # weeks only when exact: "10d" reads better than "1w3d"
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


Duration = Annotated[
    int,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    Field(ge=0),
]
Ratio = Annotated[float, Field(gt=0, lt=1)]
_K8S_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)


class _Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True
    )


_FOR = (
    "How long the alert's condition must hold before it fires (its `for`, written `for:` in "
    "the file; 0s: at once)."
)


class _Alert(_Section):
    """One alert's settings; `for` is how long its condition must hold before it fires."""

    for_: Duration = Field(0, alias="for", description=_FOR)


# ---------------------------------------------------------------------------- golden signals


class LatencyConfig(_Alert):
    """HighLatency: a quantile of request latency above a threshold."""

    for_: Duration = Field(600, alias="for", description=_FOR)
    quantile: Ratio = 0.95
    """Latency quantile, computed from the request-duration histogram."""
    threshold_seconds: float = Field(0.5, gt=0)
    """The alert fires when the quantile is above this many seconds."""


class TrafficConfig(_Alert):
    """HighTraffic: request rate far above its own recent baseline."""

    for_: Duration = Field(300, alias="for", description=_FOR)
    spike_factor: float = Field(3.0, gt=1)
    """Fires when the rate is more than this many times the baseline."""
    baseline_window: Duration = 3600
    """The baseline is the average rate over this window (ending one rate window ago)."""


class ErrorRateConfig(_Alert):
    """HighErrorRate: share of 5xx answers among all requests."""

    for_: Duration = Field(300, alias="for", description=_FOR)
    warning_ratio: Ratio = 0.05
    """Share of 5xx answers above which a warning fires."""
    critical_ratio: Ratio | None = 0.2
    """Share of 5xx answers above which a critical alert fires too (null: no critical tier)."""

    @model_validator(mode="after")
    def _tiers_ordered(self) -> ErrorRateConfig:
        if self.critical_ratio is not None and self.critical_ratio <= self.warning_ratio:
            raise ValueError("critical_ratio must be above warning_ratio")
        return self


class SaturationConfig(_Alert):
    """HighCPUSaturation / HighMemorySaturation: usage as a share of the limit."""

    for_: Duration = Field(900, alias="for", description=_FOR)
    ratio: Ratio = 0.9
    """Fires when usage is above this share of the container limit."""


class MemorySaturationConfig(SaturationConfig):
    """HighMemorySaturation: working set as a share of the memory limit."""

    for_: Duration = Field(300, alias="for", description=_FOR)


class GoldenSignalsConfig(_Section):
    """Latency, traffic, errors and saturation of the workloads' HTTP services."""

    min_request_rate: float = Field(0.5, gt=0)
    """Requests per second a workload must serve before latency and error alerts apply (so
    three failed requests of an idle service do not page anyone)."""
    latency: LatencyConfig = LatencyConfig()
    """HighLatency."""
    traffic: TrafficConfig = TrafficConfig()
    """HighTraffic."""
    errors: ErrorRateConfig = ErrorRateConfig()
    """HighErrorRate (a warning and an optional critical tier)."""
    cpu_saturation: SaturationConfig = SaturationConfig()
    """HighCPUSaturation."""
    memory_saturation: MemorySaturationConfig = MemorySaturationConfig()
    """HighMemorySaturation."""


# ---------------------------------------------------------------------------- kubernetes


class CrashLoopConfig(_Alert):
    """PodCrashLooping: CrashLoopBackOff, or several restarts within a window."""

    for_: Duration = Field(300, alias="for", description=_FOR)
    restarts: int = Field(3, ge=2)
    """Restarts within `window` that count as crash-looping (at least 2: one restart is not a
    crash loop)."""
    window: Duration = 900
    """Window over which restarts are counted."""


class VolumeUsageConfig(_Alert):
    """PersistentVolumeUsageHigh: share of a volume's capacity in use."""

    for_: Duration = Field(300, alias="for", description=_FOR)
    warning_ratio: Ratio = 0.8
    """Share of the capacity in use above which a warning fires."""
    critical_ratio: Ratio | None = 0.95
    """Share in use above which a critical alert fires too (null: no critical tier)."""

    @model_validator(mode="after")
    def _tiers_ordered(self) -> VolumeUsageConfig:
        if self.critical_ratio is not None and self.critical_ratio <= self.warning_ratio:
            raise ValueError("critical_ratio must be above warning_ratio")
        return self


class ReplicasMismatchConfig(_Alert):
    """KubeDeploymentReplicasMismatch: fewer available replicas than desired, no rollout."""

    for_: Duration = Field(900, alias="for", description=_FOR)
    rollout_window: Duration = 600
    """A Deployment whose updated replicas changed within this window is rolling out and is
    not reported."""


class NodeMemoryPressureConfig(_Alert):
    """NodeMemoryPressure: the kubelet reports the MemoryPressure condition."""

    for_: Duration = Field(120, alias="for", description=_FOR)


class PodNotReadyConfig(_Alert):
    """KubePodNotReady: a pod neither ready nor finished."""

    for_: Duration = Field(900, alias="for", description=_FOR)


class HpaMaxedOutConfig(_Alert):
    """KubeHpaMaxedOut: an HPA running at its maxReplicas."""

    for_: Duration = Field(900, alias="for", description=_FOR)


class NodeNotReadyConfig(_Alert):
    """NodeNotReady: a node's Ready condition is False or Unknown."""

    for_: Duration = Field(300, alias="for", description=_FOR)


class KubernetesConfig(_Section):
    """Pods, nodes, volumes, Deployments and HPAs, from kube-state-metrics and the kubelet."""

    crash_loop: CrashLoopConfig = CrashLoopConfig()
    """PodCrashLooping."""
    node_memory_pressure: NodeMemoryPressureConfig = NodeMemoryPressureConfig()
    """NodeMemoryPressure."""
    volume_usage: VolumeUsageConfig = VolumeUsageConfig()
    """PersistentVolumeUsageHigh (a warning and an optional critical tier)."""
    pod_not_ready: PodNotReadyConfig = PodNotReadyConfig()
    """KubePodNotReady."""
    replicas_mismatch: ReplicasMismatchConfig = ReplicasMismatchConfig()
    """KubeDeploymentReplicasMismatch."""
    hpa_maxed_out: HpaMaxedOutConfig = HpaMaxedOutConfig()
    """KubeHpaMaxedOut."""
    node_not_ready: NodeNotReadyConfig = NodeNotReadyConfig()
    """NodeNotReady."""


# ---------------------------------------------------------------------------- cost


class OverProvisionedConfig(_Alert):
    """OverProvisionedPods: a workload using a small share of what it requests."""

    for_: Duration = Field(21600, alias="for", description=_FOR)
    cpu_usage_ratio: Ratio = 0.2
    """Fires when CPU usage stays below this share of the CPU requests."""
    memory_usage_ratio: Ratio = 0.3
    """Fires when the memory working set stays below this share of the memory requests."""
    window: Duration = 3600
    """Usage is averaged over this window."""

    @model_validator(mode="after")
    def _for_covers_window(self) -> OverProvisionedConfig:
        # rate() divides by the whole window: a pod younger than the window looks idle
        if self.for_ < self.window:
            raise ValueError("for must be at least window (a young pod looks idle otherwise)")
        return self


class IneffectiveHpaConfig(_Alert):
    """IneffectiveHPA: an HPA pinned at minReplicas (> 1) with its metrics far below target."""

    for_: Duration = Field(21600, alias="for", description=_FOR)
    utilization_ratio: Ratio = 0.5
    """Fires when every metric of the HPA is below this share of its target."""


class UnusedVolumesConfig(_Alert):
    """UnusedPersistentVolumes: a PersistentVolume bound to no claim."""

    for_: Duration = Field(86400, alias="for", description=_FOR)


class CostConfig(_Section):
    """Money spent on capacity nobody uses."""

    over_provisioned: OverProvisionedConfig = OverProvisionedConfig()
    """OverProvisionedPods."""
    unused_volumes: UnusedVolumesConfig = UnusedVolumesConfig()
    """UnusedPersistentVolumes."""
    ineffective_hpa: IneffectiveHpaConfig = IneffectiveHpaConfig()
    """IneffectiveHPA."""


# ---------------------------------------------------------------------------- kubeheal itself


class RemediationsFailingConfig(_Alert):
    """KubehealRemediationsFailing: most of kubeheal's recent actions failed."""

    for_: Duration = Field(300, alias="for", description=_FOR)
    ratio: Ratio = 0.5
    """Fires when more than this share of the finished actions failed..."""
    min_failures: int = Field(3, ge=1)
    """...and at least this many failed within the window."""
    window: Duration = 1800
    """Window over which finished and failed actions are counted."""


class BudgetExhaustedConfig(_Alert):
    """KubehealActionBudgetExhausted: the action budget (circuit breaker) stopped a plan."""

    for_: Duration = Field(0, alias="for", description=_FOR)
    window: Duration = 900
    """The alert stays active this long after the last blocked plan."""


class KubehealDownConfig(_Alert):
    """KubehealDown: no kubeheal instance answers Prometheus' scrapes."""

    for_: Duration = Field(300, alias="for", description=_FOR)


class KubehealHealthConfig(_Section):
    """kubeheal's own health, from its /metrics."""

    job: str = Field("kubeheal", min_length=1)
    """The `job` label Prometheus gives kubeheal's /metrics target."""
    down: KubehealDownConfig = KubehealDownConfig()
    """KubehealDown."""
    remediations_failing: RemediationsFailingConfig = RemediationsFailingConfig()
    """KubehealRemediationsFailing."""
    budget_exhausted: BudgetExhaustedConfig = BudgetExhaustedConfig()
    """KubehealActionBudgetExhausted."""


# ---------------------------------------------------------------------------- outputs


class AlertmanagerConfig(_Section):
    """The generated Alertmanager configuration (routes, receivers, inhibitions)."""

    webhook_url: str = "http://kubeheal.kubeheal.svc:8080/api/v1/alerts/alertmanager"
    """kubeheal's Alertmanager webhook (`--webhook-url` overrides it)."""
    secrets_dir: str = "/etc/alertmanager/secrets/kubeheal-alertmanager"
    """Directory holding the credential files: `kubeheal-token`, `slack-api-url`,
    `pagerduty-routing-key`, `smtp-password` (kube-prometheus-stack mounts the Secret named
    after the last path element here)."""
    slack_channel_critical: str = "#alerts-critical"
    """Slack channel of critical alerts."""
    slack_channel_warning: str = "#alerts"
    """Slack channel of warnings."""
    email_to: str = "oncall@example.com"
    """Recipient of the e-mailed (info) alerts."""
    email_from: str = "alertmanager@example.com"
    """From address of Alertmanager's e-mails."""
    smtp_smarthost: str = "smtp.example.com:587"
    """SMTP server (host:port) Alertmanager sends e-mail through."""
    smtp_auth_username: str = "alertmanager"
    """SMTP AUTH user name (the password is the `smtp-password` file in `secrets_dir`)."""
    info_receiver: Literal["email", "null"] = "email"
    """Where info alerts go: e-mail, or nowhere ('null')."""
    group_wait: Duration = 30
    """How long Alertmanager waits to group a new alert with others before notifying people."""
    group_interval: Duration = 300
    """How long it waits before notifying people of new alerts in a group already notified."""
    repeat_interval: Duration = 14400
    """How long it waits before notifying people again of an alert still firing."""
    webhook_group_wait: Duration = 5
    """group_wait of the route to kubeheal: part of the floor of its reaction time."""
    webhook_group_interval: Duration = 30
    """group_interval of the route to kubeheal."""
    webhook_repeat_interval: Duration = 3600
    """repeat_interval of the route to kubeheal (kubeheal also sees the resolution)."""

    @model_validator(mode="after")
    def _valid(self) -> AlertmanagerConfig:
        if not re.match(r"^https?://[^\s/]+", self.webhook_url):
            raise ValueError(f"webhook_url must be an http(s) URL, got {self.webhook_url!r}")
        if not self.secrets_dir.startswith("/"):
            raise ValueError("secrets_dir must be an absolute path")
        for name in ("group_interval", "repeat_interval", "webhook_group_interval"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        return self


class PrometheusRuleConfig(_Section):
    """Metadata of the generated PrometheusRule custom resources."""

    namespace: str = "monitoring"
    """Namespace of the PrometheusRule resources."""
    labels: dict[str, str] = Field(default_factory=lambda: {"release": "kube-prometheus-stack"})
    """Labels the Prometheus operator's ruleSelector looks for (kube-prometheus-stack selects
    `release: <release name>` by default)."""

    @field_validator("labels")
    @classmethod
    def _label_keys(cls, labels: dict[str, str]) -> dict[str, str]:
        for key in labels:
            if not _K8S_LABEL_KEY.match(key):
                raise ValueError(f"invalid label key {key!r}")
        return labels


class DashboardsConfig(_Section):
    """The generated Grafana dashboards and their ConfigMaps."""

    namespace: str = "monitoring"
    """Namespace of the dashboard ConfigMaps (where Grafana's sidecar looks)."""
    refresh: str = "30s"
    """Grafana's auto-refresh interval of the dashboards."""
    time_from: str = "now-6h"
    """Start of the dashboards' default time range (Grafana's syntax)."""


class MonitoringConfig(_Section):
    """Everything `kubeheal generate monitoring` needs; every field has a default."""

    rate_window: Duration = 300
    """Window of rate() for the golden signals (at least four scrape intervals)."""
    evaluation_interval: Duration | None = None
    """Evaluation interval of the generated rule groups (null: Prometheus' global one)."""
    runbook_base_url: str = "https://github.com/kubeheal/kubeheal/blob/main/docs/monitoring.md"
    """Each alert's runbook_url is this URL plus `#<alert name in lower case>`."""
    golden_signals: GoldenSignalsConfig = GoldenSignalsConfig()
    """Alerts on the workloads' latency, traffic, errors and saturation."""
    kubernetes: KubernetesConfig = KubernetesConfig()
    """Alerts on pods, nodes, volumes, Deployments and HPAs."""
    cost: CostConfig = CostConfig()
    """Alerts on capacity paid for and not used."""
    kubeheal: KubehealHealthConfig = KubehealHealthConfig()
    """Alerts on kubeheal's own health."""
    alertmanager: AlertmanagerConfig = AlertmanagerConfig()
    """The generated Alertmanager configuration."""
    prometheus_rule: PrometheusRuleConfig = PrometheusRuleConfig()
    """Namespace and labels of the generated PrometheusRule resources."""
    dashboards: DashboardsConfig = DashboardsConfig()
    """The generated Grafana dashboards."""

    @model_validator(mode="after")
    def _consistent(self) -> MonitoringConfig:
        if self.rate_window <= 0:
            raise ValueError("rate_window must be positive")
        traffic = self.golden_signals.traffic
        if traffic.baseline_window < 4 * (self.rate_window + traffic.for_):
            raise ValueError(
                "golden_signals.traffic.baseline_window must be at least 4 x (rate_window + "
                "golden_signals.traffic.for), so that a spike does not become its own baseline"
            )
        return self

    @classmethod
    def fast(
        cls, *, webhook_url: str | None = None, secrets_dir: str | None = None
    ) -> MonitoringConfig:
        """Windows and `for` durations for a Prometheus scraping and evaluating every second.

        For end-to-end tests and demos against the cluster twin: rate windows of 10 s, no
        `for` on the alerts kubeheal acts on, Alertmanager waits of a second. Never use it
        in production: it pages on every blip.
        """
        alertmanager: dict[str, object] = {
            "group_wait": "1s",
            "group_interval": "1s",
            "webhook_group_wait": "0s",
            "webhook_group_interval": "1s",
        }
        if webhook_url is not None:
            alertmanager["webhook_url"] = webhook_url
        if secrets_dir is not None:
            alertmanager["secrets_dir"] = secrets_dir
        return validate_monitoring_config(
            {
                "rate_window": "10s",
                "golden_signals": {
                    "min_request_rate": 0.1,
                    "latency": {"for": "0s"},
                    "traffic": {"for": "0s", "baseline_window": "2m"},
                    "errors": {"for": "0s"},
                    "cpu_saturation": {"for": "0s"},
                    "memory_saturation": {"for": "0s"},
                },
                "kubernetes": {
                    "crash_loop": {"for": "0s", "window": "1m"},
                    "node_memory_pressure": {"for": "0s"},
                    "volume_usage": {"for": "0s"},
                    "pod_not_ready": {"for": "30s"},
                    "replicas_mismatch": {"for": "30s", "rollout_window": "30s"},
                    "hpa_maxed_out": {"for": "0s"},
                    "node_not_ready": {"for": "0s"},
                },
                "kubeheal": {
                    "down": {"for": "10s"},
                    "remediations_failing": {"for": "0s", "window": "1m"},
                    "budget_exhausted": {"window": "1m"},
                },
                "alertmanager": alertmanager,
            }
        )


def validate_monitoring_config(data: object) -> MonitoringConfig:
    """A mapping (parsed YAML/JSON) as a `MonitoringConfig`; errors name the field."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise MonitoringConfigError("the monitoring configuration must be a mapping")
    try:
        return MonitoringConfig.model_validate(data)
    except ValidationError as e:
        raise MonitoringConfigError(format_validation_error(e, sep="; ")) from e


def parse_monitoring_config(text: str) -> MonitoringConfig:
    """YAML (or JSON) text as a `MonitoringConfig`; errors name the field at fault."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise MonitoringConfigError(f"not valid YAML: {e}") from e
    return validate_monitoring_config(data)

"""The Alertmanager configuration kubeheal ships: routes, receivers, inhibitions.

Route tree (first match wins unless `continue`)::

    root (receiver slack-warning: anything unrouted still reaches a human)
    ├── alertname="PodCrashLooping"                       -> kubeheal   (continue)
    ├── kubeheal="remediate", alertname!="PodCrashLooping" -> kubeheal   (continue)
    ├── alertname=~"Watchdog|InfoInhibitor"                -> null
    ├── severity="critical"                                -> pagerduty-and-slack
    ├── severity="warning"                                 -> slack-warning
    └── severity="info"                                    -> email-info (or null)

The kubeheal routes come first and continue, so an alert kubeheal acts on still reaches the
humans its severity calls for. Credentials are never inlined: every receiver reads them from
files under `AlertmanagerConfig.secrets_dir` (a mounted Secret).

Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from kubeheal.monitoring.config import MonitoringConfig, format_duration
from kubeheal.monitoring.render import dump_yaml

__all__ = [
    "CRASH_LOOP_ALERT",
    "RECEIVER_CRITICAL",
    "RECEIVER_INFO",
    "RECEIVER_KUBEHEAL",
    "RECEIVER_NULL",
    "RECEIVER_WARNING",
    "SECRET_FILES",
    "alertmanager_config",
    "render_alertmanager_config",
]

RECEIVER_KUBEHEAL = "kubeheal"
RECEIVER_CRITICAL = "pagerduty-and-slack"
RECEIVER_WARNING = "slack-warning"
RECEIVER_INFO = "email-info"
RECEIVER_NULL = "null"
CRASH_LOOP_ALERT = "PodCrashLooping"

# key of the Secret (file name under secrets_dir) -> what it holds
SECRET_FILES = {
    "kubeheal-token": "bearer token of kubeheal's webhook (server.token_file of kubeheal)",
    "slack-api-url": "Slack incoming-webhook URL",
    "pagerduty-routing-key": "PagerDuty Events API v2 integration (routing) key",
    "smtp-password": "password of the SMTP account sending e-mail",
}

_SLACK_TITLE = (
    '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] '
    "{{ .CommonLabels.alertname }} ({{ .CommonLabels.severity }})"
)
_SLACK_TEXT = (
    "{{ range .Alerts }}*{{ .Annotations.summary }}*\n"
    "{{ .Annotations.description }}\n"
    "<{{ .Annotations.runbook_url }}|Runbook>\n"
    "{{ end }}"
)


def _file(config: MonitoringConfig, key: str) -> str:
    return f"{config.alertmanager.secrets_dir.rstrip('/')}/{key}"


def _slack(config: MonitoringConfig, channel: str) -> dict[str, Any]:
    return {
        "api_url_file": _file(config, "slack-api-url"),
        "channel": channel,
        "send_resolved": True,
        "title": _SLACK_TITLE,
        "text": _SLACK_TEXT,
    }


def _receivers(config: MonitoringConfig) -> list[dict[str, Any]]:
    am = config.alertmanager
    return [
        {
            "name": RECEIVER_KUBEHEAL,
            "webhook_configs": [
                {
                    "url": am.webhook_url,
                    "send_resolved": True,
                    "max_alerts": 0,
                    "http_config": {
                        "authorization": {
                            "type": "Bearer",
                            "credentials_file": _file(config, "kubeheal-token"),
                        }
                    },
                }
            ],
        },
        {
            "name": RECEIVER_CRITICAL,
            "pagerduty_configs": [
                {
                    "routing_key_file": _file(config, "pagerduty-routing-key"),
                    "send_resolved": True,
                    "severity": "critical",
                    "description": "{{ .CommonAnnotations.summary }}",
                }
            ],
            "slack_configs": [_slack(config, am.slack_channel_critical)],
        },
        {"name": RECEIVER_WARNING, "slack_configs": [_slack(config, am.slack_channel_warning)]},
        {
            "name": RECEIVER_INFO,
            "email_configs": [
                {
                    "to": am.email_to,
                    "from": am.email_from,
                    "smarthost": am.smtp_smarthost,
                    "auth_username": am.smtp_auth_username,
                    "auth_password_file": _file(config, "smtp-password"),
                    "require_tls": True,
                    "send_resolved": True,
                }
            ],
        },
        {"name": RECEIVER_NULL},
    ]


def alertmanager_config(config: MonitoringConfig | None = None) -> dict[str, Any]:
    """The Alertmanager configuration as a mapping (the alertmanager.yml schema)."""
    config = config if config is not None else MonitoringConfig()
    am = config.alertmanager
    to_kubeheal = {
        "receiver": RECEIVER_KUBEHEAL,
        "group_by": ["..."],
        "group_wait": format_duration(am.webhook_group_wait),
        "group_interval": format_duration(am.webhook_group_interval),
        "repeat_interval": format_duration(am.webhook_repeat_interval),
        "continue": True,
    }
    route = {
        "receiver": RECEIVER_WARNING,
        "group_by": ["alertname", "namespace", "instance"],
        "group_wait": format_duration(am.group_wait),
        "group_interval": format_duration(am.group_interval),
        "repeat_interval": format_duration(am.repeat_interval),
        "routes": [
            {"matchers": [f'alertname="{CRASH_LOOP_ALERT}"'], **to_kubeheal},
            {
                "matchers": ['kubeheal="remediate"', f'alertname!="{CRASH_LOOP_ALERT}"'],
                **to_kubeheal,
            },
            {"receiver": RECEIVER_NULL, "matchers": ['alertname=~"Watchdog|InfoInhibitor"']},
            {"receiver": RECEIVER_CRITICAL, "matchers": ['severity="critical"']},
            {"receiver": RECEIVER_WARNING, "matchers": ['severity="warning"']},
            {
                "receiver": RECEIVER_INFO if am.info_receiver == "email" else RECEIVER_NULL,
                "matchers": ['severity="info"'],
            },
        ],
    }
    inhibit_rules = [
        {
            # the critical tier of an alert silences its warning tier about the same target
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity="warning"'],
            "equal": ["alertname", "instance"],
        },
        {
            # a node that is down explains its CPU, memory and disk alerts
            "source_matchers": ['alertname=~"NodeDown|NodeNotReady"'],
            "target_matchers": ['alertname=~"Node(CPU|Memory|Disk).*"'],
            "equal": ["node"],
        },
    ]
    return {
        "global": {"resolve_timeout": "5m"},
        "route": route,
        "inhibit_rules": inhibit_rules,
        "receivers": _receivers(config),
    }


def render_alertmanager_config(config: MonitoringConfig | None = None) -> str:
    """alertmanager.yml text."""
    return dump_yaml(alertmanager_config(config))

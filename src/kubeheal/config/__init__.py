"""Settings: one object, nested per concern, built once by the CLI."""

from kubeheal.config.settings import (
    ChannelSettings,
    DetectionSettings,
    Duration,
    GuardSettings,
    IncidentSettings,
    NotificationSettings,
    PlaybookSettings,
    RemediationSettings,
    ServerSettings,
    Settings,
    SettingsError,
    WebhookSettings,
    load_settings,
    parse_duration,
)

__all__ = [
    "ChannelSettings",
    "DetectionSettings",
    "Duration",
    "GuardSettings",
    "IncidentSettings",
    "NotificationSettings",
    "PlaybookSettings",
    "RemediationSettings",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "WebhookSettings",
    "load_settings",
    "parse_duration",
]

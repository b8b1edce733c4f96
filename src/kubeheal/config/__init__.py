"""Settings: one object, nested per concern, built once by the CLI."""

from kubeheal.config.settings import (
    DetectionSettings,
    Duration,
    GuardSettings,
    IncidentSettings,
    PlaybookSettings,
    RemediationSettings,
    Settings,
    SettingsError,
    load_settings,
    parse_duration,
)

__all__ = [
    "DetectionSettings",
    "Duration",
    "GuardSettings",
    "IncidentSettings",
    "PlaybookSettings",
    "RemediationSettings",
    "Settings",
    "SettingsError",
    "load_settings",
    "parse_duration",
]

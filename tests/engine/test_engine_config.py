"""Settings: defaults, file, environment overrides, precise errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from kubeheal.config import Settings, SettingsError, load_settings, parse_duration


def test_defaults_are_complete_and_documented() -> None:
    settings = Settings()
    assert settings.guards.excluded_namespaces == ("kube-system",)
    assert settings.guards.cooldown == timedelta(minutes=10)
    for section in Settings.model_fields.values():
        model = section.annotation
        for name, field in model.model_fields.items():  # type: ignore[union-attr]
            assert field.description, f"{name} has no description"


def test_load_file_then_env(tmp_path: Path) -> None:
    path = tmp_path / "kubeheal.yaml"
    path.write_text(
        "guards:\n  cooldown: 2m\n  dry_run: false\ndetection:\n  restart_rate_per_hour: 3\n"
    )
    env = {
        "KUBEHEAL_GUARDS__DRY_RUN": "true",
        "KUBEHEAL_GUARDS__EXCLUDED_NAMESPACES": "kube-system, monitoring",
        "HOME": "/root",
    }
    settings = load_settings(path, env)
    assert settings.guards.cooldown == timedelta(minutes=2)
    assert settings.guards.dry_run is True
    assert settings.guards.excluded_namespaces == ("kube-system", "monitoring")
    assert settings.detection.restart_rate_per_hour == 3.0


def test_no_file_gives_defaults() -> None:
    assert load_settings(None, {}) == Settings()


def test_file_error_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("guards:\n  cooldown: soon\n  bogus: 1\n")
    with pytest.raises(SettingsError) as info:
        load_settings(path, {})
    text = str(info.value)
    assert str(path) in text
    assert "guards.cooldown" in text
    assert "guards.bogus" in text


def test_env_errors() -> None:
    with pytest.raises(SettingsError, match="KUBEHEAL_NOPE"):
        load_settings(None, {"KUBEHEAL_NOPE": "1"})
    with pytest.raises(SettingsError, match=r"guards\.max_attempts_per_incident"):
        load_settings(None, {"KUBEHEAL_GUARDS__MAX_ATTEMPTS_PER_INCIDENT": "zero"})


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("90s", 90), ("5m", 300), ("1h30m", 5400), (12, 12), ("2.5", 2.5), ("1d", 86400)],
)
def test_parse_duration(raw: object, seconds: float) -> None:
    assert parse_duration(raw) == timedelta(seconds=seconds)


@pytest.mark.parametrize("raw", ["", "5x", "m5", "5m junk"])
def test_parse_duration_errors(raw: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(raw)

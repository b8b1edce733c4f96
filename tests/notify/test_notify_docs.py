"""docs/notifications.md describes every notification setting and channel field, and the
example policy in it is a valid configuration."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

import kubeheal.notify
from kubeheal.config import Settings
from kubeheal.config.settings import ChannelSettings, NotificationSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "notifications.md"


def test_every_setting_is_documented() -> None:
    text = DOC.read_text()
    for name in NotificationSettings.model_fields:
        assert f"`{name}`" in text, f"notifications.{name} is not in docs/notifications.md"
    for name in ChannelSettings.model_fields:
        assert f"`{name}`" in text, f"channel field {name} is not in docs/notifications.md"


def test_the_documented_policy_is_valid() -> None:
    block = re.search(r"```yaml\n(notifications:.*?)```", DOC.read_text(), re.DOTALL)
    assert block is not None
    settings = Settings.model_validate(yaml.safe_load(block.group(1)))
    policies = settings.notifications.policies
    assert [level.after.total_seconds() for level in policies["default"].levels] == [
        300,
        900,
        1800,
        3600,
    ]
    assert {c.type for c in settings.notifications.channels.values()} == {
        "slack",
        "teams",
        "email",
        "pagerduty",
        "webhook",
    }


def test_the_public_surface_is_importable() -> None:
    for name in kubeheal.notify.__all__:
        assert getattr(kubeheal.notify, name) is not None

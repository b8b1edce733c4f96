"""Secrets (webhook URLs, the PagerDuty routing key, the HMAC key, the SMTP password) come from
files or the environment and never appear in logs, errors or the ledger."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any

import pytest

from kubeheal.config import Settings, SettingsError, load_settings
from kubeheal.config.settings import ChannelSettings
from kubeheal.model.core import Target, TargetKind
from kubeheal.runtime.notifications import NotificationService
from kubeheal.runtime.operator import OperatorEvent
from kubeheal.store.outbox import NotificationStore, OutboxState

CART = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="cart")
SECRETS = (
    "R0UT1NGKEY0123456789abcdefSECRET",
    "T000/B000/XXslacktokenSECRET",
    "teamsSIGsecretQQ",
    "whsec-hmac-SECRET-value",
    "smtp-pa55word-SECRET",
)


def _assert_clean(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"a secret leaked into {where}"


async def test_no_secret_in_logs_errors_or_the_ledger(
    kit: Any, clock: Any, receiver: Any, smtp_tls: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = kit.settings(receiver, smtp_tls, retry_initial="1s", retry_max="2s")
    everything = [{"after": "0s", "channels": sorted(settings.channels)}]
    settings = settings.model_copy(
        update={"policies": {"default": type(settings.policies["default"])(levels=everything)}}
    )
    # Receivers that fail first, echoing what they were sent (the token is in the URL path,
    # the routing key in the body), then accept.
    for kind in ("slack", "teams", "pagerduty", "webhook"):
        receiver.reply(
            kind,
            {
                "status": 500,
                "text": "oops SECRET echo T000/B000/XXslacktokenSECRET"
                " R0UT1NGKEY0123456789abcdefSECRET teamsSIGsecretQQ",
            },
        )
    receiver.reply("slack", {"status": 400, "text": "invalid_token"})
    clock.at(100)
    with kit.open() as ledger:
        kit.incident(ledger)
        async with NotificationService(ledger=ledger, settings=settings, clock=clock) as service:
            service.on_event(
                OperatorEvent(
                    at=clock(), kind="escalated", target=CART, message="x", incident_id="inc-1"
                )
            )
            for _ in range(6):
                await service.tick()
                clock.advance(5)
            items = NotificationStore(ledger).items_for_incident("inc-1")
        assert {i.state for i in items} == {OutboxState.SENT, OutboxState.FAILED}
        errors = " ".join(i.last_error or "" for i in items)
        assert "HTTP 400: invalid_token" in errors
        _assert_clean(errors, "the recorded errors")
        _assert_clean(repr(items), "the outbox records")
    assert "[redacted]" in caplog.text  # the echoes were logged, masked
    _assert_clean(caplog.text, "the logs")
    for path in kit.tmp_path.iterdir():
        if path.name.startswith("ledger.db"):
            _assert_clean(path.read_bytes().decode("latin-1"), f"the ledger file {path.name}")
    _assert_clean(repr(settings), "the settings' repr")
    _assert_clean(settings.model_dump_json(), "the settings as JSON")
    assert receiver.violations == []
    assert len(receiver.of("pagerduty")) == 1


def test_secrets_come_from_files_and_are_re_read_at_use(tmp_path: Path) -> None:
    key_file = tmp_path / "routing-key"
    key_file.write_text("first-key-SECRET\n")
    channel = ChannelSettings(type="pagerduty", routing_key_file=key_file)
    secret = channel.secret("routing_key")
    assert secret is not None and secret.get_secret_value() == "first-key-SECRET"
    key_file.write_text("rotated-key-SECRET")  # a Secret volume being updated
    rotated = channel.secret("routing_key")
    assert rotated is not None and rotated.get_secret_value() == "rotated-key-SECRET"
    key_file.unlink()
    with pytest.raises(SettingsError) as missing:
        channel.secret("routing_key")
    assert "routing_key_file" in str(missing.value)
    assert "SECRET" not in str(missing.value)


def test_secrets_come_from_the_environment_and_are_never_echoed(tmp_path: Path) -> None:
    config = tmp_path / "kubeheal.yaml"
    config.write_text(
        "notifications:\n"
        "  channels:\n"
        "    pager: {type: pagerduty}\n"
        "    mail: {type: email, smtp_host: smtp.example.org, email_from: k@example.org,\n"
        "           email_to: [a@example.org], smtp_username: kubeheal}\n"
        "  policies:\n"
        "    default: {levels: [{after: 5m, channels: [pager, mail]}]}\n"
    )
    env = {
        "KUBEHEAL_NOTIFICATIONS__CHANNELS__PAGER__ROUTING_KEY": SECRETS[0],
        "KUBEHEAL_NOTIFICATIONS__CHANNELS__MAIL__SMTP_PASSWORD": SECRETS[4],
        "KUBEHEAL_NOTIFICATIONS__CHANNELS__MAIL__EMAIL_TO": "a@example.org, b@example.org",
    }
    settings = load_settings(config, env)
    channels = settings.notifications.channels
    pager = channels["pager"].secret("routing_key")
    assert pager is not None and pager.get_secret_value() == SECRETS[0]
    assert channels["mail"].email_to == ("a@example.org", "b@example.org")
    _assert_clean(repr(settings), "repr")
    # A mistake next to a secret: the error names the field, never the value.
    bad = {**env, "KUBEHEAL_NOTIFICATIONS__CHANNELS__PAGER__ROUTING_KEY_FILE": "/run/x"}
    with pytest.raises(SettingsError) as caught:
        load_settings(config, bad)
    assert "routing_key or routing_key_file, not both" in str(caught.value)
    _assert_clean("".join(traceback.format_exception(caught.value)), "the settings error")
    with pytest.raises(SettingsError, match="unknown setting"):
        load_settings(config, {"KUBEHEAL_NOTIFICATIONS__CHANNELS__PAGER__NOPE__X": "1"})


def test_channel_and_policy_references_are_checked() -> None:
    # A secret may come from the environment later: not an error, but reported.
    lacking = Settings.model_validate({"notifications": {"channels": {"s": {"type": "slack"}}}})
    assert lacking.notifications.channels["s"].missing_secrets() == ("url",)
    with pytest.raises(ValueError, match="needs smtp_host, email_from, email_to"):
        Settings.model_validate({"notifications": {"channels": {"m": {"type": "email"}}}})
    with pytest.raises(ValueError, match="unknown channel"):
        Settings.model_validate(
            {"notifications": {"policies": {"p": {"levels": [{"after": 0, "channels": ["x"]}]}}}}
        )
    with pytest.raises(ValueError, match="unknown policy"):
        Settings.model_validate({"notifications": {"routes": [{"policy": "nope"}]}})
    with pytest.raises(ValueError, match="order of their"):
        Settings.model_validate(
            {
                "notifications": {
                    "channels": {"s": {"type": "slack", "url": "https://x"}},
                    "policies": {
                        "p": {
                            "levels": [
                                {"after": "10m", "channels": ["s"]},
                                {"after": "5m", "channels": ["s"]},
                            ]
                        }
                    },
                }
            }
        )
    assert Settings().notifications.channels == {}

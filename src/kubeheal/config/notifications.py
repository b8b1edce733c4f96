"""Notification settings: channels (with their secrets), escalation policies and routes.

Part of `Settings` (``notifications:``); import them from `kubeheal.config`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from kubeheal.config.base import Duration, SettingsError
from kubeheal.config.base import Section as _Section

__all__ = [
    "PAGERDUTY_EVENTS_URL",
    "ChannelSettings",
    "ChannelType",
    "EscalationLevelSettings",
    "EscalationPolicySettings",
    "NotificationRouteSettings",
    "NotificationSettings",
]


ChannelType = Literal["slack", "pagerduty", "email", "teams", "webhook"]
"""The kinds of notification channel kubeheal can send to."""

_SECRET_FIELDS = ("url", "routing_key", "signing_secret", "smtp_password")

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
"""The PagerDuty Events API v2 endpoint, used when a pagerduty channel names no ``url``."""


class ChannelSettings(_Section):
    """One destination of notifications. Secrets are given inline (or from the environment,
    ``KUBEHEAL_NOTIFICATIONS__CHANNELS__<NAME>__<FIELD>``) or read from a file
    (``<field>_file``, e.g. a mounted Kubernetes Secret, re-read at every delivery so a
    rotated secret is picked up), not both. They are never logged, never stored in the ledger
    and never part of an error message."""

    type: ChannelType = Field(description="slack, pagerduty, email, teams or webhook.")
    url: SecretStr | None = Field(
        None,
        description="Slack incoming webhook URL, Teams workflow/incoming webhook URL or generic "
        "webhook endpoint (secret: Slack and Teams URLs carry their token); for pagerduty the "
        f"Events API v2 endpoint (default {PAGERDUTY_EVENTS_URL}).",
    )
    url_file: Path | None = Field(None, description="File holding `url`.")
    routing_key: SecretStr | None = Field(
        None, description="PagerDuty: the integration (routing) key of the service."
    )
    routing_key_file: Path | None = Field(None, description="File holding `routing_key`.")
    signing_secret: SecretStr | None = Field(
        None,
        description="Generic webhook: the HMAC-SHA256 key signing every request "
        "(X-Kubeheal-Signature); unsigned when absent.",
    )
    signing_secret_file: Path | None = Field(None, description="File holding `signing_secret`.")
    smtp_host: str = Field("", description="E-mail: the SMTP server.")
    smtp_port: int = Field(587, ge=1, le=65535, description="E-mail: the SMTP port.")
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        "starttls",
        description="E-mail: starttls (upgrade a plain connection, required), tls (implicit "
        "TLS, usually port 465) or none (only for a relay on localhost).",
    )
    smtp_username: str = Field("", description="E-mail: SMTP AUTH user name (no AUTH if empty).")
    smtp_password: SecretStr | None = Field(None, description="E-mail: SMTP AUTH password.")
    smtp_password_file: Path | None = Field(None, description="File holding `smtp_password`.")
    email_from: str = Field("", description="E-mail: the From address.")
    email_to: tuple[str, ...] = Field((), description="E-mail: the recipients.")
    ca_file: Path | None = Field(
        None, description="PEM bundle of CAs trusted for this endpoint (private CAs)."
    )
    timeout: Duration = Field(
        timedelta(seconds=10), description="Connect/read timeout of one delivery attempt."
    )

    def secret(self, name: str) -> SecretStr | None:
        """The secret ``name`` (url, routing_key, signing_secret, smtp_password): inline, or
        read now from its file. Raises `SettingsError` (without the secret) if the file
        cannot be read or is empty."""
        if name not in _SECRET_FIELDS:
            raise ValueError(f"{name} is not a secret of a channel")
        value: SecretStr | None = getattr(self, name)
        path: Path | None = getattr(self, f"{name}_file")
        if value is not None or path is None:
            return value
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise SettingsError(f"{name}_file: cannot read {path}: {e.strerror or e}") from None
        if not text:
            raise SettingsError(f"{name}_file: {path} is empty")
        return SecretStr(text)

    @model_validator(mode="after")
    def _complete(self) -> ChannelSettings:
        for name in _SECRET_FIELDS:
            if getattr(self, name) is not None and getattr(self, f"{name}_file") is not None:
                raise ValueError(f"set {name} or {name}_file, not both")
        missing: list[str] = []
        if self.type == "email":
            missing += [
                name
                for name, value in (
                    ("smtp_host", self.smtp_host),
                    ("email_from", self.email_from),
                    ("email_to", self.email_to),
                )
                if not value
            ]
            if self._given("smtp_password") and not self.smtp_username:
                missing.append("smtp_username (smtp_password is set)")
        if missing:
            raise ValueError(f"a {self.type} channel needs {', '.join(missing)}")
        return self

    def _given(self, name: str) -> bool:
        return getattr(self, name) is not None or getattr(self, f"{name}_file") is not None

    def missing_secrets(self) -> tuple[str, ...]:
        """The secrets this channel needs and was given no value or file for. Not a
        validation error: a config file may leave them to the environment (which is merged
        after the file is checked); kubeheal warns at start and refuses to send."""
        needed = {"slack": ("url",), "teams": ("url",), "webhook": ("url",),
                  "pagerduty": ("routing_key",)}.get(self.type, ())  # fmt: skip
        return tuple(name for name in needed if not self._given(name))


class EscalationLevelSettings(_Section):
    """One rung of an escalation policy."""

    after: Duration = Field(
        description="Wait from the start of the escalation before this level is notified."
    )
    channels: tuple[str, ...] = Field(description="Names of the channels told at this level.")
    name: str = Field("", description="A label for messages (e.g. chat, on-call, management).")


class EscalationPolicySettings(_Section):
    """Levels climbed one after the other until someone acknowledges or the incident ends."""

    levels: tuple[EscalationLevelSettings, ...] = Field(
        (), description="The levels, in the order of their waits."
    )

    @model_validator(mode="after")
    def _ordered(self) -> EscalationPolicySettings:
        waits = [level.after for level in self.levels]
        if waits != sorted(waits):
            raise ValueError("levels must be listed in the order of their `after` waits")
        return self


class NotificationRouteSettings(_Section):
    """Which policy handles an incident, by its category and severity (empty: any)."""

    categories: tuple[str, ...] = Field(
        (), description="Incident categories matched (critical, performance, capacity, ...)."
    )
    severities: tuple[str, ...] = Field(
        (), description="Severities matched (critical, warning, info)."
    )
    policy: str = Field(description="Name of the escalation policy to use.")


class NotificationSettings(_Section):
    """Escalation policies, routes and channels, and how notifications are delivered."""

    channels: dict[str, ChannelSettings] = Field(
        default_factory=dict, description="Channels by name."
    )
    policies: dict[str, EscalationPolicySettings] = Field(
        default_factory=dict, description="Escalation policies by name."
    )
    routes: tuple[NotificationRouteSettings, ...] = Field(
        (), description="Routes tried in order; the first that matches picks the policy."
    )
    default_policy: str = Field(
        "default",
        description="Policy of incidents no route matches (none: such incidents are not "
        "escalated to anyone).",
    )
    unresolved_after: Duration = Field(
        timedelta(minutes=30),
        description="An incident still unresolved this long after it opened is escalated even "
        "though kubeheal is still working on it (0: only when kubeheal gives up).",
    )
    resolve_quiet_after: Duration = Field(
        timedelta(minutes=2),
        description="An escalated incident whose problem has not been observed for this long "
        "counts as resolved, and that is announced.",
    )
    lookback: Duration = Field(
        timedelta(hours=24),
        description="At start, incidents escalated this recently without an escalation are "
        "picked up (kubeheal stopped between escalating and recording it).",
    )
    min_update_interval: Duration = Field(
        timedelta(minutes=5),
        description="Rate limit: at most one progress update per incident per interval "
        "(what happens in between is summed up in the next one).",
    )
    max_updates_per_incident: int = Field(
        10,
        ge=0,
        description="Progress updates per incident at most (levels, acknowledgement "
        "and resolution are always sent).",
    )
    retry_initial: Duration = Field(
        timedelta(seconds=5), description="First retry delay of a failed delivery."
    )
    retry_max: Duration = Field(
        timedelta(minutes=10), description="Largest retry delay (exponential back-off, jitter)."
    )
    give_up_after: Duration = Field(
        timedelta(hours=24),
        description="A notification still undelivered this long after it was recorded is "
        "marked failed (and logged as an error).",
    )
    claim_timeout: Duration = Field(
        timedelta(minutes=2),
        description="A delivery started but never marked done (kubeheal stopped mid-send) is "
        "retried after this long.",
    )
    poll_interval: Duration = Field(
        timedelta(seconds=1), description="How often the delivery loop looks for due work."
    )
    cluster: str = Field("", description="Cluster name shown in every message.")
    dashboard_url: str = Field(
        "",
        description="Dashboard link template; {namespace}, {name}, {kind} and {incident_id} "
        "are filled in (URL-encoded).",
    )
    runbook_url: str = Field(
        "",
        description="Runbook link template used when no alert of the incident carries a "
        "runbook_url annotation; same placeholders as dashboard_url.",
    )
    timeline_entries: int = Field(
        15, ge=1, le=100, description="Timeline entries shown in a message (the latest)."
    )

    @model_validator(mode="after")
    def _references(self) -> NotificationSettings:
        problems: list[str] = []
        for name, policy in self.policies.items():
            for i, level in enumerate(policy.levels):
                unknown = sorted(set(level.channels) - set(self.channels))
                if unknown:
                    problems.append(
                        f"policies.{name}.levels.{i}: unknown channel(s) {', '.join(unknown)}"
                    )
        for i, route in enumerate(self.routes):
            if route.policy not in self.policies:
                problems.append(f"routes.{i}: unknown policy {route.policy!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

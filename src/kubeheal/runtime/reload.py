"""Reloading the settings file while running: on SIGHUP, and when the file changes.

The file is polled (its modification time, size and inode: a ConfigMap volume swaps a
symlink, which changes all three) every ``interval`` seconds; ``request()`` (the SIGHUP
handler) makes the next check immediate and unconditional. A new version is validated in full
first (``load``: the same function that built the settings at start, environment overrides
and command-line options included). Then:

- an invalid file is refused: the last good settings stay in use, one error line names the
  file and every bad field (``guards.cooldown: ...``), and ``settings_error`` says so (shown
  by /readyz as *degraded*) until a valid version is loaded;
- the sections in ``LIVE_SECTIONS`` are applied at once (``update_settings``): detection
  thresholds, incident grouping, guards (cooldown, budgets, blast radius, kill switch,
  dry-run, excluded namespaces), remediation limits, notification routes, policies and
  channels;
- changes to the other sections (``RESTART_SECTIONS``) are logged as needing a restart and
  not applied: the listen address and authentication, the webhook, playbook directories
  (the playbooks themselves reload on their own), SLO, anomaly and finops sources. The
  ledger URL and leader election are command-line options, fixed for the process.

Secrets are never logged: only the names of changed fields are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from kubeheal.config import Settings, SettingsError

__all__ = ["LIVE_SECTIONS", "RESTART_SECTIONS", "Reload", "Reloadable", "SettingsReloader"]

log = logging.getLogger(__name__)

LIVE_SECTIONS = ("detection", "incidents", "guards", "remediation", "notifications")
"""Sections applied while running."""
RESTART_SECTIONS = ("server", "webhook", "playbooks", "slo", "anomaly", "finops")
"""Sections read once at start: a change is logged and applies at the next restart."""


class Reloadable(Protocol):
    """What the reloader updates (`kubeheal.runtime.operator.Operator`)."""

    settings: Settings
    settings_error: str

    def update_settings(self, settings: Settings) -> None: ...


@dataclass(frozen=True)
class Reload:
    """What one reload did: the fields applied and those that need a restart."""

    applied: tuple[str, ...]
    needs_restart: tuple[str, ...]


def _changed(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str) -> list[str]:
    return [
        f"{prefix}.{key}" for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)
    ]


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class SettingsReloader:
    """Watches one settings file and applies its live sections (see the module docstring)."""

    def __init__(
        self,
        *,
        path: Path,
        load: Callable[[], Settings],
        target: Reloadable,
        interval: float = 2.0,
    ) -> None:
        self.path = path
        self.load = load
        self.target = target
        self.interval = interval
        self.reloads = 0
        self._stamp = _stamp(path)
        self._requested = asyncio.Event()

    def request(self) -> None:
        """Reload at once, whether the file changed or not (the SIGHUP handler)."""
        self._requested.set()

    def check(self, *, force: bool = False) -> Reload | None:
        """Reload if the file changed (or ``force``); None when nothing was (re)loaded."""
        stamp = _stamp(self.path)
        if not force and stamp == self._stamp:
            return None
        self._stamp = stamp  # an invalid version is reported once, not at every poll
        try:
            fresh = self.load()
        except SettingsError as e:
            message = f"settings not reloaded, keeping the last good settings: {e}"
            log.error("%s", message)  # noqa: TRY400 - the message names the file and fields
            self.target.settings_error = message
            return None
        current = self.target.settings
        applied: list[str] = []
        needs_restart: list[str] = []
        for section in Settings.model_fields:
            old = getattr(current, section).model_dump()
            new = getattr(fresh, section).model_dump()
            changed = _changed(old, new, section)
            (applied if section in LIVE_SECTIONS else needs_restart).extend(changed)
        if needs_restart:
            log.warning(
                "settings changed that apply only after a restart (kept as they are): %s",
                ", ".join(needs_restart),
            )
        update = {section: getattr(fresh, section) for section in LIVE_SECTIONS}
        self.target.settings_error = ""
        if applied:
            self.target.update_settings(current.model_copy(update=update))
            self.reloads += 1
            log.info("settings reloaded from %s: %s", self.path, ", ".join(applied))
        else:
            log.info("settings file %s re-read: no live setting changed", self.path)
        return Reload(applied=tuple(applied), needs_restart=tuple(needs_restart))

    async def run(self) -> None:
        """Check every ``interval`` seconds, or at once after `request`, until cancelled."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._requested.wait(), self.interval)
            forced = self._requested.is_set()
            self._requested.clear()
            try:
                self.check(force=forced)
            except Exception:
                log.exception("settings reload failed; keeping the last good settings")

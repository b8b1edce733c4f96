"""Options of `kubeheal run` that settings reloads and manifests rely on.

- ``--token-file`` is part of the settings at start *and* at every reload, so a reload does
  not warn that ``server.token_file`` changed and needs a restart;
- ``--ledger-file`` reads the ledger location from a file (a mounted Secret), so a
  PostgreSQL password is not on the command line.
"""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubeheal.cli.operator import load_run_settings, read_ledger_location
from kubeheal.config import Settings
from kubeheal.runtime.reload import SettingsReloader


class _Target:
    """What the reloader updates (like the operator)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.settings_error = ""
        self.updates: list[Settings] = []

    def update_settings(self, settings: Settings) -> None:
        self.settings = settings
        self.updates.append(settings)


def test_a_reload_does_not_report_the_token_file_option_as_a_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("server:\n  listen: 127.0.0.1:8080\nguards:\n  cooldown: 5m\n")
    token = tmp_path / "token"
    token.write_text("webhook-token\n")
    load = functools.partial(load_run_settings, config, dry_run=True, token_file=token)
    target = _Target(load())
    assert target.settings.server.token_file == token
    assert target.settings.guards.dry_run is True
    reloader = SettingsReloader(path=config, load=load, target=target)
    config.write_text("server:\n  listen: 127.0.0.1:8080\nguards:\n  cooldown: 7m\n")
    with caplog.at_level(logging.INFO, logger="kubeheal.runtime.reload"):
        result = reloader.check(force=True)
    assert result is not None
    assert result.needs_restart == ()
    assert result.applied == ("guards.cooldown",)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert target.settings.server.token_file == token
    assert target.settings.guards.dry_run is True  # --dry-run survives the reload too


def test_a_real_change_of_the_token_file_still_needs_a_restart(tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text(f"server:\n  token_file: {tmp_path / 'a'}\n")
    load = functools.partial(load_run_settings, config)
    target = _Target(load())
    reloader = SettingsReloader(path=config, load=load, target=target)
    config.write_text(f"server:\n  token_file: {tmp_path / 'b'}\n")
    result = reloader.check(force=True)
    assert result is not None and result.needs_restart == ("server.token_file",)


def test_the_ledger_location_comes_from_the_option_or_the_file(tmp_path: Path) -> None:
    url = "postgresql://kubeheal:pa55-SECRET@postgres:5432/kubeheal"
    secret = tmp_path / "url"
    secret.write_text(url + "\n")
    assert read_ledger_location(None, secret) == url
    assert read_ledger_location("x.db", None) == "x.db"
    assert read_ledger_location(None, None) == "kubeheal-ledger.db"
    with pytest.raises(ValueError, match="--ledger or --ledger-file, not both"):
        read_ledger_location("x.db", secret)
    with pytest.raises(ValueError, match=r"--ledger-file: cannot read .*missing"):
        read_ledger_location(None, tmp_path / "missing")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValueError, match=r"--ledger-file: .*empty is empty"):
        read_ledger_location(None, tmp_path / "empty")


def test_run_refuses_an_unreadable_ledger_file_naming_the_option(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kubeheal.cli.main", "run", "--ledger-file",
         str(tmp_path / "missing"), "--kubeconfig", str(tmp_path / "kubeconfig")],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "--ledger-file: cannot read" in result.stderr

"""Fixtures of the monitoring tests: the real promtool/amtool and generated bundles."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from kubeheal.cli.generate import write_bundle
from kubeheal.monitoring import MonitoringConfig, render_bundle
from kubeheal.twin.promstack import Binaries, PromStackError, find_binaries

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def binaries() -> Binaries:
    """promtool and amtool from Debian's packages; fails (not skips) without them."""
    try:
        return find_binaries()
    except PromStackError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def promtool(binaries: Binaries) -> Run:
    def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binaries.promtool, *args],
            capture_output=True,
            text=True,
            cwd=cwd,
            timeout=120,
            check=False,
        )

    return run


@pytest.fixture(scope="session")
def amtool(binaries: Binaries) -> Run:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binaries.amtool, *args], capture_output=True, text=True, timeout=60, check=False
        )

    return run


Generate = Callable[[str, MonitoringConfig | None], Path]


@pytest.fixture(scope="session")
def generate(tmp_path_factory: pytest.TempPathFactory) -> Generate:
    """Write the bundle of a configuration into a fresh directory; returns the directory."""

    def write(name: str, config: MonitoringConfig | None) -> Path:
        out = tmp_path_factory.mktemp(name)
        write_bundle(render_bundle(config), out)
        return out

    return write


@pytest.fixture(scope="session")
def bundle(generate: Generate) -> Path:
    """The bundle of the default configuration, written once."""
    return generate("monitoring-default", None)

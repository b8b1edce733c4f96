"""Helpers of the SLO tests: the real promtool, and writing generated files to disk."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "slo"
DATA = Path(__file__).parent / "data"

Promtool = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def promtool() -> Promtool:
    """Run the real promtool (Debian prometheus 2.42) with arguments; never raises."""
    binary = shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(binary).exists():
        pytest.fail("promtool is missing: run scripts/setup", pytrace=False)

    def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary, *map(str, args)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=cwd,
        )

    return run


def write_outputs(outputs: Mapping[str, str], directory: Path) -> list[Path]:
    """Write ``{relative path: text}`` under ``directory``; returns the paths."""
    paths = []
    for name, text in outputs.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


@pytest.fixture
def write() -> Callable[[Mapping[str, str], Path], list[Path]]:
    return write_outputs

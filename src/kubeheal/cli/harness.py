"""The operator running against an in-process cluster twin: for the demo and game days.

Starts the twin (API server in a background thread, simulated time optionally accelerated),
then the operator in the caller's event loop, talking to the twin over HTTP exactly as to a
real API server. The operator's clock is the twin's clock, so durations measured by the
ledger are in simulated (cluster) time.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kubeheal.clients.kube import KubeConnection
from kubeheal.config import Settings
from kubeheal.engine.playbooks import PlaybookSet, load_builtin_playbooks
from kubeheal.runtime.metrics import OperatorMetrics
from kubeheal.runtime.operator import Operator, OperatorEvent, OperatorOptions
from kubeheal.store import Ledger
from kubeheal.twin.clock import WallClock
from kubeheal.twin.cluster import Twin, build_twin
from kubeheal.twin.server import serve_in_thread, write_kubeconfig

__all__ = ["Harness", "running_harness"]


@dataclass
class Harness:
    """A twin and an operator wired together."""

    twin: Twin
    url: str
    kubeconfig: Path
    operator: Operator
    ledger: Ledger

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.twin.clock.now(), tz=UTC)


@contextlib.asynccontextmanager
async def running_harness(
    *,
    scenario: str,
    speed: float = 1.0,
    settings: Settings | None = None,
    playbooks: PlaybookSet | None = None,
    ledger_path: Path | None = None,
    sweep_interval: float = 1.0,
    on_event: Callable[[OperatorEvent], None] | None = None,
    seed: int = 0,
    tick: float = 0.1,
) -> AsyncIterator[Harness]:
    """Start the twin with `scenario` and the operator against it; stop both on exit."""
    clock = WallClock(speed=speed)
    twin = build_twin(scenario=scenario, clock=clock, seed=seed)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(serve_in_thread(twin, tick=tick))
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kubeheal-")))
        kubeconfig = write_kubeconfig(workdir / "kubeconfig", server=url)
        ledger = Ledger.open(ledger_path or workdir / "ledger.db", manual_checkpoints=True)
        stack.callback(ledger.close)

        def twin_now() -> datetime:
            return datetime.fromtimestamp(clock.now(), tz=UTC)

        operator = Operator(
            connection=KubeConnection.from_kubeconfig(kubeconfig),
            ledger=ledger,
            settings=settings or Settings(),
            playbooks=playbooks or load_builtin_playbooks(),
            metrics=OperatorMetrics(),
            clock=twin_now,
            options=OperatorOptions(sweep_interval=sweep_interval),
            on_event=on_event,
        )
        await operator.start()
        try:
            yield Harness(
                twin=twin, url=url, kubeconfig=kubeconfig, operator=operator, ledger=ledger
            )
        finally:
            await operator.stop()

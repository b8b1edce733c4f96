"""The operator running against an in-process cluster twin: for the demo and game days.

Starts the twin (API server in a background thread, simulated time optionally accelerated),
then the operator in the caller's event loop, talking to the twin over HTTP exactly as to a
real API server. The operator's clock is the twin's clock, so durations measured by the
ledger are in simulated (cluster) time.

The operator is assembled as `kubeheal run` assembles it (`kubeheal.runtime.assembly`:
alert consumer, notifications, the signal sources the settings enable, health), and its HTTP
side (webhook, API, /metrics, health) is wired too; with ``listen="127.0.0.1:0"`` the app is
served by uvicorn (``Harness.http_url``), e.g. for a real Alertmanager to post to. The inbox
stamps ``received_at`` with the same clock as the operator.
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
from kubeheal.runtime.alerts import AlertConsumer
from kubeheal.runtime.assembly import Assembly, build
from kubeheal.runtime.operator import Operator, OperatorEvent, OperatorOptions
from kubeheal.server.auth import Authenticator
from kubeheal.server.serving import OperatorHttp, operator_http, serving, split_listen
from kubeheal.store import Ledger
from kubeheal.store.inbox import AlertInbox
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
    http: OperatorHttp
    http_url: str | None = None
    """Base URL of the operator's HTTP server when started with ``listen``."""
    assembly: Assembly | None = None
    """Everything built around the operator (`kubeheal.runtime.assembly`)."""

    @property
    def sources(self) -> list[str]:
        """The signal sources the settings enabled (one line each)."""
        return self.assembly.sources.names if self.assembly is not None else []

    @property
    def inbox(self) -> AlertInbox:
        """The webhook's durable alert inbox."""
        return self.http.inbox

    @property
    def alerts(self) -> AlertConsumer | None:
        """The alert consumer (None when ``webhook.enabled`` is off)."""
        return self.http.consumer

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
    listen: str | None = None,
    auth: Authenticator | None = None,
) -> AsyncIterator[Harness]:
    """Start the twin with `scenario` and the operator against it; stop both on exit.

    ``listen`` (``host:port``, port 0 for a free one) also serves the operator's HTTP app;
    ``auth`` defaults to the one ``settings.server`` describes.
    """
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

        settings = settings or Settings()
        async with contextlib.AsyncExitStack() as servers:
            assembly = await build(
                settings,
                KubeConnection.from_kubeconfig(kubeconfig),
                ledger,
                playbooks=playbooks or load_builtin_playbooks(),
                stack=servers,
                clock=twin_now,
                options=OperatorOptions(sweep_interval=sweep_interval),
                on_event=on_event,
            )
            operator = assembly.operator
            http = operator_http(assembly, auth=auth, received_clock=twin_now)
            http_url = None
            if listen is not None:
                host, port = split_listen(listen)
                http_url = await servers.enter_async_context(
                    serving(http.app, host=host, port=port)
                )
            try:
                await operator.start()
                yield Harness(
                    twin=twin,
                    url=url,
                    kubeconfig=kubeconfig,
                    operator=operator,
                    ledger=ledger,
                    http=http,
                    http_url=http_url,
                    assembly=assembly,
                )
            finally:
                await operator.stop()

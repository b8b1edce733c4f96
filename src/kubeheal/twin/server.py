"""Running the twin's API server: in a background thread (tests) or in the foreground (CLI).

Both bind uvicorn to 127.0.0.1 only (port 0 picks a free port) and run the simulation as a
task on the server's event loop, so controllers and request handlers never run at the same
time. `write_kubeconfig` writes a kubeconfig (plain HTTP, no credentials) that kubectl,
lightkube and kubeheal can use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import uvicorn
import yaml

from kubeheal.twin.api import ApiOptions, create_app
from kubeheal.twin.cluster import Twin

__all__ = ["ServerError", "run_server", "serve_in_thread", "write_kubeconfig"]

log = logging.getLogger(__name__)

HOST = "127.0.0.1"


class ServerError(RuntimeError):
    """The API server could not start."""


def write_kubeconfig(
    path: str | Path,
    *,
    server: str,
    context: str = "kubeheal-twin",
    namespace: str = "default",
) -> Path:
    """Write a kubeconfig pointing at `server` (no auth) and return its path."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": server}}],
        "users": [{"name": context, "user": {}}],
        "contexts": [
            {
                "name": context,
                "context": {"cluster": context, "user": context, "namespace": namespace},
            }
        ],
        "current-context": context,
        "preferences": {},
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed into place: whoever waits for the file to appear (scripts,
    # tests, `until [ -f ... ]`) never reads half of it.
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    partial.write_text(yaml.safe_dump(config, sort_keys=False))
    os.replace(partial, target)
    return target


def _bind(port: int) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say they are TCP
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as e:
        sock.close()
        raise ServerError(f"cannot listen on {HOST}:{port}: {e}") from e
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _config(twin: Twin, options: ApiOptions | None, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(twin, options=options),
        lifespan="off",
        ws="none",
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=2,
    )


async def _serve(
    twin: Twin,
    server: uvicorn.Server,
    sock: socket.socket,
    *,
    simulate: bool,
    tick: float,
) -> None:
    sim_task: asyncio.Task[None] | None = None
    if simulate:
        sim_task = asyncio.create_task(twin.simulation.run(interval=tick), name="twin-simulation")
    try:
        await server.serve(sockets=[sock])
    finally:
        if sim_task is not None:
            sim_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sim_task


@contextlib.contextmanager
def serve_in_thread(
    twin: Twin,
    *,
    port: int = 0,
    options: ApiOptions | None = None,
    simulate: bool = True,
    tick: float = 0.1,
    log_level: str = "warning",
) -> Iterator[str]:
    """Serve `twin` on 127.0.0.1 from a background thread; yields the base URL.

    With `simulate` the simulation steps every `tick` wall seconds on the server's loop.
    On exit every watch is closed and the server stops.
    """
    sock = _bind(port)
    actual_port = sock.getsockname()[1]
    server = uvicorn.Server(_config(twin, options, log_level))
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(_serve(twin, server, sock, simulate=simulate, tick=tick))
        except BaseException as e:  # noqa: BLE001 - reported to the caller below
            failure.append(e)

    thread = threading.Thread(target=run, name=f"twin-api-{actual_port}", daemon=True)
    thread.start()
    for _ in range(500):
        if server.started or failure or not thread.is_alive():
            break
        threading.Event().wait(0.01)
    if not server.started:
        server.should_exit = True
        thread.join(5)
        sock.close()
        raise ServerError(f"the twin's API server did not start: {failure or 'timeout'}")
    try:
        yield f"http://{HOST}:{actual_port}"
    finally:
        server.should_exit = True
        twin.store.drop_watches()
        thread.join(10)
        sock.close()


def run_server(
    twin: Twin,
    *,
    port: int,
    kubeconfig_out: str | Path | None = None,
    options: ApiOptions | None = None,
    tick: float = 0.1,
    log_level: str = "info",
) -> None:
    """Serve `twin` in the foreground until interrupted (the CLI's `twin serve`)."""
    sock = _bind(port)
    actual_port = sock.getsockname()[1]
    url = f"http://{HOST}:{actual_port}"
    if kubeconfig_out is not None:
        written = write_kubeconfig(kubeconfig_out, server=url)
        log.info("kubeconfig written to %s", written)
    log.info("cluster twin serving the Kubernetes API at %s", url)
    server = uvicorn.Server(_config(twin, options, log_level))
    try:
        asyncio.run(_serve(twin, server, sock, simulate=True, tick=tick))
    finally:
        twin.store.drop_watches()
        sock.close()

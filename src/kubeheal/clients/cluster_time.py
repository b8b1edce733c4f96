"""Reading the cluster's clock: is the API server a cluster twin running simulated time?

The twin answers ``GET /twin/status`` with its clock (``epochSeconds``, ``time``), its
``speed`` (simulated seconds per wall second) and ``clock`` (``wall`` or ``manual``); a
real API server has no such path (404, or 401/403 without the right to ask). kubeheal
reads it once at start (`read_cluster_time`) so that every timer and threshold of the
operator can follow the cluster's clock instead of the wall (`kubeheal.runtime.clock`).

Exception tree::

    ClusterTimeError        the server could not be asked, or it is a twin whose clock
                            cannot be followed (no speed, a manual clock, nonsense values)

Nothing from the HTTP library leaks past this module.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx2
import msgspec

from kubeheal.clients.kube import KubeConnection, KubeError
from kubeheal.model.text import escape_control

__all__ = ["TWIN_STATUS_PATH", "ClusterTime", "ClusterTimeError", "read_cluster_time"]

TWIN_STATUS_PATH = "/twin/status"

_NOT_A_TWIN = frozenset({401, 403, 404, 405})
"""What a real API server answers for a path it does not serve (or will not let us see)."""


class ClusterTimeError(Exception):
    """The cluster's clock cannot be read: one line, fit for the command line."""


@dataclass(frozen=True, slots=True)
class ClusterTime:
    """The twin's clock as read at one moment: ``epoch`` seconds of simulated time when
    the local monotonic clock read ``monotonic``, running ``speed`` times the wall."""

    epoch: float
    speed: float
    monotonic: float
    server: str


class _Status(msgspec.Struct, rename="camel"):
    """The fields of the twin's status kubeheal reads (the rest is ignored)."""

    scenario: str | None = None
    simulation_steps: int | None = None
    epoch_seconds: float | None = None
    speed: float | None = None
    clock: str | None = None


def _shown(text: str, limit: int = 120) -> str:
    return escape_control(text)[:limit]


async def read_cluster_time(
    connection: KubeConnection,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    timeout: float = 10.0,
) -> ClusterTime | None:
    """The clock of the twin behind ``connection``, or None when the server is not a twin
    (no ``/twin/status``). Raises `ClusterTimeError` when the server cannot be asked or
    answers as a twin whose clock cannot be followed."""
    server = connection.server
    try:
        client = connection.http_client(timeout=timeout, transport=transport)
    except KubeError as e:
        raise ClusterTimeError(f"cannot read the clock of {server}: {e}") from None
    async with client:
        before = monotonic()
        try:
            response = await client.get(server.rstrip("/") + TWIN_STATUS_PATH)
            body = await response.aread()
        except httpx2.TimeoutException:
            raise ClusterTimeError(
                f"cannot read the clock of {server}: no answer within {timeout:.0f}s"
            ) from None
        except httpx2.TransportError as e:
            reason = _shown(str(e)) or type(e).__name__
            raise ClusterTimeError(f"cannot read the clock of {server}: {reason}") from None
        after = monotonic()
    code = response.status_code
    if code in _NOT_A_TWIN:
        return None
    if code != 200:
        raise ClusterTimeError(
            f"cannot read the clock of {server}: {TWIN_STATUS_PATH} answered {code}"
        )
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None  # a 200 that is not the twin's status (e.g. a proxy's page)
    if not isinstance(document, dict) or not {"scenario", "simulationSteps"} <= document.keys():
        return None
    where = f"the twin at {server}"
    try:
        status = msgspec.convert(document, type=_Status)
    except msgspec.ValidationError as e:
        raise ClusterTimeError(
            f"{where} answers {TWIN_STATUS_PATH} with a status kubeheal cannot read: "
            f"{_shown(str(e))}"
        ) from None
    if status.clock == "manual":
        raise ClusterTimeError(
            f"{where} runs a manual clock (it moves only when a test advances it); "
            "kubeheal run cannot follow it"
        )
    speed, epoch = status.speed, status.epoch_seconds
    if speed is None or epoch is None:
        raise ClusterTimeError(
            f"{where} publishes no speed or time at {TWIN_STATUS_PATH} (an older twin?); "
            "kubeheal cannot follow its clock"
        )
    if not (math.isfinite(speed) and 0 < speed <= 10_000):
        raise ClusterTimeError(f"{where} reports speed {speed!r}; expected a number in (0, 10000]")
    if not (math.isfinite(epoch) and epoch > 0):
        raise ClusterTimeError(f"{where} reports time {epoch!r}; expected epoch seconds")
    # The reading was taken somewhere inside the round trip: its middle is the best guess.
    return ClusterTime(epoch=epoch, speed=speed, monotonic=(before + after) / 2, server=server)

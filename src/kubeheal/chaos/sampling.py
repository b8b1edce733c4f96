"""Sampling every Deployment's replicas while chaos runs, for the outage accounting.

`OutageSampler` reads the Deployments every ``interval_s`` cluster seconds through a
``read`` callable (the Kubernetes API on a real cluster: `from_kube`; the twin's object
store, the view its API serves, in process: the caller's function) and keeps the samples
that `kubeheal.chaos.outage.replica_outage` integrates. A read that fails is logged and
skipped: a gap holds the previous sample's counts, it never invents a recovery.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from kubeheal.chaos.outage import (
    DeploymentKey,
    OutageFigures,
    Sample,
    replica_counts,
    replica_outage,
)
from kubeheal.clients.kube import KubeError
from kubeheal.clients.writer import Kind, KubeWriter

__all__ = ["OutageSampler", "from_kube"]

log = logging.getLogger(__name__)

Read = Callable[[], Awaitable[Sequence[Mapping[str, Any]]]]


def from_kube(kube: KubeWriter) -> Read:
    """Read the Deployments of every namespace through the API."""

    async def read() -> Sequence[Mapping[str, Any]]:
        return await kube.list(Kind.DEPLOYMENT, None)

    return read


class OutageSampler:
    """Samples the Deployments' replicas (see the module docstring)."""

    def __init__(
        self,
        *,
        read: Read,
        clock: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[None]],
        interval_s: float = 2.0,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._read = read
        self._clock = clock
        self._sleep = sleep
        self.interval_s = interval_s
        self.samples: list[Sample] = []
        self.failures = 0

    async def sample(self) -> Sample | None:
        """Take one sample now (None when the read failed)."""
        try:
            deployments = await self._read()
        except (KubeError, OSError, RuntimeError) as e:
            self.failures += 1
            log.warning("chaos: cannot read the Deployments for the outage figures: %s", e)
            return None
        sample = Sample(self._clock(), tuple(replica_counts(d) for d in deployments))
        self.samples.append(sample)
        return sample

    async def run(self) -> None:
        """Sample until cancelled."""
        while True:
            started = self._clock()
            await self.sample()
            spent = (self._clock() - started).total_seconds()
            await self._sleep(max(0.0, self.interval_s - spent))

    def figures(
        self,
        *,
        start: datetime,
        end: datetime | None = None,
        scope: Iterable[DeploymentKey] | None = None,
    ) -> OutageFigures:
        return replica_outage(self.samples, start=start, end=end, scope=scope)

    def back_for(
        self, *, since: datetime, scope: Iterable[DeploymentKey] | None, stable: timedelta
    ) -> bool:
        """Whether ``scope`` has had every replica back for ``stable`` (or never missed one)
        since ``since``, judged by the samples so far."""
        if not self.samples or self.samples[-1].at < since:
            return False
        figures = self.figures(start=since, scope=scope)
        if figures.recovered_s is None:
            return False
        back_at = since + timedelta(seconds=figures.recovered_s)
        return figures.recovered_s == 0.0 or self.samples[-1].at - back_at >= stable

"""`SignalSink`: what every signal source needs from the operator.

The watch, the alert consumer (`kubeheal.runtime.alerts`), the anomaly and forecast source
(`kubeheal.runtime.anomaly_source`), the right-sizing source
(`kubeheal.runtime.rightsize_source`) and the SLO source hand their signals to one sink:
the operator's target board (`kubeheal.runtime.targets.TargetBoard`; the `Operator`
satisfies it too). A source that needs more of it (the alert consumer waits for the caches
and for leadership; right-sizing skips targets with an incident in progress) extends this
Protocol with exactly that.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from kubeheal.model.cluster import ClusterView
from kubeheal.model.core import Signal

__all__ = ["SignalSink"]


class SignalSink(Protocol):
    """Where a source hands its signals (`kubeheal.runtime.targets.TargetBoard`)."""

    @property
    def view(self) -> ClusterView:
        """The operator's cluster cache (resolves a pod label to its workload)."""
        ...

    def submit(self, signals: Iterable[Signal]) -> None:
        """Hand signals to their targets."""
        ...

    def now(self) -> datetime:
        """The operator's clock."""
        ...

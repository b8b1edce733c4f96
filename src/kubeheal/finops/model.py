"""Data types of right-sizing: usage history in, recommendations out.

Pure data: no I/O, no clock. Times are epoch seconds, CPU is in cores, memory in bytes.
Usage arrays are numpy float64 arrays of equal length per `Series` (NaN marks a gap).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = [
    "Confidence",
    "ContainerHistory",
    "HpaInfo",
    "PodUsage",
    "Recommendation",
    "ResourceBounds",
    "Resources",
    "Series",
    "Status",
    "WorkloadRef",
]

FloatArray = npt.NDArray[np.float64]


def _empty() -> FloatArray:
    return np.zeros(0, dtype=np.float64)


@dataclass(frozen=True, slots=True, eq=False)
class Series:
    """Samples of one metric: `values[i]` at `timestamps[i]` (the end of a step window)."""

    timestamps: FloatArray = field(default_factory=_empty)
    values: FloatArray = field(default_factory=_empty)

    def __post_init__(self) -> None:
        if self.timestamps.shape != self.values.shape:
            raise ValueError(
                f"timestamps and values differ in shape: {self.timestamps.shape} "
                f"vs {self.values.shape}"
            )

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def finite(self) -> Series:
        """The samples whose value is a number (no NaN, no infinity)."""
        mask = np.isfinite(self.values)
        return Series(self.timestamps[mask], self.values[mask])

    @staticmethod
    def of(points: Mapping[float, float]) -> Series:
        """A series from a {timestamp: value} mapping (for tests and small inputs)."""
        ts = np.array(sorted(points), dtype=np.float64)
        return Series(ts, np.array([points[t] for t in sorted(points)], dtype=np.float64))


@dataclass(frozen=True, slots=True, order=True)
class WorkloadRef:
    """The object whose pod template sets the resources (Deployment, StatefulSet, ...).

    `kind` is ``Pod`` for a pod without a controller; `verified` is False when the owner was
    guessed from the pod name because kube-state-metrics' owner series were missing.
    """

    namespace: str
    kind: str
    name: str
    verified: bool = field(default=True, compare=False)

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True, slots=True)
class Resources:
    """Requests and limits of one container; None means not set (or unknown)."""

    cpu_request: float | None = None
    cpu_limit: float | None = None
    memory_request: float | None = None
    memory_limit: float | None = None


@dataclass(frozen=True, slots=True)
class ResourceBounds:
    """The smallest and largest values a recommendation may take (None: unbounded)."""

    min_cpu: float | None = 0.01
    max_cpu: float | None = None
    min_memory: float | None = 32 * 2**20
    max_memory: float | None = None


@dataclass(frozen=True, slots=True)
class HpaInfo:
    """A HorizontalPodAutoscaler that scales a workload, as kube-state-metrics shows it.

    `targets` maps a resource (``cpu``, ``memory``) to its target average utilization in
    percent; `replicas_max_seen` is the most replicas it had during the history window.
    """

    name: str
    min_replicas: int
    max_replicas: int
    targets: Mapping[str, float] = field(default_factory=dict)
    replicas_max_seen: float | None = None
    replicas_min_seen: float | None = None


@dataclass(frozen=True, slots=True, eq=False)
class PodUsage:
    """One pod's history for one container.

    * `cpu`: mean cores over each step window (every CPU second counted);
    * `memory_peak`: highest working set within each step window (every raw sample seen);
    * `starts`: the container start times seen (values of ``container_start_time_seconds``,
      including starts before the window);
    * `oom_killed_limit`: the largest memory limit at which the container was OOM-killed;
    * `krr_cpu` / `krr_memory`: the samples KRR's own queries return (irate over 1m and the
      instantaneous working set, both sampled every KRR step), used by the baseline only.
    """

    pod: str
    cpu: Series = field(default_factory=Series)
    memory_peak: Series = field(default_factory=Series)
    starts: tuple[float, ...] = ()
    oom_killed_limit: float | None = None
    krr_cpu: Series | None = None
    krr_memory: Series | None = None


@dataclass(frozen=True, slots=True, eq=False)
class ContainerHistory:
    """Everything known about one container of one workload over the history window."""

    workload: WorkloadRef
    container: str
    window_start: float
    window_end: float
    step: float
    pods: tuple[PodUsage, ...] = ()
    current: Resources | None = None
    hpa: HpaInfo | None = None
    # facts the collector could not get, one sentence each (missing series, ...)
    notes: tuple[str, ...] = ()
    oom_data: bool = True

    @property
    def key(self) -> str:
        return f"{self.workload.key}/{self.container}"


class Status(enum.StrEnum):
    """Whether a recommendation was made."""

    OK = "ok"
    NO_RECOMMENDATION = "no-recommendation"


class Confidence(enum.StrEnum):
    """How much history the recommendation rests on."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True, slots=True)
class Recommendation:
    """New requests/limits for one container, with the reasons behind each value.

    `unset` names the fields the new spec must remove (e.g. ``cpu_limit`` for KRR's
    "no CPU limit"); a field that is None and not in `unset` is left as it is.
    """

    workload: WorkloadRef
    container: str
    strategy: str
    status: Status
    current: Resources | None
    recommended: Resources
    unset: frozenset[str] = frozenset()
    confidence: Confidence = Confidence.NONE
    reasons: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    history_seconds: float = 0.0
    replicas: float = 0.0

    @property
    def key(self) -> str:
        return f"{self.workload.key}/{self.container}"

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

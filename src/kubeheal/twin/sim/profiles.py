"""Behaviour profiles of the twin's containers and the traffic offered to its Services.

A `Profile` says how the program in a container behaves: how long its image takes to pull and
it takes to start, what a request costs in CPU and memory, how fast it answers (a log-normal
latency distribution that stretches as the container's CPU saturates), how often it fails,
which services it calls, and what it writes to its log. A `ProfileRegistry` holds the
profiles, the `TrafficPlan` (requests per second offered to Services, with an optional daily
pattern) and the behaviour `Override`s that pod faults install (memory leak, CPU hog, ...).

Which profile a container gets: the pod annotation ``twin.kubeheal.io/profile.<container>``,
else ``twin.kubeheal.io/profile``, else the registry's default profile. The container
quantities (`cpu_quantity`, `memory_quantity`, `container_requests`, `container_limits`)
read profile documents and pod specs alike.

The workload controller that runs these profiles is `kubeheal.twin.sim.workloads`.

Exception tree::

    ValueError
    └── ProfileError   a profile or traffic document is invalid (pydantic's ValidationError
                       is raised as is at the YAML boundary)
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from kubeheal.model.quantity import QuantityError, parse_cpu, parse_memory
from kubeheal.twin.selectors import LabelSelector

__all__ = [
    "NO_EFFECTS",
    "PROFILE_ANNOTATION",
    "Call",
    "DailyPattern",
    "Effects",
    "LatencyModel",
    "LogLines",
    "Override",
    "Profile",
    "ProfileError",
    "ProfileRegistry",
    "TrafficPlan",
    "TrafficSource",
    "container_limits",
    "container_requests",
    "cpu_quantity",
    "image_crashes",
    "image_missing",
    "memory_quantity",
]

PROFILE_ANNOTATION = "twin.kubeheal.io/profile"
_Z99 = 2.3263478740408408  # standard normal quantile of 0.99

Obj = dict[str, Any]


class ProfileError(ValueError):
    """A profile, override or traffic source is invalid."""


# --------------------------------------------------------------------------- quantities


def memory_quantity(value: object) -> int:
    """Bytes from an int or a Kubernetes quantity string (``"64Mi"``)."""
    if isinstance(value, bool):
        raise ProfileError(f"not a memory quantity: {value!r}")
    if isinstance(value, int | float):
        return int(value)
    try:
        return parse_memory(str(value))
    except QuantityError as e:
        raise ProfileError(str(e)) from e


def cpu_quantity(value: object) -> float:
    """Cores from a number or a Kubernetes quantity string (``"250m"``)."""
    if isinstance(value, bool):
        raise ProfileError(f"not a cpu quantity: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    try:
        return parse_cpu(str(value))
    except QuantityError as e:
        raise ProfileError(str(e)) from e


Bytes = Annotated[float, BeforeValidator(memory_quantity), Field(ge=0)]


def _resources(container: Mapping[str, Any], kind: str) -> dict[str, Any]:
    res = container.get("resources") or {}
    value = res.get(kind) or {}
    return dict(value) if isinstance(value, Mapping) else {}


def container_requests(container: Mapping[str, Any]) -> tuple[float, int]:
    """(cpu cores, memory bytes) requested; a missing request defaults to the limit."""
    req, lim = _resources(container, "requests"), _resources(container, "limits")
    cpu = req.get("cpu", lim.get("cpu"))
    mem = req.get("memory", lim.get("memory"))
    return (cpu_quantity(cpu) if cpu is not None else 0.0), (
        memory_quantity(mem) if mem is not None else 0
    )


def container_limits(container: Mapping[str, Any]) -> tuple[float | None, int | None]:
    """(cpu cores, memory bytes) limits, None where unlimited."""
    lim = _resources(container, "limits")
    cpu = lim.get("cpu")
    mem = lim.get("memory")
    return (cpu_quantity(cpu) if cpu is not None else None), (
        memory_quantity(mem) if mem is not None else None
    )


# --------------------------------------------------------------------------- profiles


class LatencyModel(BaseModel):
    """Service time at low load: a log-normal with this median and 99th percentile."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    median_ms: float = Field(20.0, gt=0)
    p99_ms: float = Field(120.0, gt=0)

    @property
    def sigma(self) -> float:
        return max(0.05, math.log(max(self.p99_ms, self.median_ms * 1.01) / self.median_ms) / _Z99)


class Call(BaseModel):
    """A downstream call made for every request (or `per_request` times per request)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: str
    namespace: str | None = None
    per_request: float = Field(1.0, ge=0)


class LogLines(BaseModel):
    """What the program writes to stdout. Request lines are formatted with `str.format`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: list[str] = Field(
        default_factory=lambda: [
            'level=info msg="starting" version={image}',
            'level=info msg="listening" addr=":8080"',
        ]
    )
    ready: list[str] = Field(default_factory=lambda: ['level=info msg="ready to serve"'])
    crash: list[str] = Field(
        default_factory=lambda: [
            'level=error msg="failed to start" image={image} '
            'err="invalid configuration: missing required setting DATABASE_URL"',
            "panic: invalid configuration",
        ]
    )
    request: str = (
        'level=info msg="served requests" count={count} errors={errors} p50_ms={p50_ms:.1f}'
    )
    error: str = 'level=error msg="request failed" status={status} count={errors}'
    oom: list[str] = Field(default_factory=list)
    shutdown: list[str] = Field(
        default_factory=lambda: ['level=info msg="received SIGTERM, shutting down"']
    )


class Profile(BaseModel):
    """How the program in a container behaves (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "default"
    description: str = ""
    image_pull_seconds: float = Field(2.0, ge=0)
    image_size_bytes: Bytes = 50 * 2**20
    startup_seconds: float = Field(3.0, ge=0)
    crash_after_seconds: float = Field(1.0, ge=0)
    # a batch program: exits with `exit_code` after this long (None: serves forever)
    run_seconds: float | None = Field(None, ge=0)
    exit_code: int = 0
    # images (full reference, `name:tag` or a tag, glob patterns allowed) that crash on start
    crash_images: list[str] = Field(default_factory=list)
    cpu_idle_cores: float = Field(0.002, ge=0)
    cpu_per_request: float = Field(0.002, ge=0)  # core-seconds per request
    memory_baseline_bytes: Bytes = 32 * 2**20
    memory_per_rps_bytes: Bytes = 0
    memory_per_inflight_bytes: Bytes = 0
    memory_leak_bytes_per_second: Bytes = 0
    fs_usage_bytes: Bytes = 2**20
    latency: LatencyModel = Field(default_factory=LatencyModel)
    error_rate: float = Field(0.0, ge=0, le=1)
    error_status: str = "500"
    timeout_seconds: float = Field(30.0, gt=0)
    request_bytes: float = Field(600, ge=0)
    response_bytes: float = Field(2500, ge=0)
    calls: list[Call] = Field(default_factory=list)
    logs: LogLines = Field(default_factory=LogLines)
    log_every_seconds: float = Field(10.0, gt=0)

    def crashes_with(self, image: str) -> bool:
        """Whether this program crashes on start when run from `image`."""
        return image_crashes(image, self.crash_images)


def _split_image(image: str) -> tuple[str, str]:
    """(repository, tag) of an image reference; the tag is "latest" when absent."""
    ref = image.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, "latest"


def image_crashes(image: str, patterns: Iterable[str] = ()) -> bool:
    """Crashing images: tag ``crash*`` or ``bad*``, or one matching a profile's patterns."""
    repo, tag = _split_image(image)
    if tag.startswith(("crash", "bad")):
        return True
    short = f"{repo.rsplit('/', 1)[-1]}:{tag}"
    return any(
        fnmatch.fnmatchcase(candidate, pattern)
        for pattern in patterns
        for candidate in (image, f"{repo}:{tag}", short, tag)
    )


def image_missing(image: str) -> bool:
    """Images no registry has: repository containing ``does-not-exist``, or tag ``missing*``."""
    repo, tag = _split_image(image)
    return "does-not-exist" in repo or tag.startswith("missing")


@dataclass(frozen=True, slots=True)
class Override:
    """A change of behaviour for matching containers (installed by pod faults).

    Matches pods in `namespace` whose labels match `selector` (or named `pod`), and the
    container `container` (None: every container).
    """

    id: str
    namespace: str
    selector: LabelSelector | None = None
    pod: str | None = None
    container: str | None = None
    leak_bytes_per_second: float = 0.0
    extra_cpu_cores: float = 0.0
    extra_latency_seconds: float = 0.0
    latency_multiplier: float = 1.0
    error_rate: float = 0.0
    error_status: str = "500"
    hang_after_seconds: float | None = None
    crash_on_start: bool = False
    image_missing: bool = False
    # traffic: multiplies the load offered to the Service named `service`
    service: str | None = None
    traffic_multiplier: float = 1.0

    def matches(self, pod: Mapping[str, Any], container: str | None) -> bool:
        meta = pod.get("metadata") or {}
        if meta.get("namespace") != self.namespace or self.service is not None:
            return False
        if self.pod is not None and meta.get("name") != self.pod:
            return False
        if self.selector is not None and not self.selector.matches(meta.get("labels") or {}):
            return False
        return self.container is None or container is None or container == self.container


@dataclass(frozen=True, slots=True)
class Effects:
    """The combined overrides for one container (neutral by default)."""

    leak_bytes_per_second: float = 0.0
    extra_cpu_cores: float = 0.0
    extra_latency_seconds: float = 0.0
    latency_multiplier: float = 1.0
    error_rate: float = 0.0
    error_status: str = "500"
    hang_after_seconds: float | None = None
    crash_on_start: bool = False
    image_missing: bool = False


NO_EFFECTS = Effects()


class _Expirer(Protocol):
    name: str

    def step(self, now: float) -> None: ...


class DailyPattern(BaseModel):
    """Load over the day: ``rps * (1 + amplitude * cos(2 pi (hour - peak_hour) / 24))`` (UTC)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amplitude: float = Field(0.3, ge=0, le=1)
    peak_hour: float = Field(14.0, ge=0, lt=24)

    def factor(self, now: float) -> float:
        hour = (now % 86400) / 3600
        return 1 + self.amplitude * math.cos(2 * math.pi * (hour - self.peak_hour) / 24)


class TrafficSource(BaseModel):
    """Requests per second offered to one Service from outside the cluster."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    namespace: str = "default"
    service: str
    rps: float = Field(ge=0)
    daily: DailyPattern | None = None
    noise: float = Field(0.05, ge=0, le=1)


class TrafficPlan(BaseModel):
    """All external load of a scenario."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: list[TrafficSource] = Field(default_factory=list)

    def merged(self, other: TrafficPlan) -> TrafficPlan:
        return TrafficPlan(sources=[*self.sources, *other.sources])

    def base_rps(self, namespace: str, service: str, now: float) -> float:
        total = 0.0
        for src in self.sources:
            if src.namespace == namespace and src.service == service:
                total += src.rps * (src.daily.factor(now) if src.daily else 1.0)
        return total

    def noise_of(self, namespace: str, service: str) -> float:
        return max(
            (s.noise for s in self.sources if s.namespace == namespace and s.service == service),
            default=0.0,
        )


class ProfileRegistry:
    """Profiles by name, the traffic plan, and active behaviour overrides.

    One registry is shared by the kubelet, the workload controller and the fault injector of
    a twin (the injector installs overrides and registers itself to have timed faults
    expire on every tick, see `faults.FaultInjector`).
    """

    def __init__(
        self,
        profiles: Iterable[Profile] = (),
        *,
        default: Profile | None = None,
        traffic: TrafficPlan | None = None,
    ) -> None:
        self.default = default or Profile()
        self._profiles: dict[str, Profile] = {}
        for profile in profiles:
            self.register(profile)
        self.traffic = traffic or TrafficPlan()
        self._overrides: dict[str, Override] = {}
        self.expirers: list[_Expirer] = []

    def register(self, profile: Profile) -> None:
        self._profiles[profile.name] = profile

    def names(self) -> list[str]:
        return sorted(self._profiles)

    def __contains__(self, name: object) -> bool:
        return name in self._profiles

    def __len__(self) -> int:
        return len(self._profiles)

    def get(self, name: str | None) -> Profile:
        """The profile named `name`, or the default profile when unknown or None."""
        if name is None:
            return self.default
        return self._profiles.get(name, self.default)

    def merge(self, other: ProfileRegistry) -> ProfileRegistry:
        """A new registry with both sets of profiles (`other` wins) and both traffic plans."""
        return ProfileRegistry(
            [*self._profiles.values(), *other._profiles.values()],
            default=self.default,
            traffic=self.traffic.merged(other.traffic),
        )

    def for_container(self, pod: Mapping[str, Any], container: str) -> Profile:
        """The profile of `container` in `pod` (annotation per container, per pod, default)."""
        annotations = (pod.get("metadata") or {}).get("annotations") or {}
        name = annotations.get(f"{PROFILE_ANNOTATION}.{container}") or annotations.get(
            PROFILE_ANNOTATION
        )
        return self.get(str(name) if name else None)

    # overrides (pod faults)

    def add_override(self, override: Override) -> None:
        self._overrides[override.id] = override

    def remove_override(self, override_id: str) -> None:
        self._overrides.pop(override_id, None)

    def overrides(self) -> list[Override]:
        return list(self._overrides.values())

    def effects(self, pod: Mapping[str, Any], container: str | None) -> Effects:
        """The combined behaviour changes of the active overrides for one container."""
        matching = [o for o in self._overrides.values() if o.matches(pod, container)]
        if not matching:
            return NO_EFFECTS
        hang = [o.hang_after_seconds for o in matching if o.hang_after_seconds is not None]
        errors = [o for o in matching if o.error_rate > 0]
        no_error = 1.0
        for o in errors:
            no_error *= 1 - o.error_rate
        latency_multiplier = 1.0
        for o in matching:
            latency_multiplier *= o.latency_multiplier
        return Effects(
            leak_bytes_per_second=sum(o.leak_bytes_per_second for o in matching),
            extra_cpu_cores=sum(o.extra_cpu_cores for o in matching),
            extra_latency_seconds=sum(o.extra_latency_seconds for o in matching),
            latency_multiplier=latency_multiplier,
            error_rate=1 - no_error,
            error_status=errors[-1].error_status if errors else "500",
            hang_after_seconds=min(hang) if hang else None,
            crash_on_start=any(o.crash_on_start for o in matching),
            image_missing=any(o.image_missing for o in matching),
        )

    def traffic_multiplier(self, namespace: str, service: str) -> float:
        factor = 1.0
        for o in self._overrides.values():
            if o.service == service and o.namespace == namespace:
                factor *= o.traffic_multiplier
        return factor

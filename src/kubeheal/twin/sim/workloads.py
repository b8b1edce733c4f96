"""Simulated workloads: behaviour profiles of containers, the traffic they serve, their usage.

A `Profile` says how the program in a container behaves: how long its image takes to pull and
it takes to start, what a request costs in CPU and memory, how fast it answers (a log-normal
latency distribution that stretches as the container's CPU saturates), how often it fails,
which services it calls, and what it writes to its log. A `ProfileRegistry` holds the
profiles, the `TrafficPlan` (requests per second offered to Services, with an optional daily
pattern) and the behaviour `Override`s that pod faults install (memory leak, CPU hog, ...).

Which profile a container gets: the pod annotation ``twin.kubeheal.io/profile.<container>``,
else ``twin.kubeheal.io/profile``, else the registry's default profile.

`WorkloadController` is the traffic generator and the usage model: each tick it spreads the
offered load over the Ready pods behind each Service (following the call graph, so a slow or
failing dependency shows in its callers), and writes per pod the golden signals
(`PodRuntime.requests_total`, the latency histogram, current rps/latency/error rate) and per
running container CPU, memory, network and log lines into `RuntimeState`.

A container is running exactly when its `ContainerRuntime.started_at` is set (the kubelet
owns that field); the controller only reads it.

Exception tree::

    ValueError
    └── ProfileError   a profile or traffic document is invalid (pydantic's ValidationError
                       is raised as is at the YAML boundary)
"""

from __future__ import annotations

import fnmatch
import logging
import math
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from kubeheal.model.quantity import QuantityError, parse_cpu, parse_memory
from kubeheal.twin.clock import format_time
from kubeheal.twin.selectors import LabelSelector, SelectorError
from kubeheal.twin.sim.objects import is_pod_ready
from kubeheal.twin.sim.state import LATENCY_BUCKETS, ContainerRuntime, PodRuntime, RuntimeState
from kubeheal.twin.store import ObjectStore

__all__ = [
    "PROFILE_ANNOTATION",
    "RPS_ANNOTATION",
    "Call",
    "DailyPattern",
    "LatencyModel",
    "LogLines",
    "ObjectCache",
    "Override",
    "Profile",
    "ProfileError",
    "ProfileRegistry",
    "TrafficPlan",
    "TrafficSource",
    "WorkloadController",
    "container_limits",
    "container_requests",
    "cpu_quantity",
    "latency_factor",
    "lognormal_cdf",
    "memory_quantity",
    "pod_is_ready",
]

log = logging.getLogger(__name__)

PROFILE_ANNOTATION = "twin.kubeheal.io/profile"
# Requests per second offered to a Service, overriding the scenario's traffic plan.
RPS_ANNOTATION = "twin.kubeheal.io/rps"
_Z99 = 2.3263478740408408  # standard normal quantile of 0.99
_MAX_LOG_LINES = 2000

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


def pod_is_ready(pod: Mapping[str, Any]) -> bool:
    """Whether the pod counts as an endpoint: Running, Ready, not being deleted."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return False
    return is_pod_ready(pod)


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


# --------------------------------------------------------------------------- model (pure)


def lognormal_cdf(x: float, median: float, sigma: float) -> float:
    """P(latency <= x) for a log-normal with this median and shape."""
    if x <= 0:
        return 0.0
    if median <= 0:
        return 1.0
    return 0.5 * (1 + math.erf(math.log(x / median) / (sigma * math.sqrt(2))))


def latency_factor(utilisation: float) -> float:
    """How much slower requests get at this CPU utilisation (demand / available CPU).

    A queueing-style curve, 1/(1-u), capped at u = 0.95; past saturation (u > 1) the CPU
    is throttled and work takes u times longer on top.
    """
    rho = max(0.0, utilisation)
    return (1 / (1 - min(rho, 0.95))) * max(1.0, rho)


def memory_bytes(
    profile: Profile, *, uptime: float, rps: float, latency: float, leak: float = 0.0
) -> int:
    """Working set of a container after `uptime` seconds serving `rps` at `latency` seconds."""
    inflight = rps * latency
    total = (
        profile.memory_baseline_bytes
        + (profile.memory_leak_bytes_per_second + leak) * max(0.0, uptime)
        + profile.memory_per_rps_bytes * rps
        + profile.memory_per_inflight_bytes * inflight
    )
    return int(total)


# --------------------------------------------------------------------------- object cache


class ObjectCache:
    """Decoded objects of one resource type, re-decoded only when their resourceVersion moves."""

    def __init__(self, store: ObjectStore, group: str, version: str, plural: str) -> None:
        self.store = store
        self.rtype = store.rtype(group, version, plural)
        self._cache: dict[str, tuple[int, Obj]] = {}

    def all(self) -> list[Obj]:
        """Every object (in namespace/name order). Callers must not mutate the dicts."""
        out: list[Obj] = []
        seen: dict[str, tuple[int, Obj]] = {}
        with self.store.lock:
            for stored in self.store.iter_stored(self.rtype):
                hit = self._cache.get(stored.key)
                if hit is None or hit[0] != stored.rv:
                    hit = (stored.rv, stored.obj())
                seen[stored.key] = hit
                out.append(hit[1])
        self._cache = seen
        return out


# --------------------------------------------------------------------------- controller


@dataclass
class _PodLoad:
    pod: Obj
    uid: str
    profile: Profile
    primary: str
    effects: Effects
    rps: float = 0.0
    own_median: float = 0.0
    own_error: float = 0.0
    utilisation: float = 0.0
    hung: bool = False
    median: float = 0.0
    error: float = 0.0
    services: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Service:
    namespace: str
    name: str
    selector: LabelSelector
    pods: list[_PodLoad] = field(default_factory=list)
    rps: float = 0.0
    median: float = 0.0
    error: float = 1.0


def _log(container: ContainerRuntime, now: float, line: str) -> None:
    container.logs.append(f"{format_time(now)} {line}")
    if len(container.logs) > _MAX_LOG_LINES:
        del container.logs[: len(container.logs) - _MAX_LOG_LINES]


def append_log(crt: ContainerRuntime, now: float, lines: Iterable[str], /, **fmt: Any) -> None:
    """Append log lines (formatted with `fmt`, unknown fields left as written)."""
    for line in lines:
        try:
            text = line.format(**fmt)
        except (KeyError, IndexError, ValueError):
            text = line
        _log(crt, now, text)


class WorkloadController:
    """The traffic generator and usage model (see the module docstring)."""

    name = "workloads"

    def __init__(
        self,
        *,
        store: ObjectStore,
        runtime: RuntimeState,
        profiles: ProfileRegistry,
        seed: int = 0,
        node_cpu: Callable[[str], float] | None = None,
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.profiles = profiles
        self._rng = random.Random(seed)
        self._pods = ObjectCache(store, "", "v1", "pods")
        self._services = ObjectCache(store, "", "v1", "services")
        self._last: float | None = None
        self._last_log: dict[tuple[str, str], float] = {}
        self._node_cpu = node_cpu or (lambda _node: 4.0)

    def step(self, now: float) -> None:
        dt = 0.0 if self._last is None else min(max(0.0, now - self._last), 60.0)
        self._last = now
        pods = {p["metadata"]["uid"]: p for p in self._pods.all()}
        loads: dict[str, _PodLoad] = {}
        for uid, pod in pods.items():
            prt = self.runtime.pods.get(uid)
            if prt is None:
                continue
            containers = (pod.get("spec") or {}).get("containers") or []
            if not containers:
                continue
            primary = str(containers[0].get("name", ""))
            crt = prt.containers.get(primary)
            if crt is None or crt.started_at is None:
                continue
            loads[uid] = _PodLoad(
                pod=pod,
                uid=uid,
                profile=self.profiles.for_container(pod, primary),
                primary=primary,
                effects=self.profiles.effects(pod, primary),
            )
        services = self._route(loads, now)
        self._compute_latency(loads, services, now)
        for uid in list(self._last_log):
            if uid[0] not in pods:
                del self._last_log[uid]
        for uid, pod in pods.items():
            prt = self.runtime.pods.get(uid)
            if prt is not None:
                self._account(pod, prt, loads.get(uid), now, dt)

    # traffic routing over the call graph

    def _route(self, loads: dict[str, _PodLoad], now: float) -> dict[tuple[str, str], _Service]:
        services: dict[tuple[str, str], _Service] = {}
        for obj in self._services.all():
            spec = obj.get("spec") or {}
            sel = spec.get("selector")
            if not sel or not isinstance(sel, Mapping):
                continue
            try:
                selector = LabelSelector.from_labels({str(k): str(v) for k, v in sel.items()})
            except SelectorError:
                continue
            ns = obj["metadata"].get("namespace", "default")
            key = (ns, obj["metadata"]["name"])
            services[key] = _Service(ns, key[1], selector)
        for load in loads.values():
            if not pod_is_ready(load.pod):
                continue
            meta = load.pod["metadata"]
            for key, svc in services.items():
                if key[0] == meta.get("namespace") and svc.selector.matches(
                    meta.get("labels") or {}
                ):
                    svc.pods.append(load)
                    load.services.append(key)
        annotations = {
            (s["metadata"].get("namespace", "default"), s["metadata"]["name"]): (
                (s["metadata"].get("annotations") or {}).get(RPS_ANNOTATION)
            )
            for s in self._services.all()
        }
        for key, svc in services.items():
            override = annotations.get(key)
            base = self.profiles.traffic.base_rps(key[0], key[1], now)
            if override is not None:
                try:
                    base = max(0.0, float(override))
                except ValueError:
                    log.warning("service %s/%s: %s is not a number", *key, RPS_ANNOTATION)
            noise = self.profiles.traffic.noise_of(*key)
            if base > 0 and noise > 0:
                base *= max(0.0, 1 + self._rng.uniform(-noise, noise))
            svc.rps = base * self.profiles.traffic_multiplier(*key)
        for key in self._topological(services):
            svc = services[key]
            if not svc.pods or svc.rps <= 0:
                continue
            share = svc.rps / len(svc.pods)
            for load in svc.pods:
                load.rps += share
                for call in load.profile.calls:
                    target = (call.namespace or key[0], call.service)
                    if target in services:
                        services[target].rps += share * call.per_request
        return services

    def _edges(
        self, services: dict[tuple[str, str], _Service], key: tuple[str, str]
    ) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for load in services[key].pods:
            for call in load.profile.calls:
                target = (call.namespace or key[0], call.service)
                if target in services and target not in out:
                    out.append(target)
        return out

    def _topological(self, services: dict[tuple[str, str], _Service]) -> list[tuple[str, str]]:
        """Callers before callees (a cycle is broken where it closes)."""
        order: list[tuple[str, str]] = []
        state: dict[tuple[str, str], int] = {}

        def visit(key: tuple[str, str]) -> None:
            state[key] = 1
            for target in self._edges(services, key):
                if state.get(target, 0) == 0:
                    visit(target)
            state[key] = 2
            order.append(key)

        for key in sorted(services):
            if state.get(key, 0) == 0:
                visit(key)
        order.reverse()
        return order

    def _compute_latency(
        self,
        loads: dict[str, _PodLoad],
        services: dict[tuple[str, str], _Service],
        now: float,
    ) -> None:
        for load in loads.values():
            self._own_latency(load, now)
        done: set[str] = set()
        for key in reversed(self._topological(services)):
            svc = services[key]
            for load in svc.pods:
                if load.uid not in done:
                    self._end_to_end(load, services)
                    done.add(load.uid)
            if svc.pods:
                weights = [max(p.rps, 1e-9) for p in svc.pods]
                total = sum(weights)
                svc.median = sum(p.median * w for p, w in zip(svc.pods, weights, strict=True))
                svc.median /= total
                svc.error = sum(
                    (1.0 if p.hung else p.error) * w for p, w in zip(svc.pods, weights, strict=True)
                )
                svc.error /= total
                hung_share = sum(w for p, w in zip(svc.pods, weights, strict=True) if p.hung)
                if hung_share:
                    timeout = max(p.profile.timeout_seconds for p in svc.pods)
                    svc.median = (svc.median * (total - hung_share) + timeout * hung_share) / total
            else:
                svc.median, svc.error = 0.001, 1.0
        for load in loads.values():
            if load.uid not in done:
                self._end_to_end(load, services)

    def _own_latency(self, load: _PodLoad, now: float) -> None:
        profile, eff = load.profile, load.effects
        prt = self.runtime.pods[load.uid]
        crt = prt.containers[load.primary]
        started = crt.started_at or now
        if eff.hang_after_seconds is not None and now - started >= eff.hang_after_seconds:
            load.hung = True
        cspec = _container_spec(load.pod, load.primary)
        cpu_limit, _ = container_limits(cspec)
        available = cpu_limit if cpu_limit else self._node_cpu(prt.node)
        demand = profile.cpu_idle_cores + load.rps * profile.cpu_per_request + eff.extra_cpu_cores
        load.utilisation = demand / available if available > 0 else 0.0
        factor = latency_factor(load.utilisation)
        median = profile.latency.median_ms / 1000 * factor * eff.latency_multiplier
        load.own_median = median + eff.extra_latency_seconds
        error = 1 - (1 - profile.error_rate) * (1 - eff.error_rate)
        if load.utilisation > 1:
            # saturated: some requests time out at the caller
            error = 1 - (1 - error) * (1 - min(0.5, (load.utilisation - 1) * 0.25))
        if load.own_median >= profile.timeout_seconds:
            error = 1.0
        load.own_error = error

    def _end_to_end(self, load: _PodLoad, services: dict[tuple[str, str], _Service]) -> None:
        median, ok = load.own_median, 1 - load.own_error
        ns = load.pod["metadata"].get("namespace", "default")
        for call in load.profile.calls:
            target = services.get((call.namespace or ns, call.service))
            dep_median, dep_error = (
                (0.001, 1.0) if target is None else (target.median, target.error)
            )
            median += call.per_request * dep_median
            ok *= 1 - min(1.0, call.per_request * dep_error)
        load.median = min(median, load.profile.timeout_seconds)
        load.error = 1 - ok

    # usage and golden signals

    def _account(
        self, pod: Obj, prt: PodRuntime, load: _PodLoad | None, now: float, dt: float
    ) -> None:
        specs = {str(c.get("name")): c for c in (pod.get("spec") or {}).get("containers") or []}
        specs.update(
            {str(c.get("name")): c for c in (pod.get("spec") or {}).get("initContainers") or []}
        )
        serving = load is not None and not load.hung and load.rps > 0
        if load is not None:
            prt.current_rps = 0.0 if load.hung else load.rps
            prt.current_latency_p50 = load.median if serving else 0.0
            prt.current_error_rate = load.error if serving else 0.0
        else:
            prt.current_rps = prt.current_latency_p50 = prt.current_error_rate = 0.0
        if serving and load is not None and dt > 0:
            self._record_requests(prt, load, dt)
        for name, crt in prt.containers.items():
            if crt.started_at is None:
                crt.cpu_cores = 0.0
                crt.memory_working_set_bytes = crt.memory_rss_bytes = 0
                continue
            profile = self.profiles.for_container(pod, name)
            eff = self.profiles.effects(pod, name)
            cspec = specs.get(name) or {}
            cpu_limit, _ = container_limits(cspec)
            is_primary = load is not None and name == load.primary
            rps = load.rps if (is_primary and serving and load is not None) else 0.0
            latency = load.median if (is_primary and load is not None) else 0.0
            demand = profile.cpu_idle_cores + rps * profile.cpu_per_request + eff.extra_cpu_cores
            cap = cpu_limit if cpu_limit else self._node_cpu(prt.node)
            crt.cpu_cores = min(demand, cap)
            crt.cpu_seconds_total += crt.cpu_cores * dt
            uptime = now - crt.started_at
            ws = memory_bytes(
                profile, uptime=uptime, rps=rps, latency=latency, leak=eff.leak_bytes_per_second
            )
            crt.memory_working_set_bytes = ws
            crt.memory_rss_bytes = int(ws * 0.85)
            crt.fs_usage_bytes = int(profile.fs_usage_bytes)
            crt.network_rx_bytes_total += rps * dt * profile.request_bytes
            crt.network_tx_bytes_total += rps * dt * profile.response_bytes
            if is_primary and load is not None and rps > 0:
                self._write_logs(prt, crt, load, now)

    def _record_requests(self, prt: PodRuntime, load: _PodLoad, dt: float) -> None:
        n = load.rps * dt
        errors = n * load.error
        status = load.effects.error_status if load.effects.error_rate > 0 else None
        status = status or load.profile.error_status
        prt.requests_total["200"] = prt.requests_total.get("200", 0.0) + (n - errors)
        if errors > 0:
            prt.requests_total[status] = prt.requests_total.get(status, 0.0) + errors
        sigma = load.profile.latency.sigma
        counts = prt.latency_bucket_counts
        for i, bound in enumerate(LATENCY_BUCKETS):
            counts[i] += n * lognormal_cdf(bound, load.median, sigma)
        counts[len(LATENCY_BUCKETS)] += n
        prt.latency_sum += n * load.median * math.exp(sigma * sigma / 2)

    def _write_logs(
        self, prt: PodRuntime, crt: ContainerRuntime, load: _PodLoad, now: float
    ) -> None:
        key = (prt.uid, crt.name)
        last = self._last_log.get(key)
        every = load.profile.log_every_seconds
        if last is not None and now - last < every:
            return
        self._last_log[key] = now
        count = load.rps * every
        errors = count * load.error
        fmt = {
            "count": round(count),
            "errors": round(errors),
            "p50_ms": load.median * 1000,
            "rps": load.rps,
            "status": load.effects.error_status
            if load.effects.error_rate > 0
            else load.profile.error_status,
        }
        append_log(crt, now, [load.profile.logs.request], **fmt)
        if errors >= 0.5:
            append_log(crt, now, [load.profile.logs.error], **fmt)


def _container_spec(pod: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    for c in (pod.get("spec") or {}).get("containers") or ():
        if c.get("name") == name:
            return dict(c)
    return {}

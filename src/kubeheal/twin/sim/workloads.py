"""Simulated workloads: the traffic the twin's containers serve and what they use doing it.

The behaviour profiles of containers and the traffic plan (`Profile`, `ProfileRegistry`,
`TrafficPlan`, `Override`, the container quantities) are `kubeheal.twin.sim.profiles`;
they are re-exported here for the modules that import them from this one.

`WorkloadController` is the traffic generator and the usage model: each tick it spreads the
offered load over the Ready pods behind each Service (following the call graph, so a slow or
failing dependency shows in its callers), and writes per pod the golden signals
(`PodRuntime.requests_total`, the latency histogram, current rps/latency/error rate) and per
running container CPU, memory, network and log lines into `RuntimeState`.

A container is running exactly when its `ContainerRuntime.started_at` is set (the kubelet
owns that field); the controller only reads it.

Errors: `ProfileError` (from `kubeheal.twin.sim.profiles`) for an invalid profile or
traffic document.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeheal.twin.clock import format_time
from kubeheal.twin.selectors import LabelSelector, SelectorError
from kubeheal.twin.sim.objects import is_pod_ready
from kubeheal.twin.sim.profiles import (  # the profiles, re-exported where they were
    PROFILE_ANNOTATION,
    Call,
    DailyPattern,
    Effects,
    LatencyModel,
    LogLines,
    Override,
    Profile,
    ProfileError,
    ProfileRegistry,
    TrafficPlan,
    TrafficSource,
    container_limits,
    container_requests,
    cpu_quantity,
    memory_quantity,
)
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

# Requests per second offered to a Service, overriding the scenario's traffic plan.
RPS_ANNOTATION = "twin.kubeheal.io/rps"
_MAX_LOG_LINES = 2000

Obj = dict[str, Any]


# --------------------------------------------------------------------------- pods


def pod_is_ready(pod: Mapping[str, Any]) -> bool:
    """Whether the pod counts as an endpoint: Running, Ready, not being deleted."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return False
    return is_pod_ready(pod)


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

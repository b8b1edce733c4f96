"""Evaluating steady-state probes: one check, one `Check` (passed or not, and why).

A probe that cannot be evaluated at all (URL unreachable, query rejected, object missing)
raises `ProbeUnreachable` from `ProbeEvaluator.check_strict`, which the preflight uses so
that bad input stops the experiment before any fault; during the method the same problem is
simply a failed check (`ProbeEvaluator.check`). Failures that show the Kubernetes API itself
is unreachable are flagged (``api_down``) for the dead-man switch.

Also pure helpers over check series: `failing_flags` applies a probe's tolerance.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from kubeheal.chaos.errors import ProbeUnreachable
from kubeheal.chaos.spec import HttpCheck, KubernetesCheck, Probe, PromqlCheck
from kubeheal.clients.httpcheck import HttpChecker, HttpCheckError, HttpUnreachable
from kubeheal.clients.kube import KubeError, KubeNotFound, KubeUnavailable
from kubeheal.clients.prometheus import PrometheusError, PrometheusQueryError
from kubeheal.clients.writer import Kind, KubeWriter

__all__ = ["Check", "ProbeEvaluator", "QueryClient", "failing_flags"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


class QueryClient(Protocol):
    """What a PromQL probe needs (``kubeheal.clients.prometheus.PrometheusClient``)."""

    async def query(self, expr: str, *, at: float | None = None) -> Sequence[Any]: ...


@dataclass(frozen=True, slots=True)
class Check:
    """One evaluation of one probe at ``at`` (cluster time)."""

    probe: str
    at: datetime
    ok: bool
    detail: str
    value: float | None = None
    api_down: bool = False


def failing_flags(checks: Sequence[Check], tolerance: int) -> list[bool]:
    """Per check: whether the probe counts as failing there, i.e. more than ``tolerance``
    consecutive checks up to and including it failed. Pure."""
    flags: list[bool] = []
    streak = 0
    for c in checks:
        streak = 0 if c.ok else streak + 1
        flags.append(streak > tolerance)
    return flags


@dataclass
class ProbeEvaluator:
    """Evaluates probes through kubeheal's clients."""

    kube: KubeWriter
    http: HttpChecker
    prometheus: Callable[[str | None], QueryClient | None]
    """Client for a probe's Prometheus URL (None: the default one); None if there is none."""
    clock: Callable[[], datetime]
    _last_unreachable: dict[str, str] = field(default_factory=dict)

    async def check(self, probe: Probe) -> Check:
        """Evaluate ``probe`` once; problems are failed checks."""
        try:
            return await self.check_strict(probe)
        except ProbeUnreachable as e:
            return Check(
                probe.name,
                self.clock(),
                ok=False,
                detail=str(e),
                api_down=isinstance(e.__cause__, KubeUnavailable),
            )

    async def check_strict(self, probe: Probe) -> Check:
        """Evaluate ``probe`` once; `ProbeUnreachable` when it cannot be evaluated."""
        if probe.http is not None:
            return await self._http(probe.name, probe.http)
        if probe.promql is not None:
            return await self._promql(probe.name, probe.promql)
        assert probe.kubernetes is not None
        return await self._kubernetes(probe.name, probe.kubernetes)

    # ----------------------------------------------------------------- http

    async def _http(self, name: str, spec: HttpCheck) -> Check:
        try:
            result = await self.http.check(
                spec.url,
                method=spec.method,
                headers=spec.headers,
                timeout=spec.timeout.total_seconds(),
            )
        except HttpUnreachable as e:
            raise ProbeUnreachable(f"probe {name!r}: {e}") from e
        except HttpCheckError as e:
            raise ProbeUnreachable(f"probe {name!r}: {e}") from e
        now = self.clock()
        latency_ms = result.latency_s * 1000
        if result.status not in spec.expect_status:
            return Check(
                name,
                now,
                ok=False,
                value=latency_ms,
                detail=f"HTTP {result.status}, expected {list(spec.expect_status)}",
            )
        limit = spec.max_latency
        if limit is not None and result.latency_s > limit.total_seconds():
            return Check(
                name,
                now,
                ok=False,
                value=latency_ms,
                detail=f"{latency_ms:.0f} ms > {limit.total_seconds() * 1000:.0f} ms",
            )
        return Check(
            name,
            now,
            ok=True,
            value=latency_ms,
            detail=f"HTTP {result.status} in {latency_ms:.0f} ms",
        )

    # ----------------------------------------------------------------- promql

    async def _promql(self, name: str, spec: PromqlCheck) -> Check:
        client = self.prometheus(spec.prometheus)
        if client is None:
            raise ProbeUnreachable(
                f"probe {name!r}: no Prometheus URL (give promql.prometheus or --prometheus)"
            )
        try:
            samples = await client.query(spec.query)
        except PrometheusQueryError as e:
            raise ProbeUnreachable(f"probe {name!r}: query rejected: {e}") from e
        except PrometheusError as e:
            raise ProbeUnreachable(f"probe {name!r}: {e}") from e
        now = self.clock()
        if not samples:
            return Check(name, now, ok=spec.empty_ok, detail="no samples")
        compare = _OPS[spec.comparator]
        values = [float(s.value) for s in samples]
        bad = [v for v in values if math.isnan(v) or not compare(v, spec.value)]
        worst = bad[0] if bad else values[0]
        text = f"{worst:g} {spec.comparator} {spec.value:g}"
        if bad:
            return Check(name, now, ok=False, value=worst, detail=f"not {text}")
        return Check(name, now, ok=True, value=worst, detail=text)

    # ----------------------------------------------------------------- kubernetes

    async def _kubernetes(self, name: str, spec: KubernetesCheck) -> Check:
        try:
            if spec.workload is not None:
                return await self._ready(name, spec)
            return await self._pods(name, spec)
        except KubeNotFound as e:
            raise ProbeUnreachable(f"probe {name!r}: {e.message}") from e
        except KubeError as e:
            raise ProbeUnreachable(f"probe {name!r}: Kubernetes API: {e}") from e

    async def _ready(self, name: str, spec: KubernetesCheck) -> Check:
        ref = spec.workload
        assert ref is not None
        kind = Kind.DEPLOYMENT if ref.kind == "Deployment" else Kind.STATEFULSET
        obj = await self.kube.get(kind, ref.namespace, ref.name)
        desired = int((obj.get("spec") or {}).get("replicas", 1) or 0)
        ready = int((obj.get("status") or {}).get("readyReplicas", 0) or 0)
        if spec.min_ready is not None:
            need = spec.min_ready
        else:
            need = math.ceil(round(desired * (spec.min_ready_share or 1.0), 9))
        ok = ready >= need
        return Check(
            name,
            self.clock(),
            ok=ok,
            value=float(ready),
            detail=f"{ready}/{desired} ready, need {need}",
        )

    async def _pods(self, name: str, spec: KubernetesCheck) -> Check:
        pods = await self.kube.list(Kind.POD, spec.namespace, labels=spec.labels)
        pods = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
        good = [p for p in pods if _pod_ok(p, spec.phase, require_ready=spec.require_ready)]
        ok = len(pods) >= spec.min_pods and len(good) == len(pods)
        return Check(
            name,
            self.clock(),
            ok=ok,
            value=float(len(good)),
            detail=f"{len(good)}/{len(pods)} pods {spec.phase}"
            + (" and ready" if spec.require_ready else ""),
        )


def _pod_ok(pod: Mapping[str, Any], phase: str, *, require_ready: bool) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") != phase:
        return False
    if not require_ready:
        return True
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or ()
    )

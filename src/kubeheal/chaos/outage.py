"""Outage as users feel it: replica-outage seconds, and when a fault's workloads were back.

A Deployment is short of ``missing`` replicas when fewer of the replicas it had when the
fault began are available, or updated to its current template and available: with ``R``
the smaller of ``spec.replicas`` at the start of the window and now (the one at the start
when it is now zero), ``missing = min(R, max(R - available, R - updated_available, 0))``.
The Deployment's status has no count of the updated pods that are available, so
``updated_available`` is the largest count its status proves: its pods (``status.replicas``,
pods that exist) less the updated ones are the old pods, and at most that many of the
available pods are old, so ``available - (replicas - updated)`` of them are updated (capped
at ``updated``; exact when every old pod is available). ``unavailableReplicas`` is no
measure of that: it is the ReplicaSets' ``spec.replicas`` less the available pods, so it
counts the pods a scale-out has asked for and not yet created (without ``status.replicas``
the bound falls back on ``updated - unavailable``). So a rollout stuck on a new pod that
never becomes ready misses every replica it has not replaced, while the old pods still
serve; the new pods of a scale-out (an HPA, or kubeheal raising its ceiling) are no outage
while they start, nor is an HPA scaling back down after a spike; scaling a workload to
zero is one.

A status that has not observed the Deployment's latest generation (``observedGeneration <
generation``) describes the spec before the last change. Every ``spec.replicas`` change
(an HPA's scale) bumps the generation too, so the counts of a stale status still hold when
the pod template is the one its last observed status saw (a digest of ``spec.template``);
when the template changed, or is not known, no replica counts as updated. Sampled
from the cluster every few (cluster) seconds, the step function of ``missing`` integrated
over time is the **replica-outage seconds**: three replicas missing for ten seconds are 30
replica-outage seconds, whoever was at fault.

Per fault, over its window ``[start, end]`` and its **scope** (the Deployments it hit; every
Deployment for a node fault, since its pods move everyone's):

* ``outage_s``: the replica-outage seconds of the scope in the window;
* ``recovered_s``: seconds from ``start`` until the scope had every replica back for good
  (the first sample after the last one that missed a replica): 0 when nothing went missing,
  None when replicas were still missing at the end of the window. A node fault has recovered
  when its workloads run again elsewhere, whatever the node's own state.

`incident_times` reads the times to detect, to act and to escalate from the incidents opened
about a fault's targets.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

__all__ = [
    "DeploymentKey",
    "FaultTimes",
    "IncidentTimes",
    "OutageFigures",
    "ReplicaCounts",
    "Sample",
    "incident_times",
    "replica_counts",
    "replica_outage",
    "template_digest",
]

DeploymentKey = tuple[str, str]
"""(namespace, name) of a Deployment."""


def _int(value: Any) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True, slots=True)
class ReplicaCounts:
    """One Deployment's replicas as its status reports them at one moment."""

    namespace: str
    name: str
    desired: int
    available: int
    updated: int
    unavailable: int = 0
    replicas: int | None = None
    """``status.replicas``: the pods of all its ReplicaSets (None: not known)."""
    template: str = ""
    """A digest of ``spec.template`` ("" when not known)."""
    stale: bool = False
    """The status has not observed the latest generation."""

    @property
    def key(self) -> DeploymentKey:
        return (self.namespace, self.name)

    @property
    def updated_available(self) -> int:
        """The updated pods the status proves available (see the module docstring); 0 for
        a stale status."""
        if self.stale:
            return 0
        if self.replicas is None:
            return max(0, self.updated - self.unavailable)
        old = max(0, self.replicas - self.updated)
        return max(0, min(self.updated, self.available - old))

    @property
    def missing(self) -> int:
        """Replicas short of its own ``desired``."""
        return self.missing_of(self.desired)

    def missing_of(self, reference: int) -> int:
        """Replicas short of ``reference`` (see the module docstring)."""
        short = max(reference - self.available, reference - self.updated_available, 0)
        return min(reference, short)

    def observed(self, fresh_templates: MutableMapping[DeploymentKey, str]) -> ReplicaCounts:
        """These counts judged with the template each Deployment's last fresh status had
        (``fresh_templates``, updated from a fresh status): a stale status of an unchanged
        template holds (a scale bumped the generation), any other stays stale."""
        if not self.stale:
            if self.template:
                fresh_templates[self.key] = self.template
            return self
        if self.template and fresh_templates.get(self.key) == self.template:
            return replace(self, stale=False)
        return self


def template_digest(template: Any) -> str:
    """A short digest of a pod template ("" for none)."""
    if not template:
        return ""
    text = json.dumps(template, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def replica_counts(deployment: Mapping[str, Any]) -> ReplicaCounts:
    """The counts of a Deployment in its API form (``spec.replicas`` defaults to 1; zero
    counts are omitted by the API, so a status that has been written and has no
    ``replicas`` has none). A status that has not yet seen the latest generation is
    ``stale`` (see the module docstring)."""
    meta = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    written = "observedGeneration" in status
    return ReplicaCounts(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        desired=_int(spec.get("replicas", 1)),
        available=_int(status.get("availableReplicas")),
        updated=_int(status.get("updatedReplicas")),
        unavailable=_int(status.get("unavailableReplicas")),
        replicas=_int(status.get("replicas")) if written or "replicas" in status else None,
        template=template_digest(spec.get("template")),
        stale=_int(status.get("observedGeneration")) < _int(meta.get("generation")),
    )


@dataclass(frozen=True, slots=True)
class Sample:
    """Every Deployment's counts at one moment (cluster time)."""

    at: datetime
    deployments: tuple[ReplicaCounts, ...]

    def missing_by_deployment(
        self,
        scope: frozenset[DeploymentKey] | None,
        reference: Mapping[DeploymentKey, int] | None = None,
    ) -> dict[DeploymentKey, int]:
        """Replicas missing per Deployment of ``scope`` (None: every one) against the
        replicas each had at the start (``reference``; see the module docstring; default:
        each one's own ``desired``); Deployments missing none are left out."""
        found: dict[DeploymentKey, int] = {}
        for d in self.deployments:
            if scope is not None and d.key not in scope:
                continue
            wanted = d.desired
            if reference is not None and d.key in reference:
                at_start = reference[d.key]
                wanted = min(at_start, d.desired) if d.desired > 0 else at_start
            missing = d.missing_of(wanted)
            if missing:
                found[d.key] = missing
        return found

    def observed(self, fresh_templates: MutableMapping[DeploymentKey, str]) -> Sample:
        """This sample with each Deployment judged by `ReplicaCounts.observed`."""
        judged = tuple(d.observed(fresh_templates) for d in self.deployments)
        if all(a is b for a, b in zip(judged, self.deployments, strict=True)):
            return self
        return Sample(self.at, judged)


@dataclass(frozen=True, slots=True)
class OutageFigures:
    """A fault's outage over its window (see the module docstring)."""

    outage_s: float
    recovered_s: float | None
    peak_missing: int
    missing_at_end: int
    samples: int
    by_deployment: Mapping[DeploymentKey, float]
    """Replica-outage seconds of each Deployment of the scope that missed a replica."""

    @property
    def recovered(self) -> bool:
        return self.recovered_s is not None


def replica_outage(
    samples: Sequence[Sample],
    *,
    start: datetime,
    end: datetime | None = None,
    scope: Iterable[DeploymentKey] | None = None,
) -> OutageFigures:
    """The outage of ``scope`` (None: every Deployment) between ``start`` and ``end`` (None:
    the last sample). Each sample's counts hold until the next sample; the state at
    ``start`` is the last sample at or before it, and its ``spec.replicas`` are the
    reference (a Deployment first seen later: its first sample's)."""
    keys = None if scope is None else frozenset(scope)
    ordered = sorted(samples, key=lambda s: s.at)
    if end is None and ordered:
        end = ordered[-1].at
    if end is None or not ordered:
        return OutageFigures(0.0, None, 0, 0, 0, {})
    stop = min(end, ordered[-1].at)
    total = 0.0
    per: dict[DeploymentKey, float] = {}
    peak = 0
    back_at: datetime | None = None  # the first sample after the last one missing a replica
    last_bad: datetime | None = None
    counted = 0
    at_end = 0
    reference: dict[DeploymentKey, int] = {}
    fresh_templates: dict[DeploymentKey, str] = {}
    for i, raw in enumerate(ordered):
        sample = raw.observed(fresh_templates)  # earlier samples' templates, window or not
        last = i + 1 == len(ordered)
        nxt = sample.at if last else ordered[i + 1].at
        if sample.at > stop:
            break
        if (nxt <= start) if not last else (sample.at < start):
            continue  # wholly before the window
        counted += 1
        for d in sample.deployments:
            reference.setdefault(d.key, d.desired)
        missing = sample.missing_by_deployment(keys, reference)
        count = sum(missing.values())
        at_end = count
        peak = max(peak, count)
        lo, hi = max(sample.at, start), min(nxt, stop)
        if hi > lo:
            span = (hi - lo).total_seconds()
            total += count * span
            for key, n in missing.items():
                per[key] = per.get(key, 0.0) + n * span
        if count:
            last_bad = sample.at
            back_at = None
        elif last_bad is not None and back_at is None:
            back_at = sample.at
    recovered: float | None
    if last_bad is None:
        recovered = 0.0
    elif back_at is None:
        recovered = None
    else:
        recovered = max(0.0, (back_at - start).total_seconds())
    return OutageFigures(
        outage_s=total,
        recovered_s=recovered,
        peak_missing=peak,
        missing_at_end=at_end,
        samples=counted,
        by_deployment=per,
    )


@dataclass(frozen=True, slots=True)
class IncidentTimes:
    """When kubeheal opened an incident, first acted on the cluster, escalated, resolved."""

    opened_at: datetime
    acted_at: datetime | None = None
    escalated_at: datetime | None = None
    resolved_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FaultTimes:
    """Seconds from a fault's injection to kubeheal's first incident, action, escalation."""

    detect_s: float | None
    act_s: float | None
    escalated_after_s: float | None


def incident_times(
    incidents: Iterable[IncidentTimes], *, start: datetime, end: datetime | None = None
) -> FaultTimes:
    """The first detection, action and escalation among ``incidents`` opened in the window
    (an incident opened before ``start`` is not this fault's). Times before ``start`` (a
    clock's rounding) count as 0."""
    mine = [i for i in incidents if i.opened_at >= start and (end is None or i.opened_at <= end)]

    def first(values: Iterable[datetime | None]) -> float | None:
        found = [v for v in values if v is not None]
        return max(0.0, (min(found) - start).total_seconds()) if found else None

    return FaultTimes(
        detect_s=first(i.opened_at for i in mine),
        act_s=first(i.acted_at for i in mine),
        escalated_after_s=first(i.escalated_at for i in mine),
    )

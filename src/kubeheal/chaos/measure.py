"""Figures and verdicts per fault, from the probes' checks and kubeheal's ledger.

For a fault whose first injection was at ``t0`` and whose observation window ends at ``t1``:

* **outages**: stretches where some of the fault's probes failed beyond their tolerance
  (from the first failed check of the streak to the first passing check after it);
* **time to recover**: from ``t0`` to the end of the last outage (0 without an outage; none
  when an outage is still going on at ``t1``); **MTTR**: the mean outage duration;
* **time to detect / to act / to escalate**: from ``t0`` to the first kubeheal incident
  opened about one of the fault's targets / to the first action of those incidents
  (``escalate`` is not an action on the cluster) / to the first of them escalated, read
  from the ledger;
* **replica-outage seconds** and the time until the fault's Deployments had every replica
  back (`kubeheal.chaos.outage`), when the caller sampled the Deployments;
* **probe success %** (LitmusChaos): the share of the fault's probes that never failed
  beyond tolerance in the window; the **resilience score** of the experiment is
  ``sum(weight x probe success %) / sum(weight)`` over its faults, as LitmusChaos computes
  it over a workflow's experiments. ``availability`` (share of passing checks) is extra.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from kubeheal.chaos.journal import ExpectationResult, FaultResult, FaultRun
from kubeheal.chaos.outage import OutageFigures
from kubeheal.chaos.probes import Check, failing_flags
from kubeheal.chaos.spec import FaultSpec
from kubeheal.store.records import ActionRecord, IncidentRecord

__all__ = ["LedgerFacts", "Outage", "measure_fault", "outages", "resilience_score"]

_NOT_ACTIONS = frozenset({"escalate"})


@dataclass(frozen=True, slots=True)
class Outage:
    """Probes failing beyond tolerance from ``start`` until ``end`` (None: still failing)."""

    start: datetime
    end: datetime | None


@dataclass(frozen=True, slots=True)
class LedgerFacts:
    """What kubeheal's ledger says about a time range (None ledger: unknown)."""

    incidents: tuple[IncidentRecord, ...] = ()
    actions: Mapping[str, tuple[ActionRecord, ...]] | None = None

    @property
    def known(self) -> bool:
        return self.actions is not None


def _probe_outages(checks: Sequence[Check], tolerance: int) -> list[Outage]:
    found: list[Outage] = []
    start: datetime | None = None
    streak_start: datetime | None = None
    for check, failing in zip(checks, failing_flags(checks, tolerance), strict=True):
        if not check.ok:
            streak_start = streak_start or check.at
        if failing and start is None:
            start = streak_start
        if check.ok:
            if start is not None:
                found.append(Outage(start, check.at))
            start = streak_start = None
    if start is not None:
        found.append(Outage(start, None))
    return found


def outages(
    checks: Sequence[Check], *, probes: Sequence[str], tolerances: Mapping[str, int]
) -> list[Outage]:
    """The union of the outages of ``probes`` (each with its tolerance), in time order."""
    intervals: list[Outage] = []
    for name in probes:
        series = sorted((c for c in checks if c.probe == name), key=lambda c: c.at)
        intervals += _probe_outages(series, tolerances.get(name, 0))
    intervals.sort(key=lambda o: o.start)
    merged: list[Outage] = []
    for o in intervals:
        if merged:
            last = merged[-1]
            if last.end is None or o.start <= last.end:
                end = None if last.end is None or o.end is None else max(last.end, o.end)
                merged[-1] = Outage(last.start, end)
                continue
        merged.append(o)
    return merged


def _secs(delta: timedelta) -> float:
    return delta.total_seconds()


def _fmt(value: float | None) -> str:
    return "never" if value is None else f"{value:.0f}s"


def measure_fault(
    run: FaultRun,
    spec: FaultSpec,
    *,
    checks: Sequence[Check],
    probes: Sequence[str],
    tolerances: Mapping[str, int],
    ledger: LedgerFacts,
    outage: OutageFigures | None = None,
) -> FaultResult:
    """Figures and expectation verdicts of one fault (see the module docstring)."""
    t0 = run.started_at
    t1 = run.window_end or run.ended_at
    if t0 is None or t1 is None:
        return FaultResult(
            name=run.name,
            fault=run.fault,
            detect_s=None,
            act_s=None,
            recover_s=None,
            mttr_s=None,
            outages=0,
            kubeheal_acted=False,
            actions=(),
            probe_success_pct=0.0,
            availability_pct=0.0,
            weight=spec.weight,
            expectations=(
                ExpectationResult(
                    run.name, "ran", "the fault was injected", run.error or "not injected", ok=False
                ),
            ),
        )
    window = [c for c in checks if c.probe in probes]
    # the window's outages; a streak that began before t0 is not this fault's
    found = [
        o
        for o in outages(window, probes=probes, tolerances=tolerances)
        if o.start >= t0 and o.start <= t1
    ]
    closed = [o for o in found if o.end is not None]
    recover_s: float | None
    if not found:
        recover_s = 0.0
    elif found[-1].end is None:
        recover_s = None
    else:
        recover_s = _secs(found[-1].end - t0)
    mttr_s = (
        sum(_secs(o.end - o.start) for o in closed if o.end) / len(closed)
        if closed
        else (0.0 if not found else None)
    )
    in_window = [c for c in window if t0 <= c.at <= t1]
    passed_probes = 0
    for name in probes:
        series = sorted((c for c in checks if c.probe == name), key=lambda c: c.at)
        flags = failing_flags(series, tolerances.get(name, 0))
        if not any(f for c, f in zip(series, flags, strict=True) if t0 <= c.at <= t1):
            passed_probes += 1
    probe_success = 100.0 * passed_probes / len(probes) if probes else 100.0
    availability = (
        100.0 * sum(1 for c in in_window if c.ok) / len(in_window) if in_window else 100.0
    )

    targets = {(t[0], t[1], t[2]) for t in run.targets}
    slack = timedelta(seconds=1)
    mine = [
        i
        for i in ledger.incidents
        if (i.target.kind, i.target.namespace, i.target.name) in targets
        and t0 - slack <= i.opened_at <= t1
    ]
    detect_s = min((_secs(i.opened_at - t0) for i in mine), default=None)
    acts = [
        a
        for i in mine
        for a in (ledger.actions or {}).get(i.id, ())
        if a.action not in _NOT_ACTIONS
    ]
    acts.sort(key=lambda a: a.requested_at)
    act_s = _secs(acts[0].requested_at - t0) if acts else None
    escalations = [i.escalated_at for i in mine if i.escalated_at is not None]
    escalated_s = max(0.0, _secs(min(escalations) - t0)) if escalations else None
    if detect_s is not None:
        detect_s = max(0.0, detect_s)
    if act_s is not None:
        act_s = max(0.0, act_s)
    acted = bool(acts)

    expect = spec.expect
    results: list[ExpectationResult] = []

    def add(name: str, wanted: str, measured: str, ok: bool) -> None:
        results.append(ExpectationResult(run.name, name, wanted, measured, ok))

    if run.error is not None:
        add("injected", "the fault was injected", run.error, ok=False)
    no_ledger = not ledger.known
    for label, limit, value in (
        ("time to detect", expect.max_detect, detect_s),
        ("time to act", expect.max_act, act_s),
        ("time to escalate", expect.max_escalate, escalated_s),
    ):
        if limit is None:
            continue
        wanted = f"<= {_secs(limit):.0f}s"
        if no_ledger:
            add(label, wanted, "unknown (no ledger)", ok=False)
        else:
            add(label, wanted, _fmt(value), ok=value is not None and value <= _secs(limit))
    if expect.max_recover is not None:
        wanted = f"<= {_secs(expect.max_recover):.0f}s"
        ok = recover_s is not None and recover_s <= _secs(expect.max_recover)
        add("time to recover", wanted, _fmt(recover_s), ok=ok)
    if expect.kubeheal_acts is not None:
        wanted = "kubeheal acted" if expect.kubeheal_acts else "kubeheal did not act"
        if no_ledger:
            add("kubeheal acted", wanted, "unknown (no ledger)", ok=False)
        else:
            names = sorted({a.action for a in acts})
            measured = f"acted ({', '.join(names)})" if acted else "no action"
            add("kubeheal acted", wanted, measured, ok=acted == expect.kubeheal_acts)
    return FaultResult(
        name=run.name,
        fault=run.fault,
        detect_s=detect_s,
        act_s=act_s,
        recover_s=recover_s,
        mttr_s=mttr_s,
        outages=len(found),
        kubeheal_acted=acted,
        actions=tuple(a.action for a in acts),
        probe_success_pct=probe_success,
        availability_pct=availability,
        weight=spec.weight,
        expectations=tuple(results),
        escalated_after_s=escalated_s,
        outage_s=None if outage is None else outage.outage_s,
        outage_recovered_s=None if outage is None else outage.recovered_s,
        peak_missing=0 if outage is None else outage.peak_missing,
        outage_by_deployment=()
        if outage is None
        else tuple(sorted((f"{ns}/{name}", v) for (ns, name), v in outage.by_deployment.items())),
    )


def resilience_score(results: Sequence[FaultResult]) -> float | None:
    """``sum(weight x probe success %) / sum(weight)`` over the faults (LitmusChaos)."""
    total = sum(r.weight for r in results)
    if not results or total <= 0:
        return None
    return sum(r.weight * r.probe_success_pct for r in results) / total

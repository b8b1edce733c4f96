"""The typed journal of an experiment run: what was checked, injected, seen and undone.

The runner fills it; `kubeheal.chaos.measure` derives the per-fault figures and verdicts;
`kubeheal.chaos.report` turns it into JSON and HTML. Times are cluster time (the twin's
simulated clock, or the wall clock on a real cluster); ``wall_seconds`` says how long the run
took in real time.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubeheal.chaos.probes import Check

__all__ = [
    "ExpectationResult",
    "FaultResult",
    "FaultRun",
    "Journal",
    "RollbackRun",
    "RunStatus",
    "TimelineEvent",
]


class RunStatus(enum.StrEnum):
    """How a run ended: ``passed`` only when every expectation held."""

    PASSED = "passed"
    FAILED = "failed"  # an expectation did not hold
    ABORTED = "aborted"  # an abort condition stopped the method
    INTERRUPTED = "interrupted"  # cancelled (Ctrl-C)
    ERROR = "error"  # the method could not be carried out (a fault failed to inject)
    REFUSED = "refused"  # preflight refused to start: nothing was injected


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """Something on the timeline: ``fault`` injected/cleared, kubeheal ``signal``,
    ``incident``, ``action``, ``resolved``, ``escalated``, ``abort``, ``rollback``."""

    at: datetime
    kind: str
    subject: str
    detail: str = ""


@dataclass
class FaultRun:
    """What the method did for one fault."""

    name: str
    fault: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    window_end: datetime | None = None
    rounds: list[str] = field(default_factory=list)
    targets: set[tuple[str, str, str]] = field(default_factory=set)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RollbackRun:
    """One undo or rollback and whether it worked."""

    what: str
    at: datetime
    ok: bool
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ExpectationResult:
    """One expectation of one fault: what was wanted, what was measured, whether it held."""

    fault: str
    name: str
    wanted: str
    measured: str
    ok: bool


@dataclass(frozen=True, slots=True)
class FaultResult:
    """The measured figures of one fault (seconds after its first injection)."""

    name: str
    fault: str
    detect_s: float | None
    act_s: float | None
    recover_s: float | None
    mttr_s: float | None
    outages: int
    kubeheal_acted: bool
    actions: tuple[str, ...]
    probe_success_pct: float
    availability_pct: float
    weight: float
    expectations: tuple[ExpectationResult, ...]
    escalated_after_s: float | None = None
    """From the first injection to kubeheal's first escalation about the fault's targets."""
    outage_s: float | None = None
    """Replica-outage seconds of the fault's scope in its window (None: not sampled)."""
    outage_recovered_s: float | None = None
    """From the first injection until the scope had every replica back (None: never)."""
    peak_missing: int = 0
    """Most replicas of the scope missing at once."""
    outage_by_deployment: tuple[tuple[str, float], ...] = ()
    """(``namespace/name``, replica-outage seconds) of each Deployment that missed one."""

    @property
    def passed(self) -> bool:
        return all(e.ok for e in self.expectations)


@dataclass
class Journal:
    """Everything about one run of one experiment."""

    experiment: str
    description: str = ""
    status: RunStatus = RunStatus.ERROR
    started_at: datetime | None = None
    ended_at: datetime | None = None
    wall_seconds: float = 0.0
    kubeheal: str = "unknown"
    steady_before: list[Check] = field(default_factory=list)
    steady_after: list[Check] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    faults: list[FaultRun] = field(default_factory=list)
    events: list[TimelineEvent] = field(default_factory=list)
    rollbacks: list[RollbackRun] = field(default_factory=list)
    results: list[FaultResult] = field(default_factory=list)
    abort_reason: str | None = None
    error: str | None = None
    resilience_score: float | None = None
    mttr_s: float | None = None
    tolerances: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def cluster_seconds(self) -> float:
        if self.started_at is None or self.ended_at is None:
            return 0.0
        return (self.ended_at - self.started_at).total_seconds()

    @property
    def failed_expectations(self) -> list[ExpectationResult]:
        return [e for r in self.results for e in r.expectations if not e.ok]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the report's ``experiments[]`` entries)."""

        def ts(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        def rnd(value: float | None) -> float | None:
            return None if value is None else round(value, 1)

        return {
            "experiment": self.experiment,
            "description": self.description,
            "status": self.status.value,
            "kubeheal": self.kubeheal,
            "started_at": ts(self.started_at),
            "ended_at": ts(self.ended_at),
            "cluster_seconds": round(self.cluster_seconds, 1),
            "wall_seconds": round(self.wall_seconds, 1),
            "resilience_score": rnd(self.resilience_score),
            "mttr_s": rnd(self.mttr_s),
            "abort_reason": self.abort_reason,
            "error": self.error,
            "faults": [
                {
                    "name": r.name,
                    "fault": r.fault,
                    "detect_s": rnd(r.detect_s),
                    "act_s": rnd(r.act_s),
                    "escalated_after_s": rnd(r.escalated_after_s),
                    "recover_s": rnd(r.recover_s),
                    "outage_s": rnd(r.outage_s),
                    "outage_recovered_s": rnd(r.outage_recovered_s),
                    "peak_missing": r.peak_missing,
                    "outage_by_deployment": {k: round(v, 1) for k, v in r.outage_by_deployment},
                    "mttr_s": rnd(r.mttr_s),
                    "outages": r.outages,
                    "kubeheal_acted": r.kubeheal_acted,
                    "actions": list(r.actions),
                    "probe_success_pct": round(r.probe_success_pct, 1),
                    "availability_pct": round(r.availability_pct, 1),
                    "weight": r.weight,
                    "passed": r.passed,
                    "expectations": [
                        {"name": e.name, "wanted": e.wanted, "measured": e.measured, "ok": e.ok}
                        for e in r.expectations
                    ],
                }
                for r in self.results
            ],
            "failed_expectations": [
                f"{e.fault}: {e.name} (wanted {e.wanted}, measured {e.measured})"
                for e in self.failed_expectations
            ],
            "method": [
                {
                    "name": f.name,
                    "fault": f.fault,
                    "started_at": ts(f.started_at),
                    "ended_at": ts(f.ended_at),
                    "rounds": f.rounds,
                    "targets": sorted("/".join(t) for t in f.targets),
                    "error": f.error,
                }
                for f in self.faults
            ],
            "steady_state_before": [_check(c) for c in self.steady_before],
            "steady_state_after": [_check(c) for c in self.steady_after],
            "rollbacks": [
                {"what": r.what, "at": ts(r.at), "ok": r.ok, "error": r.error}
                for r in self.rollbacks
            ],
            "timeline": [
                {"at": ts(e.at), "kind": e.kind, "subject": e.subject, "detail": e.detail}
                for e in sorted(self.events, key=lambda e: e.at)
            ],
            "checks": len(self.checks),
            "notes": list(self.notes),
        }


def _check(c: Check) -> dict[str, Any]:
    return {"probe": c.probe, "at": c.at.isoformat(), "ok": c.ok, "detail": c.detail}

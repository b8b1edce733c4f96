"""Reports of chaos runs: JSON for machines (CI), HTML with a timeline for people.

`compare_runs` pairs the faults of the same suite run with kubeheal and without it: the
replica-outage seconds of both, their ratio, the time until every replica was back, a
verdict per fault ("kubeheal made it worse" when the outage with kubeheal was longer and
kubeheal acted on the cluster), and the mission's bar: a fault with a fix has an outage
at most 20 % of doing nothing's (or under 30 s), one with no safe fix is escalated in time.

The HTML page is self-contained: a summary, per experiment a table of faults (times to
detect, act and recover, MTTR, probe success, every expectation) and an inline SVG timeline
with one row per probe (green: passing, red: failing), the faults' active spans, and
kubeheal's signals, incidents, actions and resolutions as marks.

Pure: no I/O, no clock (the caller writes the strings).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubeheal.chaos.journal import Journal, RunStatus

__all__ = [
    "WORSE",
    "CompareRow",
    "compare_dict",
    "compare_runs",
    "render_html",
    "report_dict",
    "report_json",
    "timeline_svg",
]

_COLOURS = {
    "signal": "#9467bd",
    "incident": "#ff7f0e",
    "action": "#1f77b4",
    "resolved": "#2ca02c",
    "escalated": "#d62728",
    "abort": "#d62728",
    "rollback": "#7f7f7f",
    "fault": "#8c564b",
}


def report_dict(
    journals: Sequence[Journal], *, meta: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The report: every run, and whether all passed."""
    runs = [j.to_dict() for j in journals]
    failed = [f"{j['experiment']}: {x}" for j in runs for x in j["failed_expectations"]]
    failed += [
        f"{j['experiment']}: {j['status']}"
        + (f" ({j['error'] or j['abort_reason']})" if j["error"] or j["abort_reason"] else "")
        for j in runs
        if j["status"] not in ("passed", "failed")
    ]
    scores = [j["resilience_score"] for j in runs if j["resilience_score"] is not None]
    return {
        "kind": "kubeheal-chaos-report",
        "version": 1,
        **dict(meta or {}),
        "passed": all(j.status is RunStatus.PASSED for j in journals),
        "failures": failed,
        "resilience_score": round(sum(scores) / len(scores), 1) if scores else None,
        "experiments": runs,
    }


def report_json(journals: Sequence[Journal], *, meta: Mapping[str, Any] | None = None) -> str:
    return json.dumps(report_dict(journals, meta=meta), indent=2) + "\n"


def _x(at: datetime, start: datetime, span: float, width: float) -> float:
    return max(0.0, min(width, (at - start).total_seconds() / span * width))


def timeline_svg(journal: Journal, *, width: int = 900) -> str:
    """An SVG timeline of one run: probes, faults, kubeheal's events."""
    start = journal.started_at
    end = journal.ended_at
    if start is None or end is None:
        return "<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'></svg>"
    span = max(1.0, (end - start).total_seconds())
    label_w, row_h = 170, 22
    probes = list(journal.tolerances)
    rows = [*probes, "faults", "kubeheal"]
    height = row_h * len(rows) + 30
    out: list[str] = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width + label_w + 10}' "
        f"height='{height}' font-family='sans-serif' font-size='11' class='timeline'>"
    ]
    esc = html.escape
    for i, row in enumerate(rows):
        y = i * row_h + 4
        out.append(f"<text x='2' y='{y + 14}'>{esc(row)}</text>")
        out.append(
            f"<rect x='{label_w}' y='{y}' width='{width}' height='{row_h - 6}' fill='#f4f4f4'/>"
        )
    for i, name in enumerate(probes):
        series = sorted((c for c in journal.checks if c.probe == name), key=lambda c: c.at)
        y = i * row_h + 4
        for k, c in enumerate(series):
            x0 = _x(c.at, start, span, width)
            x1 = _x(series[k + 1].at, start, span, width) if k + 1 < len(series) else x0 + 2
            colour = "#2ca02c" if c.ok else "#d62728"
            out.append(
                f"<rect x='{label_w + x0:.1f}' y='{y}' width='{max(1.0, x1 - x0):.1f}' "
                f"height='{row_h - 6}' fill='{colour}'><title>{esc(c.at.isoformat())} "
                f"{esc(c.detail)}</title></rect>"
            )
    fy = len(probes) * row_h + 4
    for f in journal.faults:
        if f.started_at is None:
            continue
        x0 = _x(f.started_at, start, span, width)
        x1 = _x(f.ended_at or end, start, span, width)
        out.append(
            f"<rect x='{label_w + x0:.1f}' y='{fy + 3}' width='{max(2.0, x1 - x0):.1f}' "
            f"height='{row_h - 12}' fill='{_COLOURS['fault']}' opacity='0.7'>"
            f"<title>{esc(f.name)}: {esc('; '.join(f.rounds[:3]))}</title></rect>"
        )
    ky = fy + row_h
    for e in sorted(journal.events, key=lambda e: e.at):
        if e.kind in ("fault", "fault-cleared"):
            continue
        x = label_w + _x(e.at, start, span, width)
        colour = _COLOURS.get(e.kind, "#333")
        out.append(
            f"<circle cx='{x:.1f}' cy='{ky + 8}' r='4' fill='{colour}'><title>"
            f"{esc(e.at.isoformat())} {esc(e.kind)} {esc(e.subject)} {esc(e.detail)}"
            "</title></circle>"
        )
    out.append(
        f"<text x='{label_w}' y='{height - 4}'>0 s</text><text x='{label_w + width - 60}' "
        f"y='{height - 4}'>{span:.0f} s (cluster)</text></svg>"
    )
    return "".join(out)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} s"


def render_html(
    journals: Sequence[Journal],
    *,
    meta: Mapping[str, Any] | None = None,
    title: str = "",
    compare: Sequence[CompareRow] = (),
) -> str:
    """The HTML report; ``compare`` adds the table of the same suite run without kubeheal."""
    esc = html.escape
    report = report_dict(journals, meta=meta)
    verdict = "PASSED" if report["passed"] else "FAILED"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{esc(title or 'kubeheal chaos report')}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
        ".ok{color:#2ca02c}.bad{color:#d62728}</style></head><body>",
        f"<h1>{esc(title or 'kubeheal chaos report')}: "
        f"<span class='{'ok' if report['passed'] else 'bad'}'>{verdict}</span></h1>",
    ]
    for key in ("mode", "kubeheal", "speed", "command", "target_mttr_s"):
        if key in report:
            parts.append(f"<div>{esc(key)}: {esc(str(report[key]))}</div>")
    if compare:
        parts.append(
            "<h2>With kubeheal and without it</h2><p>replica-outage seconds; MTTR: until every "
            "replica of the fault's Deployments was back (cluster seconds)</p><table><tr>"
            "<th>experiment</th><th>fault</th><th>outage</th><th>without</th><th>ratio</th>"
            "<th>MTTR</th><th>MTTR without</th><th>actions</th><th>verdict</th><th>target</th>"
            "</tr>"
        )
        for row in compare:
            cls = "bad" if row.verdict == WORSE else "ok" if row.verdict == "better" else ""
            ratio = "-" if row.ratio is None else f"{row.ratio:.2f}"
            parts.append(
                f"<tr><td>{esc(row.experiment)}</td><td>{esc(row.fault)}</td>"
                f"<td>{_fmt(row.outage_s)}</td><td>{_fmt(row.outage_without_s)}</td>"
                f"<td>{ratio}</td><td>{_fmt(row.mttr_s)}</td><td>{_fmt(row.mttr_without_s)}</td>"
                f"<td>{esc(', '.join(row.actions) or 'none')}</td>"
                f"<td class='{cls}'>{esc(row.verdict)}</td><td>{esc(row.target)}</td></tr>"
            )
        parts.append("</table>")
    if report["failures"]:
        parts.append("<h2>Failures</h2><ul>")
        parts += [f"<li class='bad'>{esc(f)}</li>" for f in report["failures"]]
        parts.append("</ul>")
    for journal, data in zip(journals, report["experiments"], strict=True):
        cls = "ok" if journal.status is RunStatus.PASSED else "bad"
        parts.append(
            f"<h2>{esc(journal.experiment)}: <span class='{cls}'>{esc(journal.status.value)}"
            f"</span></h2><p>{esc(journal.description)}</p>"
            f"<p>cluster time {data['cluster_seconds']} s, wall {data['wall_seconds']} s; "
            f"resilience score {data['resilience_score']}; MTTR {_fmt(journal.mttr_s)}</p>"
        )
        if journal.error or journal.abort_reason:
            parts.append(f"<p class='bad'>{esc(journal.error or journal.abort_reason or '')}</p>")
        parts.append(
            "<table><tr><th>fault</th><th>detected</th><th>acted</th><th>escalated</th>"
            "<th>recovered</th><th>MTTR</th><th>replica-outage</th><th>probe success</th>"
            "<th>actions</th><th>expectations</th></tr>"
        )
        for r in journal.results:
            exps = "<br>".join(
                f"<span class='{'ok' if e.ok else 'bad'}'>{esc(e.name)}: {esc(e.measured)} "
                f"(wanted {esc(e.wanted)})</span>"
                for e in r.expectations
            )
            parts.append(
                f"<tr><td>{esc(r.name)} ({esc(r.fault)})</td><td>{_fmt(r.detect_s)}</td>"
                f"<td>{_fmt(r.act_s)}</td><td>{_fmt(r.escalated_after_s)}</td>"
                f"<td>{_fmt(r.recover_s)}</td><td>{_fmt(r.mttr_s)}</td>"
                f"<td>{_fmt(r.outage_s)}</td>"
                f"<td>{r.probe_success_pct:.0f}%</td><td>{esc(', '.join(sorted(set(r.actions))))}"
                f"</td><td>{exps}</td></tr>"
            )
        parts.append("</table>")
        parts.append(timeline_svg(journal))
        if journal.rollbacks:
            parts.append("<h3>Rollbacks</h3><ul>")
            parts += [
                f"<li class='{'ok' if r.ok else 'bad'}'>{esc(r.what)}"
                + (f": {esc(r.error or '')}" if not r.ok else "")
                + "</li>"
                for r in journal.rollbacks
            ]
            parts.append("</ul>")
    parts.append("</body></html>\n")
    return "".join(parts)


# --------------------------------------------------------------------------- with vs without

WORSE = "kubeheal made it worse"


@dataclass(frozen=True, slots=True)
class CompareRow:
    """One fault of the same suite run with kubeheal and without it."""

    experiment: str
    fault: str
    outage_s: float | None
    outage_without_s: float | None
    mttr_s: float | None
    """Time until the fault's Deployments had every replica back (None: never)."""
    mttr_without_s: float | None
    detect_s: float | None
    act_s: float | None
    escalated_after_s: float | None
    actions: tuple[str, ...]
    passed: bool
    passed_without: bool
    no_safe_fix: bool = False
    """The fault expects an escalation (``expect.max_escalate``), not a fix."""
    escalated_in_time: bool | None = None
    """Whether that escalation came within ``max_escalate`` (None: no such expectation)."""

    @property
    def target(self) -> str:
        """The issue's bar for the fault: with a fix, an outage at most 20 % of doing
        nothing's or under 30 s; with no safe fix, an escalation in time."""
        if self.no_safe_fix:
            return "met" if self.escalated_in_time else "missed"
        if self.outage_s is None or self.outage_without_s is None:
            return "not measured"
        if self.outage_s < 30 or self.outage_s <= 0.2 * self.outage_without_s:
            return "met"
        return "missed"

    @property
    def ratio(self) -> float | None:
        """Outage with kubeheal over outage without (None when either is unknown or there
        was no outage without)."""
        if self.outage_s is None or self.outage_without_s is None or self.outage_without_s <= 0:
            return None
        return self.outage_s / self.outage_without_s

    @property
    def verdict(self) -> str:
        if self.outage_s is None or self.outage_without_s is None:
            return "not measured"
        if self.outage_s > self.outage_without_s:
            if self.actions:
                return WORSE
            return "longer, no action (noise)"
        if self.outage_s < self.outage_without_s:
            return "better"
        return "same"

    def to_dict(self) -> dict[str, Any]:
        def rnd(value: float | None) -> float | None:
            return None if value is None else round(value, 1)

        return {
            "experiment": self.experiment,
            "fault": self.fault,
            "outage_s": rnd(self.outage_s),
            "outage_without_s": rnd(self.outage_without_s),
            "ratio": None if self.ratio is None else round(self.ratio, 3),
            "mttr_s": rnd(self.mttr_s),
            "mttr_without_s": rnd(self.mttr_without_s),
            "detect_s": rnd(self.detect_s),
            "act_s": rnd(self.act_s),
            "escalated_after_s": rnd(self.escalated_after_s),
            "actions": list(self.actions),
            "passed": self.passed,
            "passed_without": self.passed_without,
            "no_safe_fix": self.no_safe_fix,
            "verdict": self.verdict,
            "target": self.target,
        }


def compare_runs(with_kubeheal: Sequence[Journal], without: Sequence[Journal]) -> list[CompareRow]:
    """Pair the faults of two runs of the same suite by experiment and fault name (a fault
    missing from one run has its figures None there)."""
    other = {(j.experiment, r.name): r for j in without for r in j.results}
    rows: list[CompareRow] = []
    for journal in with_kubeheal:
        for r in journal.results:
            o = other.get((journal.experiment, r.name))
            escalation = [e for e in r.expectations if e.name == "time to escalate"]
            rows.append(
                CompareRow(
                    experiment=journal.experiment,
                    fault=r.name,
                    outage_s=r.outage_s,
                    outage_without_s=None if o is None else o.outage_s,
                    mttr_s=r.outage_recovered_s if r.outage_s is not None else None,
                    mttr_without_s=(
                        o.outage_recovered_s if o is not None and o.outage_s is not None else None
                    ),
                    detect_s=r.detect_s,
                    act_s=r.act_s,
                    escalated_after_s=r.escalated_after_s,
                    actions=tuple(sorted(set(r.actions))),
                    passed=r.passed,
                    passed_without=o is not None and o.passed,
                    no_safe_fix=bool(escalation),
                    escalated_in_time=all(e.ok for e in escalation) if escalation else None,
                )
            )
    return rows


def compare_dict(
    rows: Sequence[CompareRow],
    *,
    with_kubeheal: Sequence[Journal],
    without: Sequence[Journal],
    meta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``--compare`` report: the rows, the totals, and both runs in full."""
    known = [r for r in rows if r.outage_s is not None and r.outage_without_s is not None]
    total_with = sum(r.outage_s or 0.0 for r in known)
    total_without = sum(r.outage_without_s or 0.0 for r in known)
    return {
        "kind": "kubeheal-chaos-compare",
        "version": 1,
        **dict(meta or {}),
        "worse": [f"{r.experiment}/{r.fault}" for r in rows if r.verdict == WORSE],
        "targets_missed": [f"{r.experiment}/{r.fault}" for r in rows if r.target == "missed"],
        "outage_s": round(total_with, 1),
        "outage_without_s": round(total_without, 1),
        "ratio": round(total_with / total_without, 3) if total_without > 0 else None,
        "faults": [r.to_dict() for r in rows],
        "with_kubeheal": report_dict(with_kubeheal),
        "without_kubeheal": report_dict(without),
    }

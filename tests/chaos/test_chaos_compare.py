"""`kubeheal chaos gameday --compare`: the same suite with kubeheal and without it, side by side.

A small run (twin x20, faults at 20 %, two rollout faults kubeheal heals and the pod kill it
leaves to the ReplicaSet): both columns are filled from real runs, and a healed fault's
replica-outage is shorter with kubeheal than without it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kubeheal.chaos.journal import ExpectationResult, FaultResult, Journal
from kubeheal.chaos.report import WORSE, compare_dict, compare_runs, render_html


def _result(name: str, outage: float | None, actions: tuple[str, ...] = ()) -> FaultResult:
    return FaultResult(
        name=name,
        fault="bad-rollout",
        detect_s=5.0 if actions else None,
        act_s=6.0 if actions else None,
        recover_s=20.0,
        mttr_s=15.0,
        outages=1,
        kubeheal_acted=bool(actions),
        actions=actions,
        probe_success_pct=0.0,
        availability_pct=50.0,
        weight=10.0,
        expectations=(),
        outage_s=outage,
        outage_recovered_s=None if outage is None else 30.0,
    )


def _journal(experiment: str, *results: FaultResult) -> Journal:
    journal = Journal(experiment=experiment, started_at=datetime(2026, 1, 1, tzinfo=UTC))
    journal.results.extend(results)
    return journal


def test_rows_pair_faults_and_judge_each() -> None:
    with_kh = [
        _journal("a", _result("healed", 10.0, ("rollback_deployment",))),
        _journal("b", _result("worse", 50.0, ("restart_pod",))),
        _journal("c", _result("noise", 21.0)),
        _journal("d", _result("unmeasured", None)),
    ]
    without = [
        _journal("a", _result("healed", 100.0)),
        _journal("b", _result("worse", 40.0)),
        _journal("c", _result("noise", 20.0)),
    ]
    rows = {r.experiment: r for r in compare_runs(with_kh, without)}
    assert rows["a"].verdict == "better" and rows["a"].ratio == 0.1
    assert rows["b"].verdict == WORSE
    assert rows["c"].verdict != WORSE  # longer, but kubeheal did nothing to the cluster
    assert rows["d"].verdict == "not measured" and rows["d"].outage_without_s is None
    data = compare_dict(list(rows.values()), with_kubeheal=with_kh, without=without)
    assert data["worse"] == ["b/worse"]
    assert rows["a"].target == "met"  # 10 % of doing nothing's
    assert rows["b"].target == "missed" and rows["c"].target == "met"  # c: under 30 s
    assert data["targets_missed"] == ["b/worse"]
    page = render_html(with_kh, compare=list(rows.values()))
    assert "With kubeheal and without it" in page
    assert f"<td class='bad'>{WORSE}</td>" in page and "<td>0.10</td>" in page
    assert data["outage_s"] == 81.0 and data["outage_without_s"] == 160.0


def test_a_fault_with_no_safe_fix_is_judged_by_its_escalation() -> None:
    def hang(ok: bool) -> FaultResult:
        escalate = ExpectationResult("hang", "time to escalate", "<= 60s", "45s", ok)
        return replace(_result("hang", 300.0), expectations=(escalate,), escalated_after_s=45.0)

    for ok, target in ((True, "met"), (False, "missed")):
        (row,) = compare_runs([_journal("h", hang(ok))], [_journal("h", _result("hang", 500.0))])
        assert row.no_safe_fix and row.target == target
        assert row.to_dict()["escalated_after_s"] == 45.0


@pytest.mark.slow
def test_compare_runs_both_and_kubeheal_shortens_a_healed_outage(tmp_path: Path) -> None:
    out = tmp_path / "compare.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "kubeheal.cli.main",
            "chaos",
            "gameday",
            "--compare",
            "--scale",
            "0.2",
            "--speed",
            "20",
            "--only",
            "bad-rollout",
            "--only",
            "image-pull-error",
            "--report",
            str(out),
            "--html",
            str(tmp_path / "compare.html"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["kind"] == "kubeheal-chaos-compare"
    rows = {r["experiment"]: r for r in data["faults"]}
    assert set(rows) == {"bad-rollout", "image-pull-error"}
    for row in rows.values():
        # both columns come from real runs: the one without kubeheal had an outage
        assert row["outage_s"] is not None and row["outage_without_s"] is not None, row
        assert row["outage_without_s"] > 0, row
        assert row["actions"] == ["rollback_deployment"], row
        assert row["outage_s"] < row["outage_without_s"], row
        assert row["verdict"] == "better", row
        assert row["mttr_s"] is not None and row["mttr_s"] < 90, row
        # the bar at this scale (faults of 60 s: doing nothing costs less than at full length)
        met = row["outage_s"] < 30 or row["outage_s"] <= 0.2 * row["outage_without_s"]
        assert row["target"] == ("met" if met else "missed") and not row["no_safe_fix"], row
    # the two runs are in the report in full: kubeheal ran in one, not in the other
    assert data["with_kubeheal"]["experiments"][0]["kubeheal"] == "running"
    assert data["without_kubeheal"]["experiments"][0]["kubeheal"] == "stopped"
    assert data["worse"] == [] and data["ratio"] < 1
    assert "outage" in proc.stdout and "without" in proc.stdout
    page = (tmp_path / "compare.html").read_text()
    assert "With kubeheal and without it" in page and "bad-rollout" in page

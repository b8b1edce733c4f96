"""The game day on the twin: passes with kubeheal, fails (non-zero exit, named) without it.

Both runs go at the same time (twin x20, faults shortened to 40 %, the first five
experiments) to keep the wall time small; the expectations stay at the mission's 3 minutes.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from kubeheal.chaos.journal import RunStatus
from kubeheal.chaos.report import render_html, report_dict
from kubeheal.cli.chaos import run_gameday

SCALE = "0.4"
# the game day's first five experiments (the rest are measured by the --compare test and
# the benchmarks)
ORIGINAL = ("pod-delete", "network-latency", "cpu-hog", "oom-leak", "node-pressure")


@pytest.mark.slow
async def test_gameday_passes_with_kubeheal_and_fails_without(tmp_path: Path) -> None:
    report = tmp_path / "without.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kubeheal.cli.main",
        "chaos",
        "gameday",
        "--without-kubeheal",
        "--scale",
        SCALE,
        "--speed",
        "20",
        "--report",
        str(report),
        *(arg for name in ORIGINAL for arg in ("--only", name)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    journals = await run_gameday(speed=20.0, scale=float(SCALE), with_kubeheal=True, only=ORIGINAL)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=240)

    # with kubeheal: every expectation held, recovery within the mission's 3 minutes
    failed = [f"{j.experiment}: {e}" for j in journals for e in j.failed_expectations]
    assert [j.status for j in journals] == [RunStatus.PASSED] * 5, failed
    by_name = {j.experiment: j for j in journals}
    for name in ("network-latency", "oom-leak", "node-pressure"):
        (result,) = by_name[name].results
        assert result.kubeheal_acted, name
        assert result.recover_s is not None and result.recover_s <= 180, (name, result)
    assert "restart_pod" in by_name["network-latency"].results[0].actions
    assert "drain_node" in by_name["node-pressure"].results[0].actions
    data = report_dict(journals)
    assert data["passed"] is True and data["failures"] == []
    html = render_html(journals, title="game day")
    assert html.count("<svg") == 5 and "drain_node" in html

    # without kubeheal: the gate fails, and says which expectations
    assert proc.returncode == 1, out.decode()[-3000:]
    text = out.decode()
    assert "the chaos gate FAILED" in text
    without = json.loads(report.read_text())
    assert without["passed"] is False and without["kubeheal"] == "stopped"
    failures = "\n".join(without["failures"])
    for name in ("network-latency", "oom-leak", "node-pressure"):
        assert f"{name}: " in failures and "kubeheal acted" in failures
    assert "node-pressure: memory-pressure: time to recover (wanted <= 180s, measured never)" in (
        failures
    )
    statuses = {e["experiment"]: e["status"] for e in without["experiments"]}
    assert statuses["network-latency"] == statuses["oom-leak"] == "failed"
    assert statuses["pod-delete"] == "passed"

"""The demo's per-fault verdicts and summary on plain data (no twin)."""

from __future__ import annotations

from kubeheal.cli.demo import SUITE, DemoResult, summary


def _result(expect: str, *, healed: bool = False, escalated: float | None = None) -> DemoResult:
    return DemoResult(
        fault=f"{expect}-fault",
        description="",
        healed=healed,
        escalated_after_s=escalated,
        expect=expect,
        outage_s=10.0,
    )


def test_handled_follows_what_each_fault_expects() -> None:
    assert _result("heal", healed=True).handled
    assert not _result("heal", escalated=30.0).handled  # a fix exists: escalating is not enough
    assert _result("escalate", escalated=30.0).handled
    assert not _result("escalate").handled
    assert _result("either", escalated=5.0).handled and _result("either", healed=True).handled
    assert not _result("either").handled
    assert _result("controller", healed=True).handled and not _result("controller").handled
    assert _result("metrics").handled  # only a metrics source can see it


def test_summary_and_json_carry_the_outage_and_the_escalation() -> None:
    results = [_result("heal", healed=True), _result("escalate", escalated=42.0)]
    line = summary(results, 99.4)
    assert line == (
        "1/2 faults healed, 1 escalated, 2/2 handled as expected; 20 replica-outage seconds; "
        "99 s of wall time"
    )
    row = results[1].to_json()
    assert row["escalated_after_s"] == 42.0 and row["outage_s"] == 10.0 and row["handled"]


def test_the_suite_covers_the_catalogue() -> None:
    kinds = {case.spec["kind"] for case in SUITE}
    assert len(SUITE) >= 10
    assert kinds >= {
        "crash-on-start",
        "image-pull-error",
        "memory-leak",
        "node-not-ready",
        "cpu-hog",
        "traffic-spike",
        "node-disk-pressure",
        "hang",
        "error-burst",
        "latency-spike",
        "pod-kill",
    }
    assert {case.expect for case in SUITE} <= {
        "heal",
        "controller",
        "escalate",
        "either",
        "metrics",
    }

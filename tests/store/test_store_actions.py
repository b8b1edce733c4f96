"""Idempotent actions: a key is inserted once, whatever the retries, restarts and threads."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from kubeheal.store import (
    ActionBegin,
    ActionState,
    ConflictError,
    IncidentState,
    InvalidRecordError,
    Ledger,
    LedgerError,
    NotFoundError,
    Resolution,
    TargetRef,
)

At = Callable[[float], datetime]
KEY = "inc-1/oom/step-0/raise-memory"


def _setup(ledger: Ledger, at: At, target: TargetRef) -> None:
    ledger.open_incident(incident_id="inc-1", target=target, opened_at=at(10), detected_at=at(0))


def _begin(ledger: Ledger, at: At, target: TargetRef, t: float = 20) -> ActionBegin:
    return ledger.begin_action(
        KEY,
        incident_id="inc-1",
        action="raise-memory",
        target=target,
        params={"container": "app", "limit": "384Mi"},
        requested_at=at(t),
    )


def test_first_begin_inserts_pending_and_counts_an_attempt(
    ledger: Ledger, at: At, cart: TargetRef
) -> None:
    _setup(ledger, at, cart)
    begun = _begin(ledger, at, cart)
    assert begun.created is True
    record = begun.record
    assert record.state is ActionState.PENDING
    assert (record.idempotency_key, record.incident_id, record.action) == (
        KEY,
        "inc-1",
        "raise-memory",
    )
    assert record.params == {"container": "app", "limit": "384Mi"}
    assert record.requested_at == at(20) and record.finished_at is None
    incident = ledger.get_incident("inc-1")
    assert (incident.attempts, incident.first_action_at) == (1, at(20))


def test_second_begin_returns_the_stored_pending_record(
    ledger: Ledger, at: At, cart: TargetRef
) -> None:
    _setup(ledger, at, cart)
    first = _begin(ledger, at, cart, t=20)
    again = ledger.begin_action(
        KEY,
        incident_id="inc-1",
        action="raise-memory",
        target=cart,
        params={"container": "app", "limit": "512Mi"},  # recomputed after a restart
        requested_at=at(99),
    )
    assert again.created is False
    assert again.record == first.record  # stored params and time win
    incident = ledger.get_incident("inc-1")
    assert (incident.attempts, incident.first_action_at) == (1, at(20))
    assert len(ledger.actions_for_incident("inc-1")) == 1


def test_begin_after_finish_returns_the_finished_record(
    ledger: Ledger, at: At, cart: TargetRef
) -> None:
    _setup(ledger, at, cart)
    _begin(ledger, at, cart)
    finished = ledger.finish_action(KEY, state=ActionState.FAILED, finished_at=at(25), error="409")
    assert (finished.state, finished.finished_at, finished.error) == (
        ActionState.FAILED,
        at(25),
        "409",
    )
    again = _begin(ledger, at, cart, t=30)
    assert again.created is False
    assert again.record == finished


def test_begin_survives_a_restart(db_path: Path, at: At, cart: TargetRef) -> None:
    with Ledger.open(db_path) as before_crash:
        _setup(before_crash, at, cart)
        assert _begin(before_crash, at, cart).created
    # The operator died between the ledger write and the cluster write: the new process
    # finds the pending key and must not blindly repeat it.
    with Ledger.open(db_path) as after_restart:
        again = _begin(after_restart, at, cart, t=300)
        assert again.created is False and again.record.state is ActionState.PENDING
        assert [a.idempotency_key for a in after_restart.pending_actions()] == [KEY]


def test_key_reused_for_another_action_is_a_conflict(
    ledger: Ledger, at: At, cart: TargetRef
) -> None:
    _setup(ledger, at, cart)
    _begin(ledger, at, cart)
    with pytest.raises(ConflictError, match="already used by action 'raise-memory'"):
        ledger.begin_action(
            KEY,
            incident_id="inc-1",
            action="restart-pod",
            target=cart,
            params={},
            requested_at=at(30),
        )
    with pytest.raises(ConflictError, match="already used"):
        ledger.begin_action(
            KEY,
            incident_id="inc-1",
            action="raise-memory",
            target=TargetRef("Deployment", "shop", "web"),
            params={},
            requested_at=at(30),
        )


def test_no_new_action_on_a_closed_or_unknown_incident(
    ledger: Ledger, at: At, cart: TargetRef
) -> None:
    with pytest.raises(NotFoundError):
        _begin(ledger, at, cart)
    _setup(ledger, at, cart)
    ledger.transition_incident(
        "inc-1",
        from_state=IncidentState.OPEN,
        to_state=IncidentState.RESOLVED,
        at=at(15),
        reason="gone",
        resolution=Resolution.FALSE_POSITIVE,
    )
    with pytest.raises(ConflictError, match="is resolved"):
        _begin(ledger, at, cart)
    assert ledger.actions_for_incident("inc-1") == []


def test_finish_rules(ledger: Ledger, at: At, cart: TargetRef) -> None:
    _setup(ledger, at, cart)
    with pytest.raises(NotFoundError):
        ledger.finish_action(KEY, state=ActionState.SUCCEEDED, finished_at=at(21))
    _begin(ledger, at, cart)
    with pytest.raises(InvalidRecordError, match="not an outcome"):
        ledger.finish_action(KEY, state=ActionState.PENDING, finished_at=at(21))
    done = ledger.finish_action(KEY, state=ActionState.SUCCEEDED, finished_at=at(21))
    # Reporting the same outcome twice (a retried finish) is harmless...
    assert ledger.finish_action(KEY, state=ActionState.SUCCEEDED, finished_at=at(40)) == done
    # ...a contradicting one is not.
    with pytest.raises(ConflictError, match="already finished as succeeded"):
        ledger.finish_action(KEY, state=ActionState.FAILED, finished_at=at(41), error="x")
    assert ledger.get_action(KEY) == done
    assert ledger.pending_actions() == []


def _race(begin: Callable[[int], ActionBegin], workers: int) -> list[ActionBegin | BaseException]:
    barrier = threading.Barrier(workers)
    results: list[ActionBegin | BaseException] = [RuntimeError("not run")] * workers

    def run(n: int) -> None:
        barrier.wait()
        try:
            results[n] = begin(n)
        except BaseException as e:  # collected and asserted on below
            results[n] = e

    threads = [threading.Thread(target=run, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return results


def _count_actions(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        (count,) = conn.execute("SELECT count(*) FROM actions").fetchone()
    finally:
        conn.close()
    return int(count)


def test_concurrent_begin_on_one_ledger_inserts_once(
    ledger: Ledger, at: At, cart: TargetRef
) -> None:
    _setup(ledger, at, cart)
    results = _race(lambda n: _begin(ledger, at, cart, t=20 + n), workers=12)
    assert all(isinstance(r, ActionBegin) for r in results), results
    begun = [r for r in results if isinstance(r, ActionBegin)]
    assert sum(r.created for r in begun) == 1
    assert all(r.record == begun[0].record for r in begun)  # everyone sees the stored one
    assert len(ledger.actions_for_incident("inc-1")) == 1
    assert ledger.get_incident("inc-1").attempts == 1


def test_concurrent_begin_from_separate_connections_inserts_once(
    db_path: Path, at: At, cart: TargetRef
) -> None:
    workers = 8
    with Ledger.open(db_path) as setup:
        _setup(setup, at, cart)
    ledgers = [Ledger.open(db_path) for _ in range(workers)]
    try:
        results = _race(lambda n: _begin(ledgers[n], at, cart, t=20 + n), workers=workers)
    finally:
        for one in ledgers:
            one.close()
    assert all(isinstance(r, ActionBegin) for r in results), results
    begun = [r for r in results if isinstance(r, ActionBegin)]
    assert sum(r.created for r in begun) == 1
    assert all(r.record == begun[0].record for r in begun)
    assert _count_actions(db_path) == 1
    with Ledger.open(db_path) as check:
        assert check.get_incident("inc-1").attempts == 1


def test_concurrent_open_incident_for_one_target_opens_one(
    db_path: Path, at: At, cart: TargetRef
) -> None:
    workers = 6
    ledgers = [Ledger.open(db_path) for _ in range(workers)]
    try:
        results = _race(
            lambda n: ledgers[n].open_incident(  # type: ignore[arg-type,return-value]
                incident_id=f"inc-{n}", target=cart, opened_at=at(n), detected_at=at(0)
            ),
            workers=workers,
        )
    finally:
        for one in ledgers:
            one.close()
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == workers - 1
    assert all(isinstance(e, ConflictError) and isinstance(e, LedgerError) for e in errors)
    with Ledger.open(db_path) as check:
        assert check.open_incident_for_target(cart) is not None

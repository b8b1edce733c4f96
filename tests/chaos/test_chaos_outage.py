"""Replica-outage accounting on plain data (kubeheal.chaos.outage)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubeheal.chaos.outage import (
    IncidentTimes,
    ReplicaCounts,
    Sample,
    incident_times,
    replica_counts,
    replica_outage,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def dep(
    name: str, desired: int, available: int, updated: int | None = None, **kw: int
) -> ReplicaCounts:
    return ReplicaCounts(
        "ns", name, desired, available, available if updated is None else updated, **kw
    )


def test_missing_is_the_worst_of_available_and_updated_capped_at_the_reference() -> None:
    assert dep("a", 3, 3).missing == 0
    assert dep("a", 3, 1).missing == 2
    assert dep("a", 3, 3, updated=1).missing == 2  # rollout not through yet
    # a rollout stuck on a surge pod that never gets ready: the old pods still serve, but
    # none of the three replicas is of the new template
    assert dep("a", 3, 3, updated=1, unavailable=1).missing == 3
    assert dep("a", 1, 1, updated=1, unavailable=1).missing == 1  # image pull error
    assert dep("a", 1, 0, unavailable=5).missing == 1
    assert dep("a", 0, 0).missing == 0
    # against the replicas it had when the fault began
    # a scale-out's pods starting
    assert dep("a", 5, 3, updated=5, unavailable=2).missing_of(3) == 0
    assert dep("a", 0, 0).missing_of(3) == 3  # scaled to zero
    assert dep("a", 3, 1).missing_of(2) == 1


def test_a_scale_out_during_the_fault_is_no_outage_and_a_scale_to_zero_is() -> None:
    scaled_out = [
        Sample(at(0), (dep("a", 3, 3),)),
        Sample(at(10), (dep("a", 5, 3, updated=5, unavailable=2),)),  # the HPA adds two pods
        Sample(at(20), (dep("a", 5, 5),)),
    ]
    assert replica_outage(scaled_out, start=at(0)).outage_s == 0.0
    # an HPA scaling back down after a spike is no outage either
    scaled_back = [
        Sample(at(0), (dep("a", 5, 5),)),
        Sample(at(10), (dep("a", 2, 2),)),
        Sample(at(20), (dep("a", 2, 1),)),  # but one of the two it keeps failing is
        Sample(at(30), (dep("a", 2, 2),)),
    ]
    assert replica_outage(scaled_back, start=at(0)).outage_s == pytest.approx(10.0)
    zeroed = [
        Sample(at(0), (dep("a", 3, 3),)),
        Sample(at(10), (dep("a", 0, 0),)),
        Sample(at(30), (dep("a", 3, 3),)),
    ]
    figures = replica_outage(zeroed, start=at(0))
    assert figures.outage_s == pytest.approx(3 * 20)
    assert figures.recovered_s == pytest.approx(30.0)


def test_counts_from_the_api_form() -> None:
    counts = replica_counts(
        {
            "metadata": {"namespace": "demo", "name": "web", "generation": 4},
            "spec": {"replicas": 3},
            "status": {
                "observedGeneration": 4,
                "replicas": 3,
                "availableReplicas": 2,
                "updatedReplicas": 3,
                "unavailableReplicas": 1,
            },
        }
    )
    assert counts == ReplicaCounts("demo", "web", 3, 2, 3, 1, replicas=3)
    assert counts.missing == 1
    # a status that has not seen the latest generation: nothing counts as updated, unless
    # an earlier fresh status saw the same template (see the next test)
    stale = replica_counts(
        {
            "metadata": {"namespace": "demo", "name": "web", "generation": 5},
            "spec": {},
            "status": {"observedGeneration": 4, "availableReplicas": 1, "updatedReplicas": 1},
        }
    )
    assert stale.stale and stale.desired == 1 and stale.missing == 1
    # zero counts are omitted by the API: a written status without replicas has none
    assert replica_counts({"status": {"observedGeneration": 1}}).replicas == 0
    assert replica_counts({"status": {}}).replicas is None


def test_updated_available_is_what_the_status_proves() -> None:
    # a scale-out 3 -> 5 whose two pods are not created yet: unavailableReplicas (2) counts
    # them, but the three pods that exist are updated and available
    scaling = dep("a", 5, 3, updated=3, unavailable=2, replicas=3)
    assert scaling.updated_available == 3 and scaling.missing_of(3) == 0
    # without status.replicas, the fallback (updated - unavailable) cannot tell
    assert dep("a", 5, 3, updated=3, unavailable=2).missing_of(3) == 2
    # a rollout stuck on a surge pod that never gets ready: 3 old pods serve, 1 new exists
    stuck = dep("a", 3, 3, updated=1, unavailable=1, replicas=4)
    assert stuck.updated_available == 0 and stuck.missing == 3
    # half through a rollout: 2 new available, 1 old available
    assert dep("a", 3, 3, updated=2, replicas=3).missing == 1
    # a lower bound: an old pod unavailable makes it undercount the new ones (never more)
    assert dep("a", 3, 2, updated=2, replicas=3).updated_available == 1
    assert dep("a", 3, 3, replicas=3, stale=True).updated_available == 0


def api(
    generation: int, observed: int, desired: int, template: str, **status: int
) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "bookinfo", "name": "productpage-v1", "generation": generation},
        "spec": {"replicas": desired, "template": {"spec": {"image": template}}},
        "status": {"observedGeneration": observed, **status},
    }


def test_an_hpa_scale_out_as_the_twin_reports_it_is_no_outage() -> None:
    # the statuses the game day's CPU hog sampled (productpage-v1 at 2 replicas when the
    # fault began, scaled to 3, 5 and 7): each scale first shows a stale status (the
    # generation bumped by spec.replicas), then pods asked for and not yet created
    states = [
        api(3, 3, 2, "v1", replicas=2, updatedReplicas=2, availableReplicas=2),
        api(4, 3, 3, "v1", replicas=2, updatedReplicas=2, availableReplicas=2),
        api(
            4, 4, 3, "v1", replicas=2, updatedReplicas=2, availableReplicas=2, unavailableReplicas=1
        ),
        api(
            4, 4, 3, "v1", replicas=3, updatedReplicas=3, availableReplicas=2, unavailableReplicas=1
        ),
        api(4, 4, 3, "v1", replicas=3, updatedReplicas=3, availableReplicas=3),
        api(5, 4, 5, "v1", replicas=3, updatedReplicas=3, availableReplicas=3),
        api(
            5, 5, 5, "v1", replicas=3, updatedReplicas=3, availableReplicas=3, unavailableReplicas=2
        ),
        api(
            5, 5, 5, "v1", replicas=5, updatedReplicas=5, availableReplicas=3, unavailableReplicas=2
        ),
        api(5, 5, 5, "v1", replicas=5, updatedReplicas=5, availableReplicas=5),
    ]
    samples = [Sample(at(2 * i), (replica_counts(s),)) for i, s in enumerate(states)]
    assert replica_outage(samples, start=at(0)).outage_s == 0.0
    # one replica of the two is lost for real at the end: counted
    lost = api(
        5, 5, 5, "v1", replicas=5, updatedReplicas=5, availableReplicas=1, unavailableReplicas=4
    )
    more = [*samples, Sample(at(18), (replica_counts(lost),)), Sample(at(28), ())]
    assert replica_outage(more, start=at(0)).outage_s == pytest.approx(10.0)
    # a stale status after a template change counts nothing as updated until observed
    rolled = [
        samples[0],
        Sample(
            at(2),
            (
                replica_counts(
                    api(4, 3, 2, "v2", replicas=2, updatedReplicas=2, availableReplicas=2)
                ),
            ),
        ),
        Sample(at(4), ()),
    ]
    assert replica_outage(rolled, start=at(0)).outage_s == pytest.approx(2 * 2)
    # with no fresh status seen before, a stale one is not trusted
    assert replica_outage(rolled[1:], start=at(0)).outage_s == pytest.approx(2 * 2)


def test_outage_integrates_missing_replicas_over_time_in_the_scope() -> None:
    samples = [
        Sample(at(0), (dep("a", 3, 3), dep("b", 1, 1))),
        Sample(at(10), (dep("a", 3, 1), dep("b", 1, 0))),  # a: 2 missing, b: 1 missing
        Sample(at(20), (dep("a", 3, 2), dep("b", 1, 1))),  # a: 1 missing
        Sample(at(25), (dep("a", 3, 3), dep("b", 1, 1))),
        Sample(at(60), (dep("a", 3, 3), dep("b", 1, 1))),
    ]
    everything = replica_outage(samples, start=at(5))
    assert everything.outage_s == pytest.approx(2 * 10 + 1 * 10 + 1 * 5)
    assert everything.recovered_s == pytest.approx(20.0)  # back at 25, 20 s after start
    assert everything.peak_missing == 3 and everything.missing_at_end == 0
    assert dict(everything.by_deployment) == {("ns", "a"): 25.0, ("ns", "b"): 10.0}
    only_b = replica_outage(samples, start=at(5), scope=[("ns", "b")])
    assert only_b.outage_s == pytest.approx(10.0)
    assert only_b.recovered_s == pytest.approx(15.0)
    # the window cuts the integral
    cut = replica_outage(samples, start=at(15), end=at(22))
    assert cut.outage_s == pytest.approx(3 * 5 + 1 * 2)
    assert cut.recovered_s is None  # still missing at the end of the window


def test_the_state_at_start_is_the_last_sample_before_it() -> None:
    samples = [Sample(at(0), (dep("a", 2, 0),)), Sample(at(30), (dep("a", 2, 2),))]
    figures = replica_outage(samples, start=at(10))
    assert figures.outage_s == pytest.approx(2 * 20)
    assert figures.recovered_s == pytest.approx(20.0)


def test_nothing_missing_recovers_at_zero_and_never_back_is_none() -> None:
    healthy = [Sample(at(s), (dep("a", 1, 1),)) for s in (0, 5, 10)]
    assert replica_outage(healthy, start=at(0)).recovered_s == 0.0
    assert replica_outage(healthy, start=at(0)).outage_s == 0.0
    broken = [Sample(at(s), (dep("a", 3, 0),)) for s in (0, 5, 10)]
    figures = replica_outage(broken, start=at(0))
    assert figures.recovered_s is None and not figures.recovered
    assert figures.outage_s == pytest.approx(30.0) and figures.missing_at_end == 3
    assert replica_outage([], start=at(0)).samples == 0


def test_a_relapse_moves_recovery_to_the_last_return() -> None:
    samples = [
        Sample(at(0), (dep("a", 1, 0),)),
        Sample(at(10), (dep("a", 1, 1),)),
        Sample(at(20), (dep("a", 1, 0),)),
        Sample(at(40), (dep("a", 1, 1),)),
        Sample(at(50), (dep("a", 1, 1),)),
    ]
    figures = replica_outage(samples, start=at(0))
    assert figures.outage_s == pytest.approx(10 + 20)
    assert figures.recovered_s == pytest.approx(40.0)


def test_incident_times_take_the_first_of_each_in_the_window() -> None:
    incidents = [
        IncidentTimes(opened_at=at(-30), acted_at=at(-29)),  # before the fault: not its own
        IncidentTimes(opened_at=at(12), acted_at=at(14), resolved_at=at(40)),
        IncidentTimes(opened_at=at(8), escalated_at=at(50)),
    ]
    times = incident_times(incidents, start=at(0))
    assert (times.detect_s, times.act_s, times.escalated_after_s) == (8.0, 14.0, 50.0)
    none = incident_times(incidents, start=at(100))
    assert none.detect_s is None and none.act_s is None and none.escalated_after_s is None
    bounded = incident_times(incidents, start=at(0), end=at(10))
    assert bounded.detect_s == 8.0 and bounded.act_s is None

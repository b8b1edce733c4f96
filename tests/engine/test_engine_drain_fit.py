"""Which pods of a drained node fit in the room left on the other schedulable nodes (pure)."""

from __future__ import annotations

from kubeheal.engine.facts import drain_fit
from kubeheal.model import ClusterView


def test_a_pod_that_does_not_fit_is_left_and_named(k8s) -> None:
    # n2 has 1Gi: 1Gi - 6 x 128Mi = 256Mi free -> two of n1's three 128Mi pods fit
    view = ClusterView(
        nodes=[k8s.node("n1", memory_pressure=True), k8s.node("n2", allocatable_memory="1Gi")],
        pods=[k8s.pod(f"a{i}", node="n1") for i in range(3)]
        + [k8s.pod(f"b{i}", node="n2") for i in range(6)],
    )
    fit = drain_fit(view, node="n1", pods=view.pods_on_node("n1"))
    assert fit.fits == ("shop/a0", "shop/a1")
    assert fit.left == ("shop/a2 (100m CPU / 128Mi)",)
    assert len(fit.room) == 1 and fit.room[0].startswith("n2: ") and fit.room[0].endswith("256Mi")


def test_nothing_fits_nothing_is_evicted(k8s) -> None:
    view = ClusterView(
        nodes=[
            k8s.node("n1", memory_pressure=True),
            k8s.node("n2", allocatable_memory="768Mi"),
            k8s.node("n3", unschedulable=True),
        ],
        pods=[k8s.pod("a0", node="n1")] + [k8s.pod(f"b{i}", node="n2") for i in range(6)],
    )
    fit = drain_fit(view, node="n1", pods=view.pods_on_node("n1"))
    assert fit.fits == () and fit.left == ("shop/a0 (100m CPU / 128Mi)",)
    assert [r.split(":")[0] for r in fit.room] == ["n2"]  # cordoned n3 is no room

"""Right-sizing and waste reports end to end: collect the history, run the core, report.

The CLI and the benchmarks call these; they take a Prometheus client (anything with
`query`/`query_range`) and the `finops` settings, and never print.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from kubeheal.config.settings import FinopsSettings
from kubeheal.finops.collect import Collection, CollectOptions, PromQuerier, collect
from kubeheal.finops.model import Recommendation
from kubeheal.finops.params import prices_from, strategy_params
from kubeheal.finops.recommend import KrrParams, recommend, recommend_krr
from kubeheal.finops.waste import WasteReport, collect_waste_facts, waste_report

__all__ = ["RightsizeResult", "Strategy", "rightsize", "waste"]

Strategy = Literal["kubeheal", "krr"]


@dataclass(frozen=True, slots=True)
class RightsizeResult:
    """Recommendations (one per container of every workload in scope) and the collection."""

    recommendations: tuple[Recommendation, ...]
    collection: Collection


async def rightsize(
    client: PromQuerier,
    *,
    settings: FinopsSettings,
    end: float,
    namespaces: Sequence[str] = (),
    history: float | None = None,
    step: float | None = None,
    strategy: Strategy = "kubeheal",
    krr: KrrParams | None = None,
    with_krr_samples: bool = False,
) -> RightsizeResult:
    """Recommendations for every container in scope (raises `CollectError` if none can be read)."""
    window = history if history is not None else settings.history.total_seconds()
    chosen_step = (
        step
        if step is not None
        else (settings.step.total_seconds() if settings.step is not None else None)
    )
    excluded = set(settings.excluded_namespaces)
    collection = await collect(
        client,
        CollectOptions(
            history=window,
            end=end,
            step=chosen_step,
            namespaces=tuple(namespaces),
            max_series=settings.max_series_per_query,
            krr=strategy == "krr" or with_krr_samples,
        ),
    )
    recs: list[Recommendation] = []
    krr_params = krr or KrrParams()
    for item in collection.histories:
        if item.workload.namespace in excluded:
            continue
        if strategy == "krr":
            recs.append(recommend_krr(item, params=krr_params))
        else:
            params = strategy_params(settings, item.workload.namespace)
            recs.append(recommend(item, params=params))
    return RightsizeResult(recommendations=tuple(recs), collection=collection)


async def waste(
    client: PromQuerier,
    *,
    settings: FinopsSettings,
    end: float,
    namespaces: Sequence[str] = (),
    history: float | None = None,
) -> tuple[WasteReport, RightsizeResult]:
    """The waste report (and the right-sizing it rests on)."""
    result = await rightsize(
        client, settings=settings, end=end, namespaces=namespaces, history=history
    )
    collection = result.collection
    facts = await collect_waste_facts(
        client,
        namespaces=namespaces,
        history=collection.end - collection.start,
        end=end,
        step=collection.step,
    )
    report = waste_report(
        recommendations=result.recommendations,
        histories=collection.histories,
        facts=facts,
        prices=prices_from(settings),
        overprovisioned_share=settings.overprovisioned_share,
        idle_cores=settings.idle_namespace_cores,
        hpa_floor=settings.hpa_min_replicas_floor,
        history=collection.end - collection.start,
        excluded_namespaces=settings.excluded_namespaces,
    )
    problems = (*collection.problems, *report.problems)
    return WasteReport(items=report.items, problems=problems), result

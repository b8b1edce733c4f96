"""Right-sizing, waste and monitoring-cost reports (see docs/finops.md).

* `recommend` / `recommend_krr`: the pure core (usage history in, requests/limits out);
* `collect`: the usage history of a namespace or cluster from Prometheus in batched queries;
* `patches`: kustomize strategic-merge patches ready to commit;
* `waste_report`, `cardinality_report`: what the cluster and its monitoring waste.
"""

from kubeheal.finops.cardinality import CardinalityReport, cardinality_report, relabel_yaml
from kubeheal.finops.collect import CollectError, Collection, CollectOptions, collect
from kubeheal.finops.model import (
    Confidence,
    ContainerHistory,
    HpaInfo,
    PodUsage,
    Recommendation,
    ResourceBounds,
    Resources,
    Series,
    Status,
    WorkloadRef,
)
from kubeheal.finops.params import prices_from, strategy_params
from kubeheal.finops.recommend import KrrParams, StrategyParams, recommend, recommend_krr
from kubeheal.finops.render import patches, recommendation_record, table_rows
from kubeheal.finops.waste import Prices, WasteReport, collect_waste_facts, waste_report

__all__ = [
    "CardinalityReport",
    "CollectError",
    "CollectOptions",
    "Collection",
    "Confidence",
    "ContainerHistory",
    "HpaInfo",
    "KrrParams",
    "PodUsage",
    "Prices",
    "Recommendation",
    "ResourceBounds",
    "Resources",
    "Series",
    "Status",
    "StrategyParams",
    "WasteReport",
    "WorkloadRef",
    "cardinality_report",
    "collect",
    "collect_waste_facts",
    "patches",
    "prices_from",
    "recommend",
    "recommend_krr",
    "recommendation_record",
    "relabel_yaml",
    "strategy_params",
    "table_rows",
    "waste_report",
]

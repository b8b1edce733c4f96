"""From the `finops` settings section to the core's parameters (per namespace bounds).

Pure: no I/O, no clock.
"""

from __future__ import annotations

from kubeheal.config.settings import FinopsBounds, FinopsSettings
from kubeheal.finops.model import ResourceBounds
from kubeheal.finops.recommend import StrategyParams
from kubeheal.finops.waste import Prices
from kubeheal.model.quantity import parse_cpu, parse_memory

__all__ = ["bounds_for", "prices_from", "strategy_params"]


def _bounds(raw: FinopsBounds) -> ResourceBounds:
    return ResourceBounds(
        min_cpu=parse_cpu(raw.min_cpu) if raw.min_cpu is not None else None,
        max_cpu=parse_cpu(raw.max_cpu) if raw.max_cpu is not None else None,
        min_memory=float(parse_memory(raw.min_memory)) if raw.min_memory is not None else None,
        max_memory=float(parse_memory(raw.max_memory)) if raw.max_memory is not None else None,
    )


def bounds_for(settings: FinopsSettings, namespace: str) -> ResourceBounds:
    """The namespace's own bounds when configured, else the general ones."""
    return _bounds(settings.namespace_bounds.get(namespace, settings.bounds))


def strategy_params(settings: FinopsSettings, namespace: str) -> StrategyParams:
    """kubeheal's strategy parameters for containers of `namespace`."""
    return StrategyParams(
        cpu_percentile=settings.cpu_percentile,
        memory_request_percentile=settings.memory_request_percentile,
        memory_request_buffer=settings.memory_request_buffer,
        memory_limit_buffer=settings.memory_limit_buffer,
        oom_factor=settings.oom_factor,
        startup_window=settings.startup_window.total_seconds(),
        unseen_startup_headroom=settings.unseen_startup_headroom,
        leak_horizon=settings.leak_horizon.total_seconds(),
        min_history=settings.min_history.total_seconds(),
        hpa_aware=settings.hpa_aware,
        memory_request_equals_limit=settings.memory_request_equals_limit,
        bounds=bounds_for(settings, namespace),
    )


def prices_from(settings: FinopsSettings) -> Prices:
    """The configured prices."""
    return Prices(
        core_hour=settings.price_per_core_hour,
        gib_hour=settings.price_per_gib_hour,
        storage_gib_month=settings.price_per_storage_gib_month,
    )

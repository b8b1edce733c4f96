"""The `finops` settings section and how it becomes the core's parameters."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeheal.config.settings import FinopsSettings, Settings, SettingsError, load_settings
from kubeheal.finops.params import bounds_for, prices_from, strategy_params

MI = 2**20


def test_defaults_are_a_working_configuration() -> None:
    finops = Settings().finops
    assert finops.history.days == 14
    params = strategy_params(finops, "any")
    assert params.cpu_percentile == 95.0
    assert params.memory_limit_buffer == 0.15
    assert params.oom_factor == 1.25
    assert params.startup_window == 300.0
    assert params.bounds.min_cpu == 0.01 and params.bounds.min_memory == 32 * MI
    assert prices_from(finops).core_hour == pytest.approx(0.0316)


def test_file_and_environment_overrides(tmp_path: Path) -> None:
    path = tmp_path / "kubeheal.yaml"
    path.write_text(
        "finops:\n"
        "  bounds: {min_cpu: 20m}\n"
        "  namespace_bounds:\n"
        "    batch: {min_cpu: 100m, max_memory: 4Gi, min_memory: 64Mi}\n"
        "  price_per_core_hour: 0.05\n"
    )
    settings = load_settings(
        path,
        {
            "KUBEHEAL_FINOPS__HISTORY": "7d",
            "KUBEHEAL_FINOPS__MAX_SERIES_PER_QUERY": "100",
            "KUBEHEAL_FINOPS__EXCLUDED_NAMESPACES": "kube-system, monitoring",
        },
    ).finops
    assert settings.history.days == 7
    assert settings.max_series_per_query == 100
    assert settings.excluded_namespaces == ("kube-system", "monitoring")
    assert bounds_for(settings, "web").min_cpu == pytest.approx(0.02)
    batch = bounds_for(settings, "batch")
    assert batch.min_cpu == pytest.approx(0.1)
    assert batch.max_memory == 4 * 1024 * MI
    assert prices_from(settings).core_hour == 0.05


def test_invalid_values_are_refused_with_the_field() -> None:
    with pytest.raises(SettingsError, match="max_series_per_query"):
        load_settings(None, {"KUBEHEAL_FINOPS__MAX_SERIES_PER_QUERY": "0"})
    with pytest.raises(ValueError, match="min_memory"):
        FinopsSettings.model_validate({"bounds": {"min_memory": "lots"}})

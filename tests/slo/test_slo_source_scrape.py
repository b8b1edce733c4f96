"""The operator's SLO source floors its windows at 4 scrapes of ``slo.scrape_interval``, the
same windows ``kubeheal slo generate --scrape-interval`` gives the rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kubeheal.cli.main import app
from kubeheal.config.base import SettingsError
from kubeheal.config.settings import load_settings
from kubeheal.runtime.slo_source import SloSource
from kubeheal.slo.status import SloStatus, status_query
from kubeheal.slo.windows import format_duration, parse_duration

# A 7-day SLO: the Workbook's 5m, 30m and 1h scale to 1m10s, 7m and 14m, below or near the
# floors of a 1m scrape (4m) and of a 2m scrape (8m), so the scrape interval changes them.
WEEK = """\
version: prometheus/v1
service: api
slos:
  - name: availability
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_requests_total{job="api",code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_requests_total{job="api"}[{{.window}}]))
    alerting:
      name: ApiAvailability
      page_alert: {labels: {severity: critical}}
      ticket_alert: {labels: {severity: warning}}
"""

_RECORDED = re.compile(r"^slo:sli_(?:error:ratio_|total:)rate(\w+)$")


def _no_client_needed() -> object:
    class Unused:
        async def query(self, expr: str, *, at: float | None = None) -> list[SloStatus]:
            raise AssertionError("not queried")

    return Unused()


def _generated_windows(spec: Path, out: Path, scrape: str) -> tuple[set[str], set[str]]:
    """The (ratio, total) windows the CLI's rule file records, as Prometheus durations."""
    result = CliRunner().invoke(
        app,
        ["slo", "generate", str(spec), "--out", str(out), "--period", "7d",
         "--scrape-interval", scrape, "--no-tests"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rules = yaml.safe_load((out / f"{spec.stem}.rules.yml").read_text())
    ratios: set[str] = set()
    totals: set[str] = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            name = rule.get("record", "")
            match = _RECORDED.match(name)
            if match:
                (ratios if "error" in name else totals).add(match.group(1))
    return ratios, totals


def _source_windows(source: SloSource) -> tuple[set[str], set[str]]:
    """The (ratio, total) windows of the source's status query, as Prometheus durations."""
    (slo,) = source.slos
    query = status_query(slo)
    tagged = re.findall(
        r'"kubeheal_window", "(\d+)", "", ""\), "kubeheal_part", "(\w+)"', query.replace("\n", "")
    )
    ratios = {format_duration(int(w)) for w, part in tagged if part == "ratio"}
    totals = {format_duration(int(w)) for w, part in tagged if part == "events"}
    return ratios, totals


def _source(spec: Path, env: dict[str, str]) -> SloSource:
    settings = load_settings(
        None, {"KUBEHEAL_SLO__SPECS": str(spec), "KUBEHEAL_SLO__DEFAULT_PERIOD": "7d", **env}
    )
    return SloSource.from_settings(
        settings.slo,
        client=_no_client_needed(),  # type: ignore[arg-type]
        submit=lambda signals: None,
    )


def test_source_with_a_2m_scrape_reads_the_generators_windows(tmp_path: Path) -> None:
    spec = tmp_path / "week.yaml"
    spec.write_text(WEEK)
    source = _source(spec, {"KUBEHEAL_SLO__SCRAPE_INTERVAL": "2m"})
    ratios, totals = _source_windows(source)
    assert (ratios, totals) == _generated_windows(spec, tmp_path / "g2", "2m")
    # 4 scrapes of 2m: the 1m10s and 7m windows of the table are floored at 8m
    assert min(ratios, key=parse_duration) == "8m"
    assert source.slos[0].windows.page[0].short == 8 * 60
    assert source.slos[0].windows.page[1].short == 8 * 60
    assert source.slos[0].windows.page[0].long == 14 * 60
    # and they differ from the default 1m scrape's, which the source used before the setting
    default_ratios, _ = _source_windows(_source(spec, {}))
    assert default_ratios == _generated_windows(spec, tmp_path / "g1", "1m")[0]
    assert "4m" in default_ratios and "4m" not in ratios


@pytest.mark.parametrize("value", ["0", "90.5", "1500ms"])
def test_scrape_interval_must_be_whole_positive_seconds(value: str) -> None:
    with pytest.raises(SettingsError, match="scrape_interval"):
        load_settings(None, {"KUBEHEAL_SLO__SCRAPE_INTERVAL": value})

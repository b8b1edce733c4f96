"""Reading SLO specs: Sloth ``prometheus/v1`` as is, OpenSLO and Pyrra imported, into ``SLO``.

Formats (a file may hold several YAML documents, of one format or mixed):

* Sloth ``version: prometheus/v1`` (and the same spec inside Sloth's Kubernetes resource
  ``apiVersion: sloth.slok.dev/v1, kind: PrometheusServiceLevel``): ``service``, ``labels``,
  ``slos[]`` with ``name``, ``objective``, ``description``, ``labels``, ``sli.events``
  (``error_query``, ``total_query``) or ``sli.raw`` (``error_ratio_query``), and ``alerting``
  (``name``, ``labels``, ``annotations``, ``page_alert`` / ``ticket_alert`` with ``labels``,
  ``annotations``, ``disable``). Sloth's SLI plugins are Go code and are refused, except
  kubeheal's own ``kubeheal/histogram-latency/v1`` (a latency SLI from a histogram:
  options ``metric``, ``selector``, ``threshold`` in seconds, and ``buckets`` to interpolate
  between when the threshold is not a bucket bound). Sloth specs have no period: the caller's
  default applies (30 days).
* OpenSLO ``apiVersion: openslo/v1``: ``kind: SLO`` with an inline ``indicator`` or an
  ``indicatorRef`` to a ``kind: SLI`` document of the same file; ``ratioMetric``
  (good/total, bad/total, or raw), ``thresholdMetric`` (a time-based SLI: the share of
  ``timeSliceWindow`` steps where the metric breaks ``op value``), one objective (``target``
  or ``targetPercent``), one rolling ``timeWindow``. Other kinds (Service, DataSource,
  AlertPolicy, ...) are skipped.

Every problem is an ``SloSpecError`` naming the file, the document and the field path; unknown
fields are errors. Parsing is pure (``parse_specs`` takes text); ``load_specs`` reads files.

Each format lives in its module (``sloth``, ``openslo``, ``pyrra``, over ``spec_common``); this
module tells the documents apart and is the one to import.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from kubeheal.model.names import shown
from kubeheal.slo.errors import SloSpecError
from kubeheal.slo.model import SLO, SpecFormat
from kubeheal.slo.openslo import (
    SKIPPED_OPENSLO_KINDS,
    OsaSlo,
    OsSli,
    OsSlo,
    openslo_slo,
    openslo_v1alpha_slos,
)
from kubeheal.slo.pyrra import PyrraSlo, pyrra_slo
from kubeheal.slo.sloth import (
    LATENCY_PLUGIN,
    SlothK8s,
    SlothSpec,
    histogram_latency_sli,
    sloth_slos,
)
from kubeheal.slo.spec_common import RESERVED_LABELS, check_period, validate_doc
from kubeheal.slo.windows import BASE_PERIOD_SECONDS, DEFAULT_SCRAPE_INTERVAL, BurnTable

__all__ = [
    "LATENCY_PLUGIN",
    "RESERVED_LABELS",
    "histogram_latency_sli",
    "load_specs",
    "parse_specs",
    "spec_files",
]


_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available


def _documents(text: str, source: str) -> list[Any]:
    try:
        return [d for d in yaml.load_all(text, Loader=_LOADER) if d is not None]
    except yaml.YAMLError as e:
        where = ""
        mark = getattr(e, "problem_mark", None)
        if mark is not None:
            where = f" (line {mark.line + 1}, column {mark.column + 1})"
        problem = getattr(e, "problem", None) or str(e)
        raise SloSpecError(source, ("", f"not valid YAML{where}: {problem}")) from e


def parse_specs(
    text: str,
    *,
    source: str,
    default_period: int = BASE_PERIOD_SECONDS,
    scrape_interval: int = DEFAULT_SCRAPE_INTERVAL,
    pyrra_table: BurnTable = BurnTable.PYRRA,
) -> list[SLO]:
    """Every SLO in the YAML ``text`` (one or more documents); ``source`` names it in errors.

    ``default_period`` (seconds) applies to Sloth specs, which carry no period (and to
    OpenSLO v1alpha ones without ``timeWindows``); ``scrape_interval`` (seconds) floors the
    alert windows of every SLO at four scrapes; ``pyrra_table`` is the multi-burn table of
    Pyrra's resources (Pyrra's own by default, or the Workbook's).
    """
    docs = _documents(text, source)
    if not docs:
        raise SloSpecError(source, ("", "the file holds no SLO spec"))
    multi = len(docs) > 1
    slos: list[SLO] = []
    openslo_slos: list[tuple[str, OsSlo]] = []
    slis: dict[str, OsSli] = {}
    for index, doc in enumerate(docs):
        where = f"{source} (document {index + 1})" if multi else source
        if not isinstance(doc, dict):
            raise SloSpecError(where, ("", "a spec document must be a mapping"))
        if "version" in doc:
            if doc["version"] != "prometheus/v1":
                raise SloSpecError(
                    where,
                    (
                        "version",
                        f"unsupported version {shown(str(doc['version']))}: use prometheus/v1",
                    ),
                )
            check_period(default_period, where, "(default period)", scrape_interval)
            spec = validate_doc(SlothSpec, doc, where)
            slos += sloth_slos(
                service=spec.service,
                spec_labels=spec.labels,
                spec_plugins=spec.slo_plugins,
                slos=spec.slos,
                source=where,
                prefix="",
                period=default_period,
                scrape_interval=scrape_interval,
                spec_format=SpecFormat.SLOTH,
            )
            continue
        api = doc.get("apiVersion")
        kind = doc.get("kind")
        name = (
            doc.get("metadata", {}).get("name") if isinstance(doc.get("metadata"), dict) else None
        )
        label = f"{where} (SLO {name})" if multi and isinstance(name, str) else where
        if api == "sloth.slok.dev/v1":
            check_period(default_period, where, "(default period)", scrape_interval)
            k8s = validate_doc(SlothK8s, doc, where)
            slos += sloth_slos(
                service=k8s.spec.service,
                spec_labels=k8s.spec.labels,
                spec_plugins=k8s.spec.slo_plugins,
                slos=k8s.spec.slos,
                source=where,
                prefix="spec.",
                period=default_period,
                scrape_interval=scrape_interval,
                spec_format=SpecFormat.SLOTH_K8S,
            )
            continue
        if api == "pyrra.dev/v1alpha1":
            slos.append(
                pyrra_slo(
                    validate_doc(PyrraSlo, doc, label),
                    source=label,
                    scrape_interval=scrape_interval,
                    table=pyrra_table,
                )
            )
            continue
        if api == "openslo/v1alpha":
            if kind in SKIPPED_OPENSLO_KINDS:
                continue
            if kind != "SLO":
                raise SloSpecError(
                    where, ("kind", f"unknown OpenSLO v1alpha kind {shown(str(kind))}")
                )
            slos += openslo_v1alpha_slos(
                validate_doc(OsaSlo, doc, label),
                source=label,
                default_period=default_period,
                scrape_interval=scrape_interval,
            )
            continue
        if api == "openslo/v1":
            if kind in SKIPPED_OPENSLO_KINDS:
                continue
            if kind == "SLI":
                sli = validate_doc(OsSli, doc, where)
                slis[sli.metadata.name] = sli
                continue
            if kind == "SLO":
                openslo_slos.append((label, validate_doc(OsSlo, doc, label)))
                continue
            raise SloSpecError(where, ("kind", f"unknown OpenSLO kind {shown(str(kind))}"))
        if isinstance(api, str) and api.startswith("openslo/"):
            raise SloSpecError(
                where,
                (
                    "apiVersion",
                    f"unsupported OpenSLO version {shown(api)}: use openslo/v1 or openslo/v1alpha",
                ),
            )
        raise SloSpecError(
            where,
            (
                "",
                "not an SLO spec: expected version: prometheus/v1 (Sloth), apiVersion: "
                "sloth.slok.dev/v1, openslo/v1, openslo/v1alpha or pyrra.dev/v1alpha1",
            ),
        )
    for label, os_slo in openslo_slos:
        slos.append(
            openslo_slo(os_slo, slis, source=label, prefix="", scrape_interval=scrape_interval)
        )
    if not slos:
        raise SloSpecError(source, ("", "the file holds no SLO (only other kinds)"))
    return slos


def spec_files(paths: Iterable[Path]) -> list[Path]:
    """The spec files named by ``paths``: files as given, directories' ``*.yaml``/``*.yml``."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
        else:
            found.append(path)
    return found


def load_specs(
    paths: Iterable[Path],
    *,
    default_period: int = BASE_PERIOD_SECONDS,
    scrape_interval: int = DEFAULT_SCRAPE_INTERVAL,
    pyrra_table: BurnTable = BurnTable.PYRRA,
) -> list[SLO]:
    """Read every SLO of ``paths`` (files or directories); ids must be unique across them."""
    slos: list[SLO] = []
    seen: dict[str, str] = {}
    for path in spec_files(paths):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise SloSpecError(str(path), ("", f"cannot read: {e.strerror or e}")) from e
        for slo in parse_specs(
            text,
            source=str(path),
            default_period=default_period,
            scrape_interval=scrape_interval,
            pyrra_table=pyrra_table,
        ):
            if slo.id in seen:
                raise SloSpecError(
                    slo.source,
                    ("", f"SLO {slo.id!r} is defined twice (also in {seen[slo.id]})"),
                )
            seen[slo.id] = slo.source
            slos.append(slo)
    return slos

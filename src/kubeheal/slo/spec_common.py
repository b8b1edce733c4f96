"""What every SLO spec format shares: label, name and query checks, strict models, errors.

The validators the Sloth, OpenSLO and Pyrra models use (``Labels``, ``Annotations``,
``check_name``, ...), pydantic's errors read into ``SloSpecError`` (``validate_doc``), and the
small conversions to the internal model (``workload_of``, ``to_decimal``, ``check_period``,
``objective_warnings``). Pure: no I/O, no clock.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from kubeheal.config.errors import field_problems
from kubeheal.model.names import NameKind, name_problem, shown
from kubeheal.slo.errors import SloSpecError
from kubeheal.slo.model import Workload, has_window
from kubeheal.slo.windows import WindowError, alert_windows

__all__ = [
    "CONTROL",
    "LABEL_NAME",
    "METRIC_NAME",
    "RESERVED_LABELS",
    "Annotations",
    "Camel",
    "Labels",
    "Strict",
    "check_alert_name",
    "check_annotations",
    "check_labels",
    "check_name",
    "check_period",
    "check_query",
    "objective_warnings",
    "scalar_text",
    "stringify",
    "to_decimal",
    "validate_doc",
    "workload_of",
]

RESERVED_LABELS = frozenset(
    {"slo_id", "slo_service", "slo_name", "slo_severity", "slo_spec", "slo_objective",
     "slo_period", "slo_burn_table", "alertname"}
)  # fmt: skip
"""Labels kubeheal sets on every generated series and alert; specs may not set them."""


LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


CONTROL = re.compile(r"[\x00-\x1f\x7f]")


_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$")


_WORKLOAD_LABELS = {
    "namespace": (NameKind.LABEL, "Namespace"),
    "deployment": (NameKind.SUBDOMAIN, "Deployment"),
    "statefulset": (NameKind.SUBDOMAIN, "StatefulSet"),
}
"""Labels that name the SLO's workload: its burn becomes a signal about that object."""


def check_labels(value: dict[str, str]) -> dict[str, str]:
    for key, text in value.items():
        if not LABEL_NAME.match(key) or key.startswith("__"):
            raise ValueError(f"{key!r} is not a valid Prometheus label name")
        if key in RESERVED_LABELS:
            raise ValueError(f"label {key!r} is set by kubeheal and cannot be given")
        if CONTROL.search(text):
            raise ValueError(f"label {key!r}: control characters are not allowed in its value")
        if key in _WORKLOAD_LABELS and text:
            rule, kind = _WORKLOAD_LABELS[key]
            problem = name_problem(text, rule)
            if problem is not None:
                raise ValueError(f"label {key}={shown(text)} is not a valid {kind} name: {problem}")
    return value


def check_annotations(value: dict[str, str]) -> dict[str, str]:
    for key, text in value.items():
        if not LABEL_NAME.match(key):
            raise ValueError(f"{key!r} is not a valid annotation name")
        if CONTROL.search(text.replace("\n", "").replace("\t", "")):
            raise ValueError(
                f"annotation {key!r}: control characters (other than newline and tab) are "
                "not allowed in its value"
            )
    return value


def scalar_text(value: Any) -> Any:
    """A YAML scalar as the string Sloth and Prometheus make of it (``tier: 2`` -> ``"2"``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def stringify(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: scalar_text(v) for k, v in value.items()}
    return value


Labels = Annotated[dict[str, str], BeforeValidator(stringify), AfterValidator(check_labels)]
"""Prometheus labels from a spec: numbers and booleans read as their text."""


Annotations = Annotated[
    dict[str, str], BeforeValidator(stringify), AfterValidator(check_annotations)
]


def check_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            f"{value!r} must be letters, digits, '-', '_' or '.', starting and ending "
            "with a letter or digit"
        )
    return value


def check_alert_name(value: str) -> str:
    # Prometheus takes any string as an alert name (it is the alertname label's value).
    if value and not value.strip():
        raise ValueError("the alert name is blank")
    if CONTROL.search(value):
        raise ValueError("control characters are not allowed in an alert name")
    return value


def check_query(value: str) -> str:
    if not value.strip():
        raise ValueError("the query is empty")
    if not has_window(value):
        raise ValueError("the query must use the {{.window}} placeholder in its range selectors")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Camel(BaseModel):
    """Sloth's Kubernetes resource: the same fields, spelled as its CRD spells them."""

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel)


_SPELLINGS = {
    "error_query": "errorQuery",
    "total_query": "totalQuery",
    "error_ratio_query": "errorRatioQuery",
    "page_alert": "pageAlert",
    "ticket_alert": "ticketAlert",
    "slo_plugins": "sloPlugins",
}


_SPELLINGS |= {v: k for k, v in _SPELLINGS.items()}
"""Sloth's file format spells these in snake_case, its Kubernetes resource in camelCase."""


def _problems(error: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for problem in field_problems(error):
        path = problem.field
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        message = problem.message
        if problem.kind == "extra_forbidden":
            message = "unknown field"
            last = problem.loc[-1] if problem.loc else ""
            if isinstance(last, str) and last in _SPELLINGS:
                message += f" (this format spells it {_SPELLINGS[last]})"
        elif problem.kind == "missing":
            message = "required field is missing"
        found.append((path, message))
    return found


_M = TypeVar("_M", bound=BaseModel)


def validate_doc(model: type[_M], data: Any, source: str, prefix: str = "") -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise SloSpecError(source, _problems(e, prefix)) from e


def workload_of(labels: Mapping[str, str]) -> Workload | None:
    namespace = labels.get("namespace", "")
    for label, kind in (("deployment", "Deployment"), ("statefulset", "StatefulSet")):
        name = labels.get(label, "")
        if namespace and name:
            return Workload(kind=kind, namespace=namespace, name=name)
    return None


def to_decimal(value: float) -> Decimal:
    return Decimal(repr(value)).normalize()


def check_period(period: int, source: str, field: str, scrape_interval: int) -> None:
    try:
        alert_windows(period, scrape_interval)
    except WindowError as e:
        raise SloSpecError(source, (field, str(e))) from e


def objective_warnings(objective: Decimal, source: str, field: str) -> tuple[str, ...]:
    if objective < 100:
        return ()
    return (
        f"{source}: {field}: an objective of 100% leaves no error budget: any error pages, "
        "and the burn rates read +Inf",
    )

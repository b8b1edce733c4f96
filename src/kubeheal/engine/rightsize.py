"""Gradual right-sizing: one bounded step from a container's requests/limits toward a
recommendation. Shared by the planner (``set_resources``) and the runtime's right-sizing
source, so that the source signals exactly when the planner would change something.

Rules, for each of the four values (CPU and memory, request and limit):

* no recommended value: unchanged;
* within ``min_change`` of the recommendation (relative to the current value): unchanged;
* an increase (the recommendation is above the current value, or no request is set) goes
  straight to the recommendation: more memory prevents OOM kills, more CPU throttling;
* a decrease moves at most ``max_step_change`` of the current value per step and never below
  the recommendation: ``max(recommended, current x (1 - max_step_change))``, rounded up
  (CPU to 1m, memory to 1Mi); the next recommendation continues from there;
* a limit that is not set is never added (that is a policy decision; right-sizing only moves
  values that exist);
* a request never ends above the limit of the same resource.

The recommendation travels in the ``details`` of a ``Rightsize`` signal (``ResourceTargets``):
CPU in cores (float), memory in bytes (int).

Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from kubeheal.engine.params import ResourceChange
from kubeheal.model.cluster import Container, Quantity
from kubeheal.model.core import DetailValue
from kubeheal.model.quantity import QuantityError, format_memory, parse_cpu, parse_memory

__all__ = [
    "FIELDS",
    "ResourceTargets",
    "StepPlan",
    "format_cpu",
    "plan_step",
    "quantity_value",
]

_MI = 2**20

FIELDS: tuple[tuple[str, str, str], ...] = (
    ("cpu_request", "requests", "cpu"),
    ("cpu_limit", "limits", "cpu"),
    ("memory_request", "requests", "memory"),
    ("memory_limit", "limits", "memory"),
)
"""(detail key, ``requests``/``limits``, resource) of the four values right-sizing moves."""


def format_cpu(cores: float) -> str:
    """Cores as a CPU quantity rounded up to 1m: 0.0751 -> ``"76m"``, 2.0 -> ``"2"``."""
    milli = math.ceil(round(cores * 1000, 6))
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def _units(resource: str, value: float) -> int:
    """A value in whole millicores (CPU) or bytes (memory)."""
    if resource == "cpu":
        return math.ceil(round(value * 1000, 6))
    return math.ceil(value)


def _format(resource: str, units: int) -> str:
    if resource == "cpu":
        return format_cpu(units / 1000)
    return format_memory(units)


def quantity_value(resource: str, raw: Quantity | None) -> int | None:
    """A quantity of the template in millicores (CPU) or bytes (memory); None when unset or
    unreadable."""
    if raw is None:
        return None
    try:
        if resource == "cpu":
            return _units("cpu", parse_cpu(raw))
        return parse_memory(raw)
    except QuantityError:
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceTargets:
    """The recommended values for one container (None: no recommendation for that value)."""

    container: str
    cpu_request: float | None = None
    cpu_limit: float | None = None
    memory_request: int | None = None
    memory_limit: int | None = None

    def value(self, key: str) -> float | None:
        """The recommended value of ``cpu_request``, ``memory_limit``, ... (None: none)."""
        found: float | None = getattr(self, key)
        return found

    def details(self) -> dict[str, DetailValue]:
        """The signal details carrying these targets."""
        out: dict[str, DetailValue] = {"container": self.container}
        for key, _, _ in FIELDS:
            value = self.value(key)
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_details(cls, details: Mapping[str, DetailValue]) -> ResourceTargets | None:
        """The targets of a ``Rightsize`` signal (None when the details name no container or
        carry no usable value)."""
        container = details.get("container")
        if not isinstance(container, str) or not container:
            return None
        values: dict[str, float | int | None] = {}
        for key, _, resource in FIELDS:
            raw = details.get(key)
            if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
                values[key] = None
            elif resource == "memory":
                values[key] = int(raw)
            else:
                values[key] = float(raw)
        if all(v is None for v in values.values()):
            return None
        return cls(
            container=container,
            cpu_request=values["cpu_request"],
            cpu_limit=values["cpu_limit"],
            memory_request=None
            if values["memory_request"] is None
            else int(values["memory_request"]),
            memory_limit=None if values["memory_limit"] is None else int(values["memory_limit"]),
        )


@dataclass(frozen=True, slots=True)
class StepPlan:
    """The changes of one step (empty: nothing to do) and whether they reach the targets."""

    changes: tuple[ResourceChange, ...]
    final: bool


def _within(current: int, target: int, min_change: float) -> bool:
    return abs(target - current) <= min_change * current


def plan_step(
    container: Container,
    targets: ResourceTargets,
    *,
    max_step_change: float,
    min_change: float,
) -> StepPlan:
    """One step of ``container`` toward ``targets`` under the rules of the module docstring."""
    resources = container.resources
    after: dict[tuple[str, str], int | None] = {}
    current_of: dict[tuple[str, str], int | None] = {}
    wanted: dict[tuple[str, str], int] = {}
    final = True
    for key, field, resource in FIELDS:
        raw = (resources.requests if field == "requests" else resources.limits).get(resource)
        current = quantity_value(resource, raw)
        current_of[(field, resource)] = current
        after[(field, resource)] = current
        recommended = targets.value(key)
        if recommended is None:
            continue
        target = _units(resource, recommended)
        if resource == "memory":
            target = math.ceil(target / _MI) * _MI
        wanted[(field, resource)] = target
        if current is None or current <= 0:
            if field == "requests":
                after[(field, resource)] = target
            continue  # a limit that is not set is never added
        if _within(current, target, min_change):
            continue
        if target > current:
            after[(field, resource)] = target
            continue
        floor = current * (1 - max_step_change)
        new = _units(resource, floor / 1000 if resource == "cpu" else floor)
        if resource == "memory":
            new = math.ceil(new / _MI) * _MI
        new = max(target, new)
        if new >= current:
            continue
        after[(field, resource)] = new
        if not _within(new, target, min_change):
            final = False
    for resource in ("cpu", "memory"):
        request, limit = after[("requests", resource)], after[("limits", resource)]
        if request is not None and limit is not None and request > limit:
            after[("requests", resource)] = limit
    changes: list[ResourceChange] = []
    for _, field, resource in FIELDS:
        current = current_of[(field, resource)]
        new_value = after[(field, resource)]
        if new_value is None or new_value == current:
            continue
        target = wanted.get((field, resource), new_value)
        raw = (resources.requests if field == "requests" else resources.limits).get(resource)
        changes.append(
            ResourceChange(
                container=container.name,
                field=field,
                resource=resource,
                current=None if raw is None else str(raw),
                new=_format(resource, new_value),
                target=_format(resource, target),
            )
        )
    return StepPlan(changes=tuple(changes), final=final)

"""One reading of pydantic's validation errors for every file kubeheal validates.

Settings, the monitoring configuration, chaos experiments, SLO specs and playbooks all turn
a `pydantic.ValidationError` into problems the same way: `field_problems` leaves out
pydantic's wrapper steps (``function-after[...]``, ``tagged-union[...]``, union tags), drops
the "list too short" error of a list whose items failed (the items say why), removes the
``Value error, `` prefix and names the field as a path (``guards.cooldown``,
``slos[0].objective``), with its line when the YAML is known (`line_in`). Each loader adds
its own words on top (an unknown fault, an unknown action) and raises its own error type.
`format_validation_error` is the plain rendering, one line a problem::

    kubeheal.yaml:3: guards.cooldown: invalid duration 'soon'

Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import yaml
from pydantic import ValidationError

__all__ = [
    "FieldProblem",
    "field_path",
    "field_problems",
    "format_validation_error",
    "line_in",
]

Loc = tuple[int | str, ...]
_WRAPPERS = ("function-", "tagged-union")


def field_path(loc: Sequence[int | str]) -> str:
    """``("slos", 0, "objective")`` -> ``slos[0].objective`` (``""`` for the top)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One problem of a validated document."""

    loc: Loc
    """Where, as pydantic says it with its wrapper steps left out."""
    message: str
    """What is wrong, without pydantic's ``Value error, `` prefix."""
    kind: str = ""
    """pydantic's error type (``missing``, ``extra_forbidden``, ``union_tag_invalid``...)."""
    context: Mapping[str, object] = dataclasses.field(default_factory=dict)
    """pydantic's context of the error (e.g. ``tag`` of an unknown union tag)."""
    line: int | None = None
    """1-based line in the document, when known."""

    @property
    def field(self) -> str:
        """The dotted path of the field (``""`` for the document itself)."""
        return field_path(self.loc)

    def render(self, file: str | None = None) -> str:
        """``file:line: field: message``, each part left out when not known."""
        parts: list[str] = []
        if file:
            parts.append(f"{file}:{self.line}" if self.line is not None else file)
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)


def _items_failed(loc: Loc, locs: Collection[Loc]) -> bool:
    return any(len(other) > len(loc) and other[: len(loc)] == loc for other in locs)


def field_problems(
    error: ValidationError,
    *,
    union_tags: Collection[str] = (),
    root: yaml.Node | None = None,
) -> list[FieldProblem]:
    """The problems of `error`, in pydantic's order.

    `union_tags` are the tags of discriminated unions (fault kinds, ...), left out of the
    path like pydantic's own wrapper steps; `root` is the document's YAML node, to give each
    problem its line."""
    items = error.errors(include_url=False)
    raw = [tuple(item["loc"]) for item in items]
    problems: list[FieldProblem] = []
    for item, loc in zip(items, raw, strict=True):
        if item["type"] == "too_short" and _items_failed(loc, raw):
            continue  # the list is "too short" only because its items failed: said below
        clean = tuple(
            part
            for part in loc
            if isinstance(part, int) or not (part.startswith(_WRAPPERS) or part in union_tags)
        )
        problems.append(
            FieldProblem(
                loc=clean,
                message=str(item["msg"]).removeprefix("Value error, "),
                kind=item["type"],
                context=dict(item.get("ctx") or {}),
                line=line_in(root, clean) if root is not None else None,
            )
        )
    return problems


def format_validation_error(
    error: ValidationError,
    *,
    file: str | None = None,
    root: yaml.Node | None = None,
    union_tags: Collection[str] = (),
    sep: str = "\n",
) -> str:
    """Every problem of `error` as ``file:line: field: message``, joined by `sep`."""
    problems = field_problems(error, union_tags=union_tags, root=root)
    return sep.join(problem.render(file) for problem in problems)


def line_in(root: yaml.Node, loc: Sequence[int | str]) -> int:
    """The 1-based line of the YAML node at `loc`, or of its deepest ancestor in the
    document (a missing or unknown field is reported where its parent starts)."""
    node = root
    line = root.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line

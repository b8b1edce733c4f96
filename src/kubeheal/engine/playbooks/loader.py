"""Loading and validating playbook files, with file, line and field of every error.

YAML is composed into nodes (which carry their start line) and constructed into plain data;
pydantic validates the data and each error's ``loc`` path is walked back through the nodes to
the line that holds the offending key or value.

Errors: ``PlaybookError`` (a ``ValueError``) carries the list of ``PlaybookIssue``; YAML and
pydantic errors never leak.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from kubeheal.config.errors import field_problems
from kubeheal.engine.playbooks.schema import ActionName, Playbook

__all__ = [
    "PlaybookError",
    "PlaybookIssue",
    "PlaybookSet",
    "builtin_directory",
    "export_json_schema",
    "load_builtin_playbooks",
    "load_playbooks",
    "parse_playbooks",
    "validate_directory",
]

logger = logging.getLogger(__name__)

_SUFFIXES = (".yaml", ".yml")
_ACTION_TAGS = frozenset(action.value for action in ActionName)


@dataclass(frozen=True, slots=True)
class PlaybookIssue:
    """One problem in one playbook file: 1-based ``line``, dotted ``field`` path."""

    file: Path
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f" {self.field}:" if self.field else ""
        return f"{self.file}:{self.line}:{where} {self.message}"


class PlaybookError(ValueError):
    """Playbooks were refused; ``issues`` says where and why."""

    def __init__(self, issues: Sequence[PlaybookIssue]) -> None:
        self.issues = tuple(issues)
        super().__init__(
            f"{len(self.issues)} playbook error(s):\n" + "\n".join(str(i) for i in self.issues)
        )


@dataclass(frozen=True, slots=True)
class PlaybookSet:
    """Valid playbooks, highest priority first (then by name); names are unique."""

    playbooks: tuple[Playbook, ...] = ()

    def __iter__(self) -> Iterator[Playbook]:
        return iter(self.playbooks)

    def __len__(self) -> int:
        return len(self.playbooks)

    def get(self, name: str) -> Playbook | None:
        """The playbook called ``name``."""
        for playbook in self.playbooks:
            if playbook.name == name:
                return playbook
        return None

    @property
    def names(self) -> tuple[str, ...]:
        """Names in matching order."""
        return tuple(p.name for p in self.playbooks)

    @classmethod
    def of(cls, playbooks: Iterable[Playbook]) -> PlaybookSet:
        """Sort ``playbooks`` into matching order (duplicates must be checked before)."""
        return cls(tuple(sorted(playbooks, key=lambda p: (-p.priority, p.name))))

    def merged(self, other: PlaybookSet) -> PlaybookSet:
        """This set with ``other``'s playbooks replacing same-named ones."""
        by_name = {p.name: p for p in self.playbooks}
        by_name.update({p.name: p for p in other.playbooks})
        return PlaybookSet.of(by_name.values())


# -- YAML nodes and lines ------------------------------------------------------------------


def _line_of(root: yaml.Node, loc: Sequence[int | str]) -> tuple[int, str]:
    """The 1-based line of the node at ``loc`` (or of its deepest existing ancestor), and the
    dotted field path with union tags left out."""
    node: yaml.Node = root
    line = root.start_mark.line + 1
    fields: list[str] = []
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                    line = key_node.start_mark.line + 1
                    node = value_node
                    fields.append(str(part))
                    break
            else:
                if isinstance(part, str) and part in _ACTION_TAGS:
                    continue  # a discriminated-union tag: not a key in the document
                fields.append(str(part))
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if 0 <= part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
                fields.append(f"[{part}]")
            else:
                fields.append(f"[{part}]")
                break
        else:
            fields.append(str(part))
            break
    dotted = ""
    for name in fields:
        dotted += name if name.startswith("[") or not dotted else f".{name}"
    return line, dotted


def _issues_from_validation(
    error: ValidationError, *, file: Path, root: yaml.Node
) -> list[PlaybookIssue]:
    issues: list[PlaybookIssue] = []
    for problem in field_problems(error):
        loc, message = problem.loc, problem.message
        if problem.kind == "union_tag_invalid":
            loc = (*loc, "action")
            message = f"unknown action {problem.context.get('tag')!r}; expected one of " + (
                ", ".join(sorted(_ACTION_TAGS))
            )
        elif problem.kind == "union_tag_not_found":
            loc = (*loc, "action")
            message = "a step needs an action"
        line, field = _line_of(root, loc)
        issues.append(PlaybookIssue(file=file, line=line, field=field, message=message))
    return issues


def _parse(text: str, *, file: Path) -> tuple[list[tuple[Playbook, int]], list[PlaybookIssue]]:
    try:
        roots = [root for root in yaml.compose_all(text, Loader=yaml.SafeLoader) if root]
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        if e.context_mark is not None and (mark is None or "end of stream" in (e.problem or "")):
            mark = e.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = ", ".join(part for part in (e.context, e.problem) if part)
        message = f"invalid YAML: {what}"
        return [], [PlaybookIssue(file=file, line=line, field="", message=message)]
    except yaml.YAMLError as e:
        return [], [PlaybookIssue(file=file, line=1, field="", message=f"invalid YAML: {e}")]
    playbooks: list[tuple[Playbook, int]] = []
    issues: list[PlaybookIssue] = []
    for root in roots:
        line = root.start_mark.line + 1
        try:
            data: Any = yaml.SafeLoader(text).construct_document(root)
        except yaml.YAMLError as e:
            issues.append(PlaybookIssue(file=file, line=line, field="", message=str(e)))
            continue
        if not isinstance(data, dict):
            issues.append(
                PlaybookIssue(file=file, line=line, field="", message="a playbook is a mapping")
            )
            continue
        try:
            playbook = Playbook.model_validate(data)
        except ValidationError as e:
            issues.extend(_issues_from_validation(e, file=file, root=root))
        else:
            playbooks.append((playbook, _line_of(root, ("name",))[0]))
    return playbooks, issues


def parse_playbooks(text: str, *, file: Path) -> tuple[list[Playbook], list[PlaybookIssue]]:
    """Playbooks of one YAML text (one per document) and the issues of the invalid ones."""
    found, issues = _parse(text, file=file)
    return [playbook for playbook, _ in found], issues


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in _SUFFIXES)


def _collect(files: Iterable[tuple[Path, str]]) -> tuple[list[Playbook], list[PlaybookIssue]]:
    playbooks: list[Playbook] = []
    issues: list[PlaybookIssue] = []
    seen: dict[str, Path] = {}
    for file, text in files:
        found, problems = _parse(text, file=file)
        issues.extend(problems)
        for playbook, name_line in found:
            if playbook.name in seen:
                issues.append(
                    PlaybookIssue(
                        file=file,
                        line=name_line,
                        field="name",
                        message=f"duplicate playbook name {playbook.name!r} "
                        f"(first defined in {seen[playbook.name]})",
                    )
                )
                continue
            seen[playbook.name] = file
            playbooks.append(playbook)
    return playbooks, issues


def _read_directory(directory: Path) -> tuple[list[Playbook], list[PlaybookIssue]]:
    if not directory.is_dir():
        issue = PlaybookIssue(file=directory, line=0, field="", message="not a directory")
        return [], [issue]
    texts: list[tuple[Path, str]] = []
    issues: list[PlaybookIssue] = []
    for file in _files(directory):
        try:
            texts.append((file, file.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as e:
            issues.append(PlaybookIssue(file=file, line=0, field="", message=f"unreadable: {e}"))
    playbooks, problems = _collect(texts)
    return playbooks, issues + problems


def validate_directory(path: Path) -> list[PlaybookIssue]:
    """Every issue of every playbook file in ``path`` (empty when all are valid)."""
    return _read_directory(path)[1]


def load_playbooks(directory: Path) -> PlaybookSet:
    """All playbooks of ``directory``; raises ``PlaybookError`` if any file is invalid, so a
    caller can keep its last good set."""
    playbooks, issues = _read_directory(directory)
    if issues:
        raise PlaybookError(issues)
    logger.info("loaded %d playbooks from %s", len(playbooks), directory)
    return PlaybookSet.of(playbooks)


def builtin_directory() -> Path:
    """The directory of the built-in playbook files shipped with kubeheal."""
    return Path(str(resources.files("kubeheal.engine.playbooks")))


def load_builtin_playbooks() -> PlaybookSet:
    """The built-in playbooks (they are validated by the test suite, so this never fails)."""
    return load_playbooks(builtin_directory())


def export_json_schema() -> dict[str, Any]:
    """The JSON Schema of one playbook document (for editors and CI)."""
    schema = TypeAdapter(Playbook).json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "kubeheal playbook"
    return schema

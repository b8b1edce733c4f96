"""A small, fast, deterministic YAML writer for generated rule and test files.

Handles what the generators produce: mappings (keys in insertion order), lists, strings,
ints, floats, booleans. Multi-line strings become literal blocks (``|-``) so PromQL reads as
written; strings YAML would read as something else are quoted (single-quoted, or JSON-quoted
when they hold control characters). Mappings shared between rules (every recording rule of
an SLO carries the same label mapping object) are rendered once per indentation. Faster than
libyaml's emitter through PyYAML, and several times faster than PyYAML's pure-Python one,
which matters when rendering a thousand SLOs.

Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

__all__ = ["dump_yaml"]

_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_ ./:()=,'-]*$")
_SPECIAL = frozenset({"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", ""})


def _scalar(value: object) -> str:
    if isinstance(value, str):
        return _text(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return repr(value)
    return _text(str(value))


@lru_cache(maxsize=1 << 16)
def _text(text: str) -> str:
    if (
        _PLAIN.match(text)
        and text.lower() not in _SPECIAL
        and not text.endswith((" ", ":"))
        and ": " not in text
        and " #" not in text
    ):
        return text
    if text.isprintable():
        return "'" + text.replace("'", "''") + "'"
    return json.dumps(text, ensure_ascii=False)


def _block(text: str, indent: str) -> str | None:
    """A literal block for a multi-line string, or None when one cannot hold it exactly."""
    if "\n" not in text or text != text.strip() or "\t" in text or "\r" in text:
        return None
    lines = text.split("\n")
    if any(line != line.rstrip() for line in lines):
        return None
    return "|-\n" + "\n".join(f"{indent}{line}" if line else "" for line in lines)


class _Writer:
    def __init__(self) -> None:
        self.out: list[str] = []
        self._mappings: dict[tuple[int, str], tuple[object, list[str]]] = {}

    def mapping(self, value: Mapping[Any, object], indent: str) -> None:
        key = (id(value), indent)
        cached = self._mappings.get(key)
        if cached is not None and cached[0] is value:
            self.out.extend(cached[1])
            return
        start = len(self.out)
        for k, v in value.items():
            self.item(str(k), v, indent)
        self._mappings[key] = (value, self.out[start:])

    def item(self, key: str, value: object, indent: str) -> None:
        head = f"{indent}{_scalar(key)}:"
        if isinstance(value, str):
            block = _block(value, indent + "  ") if "\n" in value else None
            self.out.append(f"{head} {block if block is not None else _scalar(value)}")
        elif isinstance(value, Mapping):
            if not value:
                self.out.append(f"{head} {{}}")
            else:
                self.out.append(head)
                self.mapping(value, indent + "  ")
        elif isinstance(value, list | tuple):
            if not value:
                self.out.append(f"{head} []")
            else:
                self.out.append(head)
                for v in value:
                    self.list_item(v, indent + "  ")
        else:
            self.out.append(f"{head} {_scalar(value)}")

    def list_item(self, value: object, indent: str) -> None:
        if isinstance(value, Mapping) and value:
            # "- key: value": the first key shares the dash's line.
            start = len(self.out)
            self.mapping(value, indent + "  ")
            first = self.out[start]
            self.out[start] = f"{indent}- {first[len(indent) + 2 :]}"
            return
        if isinstance(value, Mapping | list | tuple):
            if value:
                raise TypeError("nested lists are not supported")
            self.out.append(f"{indent}- {'{}' if isinstance(value, Mapping) else '[]'}")
            return
        if isinstance(value, str) and "\n" in value:
            block = _block(value, indent + "  ")
            if block is not None:
                self.out.append(f"{indent}- {block}")
                return
        self.out.append(f"{indent}- {_scalar(value)}")


def dump_yaml(document: Mapping[str, object]) -> str:
    """``document`` as YAML text ending with a newline."""
    writer = _Writer()
    writer.mapping(document, "")
    return "\n".join(writer.out) + "\n"

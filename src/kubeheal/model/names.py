"""Kubernetes object names as the API server validates them, for names from untrusted input.

Alert labels, annotations, playbooks and CRDs name the objects kubeheal acts on; a name is
checked as the kind of name it claims to be before it becomes a ``Target`` or a request
path (``kubeheal.clients`` refuses unsafe path segments again, whatever their origin):

- ``NameKind.LABEL``: a DNS-1123 label (namespaces): ``[a-z0-9]([-a-z0-9]*[a-z0-9])?``,
  at most 63 characters;
- ``NameKind.SUBDOMAIN``: a DNS-1123 subdomain (Deployments, StatefulSets, DaemonSets,
  ReplicaSets, Pods, Nodes, PDBs, HPAs...): dot-separated labels, at most 253 characters.

``shown`` renders a hostile value for one log line: control characters escaped, length
bounded. Pure: no I/O.
"""

from __future__ import annotations

import enum
import re

__all__ = [
    "MAX_LABEL",
    "MAX_SUBDOMAIN",
    "InvalidName",
    "NameKind",
    "check_name",
    "name_problem",
    "segment_problem",
    "shown",
]

MAX_LABEL = 63
MAX_SUBDOMAIN = 253

_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_UNSAFE_IN_SEGMENT = frozenset("/?#%\\")


class NameKind(enum.Enum):
    """Which Kubernetes name rule a value must follow."""

    LABEL = "DNS-1123 label"
    SUBDOMAIN = "DNS-1123 subdomain"

    @property
    def max_length(self) -> int:
        return MAX_LABEL if self is NameKind.LABEL else MAX_SUBDOMAIN


class InvalidName(ValueError):
    """A name from untrusted input is not the Kubernetes name it claims to be.

    ``field`` says where it came from (``label namespace``, ``params.deployment``),
    ``value`` is the raw value, ``reason`` why it is refused. ``str()`` is one log-safe line.
    """

    def __init__(self, *, field: str, value: str, reason: str) -> None:
        super().__init__(f"{field}={shown(value)} is refused: {reason}")
        self.field = field
        self.value = value
        self.reason = reason


def _is_control(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code < 0xA0 or char in "\u2028\u2029"


def shown(value: str, *, limit: int = 80) -> str:
    """``value`` quoted for a log line: control and non-ASCII characters escaped, at most
    ``limit`` characters of it (then ``...``)."""
    cut = value[:limit].replace("\\", "\\\\")
    text = cut.encode("ascii", "backslashreplace").decode("ascii")
    text = "".join(
        c.encode("unicode_escape").decode("ascii") if _is_control(c) else c for c in text
    )
    text = text.replace('"', '\\"')
    return f'"{text}"' + ("..." if len(value) > limit else "")


def name_problem(value: str, kind: NameKind) -> str | None:
    """Why ``value`` is not a valid name of ``kind`` (None: it is)."""
    if not value:
        return f"empty, not a {kind.value}"
    if any(_is_control(c) for c in value):
        return "contains control characters"
    if len(value) > kind.max_length:
        return f"{len(value)} characters, a {kind.value} has at most {kind.max_length}"
    pattern = _LABEL if kind is NameKind.LABEL else _SUBDOMAIN
    if pattern.fullmatch(value) is None:
        allowed = "lower-case letters, digits and '-'" + (
            "" if kind is NameKind.LABEL else " in dot-separated parts"
        )
        return f"not a {kind.value} ({allowed}, starting and ending alphanumeric)"
    return None


def check_name(value: str, kind: NameKind, *, field: str) -> str:
    """``value`` when it is a valid name of ``kind``, else ``InvalidName`` naming ``field``."""
    problem = name_problem(value, kind)
    if problem is not None:
        raise InvalidName(field=field, value=value, reason=problem)
    return value


def segment_problem(value: str) -> str | None:
    """Why ``value`` cannot be one segment of a request path (None: it can).

    Refused: empty, ``.``/``..`` (which URL resolution would climb), and any ``/ ? # % \\``,
    whitespace or control character. Stricter rules per kind are ``name_problem``'s.
    """
    if not value:
        return "empty path segment"
    if value in (".", ".."):
        return f"path segment {value!r} would climb the URL"
    if any(_is_control(c) or c.isspace() for c in value):
        return "control or whitespace characters in a path segment"
    bad = sorted(_UNSAFE_IN_SEGMENT.intersection(value))
    if bad:
        return f"{''.join(bad)!r} in a path segment"
    return None

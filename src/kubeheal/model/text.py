"""Control characters in text that came from outside (alert labels, annotations, API bodies).

Pure: no I/O. A label value may hold CR, LF, NUL, ESC or any other control character; written
as is, it forges a line in a text log, moves a terminal's cursor, or makes an e-mail header
unsendable (``Header values may not contain linefeed or carriage return characters``). Two
treatments:

- `escape_control` for logs: every control character becomes a visible escape (``\\r``,
  ``\\n``, ``\\t``, ``\\x1b``, ``\\u2028``), so one record stays one line and nothing is lost;
- `strip_control` for headers and subjects: every run of control characters becomes one
  space (a header cannot hold an escape a reader understands, and must stay one line).

"Control" means the C0 set (U+0000-U+001F), DEL (U+007F), the C1 set (U+0080-U+009F, NEL
included) and the Unicode line and paragraph separators (U+2028, U+2029), which some log
viewers and mail clients also break lines at.
"""

from __future__ import annotations

import re

__all__ = ["CONTROL", "escape_control", "has_control", "strip_control"]

CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
"""One control character (see the module docstring)."""

_CONTROL_RUN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def has_control(text: str) -> bool:
    """Whether ``text`` holds a control character."""
    return CONTROL.search(text) is not None


def escape_control(text: str) -> str:
    """``text`` with every control character written as a visible escape (for logs)."""
    return CONTROL.sub(_escape, text)


def strip_control(text: str) -> str:
    """``text`` with every run of control characters replaced by one space, trimmed (for
    headers and subjects)."""
    return _CONTROL_RUN.sub(" ", text).strip()

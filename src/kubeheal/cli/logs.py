"""Log output of the CLI: text or one JSON object per line, never a forged line.

Log messages carry text from outside: alert labels, annotations, object names, receivers'
answers. A label value ``"x\\r\\n2024-05-01 12:00:00 INFO kubeheal: all good"`` must not add
a line to the log, so:

- text output escapes every control character (`kubeheal.model.text.escape_control`) in the
  whole line: message, arguments and the context fields a ``LoggerAdapter`` adds
  (``incident``, ``target``, ``action``, ``key``: printed as ``key=value`` after the
  message). A traceback keeps its lines, each indented by four spaces and escaped, so no
  continuation line can pass for a record;
- JSON output is one ``json.dumps`` per record, which escapes control characters itself; the
  context fields are top-level keys.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from kubeheal.model.text import escape_control

__all__ = [
    "REQUEST_LOGGERS",
    "JsonFormatter",
    "RequestLinesAtDebug",
    "TextFormatter",
    "setup_logging",
]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_STANDARD = frozenset(
    {
        *logging.LogRecord("", 0, "", 0, "", (), None).__dict__,
        "message",
        "asctime",
        "taskName",
        # uvicorn's copy of its message with terminal colours: never wanted in a log file.
        "color_message",
    }
)


def context_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a ``LoggerAdapter`` or ``extra=`` added to ``record``, by name."""
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _STANDARD and not key.startswith("_")
    }


def _indented(text: str) -> str:
    # Split at LF only: a CR or U+2028 inside an exception's message stays escaped in place.
    return "".join(f"\n    {escape_control(line)}" for line in text.rstrip("\n").split("\n"))


class TextFormatter(logging.Formatter):
    """One line per record, control characters escaped (see the module docstring)."""

    def __init__(self, fmt: str = TEXT_FORMAT, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        fields = context_fields(record)
        if fields:
            line += " " + " ".join(f"{key}={value}" for key, value in sorted(fields.items()))
        text = escape_control(line)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            text += _indented(record.exc_text)
        if record.stack_info:
            text += _indented(self.formatStack(record.stack_info))
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, context fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in context_fields(record).items():
            payload.setdefault(key, value)
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack"] = self.formatStack(record.stack_info)
        # ensure_ascii (the default) also escapes U+2028/U+2029 and the C1 controls.
        return json.dumps(payload, default=str)


REQUEST_LOGGERS = ("httpx", "httpcore", "uvicorn.access")
"""Loggers whose INFO records are one line per HTTP request (the Kubernetes API client's GETs,
the server's access log): `RequestLinesAtDebug` makes them DEBUG records."""


class RequestLinesAtDebug(logging.Filter):
    """Turns the INFO records of `REQUEST_LOGGERS` into DEBUG records, shown only when the
    root logger is at DEBUG: at INFO a running operator logs what it does, not every request
    its clients make (they were most of its lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not record.name.startswith(REQUEST_LOGGERS):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def setup_logging(*, level: str = "INFO", json_output: bool = False) -> None:
    """Configure the root logger once, as escaped text or one JSON object per line; HTTP
    request lines only at DEBUG (`RequestLinesAtDebug`)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_output else TextFormatter())
    handler.addFilter(RequestLinesAtDebug())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())

"""The building blocks of every settings section: `SettingsError`, durations, `Section`.

Pure: no I/O.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, WithJsonSchema

__all__ = ["Duration", "Section", "SettingsError", "parse_duration"]

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class SettingsError(ValueError):
    """A config file or environment override is invalid."""


def parse_duration(value: object) -> object:
    """Turn ``"90s"``, ``"5m"``, ``"1h30m"``, ``"2d"`` or a number of seconds into a timedelta.

    Other values (already a timedelta, or garbage) are passed through for pydantic to judge.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"duration must not be negative, got {value}")
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError("empty duration")
        try:
            seconds = float(text)
        except ValueError:
            pass
        else:
            return parse_duration(seconds)
        pos = 0
        total = 0.0
        for match in _DURATION_PART.finditer(text):
            if match.start() != pos:
                break
            total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
            pos = match.end()
        if pos != len(text) or pos == 0:
            raise ValueError(
                f"invalid duration {value!r}: use a number of seconds or units like 30s, 5m, 1h30m"
            )
        return timedelta(seconds=total)
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d))+$"},
                {"type": "number", "minimum": 0},
            ],
            "description": "A duration: seconds, or units like 30s, 5m, 1h30m.",
        }
    ),
]


class Section(BaseModel):
    """A section of a configuration file: unknown fields refused, frozen, attribute
    docstrings as descriptions, what was typed never echoed in an error."""

    # hide_input_in_errors: a validation error never echoes what was typed, so a mistake next
    # to a token or password does not print the secret.
    model_config = ConfigDict(
        extra="forbid", frozen=True, use_attribute_docstrings=True, hide_input_in_errors=True
    )

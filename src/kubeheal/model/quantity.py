"""Kubernetes resource quantities ("250m", "128Mi", "1G", "1e3") as numbers.

Pure: no I/O, no clock. Every malformed quantity raises ``QuantityError`` (a ``ValueError``)
naming the offending text and what is wrong with it.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

__all__ = [
    "QuantityError",
    "format_memory",
    "parse_cpu",
    "parse_memory",
    "parse_quantity",
]

_NUMBER = re.compile(r"^([+-]?)(\d+(?:\.\d*)?|\.\d+)(.*)$")
_EXPONENT = re.compile(r"^[eE]([+-]?\d+)$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


class QuantityError(ValueError):
    """A string is not a valid Kubernetes quantity (or not valid for its resource)."""


def parse_quantity(text: str | int | float) -> Decimal:
    """Parse any Kubernetes quantity to an exact ``Decimal`` in base units.

    JSON may carry a quantity as a bare number (``cpu: 1`` in YAML); that is accepted too.
    """
    if isinstance(text, bool):
        raise QuantityError(f"quantity must be a string or a number, got {text!r}")
    if isinstance(text, int | float):
        text = repr(text) if isinstance(text, float) else str(text)
    if not isinstance(text, str):
        raise QuantityError(f"quantity must be a string, got {type(text).__name__}: {text!r}")
    stripped = text.strip()
    if not stripped:
        raise QuantityError("empty quantity")
    match = _NUMBER.match(stripped)
    if match is None:
        raise QuantityError(f"invalid quantity {text!r}: it must start with a number")
    sign, digits, suffix = match.groups()
    try:
        number = Decimal(digits)
    except InvalidOperation as e:  # pragma: no cover - the regex admits only valid decimals
        raise QuantityError(f"invalid quantity {text!r}: bad number {digits!r}") from e
    if sign == "-":
        number = -number
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    exponent = _EXPONENT.match(suffix)
    if exponent is not None:
        power = int(exponent.group(1))
        if abs(power) > 30:
            raise QuantityError(f"invalid quantity {text!r}: exponent {power} is out of range")
        return number.scaleb(power)
    raise QuantityError(
        f"invalid quantity {text!r}: unknown suffix {suffix!r} "
        "(expected one of Ki Mi Gi Ti Pi Ei, n u m k M G T P E, or an exponent like e3)"
    )


def parse_cpu(text: str | int | float) -> float:
    """CPU quantity to cores: ``"250m"`` -> 0.25, ``"2"`` -> 2.0."""
    value = parse_quantity(text)
    if value < 0:
        raise QuantityError(f"invalid cpu quantity {text!r}: it must not be negative")
    return float(value)


def parse_memory(text: str | int | float) -> int:
    """Memory quantity to bytes, rounded up: ``"128Mi"`` -> 134217728, ``"1G"`` -> 10**9."""
    value = parse_quantity(text)
    if value < 0:
        raise QuantityError(f"invalid memory quantity {text!r}: it must not be negative")
    return math.ceil(value)


def format_memory(size: int) -> str:
    """Bytes to the shortest exact binary quantity: 402653184 -> ``"384Mi"``."""
    if size < 0:
        raise QuantityError(f"memory size must not be negative, got {size}")
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = _BINARY[suffix]
        if size and size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)

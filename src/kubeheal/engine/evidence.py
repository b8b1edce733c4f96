"""The evidence an escalation carries: the figures of the incident's own signals.

An escalate step's ``reason`` may name ``{forecast}``: it is replaced by the latest memory
exhaustion forecast of the incident (kubeheal's ``Forecast`` signal from
`kubeheal.runtime.anomaly_source`), in words and figures a human on call can act on::

    memory of container app in pod web-7d9f-x2v grows 2.00 MiB/s (120.0 MiB/min):
    150.0 MiB now, the 384.0 MiB limit is reached in 1.9 min (1.5 min..2.4 min)

Rates and times are those of the forecast, per second of the Prometheus it read. Without a
memory forecast the placeholder says so ("no memory forecast in this incident"); any other
text in braces is left as written.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import math

from kubeheal.model.core import DetailValue, Incident, Signal, SignalKind

__all__ = ["FORECAST_PLACEHOLDER", "forecast_evidence", "with_evidence"]

FORECAST_PLACEHOLDER = "{forecast}"
_MIB = float(2**20)
_NO_FORECAST = "no memory forecast in this incident"


def _number(details: dict[str, DetailValue], key: str) -> float | None:
    value = details.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _duration(seconds: float) -> str:
    """``42 s``, ``1.9 min``, ``2.5 h`` (one decimal above two minutes)."""
    if seconds < 120:
        return f"{max(seconds, 0.0):.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _subject_words(signal: Signal) -> str:
    parts = signal.subject.split("/")
    if len(parts) == 4 and parts[0] == "pod" and parts[2] == "container":
        return f"container {parts[3]} in pod {parts[1]}"
    container = signal.details.get("container")
    return f"container {container}" if isinstance(container, str) and container else "memory"


def _latest_memory_forecast(incident: Incident) -> Signal | None:
    found = [
        s
        for s in incident.signals
        if s.kind is SignalKind.FORECAST
        and s.details.get("resource") == "memory"
        and _number(s.details, "slope_per_second") is not None
    ]
    return max(found, key=lambda s: (s.observed_at, s.subject), default=None)


def forecast_evidence(incident: Incident) -> str | None:
    """The growth rate and time to the limit of the incident's latest memory forecast."""
    signal = _latest_memory_forecast(incident)
    if signal is None:
        return None
    d = signal.details
    slope = _number(d, "slope_per_second") or 0.0
    words = (
        f"memory of {_subject_words(signal)} grows {slope / _MIB:.2f} MiB/s "
        f"({slope * 60 / _MIB:.1f} MiB/min)"
    )
    level, limit, seconds = _number(d, "level"), _number(d, "limit"), _number(d, "seconds")
    if level is not None:
        words += f": {level / _MIB:.1f} MiB now"
    if limit is not None and seconds is not None:
        words += f", the {limit / _MIB:.1f} MiB limit is reached in {_duration(seconds)}"
        lower, upper = _number(d, "lower"), _number(d, "upper")
        if lower is not None and upper is not None and upper >= 0:
            words += f" ({_duration(lower)}..{_duration(upper)})"
    return words


def with_evidence(reason: str, incident: Incident) -> str:
    """``reason`` with ``{forecast}`` replaced by `forecast_evidence` (or why there is none)."""
    if FORECAST_PLACEHOLDER not in reason:
        return reason
    return reason.replace(FORECAST_PLACEHOLDER, forecast_evidence(incident) or _NO_FORECAST)

"""Streaming anomaly detection and saturation forecasting.

Pure: no I/O, no clock. :class:`AnomalyDetector` scores one series point by point (causal,
deterministic, state saved to a dict or bytes); :func:`time_to_exhaustion` forecasts when a
series reaches a limit; :mod:`kubeheal.anomaly.nab` scores detectors by the Numenta Anomaly
Benchmark's rules.
"""

from kubeheal.anomaly.base import FEATURES, DetectorConfig, Explanation, ScoreBatch
from kubeheal.anomaly.detector import AnomalyDetector
from kubeheal.anomaly.errors import AnomalyError, AnomalyInputError, DetectorStateError
from kubeheal.anomaly.forecast import Exhaustion, time_to_exhaustion

__all__ = [
    "FEATURES",
    "AnomalyDetector",
    "AnomalyError",
    "AnomalyInputError",
    "DetectorConfig",
    "DetectorStateError",
    "Exhaustion",
    "Explanation",
    "ScoreBatch",
    "time_to_exhaustion",
]

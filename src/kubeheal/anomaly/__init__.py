"""Streaming anomaly detection and saturation forecasting."""

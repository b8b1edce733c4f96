"""Adapters for Kubernetes, Prometheus and Alertmanager: the only network I/O."""

"""Monitoring as code: alert rules, Alertmanager routes, dashboards."""

"""kubeheal's own HTTP servers: webhook receiver, API, /metrics, health, web console."""

from kubeheal.server.app import create_app

__all__ = ["create_app"]

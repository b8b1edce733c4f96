"""kubeheal's own HTTP servers: webhook receiver, API, /metrics, health, web console."""

from kubeheal.server.app import create_app
from kubeheal.server.auth import Authenticator

__all__ = ["Authenticator", "create_app"]

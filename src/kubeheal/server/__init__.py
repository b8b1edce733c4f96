"""kubeheal's own HTTP servers: webhook receiver, API, /metrics, health, web console."""

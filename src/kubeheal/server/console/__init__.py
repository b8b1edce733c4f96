"""The web console: incidents live, their timelines, KPIs and the safety panel, in a browser.

Served by the operator's own HTTP app under ``/console`` (`kubeheal.server.serving`):
server-rendered pages (`views`), login sessions and CSRF (`sessions`), ledger queries
(`data`). `console_browser` is the hook the authentication middleware calls
(`kubeheal.server.auth.BrowserSessions`): the login page is public, a session cookie
authenticates, and an unauthenticated page request is redirected to the login page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from kubeheal.server.auth import Scope
from kubeheal.server.console.sessions import ConsoleGate, Role
from kubeheal.server.console.views import ConsoleContext, console_router

__all__ = ["ConsoleBrowser", "ConsoleContext", "ConsoleGate", "Role", "console_router"]

LOGIN_PATH = "/console/login"


def _scope_headers(scope: Scope) -> Mapping[str, str]:
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


@dataclass(frozen=True)
class ConsoleBrowser:
    """The console's `kubeheal.server.auth.BrowserSessions`."""

    gate: ConsoleGate

    def exempt(self, path: str) -> bool:
        return path == LOGIN_PATH

    def has_session(self, scope: Scope) -> bool:
        return self.gate.session(_scope_headers(scope)) is not None

    def login_redirect(self, scope: Scope) -> bytes | None:
        path: str = scope["path"]
        if scope["method"] not in ("GET", "HEAD") or not (
            path == "/console" or path.startswith("/console/")
        ):
            return None
        query = scope.get("query_string", b"").decode("latin-1")
        back = path + (f"?{query}" if query else "")
        return f"{LOGIN_PATH}?next={quote(back, safe='')}".encode()

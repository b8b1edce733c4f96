"""The console's routes: server-rendered pages (Jinja2, autoescaped), live updates, forms.

=====================================  ==================================================
``GET  /console/login``, ``POST``      the login form (served without credentials)
``POST /console/logout``               end the session
``GET  /console/incidents``            incident list; filters namespace, state, playbook,
                                       severity (query parameters)
``GET  /console/events``               Server-Sent Events: a row for every new or changed
                                       incident matching the same filters
``GET  /console/incidents/{id}``       timeline: signals, decisions with the guards'
                                       verdicts, actions, verification, outcome,
                                       notifications, kubectl, logs, links
``POST /console/incidents/{id}/ack``   acknowledge (operator role; as `kubeheal incident ack`)
``POST /console/incidents/{id}/resolve``  end its escalation (operator role)
``GET  /console/kpis``                 KPI charts with the mission's targets
``GET  /console/playbooks``            the loaded playbooks: built-in or user, enabled,
                                       mode, last matched, success rate
``GET  /console/slos``                 every SLO: budget left, burn rate per window, the
                                       page and ticket alerts that hold
``GET  /console/safety``               kill switch, dry run, budgets, cooldowns, cordons,
                                       leadership
``POST /console/safety/kill-switch``   pull or release the kill switch (operator role)
``GET  /console/static/{file}``        CSS, JS and the vendored chart library (cached)
=====================================  ==================================================

Every POST passes `ConsoleGate.csrf_problem` (403 otherwise) and, but the login, needs the
operator role (403 for a viewer). Responses carry a strict Content-Security-Policy.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from kubeheal.actions.cluster import set_kill_switch
from kubeheal.clients.kube import KubeError, KubeNotFound
from kubeheal.config import Settings
from kubeheal.engine.playbooks import Playbook, load_builtin_playbooks
from kubeheal.runtime.kill_switch import printable
from kubeheal.runtime.notifications import acknowledge_incident
from kubeheal.server.console import data
from kubeheal.server.console.sessions import CSRF_COOKIE, SESSION_COOKIE, ConsoleGate, Role
from kubeheal.slo.status import SloStatus
from kubeheal.store import (
    ConflictError,
    IncidentRecord,
    InvalidRecordError,
    Ledger,
    NotFoundError,
)
from kubeheal.store.outbox import NotificationStore

__all__ = ["ConsoleContext", "console_router", "environment"]

log = logging.getLogger(__name__)

_HERE = Path(__file__).parent
_STATIC = _HERE / "static"
_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
}
_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_PLAYBOOK = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'"
)
_NO_OPERATOR: dict[str, Any] = {
    "kill_switch_state": "unknown",
    "kill_switch_reason": "no operator attached to this console",
    "kill_switch_since": None,
    "role": "-",
    "acting": False,
    "cordoned": [],
}
STREAM_SECONDS = 10.0
"""An event stream ends after this long and the browser reconnects (the new stream sends the
current rows again; the page keeps those it has): a stopping server waits at most this long
for a stream, and for none once the operator says it stops."""


@dataclass
class ConsoleContext:
    """What the console reads and changes (built by `kubeheal.server.serving.operator_http`)."""

    ledger: Ledger
    settings: Callable[[], Settings]
    """The operator's current settings."""
    clock: Callable[[], datetime]
    gate: ConsoleGate
    on_ack: Callable[[], None] | None = None
    safety: Callable[[], dict[str, Any]] | None = None
    """The safety panel's live state (kill switch as read, cordons, leadership...)."""
    writer: Any = None
    """The cluster writer that sets the kill switch ConfigMap (None: no button)."""
    poll_seconds: float = 1.0
    """How often an event stream looks for new or changed incidents."""
    playbooks: Callable[[], Iterable[Playbook]] | None = None
    """The operator's loaded playbooks (None: no playbooks page content)."""
    slo_statuses: Callable[[], Sequence[SloStatus]] | None = None
    """The SLO source's latest statuses (None: no SLO configured)."""
    stopping: Callable[[], bool] = lambda: False
    """True once the operator stops: event streams end so the server's shutdown never waits
    for them."""
    snapshot_seconds: float = 15.0
    """How long the decoded window of the ledger is reused (KPIs are at most this old; the
    incident list overlays every incident opened, in progress or escalated since)."""


def environment() -> jinja2.Environment:
    """The console's templates (autoescaped) and their filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([_HERE / "templates", _STATIC]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["stamp"] = lambda d: d.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if d else ""
    env.filters["seconds"] = _seconds
    env.filters["duration"] = _duration
    env.filters["epoch"] = lambda t: datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    env.filters["percent"] = lambda v: "-" if v is None else f"{100 * v:.1f} %"
    return env


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.0f} s"
    return f"{value / 60:.1f} min"


def _headers(request: Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


def _load_static() -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for path in _STATIC.rglob("*"):
        if path.is_file() and path.suffix in _TYPES:
            files[path.relative_to(_STATIC).as_posix()] = path.read_bytes()
    return files


def console_router(context: ConsoleContext) -> APIRouter:
    """The console over ``context`` (see the module docstring)."""
    env = environment()
    static = _load_static()
    gate = context.gate
    router = APIRouter(prefix="/console", include_in_schema=False)
    cache = data.LedgerCache(context.ledger, ttl=context.snapshot_seconds)
    refreshing: list[asyncio.Future[data.Snapshot]] = []

    async def current_snapshot() -> tuple[data.Snapshot, dict[str, IncidentRecord]]:
        """The cached snapshot and the incidents that may have changed since it was read.
        An out-of-date snapshot of a small ledger (read in under 0.1 s) is read again at
        once; a large one is served while a worker thread reads the next (only the first
        page after a start waits for a large read)."""
        current = cache.current
        if current is None:
            current = await asyncio.to_thread(cache.refresh, context.clock())
        since = current.now - timedelta(minutes=1)
        recent = await asyncio.to_thread(
            data.recent_incidents, context.ledger, now=context.clock(), since=since
        )
        if not (cache.stale() or data.outdated(current, recent)):
            return current, recent
        if cache.cost < 0.1:
            current = await asyncio.to_thread(cache.refresh, context.clock())
            return current, recent
        if not (refreshing and not refreshing[0].done()):
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(None, cache.refresh, context.clock())
            future.add_done_callback(_log_failure)
            refreshing[:] = [future]
        return current, recent

    def page(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        headers = _headers(request)
        csrf = gate.csrf_value(headers)
        fresh = "" if csrf else gate.new_csrf()
        body = env.get_template(template).render(
            csrf=csrf or fresh,
            role=gate.role(headers).value if gate.authenticated(headers) else "",
            user=gate.user(headers),
            auth_enabled=gate.enabled,
            path=request.url.path,
            **values,
        )
        response = HTMLResponse(body, status_code=status)
        _secure_headers(response)
        if fresh:
            _set_cookie(response, request, CSRF_COOKIE, fresh)
        return response

    def _set_cookie(response: Response, request: Request, name: str, value: str) -> None:
        response.set_cookie(
            name,
            value,
            max_age=gate.lifetime,
            path="/console",
            secure=gate.secure(request.url.scheme),
            httponly=True,
            samesite="strict",
        )

    async def form_of(request: Request) -> dict[str, str]:
        # The console's forms are url-encoded and small; anything else reads as empty
        # (and then fails the CSRF check).
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        raw = await request.body()
        if kind != "application/x-www-form-urlencoded" or len(raw) > 16_384:
            return {}
        try:
            pairs = parse_qsl(raw.decode(), keep_blank_values=True, max_num_fields=20)
        except (UnicodeDecodeError, ValueError):
            return {}
        return dict(pairs)

    def refuse(request: Request, form: Mapping[str, str], *, operator: bool) -> Response | None:
        headers = _headers(request)
        problem = gate.csrf_problem(
            headers=headers,
            scheme=request.url.scheme,
            host=headers.get("host", ""),
            submitted=form.get("csrf", "") or headers.get("x-csrf-token", ""),
        )
        if problem is None and operator and gate.role(headers) is not Role.OPERATOR:
            problem = "the viewer role changes nothing"
        if problem is None:
            return None
        log.info("console refused %s %s: %s", request.method, request.url.path, problem)
        return page(request, "error.html", status=403, title="Refused", message=problem)

    # ------------------------------------------------------------------ login

    @router.get("")
    async def home() -> Response:
        return RedirectResponse("/console/incidents", status_code=303)

    @router.get("/login")
    async def login_page(request: Request, next: str = "") -> Response:
        return page(request, "login.html", next=_safe_next(next), problem="")

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await form_of(request)
        refused = refuse(request, form, operator=False)
        if refused is not None:
            return refused
        target = _safe_next(form.get("next", ""))
        if not gate.enabled:
            return RedirectResponse(target, status_code=303)
        user = printable(form.get("user", "").strip())[:64] or gate.auth.username
        found = gate.login(user=user, secret=form.get("secret", ""))
        if found is None:
            log.info("console login refused for user %s", printable(user))
            return page(
                request, "login.html", status=401, next=target, problem="Wrong credentials."
            )
        role, credential = found
        cookie, csrf = gate.issue(role=role, credential=credential, user=user)
        log.info("console login: %s as %s", printable(user), role.value)
        response = RedirectResponse(target, status_code=303)
        _set_cookie(response, request, SESSION_COOKIE, cookie)
        _set_cookie(response, request, CSRF_COOKIE, csrf)
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        form = await form_of(request)
        refused = refuse(request, form, operator=False)
        if refused is not None:
            return refused
        response = RedirectResponse("/console/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/console")
        return response

    # ------------------------------------------------------------------ incidents

    def filters_of(request: Request) -> data.Filters | str:
        q = request.query_params
        f = data.Filters(
            namespace=q.get("namespace", ""),
            state=q.get("state", ""),
            playbook=q.get("playbook", ""),
            severity=q.get("severity", ""),
        )
        if f.namespace and not _NAMESPACE.match(f.namespace):
            return "namespace: not a namespace name"
        if f.state and f.state not in data.STATES:
            return f"state: one of {', '.join(data.STATES)}"
        if f.playbook and not _PLAYBOOK.match(f.playbook):
            return "playbook: not a playbook name"
        if f.severity and f.severity not in data.SEVERITIES:
            return f"severity: one of {', '.join(data.SEVERITIES)}"
        return f

    @router.get("/incidents")
    async def incidents(request: Request) -> Response:
        f = filters_of(request)
        if isinstance(f, str):
            return page(request, "error.html", status=400, title="Bad filter", message=f)
        snapshot, recent = await current_snapshot()
        found = await asyncio.to_thread(
            data.incident_page, context.ledger, snapshot, recent=recent, filters=f
        )
        query = urlencode({k: v for k, v in vars(f).items() if v})
        return page(
            request,
            "incidents.html",
            rows=found.rows,
            total=found.total,
            filters=f,
            choices=found.choices,
            events_url="/console/events" + (f"?{query}" if query else ""),
        )

    @router.get("/events")
    async def events(request: Request) -> Response:
        f = filters_of(request)
        if isinstance(f, str):
            return Response(f, status_code=400, media_type="text/plain")
        row_template = env.get_template("_row.html")

        async def stream() -> AsyncIterator[str]:
            yield "retry: 1000\n\n"
            sent: dict[str, str] = {}
            ends = time.monotonic() + STREAM_SECONDS
            since = context.clock() - timedelta(hours=1)
            while time.monotonic() < ends:
                rows = await asyncio.to_thread(
                    data.live_rows,
                    context.ledger,
                    now=context.clock(),
                    filters=f,
                    since=since,
                    watching=set(sent),
                )
                for row in reversed(rows):
                    if sent.get(row.id) != row.signature:
                        sent[row.id] = row.signature
                        payload = {
                            "id": row.id,
                            "signature": row.signature,
                            "html": row_template.render(row=row),
                        }
                        yield f"event: incident\ndata: {json.dumps(payload)}\n\n"
                if context.stopping() or await request.is_disconnected():
                    return
                await asyncio.sleep(context.poll_seconds)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @router.get("/incidents/{incident_id}")
    async def incident(request: Request, incident_id: str) -> Response:
        if not _ID.match(incident_id):
            return page(
                request, "error.html", status=404, title="Not found", message="no such incident"
            )
        settings = context.settings().notifications
        try:
            story = await asyncio.to_thread(
                data.incident_story, context.ledger, settings, incident_id
            )
        except NotFoundError:
            return page(
                request,
                "error.html",
                status=404,
                title="Not found",
                message=f"no incident {incident_id}",
            )
        return page(
            request,
            "incident.html",
            story=story,
            d=story.detail,
            notice=request.query_params.get("notice", ""),
        )

    async def incident_change(
        request: Request, incident_id: str
    ) -> tuple[dict[str, str], str] | Response:
        """The form of an operator's change to one incident and who makes it, or the page that
        refuses it (CSRF, role, an id that is not an incident id)."""
        form = await form_of(request)
        refused = refuse(request, form, operator=True)
        if refused is not None:
            return refused
        if not _ID.match(incident_id):
            return page(
                request, "error.html", status=404, title="Not found", message="no such incident"
            )
        return form, gate.user(_headers(request))

    def back_to_incident(incident_id: str, notice: str) -> RedirectResponse:
        return RedirectResponse(
            f"/console/incidents/{quote(incident_id)}?notice={quote(notice)}", status_code=303
        )

    @router.post("/incidents/{incident_id}/resolve")
    async def resolve(request: Request, incident_id: str) -> Response:
        """End the incident's escalation (a human has it in hand or fixed it): paging
        stops and the notification loop announces the end where it was told, as when the
        problem goes away. The incident's own record (kubeheal escalated it) is unchanged."""
        posted = await incident_change(request, incident_id)
        if isinstance(posted, Response):
            return posted
        form, by = posted
        note = printable(form.get("reason", ""))[:500]
        reason = f"resolved by {by} from the console" + (f": {note}" if note else "")
        store = NotificationStore(context.ledger)
        changed = await asyncio.to_thread(
            store.resolve, incident_id, at=context.clock(), reason=reason
        )
        if not changed:
            return page(
                request,
                "error.html",
                status=409,
                title="Refused",
                message=f"incident {incident_id} has no escalation in progress",
            )
        if context.on_ack is not None:
            context.on_ack()
        log.info("incident %s: escalation ended from the console by %s", incident_id, printable(by))
        return back_to_incident(incident_id, "escalation resolved")

    @router.post("/incidents/{incident_id}/ack")
    async def ack(request: Request, incident_id: str) -> Response:
        posted = await incident_change(request, incident_id)
        if isinstance(posted, Response):
            return posted
        form, by = posted
        reason = printable(form.get("reason", ""))[:2000]
        try:
            _, changed = await asyncio.to_thread(
                acknowledge_incident,
                context.ledger,
                incident_id,
                by=by,
                note=reason,
                at=context.clock(),
                settings=context.settings().notifications,
            )
        except NotFoundError:
            return page(
                request,
                "error.html",
                status=404,
                title="Not found",
                message=f"no incident {incident_id}",
            )
        except (ConflictError, InvalidRecordError) as e:
            return page(request, "error.html", status=409, title="Refused", message=str(e))
        if changed and context.on_ack is not None:
            context.on_ack()
        log.info("incident %s acknowledged from the console by %s", incident_id, printable(by))
        notice = "acknowledged" if changed else "already acknowledged or over"
        return back_to_incident(incident_id, notice)

    # ------------------------------------------------------------------ KPIs, safety

    @router.get("/kpis")
    async def kpis(request: Request) -> Response:
        snapshot, _ = await current_snapshot()
        values = snapshot.kpis
        return page(request, "kpis.html", kpi=values, totals=values["totals"])

    builtin = {p.name: p for p in load_builtin_playbooks()}

    @router.get("/playbooks")
    async def playbooks(request: Request) -> Response:
        snapshot, _ = await current_snapshot()
        loaded = list(context.playbooks()) if context.playbooks is not None else []
        rows = data.playbook_rows(loaded, builtin=builtin, snapshot=snapshot)
        return page(request, "playbooks.html", rows=rows)

    @router.get("/slos")
    async def slos(request: Request) -> Response:
        statuses = list(context.slo_statuses()) if context.slo_statuses is not None else []
        return page(
            request,
            "slos.html",
            statuses=statuses,
            windows=sorted({w.window for s in statuses for w in s.windows}),
            configured=context.slo_statuses is not None,
        )

    @router.get("/safety")
    async def safety(request: Request) -> Response:
        settings = context.settings()
        now = context.clock()
        live = context.safety() if context.safety is not None else _NO_OPERATOR
        panel = await asyncio.to_thread(
            data.safety_panel, context.ledger, now=now, guards=settings.guards
        )
        return page(
            request,
            "safety.html",
            live=live,
            panel=panel,
            guards=settings.guards,
            can_switch=context.writer is not None and bool(settings.guards.kill_switch_configmap),
            notice=request.query_params.get("notice", ""),
        )

    @router.post("/safety/kill-switch")
    async def kill_switch(request: Request) -> Response:
        form = await form_of(request)
        refused = refuse(request, form, operator=True)
        if refused is not None:
            return refused
        value = form.get("disabled", "")
        if value not in ("true", "false"):
            return page(
                request,
                "error.html",
                status=400,
                title="Bad request",
                message="disabled: true or false",
            )
        where = context.settings().guards.kill_switch_configmap
        namespace, _, name = where.partition("/")
        if context.writer is None or not namespace or not name:
            return page(
                request,
                "error.html",
                status=409,
                title="Refused",
                message="no kill switch ConfigMap configured",
            )
        by = gate.user(_headers(request))
        try:
            await set_kill_switch(
                context.writer,
                namespace,
                name,
                disabled=value == "true",
                by=by,
                at=datetime.now(tz=UTC).isoformat(timespec="seconds"),
            )
        except KubeNotFound:
            hint = (
                f"the ConfigMap {where} does not exist; create it once: kubectl -n {namespace} "
                f"create configmap {name} --from-literal=disabled=false"
            )
            return page(
                request, "error.html", status=409, title="Kill switch not changed", message=hint
            )
        except KubeError as e:
            log.warning("console: setting the kill switch %s failed: %s", where, printable(str(e)))
            return page(
                request,
                "error.html",
                status=502,
                title="Kill switch not changed",
                message=printable(str(e)),
            )
        state = "pulled (no action is taken)" if value == "true" else "released"
        log.warning("kill switch %s %s from the console by %s", where, state, printable(by))
        return RedirectResponse(
            f"/console/safety?notice={quote('kill switch ' + state)}", status_code=303
        )

    # ------------------------------------------------------------------ assets

    @router.get("/static/{name:path}")
    async def asset(name: str) -> Response:
        body = static.get(name)
        if body is None:
            return Response("not found", status_code=404, media_type="text/plain")
        kind = _TYPES[Path(name).suffix]
        cache = (
            "public, max-age=31536000, immutable"
            if name.startswith("vendor/")
            else "public, max-age=3600"
        )
        return Response(
            body,
            media_type=kind,
            headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff"},
        )

    return router


def _log_failure(future: asyncio.Future[data.Snapshot]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("console: reading the ledger failed: %s", future.exception())


def _secure_headers(response: Response) -> None:
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"


def _safe_next(target: str) -> str:
    """A redirect target inside the console (anything else: the incident list)."""
    if target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console/incidents"

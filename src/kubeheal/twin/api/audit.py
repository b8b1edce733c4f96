"""What the API server tells its audit: one record per resource request, as RBAC sees it.

The audit is passed in (`ApiOptions.audit`); the server keeps no audit of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from kubeheal.twin.api.requests import Target

__all__ = ["Audit", "AuditRecord", "audit_record"]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One resource request as RBAC sees it (verb, group, resource, subresource, namespace)."""

    verb: str  # get list watch create update patch delete deletecollection
    group: str
    resource: str
    subresource: str
    namespace: str
    name: str
    user_agent: str


#: Sees every resource request the server serves.
Audit = Callable[[AuditRecord], None]


def audit_record(request: Request, target: Target, *, watch: bool) -> AuditRecord:
    """The record of `request` on `target` (a watch when `watch`)."""
    method = request.method
    if watch:
        verb = "watch"
    elif target.name is None:
        verb = {"GET": "list", "POST": "create", "DELETE": "deletecollection"}.get(method, method)
    else:
        verb = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch"}.get(
            method, "delete" if method == "DELETE" else method
        )
    return AuditRecord(
        verb=verb,
        group=target.rtype.group,
        resource=target.rtype.plural,
        subresource=target.subresource or "",
        namespace=target.namespace or "",
        name=target.name or "",
        user_agent=request.headers.get("user-agent", ""),
    )

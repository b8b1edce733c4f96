"""The twin's HTTP API: the Kubernetes REST API over the `ObjectStore`, as a Starlette app.

Serves what kubectl, lightkube and kubeheal use: discovery (`/api`, `/apis`, resource lists
with subresources), `/version`, health checks, a minimal OpenAPI v3, and for every resource
list (label/field selectors, `limit`/`continue`), watch (chunked JSON lines, bookmarks,
`timeoutSeconds`, 410 as an ERROR event), get, create, replace, the four patch types,
delete (DeleteOptions), deletecollection, `dryRun=All` and `fieldValidation`. Subresources:
`status`, `scale` (autoscaling/v1 Scale), `pods/log`, `pods/eviction`, `pods/binding`.
`kubectl get` receives server-side Tables (`kubeheal.twin.tables`).

Every error is a Kubernetes `Status` body (`kubeheal.twin.errors.ApiError`); an unexpected
exception becomes a 500 Status and the server keeps serving. Control endpoints under
`/twin/` (API faults, pod/node faults) and `/metrics` sit beside the API and are never faulted.

Server-side apply (`application/apply-patch+yaml`) is approximated: the applied configuration
is strategic-merged into the live object (created when absent); there is no field ownership,
so fields dropped from the applied configuration are not removed.

Rooms: `app` (routing, API faults, audit hand-off, `create_app`), `requests` (the target,
body, query parameters and responses every handler shares), `discovery`, `admission`
(fieldValidation, names, defaulting), `reads` (get, list, watch), `writes` (create, replace,
patch, delete), `subresources` (scale, log, eviction, binding), `control` (`/twin/...`,
`/metrics`) and `audit` (`AuditRecord`; the audit itself is passed in as `ApiOptions.audit`).
"""

from __future__ import annotations

from kubeheal.twin.api.app import ApiOptions, create_app
from kubeheal.twin.api.audit import Audit, AuditRecord
from kubeheal.twin.api.discovery import KUBERNETES_VERSION

__all__ = [
    "KUBERNETES_VERSION",
    "ApiOptions",
    "Audit",
    "AuditRecord",
    "create_app",
]

"""Writes: create, replace, the four patch types (server-side apply approximated as a
strategic merge, creating the object when absent), delete with DeleteOptions, and
deletecollection; `dryRun=All` throughout.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from kubeheal.twin.api.admission import Admission, check_name, validate_fields
from kubeheal.twin.api.reads import render_one
from kubeheal.twin.api.requests import (
    APPLY_CBOR,
    APPLY_YAML,
    JSON_PATCH,
    MERGE,
    PATCH_TYPES,
    PROTOBUF,
    Obj,
    Target,
    dry_run,
    json_response,
    media_type,
    object_body,
    parse_json,
    parse_yaml,
    read_body,
    selectors,
    success,
    truthy,
)
from kubeheal.twin.api.subresources import Subresources, scale_of
from kubeheal.twin.cluster import Twin
from kubeheal.twin.errors import BadRequest, Invalid, NotFound, UnsupportedMediaType
from kubeheal.twin.patch import PatchError, json_merge_patch, json_patch, strategic_merge_patch

__all__ = ["Writes"]


class Writes:
    """The write handlers over one twin."""

    def __init__(self, twin: Twin, *, admission: Admission, subresources: Subresources) -> None:
        self.twin = twin
        self.store = twin.store
        self.admission = admission
        self.subresources = subresources

    def _render(
        self, request: Request, target: Target, obj: Obj, *, status: int = 200, warnings: list[str]
    ) -> Response:
        return render_one(
            request, target.rtype, obj, now=self.twin.clock.now(), status=status, warnings=warnings
        )

    async def create(self, request: Request, target: Target) -> Response:
        rtype = target.rtype
        obj = object_body(await read_body(request), rtype.kind)
        dry = dry_run(request)
        warnings = validate_fields(request, obj, api_version=rtype.api_version, kind=rtype.kind)
        self.admission.defaults(rtype, obj, creating=True)
        created = self.store.create(rtype, obj, namespace=target.namespace, dry_run=dry)
        return self._render(request, target, created, status=201, warnings=warnings)

    async def replace(self, request: Request, target: Target) -> Response:
        rtype = target.rtype
        assert target.name is not None
        body = object_body(await read_body(request), rtype.kind)
        dry = dry_run(request)
        if target.subresource == "scale":
            warnings = validate_fields(request, body, api_version="autoscaling/v1", kind="Scale")
            return json_response(
                self.subresources.write_scale(target, body, dry=dry), warnings=warnings
            )
        body.setdefault("metadata", {})
        check_name(body, target)
        warnings = validate_fields(request, body, api_version=rtype.api_version, kind=rtype.kind)
        self.admission.defaults(rtype, body, creating=False)
        updated = self.store.update(
            rtype,
            body,
            namespace=target.namespace,
            subresource="status" if target.subresource == "status" else None,
            dry_run=dry,
        )
        return self._render(request, target, updated, warnings=warnings)

    async def patch(self, request: Request, target: Target) -> Response:
        rtype = target.rtype
        assert target.name is not None
        media = media_type(request)
        if media == APPLY_CBOR or media.startswith(PROTOBUF):
            raise UnsupportedMediaType(
                f"the body of the request was in an unknown format ({media}) - accepted media "
                "types include: " + ", ".join(PATCH_TYPES)
            )
        if media not in PATCH_TYPES:
            raise UnsupportedMediaType(
                f"the body of the request was in an unknown format ({media or 'no content type'})"
                " - accepted media types include: " + ", ".join(PATCH_TYPES)
            )
        raw = await request.body()
        if not raw.strip():
            raise BadRequest("the patch is empty")
        patch = parse_yaml(raw) if media == APPLY_YAML else parse_json(raw)
        if media == JSON_PATCH:
            if not isinstance(patch, list):
                raise BadRequest(
                    "the JSON patch must be a list of operations, got a JSON "
                    f"{type(patch).__name__}"
                )
        else:
            object_body(patch, "patch")
        if media == APPLY_YAML and not request.query_params.get("fieldManager"):
            raise BadRequest(
                "PATCH requests with apply content type must specify a fieldManager (the "
                "fieldManager query parameter)"
            )
        dry = dry_run(request)
        sub = target.subresource
        with self.store.lock:
            current = self.store.find(rtype, target.namespace, target.name)
            if current is None:
                if media == APPLY_YAML and sub is None:
                    return self._apply_create(request, target, patch, dry=dry)
                raise self.store._not_found(rtype, target.name)
            view = scale_of(rtype, current) if sub == "scale" else current
            current_rv = view["metadata"].get("resourceVersion")
            try:
                if media == JSON_PATCH:
                    patched = json_patch(view, patch)
                elif media == MERGE:
                    patched = json_merge_patch(view, patch)
                else:
                    patched = strategic_merge_patch(view, patch)
            except PatchError as e:
                raise Invalid(f"the patch cannot be applied: {e}") from None
            if not isinstance(patched, dict) or not isinstance(patched.get("metadata"), dict):
                raise Invalid("the patched object must be an object with metadata")
            if sub == "scale":
                warnings = validate_fields(
                    request, patched, api_version="autoscaling/v1", kind="Scale"
                )
                if patched["metadata"].get("resourceVersion") == current_rv:
                    patched["metadata"].pop("resourceVersion", None)
                return json_response(
                    self.subresources.write_scale(target, patched, dry=dry), warnings=warnings
                )
            check_name(patched, target)
            if not patched["metadata"].get("resourceVersion"):
                patched["metadata"]["resourceVersion"] = current_rv
            warnings = validate_fields(
                request, patched, api_version=rtype.api_version, kind=rtype.kind
            )
            self.admission.defaults(rtype, patched, creating=False)
            updated = self.store.update(
                rtype,
                patched,
                namespace=target.namespace,
                subresource="status" if sub == "status" else None,
                dry_run=dry,
            )
        return self._render(request, target, updated, warnings=warnings)

    def _apply_create(self, request: Request, target: Target, obj: Obj, *, dry: bool) -> Response:
        rtype = target.rtype
        obj.setdefault("metadata", {})
        check_name(obj, target)
        warnings = validate_fields(request, obj, api_version=rtype.api_version, kind=rtype.kind)
        self.admission.defaults(rtype, obj, creating=True)
        created = self.store.create(rtype, obj, namespace=target.namespace, dry_run=dry)
        return self._render(request, target, created, status=201, warnings=warnings)

    async def _delete_options(self, request: Request) -> Obj:
        body = await read_body(request, allow_empty=True)
        options: Obj = {} if body is None else object_body(body, "DeleteOptions")
        q = request.query_params
        if q.get("propagationPolicy"):
            options["propagationPolicy"] = q["propagationPolicy"]
        if q.get("gracePeriodSeconds"):
            try:
                options["gracePeriodSeconds"] = int(q["gracePeriodSeconds"])
            except ValueError:
                raise BadRequest("gracePeriodSeconds must be an integer") from None
        if truthy(q.get("orphanDependents")) or options.get("orphanDependents") is True:
            options.setdefault("propagationPolicy", "Orphan")
        if q.getlist("dryRun"):
            options["dryRun"] = q.getlist("dryRun")
        for value in options.get("dryRun") or ():
            if value != "All":
                raise BadRequest(f'dryRun: Unsupported value: "{value}": supported values: "All"')
        return options

    async def delete(self, request: Request, target: Target) -> Response:
        rtype = target.rtype
        assert target.name is not None
        options = await self._delete_options(request)
        preconditions = options.get("preconditions")
        if preconditions is not None and not isinstance(preconditions, dict):
            raise BadRequest("preconditions must be an object")
        result = self.store.delete(
            rtype,
            target.namespace,
            target.name,
            propagation=options.get("propagationPolicy"),
            preconditions=preconditions,
            dry_run=bool(options.get("dryRun")),
        )
        meta = result.get("metadata") or {}
        still_there = self.store.find(rtype, target.namespace, target.name) is not None
        if still_there or options.get("dryRun"):
            return json_response(result)
        return json_response(
            success(
                details={
                    "name": target.name,
                    "group": rtype.group,
                    "kind": rtype.plural,
                    "uid": meta.get("uid", ""),
                }
            )
        )

    async def delete_collection(self, request: Request, target: Target) -> Response:
        rtype = target.rtype
        labels, fields = selectors(request, rtype)
        options = await self._delete_options(request)
        deleted: list[Obj] = []
        with self.store.lock:
            victims = self.store.list_objects(
                rtype, target.namespace, label_selector=labels, field_selector=fields
            )
            for obj in victims:
                meta = obj["metadata"]
                try:
                    deleted.append(
                        self.store.delete(
                            rtype,
                            meta.get("namespace") or None,
                            meta["name"],
                            propagation=options.get("propagationPolicy"),
                            dry_run=bool(options.get("dryRun")),
                        )
                    )
                except NotFound:
                    continue  # collected as a dependent of an earlier victim
            rv = self.store.resource_version
        return json_response(
            {
                "kind": rtype.list_kind,
                "apiVersion": rtype.api_version,
                "metadata": {"resourceVersion": str(rv)},
                "items": deleted,
            }
        )

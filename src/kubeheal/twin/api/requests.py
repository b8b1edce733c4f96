"""What every handler of the twin's API server shares: the target of a request, its body and
query parameters, and the JSON and `Status` responses.

Everything here reads only the request: no store, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import yaml
from starlette.requests import Request
from starlette.responses import Response

from kubeheal.twin import tables
from kubeheal.twin.api.protobuf import decode_protobuf
from kubeheal.twin.errors import ApiError, BadRequest, UnsupportedMediaType
from kubeheal.twin.resources import ResourceType
from kubeheal.twin.selectors import FieldSelector, LabelSelector, SelectorError

__all__ = [
    "APPLY_CBOR",
    "APPLY_YAML",
    "JSON",
    "JSON_PATCH",
    "MERGE",
    "NOT_FOUND",
    "PATCH_TYPES",
    "PROTOBUF",
    "STRATEGIC",
    "Obj",
    "Target",
    "accept",
    "dry_run",
    "dumps",
    "error_response",
    "include",
    "json_response",
    "media_type",
    "object_body",
    "parse_json",
    "parse_yaml",
    "read_body",
    "selectors",
    "success",
    "truthy",
]

Obj = dict[str, Any]

JSON = "application/json"
PROTOBUF = "application/vnd.kubernetes.protobuf"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY_YAML = "application/apply-patch+yaml"
APPLY_CBOR = "application/apply-patch+cbor"
PATCH_TYPES = (JSON_PATCH, MERGE, STRATEGIC, APPLY_YAML)
NOT_FOUND = "the server could not find the requested resource"
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class Target:
    """What a resource request is about: `/api[s]/.../namespaces/NS/PLURAL/NAME/SUB`."""

    rtype: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None
    watch_path: bool


# ------------------------------------------------------------------------------ responses


def dumps(value: object) -> bytes:
    return orjson.dumps(value)


def json_response(value: object, *, status: int = 200, warnings: Sequence[str] = ()) -> Response:
    response = Response(dumps(value), status_code=status, media_type=JSON)
    for warning in warnings:
        response.headers.append("Warning", f'299 - "{_escape(warning)}"')
    return response


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def error_response(err: ApiError) -> Response:
    response = Response(dumps(err.status()), status_code=err.code, media_type=JSON)
    if err.retry_after is not None:
        response.headers["Retry-After"] = str(err.retry_after)
    return response


def success(*, code: int = 200, details: Obj | None = None) -> Obj:
    body: Obj = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "code": code,
    }
    if details:
        body["details"] = details
    return body


# ------------------------------------------------------------------------------ the request


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1", "yes")


async def read_body(request: Request, *, allow_empty: bool = False) -> Any:
    """The decoded JSON, YAML or protobuf body; None for an empty body when `allow_empty`."""
    raw = await request.body()
    media = media_type(request)
    if media.startswith(PROTOBUF):
        return decode_protobuf(raw)
    if not raw.strip():
        if allow_empty:
            return None
        raise BadRequest("the request body is empty: expected a JSON or YAML object")
    if media in ("", JSON, "*/*", "text/json"):
        return parse_json(raw)
    if media in ("application/yaml", "application/x-yaml", "text/yaml"):
        return parse_yaml(raw)
    raise UnsupportedMediaType(
        f"the body of the request was in an unknown format ({media!r}) - accepted media "
        "types include: application/json, application/yaml"
    )


def parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise BadRequest(f"the request body is not valid JSON: json parse error: {e}") from None


def parse_yaml(raw: bytes) -> Any:
    try:
        return yaml.load(raw, Loader=_YAML_LOADER)
    except yaml.YAMLError as e:
        raise BadRequest(
            f"the request body is not valid YAML: yaml parse error: {e}".replace("\n", " ")
        ) from None


def object_body(value: Any, what: str) -> Obj:
    if not isinstance(value, dict):
        raise BadRequest(
            f"the request body must be a {what} object, got a JSON {type(value).__name__}"
        )
    return value


def dry_run(request: Request) -> bool:
    values = request.query_params.getlist("dryRun")
    for value in values:
        if value != "All":
            raise BadRequest(f'dryRun: Unsupported value: "{value}": supported values: "All"')
    return bool(values)


def selectors(
    request: Request, rtype: ResourceType
) -> tuple[LabelSelector | None, FieldSelector | None]:
    q = request.query_params
    labels: LabelSelector | None = None
    fields: FieldSelector | None = None
    if q.get("labelSelector"):
        try:
            labels = LabelSelector.parse(q["labelSelector"])
        except SelectorError as e:
            raise BadRequest(f"unable to parse requirement: {e}") from None
    if q.get("fieldSelector"):
        try:
            fields = FieldSelector.parse(q["fieldSelector"])
        except SelectorError as e:
            raise BadRequest(f"invalid field selector: {e}") from None
        unsupported = sorted(fields.fields - rtype.selectable_fields)
        if unsupported:
            supported = ", ".join(sorted(rtype.selectable_fields))
            raise BadRequest(
                f"field label not supported: {unsupported[0]} (supported for "
                f"{rtype.plural}: {supported})"
            )
    return labels, fields


def accept(request: Request) -> str:
    """ "Table", "PartialObjectMetadata" or "" (plain JSON) from the Accept header."""
    header = request.headers.get("accept", "")
    for part in header.split(","):
        params = {
            k.strip(): v.strip() for k, _, v in (p.partition("=") for p in part.split(";")[1:])
        }
        if params.get("g") == "meta.k8s.io" and params.get("v") in ("v1", "v1beta1"):
            if params.get("as") == "Table":
                return "Table"
            if params.get("as") in ("PartialObjectMetadata", "PartialObjectMetadataList"):
                return "PartialObjectMetadata"
        if part.split(";")[0].strip() in (JSON, "*/*", PROTOBUF, "application/*"):
            return ""
    return ""


def include(request: Request) -> tables.IncludeObject:
    value = request.query_params.get("includeObject", "Metadata")
    if value == "None":
        return "None"
    if value == "Metadata":
        return "Metadata"
    if value == "Object":
        return "Object"
    raise BadRequest(
        f'includeObject: Unsupported value: "{value}": supported values: "None", '
        '"Metadata", "Object"'
    )

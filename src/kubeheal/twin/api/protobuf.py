"""Request bodies in `application/vnd.kubernetes.protobuf`, decoded into the JSON form.

kubectl's typed commands (`create namespace|deployment|configmap|secret|job|...`, `expose`,
`autoscale`) send protobuf. A body is the four magic bytes `k8s\\x00` followed by a
`runtime.Unknown` envelope (`typeMeta` with apiVersion and kind, `raw` with the object's own
message), as "API Concepts - Protobuf encoding" (/docs/reference/using-api/api-concepts/)
describes. The messages are read with the `protobuf` library against the descriptor set
generated from Kubernetes' published `generated.proto` files (`kubernetes.protoset`, made by
`scripts/gen-twin-protobuf`); nothing here parses the wire format itself.

The message is then turned into the object's JSON as the API server's Go types would marshal
it: the apimachinery value types (Time, MicroTime, Duration, Quantity, IntOrString,
RawExtension, FieldsV1, the `items` wrappers) become their JSON forms, int64 stay numbers,
bytes become base64. Go's protobuf marshalling writes every non-pointer field, so a decoded
message carries zero values that its JSON form omits (`omitempty`): empty strings, empty
lists and maps and zero times are dropped, as are zero numbers and `false` except on the
fields where Kubernetes keeps a pointer because zero means something (`replicas: 0`,
`backoffLimit: 0`, ...; `_ZERO_MEANS_SOMETHING`).

Pure: bytes in, a dict out. Errors are `BadRequest` with the API server's wording.
"""

from __future__ import annotations

import base64
import functools
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import orjson
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from kubeheal.twin.errors import BadRequest

__all__ = ["MAGIC", "decode_protobuf", "proto_message_name"]

MAGIC = b"k8s\x00"
_META = "k8s.io.apimachinery.pkg.apis.meta.v1."
_UNKNOWN = "k8s.io.apimachinery.pkg.runtime.Unknown"

# Pointer fields of the Kubernetes types whose zero value is meaningful (so a 0 or false on
# the wire is kept); every other zero scalar is the Go zero value that JSON omits.
_ZERO_MEANS_SOMETHING = frozenset(
    {
        "replicas",
        "minReplicas",
        "backoffLimit",
        "backoffLimitPerIndex",
        "maxFailedIndexes",
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "ttlSecondsAfterFinished",
        "startingDeadlineSeconds",
        "successfulJobsHistoryLimit",
        "failedJobsHistoryLimit",
        "revisionHistoryLimit",
        "progressDeadlineSeconds",
        "terminationGracePeriodSeconds",
        "deletionGracePeriodSeconds",
        "gracePeriodSeconds",
        "targetCPUUtilizationPercentage",
        "averageUtilization",
        "stabilizationWindowSeconds",
        "suspend",
        "paused",
        "immutable",
        "automountServiceAccountToken",
        "enableServiceLinks",
        "hostNetwork",
        "runAsUser",
        "runAsGroup",
        "runAsNonRoot",
        "fsGroup",
        "privileged",
        "readOnlyRootFilesystem",
        "allowPrivilegeEscalation",
        "optional",
        "defaultMode",
        "mode",
        "priority",
        "ready",
        "serving",
        "terminating",
        "allocateLoadBalancerNodePorts",
        "publishNotReadyAddresses",
        "expirationSeconds",
        "orphanDependents",
        "blockOwnerDeletion",
        "controller",
    }
)


@functools.cache
def _pool() -> descriptor_pool.DescriptorPool:
    data = resources.files("kubeheal.twin.api").joinpath("kubernetes.protoset").read_bytes()
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(data).file:
        pool.Add(file)
    return pool


def proto_message_name(api_version: str, kind: str) -> str:
    """The protobuf message of a kind: `apps/v1` Deployment -> `k8s.io.api.apps.v1.Deployment`.

    The package is the group's first label (`rbac.authorization.k8s.io` -> `rbac`), `core`
    for the core group; `meta.k8s.io` kinds (DeleteOptions, ...) live in apimachinery.
    """
    group, _, version = api_version.rpartition("/")
    if group == "meta.k8s.io":
        return f"{_META}{kind}"
    package = group.split(".")[0] if group else "core"
    return f"k8s.io.api.{package}.{version}.{kind}"


def _message(full_name: str) -> type[Message]:
    descriptor = _pool().FindMessageTypeByName(full_name)
    return message_factory.GetMessageClass(descriptor)


def decode_protobuf(raw: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf request body (magic, `runtime.Unknown`, the object)."""
    if not raw.startswith(MAGIC):
        raise BadRequest(
            "the body of the request was in an unknown format - the protobuf body does not "
            'start with the "k8s\\x00" prefix'
        )
    try:
        envelope = _message(_UNKNOWN).FromString(raw[len(MAGIC) :])
    except DecodeError as e:
        raise BadRequest(f"unable to decode the protobuf body: {e}") from None
    type_meta: Any = getattr(envelope, "typeMeta")  # noqa: B009 - generated message field
    api_version, kind = str(type_meta.apiVersion), str(type_meta.kind)
    encoding = str(getattr(envelope, "contentEncoding"))  # noqa: B009
    if encoding:
        raise BadRequest(f"unsupported content encoding {encoding!r} of a protobuf body")
    if not api_version or not kind:
        raise BadRequest("Object 'Kind' is missing in the protobuf body")
    try:
        cls = _message(proto_message_name(api_version, kind))
    except KeyError:
        raise BadRequest(
            f'no kind "{kind}" is registered for version "{api_version}" in scheme '
            '"pkg/runtime/scheme.go:100"'
        ) from None
    try:
        message = cls.FromString(bytes(getattr(envelope, "raw")))  # noqa: B009
    except DecodeError as e:
        raise BadRequest(f"unable to decode {kind} from the protobuf body: {e}") from None
    obj = _to_json(message)
    out: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    out.update(obj if isinstance(obj, dict) else {})
    return out


# ------------------------------------------------------------------------------ message to JSON


def _time(message: Any, *, micro: bool) -> str | None:
    seconds, nanos = int(message.seconds), int(message.nanos)
    if seconds == 0 and nanos == 0:
        return None
    when = datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=nanos // 1000)
    if micro:
        return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _duration(nanoseconds: int) -> str:
    """Go's `time.Duration.String()` for whole milliseconds and above (`1m30s`, `500ms`)."""
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    ns = abs(nanoseconds)
    if ns < 1_000_000_000:
        return f"{sign}{ns / 1_000_000:g}ms"
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    seconds = f"{rest / 1_000_000_000:.9f}".rstrip("0").rstrip(".")
    text = f"{seconds}s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return f"{sign}{text}"


def _special(descriptor: Descriptor, message: Any) -> tuple[bool, Any]:
    name = descriptor.full_name
    if name in (f"{_META}Time", f"{_META}MicroTime"):
        return True, _time(message, micro=name.endswith("MicroTime"))
    if name == f"{_META}Duration":
        return True, _duration(int(message.duration))
    if name == "k8s.io.apimachinery.pkg.api.resource.Quantity":
        return True, str(message.string)
    if name == "k8s.io.apimachinery.pkg.util.intstr.IntOrString":
        return True, (str(message.strVal) if int(message.type) == 1 else int(message.intVal))
    if name in ("k8s.io.apimachinery.pkg.runtime.RawExtension", f"{_META}FieldsV1"):
        raw = bytes(message.raw if hasattr(message, "raw") else message.Raw)
        return True, (orjson.loads(raw) if raw else None)
    if descriptor.name in ("ExtraValue", "Verbs") and [f.name for f in descriptor.fields] == [
        "items"
    ]:
        return True, list(message.items)
    return False, None


def _scalar(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(bytes(value)).decode()
    return value


def _value(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return _to_json(value)
    return _scalar(field, value)


def _empty(value: Any) -> bool:
    return value is None or value in ("", [], {})


def _to_json(message: Any) -> Any:
    descriptor: Descriptor = message.DESCRIPTOR
    special, value = _special(descriptor, message)
    if special:
        return value
    out: dict[str, Any] = {}
    for field, raw in message.ListFields():
        name = field.name
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            value = {str(k): _value(value_field, v) for k, v in raw.items()}
        elif field.is_repeated:
            value = [_value(field, v) for v in raw]
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            value = _to_json(raw)
            if value is None:
                continue
            out[name] = value
            continue
        else:
            value = _scalar(field, raw)
            if value in (0, False) and name not in _ZERO_MEANS_SOMETHING:
                continue
        if _empty(value):
            continue
        out[name] = value
    return out

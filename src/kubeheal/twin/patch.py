"""The three patch types of the Kubernetes API, applied to plain JSON-like data.

* ``application/merge-patch+json``: :func:`json_merge_patch` (RFC 7386);
* ``application/json-patch+json``: :func:`json_patch` (RFC 6902, with RFC 6901 pointers);
* ``application/strategic-merge-patch+json``: :func:`strategic_merge_patch`, the
  Kubernetes flavour that merges lists of objects by a merge key (``containers`` by
  ``name``, ...), taken here from the list's field name (:data:`MERGE_KEYS`).

Documents are JSON values: dicts with string keys, lists, str, int, float, bool and None
(any Mapping / tuple is accepted and copied). No function mutates its inputs; the result
never shares mutable structure with them.

Pure: no I/O, no clock.

Exception tree::

    ValueError
    └── PatchError   malformed patch, or a patch that cannot be applied to the document
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

__all__ = [
    "MERGE_KEYS",
    "SET_LISTS",
    "PatchError",
    "json_merge_patch",
    "json_patch",
    "strategic_merge_patch",
]


class PatchError(ValueError):
    """A patch is malformed or cannot be applied; the message names the operation and path."""


# --------------------------------------------------------------------------- JSON helpers


def _is_list(value: object) -> bool:
    return isinstance(value, list | tuple)


def _copy(value: object, where: str) -> object:
    """Deep-copy a JSON value into fresh dicts and lists; reject non-JSON values."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Mapping):
        return _copy_map(value, where)
    if isinstance(value, list | tuple):
        return [_copy(item, f"{where}[{index}]") for index, item in enumerate(value)]
    raise PatchError(f"{where or '/'}: {type(value).__name__} is not a JSON value")


def _copy_map(value: Mapping[Any, object], where: str) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise PatchError(f"{where or '/'}: object key {key!r} is not a string")
        result[key] = _copy(item, f"{where}/{key}")
    return result


def _json_equal(left: object, right: object) -> bool:
    """JSON equality: numbers by value, booleans distinct from numbers, deep for containers."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, str) or isinstance(right, str):
        return isinstance(left, str) and isinstance(right, str) and left == right
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(
            _json_equal(left[key], right[key]) for key in left
        )
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(
            _json_equal(a, b) for a, b in zip(left, right, strict=True)
        )
    return False


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _kind(value: object) -> str:
    """The JSON type of ``value`` with its article, for messages: 'an array', 'a string'."""
    name = _type_name(value)
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


# --------------------------------------------------------------------------- RFC 7386


def json_merge_patch(target: object, patch: object) -> object:
    """Apply a JSON merge patch (RFC 7386) and return the new document.

    An object patch merges into the target recursively (a non-object target is first
    replaced by ``{}``); a null member deletes the key; any other patch value (array,
    scalar) replaces the target entirely.
    """
    return _merge_patch(_copy(target, ""), patch, "")


def _merge_patch(target: object, patch: object, where: str) -> object:
    """Merge ``patch`` into ``target``, which is owned (already a private copy)."""
    if not isinstance(patch, Mapping):
        return _copy(patch, where)
    result: dict[str, object] = target if isinstance(target, dict) else {}
    for key, value in patch.items():
        if not isinstance(key, str):
            raise PatchError(f"merge patch at {where or '/'}: object key {key!r} is not a string")
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value, f"{where}/{key}")
    return result


# --------------------------------------------------------------------------- RFC 6902

_INDEX_RE = re.compile(r"0|[1-9][0-9]*")
_OPERATIONS = ("add", "remove", "replace", "move", "copy", "test")


def _parse_pointer(pointer: str, describe: str) -> list[str]:
    """Split an RFC 6901 JSON pointer into unescaped reference tokens."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"{describe}: pointer {pointer!r} must be empty or start with '/'")
    tokens: list[str] = []
    for raw in pointer[1:].split("/"):
        if re.search(r"~(?![01])", raw):
            raise PatchError(
                f"{describe}: pointer {pointer!r} has an invalid escape in {raw!r}; "
                "'~' must be followed by '0' or '1'"
            )
        tokens.append(raw.replace("~1", "/").replace("~0", "~"))
    return tokens


def _pointer_text(tokens: Sequence[str]) -> str:
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


def _array_index(token: str, array: list[object], *, describe: str, at: str, insert: bool) -> int:
    if token == "-":
        if insert:
            return len(array)
        raise PatchError(
            f"{describe}: '-' at {at} refers to the element after the end of the array, "
            "which only 'add' may use"
        )
    if not _INDEX_RE.fullmatch(token):
        raise PatchError(
            f"{describe}: {token!r} at {at} is not a valid array index "
            "(a non-negative integer without leading zeros, or '-')"
        )
    index = int(token)
    limit = len(array) if insert else len(array) - 1
    if index > limit:
        raise PatchError(
            f"{describe}: index {index} at {at} is out of range for an array of length {len(array)}"
        )
    return index


def _child(container: object, token: str, *, describe: str, at: str) -> object:
    if isinstance(container, dict):
        if token not in container:
            raise PatchError(f"{describe}: path {at} does not exist (no key {token!r})")
        return container[token]
    if isinstance(container, list):
        return container[_array_index(token, container, describe=describe, at=at, insert=False)]
    raise PatchError(
        f"{describe}: cannot look up {token!r} at {at}: the parent is a "
        f"{_type_name(container)}, not an object or array"
    )


def _get(doc: object, tokens: Sequence[str], describe: str) -> object:
    current = doc
    for depth, token in enumerate(tokens):
        current = _child(current, token, describe=describe, at=_pointer_text(tokens[: depth + 1]))
    return current


def _parent(doc: object, tokens: Sequence[str], describe: str) -> object:
    parent = _get(doc, tokens[:-1], describe)
    if not isinstance(parent, dict | list):
        raise PatchError(
            f"{describe}: the parent {_pointer_text(tokens[:-1]) or '/'} of "
            f"{_pointer_text(tokens)} is {_kind(parent)}, not an object or array"
        )
    return parent


def _add(doc: object, tokens: Sequence[str], value: object, describe: str) -> object:
    if not tokens:
        return value
    parent = _parent(doc, tokens, describe)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        at = _pointer_text(tokens)
        parent.insert(_array_index(last, parent, describe=describe, at=at, insert=True), value)
    return doc


def _remove(doc: object, tokens: Sequence[str], describe: str) -> object:
    if not tokens:
        raise PatchError(f"{describe}: cannot remove the whole document")
    parent = _parent(doc, tokens, describe)
    last = tokens[-1]
    at = _pointer_text(tokens)
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"{describe}: path {at} does not exist (no key {last!r})")
        del parent[last]
    elif isinstance(parent, list):
        del parent[_array_index(last, parent, describe=describe, at=at, insert=False)]
    return doc


def _replace(doc: object, tokens: Sequence[str], value: object, describe: str) -> object:
    if not tokens:
        return value
    parent = _parent(doc, tokens, describe)
    last = tokens[-1]
    at = _pointer_text(tokens)
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"{describe}: path {at} does not exist (no key {last!r})")
        parent[last] = value
    elif isinstance(parent, list):
        parent[_array_index(last, parent, describe=describe, at=at, insert=False)] = value
    return doc


def json_patch(target: object, operations: object) -> object:
    """Apply a JSON patch (RFC 6902) and return the new document.

    ``operations`` is a list of ``{"op": ..., "path": ...}`` objects with ops ``add``,
    ``remove``, ``replace``, ``move``, ``copy`` and ``test``; paths are RFC 6901 pointers
    (``~1`` for '/', ``~0`` for '~', ``-`` for the end of an array in ``add``). The patch
    is atomic: on any error PatchError is raised and nothing is returned.
    """
    if isinstance(operations, str | bytes) or not isinstance(operations, Sequence):
        raise PatchError(f"a JSON patch must be an array of operations, got {_kind(operations)}")
    doc = _copy(target, "")
    for index, operation in enumerate(operations):
        doc = _apply_operation(doc, operation, index)
    return doc


def _apply_operation(doc: object, operation: object, index: int) -> object:
    if not isinstance(operation, Mapping):
        raise PatchError(f"json patch operation {index}: must be an object, got {_kind(operation)}")
    op = operation.get("op")
    if not isinstance(op, str):
        raise PatchError(f"json patch operation {index}: missing or non-string 'op'")
    if op not in _OPERATIONS:
        raise PatchError(
            f"json patch operation {index}: unknown op {op!r}; expected one of "
            f"{', '.join(_OPERATIONS)}"
        )
    path = operation.get("path")
    if not isinstance(path, str):
        raise PatchError(f"json patch operation {index} ({op}): missing or non-string 'path'")
    describe = f"json patch operation {index} ({op} {path!r})"
    tokens = _parse_pointer(path, describe)

    def value() -> object:
        if "value" not in operation:
            raise PatchError(f"{describe}: missing 'value'")
        return _copy(operation["value"], f"{describe}: value")

    def source() -> list[str]:
        from_path = operation.get("from")
        if not isinstance(from_path, str):
            raise PatchError(f"{describe}: missing or non-string 'from'")
        return _parse_pointer(from_path, describe)

    match op:
        case "add":
            return _add(doc, tokens, value(), describe)
        case "remove":
            return _remove(doc, tokens, describe)
        case "replace":
            return _replace(doc, tokens, value(), describe)
        case "move":
            from_tokens = source()
            moved = _get(doc, from_tokens, describe)
            if tokens == from_tokens:
                return doc
            if tokens[: len(from_tokens)] == from_tokens:
                raise PatchError(
                    f"{describe}: cannot move {_pointer_text(from_tokens) or '/'} into its own "
                    f"child {path}"
                )
            doc = _remove(doc, from_tokens, describe)
            return _add(doc, tokens, moved, describe)
        case "copy":
            copied = _copy(_get(doc, source(), describe), "")
            return _add(doc, tokens, copied, describe)
        case _:  # "test"
            expected = value()
            actual = _get(doc, tokens, describe)
            if not _json_equal(actual, expected):
                raise PatchError(
                    f"{describe}: test failed: value at {path or '/'} is {actual!r}, "
                    f"expected {expected!r}"
                )
            return doc


# --------------------------------------------------------------------------- strategic merge

#: Merge key of lists of objects, by the list's field name. ``ports`` is special: it
#: merges by ``containerPort`` when its elements carry one (container ports), else by
#: ``port`` (Service ports). Lists of objects not named here are replaced as a whole.
MERGE_KEYS: Mapping[str, str] = MappingProxyType(
    {
        "containers": "name",
        "initContainers": "name",
        "ephemeralContainers": "name",
        "env": "name",
        "volumes": "name",
        "imagePullSecrets": "name",
        "hostAliases": "ip",
        "volumeMounts": "mountPath",
        "volumeDevices": "devicePath",
        "conditions": "type",
        "ownerReferences": "uid",
        "topologySpreadConstraints": "topologyKey",
        "schedulingGates": "name",
        "resourceClaims": "name",
        "ports": "containerPort",
    }
)

#: Lists of primitive values merged as sets (union, order kept); other primitive lists
#: are replaced as a whole.
SET_LISTS: frozenset[str] = frozenset({"finalizers"})

_PATCH = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"
_MAP_DIRECTIVES = ("replace", "merge", "delete")


def strategic_merge_patch(
    target: Mapping[str, object], patch: Mapping[str, object]
) -> dict[str, object]:
    """Apply a Kubernetes strategic merge patch and return the new object.

    * objects merge recursively; a null value deletes the key;
    * lists of objects with a merge key (:data:`MERGE_KEYS`) merge element-wise by it:
      matching elements merge, new ones are appended, ``{"$patch": "delete", key: v}``
      removes the element, a ``{"$patch": "replace"}`` element makes the rest of the
      patch list replace the list (an empty patch list leaves a keyed list unchanged:
      send null or ``$patch: replace`` to clear it); other lists of objects are replaced;
    * lists of primitives are replaced, except :data:`SET_LISTS` (``finalizers``), which
      take the union; ``$deleteFromPrimitiveList/<field>`` removes values first;
    * ``"$patch": "replace"`` replaces an object, ``"$patch": "delete"`` deletes it,
      ``$retainKeys`` drops every key of the target not listed before merging, and
      ``$setElementOrder/<field>`` orders the merged list (items not listed keep their
      place relative to the listed ones as in the target).

    Unknown ``$`` directives raise PatchError.
    """
    if not isinstance(target, Mapping):
        raise PatchError(f"strategic merge patch: the target must be an object, got {target!r}")
    if not isinstance(patch, Mapping):
        raise PatchError(f"strategic merge patch: the patch must be an object, got {_kind(patch)}")
    return _smp_map(_copy_map(target, ""), patch, "")


def _where(path: str) -> str:
    return f"strategic merge patch at {path or '/'}"


def _smp_map(
    original: dict[str, object], patch: Mapping[str, object], path: str
) -> dict[str, object]:
    """Merge ``patch`` into ``original`` (owned) and return the result."""
    directive = patch.get(_PATCH)
    if directive is not None:
        if directive not in _MAP_DIRECTIVES:
            raise PatchError(
                f"{_where(path)}: unknown $patch directive {directive!r}; expected one of "
                f"{', '.join(repr(d) for d in _MAP_DIRECTIVES)}"
            )
        if directive == "delete":
            return {}
        if directive == "replace":
            rest = {key: value for key, value in patch.items() if key != _PATCH}
            return _smp_map({}, rest, path)

    if _RETAIN_KEYS in patch:
        original = _apply_retain_keys(original, patch, path)

    orders: dict[str, list[object]] = {}
    deletions: dict[str, list[object]] = {}
    for key, value in patch.items():
        if not isinstance(key, str):
            raise PatchError(f"{_where(path)}: object key {key!r} is not a string")
        if not key.startswith("$") or key in (_PATCH, _RETAIN_KEYS):
            continue
        if key.startswith(_SET_ORDER) and len(key) > len(_SET_ORDER):
            orders[key[len(_SET_ORDER) :]] = _directive_list(key, value, path)
        elif key.startswith(_DELETE_PRIMITIVE) and len(key) > len(_DELETE_PRIMITIVE):
            deletions[key[len(_DELETE_PRIMITIVE) :]] = _directive_list(key, value, path)
        else:
            raise PatchError(
                f"{_where(path)}: unknown directive {key!r}; expected $patch, $retainKeys, "
                "$setElementOrder/<field> or $deleteFromPrimitiveList/<field>"
            )

    for field, doomed in deletions.items():
        current = original.get(field)
        if current is None:
            continue
        if not isinstance(current, list):
            raise PatchError(
                f"{_where(_join(path, field))}: $deleteFromPrimitiveList needs a list, "
                f"found {_kind(current)}"
            )
        original[field] = [
            item for item in current if not any(_json_equal(item, gone) for gone in doomed)
        ]

    for key, value in patch.items():
        if key.startswith("$"):
            continue
        child = _join(path, key)
        current = original.get(key)
        if value is None:
            original.pop(key, None)
        elif isinstance(value, Mapping):
            if value.get(_PATCH) == "delete":
                original.pop(key, None)
            else:
                base = current if isinstance(current, dict) else {}
                original[key] = _smp_map(base, value, child)
        elif isinstance(value, list | tuple):
            base_list = current if isinstance(current, list) else []
            original[key] = _smp_list(
                base_list, list(value), field=key, path=child, order=orders.get(key)
            )
        else:
            original[key] = _copy(value, child)

    for field, order in orders.items():
        current = original.get(field)
        if field not in patch and isinstance(current, list):
            original[field] = _smp_list(
                current, [], field=field, path=_join(path, field), order=order
            )
    return original


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _directive_list(key: str, value: object, path: str) -> list[object]:
    if not isinstance(value, list | tuple):
        raise PatchError(f"{_where(path)}: {key} must be a list, got {_kind(value)}")
    return list(value)


def _apply_retain_keys(
    original: dict[str, object], patch: Mapping[str, object], path: str
) -> dict[str, object]:
    retain = patch[_RETAIN_KEYS]
    if not isinstance(retain, list | tuple) or not all(isinstance(k, str) for k in retain):
        raise PatchError(f"{_where(path)}: $retainKeys must be a list of strings, got {retain!r}")
    keep = set(retain)
    for key, value in patch.items():
        if key.startswith("$") or value is None:
            continue
        if key not in keep:
            raise PatchError(
                f"{_where(path)}: key {key!r} is set by the patch but missing from "
                f"$retainKeys {list(retain)}"
            )
    return {key: value for key, value in original.items() if key in keep}


def _merge_key_for(field: str, original: list[object], patch: list[object]) -> str | None:
    key = MERGE_KEYS.get(field)
    if field == "ports":
        carries = any(isinstance(e, Mapping) and "containerPort" in e for e in (*original, *patch))
        return "containerPort" if carries else "port"
    return key


def _smp_list(
    original: list[object],
    patch: list[object],
    *,
    field: str,
    path: str,
    order: list[object] | None,
) -> list[object]:
    """Merge the list ``patch`` into ``original`` (owned) for the field named ``field``."""
    directives: list[str] = []
    for element in patch:
        if isinstance(element, Mapping) and _PATCH in element:
            directive = element[_PATCH]
            if directive not in _MAP_DIRECTIVES:
                raise PatchError(
                    f"{_where(path)}: unknown $patch directive {directive!r} in a list "
                    f"element; expected one of {', '.join(repr(d) for d in _MAP_DIRECTIVES)}"
                )
            directives.append(str(directive))
    if "replace" in directives:
        return [
            _copy(e, path)
            for e in patch
            if not (isinstance(e, Mapping) and e.get(_PATCH) == "replace")
        ]

    merge_key = _merge_key_for(field, original, patch)
    original_snapshot = list(original)
    if field in SET_LISTS:
        if directives:
            raise PatchError(
                f"{_where(path)}: $patch elements are not allowed in the set list {field!r}"
            )
        result = list(original)
        for item in patch:
            if not any(_json_equal(item, kept) for kept in result):
                result.append(_copy(item, path))
    elif merge_key is not None and all(isinstance(e, Mapping) for e in patch):
        elements = [e for e in patch if isinstance(e, Mapping)]
        result = _merge_by_key(original, elements, merge_key=merge_key, path=path)
    else:
        if directives:
            raise PatchError(
                f"{_where(path)}: $patch elements are only allowed in lists merged by key; "
                f"{field!r} is replaced as a whole"
            )
        if merge_key is not None and any(not isinstance(e, Mapping) for e in patch):
            raise PatchError(
                f"{_where(path)}: list {field!r} is merged by {merge_key!r}, "
                "so every patch element must be an object"
            )
        result = [_copy(e, path) for e in patch]

    if order is not None:
        result = _apply_order(
            result, order, original_snapshot, merge_key=merge_key, field=field, path=path
        )
    return result


def _merge_by_key(
    original: list[object], patch: list[Mapping[str, object]], *, merge_key: str, path: str
) -> list[object]:
    result = list(original)
    for index, element in enumerate(patch):
        if merge_key not in element:
            raise PatchError(
                f"{_where(path)}: element {index} of the patch list has no merge key "
                f"{merge_key!r}: {dict(element)!r}"
            )
        key_value = element[merge_key]
        child = f"{path}[{merge_key}={key_value}]"
        if element.get(_PATCH) == "delete":
            result = [
                item
                for item in result
                if not (
                    isinstance(item, dict)
                    and merge_key in item
                    and _json_equal(item[merge_key], key_value)
                )
            ]
            continue
        body = {k: v for k, v in element.items() if k != _PATCH}
        for position, item in enumerate(result):
            if (
                isinstance(item, dict)
                and merge_key in item
                and _json_equal(item[merge_key], key_value)
            ):
                result[position] = _smp_map(item, body, child)
                break
        else:
            result.append(_smp_map({}, body, child))
    return result


def _apply_order(
    merged: list[object],
    order: list[object],
    original: list[object],
    *,
    merge_key: str | None,
    field: str,
    path: str,
) -> list[object]:
    """Order ``merged`` as ``$setElementOrder`` asks.

    Items named in ``order`` come in that order; the others keep their relative order and
    are placed before a listed item when they came before it in ``original``.
    """
    is_map_list = merge_key is not None and any(isinstance(e, Mapping) for e in merged)
    if is_map_list:
        assert merge_key is not None
        wanted: list[object] = []
        for element in order:
            if not isinstance(element, Mapping) or merge_key not in element:
                raise PatchError(
                    f"{_where(path)}: $setElementOrder/{field} elements must be objects with "
                    f"the merge key {merge_key!r}, got {element!r}"
                )
            wanted.append(element[merge_key])
    elif any(isinstance(e, Mapping) for e in merged):
        return merged  # objects without a merge key: nothing to order by
    else:
        wanted = list(order)

    def identity(item: object) -> object:
        if is_map_list:
            return item.get(merge_key) if isinstance(item, Mapping) and merge_key else None
        return item

    def position(sequence: Sequence[object], item: object) -> int:
        ident = identity(item)
        for index, candidate in enumerate(sequence):
            if _json_equal(candidate, ident):
                return index
        return -1

    original_ids = [identity(item) for item in original]
    listed = sorted(
        (item for item in merged if position(wanted, item) >= 0),
        key=lambda item: position(wanted, item),
    )
    unlisted = [item for item in merged if position(wanted, item) < 0]
    result: list[object] = []
    i = j = 0
    while i < len(unlisted) or j < len(listed):
        if j >= len(listed):
            result.append(unlisted[i])
            i += 1
        elif i >= len(unlisted):
            result.append(listed[j])
            j += 1
        else:
            left = position(original_ids, unlisted[i])
            right = position(original_ids, listed[j])
            if 0 <= left < right:
                result.append(unlisted[i])
                i += 1
            else:
                result.append(listed[j])
                j += 1
    return result

"""The cluster twin's patch types: JSON merge patch, JSON patch, strategic merge patch."""

from __future__ import annotations

import copy
from collections.abc import Mapping

import pytest

from kubeheal.twin import patch as patch_module
from kubeheal.twin.patch import (
    MERGE_KEYS,
    PatchError,
    json_merge_patch,
    json_patch,
    strategic_merge_patch,
)


def test_public_surface() -> None:
    assert set(patch_module.__all__) == {
        "MERGE_KEYS",
        "SET_LISTS",
        "PatchError",
        "json_merge_patch",
        "json_patch",
        "strategic_merge_patch",
    }
    assert issubclass(PatchError, ValueError)


# --------------------------------------------------------------------------- RFC 7386

RFC7386_EXAMPLES: list[tuple[object, object, object]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "expected"), RFC7386_EXAMPLES)
def test_merge_patch_rfc7386_appendix(target: object, patch: object, expected: object) -> None:
    before = copy.deepcopy((target, patch))
    assert json_merge_patch(target, patch) == expected
    assert (target, patch) == before


def test_merge_patch_rfc7386_section3_example() -> None:
    target = {
        "title": "Goodbye!",
        "author": {"givenName": "John", "familyName": "Doe"},
        "tags": ["example", "sample"],
        "content": "This will be unchanged",
    }
    patch = {
        "title": "Hello!",
        "phoneNumber": "+01-123-456-7890",
        "author": {"familyName": None},
        "tags": ["example"],
    }
    assert json_merge_patch(target, patch) == {
        "title": "Hello!",
        "author": {"givenName": "John"},
        "tags": ["example"],
        "content": "This will be unchanged",
        "phoneNumber": "+01-123-456-7890",
    }


def test_merge_patch_rollout_restart_annotation() -> None:
    deployment = {
        "metadata": {"name": "web", "annotations": {"team": "shop"}},
        "spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "web"}}}},
    }
    restart = {
        "spec": {
            "template": {
                "metadata": {
                    "annotations": {"kubectl.kubernetes.io/restartedAt": "2024-05-01T10:00:00Z"}
                }
            }
        }
    }
    result = json_merge_patch(deployment, restart)
    assert result == {
        "metadata": {"name": "web", "annotations": {"team": "shop"}},
        "spec": {
            "replicas": 3,
            "template": {
                "metadata": {
                    "labels": {"app": "web"},
                    "annotations": {"kubectl.kubernetes.io/restartedAt": "2024-05-01T10:00:00Z"},
                }
            },
        },
    }
    assert "annotations" not in deployment["spec"]["template"]["metadata"]  # type: ignore[index]


def test_merge_patch_result_shares_nothing_with_inputs() -> None:
    target = {"a": {"b": [1, 2]}, "keep": {"x": 1}}
    patch = {"c": {"d": [3]}}
    result = json_merge_patch(target, patch)
    assert isinstance(result, dict)
    result["a"]["b"].append(99)
    result["keep"]["x"] = 2
    result["c"]["d"].append(4)
    assert target == {"a": {"b": [1, 2]}, "keep": {"x": 1}}
    assert patch == {"c": {"d": [3]}}


def test_merge_patch_rejects_non_json_values() -> None:
    with pytest.raises(PatchError, match="set is not a JSON value"):
        json_merge_patch({}, {"a": {1, 2}})
    with pytest.raises(PatchError, match="object key 1 is not a string"):
        json_merge_patch({}, {1: "x"})


# --------------------------------------------------------------------------- RFC 6902


RFC6902_EXAMPLES: list[tuple[str, object, list[dict[str, object]], object]] = [
    (
        "A.1 add object member",
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux"}],
        {"baz": "qux", "foo": "bar"},
    ),
    (
        "A.2 add array element",
        {"foo": ["bar", "baz"]},
        [{"op": "add", "path": "/foo/1", "value": "qux"}],
        {"foo": ["bar", "qux", "baz"]},
    ),
    (
        "A.3 remove object member",
        {"baz": "qux", "foo": "bar"},
        [{"op": "remove", "path": "/baz"}],
        {"foo": "bar"},
    ),
    (
        "A.4 remove array element",
        {"foo": ["bar", "qux", "baz"]},
        [{"op": "remove", "path": "/foo/1"}],
        {"foo": ["bar", "baz"]},
    ),
    (
        "A.5 replace a value",
        {"baz": "qux", "foo": "bar"},
        [{"op": "replace", "path": "/baz", "value": "boo"}],
        {"baz": "boo", "foo": "bar"},
    ),
    (
        "A.6 move a value",
        {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
        [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
        {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
    ),
    (
        "A.7 move an array element",
        {"foo": ["all", "grass", "cows", "eat"]},
        [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
        {"foo": ["all", "cows", "eat", "grass"]},
    ),
    (
        "A.8 test a value: success",
        {"baz": "qux", "foo": ["a", 2, "c"]},
        [
            {"op": "test", "path": "/baz", "value": "qux"},
            {"op": "test", "path": "/foo/1", "value": 2},
        ],
        {"baz": "qux", "foo": ["a", 2, "c"]},
    ),
    (
        "A.10 add a nested member object",
        {"foo": "bar"},
        [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
        {"foo": "bar", "child": {"grandchild": {}}},
    ),
    (
        "A.11 ignore unrecognized elements",
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
        {"foo": "bar", "baz": "qux"},
    ),
    (
        "A.14 ~ escape ordering",
        {"/": 9, "~1": 10},
        [{"op": "test", "path": "/~01", "value": 10}],
        {"/": 9, "~1": 10},
    ),
    (
        "A.16 add an array value",
        {"foo": ["bar"]},
        [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
        {"foo": ["bar", ["abc", "def"]]},
    ),
    (
        "copy",
        {"a": {"b": [1]}},
        [{"op": "copy", "from": "/a", "path": "/c"}],
        {"a": {"b": [1]}, "c": {"b": [1]}},
    ),
    (
        "replace the whole document",
        {"a": 1},
        [{"op": "replace", "path": "", "value": ["x"]}],
        ["x"],
    ),
    (
        "add at the root replaces the document",
        {"a": 1},
        [{"op": "add", "path": "", "value": {"b": 2}}],
        {"b": 2},
    ),
    (
        "add at the end index",
        {"a": [1, 2]},
        [{"op": "add", "path": "/a/2", "value": 3}],
        {"a": [1, 2, 3]},
    ),
    (
        "add replaces an existing member",
        {"a": 1},
        [{"op": "add", "path": "/a", "value": 2}],
        {"a": 2},
    ),
    (
        "move to the same place is a no-op",
        {"a": {"b": 1}},
        [{"op": "move", "from": "/a", "path": "/a"}],
        {"a": {"b": 1}},
    ),
    (
        "slash in a key",
        {},
        [{"op": "add", "path": "/metadata~1labels", "value": "x"}],
        {"metadata/labels": "x"},
    ),
    (
        "test with numbers of different types",
        {"a": 1},
        [{"op": "test", "path": "/a", "value": 1.0}],
        {"a": 1},
    ),
    (
        "test deep equality ignores key order",
        {"a": {"x": [1, {"y": None}], "z": True}},
        [{"op": "test", "path": "/a", "value": {"z": True, "x": [1, {"y": None}]}}],
        {"a": {"x": [1, {"y": None}], "z": True}},
    ),
]


@pytest.mark.parametrize(
    ("target", "operations", "expected"),
    [pytest.param(t, o, e, id=name) for name, t, o, e in RFC6902_EXAMPLES],
)
def test_json_patch_examples(target: object, operations: list[object], expected: object) -> None:
    before = copy.deepcopy((target, operations))
    assert json_patch(target, operations) == expected
    assert (target, operations) == before


RFC6901_DOCUMENT = {
    "foo": ["bar", "baz"],
    "": 0,
    "a/b": 1,
    "c%d": 2,
    "e^f": 3,
    "g|h": 4,
    "i\\j": 5,
    'k"l': 6,
    " ": 7,
    "m~n": 8,
}


@pytest.mark.parametrize(
    ("pointer", "value"),
    [
        ("", RFC6901_DOCUMENT),
        ("/foo", ["bar", "baz"]),
        ("/foo/0", "bar"),
        ("/", 0),
        ("/a~1b", 1),
        ("/c%d", 2),
        ("/e^f", 3),
        ("/g|h", 4),
        ("/i\\j", 5),
        ('/k"l', 6),
        ("/ ", 7),
        ("/m~0n", 8),
    ],
)
def test_json_pointer_rfc6901_examples(pointer: str, value: object) -> None:
    assert json_patch(RFC6901_DOCUMENT, [{"op": "test", "path": pointer, "value": value}]) == (
        RFC6901_DOCUMENT
    )


@pytest.mark.parametrize(
    ("target", "operations", "fragments"),
    [
        pytest.param(
            {"baz": "qux"},
            [{"op": "test", "path": "/baz", "value": "bar"}],
            ["operation 0 (test '/baz')", "test failed", "'qux'", "expected 'bar'"],
            id="A.9 failed test",
        ),
        pytest.param(
            {"foo": "bar"},
            [{"op": "add", "path": "/baz/bat", "value": "qux"}],
            ["operation 0 (add '/baz/bat')", "path /baz does not exist"],
            id="A.12 add to a nonexistent target",
        ),
        pytest.param(
            {"/": 9, "~1": 10},
            [{"op": "test", "path": "/~01", "value": "10"}],
            ["test failed"],
            id="A.15 strings and numbers differ",
        ),
        pytest.param(
            {"a": 1},
            [{"op": "test", "path": "/a", "value": True}],
            ["test failed"],
            id="booleans and numbers differ",
        ),
        pytest.param(
            {"a": [1]},
            [{"op": "add", "path": "/a/5", "value": 2}],
            ["index 5 at /a/5 is out of range for an array of length 1"],
            id="add past the end",
        ),
        pytest.param(
            {"a": [1]},
            [{"op": "remove", "path": "/a/1"}],
            ["index 1 at /a/1 is out of range"],
            id="remove past the end",
        ),
        pytest.param(
            {"a": [1]},
            [{"op": "replace", "path": "/a/01", "value": 2}],
            ["'01' at /a/01 is not a valid array index"],
            id="leading zero index",
        ),
        pytest.param(
            {"a": [1]},
            [{"op": "replace", "path": "/a/-1", "value": 2}],
            ["'-1' at /a/-1 is not a valid array index"],
            id="negative index",
        ),
        pytest.param(
            {"a": [1]},
            [{"op": "remove", "path": "/a/-"}],
            ["'-' at /a/- refers to the element after the end", "only 'add'"],
            id="dash outside add",
        ),
        pytest.param(
            {"a": 1},
            [{"op": "remove", "path": "/b"}],
            ["operation 0 (remove '/b')", "path /b does not exist (no key 'b')"],
            id="remove missing key",
        ),
        pytest.param(
            {"a": 1},
            [{"op": "replace", "path": "/b", "value": 2}],
            ["path /b does not exist"],
            id="replace missing key",
        ),
        pytest.param(
            {"a": "text"},
            [{"op": "add", "path": "/a/b", "value": 2}],
            ["parent /a of /a/b is a string, not an object or array"],
            id="add under a scalar",
        ),
        pytest.param(
            {"a": {"b": 1}},
            [{"op": "move", "from": "/a", "path": "/a/b/c"}],
            ["cannot move /a into its own child /a/b/c"],
            id="move into own child",
        ),
        pytest.param(
            {"a": 1},
            [{"op": "move", "from": "/x", "path": "/y"}],
            ["path /x does not exist"],
            id="move from missing",
        ),
        pytest.param(
            {"a": 1},
            [{"op": "copy", "path": "/y"}],
            ["operation 0 (copy '/y')", "missing or non-string 'from'"],
            id="copy without from",
        ),
        pytest.param(
            {"a": 1},
            [{"op": "add", "path": "/b"}],
            ["operation 0 (add '/b')", "missing 'value'"],
            id="add without value",
        ),
        pytest.param(
            {"a": 1},
            [{"op": "test", "path": "/a"}],
            ["missing 'value'"],
            id="test without value",
        ),
        pytest.param(
            {"a": 1},
            [{"path": "/a"}],
            ["operation 0", "missing or non-string 'op'"],
            id="missing op",
        ),
        pytest.param(
            {"a": 1},
            [{"op": "add", "value": 1}],
            ["operation 0 (add)", "missing or non-string 'path'"],
            id="missing path",
        ),
        pytest.param(
            {"a": 1},
            [{"op": "merge", "path": "/a"}],
            ["unknown op 'merge'", "add, remove, replace, move, copy, test"],
            id="unknown op",
        ),
        pytest.param(
            {"a": 1},
            [{"op": "remove", "path": "a"}],
            ["pointer 'a' must be empty or start with '/'"],
            id="pointer without slash",
        ),
        pytest.param(
            {"a": 1},
            [{"op": "remove", "path": "/a~2"}],
            ["invalid escape", "'~' must be followed by '0' or '1'"],
            id="bad pointer escape",
        ),
        pytest.param(
            {"a": 1},
            [{"op": "remove", "path": ""}],
            ["cannot remove the whole document"],
            id="remove root",
        ),
        pytest.param({"a": 1}, ["add"], ["operation 0: must be an object"], id="op not object"),
        pytest.param(
            {"a": 1},
            [{"op": "test", "path": "/a", "value": 1}, {"op": "remove", "path": "/zz"}],
            ["operation 1 (remove '/zz')"],
            id="index of the failing operation",
        ),
    ],
)
def test_json_patch_errors(target: object, operations: list[object], fragments: list[str]) -> None:
    before = copy.deepcopy(target)
    with pytest.raises(PatchError) as caught:
        json_patch(target, operations)
    for fragment in fragments:
        assert fragment in str(caught.value)
    assert target == before


@pytest.mark.parametrize("operations", [{"op": "add"}, "add", None, 3])
def test_json_patch_must_be_a_list(operations: object) -> None:
    with pytest.raises(PatchError, match="must be an array of operations"):
        json_patch({}, operations)


def test_json_patch_is_atomic_and_does_not_mutate() -> None:
    target = {"spec": {"replicas": 1, "list": [1, 2]}}
    operations = [
        {"op": "replace", "path": "/spec/replicas", "value": 5},
        {"op": "add", "path": "/spec/list/-", "value": 3},
        {"op": "test", "path": "/spec/replicas", "value": 1},
    ]
    with pytest.raises(PatchError, match="test failed"):
        json_patch(target, operations)
    assert target == {"spec": {"replicas": 1, "list": [1, 2]}}


def test_json_patch_values_are_copied() -> None:
    value = {"k": [1]}
    result = json_patch({}, [{"op": "add", "path": "/a", "value": value}])
    assert isinstance(result, dict)
    result["a"]["k"].append(2)
    assert value == {"k": [1]}
    copied = json_patch({"a": {"b": [1]}}, [{"op": "copy", "from": "/a", "path": "/c"}])
    assert isinstance(copied, dict)
    copied["c"]["b"].append(2)
    assert copied["a"] == {"b": [1]}


def test_json_patch_kubernetes_style_label_edit() -> None:
    pod = {"metadata": {"name": "web-1", "labels": {"app.kubernetes.io/name": "web"}}}
    result = json_patch(
        pod,
        [
            {"op": "test", "path": "/metadata/labels/app.kubernetes.io~1name", "value": "web"},
            {"op": "add", "path": "/metadata/labels/kubeheal.io~1quarantined", "value": "true"},
            {"op": "remove", "path": "/metadata/labels/app.kubernetes.io~1name"},
        ],
    )
    assert result == {"metadata": {"name": "web-1", "labels": {"kubeheal.io/quarantined": "true"}}}


# --------------------------------------------------------------------------- strategic merge


def _pod_spec() -> dict[str, object]:
    return {
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "shop:1.0",
                    "env": [{"name": "MODE", "value": "prod"}],
                    "resources": {"limits": {"memory": "256Mi", "cpu": "500m"}},
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                },
                {"name": "sidecar", "image": "proxy:2.0"},
            ],
            "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
        }
    }


def _containers(obj: dict[str, object]) -> list[dict[str, object]]:
    spec = obj["spec"]
    assert isinstance(spec, dict)
    containers = spec["containers"]
    assert isinstance(containers, list)
    return containers


def _smp(target: Mapping[str, object], patch: Mapping[str, object]) -> dict[str, object]:
    before = copy.deepcopy((target, patch))
    result = strategic_merge_patch(target, patch)
    assert (target, patch) == before, "inputs were mutated"
    return result


def test_smp_change_one_container_image_by_name() -> None:
    result = _smp(
        _pod_spec(), {"spec": {"containers": [{"name": "sidecar", "image": "proxy:2.1"}]}}
    )
    containers = _containers(result)
    assert [c["name"] for c in containers] == ["app", "sidecar"]
    assert containers[1] == {"name": "sidecar", "image": "proxy:2.1"}
    assert containers[0] == _containers(_pod_spec())[0]


def test_smp_add_env_var() -> None:
    patch = {"spec": {"containers": [{"name": "app", "env": [{"name": "DEBUG", "value": "1"}]}]}}
    app = _containers(_smp(_pod_spec(), patch))[0]
    assert app["env"] == [{"name": "MODE", "value": "prod"}, {"name": "DEBUG", "value": "1"}]
    assert app["image"] == "shop:1.0"


def test_smp_change_existing_env_var_and_delete_field() -> None:
    patch = {"spec": {"containers": [{"name": "app", "env": [{"name": "MODE", "value": "debug"}]}]}}
    assert _containers(_smp(_pod_spec(), patch))[0]["env"] == [{"name": "MODE", "value": "debug"}]
    unset = {"spec": {"containers": [{"name": "app", "env": [{"name": "MODE", "value": None}]}]}}
    assert _containers(_smp(_pod_spec(), unset))[0]["env"] == [{"name": "MODE"}]


def test_smp_delete_container_with_patch_delete() -> None:
    patch = {"spec": {"containers": [{"$patch": "delete", "name": "sidecar"}]}}
    containers = _containers(_smp(_pod_spec(), patch))
    assert [c["name"] for c in containers] == ["app"]


def test_smp_delete_of_absent_element_is_a_no_op() -> None:
    patch = {"spec": {"containers": [{"$patch": "delete", "name": "ghost"}]}}
    assert _smp(_pod_spec(), patch) == _pod_spec()


def test_smp_add_container_appends() -> None:
    patch = {"spec": {"containers": [{"name": "debugger", "image": "busybox"}]}}
    assert [c["name"] for c in _containers(_smp(_pod_spec(), patch))] == [
        "app",
        "sidecar",
        "debugger",
    ]


def test_smp_tolerations_are_replaced_atomically() -> None:
    # Kubernetes declares no patch strategy for PodSpec.tolerations (nor NodeSpec.taints):
    # a strategic patch replaces the whole list, as on a real API server.
    patch = {
        "spec": {
            "tolerations": [
                {
                    "key": "node.kubernetes.io/unreachable",
                    "operator": "Exists",
                    "effect": "NoExecute",
                }
            ]
        }
    }
    result = _smp(_pod_spec(), patch)
    spec = result["spec"]
    assert isinstance(spec, dict)
    assert spec["tolerations"] == [
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    ]


def test_smp_change_memory_limit_of_one_container() -> None:
    patch = {
        "spec": {"containers": [{"name": "app", "resources": {"limits": {"memory": "512Mi"}}}]}
    }
    app = _containers(_smp(_pod_spec(), patch))[0]
    assert app["resources"] == {"limits": {"memory": "512Mi", "cpu": "500m"}}


def test_smp_rollout_restart_annotation() -> None:
    deployment = {
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": {"a": "1"}},
                "spec": {"containers": [{"name": "web", "image": "web:1"}]},
            },
        },
    }
    patch = {
        "spec": {
            "template": {
                "metadata": {
                    "annotations": {"kubectl.kubernetes.io/restartedAt": "2024-05-01T10:00:00Z"}
                }
            }
        }
    }
    assert _smp(deployment, patch) == {
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "template": {
                "metadata": {
                    "labels": {"app": "web"},
                    "annotations": {
                        "a": "1",
                        "kubectl.kubernetes.io/restartedAt": "2024-05-01T10:00:00Z",
                    },
                },
                "spec": {"containers": [{"name": "web", "image": "web:1"}]},
            },
        },
    }


def test_smp_merge_conditions_by_type() -> None:
    status = {
        "status": {
            "conditions": [
                {"type": "Ready", "status": "False", "reason": "ContainersNotReady"},
                {"type": "PodScheduled", "status": "True"},
            ]
        }
    }
    patch = {
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True", "reason": None},
                {"type": "Initialized", "status": "True"},
            ]
        }
    }
    assert _smp(status, patch)["status"] == {
        "conditions": [
            {"type": "Ready", "status": "True"},
            {"type": "PodScheduled", "status": "True"},
            {"type": "Initialized", "status": "True"},
        ]
    }


def test_smp_finalizers_union_keeps_order() -> None:
    obj = {"metadata": {"finalizers": ["a.example/x", "kubeheal.io/guard"]}}
    patch = {"metadata": {"finalizers": ["kubeheal.io/guard", "z.example/new"]}}
    assert _smp(obj, patch)["metadata"] == {
        "finalizers": ["a.example/x", "kubeheal.io/guard", "z.example/new"]
    }


def test_smp_delete_from_primitive_list() -> None:
    obj = {"metadata": {"finalizers": ["a", "b", "c"]}}
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "zz"]}}
    assert _smp(obj, patch)["metadata"] == {"finalizers": ["a", "c"]}
    both = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["d"]}}
    assert _smp(obj, both)["metadata"] == {"finalizers": ["b", "c", "d"]}


def test_smp_primitive_lists_are_replaced() -> None:
    obj = {"spec": {"containers": [{"name": "a", "args": ["--x", "--y"], "command": ["run"]}]}}
    patch = {"spec": {"containers": [{"name": "a", "args": ["--z"]}]}}
    assert _containers(_smp(obj, patch)) == [{"name": "a", "args": ["--z"], "command": ["run"]}]


def test_smp_lists_of_maps_without_merge_key_are_replaced() -> None:
    obj = {"spec": {"containers": [{"name": "a", "envFrom": [{"configMapRef": {"name": "x"}}]}]}}
    patch = {"spec": {"containers": [{"name": "a", "envFrom": [{"secretRef": {"name": "y"}}]}]}}
    assert _containers(_smp(obj, patch))[0]["envFrom"] == [{"secretRef": {"name": "y"}}]


def test_smp_container_ports_merge_by_container_port() -> None:
    patch = {"spec": {"containers": [{"name": "app", "ports": [{"containerPort": 9090}]}]}}
    app = _containers(_smp(_pod_spec(), patch))[0]
    assert app["ports"] == [{"containerPort": 8080, "protocol": "TCP"}, {"containerPort": 9090}]
    rename = {
        "spec": {
            "containers": [{"name": "app", "ports": [{"containerPort": 8080, "name": "http"}]}]
        }
    }
    app = _containers(_smp(_pod_spec(), rename))[0]
    assert app["ports"] == [{"containerPort": 8080, "protocol": "TCP", "name": "http"}]


def test_smp_service_ports_merge_by_port() -> None:
    service = {
        "spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443, "targetPort": 8443}]}
    }
    patch = {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}
    assert _smp(service, patch)["spec"] == {
        "ports": [{"port": 80, "targetPort": 9090}, {"port": 443, "targetPort": 8443}]
    }


def test_smp_volume_mounts_merge_by_mount_path() -> None:
    obj = {
        "spec": {"containers": [{"name": "a", "volumeMounts": [{"name": "v", "mountPath": "/d"}]}]}
    }
    patch = {
        "spec": {
            "containers": [{"name": "a", "volumeMounts": [{"mountPath": "/d", "readOnly": True}]}]
        }
    }
    assert _containers(_smp(obj, patch))[0]["volumeMounts"] == [
        {"name": "v", "mountPath": "/d", "readOnly": True}
    ]


def test_smp_owner_references_merge_by_uid() -> None:
    obj = {"metadata": {"ownerReferences": [{"uid": "u1", "kind": "ReplicaSet", "name": "rs"}]}}
    patch = {"metadata": {"ownerReferences": [{"uid": "u1", "controller": True}]}}
    assert _smp(obj, patch)["metadata"] == {
        "ownerReferences": [{"uid": "u1", "kind": "ReplicaSet", "name": "rs", "controller": True}]
    }


def test_smp_null_deletes_key_and_maps_merge() -> None:
    obj = {"metadata": {"labels": {"a": "1", "b": "2"}, "annotations": {"x": "y"}}}
    patch = {"metadata": {"labels": {"a": None, "c": "3"}, "annotations": None}}
    assert _smp(obj, patch) == {"metadata": {"labels": {"b": "2", "c": "3"}}}


def test_smp_patch_replace_on_map() -> None:
    obj = {"spec": {"selector": {"app": "web", "tier": "fe"}, "replicas": 1}}
    patch = {"spec": {"selector": {"$patch": "replace", "app": "api"}}}
    assert _smp(obj, patch) == {"spec": {"selector": {"app": "api"}, "replicas": 1}}


def test_smp_patch_delete_on_map() -> None:
    obj = {"spec": {"affinity": {"nodeAffinity": {"x": 1}}, "replicas": 1}}
    patch = {"spec": {"affinity": {"$patch": "delete"}}}
    assert _smp(obj, patch) == {"spec": {"replicas": 1}}
    assert _smp(obj, {"$patch": "delete"}) == {}


def test_smp_patch_replace_element_replaces_list() -> None:
    patch = {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "solo:1"}]}}
    assert _containers(_smp(_pod_spec(), patch)) == [{"name": "only", "image": "solo:1"}]


def test_smp_retain_keys() -> None:
    obj = {
        "spec": {
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            }
        }
    }
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert _smp(obj, patch) == {"spec": {"strategy": {"type": "Recreate"}}}
    keep = {
        "spec": {"strategy": {"$retainKeys": ["type", "rollingUpdate"], "type": "RollingUpdate"}}
    }
    assert _smp(obj, keep) == obj


def test_smp_retain_keys_must_list_patched_keys() -> None:
    obj = {"spec": {"strategy": {"type": "RollingUpdate"}}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 1}}}}
    with pytest.raises(PatchError) as caught:
        strategic_merge_patch(obj, patch)
    message = str(caught.value)
    assert "spec.strategy" in message
    assert "'rollingUpdate' is set by the patch but missing from $retainKeys" in message


def test_smp_set_element_order_is_honoured() -> None:
    obj = {"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}}
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}],
            "containers": [{"name": "a", "image": "x"}],
        }
    }
    assert _containers(_smp(obj, patch)) == [
        {"name": "c"},
        {"name": "a", "image": "x"},
        {"name": "b"},
    ]


def test_smp_set_element_order_keeps_unlisted_items_in_place() -> None:
    obj = {"spec": {"containers": [{"name": "a"}, {"name": "x"}, {"name": "b"}]}}
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}, {"name": "new"}],
            "containers": [{"name": "new"}],
        }
    }
    names = [c["name"] for c in _containers(_smp(obj, patch))]
    assert names == ["a", "x", "b", "new"]


def test_smp_set_element_order_for_primitive_list_and_without_list() -> None:
    obj = {"metadata": {"finalizers": ["a", "b"]}}
    patch = {"metadata": {"$setElementOrder/finalizers": ["c", "b", "a"], "finalizers": ["c"]}}
    assert _smp(obj, patch)["metadata"] == {"finalizers": ["c", "b", "a"]}
    only_order = {"metadata": {"$setElementOrder/finalizers": ["b", "a"]}}
    assert _smp(obj, only_order)["metadata"] == {"finalizers": ["b", "a"]}


def test_smp_new_keys_get_directives_processed() -> None:
    obj: dict[str, object] = {"spec": {}}
    patch = {
        "spec": {
            "template": {"metadata": {"labels": {"a": "1", "gone": None}}},
            "containers": [{"name": "c", "image": "i"}, {"$patch": "delete", "name": "x"}],
        }
    }
    assert _smp(obj, patch) == {
        "spec": {
            "template": {"metadata": {"labels": {"a": "1"}}},
            "containers": [{"name": "c", "image": "i"}],
        }
    }


def test_smp_empty_keyed_list_keeps_and_null_clears() -> None:
    assert _smp(_pod_spec(), {"spec": {"containers": []}}) == _pod_spec()
    assert _smp(_pod_spec(), {"spec": {"containers": None}})["spec"] == {
        "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]
    }
    args = _smp({"spec": {"args": ["a"]}}, {"spec": {"args": []}})
    assert args == {"spec": {"args": []}}


def test_smp_type_change_replaces() -> None:
    obj = {"spec": {"value": [1, 2], "other": {"a": 1}}}
    patch = {"spec": {"value": {"k": "v"}, "other": "scalar"}}
    assert _smp(obj, patch) == {"spec": {"value": {"k": "v"}, "other": "scalar"}}


def test_smp_result_shares_nothing_with_inputs() -> None:
    target = _pod_spec()
    patch: dict[str, object] = {"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}
    result = strategic_merge_patch(target, patch)
    _containers(result)[0]["image"] = "mutated"
    result["spec"]["volumes"][0]["emptyDir"]["medium"] = "Memory"  # type: ignore[index]
    assert _containers(target)[0]["image"] == "shop:1.0"
    assert patch == {"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}


def test_merge_keys_table() -> None:
    assert MERGE_KEYS["containers"] == "name"
    assert MERGE_KEYS["volumeMounts"] == "mountPath"
    assert MERGE_KEYS["hostAliases"] == "ip"
    with pytest.raises(TypeError):
        MERGE_KEYS["x"] = "y"  # type: ignore[index]


@pytest.mark.parametrize(
    ("target", "patch", "fragments"),
    [
        pytest.param(
            {"a": 1},
            {"$patch": "explode"},
            ["unknown $patch directive 'explode'", "'replace', 'merge', 'delete'"],
            id="unknown map directive",
        ),
        pytest.param(
            {"spec": {}},
            {"spec": {"$replaceAll": True}},
            ["at spec", "unknown directive '$replaceAll'"],
            id="unknown dollar key",
        ),
        pytest.param(
            _pod_spec(),
            {"spec": {"containers": [{"image": "x"}]}},
            ["at spec.containers", "element 0", "no merge key 'name'"],
            id="missing merge key",
        ),
        pytest.param(
            _pod_spec(),
            {"spec": {"containers": [{"$patch": "delete"}]}},
            ["no merge key 'name'"],
            id="delete without merge key",
        ),
        pytest.param(
            _pod_spec(),
            {"spec": {"containers": [{"$patch": "remove", "name": "app"}]}},
            ["unknown $patch directive 'remove' in a list element"],
            id="unknown list directive",
        ),
        pytest.param(
            _pod_spec(),
            {"spec": {"containers": ["app"]}},
            ["list 'containers' is merged by 'name'", "must be an object"],
            id="scalar in keyed list",
        ),
        pytest.param(
            {"spec": {"containers": [{"name": "a", "args": ["x"]}]}},
            {"spec": {"containers": [{"name": "a", "args": [{"$patch": "delete", "v": 1}]}]}},
            ["at spec.containers[name=a].args", "only allowed in lists merged by key"],
            id="directive in atomic list",
        ),
        pytest.param(
            {"metadata": {"finalizers": ["a"]}},
            {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}},
            ["$deleteFromPrimitiveList/finalizers must be a list"],
            id="deleteFromPrimitiveList not a list",
        ),
        pytest.param(
            {"metadata": {"finalizers": "a"}},
            {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}},
            ["at metadata.finalizers", "needs a list, found a string"],
            id="deleteFromPrimitiveList on non-list",
        ),
        pytest.param(
            {"spec": {"containers": [{"name": "a"}]}},
            {"spec": {"$setElementOrder/containers": ["a"]}},
            ["$setElementOrder/containers elements must be objects with the merge key 'name'"],
            id="bad setElementOrder",
        ),
        pytest.param(
            {"spec": {}},
            {"spec": {"$retainKeys": "type"}},
            ["$retainKeys must be a list of strings"],
            id="retainKeys not a list",
        ),
        pytest.param(
            {"metadata": {"finalizers": ["a"]}},
            {"metadata": {"finalizers": [{"$patch": "delete", "x": "a"}]}},
            ["not allowed in the set list 'finalizers'"],
            id="directive in set list",
        ),
    ],
)
def test_smp_errors(
    target: dict[str, object], patch: dict[str, object], fragments: list[str]
) -> None:
    before = copy.deepcopy(target)
    with pytest.raises(PatchError) as caught:
        strategic_merge_patch(target, patch)
    for fragment in fragments:
        assert fragment in str(caught.value)
    assert target == before


def test_smp_rejects_non_object_patch() -> None:
    with pytest.raises(PatchError, match="the patch must be an object, got an array"):
        strategic_merge_patch({}, [])  # type: ignore[arg-type]

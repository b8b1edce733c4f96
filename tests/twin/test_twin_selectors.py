"""Label and field selectors of the cluster twin: parsing, validation, matching, rendering."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeheal.twin import selectors
from kubeheal.twin.selectors import (
    FieldRequirement,
    FieldSelector,
    LabelRequirement,
    LabelSelector,
    Operator,
    SelectorError,
)

POD = {"app": "web", "tier": "frontend", "app.kubernetes.io/name": "shop", "empty": ""}


def test_public_surface() -> None:
    assert set(selectors.__all__) == {
        "FieldRequirement",
        "FieldSelector",
        "LabelRequirement",
        "LabelSelector",
        "Operator",
        "SelectorError",
    }
    assert issubclass(SelectorError, ValueError)


# --------------------------------------------------------------------------- label: operators


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("app=web", True),
        ("app=db", False),
        ("app==web", True),
        ("app==db", False),
        ("app!=db", True),
        ("app!=web", False),
        ("missing!=anything", True),  # != matches objects without the key
        ("app in (web,db)", True),
        ("app in (db,cache)", False),
        ("missing in (x)", False),
        ("app notin (db,cache)", True),
        ("app notin (web)", False),
        ("missing notin (x)", True),  # notin matches objects without the key
        ("empty=", True),
        ("empty", True),
        ("app.kubernetes.io/name=shop", True),
        ("app.kubernetes.io/name in (other)", False),
        ("app=web,tier=frontend", True),
        ("app=web,tier=backend", False),
        ("app=web,!missing,tier in (frontend,backend)", True),
    ],
)
def test_label_operators(text: str, expected: bool) -> None:
    assert LabelSelector.parse(text).matches(POD) is expected


@pytest.mark.parametrize(
    "text",
    [
        "app in (web,db),tier notin (backend)",
        "  app   in(  web ,db ) ,  tier notin(backend)  ",
        "app in (db,web),tier notin (backend)",
        "tier notin (backend),app in (web,web,db)",
    ],
)
def test_label_whitespace_and_order_do_not_matter(text: str) -> None:
    selector = LabelSelector.parse(text)
    assert str(selector) == "app in (db,web),tier notin (backend)"
    assert selector.matches(POD)


def test_label_whitespace_around_equality_operators() -> None:
    assert LabelSelector.parse(" app = web , tier != db ") == LabelSelector.parse(
        "app=web,tier!=db"
    )
    assert LabelSelector.parse("\tapp\n==\tweb ").matches({"app": "web"})


def test_label_double_equals_is_equals() -> None:
    assert LabelSelector.parse("app==web") == LabelSelector.parse("app=web")
    assert str(LabelSelector.parse("app==web")) == "app=web"


def test_label_empty_values() -> None:
    selector = LabelSelector.parse("a=,b!=")
    assert selector.requirements == (
        LabelRequirement("a", Operator.EQUALS, ("",)),
        LabelRequirement("b", Operator.NOT_EQUALS, ("",)),
    )
    assert selector.matches({"a": "", "b": "x"})
    assert not selector.matches({"a": "", "b": ""})
    assert not selector.matches({"b": "x"})
    # as in Kubernetes, "()" is the set holding the empty value, "(x,)" adds it
    assert LabelSelector.parse("a in ()").matches({"a": ""})
    assert LabelSelector.parse("a in (x,)").requirements[0].values == ("", "x")


def test_label_prefixed_keys() -> None:
    selector = LabelSelector.parse("app.kubernetes.io/name=shop,example.com/team notin (ops)")
    assert [r.key for r in selector.requirements] == ["app.kubernetes.io/name", "example.com/team"]
    assert selector.matches({"app.kubernetes.io/name": "shop"})
    assert not selector.matches({"app.kubernetes.io/name": "shop", "example.com/team": "ops"})


@pytest.mark.parametrize("text", ["", "   ", "\t"])
def test_label_empty_selector_matches_everything(text: str) -> None:
    selector = LabelSelector.parse(text)
    assert selector.is_empty
    assert selector == LabelSelector.everything()
    assert selector.matches({})
    assert selector.matches(POD)
    assert str(selector) == ""


def test_label_is_empty_false_with_requirements() -> None:
    assert not LabelSelector.parse("app").is_empty


def test_label_requirement_structure() -> None:
    selector = LabelSelector.parse("!b,a notin (z,y),c")
    assert selector.requirements == (
        LabelRequirement("a", Operator.NOT_IN, ("y", "z")),
        LabelRequirement("b", Operator.DOES_NOT_EXIST),
        LabelRequirement("c", Operator.EXISTS),
    )


def test_label_key_named_like_an_operator_is_allowed() -> None:
    selector = LabelSelector.parse("in in (notin)")
    assert selector.matches({"in": "notin"})
    assert LabelSelector.parse(str(selector)) == selector


# --------------------------------------------------------------------------- label: errors


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("app in (web", ["not closed", "expected ')'", "'app in (web'"]),
        ("app in web", ["expected '('", "'web'"]),
        ("app web", ["found 'web' after key 'app'", "'in'", "'notin'"]),
        ("app=web=x", ["found '='", "after a complete requirement"]),
        ("app=web,", ["expected a requirement after ','"]),
        (",app", ["found ','", "expected a key"]),
        ("!app=web", ["'!key' takes no operator"]),
        ("!", ["expected a key after '!'"]),
        ("app>1", ["operator '>' is not supported"]),
        ("app<1", ["operator '<' is not supported"]),
        ("app=(web)", ["found '('", "expected a value"]),
        ("app in (a b)", ["found 'b' in the value list", "expected ',' or ')'"]),
        ("app in (a=b)", ["found '=' in the value list"]),
        ("=web", ["found '='", "expected a key"]),
    ],
)
def test_label_syntax_errors(text: str, fragments: list[str]) -> None:
    with pytest.raises(SelectorError) as caught:
        LabelSelector.parse(text)
    message = str(caught.value)
    assert f"invalid label selector {text!r}" in message
    assert "at position" in message
    for fragment in fragments:
        assert fragment in message


def test_label_error_position_points_at_the_problem() -> None:
    with pytest.raises(SelectorError, match=r"at position 8\)"):
        LabelSelector.parse("app=web foo")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Bad_=x", "name part 'Bad_' must consist of alphanumerics"),
        ("-app=x", "name part '-app'"),
        ("a/b/c=x", "more than one '/'"),
        ("/app=x", "empty prefix"),
        ("example.com/=x", "empty name after '/'"),
        ("Example.com/app=x", "is not a DNS subdomain"),
        ("ex_ample.com/app=x", "is not a DNS subdomain"),
        ("a" * 64, "name part is 64 characters, at most 63"),
        ("a" * 254 + "/b", "prefix is 254 characters, at most 253"),
        ("app=" + "v" * 64, "is 64 characters, at most 63"),
        ("app=-web", "value '-web' must be empty or consist of"),
        ("app in (ok,bad_)", "value 'bad_'"),
        ("app=a/b", "value 'a/b'"),
    ],
)
def test_label_invalid_keys_and_values(text: str, fragment: str) -> None:
    with pytest.raises(SelectorError) as caught:
        LabelSelector.parse(text)
    assert fragment in str(caught.value)
    assert "invalid label selector" in str(caught.value)


def test_label_longest_valid_key_and_value_accepted() -> None:
    prefix = ".".join(["a" * 63] * 3) + "." + "b" * 61  # 253 characters
    key = f"{prefix}/{'n' * 63}"
    selector = LabelSelector.parse(f"{key}={'v' * 63}")
    assert selector.matches({key: "v" * 63})


def test_label_requirement_validates_on_construction() -> None:
    with pytest.raises(SelectorError, match="takes exactly one value"):
        LabelRequirement("a", Operator.EQUALS, ("x", "y"))
    with pytest.raises(SelectorError, match="needs at least one value"):
        LabelRequirement("a", Operator.IN, ())
    with pytest.raises(SelectorError, match="takes no values"):
        LabelRequirement("a", Operator.EXISTS, ("x",))
    with pytest.raises(SelectorError, match="key must not be empty"):
        LabelRequirement("", Operator.EXISTS)


def test_label_nothing_with_requirements_is_rejected() -> None:
    with pytest.raises(SelectorError, match="matches nothing"):
        LabelSelector((LabelRequirement("a", Operator.EXISTS),), nothing=True)


# --------------------------------------------------------------------------- label: API form


def test_api_null_matches_nothing_and_empty_matches_everything() -> None:
    nothing = LabelSelector.from_api(None)
    assert nothing == LabelSelector.match_nothing()
    assert not nothing.matches({})
    assert not nothing.matches(POD)
    assert not nothing.is_empty
    assert str(nothing) == "<nothing>"
    with pytest.raises(SelectorError):
        LabelSelector.parse(str(nothing))

    empties: list[dict[str, object]] = [
        {},
        {"matchLabels": {}},
        {"matchLabels": None, "matchExpressions": []},
    ]
    for empty in empties:
        selector = LabelSelector.from_api(empty)
        assert selector.is_empty
        assert selector.matches({})


def test_api_match_labels_and_expressions() -> None:
    selector = LabelSelector.from_api(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["frontend", "edge"]},
                {"key": "track", "operator": "NotIn", "values": ["canary"]},
                {"key": "app.kubernetes.io/name", "operator": "Exists"},
                {"key": "legacy", "operator": "DoesNotExist", "values": []},
            ],
        }
    )
    assert selector.matches(POD)
    assert not selector.matches({**POD, "track": "canary"})
    assert not selector.matches({**POD, "legacy": "yes"})
    assert not selector.matches({k: v for k, v in POD.items() if k != "app.kubernetes.io/name"})
    assert selector == LabelSelector.parse(
        "app=web,tier in (frontend,edge),track notin (canary),app.kubernetes.io/name,!legacy"
    )


def test_api_form_equals_string_form_and_plain_map() -> None:
    api = LabelSelector.from_api({"matchLabels": {"b": "2", "a": "1"}})
    assert api == LabelSelector.parse("a=1,b=2")
    assert api == LabelSelector.from_labels({"a": "1", "b": "2"})
    assert str(api) == "a=1,b=2"
    assert LabelSelector.from_labels({}).is_empty


@pytest.mark.parametrize(
    ("obj", "fragment"),
    [
        ({"matchLabel": {"a": "b"}}, "unknown field(s) ['matchLabel']"),
        ({"matchLabels": ["a"]}, "matchLabels must be an object"),
        ({"matchLabels": {"a": 1}}, "must map a string to a string"),
        ({"matchLabels": {"bad key": "x"}}, "matchLabels: key 'bad key'"),
        ({"matchLabels": {"a": "bad value"}}, "value 'bad value'"),
        ({"matchExpressions": {"key": "a"}}, "matchExpressions must be a list"),
        ({"matchExpressions": ["a"]}, "matchExpressions[0] must be an object"),
        ({"matchExpressions": [{"operator": "Exists"}]}, "'key' is required"),
        ({"matchExpressions": [{"key": "a"}]}, "'operator' is required"),
        (
            {"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]},
            "unknown operator 'Equals'; expected one of In, NotIn, Exists, DoesNotExist",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "in", "values": ["x"]}]},
            "unknown operator 'in'",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
            "operator In needs a non-empty 'values'",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "NotIn"}]},
            "operator NotIn needs a non-empty 'values'",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            "operator Exists must not have 'values'",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "DoesNotExist", "values": ["x"]}]},
            "operator DoesNotExist must not have 'values'",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": "x"}]},
            "'values' must be a list of strings",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": [1]}]},
            "'values' must be a list of strings, got 1",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["x"], "x": 1}]},
            "unknown field(s) ['x']",
        ),
        (
            {
                "matchExpressions": [
                    {"key": "ok", "operator": "Exists"},
                    {"key": "Bad_", "operator": "Exists"},
                ]
            },
            "matchExpressions[1]: key 'Bad_'",
        ),
    ],
)
def test_api_form_errors(obj: dict[str, object], fragment: str) -> None:
    with pytest.raises(SelectorError) as caught:
        LabelSelector.from_api(obj)
    assert fragment in str(caught.value)


# --------------------------------------------------------------------------- label: round trip


def test_label_canonical_rendering() -> None:
    selector = LabelSelector.parse("z, !y , x==1, w!=2, v in (b,a), u notin (d,c)")
    assert str(selector) == "u notin (c,d),v in (a,b),w!=2,x=1,!y,z"
    assert LabelSelector.parse(str(selector)) == selector


_ALNUM = "abcxyzABCXYZ0189"
_alnum = st.sampled_from(_ALNUM)
_name = st.one_of(
    _alnum,
    st.builds(
        lambda first, middle, last: first + middle + last,
        _alnum,
        st.text(alphabet=st.sampled_from(_ALNUM + "-_."), max_size=8),
        _alnum,
    ),
)
_dns_label = st.builds(
    lambda first, middle, last: first + middle + last,
    st.sampled_from("abz09"),
    st.text(alphabet=st.sampled_from("abz09-"), max_size=5),
    st.sampled_from("abz09"),
)
_prefix = st.lists(_dns_label, min_size=1, max_size=3).map(".".join)
_key = st.one_of(_name, st.builds(lambda p, n: f"{p}/{n}", _prefix, _name))
_value = st.one_of(st.just(""), _name)
_PROPERTY = settings(derandomize=True, max_examples=150, deadline=None)


@st.composite
def _requirements(draw: st.DrawFn) -> LabelRequirement:
    operator = draw(st.sampled_from(list(Operator)))
    key = draw(_key)
    if operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
        values: tuple[str, ...] = ()
    elif operator in (Operator.EQUALS, Operator.NOT_EQUALS):
        values = (draw(_value),)
    else:
        values = tuple(draw(st.lists(_value, min_size=1, max_size=4)))
    return LabelRequirement(key, operator, values)


@_PROPERTY
@given(st.lists(_requirements(), max_size=5))
def test_label_round_trip_property(requirements: list[LabelRequirement]) -> None:
    selector = LabelSelector(tuple(requirements))
    assert LabelSelector.parse(str(selector)) == selector


@_PROPERTY
@given(st.lists(_requirements(), max_size=4), st.dictionaries(_key, _value, max_size=4))
def test_label_matching_is_conjunction_of_requirements(
    requirements: list[LabelRequirement], labels: dict[str, str]
) -> None:
    selector = LabelSelector(tuple(requirements))
    assert selector.matches(labels) == all(r.matches(labels) for r in requirements)
    assert LabelSelector.parse(str(selector)).matches(labels) == selector.matches(labels)


# --------------------------------------------------------------------------- field selectors

NODE_POD = {"metadata.name": "web-1", "spec.nodeName": "node-a", "status.phase": "Running"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("status.phase=Running", True),
        ("status.phase==Running", True),
        ("status.phase!=Running", False),
        ("status.phase=Pending", False),
        ("status.phase!=Pending", True),
        ("spec.nodeName=node-a,status.phase=Running", True),
        ("spec.nodeName=node-a,status.phase=Failed", False),
        ("metadata.namespace=", True),  # missing field compares as ""
        ("metadata.namespace!=", False),
        ("metadata.namespace=default", False),
        ("spec.nodeName!=", True),
        ("", True),
    ],
)
def test_field_operators(text: str, expected: bool) -> None:
    assert FieldSelector.parse(text).matches(NODE_POD) is expected


def test_field_structure_and_fields_property() -> None:
    selector = FieldSelector.parse("status.phase!=Failed, spec.nodeName == node-a")
    assert selector.requirements == (
        FieldRequirement("spec.nodeName", Operator.EQUALS, "node-a"),
        FieldRequirement("status.phase", Operator.NOT_EQUALS, "Failed"),
    )
    assert selector.fields == frozenset({"spec.nodeName", "status.phase"})
    assert selector.required_value("spec.nodeName") == "node-a"
    assert selector.required_value("status.phase") is None
    assert not selector.is_empty


def test_field_empty_selector() -> None:
    for text in ("", " ", ",", ",,"):
        selector = FieldSelector.parse(text)
        assert selector.is_empty
        assert selector.fields == frozenset()
        assert selector.matches({})


def test_field_escaped_values() -> None:
    selector = FieldSelector.parse(r"metadata.name=a\,b\=c\\d,status.phase=Running")
    assert selector.required_value("metadata.name") == "a,b=c\\d"
    assert selector.matches({"metadata.name": "a,b=c\\d", "status.phase": "Running"})
    assert str(selector) == r"metadata.name=a\,b\=c\\d,status.phase=Running"
    assert FieldSelector.parse(str(selector)) == selector


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("status.phase in (Running,Pending)", "set-based requirements ('in', 'notin')"),
        ("status.phase notin (Failed)", "set-based requirements"),
        ("!spec.nodeName", 'existence requirements like "!spec.nodeName"'),
        ("spec.nodeName", '"spec.nodeName" has no operator'),
        ("status.phase>1", "operators '<' and '>' are not supported"),
        ("=Running", "has no field name before the operator"),
        ("status phase=Running", "is not a field name"),
        ("a=b=c", "unescaped '=' in the value"),
        (r"a=b\x", r"invalid escape sequence '\x'"),
        ("a=b\\", "ends with a lone '\\'"),
    ],
)
def test_field_errors(text: str, fragment: str) -> None:
    with pytest.raises(SelectorError) as caught:
        FieldSelector.parse(text)
    message = str(caught.value)
    assert fragment in message
    assert f'invalid field selector "{text}"' in message


def test_field_requirement_rejects_set_operators() -> None:
    with pytest.raises(SelectorError, match="operator 'in' is not supported"):
        FieldRequirement("status.phase", Operator.IN, "Running")


_field_value = st.text(alphabet=st.sampled_from("abcXYZ09-._,=\\!/ :"), max_size=12).filter(
    lambda v: v == v.strip()
)


@_PROPERTY
@given(
    st.lists(
        st.builds(
            FieldRequirement,
            st.sampled_from(["metadata.name", "spec.nodeName", "status.phase"]),
            st.sampled_from([Operator.EQUALS, Operator.NOT_EQUALS]),
            _field_value,
        ),
        max_size=4,
    )
)
def test_field_round_trip_property(requirements: list[FieldRequirement]) -> None:
    selector = FieldSelector(tuple(requirements))
    assert FieldSelector.parse(str(selector)) == selector

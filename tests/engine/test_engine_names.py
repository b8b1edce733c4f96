"""Names from untrusted input: the DNS-1123 rules of ``kubeheal.model.names`` and alert labels
that name an object (the path-traversal reproductions of issue 23 yield no target, with the
wrong label named)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kubeheal.engine.detect import (
    ALERT_NAME_LABELS,
    alert_signal,
    alert_target,
    invalid_alert_label,
)
from kubeheal.model.core import Target, TargetKind
from kubeheal.model.names import (
    InvalidName,
    NameKind,
    check_name,
    name_problem,
    segment_problem,
    shown,
)

T0 = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
TRAVERSAL = "./../../kube-system/deployments/coredns"
QUERY = "demo?labelSelector=x#"

LABEL_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")

HOSTILE_PIECES = st.sampled_from(
    [
        "..", ".", "/", "?", "#", "%", "%2f", "%2e%2e", "\\", "\x00", "\n", "\r", "\t", " ",
        "\u2028", "\x85", "kube-system", "deployments", "coredns", "namespaces", "demo", "web",
        "labelSelector=x", "A", "é", "-", "a" * 64,
    ]
)  # fmt: skip
HOSTILE = st.one_of(st.text(max_size=40), st.lists(HOSTILE_PIECES, max_size=8).map("".join))


@pytest.mark.parametrize(
    ("value", "kind", "ok"),
    [
        ("demo", NameKind.LABEL, True),
        ("a", NameKind.LABEL, True),
        ("a" * 63, NameKind.LABEL, True),
        ("a" * 64, NameKind.LABEL, False),
        ("web.v2", NameKind.LABEL, False),
        ("web.v2", NameKind.SUBDOMAIN, True),
        ("ip-10-0-1-2.eu-west-1.compute.internal", NameKind.SUBDOMAIN, True),
        (".".join(["a" * 63] * 4)[:253], NameKind.SUBDOMAIN, True),
        ("a" * 254, NameKind.SUBDOMAIN, False),
        ("", NameKind.SUBDOMAIN, False),
        ("-web", NameKind.SUBDOMAIN, False),
        ("web-", NameKind.SUBDOMAIN, False),
        ("Web", NameKind.SUBDOMAIN, False),
        ("web..v2", NameKind.SUBDOMAIN, False),
        ("web\n", NameKind.SUBDOMAIN, False),  # re.match's "$" would accept it
        ("we\x00b", NameKind.SUBDOMAIN, False),
        (TRAVERSAL, NameKind.SUBDOMAIN, False),
        (QUERY, NameKind.LABEL, False),
        ("..", NameKind.SUBDOMAIN, False),
    ],
)
def test_dns1123_rules(value: str, kind: NameKind, ok: bool) -> None:
    assert (name_problem(value, kind) is None) is ok


@given(HOSTILE, st.sampled_from(list(NameKind)))
def test_a_name_passes_only_if_it_is_dns1123(value: str, kind: NameKind) -> None:
    pattern = LABEL_RE if kind is NameKind.LABEL else SUBDOMAIN_RE
    wanted = pattern.fullmatch(value) is not None and len(value) <= kind.max_length
    assert (name_problem(value, kind) is None) is wanted
    if wanted:
        assert segment_problem(value) is None  # a valid name is always a safe path segment


def test_check_name_names_the_field_and_escapes_the_value() -> None:
    assert check_name("web", NameKind.SUBDOMAIN, field="label deployment") == "web"
    with pytest.raises(InvalidName) as caught:
        check_name("web\r\nFAKE log line", NameKind.SUBDOMAIN, field="label deployment")
    text = str(caught.value)
    assert text.startswith('label deployment="web\\r\\nFAKE log line" is refused: ')
    assert "control characters" in text
    assert "\n" not in text and "\r" not in text


@given(st.text(max_size=200))
def test_shown_never_lets_a_control_character_through(value: str) -> None:
    text = shown(value)
    assert text.isascii()
    assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)
    assert len(text) <= 80 * 10 + 5  # bounded: at most 80 characters, each escaped


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "empty"),
        (".", "climb"),
        ("..", "climb"),
        ("a/b", "'/'"),
        ("a?b", "'?'"),
        ("a#", "'#'"),
        ("a%2fb", "'%'"),
        ("a b", "whitespace"),
        ("a\x00", "control"),
    ],
)
def test_unsafe_path_segments(value: str, problem: str) -> None:
    found = segment_problem(value)
    assert found is not None and problem in found


# -- alert labels --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "label"),
    [
        # The reproductions of issue 23.
        ({"alertname": "HighLatency", "namespace": "demo", "deployment": TRAVERSAL}, "deployment"),
        ({"alertname": "HighLatency", "namespace": QUERY, "deployment": "web"}, "namespace"),
        ({"alertname": "PodCrash", "namespace": "demo", "pod": "web-1\x00"}, "pod"),
        ({"alertname": "HighLatency", "namespace": "demo", "deployment": "web\x00"}, "deployment"),
        ({"alertname": "NodeDown", "node": "../../api/v1/namespaces/kube-system"}, "node"),
        ({"alertname": "X", "namespace": "demo", "statefulset": "pg\r\nforged"}, "statefulset"),
        ({"alertname": "X", "namespace": "demo", "daemonset": "a" * 254}, "daemonset"),
        ({"alertname": "X", "namespace": "a" * 64, "deployment": "web"}, "namespace"),
        ({"alertname": "X", "namespace": "Demo", "deployment": "web"}, "namespace"),
        # A bad namespace is refused even when the target would be a node.
        ({"alertname": "X", "namespace": "../x", "node": "worker-1"}, "namespace"),
    ],
)
def test_invalid_object_labels_name_no_target(labels: dict[str, str], label: str) -> None:
    invalid = invalid_alert_label(labels)
    assert invalid is not None and invalid.label == label
    assert alert_target(labels) is None
    assert alert_signal(alertname=labels["alertname"], labels=labels, observed_at=T0) is None
    line = str(invalid)
    assert line.startswith(f"label {label}=")
    assert "\x00" not in line and "\n" not in line and "\r" not in line


def test_the_traversal_reproduction_is_explained() -> None:
    labels = {"alertname": "HighLatency", "namespace": "demo", "deployment": TRAVERSAL}
    assert str(invalid_alert_label(labels)) == (
        f'label deployment="{TRAVERSAL}" is not a valid Deployment name: not a DNS-1123 '
        "subdomain (lower-case letters, digits and '-' in dot-separated parts, starting and "
        "ending alphanumeric)"
    )


def test_valid_labels_still_name_their_target() -> None:
    labels = {"namespace": "demo", "deployment": "web.v2", "node": "ip-10-0-1-2.internal"}
    assert invalid_alert_label(labels) is None
    assert alert_target(labels) == Target(
        kind=TargetKind.DEPLOYMENT, namespace="demo", name="web.v2"
    )
    # Labels that only select existing objects are not names: job and instance pass.
    assert invalid_alert_label({"job": "Kubernetes API", "instance": "10.0.0.1:9100"}) is None


@given(
    st.dictionaries(
        st.sampled_from([label for label, _, _ in ALERT_NAME_LABELS] + ["alertname", "job"]),
        HOSTILE,
        max_size=5,
    )
)
@example({"namespace": "demo", "deployment": TRAVERSAL})
@example({"namespace": QUERY, "deployment": "web"})
@example({"namespace": "demo", "pod": "web\x00"})
def test_any_target_from_labels_has_valid_names(labels: dict[str, str]) -> None:
    target = alert_target(labels)
    if target is None:
        return
    assert name_problem(target.name, NameKind.SUBDOMAIN) is None
    if target.namespace:
        assert name_problem(target.namespace, NameKind.LABEL) is None
        assert target.namespace == labels["namespace"]

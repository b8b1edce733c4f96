"""Kubernetes label selectors (matchLabels + matchExpressions) and a matcher for them.

Pure: no I/O, no clock. An unknown operator never matches, so a malformed selector fails closed.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

__all__ = ["LabelSelector", "LabelSelectorRequirement", "selector_matches"]


class LabelSelectorRequirement(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    """One ``matchExpressions`` entry."""

    key: str = ""
    operator: str = ""
    values: tuple[str, ...] = ()


class LabelSelector(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    """A label selector as found in Deployments, PDBs and ReplicaSets."""

    match_labels: dict[str, str] = {}
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()


def _requirement_matches(req: LabelSelectorRequirement, labels: Mapping[str, str]) -> bool:
    op = req.operator
    if op == "In":
        return req.key in labels and labels[req.key] in req.values
    if op == "NotIn":
        return req.key not in labels or labels[req.key] not in req.values
    if op == "Exists":
        return req.key in labels
    if op == "DoesNotExist":
        return req.key not in labels
    return False


def selector_matches(selector: LabelSelector | None, labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` satisfy ``selector``.

    As in Kubernetes: an empty selector matches everything, a missing (``None``) selector
    matches nothing.
    """
    if selector is None:
        return False
    for key, value in selector.match_labels.items():
        if labels.get(key) != value:
            return False
    return all(_requirement_matches(req, labels) for req in selector.match_expressions)

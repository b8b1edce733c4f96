"""Kubernetes label and field selectors for the cluster twin.

Parses the string forms sent as ``?labelSelector=`` / ``kubectl -l`` and ``?fieldSelector=``,
and the API object form of label selectors (``Deployment.spec.selector``,
``PodDisruptionBudget.spec.selector``), and matches them against objects.

Pure: no I/O, no clock.

Exception tree::

    ValueError
    └── SelectorError   a selector (string or API form) is malformed or invalid

Semantics follow Kubernetes:

* requirements are ANDed; a selector without requirements matches everything;
* ``key!=value`` and ``key notin (...)`` also match objects that lack ``key``;
* a field the object does not have compares as the empty string.

Both selector types are frozen, normalised values: requirements are kept sorted and value
sets deduplicated, so two selectors that mean the same are equal, and
``LabelSelector.parse(str(sel)) == sel`` for every selector that has a string form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "FieldRequirement",
    "FieldSelector",
    "LabelRequirement",
    "LabelSelector",
    "Operator",
    "SelectorError",
]


class SelectorError(ValueError):
    """A selector is malformed or names an invalid key or value; the message says where."""


class Operator(StrEnum):
    """Operator of one selector requirement; the value is its string-form spelling."""

    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    EQUALS = "="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"


_OPERATOR_ORDER = {op: index for index, op in enumerate(Operator)}

# API form operator names (metav1.LabelSelectorRequirement.operator).
_API_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}

_NAME_MAX = 63
_PREFIX_MAX = 253
_NAME_RE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN_RE = re.compile(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*")
_FIELD_NAME_RE = re.compile(r"[A-Za-z0-9][-A-Za-z0-9_./\[\]]*")


# --------------------------------------------------------------------------- validation


def _key_problem(key: str) -> str | None:
    """Why ``key`` is not a valid label key (a Kubernetes qualified name), or None."""
    if key == "":
        return "key must not be empty"
    parts = key.split("/")
    if len(parts) > 2:
        return (
            f"key {key!r} has more than one '/'; a key is an optional DNS subdomain "
            "prefix and '/', followed by a name"
        )
    if len(parts) == 2:
        prefix, name = parts
        if prefix == "":
            return f"key {key!r} has an empty prefix before '/'"
        if len(prefix) > _PREFIX_MAX:
            return f"key {key!r}: prefix is {len(prefix)} characters, at most {_PREFIX_MAX}"
        if not _DNS_SUBDOMAIN_RE.fullmatch(prefix):
            return (
                f"key {key!r}: prefix {prefix!r} is not a DNS subdomain (lowercase "
                "alphanumerics, '-' and '.', starting and ending with an alphanumeric)"
            )
    else:
        name = parts[0]
    if name == "":
        return f"key {key!r} has an empty name after '/'"
    if len(name) > _NAME_MAX:
        return f"key {key!r}: name part is {len(name)} characters, at most {_NAME_MAX}"
    if not _NAME_RE.fullmatch(name):
        return (
            f"key {key!r}: name part {name!r} must consist of alphanumerics, '-', '_' "
            "or '.', and start and end with an alphanumeric"
        )
    return None


def _value_problem(value: str) -> str | None:
    """Why ``value`` is not a valid label value, or None (the empty value is valid)."""
    if value == "":
        return None
    if len(value) > _NAME_MAX:
        return f"value {value!r} is {len(value)} characters, at most {_NAME_MAX}"
    if not _NAME_RE.fullmatch(value):
        return (
            f"value {value!r} must be empty or consist of alphanumerics, '-', '_' or '.', "
            "and start and end with an alphanumeric"
        )
    return None


def _requirement_problem(key: str, operator: Operator, values: Sequence[str]) -> str | None:
    problem = _key_problem(key)
    if problem is not None:
        return problem
    for value in values:
        problem = _value_problem(value)
        if problem is not None:
            return f"key {key!r}: {problem}"
    if operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
        if values:
            return f"key {key!r}: operator {operator.name} takes no values, got {list(values)}"
    elif operator in (Operator.EQUALS, Operator.NOT_EQUALS):
        if len(values) != 1:
            return (
                f"key {key!r}: operator '{operator.value}' takes exactly one value, "
                f"got {list(values)}"
            )
    elif not values:
        return f"key {key!r}: operator '{operator.value}' needs at least one value"
    return None


# --------------------------------------------------------------------------- label selectors


@dataclass(frozen=True, slots=True)
class LabelRequirement:
    """One requirement of a label selector, e.g. ``tier in (backend,cache)``.

    ``values`` is normalised to a sorted tuple without duplicates; it is empty for
    EXISTS / DOES_NOT_EXIST and has exactly one item for EQUALS / NOT_EQUALS.
    Raises SelectorError when the key, a value or the number of values is invalid.
    """

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        normalised = tuple(sorted(set(self.values)))
        problem = _requirement_problem(self.key, self.operator, normalised)
        if problem is not None:
            raise SelectorError(f"invalid label selector requirement: {problem}")
        object.__setattr__(self, "values", normalised)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether an object with these labels satisfies this requirement."""
        present = self.key in labels
        match self.operator:
            case Operator.EXISTS:
                return present
            case Operator.DOES_NOT_EXIST:
                return not present
            case Operator.EQUALS | Operator.IN:
                return present and labels[self.key] in self.values
            case Operator.NOT_EQUALS | Operator.NOT_IN:
                return not present or labels[self.key] not in self.values
        raise AssertionError(self.operator)  # pragma: no cover

    def _sort_key(self) -> tuple[str, int, tuple[str, ...]]:
        return (self.key, _OPERATOR_ORDER[self.operator], self.values)

    def __str__(self) -> str:
        match self.operator:
            case Operator.EXISTS:
                return self.key
            case Operator.DOES_NOT_EXIST:
                return f"!{self.key}"
            case Operator.EQUALS | Operator.NOT_EQUALS:
                return f"{self.key}{self.operator.value}{self.values[0]}"
            case Operator.IN | Operator.NOT_IN:
                return f"{self.key} {self.operator.value} ({','.join(self.values)})"
        raise AssertionError(self.operator)  # pragma: no cover


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A label selector: requirements that must all hold.

    Without requirements it matches everything. ``nothing=True`` is the selector that
    matches no object at all (what a null API selector means); it has no string form,
    ``str()`` renders it as ``<nothing>``, which ``parse`` rejects.
    """

    requirements: tuple[LabelRequirement, ...] = ()
    nothing: bool = False

    def __post_init__(self) -> None:
        if self.nothing and self.requirements:
            raise SelectorError("a selector that matches nothing cannot have requirements")
        ordered = tuple(sorted(self.requirements, key=LabelRequirement._sort_key))
        object.__setattr__(self, "requirements", ordered)

    @classmethod
    def everything(cls) -> LabelSelector:
        """The selector that matches every object."""
        return cls()

    @classmethod
    def match_nothing(cls) -> LabelSelector:
        """The selector that matches no object."""
        return cls(nothing=True)

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        """Parse the string form (``?labelSelector=``, ``kubectl -l``).

        Comma-separated requirements: ``key``, ``!key``, ``key=value``, ``key==value``,
        ``key!=value``, ``key in (a,b)``, ``key notin (a,b)``; whitespace around tokens is
        ignored. The empty string (or only whitespace) matches everything.
        """
        return cls(tuple(_LabelParser(text).parse()))

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> LabelSelector:
        """A selector requiring every ``key=value`` of a plain map (``Service.spec.selector``).

        The empty map gives the selector that matches everything.
        """
        requirements = []
        for key, value in labels.items():
            problem = _requirement_problem(key, Operator.EQUALS, [value])
            if problem is not None:
                raise SelectorError(f"invalid label selector map: {problem}")
            requirements.append(LabelRequirement(key, Operator.EQUALS, (value,)))
        return cls(tuple(requirements))

    @classmethod
    def from_api(cls, obj: Mapping[str, object] | None) -> LabelSelector:
        """Convert the API object form ``{"matchLabels": ..., "matchExpressions": [...]}``.

        As in Kubernetes (``Deployment.spec.selector``, ``PodDisruptionBudget.spec.selector``)
        a null selector (``None``) matches nothing, while an empty one (``{}``, or both
        parts empty) matches everything. ``matchExpressions`` operators are ``In`` and
        ``NotIn`` (which need a non-empty ``values``) and ``Exists`` and ``DoesNotExist``
        (which must have no values). Raises SelectorError naming the offending part.
        """
        if obj is None:
            return cls.match_nothing()
        if not isinstance(obj, Mapping):
            raise SelectorError(
                f"invalid label selector: expected an object, got {type(obj).__name__}"
            )
        unknown = sorted(str(k) for k in obj if k not in ("matchLabels", "matchExpressions"))
        if unknown:
            raise SelectorError(
                f"invalid label selector: unknown field(s) {unknown}; "
                "expected 'matchLabels' and/or 'matchExpressions'"
            )
        requirements: list[LabelRequirement] = []
        match_labels = obj.get("matchLabels")
        if match_labels is not None:
            if not isinstance(match_labels, Mapping):
                raise SelectorError(
                    "invalid label selector: matchLabels must be an object, "
                    f"got {type(match_labels).__name__}"
                )
            for key, value in match_labels.items():
                if not isinstance(key, str) or not isinstance(value, str):
                    raise SelectorError(
                        f"invalid label selector: matchLabels entry {key!r}: {value!r} "
                        "must map a string to a string"
                    )
                problem = _requirement_problem(key, Operator.EQUALS, [value])
                if problem is not None:
                    raise SelectorError(f"invalid label selector: matchLabels: {problem}")
                requirements.append(LabelRequirement(key, Operator.EQUALS, (value,)))
        expressions = obj.get("matchExpressions")
        if expressions is not None:
            if isinstance(expressions, str | bytes) or not isinstance(expressions, Sequence):
                raise SelectorError(
                    "invalid label selector: matchExpressions must be a list, "
                    f"got {type(expressions).__name__}"
                )
            for index, expression in enumerate(expressions):
                requirements.append(_expression_requirement(index, expression))
        return cls(tuple(requirements))

    @property
    def is_empty(self) -> bool:
        """True for the selector without requirements, which matches everything."""
        return not self.nothing and not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether an object with these labels is selected."""
        if self.nothing:
            return False
        return all(requirement.matches(labels) for requirement in self.requirements)

    def __str__(self) -> str:
        if self.nothing:
            return "<nothing>"
        return ",".join(str(requirement) for requirement in self.requirements)


def _expression_requirement(index: int, expression: object) -> LabelRequirement:
    where = f"invalid label selector: matchExpressions[{index}]"
    if not isinstance(expression, Mapping):
        raise SelectorError(f"{where} must be an object, got {type(expression).__name__}")
    unknown = sorted(str(k) for k in expression if k not in ("key", "operator", "values"))
    if unknown:
        raise SelectorError(
            f"{where}: unknown field(s) {unknown}; expected 'key', 'operator', 'values'"
        )
    key = expression.get("key")
    if not isinstance(key, str):
        raise SelectorError(f"{where}: 'key' is required and must be a string")
    operator_name = expression.get("operator")
    if not isinstance(operator_name, str):
        raise SelectorError(f"{where} (key {key!r}): 'operator' is required and must be a string")
    operator = _API_OPERATORS.get(operator_name)
    if operator is None:
        raise SelectorError(
            f"{where} (key {key!r}): unknown operator {operator_name!r}; "
            f"expected one of {', '.join(_API_OPERATORS)}"
        )
    raw_values = expression.get("values")
    if raw_values is None:
        raw_values = []
    if isinstance(raw_values, str | bytes) or not isinstance(raw_values, Sequence):
        raise SelectorError(f"{where} (key {key!r}): 'values' must be a list of strings")
    values: list[str] = []
    for value in raw_values:
        if not isinstance(value, str):
            raise SelectorError(
                f"{where} (key {key!r}): 'values' must be a list of strings, got {value!r}"
            )
        values.append(value)
    if operator in (Operator.IN, Operator.NOT_IN) and not values:
        raise SelectorError(
            f"{where} (key {key!r}): operator {operator_name} needs a non-empty 'values'"
        )
    if operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST) and values:
        raise SelectorError(
            f"{where} (key {key!r}): operator {operator_name} must not have 'values', got {values}"
        )
    problem = _requirement_problem(key, operator, values)
    if problem is not None:
        raise SelectorError(f"{where}: {problem}")
    return LabelRequirement(key, operator, tuple(values))


# --------------------------------------------------------------------------- label parser

_SPECIALS = "!=(),<>"


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "ident", "!", "=", "==", "!=", "(", ")", ",", "<", ">", "end"
    text: str
    position: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "!=" and text[i + 1 : i + 2] == "=":
            tokens.append(_Token(char + "=", char + "=", i))
            i += 2
        elif char in _SPECIALS:
            tokens.append(_Token(char, char, i))
            i += 1
        else:
            start = i
            while i < len(text) and not text[i].isspace() and text[i] not in _SPECIALS:
                i += 1
            tokens.append(_Token("ident", text[start:i], start))
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _describe(token: _Token) -> str:
    return "end of selector" if token.kind == "end" else repr(token.text)


class _LabelParser:
    """Recursive-descent parser for the label selector string form."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._tokens = _tokenize(text)
        self._index = 0

    def _error(self, message: str, token: _Token) -> SelectorError:
        return SelectorError(
            f"invalid label selector {self._text!r}: {message} (at position {token.position})"
        )

    def _peek(self) -> _Token:
        return self._tokens[self._index]

    def _next(self) -> _Token:
        token = self._tokens[self._index]
        if token.kind != "end":
            self._index += 1
        return token

    def parse(self) -> list[LabelRequirement]:
        requirements: list[LabelRequirement] = []
        if self._peek().kind == "end":
            return requirements
        while True:
            requirements.append(self._requirement())
            token = self._next()
            if token.kind == "end":
                return requirements
            if token.kind != ",":
                raise self._error(
                    f"found {_describe(token)} after a complete requirement, expected ',' "
                    "or end of selector",
                    token,
                )
            if self._peek().kind == "end":
                raise self._error("expected a requirement after ','", self._peek())

    def _build(
        self, key_token: _Token, operator: Operator, values: Sequence[str]
    ) -> LabelRequirement:
        problem = _requirement_problem(key_token.text, operator, values)
        if problem is not None:
            raise self._error(problem, key_token)
        return LabelRequirement(key_token.text, operator, tuple(values))

    def _requirement(self) -> LabelRequirement:
        token = self._next()
        if token.kind == "!":
            key = self._next()
            if key.kind != "ident":
                raise self._error(f"found {_describe(key)}, expected a key after '!'", key)
            follower = self._peek()
            if follower.kind not in (",", "end"):
                raise self._error(
                    f"found {_describe(follower)} after '!{key.text}'; '!key' takes no "
                    "operator or value",
                    follower,
                )
            return self._build(key, Operator.DOES_NOT_EXIST, ())
        if token.kind != "ident":
            raise self._error(f"found {_describe(token)}, expected a key or '!key'", token)
        key = token
        op = self._peek()
        if op.kind in (",", "end"):
            return self._build(key, Operator.EXISTS, ())
        self._next()
        if op.kind in ("=", "==", "!="):
            operator = Operator.NOT_EQUALS if op.kind == "!=" else Operator.EQUALS
            value = self._peek()
            if value.kind == "ident":
                self._next()
                return self._build(key, operator, (value.text,))
            if value.kind in (",", "end"):
                return self._build(key, operator, ("",))
            raise self._error(
                f"found {_describe(value)} after '{key.text}{op.text}', expected a value",
                value,
            )
        if op.kind == "ident" and op.text in ("in", "notin"):
            operator = Operator.IN if op.text == "in" else Operator.NOT_IN
            return self._build(key, operator, self._value_list(key, op))
        if op.kind in ("<", ">"):
            raise self._error(
                f"operator '{op.text}' is not supported; use '=', '==', '!=', 'in' or 'notin'",
                op,
            )
        raise self._error(
            f"found {_describe(op)} after key {key.text!r}, expected one of "
            "'=', '==', '!=', 'in', 'notin', ',' or end of selector",
            op,
        )

    def _value_list(self, key: _Token, op: _Token) -> list[str]:
        opening = self._next()
        if opening.kind != "(":
            raise self._error(
                f"found {_describe(opening)} after '{key.text} {op.text}', expected '('",
                opening,
            )
        values: list[str] = []
        expecting_value = True
        while True:
            token = self._next()
            if token.kind == "ident":
                if not expecting_value:
                    raise self._error(
                        f"found {_describe(token)} in the value list of {key.text!r}, "
                        "expected ',' or ')'",
                        token,
                    )
                values.append(token.text)
                expecting_value = False
            elif token.kind == ",":
                if expecting_value:
                    values.append("")
                expecting_value = True
            elif token.kind == ")":
                if expecting_value:
                    values.append("")
                return values
            elif token.kind == "end":
                raise self._error(
                    f"the value list of {key.text!r} is not closed, expected ')'", token
                )
            else:
                raise self._error(
                    f"found {_describe(token)} in the value list of {key.text!r}, "
                    "expected a value, ',' or ')'",
                    token,
                )


# --------------------------------------------------------------------------- field selectors


def _quote(text: str) -> str:
    """Quote selector text for a message without doubling its backslashes."""
    return f'"{text}"'


def _escape_field_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _unescape_field_value(raw: str, *, text: str, term: str) -> str:
    out: list[str] = []
    escaped = False
    for char in raw:
        if escaped:
            if char not in "\\,=":
                raise SelectorError(
                    f"invalid field selector {_quote(text)}: invalid escape sequence '\\{char}' in "
                    f"{_quote(term)}; only '\\\\', '\\,' and '\\=' are allowed"
                )
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",=":
            raise SelectorError(
                f"invalid field selector {_quote(text)}: unescaped '{char}' in the value of "
                f"{_quote(term)}; write it as '\\{char}'"
            )
        else:
            out.append(char)
    if escaped:
        raise SelectorError(
            f"invalid field selector {_quote(text)}: {_quote(term)} ends with a lone '\\'; "
            "write a backslash as '\\\\'"
        )
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not escaped with a backslash."""
    terms: list[str] = []
    start = 0
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            terms.append(text[start:index])
            start = index + 1
    terms.append(text[start:])
    return terms


_SET_TERM_RE = re.compile(r"^\s*\S+\s+(in|notin)\s*\(")


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    """One field selector requirement: ``field=value`` or ``field!=value``."""

    field: str
    operator: Operator
    value: str

    def __post_init__(self) -> None:
        if self.operator not in (Operator.EQUALS, Operator.NOT_EQUALS):
            raise SelectorError(
                f"invalid field selector requirement on {self.field!r}: operator "
                f"{self.operator.value!r} is not supported; use '=', '==' or '!='"
            )
        if not _FIELD_NAME_RE.fullmatch(self.field):
            raise SelectorError(
                f"invalid field selector requirement: bad field name {self.field!r}"
            )

    def matches(self, fields: Mapping[str, str]) -> bool:
        """Whether an object with these field values satisfies this requirement."""
        actual = fields.get(self.field, "")
        if self.operator is Operator.EQUALS:
            return actual == self.value
        return actual != self.value

    def __str__(self) -> str:
        return f"{self.field}{self.operator.value}{_escape_field_value(self.value)}"


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """A field selector: ``field=value`` / ``field!=value`` requirements that must all hold.

    Without requirements it matches everything.
    """

    requirements: tuple[FieldRequirement, ...] = ()

    def __post_init__(self) -> None:
        ordered = tuple(
            sorted(self.requirements, key=lambda r: (r.field, r.operator.value, r.value))
        )
        object.__setattr__(self, "requirements", ordered)

    @classmethod
    def parse(cls, text: str) -> FieldSelector:
        """Parse the string form (``?fieldSelector=``, ``kubectl --field-selector``).

        Comma-separated ``field=value``, ``field==value`` or ``field!=value``; empty terms
        are skipped. In values ``\\,``, ``\\=`` and ``\\\\`` stand for ``,``, ``=`` and
        ``\\``; an unescaped ``,``/``=`` or any other escape is an error. Whitespace around
        field names and values is ignored. Set-based (``in``/``notin``) and existence
        (``field``, ``!field``) requirements are rejected.
        """
        requirements: list[FieldRequirement] = []
        for raw_term in _split_terms(text):
            term = raw_term.strip()
            if term == "":
                continue
            requirements.append(_parse_field_term(term, text))
        return cls(tuple(requirements))

    @property
    def is_empty(self) -> bool:
        """True for the selector without requirements, which matches everything."""
        return not self.requirements

    @property
    def fields(self) -> frozenset[str]:
        """The field names this selector refers to."""
        return frozenset(requirement.field for requirement in self.requirements)

    def required_value(self, field_name: str) -> str | None:
        """The value ``field_name`` must equal (from a ``field=value`` term), if any."""
        for requirement in self.requirements:
            if requirement.field == field_name and requirement.operator is Operator.EQUALS:
                return requirement.value
        return None

    def matches(self, fields: Mapping[str, str]) -> bool:
        """Whether an object with these field values is selected (missing fields are '')."""
        return all(requirement.matches(fields) for requirement in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


def _parse_field_term(term: str, text: str) -> FieldRequirement:
    where = f"invalid field selector {_quote(text)}"
    for index in range(len(term)):
        rest = term[index:]
        if rest.startswith("!="):
            operator, width = Operator.NOT_EQUALS, 2
        elif rest.startswith("=="):
            operator, width = Operator.EQUALS, 2
        elif rest.startswith("="):
            operator, width = Operator.EQUALS, 1
        else:
            continue
        name = term[:index].strip()
        if name == "":
            raise SelectorError(f"{where}: {_quote(term)} has no field name before the operator")
        if not _FIELD_NAME_RE.fullmatch(name):
            raise SelectorError(
                f"{where}: {_quote(name)} in {_quote(term)} is not a field name "
                "(expected something like 'metadata.name' or 'status.phase')"
            )
        value = _unescape_field_value(term[index + width :].strip(), text=text, term=term)
        return FieldRequirement(name, operator, value)
    if _SET_TERM_RE.match(term) or "(" in term or ")" in term:
        raise SelectorError(
            f"{where}: set-based requirements ('in', 'notin') are not supported in field "
            f"selectors (found {_quote(term)}); use field=value or field!=value"
        )
    if "<" in term or ">" in term:
        raise SelectorError(
            f"{where}: operators '<' and '>' are not supported in field selectors "
            f"(found {_quote(term)}); use field=value or field!=value"
        )
    if term.startswith("!"):
        raise SelectorError(
            f"{where}: existence requirements like {_quote(term)} are not supported in field "
            "selectors; use field=value or field!=value"
        )
    raise SelectorError(
        f"{where}: {_quote(term)} has no operator; field selectors need field=value, "
        "field==value or field!=value"
    )

"""Parse Kubernetes label and field selectors into predicates over objects.

Called by the HTTP app for ``labelSelector`` and ``fieldSelector`` on list and
watch. Pure functions; a selector the emulator cannot understand raises
SelectorError, which the app answers with 400 BadRequest like the apiserver.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]

_SET_TERM = re.compile(r"^\s*([^\s!=,()]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_TERM = re.compile(r"^\s*([^\s!=,()]+)\s*(==|!=|=)\s*([^\s!=,()]*)\s*$")
_EXISTS_TERM = re.compile(r"^\s*(!?)\s*([^\s!=,()]+)\s*$")
SUPPORTED_FIELDS = ("metadata.name", "metadata.namespace")


class SelectorError(ValueError):
    """A selector that is malformed or uses a field the emulator does not index."""


def _split_terms(selector: str) -> list[str]:
    """Split on the commas that are not inside an `in (...)` value list."""
    terms, depth, current = [], 0, []
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return [t for t in terms if t.strip()]


def _label_term(term: str) -> Predicate:
    if match := _SET_TERM.match(term):
        key, operator, raw_values = match.groups()
        values = {v.strip() for v in raw_values.split(",") if v.strip()}
        if operator == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if match := _EQ_TERM.match(term):
        key, operator, value = match.groups()
        if operator == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: key in labels and labels[key] == value
    if match := _EXISTS_TERM.match(term):
        negated, key = match.groups()
        if negated:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise SelectorError(f"unable to parse requirement {term!r}: use key=value, key!=value, key in (a,b), "
                        "key notin (a,b), key or !key")


def parse_label_selector(selector: str | None) -> Predicate:
    """Return a predicate telling whether an object's labels match a label selector."""
    terms = [_label_term(t) for t in _split_terms(selector or "")]

    def matches(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(term(labels) for term in terms)

    return matches


def parse_field_selector(selector: str | None) -> Predicate:
    """Return a predicate telling whether an object matches a field selector."""
    checks = []
    for term in _split_terms(selector or ""):
        match = _EQ_TERM.match(term)
        if not match:
            raise SelectorError(f"invalid field selector term {term!r}: use field=value or field!=value")
        field, operator, value = match.groups()
        if field not in SUPPORTED_FIELDS:
            raise SelectorError(f'"{field}" is not a known field selector: only '
                                + ", ".join(f'"{f}"' for f in SUPPORTED_FIELDS))
        attribute = field.split(".", 1)[1]
        checks.append((attribute, operator != "!=", value))

    def matches(obj: dict[str, Any]) -> bool:
        metadata = obj.get("metadata") or {}
        return all((metadata.get(attr, "") == value) == wanted for attr, wanted, value in checks)

    return matches

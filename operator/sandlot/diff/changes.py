"""The change objects every walker produces and every formatter reads, and the CI exit code.

Called by sandlot.diff.openapi and .graphql (which build changes through `make`) and by
sandlot.diff.formats. A change names its rule by id; its level and message come from the rule
table (sandlot.diff.rules), so a rule's level is decided in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandlot.diff.rules import LEVELS, RULES


@dataclass(frozen=True)
class Location:
    """Where a change sits in one document: JSON pointer (or GraphQL schema coordinate), file, line."""

    pointer: str
    file: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class Change:
    """One difference between OLD and NEW that a rule names."""

    id: str
    level: str
    message: str
    method: str = ""        # HTTP method (oasdiff's `operation`); "" for GraphQL
    path: str = ""          # path template; GraphQL: the schema coordinate (Query.user)
    operation_id: str = ""
    old: Location | None = None
    new: Location | None = None

    @property
    def operation(self) -> str:
        """Return the operation as a person reads it: "GET /pets/{petId}" (GraphQL: the coordinate)."""
        return f"{self.method} {self.path}" if self.method else self.path


def make(rule_id: str, args: dict[str, Any] | None = None, *, method: str = "", path: str = "",
         operation_id: str = "", old: str | None = None, new: str | None = None) -> Change:
    """Build a change of a rule: its level and message from the rule table, pointers as locations."""
    rule = RULES[rule_id]
    return Change(rule_id, rule.level, rule.message.format(**(args or {})), method, path, operation_id,
                  None if old is None else Location(old), None if new is None else Location(new))


def rank(level: str) -> int:
    """Return how severe a level is: 0 for error, 1 for warning, 2 for info."""
    return LEVELS.index(level)


def counts(changes: list[Change]) -> dict[str, int]:
    """Return the number of changes per level, every level present."""
    found = dict.fromkeys(LEVELS, 0)
    for change in changes:
        found[change.level] += 1
    return found


def exit_code(changes: list[Change], fail_on: str | None) -> int:
    """Return 1 when a change is at least as severe as `fail_on` (None: never), else 0."""
    if fail_on is None:
        return 0
    return int(any(rank(change.level) <= rank(fail_on) for change in changes))

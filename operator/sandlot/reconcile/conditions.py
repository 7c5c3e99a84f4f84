"""Build a SandboxEnvironment's status conditions, keeping transition times honest.

Pure: `set_condition` returns a new list in which a condition's lastTransitionTime moves
only when its status actually changes, as Kubernetes conventions ask.
"""

from __future__ import annotations

from typing import Any


def set_condition(conditions: list[dict[str, Any]] | None, *, type_: str, status: bool | str, reason: str,
                  message: str, now: str, generation: int | None = None) -> list[dict[str, Any]]:
    """Return `conditions` with the condition of `type_` set to the given values."""
    text = status if isinstance(status, str) else ("True" if status else "False")
    out: list[dict[str, Any]] = []
    found = False
    for cond in conditions or []:
        if cond.get("type") != type_:
            out.append(dict(cond))
            continue
        found = True
        moved = cond.get("status") != text
        out.append(_condition(type_, text, reason, message,
                              now if moved else cond.get("lastTransitionTime") or now, generation))
    if not found:
        out.append(_condition(type_, text, reason, message, now, generation))
    return out


def _condition(type_: str, status: str, reason: str, message: str, when: str,
               generation: int | None) -> dict[str, Any]:
    """Return one condition object."""
    cond: dict[str, Any] = {"type": type_, "status": status, "reason": reason, "message": message,
                            "lastTransitionTime": when}
    if generation is not None:
        cond["observedGeneration"] = generation
    return cond


def get_condition(conditions: list[dict[str, Any]] | None, type_: str) -> dict[str, Any] | None:
    """Return the condition of `type_`, if present."""
    for cond in conditions or []:
        if cond.get("type") == type_:
            return cond
    return None

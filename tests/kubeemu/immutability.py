"""Refuse updates to the built-in fields the apiserver keeps immutable.

Called by the store on every update of a built-in object's main resource. These
are the checks an operator's update path most often trips over on a real
cluster: a Deployment's or Job's selector, a Job's pod template (a changed seed
Job must be deleted and created again), a Service's clusterIP, a Secret's type,
and the data of a ConfigMap or Secret marked `immutable: true`. Pure functions.
"""

from __future__ import annotations

from typing import Any

_SPEC_FIELDS = {
    ("apps", "deployments"): ("selector",),
    ("batch", "jobs"): ("selector", "template"),
}
_DATA_FIELDS = ("data", "binaryData")


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("spec") or {}


def immutable_change(rtkey: tuple[str, str], old: dict[str, Any], new: dict[str, Any]) -> tuple[str, str] | None:
    """Return (field, problem) for the first immutable field an update changes, or None."""
    for field in _SPEC_FIELDS.get(rtkey, ()):
        if field in _spec(old) and _spec(new).get(field) != _spec(old)[field]:
            return f"spec.{field}", "field is immutable"
    if rtkey == ("", "services"):
        before, after = _spec(old).get("clusterIP"), _spec(new).get("clusterIP")
        if before and after and before != after:
            return "spec.clusterIP", "field is immutable"
    if rtkey == ("", "secrets") and old.get("type") and new.get("type", old["type"]) != old["type"]:
        return "type", "field is immutable"
    if rtkey in (("", "configmaps"), ("", "secrets")) and old.get("immutable"):
        if not new.get("immutable"):
            return "immutable", "field is immutable when `immutable` is set"
        for field in _DATA_FIELDS:
            if new.get(field) != old.get(field):
                return field, "field is immutable when `immutable` is set"
    return None

"""Refuse updates to the built-in fields the apiserver keeps immutable, with its messages.

Called by the store on every update of a built-in object's main resource. These
are the checks an operator's update path most often trips over on a real
cluster: a Deployment's or Job's selector, a Job's pod template (a changed seed
Job must be deleted and created again), a Service's clusterIP, a Secret's type,
and the data of a ConfigMap or Secret marked `immutable: true`. Pure functions.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import FieldError

_SPEC_FIELDS = {
    ("apps", "deployments"): ("selector",),
    ("batch", "jobs"): ("selector", "template"),
}
_DATA_FIELDS = ("data", "binaryData")
_FROZEN = "Forbidden: field is immutable when `immutable` is set"


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("spec") or {}


def _shown(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def immutable_changes(rtkey: tuple[str, str], old: dict[str, Any], new: dict[str, Any]) -> list[FieldError]:
    """Return a field error for each immutable field an update changes (kube-apiserver's wording)."""
    errors = [FieldError(f"spec.{field}", f"Invalid value: {_shown(_spec(new).get(field))}: field is immutable")
              for field in _SPEC_FIELDS.get(rtkey, ())
              if field in _spec(old) and _spec(new).get(field) != _spec(old)[field]]
    if rtkey == ("", "services"):
        before, after = _spec(old).get("clusterIP"), _spec(new).get("clusterIP")
        if before and after and before != after:
            shown = _spec(new).get("clusterIPs") or [after]
            errors.append(FieldError("spec.clusterIPs[0]", f"Invalid value: {_shown(shown)}: may not change once set"))
    if rtkey == ("", "secrets") and old.get("type") and new.get("type", old["type"]) != old["type"]:
        errors.append(FieldError("type", f"Invalid value: {_shown(new.get('type'))}: field is immutable"))
    if rtkey in (("", "configmaps"), ("", "secrets")) and old.get("immutable"):
        if not new.get("immutable"):
            errors.append(FieldError("immutable", _FROZEN))
        errors += [FieldError(field, _FROZEN) for field in _DATA_FIELDS if new.get(field) != old.get(field)]
    return errors

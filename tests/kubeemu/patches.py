"""Apply PATCH bodies the way the apiserver does: merge patch, JSON patch, strategic merge patch.

Called by the store for PATCH requests. Pure functions over JSON-like dicts.
Strategic merge patch (what the `kubernetes` client sends for a dict body on
built-in kinds) knows the merge keys of the commonly patched lists (containers,
env, ports, volumes, conditions ...) by field name rather than from the
OpenAPI schema; other lists are replaced. Custom resources refuse it with 415,
like the apiserver. See docs/emulator.md.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer

from .errors import ApiError

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"


def merge_patch(target: Any, patch: Any) -> Any:
    """Return target with an RFC 7386 merge patch applied (null deletes a key)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# Lists merged item by item under strategic merge patch, by field name: the merge key of their items.
STRATEGIC_MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath", "imagePullSecrets": "name",
    "hostAliases": "ip", "conditions": "type", "ownerReferences": "uid", "ports": None,  # None: see _merge_key
}
# Lists of plain values merged as sets under strategic merge patch.
STRATEGIC_SET_LISTS = {"finalizers"}


def _merge_key(field: str, items: list[Any]) -> str | None:
    """Return the merge key of a list field (container ports merge on containerPort, service ports on port)."""
    if field == "ports":
        return "containerPort" if any(isinstance(i, dict) and "containerPort" in i for i in items) else "port"
    return STRATEGIC_MERGE_KEYS.get(field)


def _strategic_list(field: str, current: Any, patch: list[Any]) -> list[Any]:
    if field in STRATEGIC_SET_LISTS and isinstance(current, list):
        return current + [item for item in patch if item not in current]
    key = _merge_key(field, patch) if field in STRATEGIC_MERGE_KEYS else None
    if key is None or not isinstance(current, list) or not all(isinstance(i, dict) for i in patch):
        return [strategic_merge_patch(None, item) for item in patch]
    if any(item.get("$patch") == "replace" for item in patch):
        return [strategic_merge_patch(None, i) for i in patch if i.get("$patch") != "replace"]

    def position(item: dict[str, Any]) -> int:
        return next((n for n, old in enumerate(current) if isinstance(old, dict) and old.get(key) == item.get(key)), -1)

    # As kube-apiserver: the patch's items (merged with their live counterparts) in patch order, then
    # the live items the patch does not name, interleaved by their live order where both are live.
    patched, named = [], set()
    for item in patch:
        named.add(item.get(key))
        if item.get("$patch") == "delete":
            continue
        found = position(item)
        patched.append(strategic_merge_patch(dict(current[found]) if found >= 0 else None, item))
    live_only = [dict(old) if isinstance(old, dict) else old for old in current
                 if not (isinstance(old, dict) and old.get(key) in named)]
    merged: list[Any] = []
    while patched or live_only:
        if not live_only:
            merged.append(patched.pop(0))
        elif not patched:
            merged.append(live_only.pop(0))
        else:
            left, right = position(patched[0]), position(live_only[0])
            merged.append(live_only.pop(0) if 0 <= right < left else patched.pop(0))
    return merged


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Return target with a strategic merge patch applied (merge keys by field name, $patch directives)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key == "$patch":
            continue  # ordering hints: the emulator keeps the existing order
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [v for v in result.get(field) or [] if v not in value]
        elif value is None or (isinstance(value, dict) and value.get("$patch") == "delete"):
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _strategic_list(key, result.get(key), value)
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def json_patch(target: dict[str, Any], operations: Any) -> dict[str, Any]:
    """Return target with an RFC 6902 JSON patch applied; a failed `test` or bad path is 422."""
    if not isinstance(operations, list):
        raise ApiError(400, "BadRequest", "a JSON patch must be a list of operations")
    try:
        return jsonpatch.apply_patch(target, operations, in_place=False)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException):
        # kube-apiserver says no more than this (a failed `test` is how kopf detects a lost race).
        raise ApiError(422, "Invalid", "the server rejected our request due to an error in our request", {})


def patch_media_type(content_type: str, custom: bool) -> str:
    """Return the patch media type of a Content-Type header, or raise 415 if it is not accepted."""
    media = content_type.split(";", 1)[0].strip().lower()
    accepted = [JSON_PATCH, MERGE] if custom else [JSON_PATCH, MERGE, STRATEGIC]
    if media not in accepted:
        raise ApiError(415, "UnsupportedMediaType",
                       f"the body of the request was in an unknown format - accepted media types include: "
                       f"{', '.join(accepted)} (the emulator does no server-side apply; got {media!r})")
    return media


def apply_patch(content_type: str, target: dict[str, Any], body: Any, custom: bool = False) -> dict[str, Any]:
    """Return target with a PATCH body of the given Content-Type applied (custom: a CRD-served object)."""
    media = patch_media_type(content_type, custom)
    if media == JSON_PATCH:
        return json_patch(target, body)
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "a merge patch must be a JSON object")
    return merge_patch(target, body) if media == MERGE else strategic_merge_patch(target, body)

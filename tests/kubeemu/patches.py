"""Apply PATCH bodies the way the apiserver does: merge patch, JSON patch, strategic merge patch.

Called by the store for PATCH requests. Pure functions over JSON-like dicts.
Strategic merge patch is treated as a JSON merge patch (lists are replaced, not
merged by key): documented in docs/emulator.md.
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


def json_patch(target: dict[str, Any], operations: Any) -> dict[str, Any]:
    """Return target with an RFC 6902 JSON patch applied; a failed `test` or bad path is 422."""
    if not isinstance(operations, list):
        raise ApiError(400, "BadRequest", "a JSON patch must be a list of operations")
    try:
        return jsonpatch.apply_patch(target, operations, in_place=False)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: {exc}")
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: {exc}")


def apply_patch(content_type: str, target: dict[str, Any], body: Any) -> dict[str, Any]:
    """Return target with a PATCH body of the given Content-Type applied."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == JSON_PATCH:
        return json_patch(target, body)
    if media in (MERGE, STRATEGIC):
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "a merge patch must be a JSON object")
        return merge_patch(target, body)
    raise ApiError(415, "UnsupportedMediaType",
                   f"the body of the request was in an unknown format - accepted media types include: "
                   f"{JSON_PATCH}, {MERGE}, {STRATEGIC} (the emulator does not do server-side apply: got {media!r})")

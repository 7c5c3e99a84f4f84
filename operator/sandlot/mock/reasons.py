"""Put a refusal's real reason into the error body an operation documents. Pure.

Called by the engine (mock/engine.py, `Engine.refuse`) when Sandlot's own problem document
does not fit the documented error schema: the documented body (its example, else a generated
one) is the skeleton, and the fields that carry a message get the reason instead of made-up
text: `message`, `detail`, `error` ... get the summary, a list of strings (RealWorld's
`{"errors": {"body": [...]}}`) one entry per violation, a list of objects (JSON:API's
`{"errors": [{"status", "title", "detail"}]}`) one object per violation, and status fields the
status. The engine validates the result and keeps the skeleton where the schema refuses it.
"""

from __future__ import annotations

import copy
import http
from collections.abc import Sequence
from typing import Any

#: Fields (lower case, without `_`/`-`) that carry the message.
MESSAGE_FIELDS = frozenset({"message", "detail", "details", "error", "errormessage", "errordescription",
                            "description", "reason", "msg", "text", "errortext"})
TITLE_FIELDS = frozenset({"title", "summary"})
STATUS_FIELDS = frozenset({"status", "statuscode", "httpstatus", "httpstatuscode", "httpcode"})


def _normal(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def explain_error(skeleton: Any, status: int, detail: str, messages: Sequence[str] = ()) -> Any:
    """Return the skeleton error body with the refusal's reason in it: `detail` in message
    fields, `messages` (one per violation, else `detail`) in lists, `status` in status fields."""
    messages = list(messages) or [detail]
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = detail

    def fill(node: Any, text: str, depth: int) -> Any:
        if depth > 4:
            return node
        if isinstance(node, list):
            if node and all(isinstance(item, str) for item in node):
                return list(messages)
            if node and all(isinstance(item, dict) for item in node):
                return [fill(copy.deepcopy(node[0]), message, depth + 1) for message in messages]
            return node
        if not isinstance(node, dict):
            return node
        out = dict(node)
        for name, value in node.items():
            kind = _normal(name)
            if kind in STATUS_FIELDS and isinstance(value, (int, str)) and not isinstance(value, bool):
                out[name] = status if isinstance(value, int) else str(status)
            elif kind in TITLE_FIELDS and isinstance(value, str):
                out[name] = phrase
            elif kind in MESSAGE_FIELDS and isinstance(value, str):
                out[name] = text
            elif isinstance(value, list) and value and all(isinstance(item, str) for item in value):
                out[name] = list(messages)
            elif isinstance(value, (dict, list)):
                out[name] = fill(value, text, depth + 1)
        return out

    return fill(skeleton, detail, 0)

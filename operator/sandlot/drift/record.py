"""`--record DIR`: keep the real API's responses, redacted, for later offline use.

Called by the proxy stage (drift/stage.py): `save` after each forwarded request to a documented
operation, `write_examples` when the proxy stops. DIR holds:

- `responses/<operationId>/<status>-<digest>.json`: one file per distinct response (request
  line, status, headers, body, media type, the drift rules it broke), at most RECORD_LIMIT per
  operation and status, credentials and secrets replaced by `REDACTED` (drift/redact.py);
- `openapi.json`: the spec (bundled into one file) with every recorded response that matched
  it added as a named example (`recorded-1`, `recorded-2`, ...) of its operation, status and
  media type, first, so `sandlot mock DIR/openapi.json` answers with real responses offline
  (`Prefer: example=recorded-2` picks another). Responses that drifted are kept in `responses/`
  but never become examples: the mock only sends what the spec allows.

Runs add up: `openapi.json` is rebuilt from every file in `responses/`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import re
import threading
import time
from pathlib import Path
from typing import Any

from sandlot.drift.redact import redact_headers, redact_query, redact_value
from sandlot.drift.upstream import UpstreamResponse
from sandlot.mock.conformance import Finding
from sandlot.mock.engine import Engine, Match, Operation
from sandlot.mock.messages import MockRequest
from sandlot.mock.negotiate import is_json, match_declared, media_type
from sandlot.util.pointers import deref

log = logging.getLogger("sandlot.drift")

#: Distinct responses kept per operation and status.
RECORD_LIMIT = 20
EXAMPLES_FILE = "openapi.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def operation_slug(operation: Operation) -> str:
    """Return the folder name of an operation's recordings: its operationId, else METHOD_path."""
    name = operation.operation_id or f"{operation.method}_{operation.path}"
    return _UNSAFE.sub("_", name).strip("_") or "operation"


class Recorder:
    """Write redacted real responses under a directory (thread-safe)."""

    def __init__(self, directory: str | Path, upstream: str) -> None:
        self.directory = Path(directory)
        self.upstream = upstream
        (self.directory / "responses").mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def save(self, match: Match, req: MockRequest, real: UpstreamResponse, findings: list[Finding],
             secret_names: frozenset[str] = frozenset()) -> Path | None:
        """Keep one response (redacted); return its file, or None when it is a repeat or over the limit."""
        content_type = next((v for k, v in real.headers if k == "content-type"), None)
        body: Any
        if real.body and content_type and is_json(media_type(content_type)):
            try:
                body = redact_value(json.loads(real.body))
            except ValueError:
                body = None
        elif real.body:
            text = real.body.decode("utf-8", "replace")
            body = redact_value(text)
        else:
            body = None
        drifted = sorted({f.rule for f in findings if f.rule.startswith("response-")})
        kept = {"status": real.status, "mediaType": media_type(content_type) or None, "body": body}
        digest = hashlib.blake2b(json.dumps(kept, sort_keys=True, default=str).encode(), digest_size=6).hexdigest()
        folder = self.directory / "responses" / operation_slug(match.operation)
        target = folder / f"{real.status}-{digest}.json"
        record = {"operation": f"{match.operation.method} {match.operation.path}",
                  "operationId": match.operation.operation_id,
                  "request": {"method": req.method, "path": req.path, "query": redact_query(req.query, secret_names)},
                  **kept, "headers": redact_headers(real.headers, secret_names),
                  "drift": drifted, "upstream": self.upstream, "recordedAt": time.time()}
        with self._lock:
            if target.exists() or len(list(folder.glob(f"{real.status}-*.json"))) >= RECORD_LIMIT:
                return None
            folder.mkdir(parents=True, exist_ok=True)
            scratch = target.with_suffix(".tmp")
            scratch.write_text(json.dumps(record, indent=2, ensure_ascii=False, default=str) + "\n",
                               encoding="utf-8")
            scratch.replace(target)
        return target

    def write_examples(self, engine: Engine) -> Path:
        """Rebuild DIR/openapi.json from every recorded response that matched the spec."""
        with self._lock:
            recorded = []
            for path in sorted((self.directory / "responses").glob("*/*.json")):
                try:
                    recorded.append(json.loads(path.read_text(encoding="utf-8")))
                except (OSError, ValueError):
                    log.warning("skipping %s: not a recorded response", path)
            document = with_recorded_examples(engine, recorded)
            target = self.directory / EXAMPLES_FILE
            scratch = target.with_suffix(".tmp")
            scratch.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
            scratch.replace(target)
        return target


def with_recorded_examples(engine: Engine, recorded: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the engine's bundled spec with each conforming recorded JSON response as a named
    example, recorded ones first (oldest first) and the documented ones after them."""
    document: dict[str, Any] = json.loads(engine.bundled_json())
    added: dict[int, list[Any]] = {}
    entries: dict[int, dict[str, Any]] = {}
    for item in sorted(recorded, key=lambda r: (r.get("recordedAt") or 0, str(r.get("operation")))):
        if item.get("drift") or item.get("body") is None or not is_json(str(item.get("mediaType") or "")):
            continue
        method, _, template = str(item.get("operation", "")).partition(" ")
        operation = engine.operation(method, template)
        status = item.get("status")
        if operation is None or not isinstance(status, int):
            continue  # the spec changed since the recording
        chosen = engine.plan(operation).response.documented(status)
        entry = _media_entry(document, operation, chosen.key if chosen else None, str(item["mediaType"]))
        if entry is None:
            continue
        entries[id(entry)] = entry
        added.setdefault(id(entry), []).append(item["body"])
    for key, bodies in added.items():
        entry = entries[key]
        existing = dict(entry.get("examples") or {})
        if "example" in entry:
            existing.setdefault("documented", {"value": entry.pop("example")})
        entry["examples"] = {**{f"recorded-{n}": {"summary": "a real response, recorded by sandlot mock --proxy",
                                                  "value": body} for n, body in enumerate(bodies, 1)},
                             **existing}
    return document


def _media_entry(document: dict[str, Any], operation: Operation, key: str | None,
                 media: str) -> dict[str, Any] | None:
    """Return the operation's own copy of a response's media entry (shared `$ref`s are inlined
    first, so an example recorded for one operation never shows up in another)."""
    if key is None:
        return None
    item = deref(document, document.get("paths", {}).get(operation.path))
    node = item.get(operation.method.lower()) if isinstance(item, dict) else None
    responses = node.get("responses") if isinstance(node, dict) else None
    if not isinstance(responses, dict):
        return None
    name = next((k for k in responses if str(k).upper() == key.upper()), None)
    if name is None:
        return None
    response = responses[name]
    if "$ref" in response:
        response = responses[name] = copy.deepcopy(deref(document, response))
    content = response.get("content")
    if not isinstance(content, dict):
        return None
    declared = match_declared(content, media)
    if declared is None:
        return None
    entry = content[declared]
    if "$ref" in entry:
        entry = content[declared] = copy.deepcopy(deref(document, entry))
    return entry if isinstance(entry, dict) else None

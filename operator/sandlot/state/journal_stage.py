"""The journal stage: record every API request a stub answers, for `GET /__sandlot/requests`,
`sandlot requests` and the inspector page.

Composed by http/compose.py right after the admin router (so `/__sandlot/` calls are not
recorded) and before the simulation, so it sees the final answer, the scenario chosen, the
tenant and the time every stage took. The request path only takes a timestamp and appends
(context, response) to a buffer; the costly part (tenant, operation, redaction, capped bodies,
the explanation of a 4xx, the SQLite write) runs once per batch: when 64 requests are waiting,
a quarter of a second after the first of them (on the server's event loop), or when someone
reads the journal. So the stateless mock keeps nearly all its speed (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from sandlot.mock.context import Next, RequestContext
from sandlot.mock.engine import Engine, Match
from sandlot.mock.explain import explain
from sandlot.mock.messages import MockResponse
from sandlot.state.journal import JournalStore, Row
from sandlot.state.redact import redact_body, redact_headers, redact_query, secret_names

log = logging.getLogger("sandlot.journal")

#: Requests buffered before one write, and the longest the first of them waits.
BATCH = 64
FLUSH_SECONDS = 0.25
#: The tenant recorded for a credential no tenant has (stateful: unknown or revoked key).
UNKNOWN_TENANT = "unknown"
#: Cached redacted header sets (requests from one client repeat theirs).
_HEADER_CACHE = 512
_TEXTUAL = ("json", "text", "xml", "form", "yaml", "javascript", "graphql", "csv", "html")

Pending = tuple[RequestContext, MockResponse, float, float]


class JournalStage:
    """Record each request passing through (see the module docstring); read through `store`."""

    def __init__(self, store: JournalStore, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._pending: list[Pending] = []
        self._timer: asyncio.TimerHandle | None = None
        self._headers: dict[tuple[Any, ...], str] = {}
        self._operations: dict[tuple[int, str, str], tuple[str | None, str | None]] = {}
        self._secret_names: tuple[int, frozenset[str]] = (0, frozenset())

    def __call__(self, ctx: RequestContext, call_next: Next) -> MockResponse:
        """Answer through the next stages and record the exchange."""
        started = time.perf_counter()
        response = call_next(ctx)
        self._pending.append((ctx, response, self.clock(), time.perf_counter() - started))
        if len(self._pending) >= BATCH:
            self.flush()
        elif self._timer is None:
            try:
                self._timer = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)
            except RuntimeError:  # called in-process, outside a server: readers flush
                pass
        return response

    def flush(self) -> int | None:
        """Write the buffered requests; return the id of the last one written (None: nothing was)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending = self._pending, []
        if not pending:
            return None
        rows = []
        for item in pending:
            try:
                rows.append(self._row(*item))
            except Exception:  # noqa: BLE001 - a request the journal cannot describe is still answered
                log.exception("cannot journal %s %s", item[0].request.method, item[0].request.path)
        return self.store.append(rows, self.clock())

    def close(self) -> None:
        """Write what is buffered and close the store."""
        self.flush()
        self.store.close()

    # -- one row ---------------------------------------------------------------------------
    def _names(self, engine: Engine) -> frozenset[str]:
        if self._secret_names[0] != id(engine):
            self._secret_names = (id(engine), secret_names(engine.spec.document))
        return self._secret_names[1]

    def _redacted_headers(self, headers: Any, extra: frozenset[str]) -> str:
        key = tuple(headers)
        found = self._headers.get(key)
        if found is None:
            if len(self._headers) >= _HEADER_CACHE:
                self._headers.clear()
            found = self._headers[key] = json.dumps(redact_headers(key, extra), ensure_ascii=False)
        return found

    def _operation(self, ctx: RequestContext) -> tuple[str | None, str | None]:
        """Return the request's (operation name, route) without routing twice."""
        routed = ctx.routed
        if routed is None:
            req = ctx.request
            key = (id(ctx.engine), req.method, req.path)
            known = self._operations.get(key)
            if known is not None:
                return known
            if len(self._operations) >= 4096:
                self._operations.clear()
            routed = ctx.route()
            found = _names_of(routed)
            self._operations[key] = found
            return found
        return _names_of(routed)

    def _body(self, raw: bytes, content_type: str | None, side: str, extra: dict[str, Any]) -> str:
        """Return the body as text, capped and redacted; note in `extra` when it is binary or cut."""
        if not raw:
            return ""
        if content_type and not any(t in content_type for t in _TEXTUAL):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                extra[f"{side}_binary"] = True
                return ""
        cap = self.store.settings.body_bytes
        if len(raw) > cap:
            extra[f"{side}_truncated"] = True
            raw = raw[:cap]
        return redact_body(raw.decode("utf-8", "replace"))

    def _row(self, ctx: RequestContext, response: MockResponse, at: float, seconds: float) -> Row:
        req = ctx.request
        extra_names = self._names(ctx.engine)
        operation, route = self._operation(ctx)
        extra: dict[str, Any] = {}
        if route:
            extra["route"] = route
        errors = 0
        if 400 <= response.status < 500:
            explanation = explain(ctx.engine, req, response, ctx.routed)
            if explanation is not None:
                extra["explanation"] = explanation
                errors = len(explanation.get("errors") or ())
        if ctx.edge is not None and ctx.edge.kind != "stream":
            extra["edge"] = {"kind": ctx.edge.kind, "seconds": ctx.edge.seconds}
        if ctx.replay_of is not None:
            extra["replay_of"] = ctx.replay_of
        request_body = self._body(req.body, req.headers.get("content-type"), "request", extra)
        response_body = self._body(response.body, response.header("content-type"), "response", extra)
        return (ctx.tenant or UNKNOWN_TENANT, at, req.method, req.path, redact_query(req.query, extra_names),
                operation, response.status, round(seconds * 1000, 3), ctx.scenario, errors,
                self._redacted_headers(req.headers.items(), extra_names), request_body, len(req.body),
                self._redacted_headers(response.headers, extra_names), response_body, len(response.body),
                json.dumps(extra, ensure_ascii=False) if extra else None)


def _names_of(routed: Match | MockResponse) -> tuple[str | None, str | None]:
    if not isinstance(routed, Match):
        return None, None
    op = routed.operation
    route = f"{op.method} {op.path}"
    return op.operation_id or route, route

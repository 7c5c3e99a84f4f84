"""The journal stage: record every API request a stub answers, for `GET /__sandlot/requests`,
`sandlot requests` and the inspector page.

Composed by http/compose.py right after the admin router (so `/__sandlot/` calls are not
recorded) and before the simulation, so it sees the final answer, the scenario chosen, the
tenant and the time every stage took. Describing an exchange (tenant, operation, redaction,
capped bodies, the explanation of a 4xx) is the costly part, kept off the request path:

- A journal in a file (stateful: beside the state) buffers (context, response) and describes and
  writes once per batch: when 64 requests are waiting, a quarter of a second after the first of
  them (on the server's event loop), or when someone reads the journal.
- One in memory (the stateless mock's default) keeps each tenant's newest exchanges in a bounded
  queue as they were answered, and describes and writes them into SQLite only when someone
  reads: a mock nobody inspects pays for neither, and an exchange pushed out of the queue is
  never described (docs/performance.md). Only the tenant is settled at once (it picks the queue;
  identified later, a revoked key would name none); an exchange with a body over the cap is
  described (capped) at once, so the queue never holds more than capped bodies' worth, and so is
  a repeat the engine answered from its cache, whose description is remembered.

Either way a repeated exchange (the stateless mock's cached answers) is described once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import deque
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
#: Cached redacted header sets (requests from one client repeat theirs), and described exchanges.
_HEADER_CACHE = 512
_EXCHANGES = 2048
_TEXTUAL = ("json", "text", "xml", "form", "yaml", "javascript", "graphql", "csv", "html")

Pending = tuple[RequestContext, MockResponse, float, float]
#: A repeat held in memory: the row described before (without `at` and `duration_ms`), at, seconds.
Repeat = tuple[Row, float, float]


class JournalStage:
    """Record each request passing through (see the module docstring); read through `store`."""

    def __init__(self, store: JournalStore, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._pending: list[Pending] = []
        # The drift proxy runs its stages on worker threads (http/app.py): one lock for the buffers.
        self._lock = threading.RLock()
        self._timer: asyncio.TimerHandle | None = None
        self._flush_soon = False
        self._headers: dict[tuple[Any, ...], tuple[str, str | None]] = {}
        self._secret_names: tuple[int, frozenset[str]] = (0, frozenset())
        self._textual: dict[str | None, bool] = {}
        self._exchanges: dict[tuple[Any, ...], tuple[MockResponse, Row]] = {}
        # In memory, exchanges wait here undescribed (each tenant's newest `size`) until someone reads.
        self._held: dict[str, deque[Pending | Row | Repeat]] | None = {} if store.path == ":memory:" else None

    def __call__(self, ctx: RequestContext, call_next: Next) -> MockResponse:
        """Answer through the next stages and record the exchange."""
        started = time.perf_counter()
        response = call_next(ctx)
        exchange = (ctx, response, self.clock(), time.perf_counter() - started)
        if self._held is not None:
            self._hold(exchange)
            return response
        with self._lock:
            self._pending.append(exchange)
            full = len(self._pending) >= BATCH
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called in-process, outside a server: a full batch is written now, else readers flush
            if full:
                self.flush(reading=False)
            return response
        if full and not self._flush_soon:
            # At the loop's next turn, not inside this request: the request may be writing in a
            # group with others (state/sqlite_store.py `write_group`), and the journal's rows must
            # not be lost with that group, nor wait for it.
            self._flush_soon = True
            loop.call_soon(self._flush_now)
        elif self._timer is None:
            self._timer = loop.call_later(FLUSH_SECONDS, self.flush, False)
        return response

    def _flush_now(self) -> None:
        self._flush_soon = False
        self.flush(reading=False)

    def flush(self, reading: bool = True) -> int | None:
        """Describe the waiting requests and write them (in memory: only when `reading`);
        return the id of the last entry written now (None: nothing was)."""
        with self._lock:
            return self._flush(reading)

    def _flush(self, reading: bool) -> int | None:
        held = self._held
        if held is None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            pending, self._pending = self._pending, []
            return self.store.append(self._rows(pending) if pending else [], self.clock())
        if not reading or not held:
            return None
        # Arrival order across tenants (a row ends with (at, duration_ms); an exchange is (..., at, seconds),
        # a repeat (row, at, seconds)).
        waiting = sorted((entry for entries in held.values() for entry in entries),
                         key=lambda entry: entry[-2])
        held.clear()
        rows: list[Row] = []
        for entry in waiting:
            if isinstance(entry[0], RequestContext):
                rows.extend(self._rows([entry]))  # type: ignore[list-item]
            elif len(entry) == 3:
                rows.append(entry[0] + (entry[1], round(entry[2] * 1000, 3)))  # type: ignore[operator]
            else:
                rows.append(entry)  # type: ignore[arg-type]
        return self.store.append(rows, self.clock())

    def _hold(self, exchange: Pending) -> None:
        """Queue an exchange under its tenant (in memory), undescribed unless it is a repeat (its
        description is remembered, see `_rows`) or has a body over the cap (described now, capped)."""
        ctx, response = exchange[0], exchange[1]
        entry: Pending | Row | Repeat = exchange
        cap = self.store.settings.body_bytes
        # Only an answer from the engine's cache (not routed) is described now, to be known when
        # it comes again: any other waits undescribed, which is what holding it saves.
        key = self._repeat_key(ctx) if ctx.routed is None else None
        known = self._known_row(key, response)
        if known is not None:
            # A repeat answered from the engine's cache and described before (the static mock's
            # common case): its row and this exchange's time, joined when read (a 3-tuple here,
            # not a new row of 18 fields per request), without the batch machinery.
            entry = (known, exchange[2], exchange[3])
            tenant = known[0]
        elif key is not None or len(ctx.request.body) > cap or len(response.body) > cap:
            with self._lock:  # its caches are shared with the drift proxy's worker threads
                described = self._rows([exchange])
            if not described:
                return
            entry = described[0]
            tenant = entry[0]
        else:
            try:
                tenant = ctx.tenant or UNKNOWN_TENANT
            except Exception:  # noqa: BLE001 - as in _rows: an exchange the journal cannot describe is dropped
                log.exception("cannot journal %s %s", ctx.request.method, ctx.request.path)
                return
        held = self._held
        assert held is not None
        with self._lock:  # the drift proxy answers on worker threads while a reader may sort
            entries = held.get(tenant)
            if entries is None:
                entries = held[tenant] = deque(maxlen=self.store.settings.size)
            entries.append(entry)

    @staticmethod
    def _is_repeat(ctx: RequestContext) -> bool:
        """Tell whether `ctx` may be a repeated exchange: one neither replayed nor acted on at the
        edge, whose description then depends only on the request, its tenant and the response
        (the stateless mock's cached answers and the stateful mode's kept ones are such repeats)."""
        return ctx.replay_of is None and ctx.edge is None

    @classmethod
    def _repeat_key(cls, ctx: RequestContext) -> tuple[Any, ...] | None:
        """Return what identifies a repeated exchange, or None when `ctx` is not one (`_is_repeat`)."""
        if not cls._is_repeat(ctx):
            return None
        req = ctx.request
        # An answer from the stateless engine's cache (not routed) has the tenant its credential
        # names, so the request says it; a routed one's tenant comes from the keys in the store.
        tenant = ctx.tenant if ctx.routed is not None else None
        return (ctx.engine, tenant, req.method, req.path, req.query, req.body, tuple(req.headers.items()),
                ctx.scenario)

    def _known_row(self, key: tuple[Any, ...] | None, response: MockResponse) -> Row | None:
        """Return the row (without `at` and `duration_ms`) of a repeat (`_repeat_key`) described
        before with the same response (the very object, from the engine's cache, or an equal one);
        None when it was not."""
        known = self._exchanges.get(key) if key is not None else None
        if known is None:
            return None
        seen = known[0]
        if seen is not response and (seen.status != response.status or seen.body != response.body
                                     or seen.headers != response.headers):
            return None
        return known[1]

    def _rows(self, pending: list[Pending]) -> list[Row]:
        """Describe buffered requests as journal rows (COLUMNS order)."""
        rows = []
        exchanges = self._exchanges
        for ctx, response, at, seconds in pending:
            req = ctx.request
            key = self._repeat_key(ctx)
            known = self._known_row(key, response)
            if known is not None:
                rows.append(known + (at, round(seconds * 1000, 3)))
                continue
            try:
                described = self._describe(ctx, response)
            except Exception:  # noqa: BLE001 - a request the journal cannot describe is still answered
                log.exception("cannot journal %s %s", req.method, req.path)
                continue
            if key is not None:
                if len(exchanges) >= _EXCHANGES:
                    exchanges.clear()
                exchanges[key] = (response, described)
            rows.append(described + (at, round(seconds * 1000, 3)))
        return rows

    def close(self) -> None:
        """Write what is buffered and close the store."""
        self.flush()
        self.store.close()

    # -- one row ---------------------------------------------------------------------------
    def _names(self, engine: Engine) -> frozenset[str]:
        if self._secret_names[0] != id(engine):
            self._secret_names = (id(engine), secret_names(engine.spec.document))
        return self._secret_names[1]

    def _redacted_headers(self, headers: Any, extra: frozenset[str]) -> tuple[str, str | None]:
        """Return (the headers redacted, as JSON; their content type), cached per header set."""
        key = tuple(headers)
        found = self._headers.get(key)
        if found is None:
            if len(self._headers) >= _HEADER_CACHE:
                self._headers.clear()
            redacted = redact_headers(key, extra)
            content_type = next((v for k, v in key if k.lower() == "content-type"), None)
            found = self._headers[key] = (json.dumps(redacted, ensure_ascii=False), content_type)
        return found

    @staticmethod
    def _operation(ctx: RequestContext) -> tuple[str | None, str | None]:
        """Return the request's (operation name, route): routed already, unless the engine answered
        from its cache (then the exchange is described once and remembered, see `_rows`)."""
        return _names_of(ctx.route())

    def _body(self, raw: bytes, content_type: str | None, side: str, extra: dict[str, Any]) -> str:
        """Return the body as text, capped and redacted; note in `extra` when it is binary or cut."""
        if not raw:
            return ""
        textual = self._textual.get(content_type)
        if textual is None:
            if len(self._textual) >= _HEADER_CACHE:
                self._textual.clear()
            textual = self._textual[content_type] = not content_type or any(t in content_type for t in _TEXTUAL)
        if not textual:
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

    def _describe(self, ctx: RequestContext, response: MockResponse) -> Row:
        """Return what the journal keeps of one exchange (COLUMNS without `at` and `duration_ms`)."""
        req = ctx.request
        extra_names = self._names(ctx.engine)
        operation, route = self._operation(ctx)
        extra: dict[str, Any] = {}
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
        request_headers, request_type = self._redacted_headers(req.headers.items(), extra_names)
        response_headers, response_type = self._redacted_headers(response.headers, extra_names)
        request_body = self._body(req.body, request_type, "request", extra)
        response_body = self._body(response.body, response_type, "response", extra)
        return (ctx.tenant or UNKNOWN_TENANT, req.method, req.path, redact_query(req.query, extra_names),
                operation, route, response.status, ctx.scenario, errors,
                request_headers, request_body, len(req.body), response_headers, response_body, len(response.body),
                json.dumps(extra, ensure_ascii=False) if extra else None)


def _names_of(routed: Match | MockResponse) -> tuple[str | None, str | None]:
    if not isinstance(routed, Match):
        return None, None
    op = routed.operation
    route = f"{op.method} {op.path}"
    return op.operation_id or route, route

"""The ASGI edge: one raw ASGI app that turns each HTTP request into a request context, runs
it through the pipeline's stages and sends the answer.

Built by http/compose.py (`build_app`) for `sandlot mock`, `sandlot mock --stateful`, each
stub of `sandlot up` and the tests; served by http/serve.py. The app is a bare ASGI callable
rather than Starlette: the stages already route, parse and negotiate, so a framework would only
add per-request work (request objects, middleware stack, its own router). Besides reading the
body and sending the response, the edge answers CORS (any origin may call a mock, as Prism
allows), turns an unexpected exception into a 500 problem, and carries out what a stage asked
of it on the context (`ctx.edge`: wait, close or reset the connection, http/edge.py). On its
lifespan it runs the spec watcher (http/reload.py).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterable

from sandlot.http.asgi import Receive, Scope, Send
from sandlot.http.edge import Aborted, act, stream
from sandlot.http.pipeline import Pipeline
from sandlot.http.reload import EngineHolder, watch_spec
from sandlot.mock.context import RequestContext
from sandlot.mock.messages import MockRequest, MockResponse
from sandlot.state.store import NotSaved
from sandlot.util import fastjson

log = logging.getLogger("sandlot.mock")

_MAX_BODY = 32 * 1024 * 1024
_HEADER_UNSAFE = re.compile(r"[\r\n\x00]")

#: An answer given at once (`HttpApp.answer_at_once`): status, head and body to write, or what
#: finishes it through ASGI (an edge action).
AtOnce = tuple[int, list[tuple[bytes, bytes]], bytes] | Callable[[Send, Receive], Awaitable[None]]


class HttpApp:
    """A raw ASGI application answering every request through a pipeline of stages."""

    def __init__(self, pipeline: Pipeline, *, watch: bool = False) -> None:
        self.pipeline = pipeline
        self.watch = watch
        self._watch_task: asyncio.Task[None] | None = None

    @property
    def holder(self) -> EngineHolder:
        """Return the holder of the engine serving now."""
        return self.pipeline.holder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            if self.pipeline.sockets is not None:
                await self.pipeline.sockets(scope, receive, send)
            else:
                await receive()  # websocket.connect
                await send({"type": "websocket.close", "code": 1008})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > _MAX_BODY:
                await _send(send, MockResponse(413, [("content-type", "text/plain")], b"request body too large"))
                return
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1").split("?", 1)[0] if raw_path else scope["path"]
        req = MockRequest(scope["method"], path, scope["query_string"].decode("latin-1"),
                          _headers(scope["headers"]), body)
        if self.pipeline.blocking:  # a proxy waits on the real API: not on the event loop
            ctx, response = await asyncio.to_thread(self._answer, req)
        elif (ticket := self.pipeline.write_ticket()) is None:
            ctx, response = self._answer(req)
        else:
            # A request through ASGI (every one with a body: a create, an update) writes with the
            # others of this loop turn, committed once; it answers when that commit is done
            # (state/sqlite_store.py `write_group`).
            with ticket:
                ctx, response = self._answer(req)
            try:
                await ticket.saved()
            except NotSaved as exc:
                ctx, response = None, _unsaved(exc)
        await self._finish(ctx, response, send, receive)

    @property
    def answer_at_once(self) -> Callable[[str, bytes, bytes, list[tuple[bytes, bytes]]], AtOnce] | None:
        """Return how the server may answer a request without a body outside ASGI (http/serve.py),
        or None when this app must not be called on the event loop (a proxy waits on the real API)."""
        return None if self.pipeline.blocking else self._at_once

    def _at_once(self, method: str, path: bytes, query: bytes, raw_headers: list[tuple[bytes, bytes]]) -> AtOnce:
        """Answer a request without a body: (status, head, body) to write as they are, or, when the
        edge must act (wait, close, stream), what finishes it through ASGI."""
        req = MockRequest(method, path.decode("latin-1"), query.decode("latin-1"), _headers(raw_headers), b"")
        ctx, response = self._answer(req)
        if ctx is not None and ctx.edge is not None:
            return lambda send, receive: self._finish(ctx, response, send, receive)
        return response.status, _wire_head(response), response.body

    def _answer(self, req: MockRequest) -> tuple[RequestContext | None, MockResponse]:
        """Answer `req` through the pipeline (CORS around it); the context is None for a preflight."""
        origin = req.headers.get("origin")
        if origin is not None and req.method == "OPTIONS" and "access-control-request-method" in req.headers:
            return None, cors_preflight(origin, req.headers)
        ctx = self.pipeline.context(req)
        try:
            response = self.pipeline.run(ctx)
        except Exception:  # noqa: BLE001 - one bad request must not take the server down
            log.exception("unhandled error answering %s %s", req.method, req.path)
            response = MockResponse(500, [("content-type", "application/problem+json")],
                                    b'{"type":"about:blank","title":"Internal Server Error","status":500,'
                                    b'"detail":"the mock failed to answer; see the server log"}')
        if origin is not None:
            response = MockResponse(response.status, [*response.headers, *cors_headers(origin)], response.body)
        return ctx, response

    async def _finish(self, ctx: RequestContext | None, response: MockResponse, send: Send, receive: Receive) -> None:
        """Send the answer, carrying out what a stage asked of the edge first."""
        if ctx is not None and ctx.edge is not None and ctx.edge.kind == "stream":
            await stream(ctx.edge, _head(response), response.status, response.body, send, receive)
            return
        if ctx is not None and ctx.edge is not None:
            try:
                await act(ctx.edge, send, receive)
            except Aborted:
                # Let the server see the connection is gone, so it does not answer a 500 itself.
                for _ in range(3):
                    await asyncio.sleep(0)
                return
        await _send(send, response)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.pipeline.resume()
                if self.watch:
                    self._watch_task = asyncio.create_task(watch_spec(self.holder))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._watch_task is not None:
                    self._watch_task.cancel()
                await send({"type": "lifespan.shutdown.complete"})
                return


def cors_headers(origin: str) -> list[tuple[str, str]]:
    """Return the CORS headers that let a browser app on any origin read a mock response."""
    return [("access-control-allow-origin", origin), ("access-control-allow-credentials", "true"),
            ("access-control-expose-headers", "*"), ("vary", "origin")]


def _unsaved(error: Exception) -> MockResponse:
    """The answer to a request whose writes could not be committed (none of them were kept)."""
    detail = (f"the sandbox could not save this request's changes to its state file ({error}); nothing "
              "was changed: retry it, and see the server log if it keeps failing")
    return MockResponse(503, [("content-type", "application/problem+json"), ("retry-after", "1")],
                        fastjson.dumps({"type": "about:blank", "title": "Service Unavailable", "status": 503,
                                        "detail": detail}))


def cors_preflight(origin: str, headers: dict[str, str]) -> MockResponse:
    """Answer a CORS preflight: any origin, method and header may call the mock (as Prism does)."""
    allowed = [("access-control-allow-methods", headers.get("access-control-request-method", "*")),
               ("access-control-allow-headers", headers.get("access-control-request-headers", "*")),
               ("access-control-max-age", "600")]
    return MockResponse(204, [*cors_headers(origin), *allowed], b"")


def _head(response: MockResponse) -> list[tuple[bytes, bytes]]:
    # Generated header values may hold any character: no CR/LF (response splitting), latin-1 only.
    # Most values are printable ASCII, which needs neither the substitution nor the replacement.
    return [(k.encode("latin-1"), v.encode()) if v.isascii() and v.isprintable()
            else (k.encode("latin-1"), _HEADER_UNSAFE.sub(" ", v).encode("latin-1", "replace"))
            for k, v in response.headers]


def _wire_head(response: MockResponse) -> list[tuple[bytes, bytes]]:
    """Return the response's headers as sent, with its Content-Length."""
    headers = _head(response)
    if response.header("content-length") is None:  # a HEAD answer carries the length GET would send
        headers.append((b"content-length", str(len(response.body)).encode()))
    return headers


def _headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Return request headers by lower-case name; a repeated header's values joined with ", "."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in raw:
        name = raw_name.decode("latin-1").lower()
        if name in headers:
            headers[name] = f"{headers[name]}, {raw_value.decode('latin-1')}"
        else:
            headers[name] = raw_value.decode("latin-1")
    return headers


async def _send(send: Send, response: MockResponse) -> None:
    await send({"type": "http.response.start", "status": response.status, "headers": _wire_head(response)})
    await send({"type": "http.response.body", "body": response.body})

"""The HTTP edge of the mock: a raw ASGI app over an engine, and `sandlot mock` itself.

`create_app` builds the app (tests and the stateful layer call it); `run_mock` is the
CLI entry (called by cli.py). The app is a bare ASGI callable rather than Starlette:
the pipeline already does routing, parsing and negotiation, so a framework would
only add per-request work (request objects, middleware stack, its own router).

The engine sits in an `EngineHolder`; the spec watcher swaps `holder.engine` for a
freshly compiled one when the files change. A request reads the reference once, so
in-flight requests finish on the engine they started with. A broken edit keeps the
last good engine serving and logs the file, pointer and problem.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import inspect
import json
import logging
import os
import re
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sandlot.mock.engine import RESERVED_PREFIX, Engine
from sandlot.mock.loader import SpecError
from sandlot.mock.messages import MockRequest, MockResponse

log = logging.getLogger("sandlot.mock")

Handler = Callable[[MockRequest], "Awaitable[MockResponse] | MockResponse"]
_MAX_BODY = 32 * 1024 * 1024
_HEADER_UNSAFE = re.compile(r"[\r\n\x00]")


def freeze_heap() -> None:
    """Move every object alive now (the parsed spec, compiled routes) out of the GC's reach.

    A big spec is millions of objects; without this every full collection walks them all,
    which shows up as 100+ ms pauses in the p99 latency. They are still freed by reference
    counting when a reload drops them.
    """
    gc.collect()
    gc.freeze()


class EngineHolder:
    """The engine currently serving, swapped atomically on reload."""

    def __init__(self, engine: Engine, source: str, seed: int = 0, dynamic: bool = False) -> None:
        self.engine = engine
        self.source = source
        self.seed = seed
        self.dynamic = dynamic
        self.loaded_at = time.time()
        self.reloads = 0
        self.last_error: str | None = None

    def reload(self) -> bool:
        """Load and compile the spec again; swap it in if it is valid. Return whether it was swapped."""
        try:
            engine = Engine.from_source(self.source, seed=self.seed, dynamic=self.dynamic)
        except SpecError as exc:
            self.last_error = str(exc)
            log.error("spec reload failed, still serving the last good version: %s", exc)
            return False
        self.engine = engine
        freeze_heap()
        self.loaded_at = time.time()
        self.reloads += 1
        self.last_error = None
        log.info("reloaded %s: %d operations", self.source, len(engine.operations))
        return True


#: Paths the operator and the kubelet call, which are not use: they do not count as activity.
ACTIVITY_PATH = RESERVED_PREFIX + "activity"
_PROBES = {ACTIVITY_PATH, RESERVED_PREFIX + "health", RESERVED_PREFIX + "snapshot"}


class Activity:
    """When the mock last answered a request: what the operator reads to put an idle sandbox to sleep.

    Every request counts except the operator's and the kubelet's (`/__sandlot/health`,
    `/__sandlot/activity`, `/__sandlot/snapshot`); the rest of the admin API counts, since a test
    suite resetting state is using the sandbox. Kept in memory:
    a restarted stub reports its start as its last activity, so a restart never looks idle.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.started_at = clock()
        self.last_request_at: float | None = None
        self.requests = 0

    def touch(self) -> None:
        """Record one request now."""
        self.last_request_at = self.clock()
        self.requests += 1

    def report(self) -> dict[str, Any]:
        """Return what GET /__sandlot/activity answers (RFC 3339 UTC times; lastRequestAt null when none yet)."""
        def stamp(at: float | None) -> str | None:
            return None if at is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
        return {"startedAt": stamp(self.started_at), "lastRequestAt": stamp(self.last_request_at),
                "requests": self.requests}


class MockApp:
    """A raw ASGI application answering every request through `handler` (the engine by default)."""

    def __init__(self, holder: EngineHolder, *, watch: bool = False,
                 handler_factory: Callable[[EngineHolder], Handler] | None = None) -> None:
        self.holder = holder
        self.watch = watch
        self.activity = Activity()
        self.handler: Handler = handler_factory(holder) if handler_factory else self._engine_handler
        self._is_async = inspect.iscoroutinefunction(self.handler)
        self._watch_task: asyncio.Task[None] | None = None

    def _engine_handler(self, req: MockRequest) -> MockResponse:
        if req.path == RESERVED_PREFIX + "health":
            engine = self.holder.engine
            body = {"status": "ok", "operations": len(engine.operations), "reloads": self.holder.reloads,
                    "last_reload_error": self.holder.last_error}
            return MockResponse(200, [("content-type", "application/json")], json.dumps(body).encode())
        if req.path == RESERVED_PREFIX + "openapi.json":
            return MockResponse(200, [("content-type", "application/json")], self.holder.engine.bundled_json())
        return self.holder.engine.handle(req)

    def set_handler(self, handler: Handler) -> None:
        """Replace the request handler (the stateful layer wraps the engine with its own)."""
        self.handler = handler
        self._is_async = inspect.iscoroutinefunction(handler)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > _MAX_BODY:
                await _send(send, MockResponse(413, [("content-type", "text/plain")], b"request body too large"))
                return
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1").split("?", 1)[0] if raw_path else scope["path"]
        req = MockRequest(scope["method"], path, scope["query_string"].decode("latin-1"), headers, body)
        if path == ACTIVITY_PATH and req.method in ("GET", "HEAD"):
            await _send(send, MockResponse(200, [("content-type", "application/json")],
                                           json.dumps(self.activity.report()).encode()))
            return
        if path not in _PROBES:
            self.activity.touch()
        origin = headers.get("origin")
        if origin is not None and req.method == "OPTIONS" and "access-control-request-method" in headers:
            await _send(send, cors_preflight(origin, headers))
            return
        try:
            result = self.handler(req)
            response = await result if self._is_async or inspect.isawaitable(result) else result
        except Exception:  # noqa: BLE001 - one bad request must not take the server down
            log.exception("unhandled error answering %s %s", req.method, req.path)
            response = MockResponse(500, [("content-type", "application/problem+json")],
                                    b'{"type":"about:blank","title":"Internal Server Error","status":500,'
                                    b'"detail":"the mock failed to answer; see the server log"}')
        if origin is not None:
            response = MockResponse(response.status, [*response.headers, *cors_headers(origin)], response.body)
        await _send(send, response)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
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


def cors_preflight(origin: str, headers: dict[str, str]) -> MockResponse:
    """Answer a CORS preflight: any origin, method and header may call the mock (as Prism does)."""
    allowed = [("access-control-allow-methods", headers.get("access-control-request-method", "*")),
               ("access-control-allow-headers", headers.get("access-control-request-headers", "*")),
               ("access-control-max-age", "600")]
    return MockResponse(204, [*cors_headers(origin), *allowed], b"")


async def _send(send: Any, response: MockResponse) -> None:
    # Generated header values may hold any character: no CR/LF (response splitting), latin-1 only.
    headers = [(k.encode("latin-1"), _HEADER_UNSAFE.sub(" ", v).encode("latin-1", "replace"))
               for k, v in response.headers]
    if response.header("content-length") is None:  # a HEAD answer carries the length GET would send
        headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


async def watch_spec(holder: EngineHolder) -> None:
    """Reload the engine whenever one of the spec's files changes (runs until cancelled)."""
    import watchfiles

    while True:
        files = {os.path.realpath(f) for f in holder.engine.files}
        if not files:
            return
        # Watch the directories, not the files: editors that save by renaming a new file over
        # the old one would otherwise leave a watch on a deleted inode.
        folders = sorted({os.path.dirname(f) for f in files})
        async for _changes in watchfiles.awatch(
            *folders, watch_filter=lambda _change, path: os.path.realpath(path) in files,
            recursive=False, debounce=200, step=50,
        ):
            await asyncio.to_thread(holder.reload)
            if {os.path.realpath(f) for f in holder.engine.files} != files:  # files added/removed: re-arm
                break


def create_app(spec: str, *, seed: int = 0, watch: bool = True, dynamic: bool = False,
               handler_factory: Callable[[EngineHolder], Handler] | None = None) -> MockApp:
    """Load a spec and build the ASGI app serving it (raises SpecError for a broken spec)."""
    engine = Engine.from_source(spec, seed=seed, dynamic=dynamic)
    return MockApp(EngineHolder(engine, spec, seed, dynamic), watch=watch, handler_factory=handler_factory)


def run_mock(args: argparse.Namespace) -> int:
    """Run `sandlot mock`: check the spec, or serve it until interrupted. Return the exit code."""
    logging.basicConfig(level=str(args.log_level).upper(), format="%(asctime)s %(levelname)s %(message)s")
    started = time.perf_counter()
    if args.check:
        from sandlot.mock.check import check_spec

        try:
            count = check_spec(args.spec)
        except SpecError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except Exception as exc:  # noqa: BLE001 - --check reports, it never shows a traceback
            print(f"error: {args.spec}: the spec cannot be checked: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
        print(f"OK: {count} operations")
        return 0
    from sandlot.sandbox.serve import spec_source
    from sandlot.sandbox.simulated_app import simulate_from_args
    from sandlot.seed.sources import SourceError

    try:
        # A ConfigMap manifest (as `kubectl apply`d) is served from its OpenAPI key.
        spec = spec_source(args.spec, Path(tempfile.gettempdir()) / f"sandlot-mock-{os.getpid()}.db")
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        app = create_app(spec, seed=args.seed, watch=not args.no_watch, dynamic=getattr(args, "dynamic", False))
        app = simulate_from_args(app, args)  # scenarios, magic values, webhooks (docs/scenarios.md)
    except (SpecError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        sock = listen_socket(args.host, args.port)
    except OSError as exc:
        print(f"error: {bind_error(args.host, args.port, exc)}", file=sys.stderr)
        return 2
    import uvicorn

    freeze_heap()
    engine = app.holder.engine
    port = sock.getsockname()[1]
    log.info("Serving %d operations from %s at http://%s:%d (loaded in %.2f s)",
             len(engine.operations), args.spec, args.host, port, time.perf_counter() - started)
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    config = uvicorn.Config(app, host=args.host, port=port, access_log=False, http="httptools", loop=loop,
                            log_level=str(args.log_level).lower(), lifespan="on")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


def listen_socket(host: str, port: int) -> socket.socket:
    """Bind a TCP socket on host:port the way uvicorn would (raises OSError, e.g. the port is in use).

    Binding here, before uvicorn, turns a busy port into a clear message and exit code 2
    instead of uvicorn's bare log line and exit 3, and leaves no gap for another process.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: restart past TIME_WAIT
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def bind_error(host: str, port: int, exc: OSError) -> str:
    """Return the message for a listen socket that could not be bound, with the way out."""
    if exc.errno == errno.EADDRINUSE:
        try:
            with listen_socket(host, 0) as free:
                other = f"--port {free.getsockname()[1]}"
        except OSError:
            other = "another --port"
        return f"port {port} on {host} is in use; pass {other} or stop the other server"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}; pass another --host or --port"

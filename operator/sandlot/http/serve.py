"""Serving with uvicorn: listen sockets with clear errors, and a server that stops gracefully.

Called by the command line (`sandlot mock`, `sandlot mock --stateful`: cli/mock.py) and by
`sandlot up` (up.py); the only module that knows uvicorn. `serve_workers` runs several worker
processes on one listening socket (`--workers N`): forked after the spec is loaded, so they
share its memory, each serving with its own event loop and its own connections to the state file.

uvicorn (>= 0.29) re-raises the signal that stopped it once it has shut down, so the caller's
`finally` blocks and clean-up (writing the request journal, closing the stores, removing
temporary files) never run and the
process dies with 130/143. Kubernetes stops pods with SIGTERM, so that loses data. Here the
signal only asks the server to stop: it finishes the requests in flight, `run` returns, and
the caller cleans up and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import Any

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from sandlot.http.asgi import ASGIApp

#: The signals that stop the server gracefully (a second one forces it).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

log = logging.getLogger("sandlot.http")

#: Workers replaced before `serve_workers` gives up (a worker that cannot start fails at once).
MAX_WORKER_FAILURES = 10


class _OneWritePerTurn:
    """A connection's transport that sends what is written during one turn of the event loop in
    one write: uvicorn writes a response's head and its body separately, two send() calls and
    two TCP segments for every small answer; joined, they are one (a profile under load put a
    third of the server's time in those writes). Bytes go out in the order written, at the end
    of the turn at the latest (`call_soon`), and before the connection is closed."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: Any, loop: Any) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes) -> None:
        if self._held:
            self._held.append(data)
            self.flush()  # a head and then its body: the common case goes out at once
            return
        self._held.append(data)
        self._loop.call_soon(self.flush)

    def write_whole(self, data: bytes) -> None:
        """Write a whole response at once (after anything held: bytes keep their order)."""
        if self._held:
            self._held.append(data)
            self.flush()
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held:
            self._held = []
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held = []
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:  # everything else is the transport's
        return getattr(self._transport, name)


class _NoEvent:
    """What `_Answering` has for uvicorn's message event: the request is whole, nobody waits."""

    __slots__ = ()

    def set(self) -> None:
        pass


class _Answering:
    """Stands where uvicorn keeps a request's RequestResponseCycle while the request is answered at
    once: uvicorn's code reads these fields (a request arriving meanwhile is queued behind it,
    a lost connection or a graceful shutdown is noted on it)."""

    __slots__ = ("disconnected", "keep_alive", "more_body", "response_complete")
    message_event = _NoEvent()

    def __init__(self, keep_alive: bool) -> None:
        self.keep_alive = keep_alive
        self.response_complete = False
        self.more_body = False
        self.disconnected = False


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, each connection writing through _OneWritePerTurn, and a request
    without a body answered without ASGI when the app can (`answer_at_once`, http/app.py).

    A profile of the mock under load put a third of the server's time in uvicorn's per-request
    machinery around the app: the scope, a RequestResponseCycle with its event, an asyncio task
    per request, the ASGI messages and their checks. A request without a body (no Content-Length
    or a zero one, no Transfer-Encoding, no Expect, no upgrade, nothing ahead of it on the
    connection) has all it needs once its headers are parsed: it is answered on the loop's next
    turn (as uvicorn's task would run: the loop reads every ready connection first, which
    answering inside the parser's callback loses), its response written in one piece, and
    uvicorn's own `on_response_complete` does the rest (keep-alive timer, the next pipelined
    request). Anything else, and an answer the edge must act on (a delay, a close, a stream),
    goes through uvicorn's cycle as before.
    """

    def connection_made(self, transport: Any) -> None:
        super().connection_made(_OneWritePerTurn(transport, self.loop))  # type: ignore[arg-type] # duck-typed
        at_once = getattr(self.app, "answer_at_once", None)
        for_port = getattr(self.app, "answer_at_once_for", None)  # sandlot up: a stub per listening port
        if for_port is not None and self.server is not None:
            at_once = for_port(self.server[1])
        usable = not self.access_log and self.limit_concurrency is None and not self.root_path
        self._at_once = at_once if usable else None

    def on_message_begin(self) -> None:
        if self._at_once is None:
            super().on_message_begin()
            return
        self.url = b""
        self.expect_100_continue = False
        self.headers = []
        self.scope = None  # type: ignore[assignment] # made when uvicorn's path needs it (_scope)

    def _base_scope(self, headers: list[tuple[bytes, bytes]], http_version: str) -> dict[str, Any]:
        """Return the scope uvicorn's on_message_begin makes for a request with these headers."""
        return {"type": "http", "asgi": {"version": self.asgi_version, "spec_version": "2.3"},
                "http_version": http_version, "server": self.server, "client": self.client, "scheme": self.scheme,
                "root_path": self.root_path, "headers": headers, "state": self.app_state.copy()}

    def _scope(self) -> None:
        """Make the scope uvicorn's on_message_begin would have made (on_headers_complete fills it)."""
        if self.scope is None or self.scope.get("headers") is not self.headers:
            self.scope = self._base_scope(self.headers, "1.1")  # type: ignore[assignment] # as uvicorn's own

    def on_headers_complete(self) -> None:
        at_once = self._at_once
        parser = self.parser
        if (at_once is None or self.expect_100_continue or (self.cycle is not None and not self.cycle.response_complete)
                or parser.should_upgrade() or not _bodyless(self.headers)):
            if at_once is not None:
                self._scope()
            super().on_headers_complete()
            return
        try:
            url = httptools.parse_url(self.url)
        except httptools.HttpParserInvalidURLError:
            self._scope()
            super().on_headers_complete()  # uvicorn's answer to a URL it cannot read
            return
        version = parser.get_http_version()
        answering = _Answering(version != "1.0" and parser.should_keep_alive())
        self.cycle = answering  # type: ignore[assignment] # see _Answering
        self.loop.call_soon(self._answer, answering, parser.get_method(), url.path, url.query or b"", self.headers,
                            version)

    def _answer(self, answering: _Answering, method: bytes, path: bytes, query: bytes,
                headers: list[tuple[bytes, bytes]], version: str) -> None:
        if answering.disconnected or self.transport.is_closing():
            return
        verb = method.decode("ascii")
        found = self._at_once(verb, path, query, headers)  # type: ignore[misc] # set when this runs
        if callable(found) or not _writable(found, verb):
            self._through_asgi(answering, verb, path, query, headers, version, found)
            return
        status, head, body = found
        # The head as uvicorn's RequestResponseCycle.send writes it: names in lower case, a
        # `Connection: close` from the app ends keep-alive, one is added when keep-alive is off.
        content = [STATUS_LINE[status]]
        keep_alive, has_close = answering.keep_alive, False
        for name, value in (*self.server_state.default_headers, *head):
            name = name.lower()
            content += (name, b": ", value, b"\r\n")
            if name == b"connection" and b"close" in (token.lower().strip() for token in value.split(b",")):
                keep_alive, has_close = False, True
        if not keep_alive and not has_close:
            content.append(b"connection: close\r\n")
        content.append(b"\r\n")
        if verb != "HEAD":
            content.append(body)
        self.transport.write_whole(b"".join(content))  # type: ignore[attr-defined] # a _OneWritePerTurn
        answering.response_complete = True
        if not keep_alive:
            self.transport.close()
        self.on_response_complete()

    def _through_asgi(self, answering: _Answering, verb: str, path: bytes, query: bytes,
                      headers: list[tuple[bytes, bytes]], version: str, found: Any) -> None:
        """Finish an answer through uvicorn's cycle: an edge action, or a head uvicorn must judge."""
        scope = {**self._base_scope(headers, version), "method": verb, "raw_path": path, "query_string": query,
                 "path": urllib.parse.unquote(path.decode("ascii", "replace"))}
        cycle = RequestResponseCycle(
            scope=scope, transport=self.transport, flow=self.flow, logger=self.logger,  # type: ignore[arg-type]
            access_logger=self.access_logger, access_log=self.access_log,
            default_headers=self.server_state.default_headers, message_event=asyncio.Event(),
            expect_100_continue=False, keep_alive=answering.keep_alive, on_response=self.on_response_complete)
        cycle.more_body = False
        cycle.message_event.set()
        if self.cycle is answering:  # type: ignore[comparison-overlap] # see _Answering
            self.cycle = cycle
        if callable(found):
            finish = found
        else:
            status, head, body = found

            async def finish(send: Any, receive: Any) -> None:
                await send({"type": "http.response.start", "status": status, "headers": head})
                await send({"type": "http.response.body", "body": body})
        self._start_asgi_task(cycle, lambda scope, receive, send: finish(send, receive))


def _bodyless(headers: Sequence[tuple[bytes, bytes]]) -> bool:
    """Tell whether a request with these headers (names in lower case, as uvicorn keeps them) has no body."""
    for name, value in headers:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return False
    return True


def _writable(found: tuple[int, list[tuple[bytes, bytes]], bytes], verb: str) -> bool:
    """Tell whether an answer can be written as it is: names and values uvicorn would accept, and a
    Content-Length that is the body's (a HEAD answer's is GET's). Otherwise uvicorn's cycle
    judges it, as it did every answer before (a 500 for a bad header)."""
    status, head, body = found
    if status not in STATUS_LINE:
        return False
    for name, value in head:
        if HEADER_RE.search(name) or HEADER_VALUE_RE.search(value):
            return False
        if name == b"content-length" and verb != "HEAD" and value != str(len(body)).encode():
            return False
        if name == b"transfer-encoding":
            return False
    return True


class GracefulServer(uvicorn.Server):
    """A uvicorn server whose stop signals are handled here and never re-raised."""

    #: The signal that stopped the server, or None while it runs.
    stopped_by: int | None = None
    #: The signals handled while serving (a worker process leaves SIGINT to its parent).
    stop_signals: tuple[signal.Signals, ...] = STOP_SIGNALS

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Install the stop handlers while serving; restore the previous ones afterwards."""
        if threading.current_thread() is not threading.main_thread():
            yield  # signals can only be handled in the main thread
            return
        previous = {sig: signal.signal(sig, self._stop) for sig in self.stop_signals}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, sig: int, frame: FrameType | None) -> None:
        # The first signal drains the requests in flight; a second one stops at once.
        if self.should_exit:
            self.force_exit = True
        self.should_exit = True
        self.stopped_by = sig


def make_server(app: ASGIApp, **config: Any) -> GracefulServer:
    """Return the server that serves `app` (uvicorn.Config keyword arguments in `config`): the
    protocol above, no proxy headers, no Server header. The tests' servers are made here too."""
    # No proxy headers: a stub has no use for the client's address behind a proxy, and uvicorn's
    # middleware for them wraps every request; no Server header either (it would name uvicorn).
    config = {"proxy_headers": False, "server_header": False, "http": OneWriteHttpToolsProtocol, **config}
    return GracefulServer(uvicorn.Config(app, **config))


def serve_until_stopped(app: ASGIApp, *, sockets: Sequence[socket.socket] | None = None,
                        stop_signals: tuple[signal.Signals, ...] = STOP_SIGNALS, **config: Any) -> int | None:
    """Serve `app` (uvicorn.Config keyword arguments in `config`) until SIGINT/SIGTERM;
    return the signal that stopped it (None if it stopped on its own)."""
    server = make_server(app, **config)
    server.stop_signals = stop_signals
    server.run(sockets=list(sockets) if sockets is not None else None)
    return server.stopped_by


def serve_workers(app: ASGIApp, sock: socket.socket, workers: int, *, before_fork: Callable[[], None],
                  in_worker: Callable[[], None], worker_done: Callable[[], None], **config: Any) -> int | None:
    """Serve `app` from `workers` forked processes accepting on `sock` until SIGINT/SIGTERM;
    return the signal that stopped them.

    `before_fork` runs once here (close what a child must not share, such as a database
    connection), `in_worker` first thing in each worker (open its own) and `worker_done` when a
    worker has drained its requests. A stop signal here is passed on to every worker as SIGTERM,
    so each finishes its requests in flight (Ctrl-C's SIGINT to the whole process group is left
    to this process); a worker that dies otherwise is replaced."""
    sock.listen(2048)  # connections wait in the queue until a worker accepts
    before_fork()
    children: set[int] = set()
    stopped_by: int | None = None
    failures = 0

    def spawn() -> None:
        pid = os.fork()
        if pid:
            children.add(pid)
            return
        code = 0
        try:  # the worker: never returns into the caller's code
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            in_worker()
            serve_until_stopped(app, sockets=[sock], stop_signals=(signal.SIGTERM,), **config)
            worker_done()
        except BaseException:  # noqa: BLE001 - reported, and the parent replaces the worker
            log.exception("worker %d failed", os.getpid())
            code = 1
        finally:
            logging.shutdown()
            os._exit(code)

    def stop(sig: int, frame: FrameType | None) -> None:
        nonlocal stopped_by
        stopped_by = sig
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        for _ in range(workers):
            spawn()
        while children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            children.discard(pid)
            if stopped_by is None:
                failures += 1
                if failures > MAX_WORKER_FAILURES:
                    log.error("workers keep failing (%d so far); stopping", failures)
                    stop(signal.SIGTERM, None)
                    continue
                log.warning("worker %d stopped (%s); starting another", pid, os.waitstatus_to_exitcode(status))
                spawn()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return stopped_by


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

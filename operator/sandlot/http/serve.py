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

import contextlib
import errno
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, each connection writing through _OneWritePerTurn."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(_OneWritePerTurn(transport, self.loop))  # type: ignore[arg-type] # duck-typed


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


def serve_until_stopped(app: ASGIApp, *, sockets: Sequence[socket.socket] | None = None,
                        stop_signals: tuple[signal.Signals, ...] = STOP_SIGNALS, **config: Any) -> int | None:
    """Serve `app` (uvicorn.Config keyword arguments in `config`) until SIGINT/SIGTERM;
    return the signal that stopped it (None if it stopped on its own)."""
    # No proxy headers: a stub has no use for the client's address behind a proxy, and uvicorn's
    # middleware for them wraps every request; no Server header either (it would name uvicorn).
    config = {"proxy_headers": False, "server_header": False, "http": OneWriteHttpToolsProtocol, **config}
    server = GracefulServer(uvicorn.Config(app, **config))
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

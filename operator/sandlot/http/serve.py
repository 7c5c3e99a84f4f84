"""Serving with uvicorn: listen sockets with clear errors, and a server that stops gracefully.

Called by the command line (`sandlot mock`, `sandlot mock --stateful`: cli/mock.py) and by
`sandlot up` (up.py); the only module that knows uvicorn. uvicorn (>= 0.29) re-raises the
signal that stopped it once it has shut down, so the caller's `finally` blocks and clean-up
(writing the request journal, closing the stores, removing temporary files) never run and the
process dies with 130/143. Kubernetes stops pods with SIGTERM, so that loses data. Here the
signal only asks the server to stop: it finishes the requests in flight, `run` returns, and
the caller cleans up and exits 0.
"""

from __future__ import annotations

import contextlib
import errno
import signal
import socket
import threading
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import Any

import uvicorn

from sandlot.http.asgi import ASGIApp

#: The signals that stop the server gracefully (a second one forces it).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class GracefulServer(uvicorn.Server):
    """A uvicorn server whose stop signals are handled here and never re-raised."""

    #: The signal that stopped the server, or None while it runs.
    stopped_by: int | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Install the stop handlers while serving; restore the previous ones afterwards."""
        if threading.current_thread() is not threading.main_thread():
            yield  # signals can only be handled in the main thread
            return
        previous = {sig: signal.signal(sig, self._stop) for sig in STOP_SIGNALS}
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
                        **config: Any) -> int | None:
    """Serve `app` (uvicorn.Config keyword arguments in `config`) until SIGINT/SIGTERM;
    return the signal that stopped it (None if it stopped on its own)."""
    server = GracefulServer(uvicorn.Config(app, **config))
    server.run(sockets=list(sockets) if sockets is not None else None)
    return server.stopped_by


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

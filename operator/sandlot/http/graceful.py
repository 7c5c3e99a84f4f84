"""Run a uvicorn server that stops on SIGINT or SIGTERM and then returns normally.

Called by `sandlot mock` (http/app.py), `sandlot mock --stateful` (http/compose.py) and
`sandlot up` (up.py).
uvicorn (>= 0.29) re-raises the signal that stopped it once it has shut down, so the caller's
`finally` blocks and clean-up (flushing the request log, closing the stores) never run and the
process dies with 130/143. Kubernetes stops pods with SIGTERM, so that loses data. Here the
signal only asks the server to stop: it finishes the requests in flight, `run` returns, and
the caller cleans up and exits 0.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import Any

import uvicorn

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


def serve_until_stopped(app: Any, *, sockets: Sequence[socket.socket] | None = None,
                        **config: Any) -> int | None:
    """Serve `app` (uvicorn.Config keyword arguments in `config`) until SIGINT/SIGTERM;
    return the signal that stopped it (None if it stopped on its own)."""
    server = GracefulServer(uvicorn.Config(app, **config))
    server.run(sockets=list(sockets) if sockets is not None else None)
    return server.stopped_by

"""The ASGI edge of the simulation: waits, closes and resets connections for the faults that
cannot be a response.

`SimulationEdge` wraps the mock's ASGI app (http/app.py's `MockApp`). The pure layer marks a
response with an internal header (faults.EDGE_HEADER); here, when the response starts, the
header is removed and acted on: `latency` waits, then sends; `close` (the `timeout` scenario)
holds the request for the delay, then closes the connection without a byte of response;
`reset` (`connection_reset`) aborts the connection with a TCP RST (SO_LINGER 0). It also starts
the webhook worker on the server's event loop with the first request.

A held request never outlives its client or the server: the hold ends early when the client
disconnects (`http.disconnect` from `receive`) and when the server starts shutting down, so a
`timeout; delay=...` or `Sandlot-Latency` cannot keep a stopping server alive. Shutdown is seen
the way uvicorn signals it to a connection with a request in flight: its request cycle's
`keep_alive` turns False (`shutdown()`); the edge sets it True while holding and watches it.

Closing needs the connection's transport, which ASGI does not expose: uvicorn's `send` is a
bound method of its request cycle, which holds the transport. Without one (another server), a
`close` or `reset` degrades to raising, which servers answer with a 500 and a closed connection.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

from sandlot.simulation.faults import EDGE_HEADER, EdgeAction, take_action

_EDGE = EDGE_HEADER.encode()
#: How often a held request looks whether the server is shutting down (seconds).
_SHUTDOWN_POLL = 0.1


class _Aborted(Exception):
    """The connection was closed or reset on purpose; nothing more is sent."""


def _transport(send: Any) -> Any:
    cycle = getattr(send, "__self__", None)
    return getattr(cycle, "transport", None)


def _drop(transport: Any, reset: bool) -> None:
    """Close the transport; with `reset`, make the kernel send RST instead of FIN."""
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        transport.abort()
    else:
        transport.close()


class SimulationEdge:
    """ASGI middleware acting on edge actions; everything else passes through unchanged."""

    def __init__(self, app: Any, simulation: Any) -> None:
        self.app = app
        self.simulation = simulation

    def __getattr__(self, name: str) -> Any:
        # The wrapped MockApp's attributes (holder, handler ...) stay reachable for callers.
        return getattr(self.app, name)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.simulation.worker.ensure_started()

        async def edge_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and any(k == _EDGE for k, _ in message["headers"]):
                action, headers = take_action([(k.decode("latin-1"), v.decode("latin-1"))
                                               for k, v in message["headers"]])
                message = {**message, "headers": [(k.encode("latin-1"), v.encode("latin-1"))
                                                  for k, v in headers]}
                if action is not None:
                    await self._act(action, send, receive)
            await send(message)

        try:
            await self.app(scope, receive, edge_send)
        except _Aborted:
            # Let the server see the connection is gone, so it does not answer a 500 itself.
            for _ in range(3):
                await asyncio.sleep(0)

    async def _act(self, action: EdgeAction, send: Any, receive: Any) -> None:
        if action.seconds > 0 and not await _hold(action.seconds, send, receive):
            # The client left, or the server is stopping: nobody waits for the rest.
            transport = _transport(send)
            if transport is not None:
                _drop(transport, reset=False)
            raise _Aborted
        if action.kind == "latency":
            return
        transport = _transport(send)
        if transport is None:
            raise RuntimeError(f"cannot {action.kind} the connection: the server hides its transport")
        _drop(transport, reset=action.kind == "reset")
        raise _Aborted


async def _hold(seconds: float, send: Any, receive: Any) -> bool:
    """Wait `seconds`; return False as soon as the client disconnects or the server stops."""
    cycle = getattr(send, "__self__", None)
    watches_shutdown = cycle is not None and isinstance(getattr(cycle, "keep_alive", None), bool)
    keep_alive = cycle.keep_alive if watches_shutdown else None
    if watches_shutdown:
        cycle.keep_alive = True  # uvicorn's shutdown() turns it False: that is the signal
    disconnected = asyncio.ensure_future(_until_disconnect(receive))
    deadline = asyncio.get_running_loop().time() + seconds
    try:
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return True
            done, _ = await asyncio.wait({disconnected}, timeout=min(left, _SHUTDOWN_POLL))
            if done or (watches_shutdown and cycle.keep_alive is False):
                return False
    finally:
        disconnected.cancel()
        if watches_shutdown and cycle.keep_alive is True:
            cycle.keep_alive = keep_alive


async def _until_disconnect(receive: Any) -> None:
    """Return when the client disconnects (any request body left unread is skipped)."""
    while (await receive())["type"] != "http.disconnect":
        pass

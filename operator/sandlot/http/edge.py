"""Carry out what cannot be a response: wait, then send, close or reset the connection, or stream.

Called by the ASGI app (http/app.py) when a stage put an `EdgeAction` on the request context
(the simulation's faults: `latency` waits, then the response is sent; `close`, the `timeout`
scenario, holds the request for the delay, then closes the connection without a byte of
response; `reset`, `connection_reset`, aborts the connection with a TCP RST (SO_LINGER 0)), and
when the admin router answers the journal's live tail (`stream`: server-sent events, the body
sent in pieces as `poll` returns them).

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

from sandlot.http.asgi import Receive, Send
from sandlot.mock.context import EdgeAction

#: How often a held request looks whether the server is shutting down (seconds).
_SHUTDOWN_POLL = 0.1


class Aborted(Exception):
    """The connection was closed or reset on purpose; nothing more is sent."""


def _transport(send: Send) -> Any:
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


async def act(action: EdgeAction, send: Send, receive: Receive) -> None:
    """Wait as the action says, then return (latency) or drop the connection and raise Aborted."""
    if action.seconds > 0 and not await _hold(action.seconds, send, receive):
        # The client left, or the server is stopping: nobody waits for the rest.
        transport = _transport(send)
        if transport is not None:
            _drop(transport, reset=False)
        raise Aborted
    if action.kind == "latency":
        return
    transport = _transport(send)
    if transport is None:
        raise RuntimeError(f"cannot {action.kind} the connection: the server hides its transport")
    _drop(transport, reset=action.kind == "reset")
    raise Aborted


async def _hold(seconds: float, send: Send, receive: Receive) -> bool:
    """Wait `seconds`; return False as soon as the client disconnects or the server stops."""
    cycle: Any = getattr(send, "__self__", None)  # uvicorn's request cycle, when there is one
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


async def _until_disconnect(receive: Receive) -> None:
    """Return when the client disconnects (any request body left unread is skipped)."""
    while (await receive())["type"] != "http.disconnect":
        pass


#: A comment line sent on an idle stream, so proxies keep it and a gone client is noticed.
_HEARTBEAT = b": keep-alive\n\n"
_HEARTBEAT_EVERY = 15.0


async def stream(action: EdgeAction, head: list[tuple[bytes, bytes]], status: int, first: bytes,
                 send: Send, receive: Receive) -> None:
    """Send the response head and `first`, then what `action.poll()` returns every `action.seconds`
    (a heartbeat when idle), until the client disconnects or the server starts shutting down."""
    assert action.poll is not None
    cycle: Any = getattr(send, "__self__", None)
    watches_shutdown = cycle is not None and isinstance(getattr(cycle, "keep_alive", None), bool)
    if watches_shutdown:
        cycle.keep_alive = True  # uvicorn's shutdown() turns it False: that is the signal
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": first, "more_body": True})
    disconnected = asyncio.ensure_future(_until_disconnect(receive))
    loop = asyncio.get_running_loop()
    quiet_since = loop.time()
    try:
        while True:
            done, _ = await asyncio.wait({disconnected}, timeout=max(0.05, action.seconds))
            if done or (watches_shutdown and cycle.keep_alive is False):
                break
            chunk = action.poll()
            if not chunk and loop.time() - quiet_since >= _HEARTBEAT_EVERY:
                chunk = _HEARTBEAT
            if chunk:
                quiet_since = loop.time()
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except OSError:
        pass  # the client went away while we wrote
    finally:
        disconnected.cancel()

"""The WebSocket edge of a GraphQL stub: ASGI websocket messages in, graphql-transport-ws out.

Built by http/compose.py for a GraphQL stub and called by the HTTP app (http/app.py) for every
WebSocket connection. It accepts connections at the GraphQL path that offer the
`graphql-transport-ws` subprotocol (others are closed: 4406 for another subprotocol, 1008 for
another path), finds the caller's tenant with the app's tenancy (the upgrade request's headers,
or the `connection_init` payload's), and hands the messages to a protocol session
(graphql/subscriptions.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from sandlot.graphql.subscriptions import PROTOCOL, Hub, RecordsFor, Session
from sandlot.http.asgi import Receive, Scope, Send
from sandlot.mock.messages import MockRequest


class GraphQLSockets:
    """Serve graphql-transport-ws connections at one path (see the module docstring)."""

    def __init__(self, hub: Hub, path: Callable[[], str], identify: Callable[[MockRequest], str | None],
                 records_for: RecordsFor) -> None:
        """`path` returns the GraphQL path now (it follows reloads); `identify` the tenant of a
        request's credentials (None for an unknown key)."""
        self.hub = hub
        self.path = path
        self.identify = identify
        self.records_for = records_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # websocket.connect
        path = str(scope.get("path", ""))
        if path.rstrip("/") != self.path().rstrip("/"):
            await send({"type": "websocket.close", "code": 1008})
            return
        if PROTOCOL not in (scope.get("subprotocols") or []):
            await send({"type": "websocket.close", "code": 4406})
            return
        await send({"type": "websocket.accept", "subprotocol": PROTOCOL})
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}

        async def send_json(message: dict[str, Any]) -> None:
            await send({"type": "websocket.send", "text": json.dumps(message, default=str)})

        async def close(code: int, reason: str) -> None:
            await send({"type": "websocket.close", "code": code, "reason": reason})

        def identify(given: Mapping[str, str]) -> str | None:
            return self.identify(MockRequest("GET", path, "", dict(given)))

        session = Session(self.hub, send_json, close, identify, self.records_for, headers)
        timer = asyncio.create_task(session.expect_init())
        try:
            while not session.closed:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message["type"] == "websocket.receive":
                    text = message.get("text")
                    if text is None:
                        text = (message.get("bytes") or b"").decode("utf-8", "replace")
                    await session.receive(text)
        finally:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
            await session.stop()

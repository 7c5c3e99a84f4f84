"""The ASGI interface the HTTP app speaks: scope, messages, receive, send and an app.

Typed here once for http/app.py, http/edge.py, http/serve.py and `sandlot up`'s dispatcher
(up.py); the server (uvicorn) supplies `receive` and `send`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ASGIApp(Protocol):
    """An ASGI 3 application."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...

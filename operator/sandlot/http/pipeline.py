"""The pipeline: the HTTP app's explicit, typed list of stages over the engine serving now.

Built by http/compose.py (`compose`), run by the ASGI app (http/app.py) for every request and
called directly by tests. A request becomes one `RequestContext` (mock/context.py) that goes
through the stages in order, each able to answer or pass it on; the mock engine answers last.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sandlot.drift.stage import ProxyStage
from sandlot.http.asgi import ASGIApp
from sandlot.http.reload import EngineHolder
from sandlot.mock.context import RequestContext, Stage, chain
from sandlot.mock.messages import MockRequest, MockResponse
from sandlot.simulation.stage import Simulation
from sandlot.state.journal_stage import JournalStage
from sandlot.state.stage import StateStage
from sandlot.state.store import WriteTicket

Identify = Callable[[RequestContext], "str | None"]


@dataclass(eq=False)
class Pipeline:
    """Stages in order (admin -> journal -> simulation -> state), the engine last; see the module docstring."""

    holder: EngineHolder
    stages: Sequence[Stage]
    identify: Identify
    base_clock: Callable[[], float] = time.time
    simulation: Simulation | None = None
    state: StateStage | None = None
    journal: JournalStage | None = None
    #: The drift proxy, when the stub forwards to a real API (its stages block on the network).
    proxy: ProxyStage | None = None
    #: What answers WebSocket connections (a GraphQL stub's subscriptions: http/websocket.py).
    sockets: ASGIApp | None = None
    _answer: Callable[[RequestContext], MockResponse] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        answer = chain(list(self.stages))
        if self.state is None:
            self._answer = answer
            return
        view = self.state.store.one_view

        def in_one_view(ctx: RequestContext) -> MockResponse:
            # One request, one look at whether another process changed the state file.
            with view():
                return answer(ctx)

        self._answer = in_one_view

    @property
    def blocking(self) -> bool:
        """Tell whether a request may wait on the network (the app then answers it on a worker thread)."""
        return self.proxy is not None

    def write_ticket(self) -> WriteTicket | None:
        """Return a ticket for one request answered on the event loop (None without state): its
        writes are committed with the others of the loop turn, and it answers once they are
        (`await ticket.saved()`; state/sqlite_store.py `write_group`)."""
        return self.state.store.write_group() if self.state is not None else None

    def context(self, req: MockRequest) -> RequestContext:
        """Return a new context for `req`, on the engine serving now (a reload swaps it later)."""
        return RequestContext(req, self.holder.engine, self.identify, self.base_clock)

    def run(self, ctx: RequestContext) -> MockResponse:
        """Answer a context through the stages (the edge reads `ctx.edge` afterwards)."""
        return self._answer(ctx)

    def handle(self, req: MockRequest) -> MockResponse:
        """Answer one request (in-process, without the ASGI edge)."""
        return self.run(self.context(req))

    def before_fork(self) -> None:
        """Write the journal's buffered rows and close the connections to the state file:
        forked worker processes open their own."""
        if self.journal is not None:
            self.journal.flush()
            self.journal.store.close()
        if self.state is not None:
            self.state.store.close()

    def in_worker(self) -> None:
        """Open this worker process's own connections to the state file (and the journal's)."""
        if self.state is not None:
            self.state.store.reopen()
        if self.journal is not None:
            self.journal.store.reopen()

    def resume(self) -> None:
        """Start the background work the state file holds (webhooks due); the server's loop runs."""
        if self.simulation is not None:
            self.simulation.resume()

    def close(self) -> None:
        """Write the journal's buffered requests and close it; write the proxy's recordings and
        close its drift record; close the state's store."""
        try:
            if self.journal is not None:
                self.journal.close()
            if self.proxy is not None:
                self.proxy.close(self.holder.engine)
        finally:
            if self.state is not None:
                self.state.close()

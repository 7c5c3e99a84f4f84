"""One request on its way through the stages: the `RequestContext`, and the `Stage` interface.

The HTTP app (sandlot/http/) builds one context per request and hands it down its explicit list
of stages (admin -> simulation -> state -> the mock engine). The context carries everything a
later stage needs from an earlier one, so nothing travels in context variables, attribute
patches or fake headers:

- the route match and the validated request, each computed at most once (`route`, `validated`);
- the tenant, identified at most once by the app's tenancy (`tenant`);
- the clock: the tenant's virtual time (`now`), set by the simulation's clock;
- the chosen scenario, for the record (`scenario`), and the parameters of one the last step
  carries out itself (`scenario_params`: GraphQL's field and request errors);
- what the ASGI edge must do besides sending the response: wait, close, reset or stream (`edge`);
- which journal entry a replayed request repeats (`replay_of`, set by the admin router).

It lives beside the engine because every stage above uses the engine's `Match` and
`ValidatedRequest`; it knows nothing of HTTP servers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from sandlot.mock.engine import Engine, Match, ValidatedRequest
from sandlot.mock.messages import MockRequest, MockResponse

EdgeKind = Literal["latency", "close", "reset", "stream"]


@dataclass(frozen=True)
class EdgeAction:
    """What the ASGI edge must do besides sending a response: wait, then send, close, reset, or
    stream (send the response's head and body, then whatever `poll` returns, until the client
    leaves or the server stops: the journal's live tail)."""

    kind: EdgeKind  # "latency" (wait, then send), "close" (wait, then close), "reset" (RST now), "stream"
    seconds: float = 0.0  # for "stream": how often to poll
    poll: Callable[[], bytes] | None = field(default=None, compare=False)


def _anonymous(ctx: RequestContext) -> str | None:
    return None


@dataclass(eq=False)
class RequestContext:
    """One request and what the stages learned about it (see the module docstring)."""

    request: MockRequest
    engine: Engine
    #: The app's tenancy: who is calling (a tenant id), or None for an unknown credential.
    identify: Callable[[RequestContext], str | None] = _anonymous
    base_clock: Callable[[], float] = time.time
    #: How far the tenant's virtual clock is ahead of `base_clock` (set by the simulation).
    clock_offset: float = 0.0
    #: The scenario answering this request (`name; params`), when one was chosen.
    scenario: str | None = None
    #: The chosen scenario's parameters, for a scenario the last step carries out itself
    #: (GraphQL's `field_error`: simulation/scenarios.py `EngineScenario`).
    scenario_params: dict[str, Any] = field(default_factory=dict)
    edge: EdgeAction | None = None
    #: The journal entry this request replays (`POST /__sandlot/requests/{id}/replay`).
    replay_of: int | None = None
    _route: Match | MockResponse | None = field(default=None, init=False, repr=False)
    _validated: ValidatedRequest | MockResponse | None = field(default=None, init=False, repr=False)
    _tenant: str | None = field(default=None, init=False, repr=False)
    _identified: bool = field(default=False, init=False, repr=False)

    def route(self) -> Match | MockResponse:
        """Return the request's route match, or the engine's 404/405 answer (routed once)."""
        if self._route is None:
            self._route = self.engine.match(self.request)
        return self._route

    @property
    def routed(self) -> Match | MockResponse | None:
        """Return the route found so far, without routing (None: nobody routed yet)."""
        return self._route

    @property
    def match(self) -> Match | None:
        """Return the route match, or None when no documented operation matches."""
        found = self.route()
        return found if isinstance(found, Match) else None

    def validated(self) -> ValidatedRequest | MockResponse:
        """Return the typed request, or the refusal (404/405 when it does not route); validated once."""
        if self._validated is None:
            found = self.route()
            self._validated = found if isinstance(found, MockResponse) else self.engine.validate(self.request, found)
        return self._validated

    @property
    def validated_so_far(self) -> ValidatedRequest | MockResponse | None:
        """Return the validation outcome when a stage already validated, without validating."""
        return self._validated

    @property
    def tenant(self) -> str | None:
        """Return the caller's tenant (identified once), or None for an unknown credential."""
        if not self._identified:
            self._tenant = self.identify(self)
            self._identified = True
        return self._tenant

    def assume_tenant(self, tenant: str) -> None:
        """Act as `tenant` without identifying the request (a replay: its credential was redacted)."""
        self._tenant = tenant
        self._identified = True

    def now(self) -> float:
        """Return the tenant's virtual time (Unix seconds)."""
        return self.base_clock() + self.clock_offset


Next = Callable[[RequestContext], MockResponse]


class Stage(Protocol):
    """One step of the request path: answer the context, or pass it on with `call_next`."""

    def __call__(self, ctx: RequestContext, call_next: Next) -> MockResponse: ...


def answer_with_engine(ctx: RequestContext) -> MockResponse:
    """Answer through the mock engine: the last stage, reusing any route and validation made."""
    return ctx.engine.handle(ctx.request, routed=ctx.routed, validated=ctx.validated_so_far, route=ctx.route)


def chain(stages: list[Stage], last: Next = answer_with_engine) -> Next:
    """Return the function answering a context through `stages` in order; `last` ends the chain."""
    answer = last
    for stage in reversed(stages):
        answer = _bind(stage, answer)
    return answer


def _bind(stage: Stage, rest: Next) -> Next:
    return lambda ctx: stage(ctx, rest)

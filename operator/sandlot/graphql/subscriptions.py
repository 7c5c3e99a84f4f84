"""Subscriptions: the graphql-transport-ws protocol, fed by mutations and by the virtual clock.

The HTTP app's edge (http/app.py) hands every WebSocket connection at the GraphQL path to a
`Session` (the protocol: connection_init/ack, ping/pong, subscribe/next/error/complete and its
close codes), built by the stub's `Hub` (composed in http/compose.py). The hub keeps the live
subscriptions of every tenant:

- **mutations**: every create, update and delete a request makes (over HTTP or over the socket;
  graphql/model.py names which subscription field each feeds: `userCreated` by `createUser`, ...)
  is published to the subscriptions of the same tenant whose arguments it matches
  (`messageAdded(roomId: "r1")` gets the messages whose `roomId` is "r1");
- **the clock**: every other subscription field ticks once per interval of the tenant's virtual
  time (60 s unless `graphql.subscriptions.<field>.every` says otherwise), as real time passes
  and at once when the tenant's clock is advanced (`POST /__sandlot/clock/advance`); at most
  100 ticks are sent per advance.

Each event is executed against the subscription's selection set (graphql-core `execute` with the
event as the root value), so every message is valid for the subscription's query.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import FieldNode, GraphQLError, OperationDefinitionNode, get_operation_ast

from sandlot.graphql.engine import GraphQLEngine, GraphQLRequest, Obj, Run
from sandlot.graphql.model import Records, returned_entity
from sandlot.util.durations import DurationError, parse_duration

log = logging.getLogger("sandlot.graphql")

PROTOCOL = "graphql-transport-ws"
DEFAULT_INTERVAL = 60.0
MAX_TICKS_PER_WAKE = 100
INIT_TIMEOUT = 10.0
QUEUE_SIZE = 1000

Send = Callable[[dict[str, Any]], Awaitable[None]]
Close = Callable[[int, str], Awaitable[None]]
Identify = Callable[[Mapping[str, str]], "str | None"]
RecordsFor = Callable[[str], "Records | None"]
Clock = Callable[["str | None"], float]


@dataclass(eq=False)
class Subscriber:
    """One live subscription: its tenant, field, argument filters and the queue of its events."""

    tenant: str | None
    field_name: str
    entity: str | None
    actions: frozenset[str]
    filters: dict[str, Any]
    queue: asyncio.Queue[tuple[str, str, dict[str, Any]]] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class Hub:
    """The live subscriptions of one stub; see the module docstring."""

    def __init__(self, engine: Callable[[], GraphQLEngine], clock: Clock,
                 settings: Mapping[str, Any] | None = None) -> None:
        """`engine` returns the engine serving now; `clock` a tenant's virtual time;
        `settings` the config's `graphql.subscriptions` (field -> {every: duration})."""
        self.engine = engine
        self.clock = clock
        self.intervals: dict[str, float] = {}
        for name, spec in (settings or {}).items():
            every = spec.get("every") if isinstance(spec, Mapping) else None
            try:
                self.intervals[str(name)] = parse_duration(every, f"graphql.subscriptions.{name}.every")
            except DurationError as exc:
                raise ValueError(str(exc)) from None
        self.subscribers: set[Subscriber] = set()

    def publish(self, tenant: str | None, events: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Hand mutation events to the tenant's subscriptions they feed (called in the server's loop)."""
        for subscriber in list(self.subscribers):
            if subscriber.tenant != tenant or subscriber.entity is None:
                continue
            for action, entity, obj in events:
                if entity != subscriber.entity or action not in subscriber.actions:
                    continue
                if any(str(obj.get(k)) != str(v) for k, v in subscriber.filters.items()):
                    continue
                with contextlib.suppress(asyncio.QueueFull):
                    subscriber.queue.put_nowait((action, entity, obj))

    def clock_moved(self, tenant: str) -> None:
        """Wake the tenant's clock-fed subscriptions (its virtual clock was advanced)."""
        for subscriber in list(self.subscribers):
            if subscriber.tenant == tenant:
                subscriber.wake.set()

    def interval(self, field_name: str) -> float:
        """Return how often (virtual seconds) a clock-fed field ticks."""
        return self.intervals.get(field_name, DEFAULT_INTERVAL)


def _root_field(operation: OperationDefinitionNode) -> FieldNode | None:
    for selection in operation.selection_set.selections:
        if isinstance(selection, FieldNode):
            return selection
        inner = getattr(selection, "selection_set", None)
        if inner is not None:
            for nested in inner.selections:
                if isinstance(nested, FieldNode):
                    return nested
    return None


class Session:
    """One graphql-transport-ws connection (the protocol; the socket is the edge's)."""

    def __init__(self, hub: Hub, send: Send, close: Close, identify: Identify, records_for: RecordsFor,
                 headers: Mapping[str, str]) -> None:
        self.hub = hub
        self.send = send
        self.close = close
        self.identify = identify
        self.records_for = records_for
        self.headers = dict(headers)
        self.tenant: str | None = None
        self.acknowledged = False
        self.initialised = False
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.closed = False

    async def expect_init(self) -> None:
        """Close the connection if connection_init does not arrive in time (4408)."""
        await asyncio.sleep(INIT_TIMEOUT)
        if not self.initialised:
            await self._close(4408, "Connection initialisation timeout")

    async def receive(self, text: str) -> None:
        """Handle one message from the client."""
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self._close(4400, "Invalid message received")
            return
        kind = message["type"]
        if kind == "connection_init":
            await self._init(message.get("payload"))
        elif kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "pong":
            return
        elif kind == "subscribe":
            await self._subscribe(message)
        elif kind == "complete":
            task = self.tasks.pop(str(message.get("id")), None)
            if task is not None:
                task.cancel()
        else:
            await self._close(4400, f"Invalid message type {kind!r}")

    async def _init(self, payload: Any) -> None:
        if self.initialised:
            await self._close(4429, "Too many initialisation requests")
            return
        self.initialised = True
        headers = dict(self.headers)
        if isinstance(payload, Mapping):
            inner = payload.get("headers")
            given: Mapping[str, Any] = inner if isinstance(inner, Mapping) else payload
            headers.update({str(k).lower(): str(v) for k, v in given.items() if isinstance(v, str)})
        tenant = self.identify(headers)
        if tenant is None:
            await self._close(4403, "Forbidden: unknown or revoked sandbox key")
            return
        self.tenant = tenant
        self.acknowledged = True
        await self.send({"type": "connection_ack"})

    async def _subscribe(self, message: Mapping[str, Any]) -> None:
        if not self.acknowledged:
            await self._close(4401, "Unauthorized")
            return
        sub_id = message.get("id")
        payload = message.get("payload")
        if not isinstance(sub_id, str) or not sub_id or not isinstance(payload, Mapping) or \
                not isinstance(payload.get("query"), str):
            await self._close(4400, "Invalid subscribe message")
            return
        if sub_id in self.tasks:
            await self._close(4409, f"Subscriber for {sub_id} already exists")
            return
        variables = payload.get("variables")
        request = GraphQLRequest(payload["query"], variables if isinstance(variables, Mapping) else None,
                                 payload.get("operationName") if isinstance(payload.get("operationName"), str)
                                 else None)
        engine = self.hub.engine()
        document, errors = engine.document(request.query)
        operation = get_operation_ast(document, request.operation_name) if document is not None else None
        if errors or operation is None:
            problems = errors or [GraphQLError("Unknown operation (give operationName)")]
            await self.send({"id": sub_id, "type": "error", "payload": [e.formatted for e in problems]})
            return
        if operation.operation.value != "subscription":
            outcome = engine.execute(request, Run(records=self.records_for(self.tenant or "")))
            if outcome.events:
                self.hub.publish(self.tenant, outcome.events)
            await self.send({"id": sub_id, "type": "next", "payload": outcome.result})
            await self.send({"id": sub_id, "type": "complete"})
            return
        root = _root_field(operation)
        if root is None:
            await self.send({"id": sub_id, "type": "error", "payload": [{"message": "No root field"}]})
            return
        self.tasks[sub_id] = asyncio.create_task(self._serve(sub_id, request, engine, root))

    async def _serve(self, sub_id: str, request: GraphQLRequest, engine: GraphQLEngine, root: FieldNode) -> None:
        name = root.name.value
        entity, actions = engine.model.feeds.get(name, (None, frozenset()))
        subscription = engine.schema.subscription_type
        field_def = subscription.fields.get(name) if subscription is not None else None
        args = _arguments(engine, root, request.variables)
        filters = {}
        if entity is not None:
            fields = engine.model.entities[entity].fields
            filters = {k: v for k, v in args.items() if k in fields and not isinstance(v, Mapping | list)}
        subscriber = Subscriber(self.tenant, name, entity, actions, filters)
        self.hub.subscribers.add(subscriber)
        try:
            if entity is None:
                await self._ticks(sub_id, request, engine, subscriber)
            else:
                payload_field = returned_entity(engine.schema, field_def, engine.model.entities)[1] \
                    if field_def is not None else None
                while True:
                    action, kind, obj = await subscriber.queue.get()
                    value: Any = {**obj, "__typename": kind}
                    if payload_field:
                        value = {payload_field: value}
                    event = Obj("Subscription", None, {name: value})
                    await self.send({"id": sub_id, "type": "next", "payload": engine.execute_event(request, event)})
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - one broken subscription must not take the connection down
            log.exception("subscription %s failed", sub_id)
            await self.send({"id": sub_id, "type": "error", "payload": [{"message": "The subscription failed."}]})
        finally:
            self.hub.subscribers.discard(subscriber)

    async def _ticks(self, sub_id: str, request: GraphQLRequest, engine: GraphQLEngine,
                     subscriber: Subscriber) -> None:
        every = max(0.001, self.hub.interval(subscriber.field_name))
        started = self.hub.clock(self.tenant)
        sent = 0
        while True:
            now = self.hub.clock(self.tenant)
            due = int((now - started) // every)
            burst = 0
            while sent < due and burst < MAX_TICKS_PER_WAKE:
                sent += 1
                burst += 1
                event = Obj(f"Subscription#{sub_id}#{sent}", None, None)
                await self.send({"id": sub_id, "type": "next", "payload": engine.execute_event(request, event)})
            sent = max(sent, due)  # ticks beyond the cap are skipped, not queued
            wait = min(1.0, max(0.01, started + (sent + 1) * every - now))
            subscriber.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(subscriber.wake.wait(), wait)

    async def _close(self, code: int, reason: str) -> None:
        if not self.closed:
            self.closed = True
            await self.close(code, reason)

    async def stop(self) -> None:
        """Cancel every subscription of the connection (it closed)."""
        self.closed = True
        for task in self.tasks.values():
            task.cancel()
        for task in list(self.tasks.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.tasks.clear()


def _arguments(engine: GraphQLEngine, root: FieldNode, variables: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return a root field's argument values (literals and variables)."""
    from graphql import value_from_ast_untyped

    found = {}
    for argument in root.arguments or ():
        found[argument.name.value] = value_from_ast_untyped(argument.value, dict(variables or {}))
    return found

"""The simulation stage: scenarios, magic values, rate limits, idempotency, webhooks and the
virtual clock, in front of the state stage (stateful) or the mock engine (stateless).

Composed into the HTTP app's stages by http/compose.py (`sandlot mock`, `sandlot up`, tests).
For an API request context (mock/context.py) it applies, in order: rate limit, scenario
(header, then the tenant's sticky one, then the stub's default), idempotency replay, magic
values, then the stages after it (at the tenant's virtual time, `ctx.clock_offset`), then
webhook rules and callbacks for a successful answer. What cannot be a response (holding a
request, closing or resetting the connection, latency) goes on the context as `ctx.edge` for
the ASGI edge (http/edge.py). The admin router (http/admin.py) reaches the simulation's
settings, clock, sticky scenarios and webhooks through the methods at the end of the class.
Per-tenant state (sticky scenario, clock offset, webhook endpoints, idempotency records) lives
in the store's tenant state, so a reset clears it atomically with the objects. The stateful
stub keeps its webhook queue and rate-limit buckets in the state file too (simulation/durable.py),
so they survive a restart and are shared by worker processes; the stateless mock keeps them in
memory.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sandlot.mock.context import EdgeAction, Next, RequestContext
from sandlot.mock.engine import Engine, Match
from sandlot.mock.messages import MockRequest, MockResponse, json_response, problem_response
from sandlot.openapi.loader import iter_operations
from sandlot.simulation import magic, scenarios, webhooks
from sandlot.simulation.clock import MAX_OFFSET_SECONDS, OFFSET_KEY, TenantState, VirtualClock, offset_of
from sandlot.simulation.durable import StoredLimiter, StoredOutbox
from sandlot.simulation.faults import BUILTIN, LATENCY_HEADER, SCENARIO_HEADER, SLOW, documented
from sandlot.simulation.ratelimit import Limit, RateLimiter, limit_from, refusal
from sandlot.simulation.webhook_sender import WebhookWorker
from sandlot.state import idempotency
from sandlot.state.auth import PUBLIC_TENANT, bearer_or_basic
from sandlot.state.store import Store
from sandlot.util.durations import DurationError, parse_duration

log = logging.getLogger("sandlot.simulation")

STICKY_KEY = "sandlot.scenario"


class SimulationError(ValueError):
    """Settings that cannot be used (spec extensions or sidecar config); names the fix."""


@dataclass(frozen=True)
class Settings:
    """Everything declared for the simulation, from the spec's `x-sandlot-*` and the config."""

    named: dict[str, scenarios.NamedScenario] = field(default_factory=dict)
    magic: list[magic.MagicRule] = field(default_factory=list)
    limit: Limit | None = None
    rules: list[webhooks.Rule] = field(default_factory=list)
    policy: webhooks.RetryPolicy = webhooks.RetryPolicy()
    default_scenario: str | None = None
    has_callbacks: bool = False
    endpoints: list[dict[str, Any]] = field(default_factory=list)  # config: every tenant's

    def active(self) -> bool:
        """Tell whether anything here acts on requests that do not ask for it."""
        return bool(self.default_scenario or self.magic or self.limit or self.rules or self.has_callbacks
                    or self.endpoints)


def settings_from(document: Mapping[str, Any], config: Mapping[str, Any] | None = None,
                  default_scenario: str | None = None,
                  engine_scenarios: scenarios.EngineScenarios | None = None) -> Settings:
    """Read the spec's `x-sandlot-scenarios|magic|rate-limit|webhooks` and the config's
    `scenarios|magic|rateLimit|webhooks` (the config wins for the rate limit and retries)."""
    config = config or {}
    spec_hooks = document.get("x-sandlot-webhooks") or {}
    conf_hooks = config.get("webhooks") or {}
    try:
        named = {**scenarios.named_from(document.get("x-sandlot-scenarios"), "x-sandlot-scenarios"),
                 **scenarios.named_from(config.get("scenarios"), "config scenarios")}
        rules = magic.rules_from(config.get("magic"), "config magic") + \
            magic.rules_from(document.get("x-sandlot-magic"), "x-sandlot-magic")
        limit = limit_from(config.get("rateLimit"), "config rateLimit") or \
            limit_from(document.get("x-sandlot-rate-limit"), "x-sandlot-rate-limit")
        hook_rules = webhooks.rules_from(spec_hooks.get("rules"), "x-sandlot-webhooks.rules") + \
            webhooks.rules_from(conf_hooks.get("rules"), "config webhooks.rules")
        policy = webhooks.policy_from({**spec_hooks, **conf_hooks}, "webhooks")
        endpoints = webhooks.configured_endpoints(conf_hooks.get("endpoints"), "config webhooks.endpoints")
        if default_scenario:
            scenarios.check(*scenarios.parse_header(default_scenario), named, engine_scenarios)
    except (ValueError, TypeError) as exc:
        raise SimulationError(str(exc)) from None
    has_callbacks = any(isinstance(op, Mapping) and op.get("callbacks")
                        for _, _, op, _ in iter_operations(document))
    return Settings(named, rules, limit, hook_rules, policy, default_scenario, has_callbacks, endpoints)


class MemoryState:
    """Tenant state for the stateless mock (the stateful one uses its store)."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, str], Any] = {}

    def get_state(self, tenant_id: str, key: str) -> Any:
        """Return a tenant's value for `key`, or None."""
        return self._values.get((tenant_id, key))

    def get_states(self, tenant_id: str, keys: Sequence[str]) -> dict[str, Any]:
        """Return the tenant's values of `keys` that are set."""
        return {k: self._values[(tenant_id, k)] for k in keys if (tenant_id, k) in self._values}

    def set_state(self, tenant_id: str, key: str, value: Any) -> None:
        """Set a tenant's value for `key`."""
        self._values[(tenant_id, key)] = value

    def has_values(self) -> bool:
        """Tell whether any tenant has state (a sticky scenario, an endpoint, a clock ...)."""
        return bool(self._values)

    def reset(self, tenant_id: str) -> None:
        """Forget everything of a tenant."""
        self._values = {k: v for k, v in self._values.items() if k[0] != tenant_id}


def _asks_for_simulation(req: MockRequest) -> bool:
    headers = req.headers
    return SCENARIO_HEADER in headers or LATENCY_HEADER in headers or idempotency.HEADER in headers


class Simulation:
    """The simulation stage: scenarios, faults, magic values, limits, webhooks and a clock."""

    def __init__(self, engine: Engine, *, state: TenantState | None = None,
                 config: Mapping[str, Any] | None = None, default_scenario: str | None = None,
                 base_clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, durable: Store | None = None,
                 engine_scenarios: scenarios.EngineScenarios | None = None) -> None:
        """`engine` is the one serving at start (its spec's x-sandlot-* settings are checked now);
        `state` keeps per-tenant values (the stateful store; in memory without one); `durable`
        (the stateful store) keeps the webhook queue and rate-limit buckets (else: memory);
        `engine_scenarios` are the ones the last step carries out (GraphQL's field errors)."""
        self.config = dict(config or {})
        self.engine_scenarios = dict(engine_scenarios or {})
        self.default_scenario = default_scenario
        self.stateful = state is not None
        # Without a store, tenant state lives in memory (and the fast path may skip it all).
        self._memory = MemoryState() if state is None else None
        self.state: TenantState = state if state is not None else self._memory  # type: ignore[assignment]
        self.clock = VirtualClock(self.state, base_clock)
        self._monotonic = monotonic
        self._engine = engine
        self._settings_for: tuple[int, Settings] | None = None
        self._durable = durable
        self.limiter: RateLimiter | StoredLimiter | None = None
        self.outbox: webhooks.DeliveryQueue = webhooks.Outbox() if durable is None else \
            StoredOutbox(durable, lambda: self.worker.policy.timeout, wall)
        self.worker = WebhookWorker(self.outbox, self.clock.now, webhooks.RetryPolicy(), wall)
        self.settings()

    def resume(self) -> None:
        """Start delivering what the state file holds (called once the server's loop runs), and
        tell the worker which loop to start on when a worker thread schedules the first webhook."""
        self.worker.attach()
        if self._durable is not None:
            self.worker.ensure_started()

    # -- settings follow the spec (reloads) --------------------------------------------------
    def settings(self, engine: Engine | None = None) -> Settings:
        """Return the settings of `engine` (default: the last one served), read again after a reload."""
        engine = engine or self._engine
        self._engine = engine
        if self._settings_for is None or self._settings_for[0] != id(engine):
            try:
                settings = settings_from(engine.spec.document, self.config, self.default_scenario,
                                         self.engine_scenarios)
            except SimulationError as exc:
                if self._settings_for is None:
                    raise
                # A reloaded spec with a broken x-sandlot-* extension keeps the last good settings.
                log.error("spec reload: %s; keeping the previous scenarios, magic values and webhooks", exc)
                settings = self._settings_for[1]
            self._settings_for = (id(engine), settings)
            if self.limiter is None or self.limiter.limit != settings.limit:
                if settings.limit is None:
                    self.limiter = None
                elif self._durable is not None:
                    self.limiter = StoredLimiter(self._durable, settings.limit, self._monotonic)
                else:
                    self.limiter = RateLimiter(settings.limit, self._monotonic)
            self.worker.policy = settings.policy
        return self._settings_for[1]

    def event_types(self) -> dict[str, webhooks.EventType]:
        """Return the events this sandbox can send: the spec's webhooks plus rule events."""
        engine = self._engine
        found = webhooks.event_types(engine.spec.document, engine.index.deref)
        for rule in self.settings().rules:
            found.setdefault(rule.send, webhooks.EventType(rule.send, None, f"sent after {rule.after}"))
        return found

    # -- the request path --------------------------------------------------------------------
    def __call__(self, ctx: RequestContext, call_next: Next) -> MockResponse:
        """Answer one request (see the module docstring for the order of the steps)."""
        settings = self.settings(ctx.engine)
        req = ctx.request
        if self._memory is not None and not settings.active() and not self._memory.has_values() and \
                not _asks_for_simulation(req):
            return call_next(ctx)  # the plain mock's speed when nothing is simulated
        match = ctx.match
        if match is None:
            return self._inner(ctx, call_next, None)
        engine = ctx.engine
        tenant = ctx.tenant
        rate_headers: list[tuple[str, str]] = []
        if self.limiter is not None and settings.limit is not None:
            credential = next(iter(bearer_or_basic(req.headers.get("authorization"))), None)
            decision = self.limiter.check(credential or tenant or PUBLIC_TENANT)
            rate_headers = decision.headers(settings.limit)
            if not decision.allowed:
                return documented(engine, req, match, 429, rate_headers) or \
                    refusal(settings.limit, decision, rate_headers)
        latency = 0.0
        try:
            # One read for both: the sticky scenario, and the clock the stages after this one read.
            values = self.state.get_states(tenant, (STICKY_KEY, OFFSET_KEY)) if tenant else {}
            sticky = values.get(STICKY_KEY)
            ctx.clock_offset = offset_of(values.get(OFFSET_KEY))
            choice = scenarios.choose(req.headers.get(SCENARIO_HEADER), sticky, settings.default_scenario,
                                      match)
            if choice is not None:
                scenarios.check(choice.name, choice.params, settings.named, self.engine_scenarios)
                ctx.scenario = choice.name
                if choice.name in self.engine_scenarios:
                    ctx.scenario_params = dict(choice.params)
                answered = scenarios.answer(choice, settings.named, engine, req, match, self.engine_scenarios)
                if answered is not None:
                    answered.response.headers.extend(rate_headers)
                    ctx.edge = answered.edge
                    return answered.response
                if choice.name == SLOW:
                    latency = float(choice.params.get("latency", 0.25))
            if req.headers.get(LATENCY_HEADER):
                latency = parse_duration(req.headers[LATENCY_HEADER], "Sandlot-Latency")
                scenarios.check_hold(latency, "Sandlot-Latency")
        except (scenarios.ScenarioError, DurationError) as exc:
            return problem_response(400, f"{exc}. See GET /__sandlot/scenarios.")
        response = self._answer(ctx, call_next, match, tenant, settings)
        response.headers.extend(rate_headers)
        if latency > 0:
            ctx.edge = EdgeAction("latency", latency)
        return response

    def _answer(self, ctx: RequestContext, call_next: Next, match: Match, tenant: str | None,
                settings: Settings) -> MockResponse:
        """Idempotency, magic values, the inner stages, then webhooks."""
        req = ctx.request
        key = req.headers.get(idempotency.HEADER) or ""
        idem_tenant = tenant if key and req.method in idempotency.METHODS else None
        if idem_tenant is not None:
            decided = idempotency.lookup(key, req, self.state.get_state(idem_tenant, idempotency.state_key(key)))
            if decided is not None:
                return decided.response
        response = None
        if tenant is not None and settings.magic:
            rule = magic.find_rule(settings.magic, req, match)
            if rule is not None and not isinstance(ctx.validated(), MockResponse):
                response = magic.magic_response(rule, ctx.engine, req, match)
        if response is None:
            response = self._inner(ctx, call_next, tenant)
            if tenant is not None and 200 <= response.status < 300:
                self._after_success(ctx, match, tenant, response, settings)
        if idem_tenant is not None:
            recorded = idempotency.record(req, response)
            if recorded is not None:
                self.state.set_state(idem_tenant, idempotency.state_key(key), recorded)
        return response

    def _inner(self, ctx: RequestContext, call_next: Next, tenant: str | None) -> MockResponse:
        # The stages below read the tenant's virtual time from the context (set by __call__).
        response = call_next(ctx)
        # A copy: the engine caches its responses, and this stage adds headers.
        return MockResponse(response.status, list(response.headers), response.body)

    # -- webhooks ----------------------------------------------------------------------------
    def _after_success(self, ctx: RequestContext, match: Match, tenant: str, response: MockResponse,
                       settings: Settings) -> None:
        req = ctx.request
        names = scenarios.operation_names(match)
        rules = [r for r in settings.rules if r.after in names]
        callbacks = webhooks.callbacks_of(match.operation.node, ctx.engine.index.deref)
        if not rules and not callbacks:
            return
        try:
            obj = json.loads(response.body) if response.body else None
        except ValueError:
            obj = None
        made: list[webhooks.Delivery] = []
        for rule in rules:
            made += self._deliveries(tenant, rule.send, obj=obj, delay=rule.delay, source="rule")
        if callbacks:
            context = {"request.body": magic.parse_body(req), "request.query": dict(
                urllib.parse.parse_qsl(req.query)), "request.header": req.headers, "response.body": obj}
            for callback in callbacks:
                url = webhooks.expand_expression(callback.url_expression, context)
                if url is None:
                    continue
                made += self._build(tenant, [{"id": None, "url": url, "secret": self.callback_secret(tenant)}],
                                    callback.name, callback.schema, obj, None, (), 0.0, "callback")
        self._schedule(made)

    def callback_secret(self, tenant: str) -> str:
        """Return the tenant's secret for signing operation callbacks (made on first use)."""
        secret = self.state.get_state(tenant, webhooks.CALLBACK_SECRET_KEY)
        if not secret:
            secret = "whsec_" + secrets.token_urlsafe(24)
            self.state.set_state(tenant, webhooks.CALLBACK_SECRET_KEY, secret)
        return str(secret)

    def endpoints(self, tenant: str) -> list[dict[str, Any]]:
        """Return the tenant's webhook endpoints: the config's (every tenant's), then its own."""
        return [*self.settings().endpoints, *self.registered(tenant)]

    def registered(self, tenant: str) -> list[dict[str, Any]]:
        """Return the endpoints the tenant registered through the admin API."""
        return list(self.state.get_state(tenant, webhooks.ENDPOINTS_KEY) or [])

    def emit(self, tenant: str, event_type: str, *, obj: Any = None, override: Any = None,
             faults: tuple[str, ...] = (), delay: float = 0.0, source: str = "trigger",
             now: float | None = None) -> list[webhooks.Delivery]:
        """Build one event and schedule it to every subscribed endpoint of the tenant."""
        made = self._deliveries(tenant, event_type, obj=obj, override=override, faults=faults, delay=delay,
                                source=source, now=now)
        self._schedule(made)
        return made

    def _deliveries(self, tenant: str, event_type: str, *, obj: Any = None, override: Any = None,
                    faults: tuple[str, ...] = (), delay: float = 0.0, source: str = "trigger",
                    now: float | None = None) -> list[webhooks.Delivery]:
        """Build one event's deliveries to every subscribed endpoint of the tenant (not yet queued)."""
        event = self.event_types().get(event_type)
        targets = webhooks.subscribed(self.endpoints(tenant), event_type)
        return self._build(tenant, targets, event_type, event.schema if event else None, obj,
                           override, faults, delay, source, now=now)

    def _schedule(self, made: list[webhooks.Delivery]) -> None:
        """Queue deliveries at once (in the state file: one transaction) and wake the worker."""
        if not made:
            return
        self.outbox.schedule(made)
        self.worker.ensure_started()
        self.worker.poke()

    def _build(self, tenant: str, targets: list[Mapping[str, Any]], event_type: str, schema: Any,
               obj: Any, override: Any, faults: tuple[str, ...], delay: float, source: str,
               now: float | None = None) -> list[webhooks.Delivery]:
        engine = self._engine
        now = self.clock.now(tenant) if now is None else now
        event_id = "evt_" + secrets.token_hex(12)
        payload = webhooks.build_event(
            event_type, schema, lambda s, rng: engine.generator.build(s, rng, direction="response"),
            event_id, now, obj, override)
        body = json.dumps(payload, ensure_ascii=False).encode()
        made = []
        copies = 2 if webhooks.DUPLICATE in faults else 1
        for target in targets:
            for _ in range(copies):
                delivery = webhooks.Delivery(
                    "whd_" + secrets.token_hex(8), tenant, event_id, event_type, str(target["url"]),
                    str(target["secret"]), body, now + delay, 0, target.get("id"), source, tuple(faults))
                made.append(delivery)
        return made

    # -- what the admin router (http/admin.py) asks of the simulation -----------------------
    def scenarios_view(self) -> dict[str, Any]:
        """Return the built-in and declared scenarios and the default (GET /__sandlot/scenarios)."""
        return {"builtin": {**BUILTIN, **{n: e.description for n, e in self.engine_scenarios.items()}}, "named": {
            n: {"status": s.status, "operations": list(s.operations), "description": s.description}
            for n, s in self.settings().named.items()}, "default": self.default_scenario}

    def magic_view(self) -> dict[str, Any]:
        """Return the magic rules and their Markdown table (GET /__sandlot/magic)."""
        rules = self.settings().magic
        return {"rules": [{"operation": r.operation, "when": dict(r.when), "status": r.status,
                           "description": r.description} for r in rules],
                "markdown": magic.markdown_table(rules)}

    def sticky(self, tenant: str) -> Any:
        """Return the tenant's sticky scenario, or None."""
        return self.state.get_state(tenant, STICKY_KEY)

    def set_sticky(self, tenant: str, args: Mapping[str, Any]) -> dict[str, Any]:
        """Make a scenario the tenant's sticky one (raises ValueError naming the fix)."""
        text = args.get("scenario")
        if not isinstance(text, str) or not text.strip():
            raise ValueError('Give the scenario: {"scenario": "unavailable", "operations": [...]}')
        name, params = scenarios.parse_header(text)
        scenarios.check(name, params, self.settings().named, self.engine_scenarios)
        operations = args.get("operations") or []
        if isinstance(operations, str):
            operations = [operations]
        if not isinstance(operations, list) or not all(isinstance(o, str) for o in operations):
            raise ValueError('"operations" lists operationIds or "METHOD /path" strings, '
                             'e.g. ["createCharge", "GET /v1/charges"]')
        sticky = {"name": name, "params": params, "operations": list(operations)}
        self.state.set_state(tenant, STICKY_KEY, sticky)
        return sticky

    def clear_sticky(self, tenant: str) -> None:
        """Drop the tenant's sticky scenario."""
        self.state.set_state(tenant, STICKY_KEY, None)

    def clock_view(self, tenant: str) -> dict[str, Any]:
        """Return the tenant's virtual time and offset (GET /__sandlot/clock)."""
        now = self.clock.now(tenant)
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        return {"tenant": tenant, "now": now, "iso": iso, "offset_seconds": self.clock.offset(tenant)}

    def advance_clock(self, tenant: str, args: Mapping[str, Any]) -> dict[str, Any]:
        """Move the tenant's clock forward by `by` (a duration) or `seconds`; wake the webhooks."""
        by = args.get("by", args.get("seconds"))
        if by is None:
            raise ValueError('Say how far: {"by": "2h"} (ms, s, m, h, d) or {"seconds": 7200}')
        self.clock.advance(tenant, parse_duration(by, "by"))
        self.worker.ensure_started()
        self.worker.poke()
        return self.clock_view(tenant)

    def register_endpoint(self, tenant: str, args: Mapping[str, Any]) -> dict[str, Any]:
        """Register a webhook endpoint for the tenant; return it (its secret included)."""
        endpoint = webhooks.new_endpoint(args.get("url"), args.get("events"), args.get("secret"))
        self.state.set_state(tenant, webhooks.ENDPOINTS_KEY, [*self.registered(tenant), endpoint])
        return endpoint

    def remove_endpoint(self, tenant: str, endpoint_id: str) -> bool:
        """Remove an endpoint the tenant registered; return whether there was one."""
        kept = [e for e in self.registered(tenant) if e["id"] != endpoint_id]
        if len(kept) == len(self.registered(tenant)):
            return False
        self.state.set_state(tenant, webhooks.ENDPOINTS_KEY, kept)
        return True

    def trigger(self, tenant: str, args: Mapping[str, Any]) -> MockResponse:
        """Trigger one event (`event`) or a batch (`events`), with optional faults and overrides."""
        names = args.get("events") or ([args["event"]] if args.get("event") else [])
        if not names or not all(isinstance(n, str) for n in names):
            raise ValueError('Name the event: {"event": "charge.succeeded"} or {"events": [...]}')
        known = self.event_types()
        unknown = [n for n in names if n not in known]
        if unknown:
            return problem_response(404, f"Unknown event {unknown[0]!r}; known: {', '.join(sorted(known)) or 'none'} "
                                         "(the spec's `webhooks` and the webhook rules).")
        faults = args.get("fault") or args.get("faults") or []
        faults = (faults,) if isinstance(faults, str) else tuple(faults)
        bad = [f for f in faults if f not in webhooks.FAULTS]
        if bad:
            raise ValueError(f"Unknown fault {bad[0]!r}; known: {', '.join(webhooks.FAULTS)}")
        if webhooks.OUT_OF_ORDER in faults and len(names) < 2:
            raise ValueError('out_of_order needs two or more events: {"events": ["a", "b"], '
                             '"fault": "out_of_order"} delivers b before a')
        delay = parse_duration(args.get("delay", 0), "delay") if webhooks.DELAY in faults or \
            args.get("delay") is not None else 0.0
        if webhooks.DELAY in faults and args.get("delay") is None:
            delay = 30.0
        if delay > MAX_OFFSET_SECONDS:
            raise ValueError(f"delay: at most {MAX_OFFSET_SECONDS:.0f} s (10 years), as far as the "
                             "clock can be advanced; a later delivery could never be sent")
        made: list[webhooks.Delivery] = []
        now = self.clock.now(tenant)  # one time for the batch: the sequence alone orders it
        for name in names:
            made += self._deliveries(tenant, name, obj=args.get("object"), override=args.get("body"),
                                     faults=faults, delay=delay, now=now)
        # Same due time, so the queue's numbering decides: out_of_order queues the batch backwards.
        self._schedule(made[::-1] if webhooks.OUT_OF_ORDER in faults else made)
        return json_response(202, {"tenant": tenant, "events": sorted({d.event_id for d in made}),
                                   "deliveries": [d.view() for d in sorted(made, key=lambda d: d.seq)],
                                   "note": None if made else "no endpoint of this tenant subscribes to these "
                                   "events; register one with POST /__sandlot/webhooks/endpoints"})

    def resend(self, tenant: str, delivery_id: str) -> webhooks.Delivery | None:
        """Deliver a tenant's delivery again now, as a new delivery (its faults left out); None
        when the tenant has no such delivery."""
        old = next((d for d in self.outbox.deliveries(tenant) if d.delivery_id == delivery_id), None)
        if old is None:
            return None
        again = webhooks.Delivery(
            "whd_" + secrets.token_hex(8), tenant, old.event_id, old.event_type, old.url, old.secret, old.body,
            self.clock.now(tenant), 0, old.endpoint_id, "resend")  # the queue numbers it
        self._schedule([again])
        return again

    def reset(self, tenant: str) -> None:
        """Forget a tenant's simulation: its state in memory (stateless; the store resets its own),
        deliveries and rate-limit buckets."""
        if self._memory is not None:
            self._memory.reset(tenant)
        self.outbox.forget(tenant)
        if self.limiter is not None:
            self.limiter.forget(tenant)

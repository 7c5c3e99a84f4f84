"""Webhooks, pure part: where events come from, what they look like, how they are signed, and
when each delivery (and each retry) is due.

Used by the simulation stage (simulation/stage.py), which registers endpoints, triggers events
and schedules deliveries here, and by the delivery worker (simulation/webhook_sender.py), which
takes due deliveries, POSTs them and reports back. Nothing here does I/O or reads a clock:
callers pass the time (a tenant's virtual time for scheduling, the wall clock for signatures).

Event sources:
- the spec's OpenAPI 3.1 `webhooks` (event name -> a POST whose request body is the payload);
- operation `callbacks` (after the operation succeeds, POST to the URL its runtime expression
  names, e.g. `{$request.body#/callback_url}`);
- rules (`x-sandlot-webhooks.rules` in the spec or `webhooks.rules` in the sidecar config):
  `{after: createCharge, send: charge.succeeded, delay: 2s}` puts the created object in the
  event's `data.object` and delivers it 2 s of the tenant's (virtual) time later.

Signature scheme (documented in docs/scenarios.md): header
`Sandlot-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import hmac
import json
import random
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from sandlot.util.durations import DurationError, parse_duration

SIGNATURE_HEADER = "Sandlot-Signature"
ENDPOINTS_KEY = "sandlot.webhooks.endpoints"
CALLBACK_SECRET_KEY = "sandlot.webhooks.callback_secret"

DUPLICATE = "duplicate"
DELAY = "delay"
OUT_OF_ORDER = "out_of_order"
BAD_SIGNATURE = "bad_signature"
FAULTS = (DUPLICATE, DELAY, OUT_OF_ORDER, BAD_SIGNATURE)

#: Finished deliveries kept per tenant for the delivery log.
KEEP_FINISHED = 200

_EXPRESSION = re.compile(r"\{(\$[^}]+)\}")


class WebhookError(ValueError):
    """A webhook declaration or trigger that cannot be used; the message says the fix."""


# -- signing ---------------------------------------------------------------------------------

def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Return the hex HMAC-SHA256 of `<timestamp>.<body>` under `secret`."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """Return the `Sandlot-Signature` value: `t=<timestamp>,v1=<signature>`."""
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify(header: str, secret: str, body: bytes, now: float, tolerance: float = 300.0) -> bool:
    """Check a `Sandlot-Signature` value (the reference verifier; receivers write their own)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(parts.get("v1", ""), sign(secret, timestamp, body))


# -- sources ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class EventType:
    """An event the sandbox can send: its name and payload schema (None: a plain envelope)."""

    name: str
    schema: Any = None
    description: str = ""


@dataclass(frozen=True)
class Rule:
    """"After operation X succeeds, send event Y `delay` seconds later"."""

    after: str
    send: str
    delay: float = 0.0


@dataclass(frozen=True)
class Callback:
    """An operation callback: after success, POST a payload to the URL the expression gives."""

    name: str
    url_expression: str
    schema: Any = None


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts in all (first try included) and exponential backoff between them."""

    attempts: int = 5
    backoff: float = 1.0
    max_backoff: float = 3600.0
    timeout: float = 5.0

    def delay_after(self, attempt: int) -> float:
        """Return the wait before attempt `attempt + 1`: backoff * 2^(attempt-1), capped."""
        return min(self.max_backoff, self.backoff * (2 ** max(0, attempt - 1)))


def _json_body_schema(deref: Callable[[Any], Any], operation: Any) -> Any:
    body = deref((operation or {}).get("requestBody")) or {}
    content = body.get("content") or {}
    media = content.get("application/json") or next(iter(content.values()), None)
    return (deref(media) or {}).get("schema") if isinstance(media, Mapping) else None


def event_types(document: Mapping[str, Any], deref: Callable[[Any], Any]) -> dict[str, EventType]:
    """Read OpenAPI 3.1 `webhooks`: name -> EventType with its POST request body schema."""
    found: dict[str, EventType] = {}
    for name, item in (document.get("webhooks") or {}).items():
        item = deref(item) or {}
        operation = item.get("post") or next((v for k, v in item.items()
                                              if k in ("put", "patch")), None)
        if not isinstance(operation, Mapping):
            continue
        found[str(name)] = EventType(str(name), _json_body_schema(deref, operation),
                                     str(operation.get("summary") or operation.get("description") or ""))
    return found


def callbacks_of(operation: Mapping[str, Any], deref: Callable[[Any], Any]) -> list[Callback]:
    """Read an operation's `callbacks`: one Callback per (name, URL expression) with a POST."""
    found = []
    for name, by_url in (operation.get("callbacks") or {}).items():
        for expression, item in (deref(by_url) or {}).items():
            item = deref(item) or {}
            post = item.get("post")
            if isinstance(post, Mapping):
                found.append(Callback(str(name), str(expression), _json_body_schema(deref, post)))
    return found


def rules_from(declarations: Any, where: str) -> list[Rule]:
    """Read `rules: [{after: createCharge, send: charge.succeeded, delay: 2s}]`."""
    if declarations is None:
        return []
    if not isinstance(declarations, Sequence) or isinstance(declarations, (str, bytes)):
        raise WebhookError(f"{where}: a list of {{after: <operationId>, send: <event>, delay: 2s}}")
    rules = []
    for i, item in enumerate(declarations):
        if not isinstance(item, Mapping) or not item.get("after") or not item.get("send"):
            raise WebhookError(f"{where}[{i}]: needs `after` (an operationId or 'POST /path') and "
                               "`send` (an event name)")
        try:
            delay = parse_duration(item.get("delay", 0), f"{where}[{i}].delay")
        except DurationError as exc:
            raise WebhookError(str(exc)) from None
        rules.append(Rule(str(item["after"]), str(item["send"]), delay))
    return rules


def policy_from(data: Any, where: str) -> RetryPolicy:
    """Read `retry: {attempts: 5, backoff: 1s, maxBackoff: 1h}` and `timeout: 5s`."""
    data = data or {}
    if not isinstance(data, Mapping):
        raise WebhookError(f"{where}: write {{retry: {{attempts: 5, backoff: 1s}}, timeout: 5s}}")
    retry = data.get("retry") or {}
    attempts = retry.get("attempts", 5)
    if not isinstance(attempts, int) or attempts < 1:
        raise WebhookError(f"{where}.retry.attempts: a whole number of at least 1")
    try:
        return RetryPolicy(attempts, parse_duration(retry.get("backoff", "1s"), f"{where}.retry.backoff"),
                           parse_duration(retry.get("maxBackoff", "1h"), f"{where}.retry.maxBackoff"),
                           parse_duration(data.get("timeout", "5s"), f"{where}.timeout"))
    except DurationError as exc:
        raise WebhookError(str(exc)) from None


# -- runtime expressions (callbacks) -----------------------------------------------------------

def _pointer(value: Any, pointer: str) -> Any:
    for token in [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]:
        if isinstance(value, Mapping):
            value = value.get(token)
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            return None
    return value


def expand_expression(template: str, context: Mapping[str, Any]) -> str | None:
    """Expand `{$request.body#/ptr}`, `{$request.query.x}`, `{$request.header.x}`,
    `{$response.body#/ptr}` in a callback URL; None when a value is missing."""
    missing = False

    def one(found: re.Match[str]) -> str:
        nonlocal missing
        expression = found.group(1)
        source, _, rest = expression[1:].partition(".")
        value: Any = None
        if rest.startswith("body"):
            value = _pointer(context.get(f"{source}.body"), rest.partition("#")[2])
        elif rest.startswith(("query.", "header.")):
            kind, _, name = rest.partition(".")
            value = (context.get(f"{source}.{kind}") or {}).get(name.lower() if kind == "header" else name)
        if value is None:
            missing = True
            return ""
        return str(value)

    url = _EXPRESSION.sub(one, template)
    if template.startswith("$") and not template.startswith("${"):
        url = _EXPRESSION.sub(one, "{" + template + "}")
    return None if missing or not url.startswith(("http://", "https://")) else url


# -- events ----------------------------------------------------------------------------------

def deep_merge(base: Any, override: Any) -> Any:
    """Return `base` with `override` merged in (mappings recursively; anything else replaces)."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(override)


def build_event(event_type: str, schema: Any, generate: Callable[[Any, random.Random], Any],
                event_id: str, created: float, obj: Any = None, override: Any = None) -> Any:
    """Build an event payload: generated from its schema (or an envelope), with id, type,
    created and `data.object` filled in, then the caller's override merged on top."""
    rng = random.Random(event_type)  # the same event type always gets the same generated base
    payload: Any = generate(schema, rng) if schema is not None else None
    if not isinstance(payload, dict):
        payload = payload if payload is not None else {}
    if isinstance(payload, dict):
        if schema is None:
            payload = {"id": event_id, "object": "event", "type": event_type, "created": int(created),
                       "data": {"object": obj if obj is not None else {}}}
        else:
            if "id" in payload:
                payload["id"] = event_id
            if "type" in payload:
                payload["type"] = event_type
            if isinstance(payload.get("created"), int):
                payload["created"] = int(created)
            data = payload.get("data")
            if obj is not None and isinstance(data, dict) and "object" in data:
                data["object"] = obj
            elif obj is not None and "object" in payload and isinstance(payload["object"], dict):
                payload["object"] = obj
    return deep_merge(payload, override) if override is not None else payload


# -- endpoints -------------------------------------------------------------------------------

def new_endpoint(url: Any, events: Any = None, secret: Any = None) -> dict[str, Any]:
    """Return a new endpoint record (id, url, signing secret, event patterns); check the input."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise WebhookError('give the endpoint as {"url": "http://127.0.0.1:8000/hooks"} (http or https)')
    patterns = events if events is not None else ["*"]
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise WebhookError('events: a list of event names or patterns, e.g. ["charge.*"]')
    return {"id": "we_" + secrets.token_hex(8), "url": url, "events": patterns,
            "secret": str(secret) if secret else "whsec_" + secrets.token_urlsafe(24)}


def configured_endpoints(declarations: Any, where: str) -> list[dict[str, Any]]:
    """Read the config's `webhooks.endpoints`: endpoints every tenant has (they survive resets).

    Each needs a `url` and a `secret` (the app under test verifies with it, so it must be known)."""
    if declarations is None:
        return []
    if not isinstance(declarations, Sequence) or isinstance(declarations, (str, bytes)):
        raise WebhookError(f"{where}: a list of {{url: http://app:8080/hooks, secret: whsec_..., events: [...]}}")
    found = []
    for i, item in enumerate(declarations):
        if not isinstance(item, Mapping) or not item.get("secret"):
            raise WebhookError(f"{where}[{i}]: give url and secret (the receiver verifies with the secret)")
        try:
            endpoint = new_endpoint(item.get("url"), item.get("events"), item["secret"])
        except WebhookError as exc:
            raise WebhookError(f"{where}[{i}]: {exc}") from None
        found.append({**endpoint, "id": f"we_config_{i}", "configured": True})
    return found


def subscribed(endpoints: Iterable[Mapping[str, Any]], event_type: str) -> list[Mapping[str, Any]]:
    """Return the endpoints whose patterns match the event type."""
    return [e for e in endpoints if any(fnmatch.fnmatchcase(event_type, p) for p in e.get("events", ["*"]))]


# -- deliveries ------------------------------------------------------------------------------

@dataclass
class Attempt:
    """One try at delivering: when (virtual and wall time), what came back, what happens next."""

    number: int
    at: float
    signed_at: int
    status: int | None
    error: str | None
    duration_ms: float
    next_attempt_at: float | None = None
    signature: str = ""  # the Sandlot-Signature header sent (an HMAC, not the secret)


@dataclass
class Delivery:
    """One event on its way to one URL; retried until it succeeds or attempts run out."""

    delivery_id: str
    tenant_id: str
    event_id: str
    event_type: str
    url: str
    secret: str
    body: bytes
    due_at: float
    seq: int = 0  # numbered by the queue when scheduled
    endpoint_id: str | None = None
    source: str = "trigger"  # trigger | rule | callback
    faults: tuple[str, ...] = ()
    state: str = "scheduled"  # scheduled | delivered | failed
    attempts: list[Attempt] = field(default_factory=list)

    def record_attempt(self, attempt: Attempt, policy: RetryPolicy) -> bool:
        """Add an attempt: schedule the retry with exponential backoff (False), or finish (True)."""
        ok = attempt.status is not None and 200 <= attempt.status < 300
        if not ok and attempt.number < policy.attempts:
            self.due_at = attempt.at + policy.delay_after(attempt.number)
            attempt.next_attempt_at = self.due_at
            self.state = "retrying"
            self.attempts.append(attempt)
            return False
        self.attempts.append(attempt)
        self.state = "delivered" if ok else "failed"
        return True

    def view(self) -> dict[str, Any]:
        """Return the delivery as the admin API shows it (no secret; the body as JSON)."""
        shown = asdict(self)
        shown.pop("secret")
        try:
            shown["body"] = json.loads(self.body)
        except ValueError:
            shown["body"] = self.body.decode("utf-8", "replace")
        shown["faults"] = list(self.faults)
        return shown


class Outbox:
    """Scheduled deliveries of every tenant, in memory, in due order; keeps the finished ones for
    the log. The stateless mock's queue; the stateful one keeps its queue in the state file
    (simulation/durable.py, `StoredOutbox`), with the same methods."""

    def __init__(self, keep: int = KEEP_FINISHED) -> None:
        self.keep = keep
        self._pending: list[Delivery] = []
        self._inflight: list[Delivery] = []
        self._done: dict[str, list[Delivery]] = {}
        self._seq = 0

    def schedule(self, deliveries: Sequence[Delivery]) -> None:
        """Queue deliveries, numbering them in order (ties on due time go in that order)."""
        for delivery in deliveries:
            self._seq += 1
            delivery.seq = self._seq
            self._pending.append(delivery)

    def due(self, now_of: Callable[[str], float]) -> list[Delivery]:
        """Return (and take out) the deliveries due now, earliest first, ties in sequence order."""
        ready = [d for d in self._pending if d.due_at <= now_of(d.tenant_id)]
        ready.sort(key=lambda d: (d.due_at, d.seq))
        taken = {id(d) for d in ready}
        self._pending = [d for d in self._pending if id(d) not in taken]
        self._inflight += ready
        return ready

    def seconds_to_next(self, now_of: Callable[[str], float]) -> float | None:
        """Return how long until the next pending delivery is due (None when none is pending)."""
        if not self._pending:
            return None
        return max(0.0, min(d.due_at - now_of(d.tenant_id) for d in self._pending))

    def settle(self, delivery: Delivery, attempt: Attempt, policy: RetryPolicy) -> None:
        """Record an attempt; schedule the retry with exponential backoff, or finish."""
        if not any(d is delivery for d in self._inflight):
            return  # the tenant was reset while this attempt was on the wire
        self._inflight = [d for d in self._inflight if d is not delivery]
        if not delivery.record_attempt(attempt, policy):
            self._pending.append(delivery)
            return
        done = self._done.setdefault(delivery.tenant_id, [])
        done.append(delivery)
        del done[:-self.keep]

    def deliveries(self, tenant_id: str) -> list[Delivery]:
        """Return the tenant's deliveries, finished and pending, in sequence order."""
        found = [d for d in self._pending + self._inflight if d.tenant_id == tenant_id] + \
            self._done.get(tenant_id, [])
        return sorted(found, key=lambda d: d.seq)

    def forget(self, tenant_id: str) -> None:
        """Drop everything of a tenant (its reset)."""
        self._pending = [d for d in self._pending if d.tenant_id != tenant_id]
        self._inflight = [d for d in self._inflight if d.tenant_id != tenant_id]
        self._done.pop(tenant_id, None)


class DeliveryQueue(Protocol):
    """What the simulation and the delivery worker need of a queue (`Outbox`, `StoredOutbox`)."""

    def schedule(self, deliveries: Sequence[Delivery]) -> None: ...
    def due(self, now_of: Callable[[str], float]) -> list[Delivery]: ...
    def seconds_to_next(self, now_of: Callable[[str], float]) -> float | None: ...
    def settle(self, delivery: Delivery, attempt: Attempt, policy: RetryPolicy) -> None: ...
    def deliveries(self, tenant_id: str) -> list[Delivery]: ...
    def forget(self, tenant_id: str) -> None: ...

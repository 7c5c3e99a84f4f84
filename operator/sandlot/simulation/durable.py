"""What the stateful simulation keeps in the state file: the webhook queue and rate-limit buckets.

Used by the simulation stage (simulation/stage.py) when it runs over a `Store` (the stateful
stub), in place of the in-memory `Outbox` (simulation/webhooks.py) and `RateLimiter`
(simulation/ratelimit.py), with the same methods. So a restart, even `kill -9`, loses no
scheduled webhook, and worker processes sharing one file (`--workers`) share one queue and one
bucket per key.

Delivery guarantee (docs/scenarios.md): at least once. A delivery is claimed by one process
before its attempt and released when the attempt is written back; when a process dies with an
attempt on the wire, the attempt is made again (after a restart, which releases every claim, or
when the claim lapses for the other workers), so the receiver may see that delivery twice, with
the same `Sandlot-Delivery-Id` and `Sandlot-Event-Id`. Nothing else is ever sent twice.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from sandlot.simulation.ratelimit import Bucket, Decision, Limit, take
from sandlot.simulation.webhooks import KEEP_FINISHED, Attempt, Delivery, RetryPolicy
from sandlot.state.store import DeliveryRow, Store

#: How long a claim outlives its attempts' timeouts before another process may take it over.
CLAIM_GRACE = 10.0
#: Deliveries claimed at once: they are attempted one after another, so the claim covers them all.
CLAIM_BATCH = 16


def to_row(delivery: Delivery) -> DeliveryRow:
    """Return the stored form of a delivery."""
    record = {"event_id": delivery.event_id, "event_type": delivery.event_type, "url": delivery.url,
              "secret": delivery.secret, "endpoint_id": delivery.endpoint_id, "source": delivery.source,
              "faults": list(delivery.faults), "attempts": [asdict(a) for a in delivery.attempts]}
    return DeliveryRow(delivery.delivery_id, delivery.tenant_id, delivery.due_at, delivery.state, delivery.body,
                       record, delivery.seq)


def from_row(row: DeliveryRow) -> Delivery:
    """Return the delivery a stored row holds."""
    record: dict[str, Any] = row.record
    return Delivery(row.delivery_id, row.tenant_id, record["event_id"], record["event_type"], record["url"],
                    record["secret"], row.body, row.due_at, row.seq, record.get("endpoint_id"),
                    record.get("source", "trigger"), tuple(record.get("faults") or ()), row.state,
                    [Attempt(**a) for a in record.get("attempts") or []])


class StoredOutbox:
    """The webhook queue in the state file, shared by every process serving it."""

    def __init__(self, store: Store, timeout: Callable[[], float], wall: Callable[[], float] = time.time,
                 keep: int = KEEP_FINISHED) -> None:
        """`timeout` gives the attempts' current timeout (a claim lasts that long plus a grace)."""
        self.store = store
        self.timeout = timeout
        self.wall = wall
        self.keep = keep
        self._owner: tuple[int, str] | None = None

    @property
    def owner(self) -> str:
        """Return this process's claim name (a forked worker gets its own)."""
        if self._owner is None or self._owner[0] != os.getpid():
            self._owner = (os.getpid(), f"{os.getpid()}-{secrets.token_hex(4)}")
        return self._owner[1]

    def schedule(self, deliveries: Sequence[Delivery]) -> None:
        """Queue deliveries in one transaction, numbered in order."""
        for delivery, seq in zip(deliveries, self.store.put_deliveries([to_row(d) for d in deliveries]),
                                 strict=True):
            delivery.seq = seq

    def _waiting(self, now_of: Callable[[str], float]) -> list[tuple[str, float, float]]:
        """Return (delivery id, due at, tenant's now) of the deliveries nobody holds."""
        nows: dict[str, float] = {}
        found = []
        for delivery_id, tenant_id, due_at in self.store.pending_deliveries(self.wall()):
            if tenant_id not in nows:
                nows[tenant_id] = now_of(tenant_id)
            found.append((delivery_id, due_at, nows[tenant_id]))
        return found

    def due(self, now_of: Callable[[str], float]) -> list[Delivery]:
        """Claim and return the deliveries due now, earliest first, ties in sequence order."""
        waiting = sorted((due_at, i, delivery_id) for i, (delivery_id, due_at, now) in
                         enumerate(self._waiting(now_of)) if due_at <= now)
        ready = [delivery_id for _, _, delivery_id in waiting[:CLAIM_BATCH]]
        if not ready:
            return []
        wall = self.wall()
        until = wall + self.timeout() * len(ready) + CLAIM_GRACE
        rows = self.store.claim_deliveries(ready, self.owner, wall, until)
        return sorted((from_row(row) for row in rows), key=lambda d: (d.due_at, d.seq))

    def seconds_to_next(self, now_of: Callable[[str], float]) -> float | None:
        """Return how long until the next waiting delivery is due (None when none waits)."""
        waits = [due_at - now for _, due_at, now in self._waiting(now_of)]
        return max(0.0, min(waits)) if waits else None

    def settle(self, delivery: Delivery, attempt: Attempt, policy: RetryPolicy) -> None:
        """Record an attempt and release the claim (nothing happens if the tenant was reset)."""
        delivery.record_attempt(attempt, policy)
        self.store.settle_delivery(to_row(delivery), self.owner, self.keep, self.wall())

    def deliveries(self, tenant_id: str) -> list[Delivery]:
        """Return the tenant's deliveries, finished and pending, in sequence order."""
        return [from_row(row) for row in self.store.list_deliveries(tenant_id)]

    def forget(self, tenant_id: str) -> None:
        """Drop everything of a tenant (its reset)."""
        self.store.forget_deliveries(tenant_id)


class StoredLimiter:
    """Token buckets in the state file: one per key for every process serving it.

    Bucket times are the injected monotonic clock's (CLOCK_MONOTONIC counts from boot, so every
    process on a machine agrees; on another machine a bucket refills fully, or waits one request)."""

    def __init__(self, store: Store, limit: Limit, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.limit = limit
        self.clock = clock

    def check(self, key: str) -> Decision:
        """Take one token for `key` and return the decision."""
        decided: list[Decision] = []

        def update(stored: tuple[float, float] | None) -> tuple[float, float]:
            decision = take(Bucket(*stored) if stored else None, self.limit, self.clock())
            decided.append(decision)
            return decision.bucket.tokens, decision.bucket.at

        self.store.update_bucket(key, update)
        return decided[-1]

    def forget(self, key: str) -> None:
        """Drop a key's bucket (it starts full again)."""
        self.store.forget_bucket(key)

"""The `Store` protocol: everything the stateful sandbox persists, behind one small interface.

The state stage, the admin API and the CLI (`sandlot keys`, `sandlot reset`) talk to a
`Store` only; `SQLiteStore` (sandlot.state.sqlite_store) is the default implementation.
Another backend (Postgres, Redis ...) implements this protocol and nothing else changes.

Every object-level method takes the tenant id first: tenants are isolated in every query.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

#: Where an object came from: seeded objects are the tenant's baseline (restored by reset,
#: exempt from retention and from the object quota); api objects were created by requests.
ORIGIN_SEED = "seed"
ORIGIN_API = "api"


@dataclass(frozen=True)
class Tenant:
    """A tenant: the unit of isolation. Each test credential belongs to exactly one."""

    tenant_id: str
    name: str
    created_at: float


@dataclass(frozen=True)
class KeyRecord:
    """A stored credential: only its hash, a printable hint, and whom it belongs to."""

    key_id: str
    key_hash: str
    tenant_id: str
    hint: str
    created_at: float
    revoked_at: float | None = None


@dataclass(frozen=True)
class StoredObject:
    """One object of a collection as stored: the JSON body plus bookkeeping."""

    collection: str
    object_id: str
    data: dict[str, Any]
    origin: str
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class ListQuery:
    """A page request over one collection: equality filters (a list value matches any of its
    items) and array membership (or its absence), then position, then size, in creation order or newest first."""

    filters: Mapping[str | tuple[str, ...], Any] = field(default_factory=dict)  # a tuple: a nested property
    offset: int = 0
    after_id: str | None = None
    before_id: str | None = None
    limit: int = 10
    #: Array properties that must hold a value (`?label=bug` on `labels`; a tuple: a nested one),
    #: and those that must not.
    contains: Mapping[str | tuple[str, ...], Any] = field(default_factory=dict)
    lacks: Mapping[str | tuple[str, ...], Any] = field(default_factory=dict)
    #: Newest first instead of creation order.
    descending: bool = False


@dataclass(frozen=True)
class Page:
    """A page of objects in creation order, with whether more follow and the total match count."""

    items: list[StoredObject]
    has_more: bool
    total: int


@dataclass
class DeliveryRow:
    """One webhook delivery as stored: what the queue needs to find it, and the rest as JSON
    (the simulation's `Delivery`, simulation/webhooks.py, reads and writes it)."""

    delivery_id: str
    tenant_id: str
    due_at: float
    state: str
    body: bytes
    record: dict[str, Any]
    seq: int = 0


class NotSaved(Exception):
    """A request's writes could not be committed to the store (none of them were kept)."""


class WriteTicket(Protocol):
    """One request's part in a store's write group (`Store.write_group`): entered around the
    request's work, then awaited before its answer goes out."""

    def __enter__(self) -> WriteTicket: ...
    def __exit__(self, *exc: object) -> None: ...
    async def saved(self) -> None:
        """Return once what the request wrote is in the file; raise NotSaved when it could not
        be (none of it was)."""


class Store(Protocol):
    """What the stateful sandbox needs from persistence."""

    # tenants and keys
    def create_tenant(self, tenant_id: str, name: str, now: float) -> Tenant: ...
    def get_tenant(self, tenant_id: str) -> Tenant | None: ...
    def list_tenants(self) -> list[Tenant]: ...
    def add_key(self, record: KeyRecord) -> None: ...
    def find_key(self, key_hash: str) -> KeyRecord | None: ...
    def list_keys(self, tenant_id: str | None = None) -> list[KeyRecord]: ...
    def revoke_key(self, key_id: str, now: float) -> bool: ...

    # seed: one current seed per store; every tenant starts from it and reset returns to it
    def set_seed(self, objects: Mapping[str, Sequence[tuple[str, dict[str, Any]]]], now: float) -> None: ...
    def seed_counts(self) -> dict[str, int]: ...
    def reset_tenant(self, tenant_id: str, now: float) -> int: ...

    # objects
    def insert_object(self, tenant_id: str, collection: str, object_id: str, data: dict[str, Any],
                      now: float, origin: str = ORIGIN_API) -> StoredObject: ...
    def get_object(self, tenant_id: str, collection: str, object_id: str) -> StoredObject | None: ...
    def replace_object(self, tenant_id: str, collection: str, object_id: str, data: dict[str, Any],
                       now: float) -> StoredObject | None: ...
    def delete_object(self, tenant_id: str, collection: str, object_id: str) -> bool: ...
    def list_objects(self, tenant_id: str, collection: str, query: ListQuery) -> Page: ...
    def generation(self) -> Any:
        """A value that changes whenever anything stored may have changed (this process's writes
        and every other's): what a kept answer is checked against."""
    def one_view(self) -> AbstractContextManager[None]:
        """A block (one request) in which another process's commits may show only from the next
        block on: the store may then check for them once per block."""
    def write_group(self) -> WriteTicket:
        """A ticket for one request on the server's event loop: its writes may be committed
        together with the other requests' of the same loop turn; it answers after `saved()`."""
    def max_int_id(self, tenant_id: str, collection: str) -> int: ...
    def next_int_id(self, tenant_id: str, collection: str) -> int: ...
    def count_objects(self, tenant_id: str, origin: str | None = None) -> int: ...
    def purge_older_than(self, tenant_id: str, cutoff: float) -> int: ...

    # per-tenant state (scenario, clock, counters): reset together with the objects
    def get_state(self, tenant_id: str, key: str) -> Any: ...
    def get_states(self, tenant_id: str, keys: Sequence[str]) -> dict[str, Any]: ...
    def set_state(self, tenant_id: str, key: str, value: Any) -> None: ...

    # usage (the request journal is its own store: state/journal.py)
    def count_request(self, tenant_id: str, day: str) -> int: ...

    # the simulation's webhook queue and rate-limit buckets (simulation/durable.py)
    def put_deliveries(self, rows: Sequence[DeliveryRow]) -> list[int]: ...
    def pending_deliveries(self, now: float) -> list[tuple[str, str, float]]: ...
    def claim_deliveries(self, delivery_ids: Sequence[str], owner: str, now: float,
                         until: float) -> list[DeliveryRow]: ...
    def settle_delivery(self, row: DeliveryRow, owner: str, keep: int, now: float) -> bool: ...
    def list_deliveries(self, tenant_id: str) -> list[DeliveryRow]: ...
    def forget_deliveries(self, tenant_id: str) -> None: ...
    def release_claims(self) -> int: ...
    def update_bucket(self, key: str, update: Callable[[tuple[float, float] | None], tuple[float, float]]
                      ) -> tuple[float, float]: ...
    def forget_bucket(self, key: str) -> None: ...

    def reopen(self) -> None: ...

    # the whole store as bytes: what a sleeping sandbox keeps (docs/tenants.md)
    def snapshot(self) -> bytes: ...
    def restore(self, data: bytes) -> None: ...

    def close(self) -> None: ...

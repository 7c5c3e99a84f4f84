"""`SQLiteStore`: the default `Store`, one SQLite file (WAL) per stub, standard library only.

Created by the stateful server (`sandlot mock --stateful --db FILE`), `sandlot up`, and the
`sandlot keys` / `sandlot reset` commands, which open the same file the server uses. State
survives a restart because everything lives in the file. Every query names the tenant.

Reset is one `BEGIN IMMEDIATE` transaction: delete the tenant's objects and state, copy the
seed rows back with `INSERT ... SELECT` (no Python round trip per object), so it is atomic and
fast even for large seeds.

Reads on the request path (a key's tenant, tenant state, an object, a page) are kept until the
file changes: before a kept read is answered, `PRAGMA data_version` tells whether another
connection (another worker process, `sandlot keys revoke`) committed since the last look, and
everything kept is dropped if so; this connection's own writes drop what they change (the
request journal beside the state writes through this connection: state/journal.py). So a
revoked key stops working at the next request in every process. data_version is read at most
once per request (`one_view`), and only when the wal-index header in the `-shm` file moved
(`_WalHeader`: any commit rewrites it; reading it is a memory read, where data_version is a read
transaction and two file-lock system calls). Kept rows are parsed again for each caller (nobody
shares a mutable object).

The simulation keeps its webhook queue (every delivery and attempt) and rate-limit buckets here
too (simulation/durable.py), so nothing scheduled is lost on a restart. Several processes may
share one file (`--workers`): WAL lets readers run beside the one writer, every write is a
`BEGIN IMMEDIATE` transaction that waits its turn (busy timeout), and deliveries are claimed by
one process at a time. The file's schema version is checked, and older files migrated, by
state/schema.py before anything is written.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import mmap
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from sandlot.state.schema import SCHEMA_VERSION, check_readable, migrate, stored_version, too_new
from sandlot.state.store import (
    ORIGIN_API,
    ORIGIN_SEED,
    DeliveryRow,
    KeyRecord,
    ListQuery,
    NotSaved,
    Page,
    StoredObject,
    Tenant,
)
from sandlot.util import fastjson
from sandlot.util.sqlite import immediate

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (
    tenant_id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS keys (
    key_id TEXT PRIMARY KEY, key_hash TEXT NOT NULL UNIQUE, tenant_id TEXT NOT NULL,
    hint TEXT NOT NULL, created_at REAL NOT NULL, revoked_at REAL);
CREATE TABLE IF NOT EXISTS seed_objects (
    seq INTEGER PRIMARY KEY, collection TEXT NOT NULL, object_id TEXT NOT NULL, data TEXT NOT NULL,
    UNIQUE (collection, object_id));
CREATE TABLE IF NOT EXISTS seed_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, collection TEXT NOT NULL,
    object_id TEXT NOT NULL, data TEXT NOT NULL, origin TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL,
    UNIQUE (tenant_id, collection, object_id));
CREATE INDEX IF NOT EXISTS objects_by_tenant_created ON objects (tenant_id, origin, created_at);
CREATE TABLE IF NOT EXISTS tenant_state (
    tenant_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (tenant_id, key));
CREATE TABLE IF NOT EXISTS usage (
    tenant_id TEXT NOT NULL, day TEXT NOT NULL, requests INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, day));
"""

#: tenant_state key marking a tenant created before any seed was registered (by `sandlot keys
#: create` on a fresh file): the first registered seed is loaded into it.
UNSEEDED = "sandlot.unseeded"

_OBJECT_COLUMNS = "collection, object_id, data, origin, created_at, updated_at"

#: Reads kept per kind (key lookups, tenant state, objects and pages) until the file changes; a
#: full kind is emptied rather than evicted one by one.
READ_CACHE = 4096
#: Rows kept in all (pages of large objects weigh more than lookups): past it, all is dropped.
READ_ROWS = 20_000
#: The kinds of kept reads a write may change (`_tx(changes=...)`): keys, tenant state, objects.
KEYS, STATES, OBJECTS = "keys", "states", "objects"
EVERYTHING = (KEYS, STATES, OBJECTS)


def _row_to_object(row: Sequence[Any]) -> StoredObject:
    collection, object_id, data, origin, created_at, updated_at = row
    return StoredObject(collection, object_id, fastjson.loads(data), origin, created_at, updated_at)


_DELIVERY_COLUMNS = "delivery_id, tenant_id, seq, due_at, state, body, record"


def _row_to_delivery(row: Sequence[Any]) -> DeliveryRow:
    delivery_id, tenant_id, seq, due_at, state, body, record = row
    return DeliveryRow(delivery_id, tenant_id, due_at, state, bytes(body), json.loads(record), seq)


def _json_path(field: str | tuple[str, ...]) -> str:
    # Quoted member names let property names contain dots or dashes; a tuple is a nested property.
    names = (field,) if isinstance(field, str) else field
    return "$" + "".join('."' + name.replace('"', '\\"') + '"' for name in names)


def _sql_value(value: Any) -> Any:
    # json_extract returns 1/0 for JSON booleans and the text of nested values.
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (dict, list)):
        return fastjson.dumps_text(value)
    return value


def _rollback_journal(image: bytes) -> bytes:
    """Return a database image marked for the rollback journal (header bytes 18-19 = 1, not WAL's 2).

    The copy of a WAL database keeps the WAL marks, and an in-memory database cannot open a WAL;
    the marks say nothing about the content.
    """
    if image[18:20] == b"\x02\x02":
        return image[:18] + b"\x01\x01" + image[20:]
    return image


#: Pages the WAL holds before a commit checkpoints it (see `SQLiteStore._connect`).
WAL_PAGES = 8192


class _WalHeader:
    """The wal-index header of a WAL database, read from its `-shm` file without a system call.

    Every commit, by any connection in any process, rewrites this header (its change counter,
    frame count and checksums: https://sqlite.org/walformat.html, "The WAL-Index Header"), so
    while it reads the same nothing was committed, and the `PRAGMA data_version` that would say
    so (a read transaction: two file-lock system calls) can be skipped. The map lives as long
    as the connection it was opened beside, which keeps the `-shm` file in place and whole."""

    SIZE = 48  # the first of the header's two copies; SQLite writes it last

    def __init__(self, path: str | None) -> None:
        self._map: mmap.mmap | None = None
        if path is None:
            return
        try:
            fd = os.open(path + "-shm", os.O_RDONLY)
        except OSError:
            return  # no -shm (not in WAL mode, or :memory:): data_version is read every time
        try:
            if os.fstat(fd).st_size >= self.SIZE:
                self._map = mmap.mmap(fd, self.SIZE, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            self._map = None
        finally:
            os.close(fd)

    def read(self) -> bytes | None:
        """Return the header now (None: unknown, so read data_version)."""
        return self._map[:self.SIZE] if self._map is not None else None

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None


class _View(threading.local):
    """One thread's `SQLiteStore.one_view`: open or not, and the data_version read in it; and the
    `WriteTicket` its writes join a group with (`SQLiteStore.write_group`), if any."""

    open = False
    version: int | None = None
    ticket: WriteTicket | None = None


class _Group:
    """One write transaction that the requests of one event-loop turn write in, each in its own
    savepoint, committed once at the loop's next turn (`SQLiteStore.write_group`)."""

    __slots__ = ("loop", "thread", "waiters", "done", "error")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.thread = threading.get_ident()
        self.waiters: list[asyncio.Future[None]] = []
        self.done = False
        self.error: BaseException | None = None

    def finish(self, error: BaseException | None) -> None:
        """Record the commit's outcome and tell whoever waits, on the loop's thread."""
        self.error = error
        self.done = True
        if threading.get_ident() == self.thread:
            self._settle()
        elif not self.loop.is_closed():  # another thread took the lock and committed first
            self.loop.call_soon_threadsafe(self._settle)

    def _settle(self) -> None:
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)  # the ticket reads the outcome from the group
        self.waiters.clear()


class WriteTicket:
    """One request's place in a write group: entered around the request's work on the event loop's
    thread, then `saved()` is awaited before the answer goes out."""

    __slots__ = ("_store", "groups", "wrote_in")

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store
        #: The groups this request's writes (or reads) joined: one, unless another thread
        #: committed a group between two of its writes.
        self.groups: list[_Group] = []
        #: The last group it wrote in.
        self.wrote_in: _Group | None = None

    def join(self, group: _Group) -> None:
        if not self.groups or self.groups[-1] is not group:
            self.groups.append(group)

    def leave(self, group: _Group) -> None:
        """Forget a group this request only looked at (it never wrote in it)."""
        if self.wrote_in is not group and self.groups and self.groups[-1] is group:
            self.groups.pop()

    def __enter__(self) -> WriteTicket:
        self._store._view.ticket = self
        return self

    def __exit__(self, *exc: object) -> None:
        self._store._view.ticket = None

    async def saved(self) -> None:
        """Return once what the request wrote (or read unsaved) is committed; raise NotSaved
        (from the commit's error) when it could not be, and nothing of it was kept."""
        for group in self.groups:
            if not group.done:
                waiter = group.loop.create_future()  # one per request: a cancelled request cancels only its own
                group.waiters.append(waiter)
                await waiter
            if group.error is not None:
                raise NotSaved(str(group.error)) from group.error


class _StoreLock:
    """The lock around every use of a store's connection. Taking it outside a write group commits
    the group open on the connection first: nothing else may read, answer from or join writes
    whose requests have not been told they are saved."""

    __slots__ = ("_rlock", "_store")

    def __init__(self, store: SQLiteStore) -> None:
        self._rlock = threading.RLock()
        self._store = store

    def __enter__(self) -> bool:
        self._rlock.acquire()
        store = self._store
        if store._group is not None:
            ticket = store._view.ticket
            if ticket is None:
                try:
                    store._end_group()
                except BaseException:
                    self._rlock.release()
                    raise
            else:  # what it reads may be unsaved: its answer waits for the group too
                ticket.join(store._group)
        return True

    def __exit__(self, *exc: object) -> None:
        self._rlock.release()


class SQLiteStore:
    """A `Store` in one SQLite file; safe to share between threads (one lock, one connection)."""

    def __init__(self, path: str | Path) -> None:
        """Open (or create) the state file; raise StateFileError (state/schema.py), leaving the
        file untouched, when it is damaged, not a state file or of a newer schema."""
        self.path = str(path)
        version = check_readable(self.path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = _StoreLock(self)
        #: The write transaction grouping this turn's requests, while one is open (`write_group`).
        self._group: _Group | None = None
        self._kept: dict[str, dict[Any, Any]] = {kind: {} for kind in EVERYTHING}
        self._kept_rows = 0
        #: This connection's writes so far (its commits do not move data_version).
        self._writes = 0
        #: Per thread: whether it is inside `one_view`, and the data_version read in it.
        self._view = _View()
        self._db = self._connect()
        with self._lock:
            migrate(self._db, version, SCHEMA)
            self._watch()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across process crashes in WAL mode; only power loss can drop the
        # last transactions, which a sandbox can afford for the speed it buys.
        db.execute("PRAGMA synchronous=NORMAL")
        # Other worker processes write to the same file: wait for them rather than fail.
        db.execute("PRAGMA busy_timeout=10000")
        # Checkpoint (copy the WAL into the file, and sync it) every 8,192 pages rather than
        # SQLite's 1,000: a create rewrites the same last pages of the table and its index, so a
        # rarer checkpoint copies each of them once for many creates and syncs less often (about
        # a tenth less time per create). The WAL grows to 32 MiB before it starts over.
        db.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
        return db

    @property
    def connection(self) -> sqlite3.Connection:
        """This store's connection, for the journal beside it (state/journal.py): use it only
        holding `lock`."""
        return self._db

    @property
    def lock(self) -> _StoreLock:
        """The lock around every use of `connection`."""
        return self._lock

    # write groups ----------------------------------------------------------------------------
    def write_group(self) -> WriteTicket:
        """Return a ticket for one request answered on the event loop's thread: within it, the
        request's writes go into the transaction this loop turn's requests share (one savepoint
        each, its own rolled back alone on an error), committed once at the loop's next turn;
        the caller awaits `ticket.saved()` before it answers, so no answer claims a write that
        is not in the file. A create costs one commit per turn rather than one per request: the
        commit (the WAL frames written, the write lock taken and given back) was the largest
        single cost of a stateful create (docs/performance.md). Anything else in this process
        that takes the lock (a request without a ticket, another thread) commits the group
        first, so it never sees or joins unsaved writes; another process (a worker, `sandlot
        keys`) waits for the group's commit as for any writer (busy timeout)."""
        return WriteTicket(self)

    def _end_group(self, group: _Group | None = None, lost: BaseException | None = None) -> None:
        """Commit the open group (only `group`, when given); on failure roll it back and drop
        what was kept, and hand the error to the requests waiting (call holding the lock).
        `lost`: the error on which SQLite gave the group's transaction up, if it did."""
        current = self._group
        if current is None or (group is not None and current is not group):
            return
        self._group = None
        error: BaseException | None = None
        try:
            if not self._db.in_transaction:  # SQLite gave it up (a full disk): nothing of it is in the file
                raise lost if isinstance(lost, sqlite3.Error) else sqlite3.OperationalError(
                    f"the transaction was rolled back by SQLite{f' ({lost})' if lost else ''}")
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            error = exc
            log.error("could not commit the requests of one loop turn to %s (they answer 503): %s", self.path, exc)
            try:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
            except sqlite3.Error:
                log.exception("could not roll back the requests of one loop turn")
            finally:
                self._forget(EVERYTHING)
                self._writes += 1
        finally:
            current.finish(error)

    def _settle_group(self, group: _Group | None = None) -> None:
        """Commit the open group (only `group`, when given: the loop's next turn commits the
        group it scheduled) whoever asks, ticket or not (for what needs the connection outside
        any transaction: a restore, a snapshot, closing)."""
        with self._lock._rlock:
            self._end_group(group)

    def reopen(self) -> None:
        """Open a new connection to the same file (a forked worker process must not use its
        parent's; the parent closes its own before forking)."""
        self._settle_group()
        with self._lock:
            self._db = self._connect()
            self._watch()

    # kept reads ------------------------------------------------------------------------------
    def _watch(self) -> None:
        """Start watching this connection's view of the file, with nothing kept."""
        self._version_cursor = self._db.cursor()
        self._version_cursor.execute("PRAGMA data_version").fetchone()  # the -shm exists from here on
        old = getattr(self, "_header", None)
        if old is not None:
            old.close()
        self._header = _WalHeader(self.path if self.path != ":memory:" else None)
        self._seen: tuple[bytes | None, int] = (None, 0)
        self._version = self._data_version()
        self._forget(EVERYTHING)
        self._writes += 1

    def _data_version(self) -> int:
        view = self._view
        if view.open and view.version is not None:
            return view.version
        header = self._header.read()
        seen_header, seen_version = self._seen
        if header is not None and header == seen_header:
            version = seen_version  # nobody committed since data_version was last read
        else:
            # The header is read first: a commit between the two reads shows as a changed
            # header next time, and data_version is read again then.
            version = int(self._version_cursor.execute("PRAGMA data_version").fetchone()[0])
            self._seen = (header, version)
        if view.open:
            view.version = version
        return version

    @contextmanager
    def one_view(self) -> Iterator[None]:
        """Within the block, on this thread, read data_version once: the pipeline runs each
        request in one, so its kept reads (the key, the tenant's state, the answer) cost one
        PRAGMA together instead of one each (several microseconds each under load). Another
        connection's commit during the block shows from the next block on, as if it came just
        after this request; this connection's own writes still drop what they change."""
        view = self._view
        if view.open:  # nested: the outer block's view holds
            yield
            return
        view.open, view.version = True, None
        try:
            yield
        finally:
            view.open, view.version = False, None

    def generation(self) -> tuple[int, int]:
        """Return what changes whenever anything stored may have changed: this connection's
        writes, and data_version (another connection's commits, another worker's included)."""
        with self._lock:
            return self._writes, self._data_version()

    def _forget(self, kinds: Sequence[str]) -> None:
        for kind in kinds:
            self._kept[kind].clear()
        if all(not kept for kept in self._kept.values()):
            self._kept_rows = 0

    def _keep(self, kept: dict[Any, Any], key: Any, value: Any, rows: int) -> None:
        """Keep a read of `rows` rows, within the budget of rows kept (call with the lock held)."""
        if self._kept_rows + rows > READ_ROWS:
            self._forget(EVERYTHING)
        kept[key] = value
        self._kept_rows += rows

    def _kept_reads(self, kind: str) -> dict[Any, Any]:
        """Return the kept reads of one kind, emptied first when another connection committed
        since the last look (call with the lock held)."""
        version = self._data_version()
        if version != self._version:
            self._version = version
            self._forget(EVERYTHING)
        kept = self._kept[kind]
        if len(kept) >= READ_CACHE:
            kept.clear()
        return kept

    def _kept_query(self, kind: str, sql: str, params: tuple[Any, ...]) -> list[tuple]:
        """Return the rows of a read of one kind: kept ones while the file is unchanged."""
        key = (sql, *params)
        with self._lock:
            kept = self._kept_reads(kind)
            rows: list[tuple] | None = kept.get(key)
            if rows is None:
                rows = self._db.execute(sql, params).fetchall()
                self._keep(kept, key, rows, len(rows))
        return rows

    @contextmanager
    def _tx(self, changes: Sequence[str] = EVERYTHING) -> Iterator[sqlite3.Connection]:
        """Run the block in one immediate transaction, rolled back on any error; the kept reads
        of the kinds it `changes` are dropped (this connection's commits do not move
        data_version)."""
        with self._lock:
            ticket = self._view.ticket
            if ticket is not None:
                with self._grouped(ticket, changes) as db:
                    yield db
                return
            with immediate(self._db) as db:
                try:
                    yield db
                finally:
                    self._forget(changes)
                    self._writes += bool(changes)  # usage, counters, deliveries, buckets: no answer reads them

    @contextmanager
    def _grouped(self, ticket: WriteTicket, changes: Sequence[str]) -> Iterator[sqlite3.Connection]:
        """`_tx` for a request holding a ticket: a savepoint in this turn's group, opened (and its
        commit scheduled for the next turn) by the first write of the turn (call holding the lock)."""
        failed = next((g for g in ticket.groups if g.done and g.error is not None), None)
        if failed is not None:  # its earlier writes are gone: write nothing more, answer 503
            raise NotSaved(str(failed.error)) from failed.error
        group = self._group
        if group is not None and not self._db.in_transaction:  # SQLite gave it up under someone else
            self._end_group(group)
            ticket.leave(group)
            group = None
        if group is None:
            loop = asyncio.get_running_loop()
            self._db.execute("BEGIN IMMEDIATE")
            group = self._group = _Group(loop)
            loop.call_soon(self._settle_group, group)
        ticket.join(group)
        ticket.wrote_in = group
        self._db.execute("SAVEPOINT request")
        try:
            yield self._db
        except BaseException as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK TO request")
                self._db.execute("RELEASE request")
            else:  # SQLite gave up the whole transaction (a full disk): the group is lost
                self._end_group(group, lost=exc)
            raise
        finally:
            self._forget(changes)
            self._writes += bool(changes)
        self._db.execute("RELEASE request")

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """A write transaction on this connection for what shares it (the request journal), that
        no kept read depends on: joined to the request's write group when there is one."""
        return self._tx(())

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # tenants and keys ----------------------------------------------------------------------
    def create_tenant(self, tenant_id: str, name: str, now: float) -> Tenant:
        """Create a tenant and load the current seed into it, in one transaction."""
        with self._tx((STATES, OBJECTS)) as db:
            db.execute("INSERT INTO tenants VALUES (?, ?, ?)", (tenant_id, name, now))
            if db.execute("SELECT 1 FROM meta WHERE key = 'seed_set_at'").fetchone() is None:
                db.execute("INSERT INTO tenant_state VALUES (?, ?, 'true')", (tenant_id, UNSEEDED))
            else:
                self._restore_seed(db, tenant_id, now)
        return Tenant(tenant_id, name, now)

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        rows = self._query("SELECT tenant_id, name, created_at FROM tenants WHERE tenant_id = ?",
                           (tenant_id,))
        return Tenant(*rows[0]) if rows else None

    def list_tenants(self) -> list[Tenant]:
        rows = self._query("SELECT tenant_id, name, created_at FROM tenants ORDER BY created_at")
        return [Tenant(*row) for row in rows]

    def add_key(self, record: KeyRecord) -> None:
        with self._tx((KEYS,)) as db:
            db.execute(
                "INSERT INTO keys VALUES (?, ?, ?, ?, ?, ?)",
                (record.key_id, record.key_hash, record.tenant_id, record.hint, record.created_at,
                 record.revoked_at),
            )

    def find_key(self, key_hash: str) -> KeyRecord | None:
        rows = self._kept_query(KEYS, "SELECT * FROM keys WHERE key_hash = ? AND revoked_at IS NULL", (key_hash,))
        return KeyRecord(*rows[0]) if rows else None

    def list_keys(self, tenant_id: str | None = None) -> list[KeyRecord]:
        if tenant_id is None:
            rows = self._query("SELECT * FROM keys ORDER BY created_at")
        else:
            rows = self._query("SELECT * FROM keys WHERE tenant_id = ? ORDER BY created_at",
                               (tenant_id,))
        return [KeyRecord(*row) for row in rows]

    def revoke_key(self, key_id: str, now: float) -> bool:
        with self._tx((KEYS,)) as db:
            cur = db.execute(
                "UPDATE keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (now, key_id))
            return cur.rowcount == 1

    # seed and reset ------------------------------------------------------------------------
    def set_seed(self, objects: Mapping[str, Sequence[tuple[str, dict]]], now: float) -> None:
        """Replace the current seed; tenants that have never been seeded get it right away."""
        rows = [
            (collection, object_id, fastjson.dumps_text(data))
            for collection, items in objects.items()
            for object_id, data in items
        ]
        with self._tx((STATES, OBJECTS)) as db:
            db.execute("DELETE FROM seed_objects")
            db.executemany(
                "INSERT INTO seed_objects (collection, object_id, data) VALUES (?, ?, ?)", rows)
            db.execute("INSERT INTO meta VALUES ('seed_set_at', ?) ON CONFLICT (key)"
                       " DO UPDATE SET value = excluded.value", (str(now),))
            waiting = [row[0] for row in db.execute(
                "SELECT tenant_id FROM tenant_state WHERE key = ?", (UNSEEDED,))]
            for tenant_id in waiting:
                db.execute("DELETE FROM tenant_state WHERE tenant_id = ? AND key = ?",
                           (tenant_id, UNSEEDED))
                self._restore_seed(db, tenant_id, now, keep_existing=True)

    def seed_counts(self) -> dict[str, int]:
        rows = self._query(
            "SELECT collection, COUNT(*) FROM seed_objects GROUP BY collection ORDER BY collection")
        return dict(rows)

    def reset_tenant(self, tenant_id: str, now: float) -> int:
        """Return the tenant to exactly the seed (objects and state) atomically; count objects."""
        with self._tx((STATES, OBJECTS)) as db:
            if db.execute("SELECT 1 FROM tenants WHERE tenant_id = ?", (tenant_id,)).fetchone() \
                    is None:
                raise KeyError(tenant_id)
            db.execute("DELETE FROM objects WHERE tenant_id = ?", (tenant_id,))
            db.execute("DELETE FROM tenant_state WHERE tenant_id = ?", (tenant_id,))
            # The tenant's webhook deliveries and its rate-limit bucket go with the rest.
            db.execute("DELETE FROM webhook_deliveries WHERE tenant_id = ?", (tenant_id,))
            db.execute("DELETE FROM rate_buckets WHERE key = ?", (tenant_id,))
            db.execute("DELETE FROM id_counters WHERE tenant_id = ?", (tenant_id,))
            return self._restore_seed(db, tenant_id, now)

    @staticmethod
    def _restore_seed(db: sqlite3.Connection, tenant_id: str, now: float,
                      keep_existing: bool = False) -> int:
        # keep_existing: a late-seeded tenant keeps objects it created before the seed existed.
        verb = "INSERT OR IGNORE" if keep_existing else "INSERT"
        cur = db.execute(
            f"{verb} INTO objects (tenant_id, collection, object_id, data, origin, created_at,"
            " updated_at) SELECT ?, collection, object_id, data, ?, ?, ? FROM seed_objects"
            " ORDER BY seq",
            (tenant_id, ORIGIN_SEED, now, now),
        )
        # Scenario state and the virtual clock will keep their starting values in seed_state.
        db.execute("INSERT INTO tenant_state (tenant_id, key, value)"
                   " SELECT ?, key, value FROM seed_state", (tenant_id,))
        return cur.rowcount

    # objects -------------------------------------------------------------------------------
    def insert_object(self, tenant_id: str, collection: str, object_id: str, data: dict,
                      now: float, origin: str = ORIGIN_API) -> StoredObject:
        with self._tx((OBJECTS,)) as db:
            db.execute(
                "INSERT INTO objects (tenant_id, collection, object_id, data, origin, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (tenant_id, collection, object_id, fastjson.dumps_text(data),
                 origin, now, now),
            )
        return StoredObject(collection, object_id, data, origin, now, now)

    def get_object(self, tenant_id: str, collection: str, object_id: str) -> StoredObject | None:
        rows = self._kept_query(OBJECTS, f"SELECT {_OBJECT_COLUMNS} FROM objects"
                                " WHERE tenant_id = ? AND collection = ? AND object_id = ?",
                                (tenant_id, collection, object_id))
        return _row_to_object(rows[0]) if rows else None

    def replace_object(self, tenant_id: str, collection: str, object_id: str, data: dict,
                       now: float) -> StoredObject | None:
        with self._tx((OBJECTS,)) as db:
            cur = db.execute(
                "UPDATE objects SET data = ?, updated_at = ?"
                " WHERE tenant_id = ? AND collection = ? AND object_id = ?",
                (fastjson.dumps_text(data), now, tenant_id, collection, object_id))
            if cur.rowcount != 1:
                return None
            row = db.execute(
                f"SELECT {_OBJECT_COLUMNS} FROM objects"
                " WHERE tenant_id = ? AND collection = ? AND object_id = ?",
                (tenant_id, collection, object_id)).fetchone()
        return _row_to_object(row)

    def delete_object(self, tenant_id: str, collection: str, object_id: str) -> bool:
        with self._tx((OBJECTS,)) as db:
            cur = db.execute(
                "DELETE FROM objects WHERE tenant_id = ? AND collection = ? AND object_id = ?",
                (tenant_id, collection, object_id))
            return cur.rowcount == 1

    def list_objects(self, tenant_id: str, collection: str, query: ListQuery) -> Page:
        where = ["tenant_id = ?", "collection = ?"]
        params: list[Any] = [tenant_id, collection]
        for name, value in query.filters.items():
            if isinstance(value, (list, tuple)):  # any of several values (?tags=a&tags=b)
                where.append(f"json_extract(data, ?) IN ({', '.join('?' * len(value)) or 'NULL'})")
                params += [_json_path(name), *(_sql_value(v) for v in value)]
            else:
                where.append("json_extract(data, ?) = ?")
                params += [_json_path(name), _sql_value(value)]
        for membership, wanted in (("EXISTS", query.contains), ("NOT EXISTS", query.lacks)):
            for name, value in wanted.items():
                where.append(f"{membership} (SELECT 1 FROM json_each(data, ?) WHERE json_each.value = ?)")
                params += [_json_path(name), _sql_value(value)]
        filtered_where = " AND ".join(where)
        filtered_params = list(params)
        later, earlier = (">", "<") if not query.descending else ("<", ">")
        order = "ASC" if not query.descending else "DESC"
        if query.after_id is not None:
            where.append(f"seq {later} (SELECT seq FROM objects WHERE tenant_id = ? AND collection = ?"
                         " AND object_id = ?)")
            params += [tenant_id, collection, query.after_id]
        flip = False
        if query.before_id is not None:
            # Walk backwards from the cursor, then flip the page into the list's order below.
            where.append(f"seq {earlier} (SELECT seq FROM objects WHERE tenant_id = ? AND collection = ?"
                         " AND object_id = ?)")
            params += [tenant_id, collection, query.before_id]
            order = "DESC" if order == "ASC" else "ASC"
            flip = True
        sql = (f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE {' AND '.join(where)}"
               f" ORDER BY seq {order} LIMIT ? OFFSET ?")
        key = ("page", sql, *params, query.limit, query.offset)
        with self._lock:
            kept = self._kept_reads(OBJECTS)
            found = kept.get(key)
            if found is None:
                rows = self._db.execute(sql, [*params, query.limit + 1, query.offset]).fetchall()
                total = self._db.execute(f"SELECT COUNT(*) FROM objects WHERE {filtered_where}",
                                         filtered_params).fetchone()[0]
                found = (rows, total)
                self._keep(kept, key, found, len(rows))
            rows, total = found
        items = [_row_to_object(row) for row in rows[: query.limit]]
        if flip:
            items.reverse()
        return Page(items=items, has_more=len(rows) > query.limit, total=total)

    def max_int_id(self, tenant_id: str, collection: str) -> int:
        rows = self._query(
            "SELECT MAX(CAST(object_id AS INTEGER)) FROM objects"
            " WHERE tenant_id = ? AND collection = ?", (tenant_id, collection))
        return int(rows[0][0] or 0)

    def next_int_id(self, tenant_id: str, collection: str) -> int:
        """Return a new integer id for the collection: one above every id it holds or handed
        out. One transaction, so processes sharing the file never hand out the same id."""
        with self._tx(()) as db:  # id_counters: nothing kept reads them
            return int(db.execute(
                "INSERT INTO id_counters VALUES (?1, ?2, 1 + (SELECT COALESCE(MAX(CAST(object_id AS INTEGER)), 0)"
                " FROM objects WHERE tenant_id = ?1 AND collection = ?2)) ON CONFLICT (tenant_id, collection)"
                " DO UPDATE SET last = 1 + MAX(last, (SELECT COALESCE(MAX(CAST(object_id AS INTEGER)), 0)"
                " FROM objects WHERE tenant_id = ?1 AND collection = ?2)) RETURNING last",
                (tenant_id, collection)).fetchone()[0])

    def count_objects(self, tenant_id: str, origin: str | None = None) -> int:
        if origin is None:
            rows = self._query("SELECT COUNT(*) FROM objects WHERE tenant_id = ?", (tenant_id,))
        else:
            rows = self._query("SELECT COUNT(*) FROM objects WHERE tenant_id = ? AND origin = ?",
                               (tenant_id, origin))
        return int(rows[0][0])

    def purge_older_than(self, tenant_id: str, cutoff: float) -> int:
        """Delete the tenant's api-created objects created before `cutoff` (seeds stay)."""
        with self._tx((OBJECTS,)) as db:
            cur = db.execute(
                "DELETE FROM objects WHERE tenant_id = ? AND origin = ? AND created_at < ?",
                (tenant_id, ORIGIN_API, cutoff))
            return cur.rowcount

    # per-tenant state ----------------------------------------------------------------------
    def get_state(self, tenant_id: str, key: str) -> Any:
        return self.get_states(tenant_id, (key,)).get(key)

    def get_states(self, tenant_id: str, keys: Sequence[str]) -> dict[str, Any]:
        """Return the tenant's values of `keys` that are set, in one query."""
        rows = self._kept_query(STATES, f"SELECT key, value FROM tenant_state WHERE tenant_id = ? AND key IN"
                                        f" ({', '.join('?' * len(keys))})", (tenant_id, *keys))
        return {key: fastjson.loads(value) for key, value in rows}

    def set_state(self, tenant_id: str, key: str, value: Any) -> None:
        with self._tx((STATES,)) as db:
            db.execute(
                "INSERT INTO tenant_state VALUES (?, ?, ?)"
                " ON CONFLICT (tenant_id, key) DO UPDATE SET value = excluded.value",
                (tenant_id, key, fastjson.dumps_text(value)))

    # usage --------------------------------------------------------------------------------------
    def count_request(self, tenant_id: str, day: str) -> int:
        """Count one request for the tenant on `day` and return the day's total so far."""
        with self._tx(()) as db:  # usage: nothing kept reads it
            return db.execute(
                "INSERT INTO usage VALUES (?, ?, 1) ON CONFLICT (tenant_id, day)"
                " DO UPDATE SET requests = requests + 1 RETURNING requests",
                (tenant_id, day)).fetchone()[0]

    # webhook deliveries (the simulation's outbox) -----------------------------------------------
    def put_deliveries(self, rows: Sequence[DeliveryRow]) -> list[int]:
        """Queue new deliveries in one transaction, in order; return their sequence numbers."""
        seqs = []
        with self._tx(()) as db:  # deliveries and buckets: nothing kept reads them
            for row in rows:
                seqs.append(db.execute(
                    "INSERT INTO webhook_deliveries (delivery_id, tenant_id, due_at, state, body, record)"
                    " VALUES (?, ?, ?, ?, ?, ?) RETURNING seq",
                    (row.delivery_id, row.tenant_id, row.due_at, row.state, row.body,
                     json.dumps(row.record, separators=(",", ":")))).fetchone()[0])
        return seqs

    def pending_deliveries(self, now: float) -> list[tuple[str, str, float]]:
        """Return (delivery id, tenant, due at) of every delivery waiting for an attempt that no
        process holds (a claim older than `now`, wall time, has lapsed), in sequence order."""
        return [tuple(row) for row in self._query(  # type: ignore[misc]
            "SELECT delivery_id, tenant_id, due_at FROM webhook_deliveries WHERE state IN"
            " ('scheduled', 'retrying') AND (claimed_by IS NULL OR claimed_until < ?) ORDER BY seq", (now,))]

    def claim_deliveries(self, delivery_ids: Sequence[str], owner: str, now: float,
                         until: float) -> list[DeliveryRow]:
        """Claim the given deliveries for `owner` until `until` (wall time), skipping those
        another process claimed first or that are gone; return the claimed ones."""
        claimed = []
        with self._tx(()) as db:  # deliveries and buckets: nothing kept reads them
            for delivery_id in delivery_ids:
                cur = db.execute(
                    "UPDATE webhook_deliveries SET claimed_by = ?, claimed_until = ? WHERE delivery_id = ?"
                    " AND state IN ('scheduled', 'retrying') AND (claimed_by IS NULL OR claimed_until < ?)",
                    (owner, until, delivery_id, now))
                if cur.rowcount == 1:
                    claimed.append(delivery_id)
            rows = [db.execute(f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE delivery_id = ?",
                               (delivery_id,)).fetchone() for delivery_id in claimed]
        return [_row_to_delivery(row) for row in rows]

    def settle_delivery(self, row: DeliveryRow, owner: str, keep: int, now: float) -> bool:
        """Write a claimed delivery's new state (its attempts, next due time) and release the
        claim; keep the tenant's newest `keep` finished deliveries. False when the delivery is
        gone (its tenant was reset) or another process holds it now."""
        finished = row.state in ("delivered", "failed")
        with self._tx(()) as db:  # deliveries and buckets: nothing kept reads them
            cur = db.execute(
                "UPDATE webhook_deliveries SET due_at = ?, state = ?, record = ?, claimed_by = NULL,"
                " claimed_until = NULL, finished_at = ? WHERE delivery_id = ? AND claimed_by = ?",
                (row.due_at, row.state, json.dumps(row.record, separators=(",", ":")),
                 now if finished else None, row.delivery_id, owner))
            if cur.rowcount != 1:
                return False
            if finished:
                db.execute(
                    "DELETE FROM webhook_deliveries WHERE tenant_id = ? AND state IN ('delivered', 'failed')"
                    " AND seq < (SELECT MIN(seq) FROM (SELECT seq FROM webhook_deliveries WHERE tenant_id = ?"
                    " AND state IN ('delivered', 'failed') ORDER BY seq DESC LIMIT ?))",
                    (row.tenant_id, row.tenant_id, keep))
        return True

    def list_deliveries(self, tenant_id: str) -> list[DeliveryRow]:
        """Return a tenant's deliveries, pending and finished, in sequence order."""
        return [_row_to_delivery(row) for row in self._query(
            f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE tenant_id = ? ORDER BY seq", (tenant_id,))]

    def forget_deliveries(self, tenant_id: str) -> None:
        """Drop every delivery of a tenant."""
        with self._tx(()) as db:  # deliveries and buckets: nothing kept reads them
            db.execute("DELETE FROM webhook_deliveries WHERE tenant_id = ?", (tenant_id,))

    def release_claims(self) -> int:
        """Release every claim (at start-up, when no other process of this stub runs): the
        attempts that were on the wire when the last process stopped are made again."""
        with self._tx(()) as db:  # deliveries and buckets: nothing kept reads them
            return db.execute("UPDATE webhook_deliveries SET claimed_by = NULL, claimed_until = NULL"
                              " WHERE claimed_by IS NOT NULL").rowcount

    # rate-limit buckets ---------------------------------------------------------------------------
    def update_bucket(self, key: str, update: Callable[[tuple[float, float] | None], tuple[float, float]]
                      ) -> tuple[float, float]:
        """Replace the bucket `key` (tokens, at) by `update(the stored one or None)`, in one
        transaction, so processes sharing the file take tokens from the same bucket."""
        with self._tx(()) as db:  # deliveries and buckets: nothing kept reads them
            found = db.execute("SELECT tokens, at FROM rate_buckets WHERE key = ?", (key,)).fetchone()
            tokens, at = update(tuple(found) if found else None)  # type: ignore[arg-type]
            db.execute("INSERT INTO rate_buckets VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET"
                       " tokens = excluded.tokens, at = excluded.at", (key, tokens, at))
        return tokens, at

    def forget_bucket(self, key: str) -> None:
        """Drop a bucket (it starts full again)."""
        with self._tx(()) as db:  # deliveries and buckets: nothing kept reads them
            db.execute("DELETE FROM rate_buckets WHERE key = ?", (key,))

    # whole-store snapshots -----------------------------------------------------------------
    def snapshot(self) -> bytes:
        """Return a consistent copy of the whole store (every tenant, key, object, log) as gzip'd SQLite."""
        copy = sqlite3.connect(":memory:")
        try:
            with self._lock:
                self._settle_group()  # only what is saved (a request holding a ticket may ask)
                self._db.backup(copy)
            return gzip.compress(_rollback_journal(copy.serialize()), 6)
        finally:
            copy.close()

    def restore(self, data: bytes) -> None:
        """Replace the whole store with a `snapshot()`; raise ValueError (store untouched) for other bytes."""
        try:
            raw = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise ValueError("the body is not a Sandlot snapshot (gzip'd SQLite from GET /__sandlot/snapshot)") from exc
        copy = sqlite3.connect(":memory:", isolation_level=None)
        try:
            copy.deserialize(_rollback_journal(raw))
            tables = {row[0] for row in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"tenants", "keys", "objects", "meta"} <= tables:
                raise ValueError("the snapshot holds no Sandlot store (tables tenants, keys, objects, meta missing)")
            version, written_by = stored_version(copy)
            if version > SCHEMA_VERSION:
                raise ValueError(f"the snapshot {too_new(version, written_by)}: restore it into a Sandlot that "
                                 "reads it")
            # A snapshot from an older Sandlot gets the current schema (its queue and buckets tables),
            # and the claims of the process that took it lapse: this one sends what was pending.
            migrate(copy, version, SCHEMA)
            copy.execute("UPDATE webhook_deliveries SET claimed_by = NULL, claimed_until = NULL")
            with self._lock:
                self._settle_group()  # a backup cannot write into a connection inside a transaction
                copy.backup(self._db)
                self._forget(EVERYTHING)
                self._writes += 1
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"the snapshot is not a readable SQLite database: {exc}") from exc
        finally:
            copy.close()

    def close(self) -> None:
        self._settle_group()
        with self._lock:
            self._header.close()
            self._db.close()

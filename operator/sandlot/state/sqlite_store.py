"""`SQLiteStore`: the default `Store`, one SQLite file (WAL) per stub, standard library only.

Created by the stateful server (`sandlot mock --stateful --db FILE`), `sandlot up`, and the
`sandlot keys` / `sandlot reset` commands, which open the same file the server uses. State
survives a restart because everything lives in the file. Every query names the tenant.

Reset is one `BEGIN IMMEDIATE` transaction: delete the tenant's objects and state, copy the
seed rows back with `INSERT ... SELECT` (no Python round trip per object), so it is atomic and
fast even for large seeds.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sandlot.state.store import (
    ORIGIN_API,
    ORIGIN_SEED,
    KeyRecord,
    ListQuery,
    LogEntry,
    Page,
    StoredObject,
    Tenant,
)

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
CREATE TABLE IF NOT EXISTS request_log (
    id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, at REAL NOT NULL, method TEXT NOT NULL,
    path TEXT NOT NULL, status INTEGER NOT NULL, duration_ms REAL NOT NULL,
    request_body TEXT NOT NULL, response_body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS request_log_by_tenant ON request_log (tenant_id, id);
"""

#: tenant_state key marking a tenant created before any seed was registered (by `sandlot keys
#: create` on a fresh file): the first registered seed is loaded into it.
UNSEEDED = "sandlot.unseeded"

_OBJECT_COLUMNS = "collection, object_id, data, origin, created_at, updated_at"


def _row_to_object(row: Sequence[Any]) -> StoredObject:
    collection, object_id, data, origin, created_at, updated_at = row
    return StoredObject(collection, object_id, json.loads(data), origin, created_at, updated_at)


def _json_path(field: str | tuple[str, ...]) -> str:
    # Quoted member names let property names contain dots or dashes; a tuple is a nested property.
    names = (field,) if isinstance(field, str) else field
    return "$" + "".join('."' + name.replace('"', '\\"') + '"' for name in names)


def _sql_value(value: Any) -> Any:
    # json_extract returns 1/0 for JSON booleans and the text of nested values.
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return value


def _rollback_journal(image: bytes) -> bytes:
    """Return a database image marked for the rollback journal (header bytes 18-19 = 1, not WAL's 2).

    The copy of a WAL database keeps the WAL marks, and an in-memory database cannot open a WAL;
    the marks say nothing about the content.
    """
    if image[18:20] == b"\x02\x02":
        return image[:18] + b"\x01\x01" + image[20:]
    return image


class SQLiteStore:
    """A `Store` in one SQLite file; safe to share between threads (one lock, one connection)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across process crashes in WAL mode; only power loss can drop the
        # last transactions, which a sandbox can afford for the speed it buys.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        with self._lock:
            self._db.executescript(SCHEMA)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """Run the block in one immediate transaction, rolled back on any error."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # tenants and keys ----------------------------------------------------------------------
    def create_tenant(self, tenant_id: str, name: str, now: float) -> Tenant:
        """Create a tenant and load the current seed into it, in one transaction."""
        with self._tx() as db:
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
        with self._tx() as db:
            db.execute(
                "INSERT INTO keys VALUES (?, ?, ?, ?, ?, ?)",
                (record.key_id, record.key_hash, record.tenant_id, record.hint, record.created_at,
                 record.revoked_at),
            )

    def find_key(self, key_hash: str) -> KeyRecord | None:
        rows = self._query("SELECT * FROM keys WHERE key_hash = ? AND revoked_at IS NULL",
                           (key_hash,))
        return KeyRecord(*rows[0]) if rows else None

    def list_keys(self, tenant_id: str | None = None) -> list[KeyRecord]:
        if tenant_id is None:
            rows = self._query("SELECT * FROM keys ORDER BY created_at")
        else:
            rows = self._query("SELECT * FROM keys WHERE tenant_id = ? ORDER BY created_at",
                               (tenant_id,))
        return [KeyRecord(*row) for row in rows]

    def revoke_key(self, key_id: str, now: float) -> bool:
        with self._tx() as db:
            cur = db.execute(
                "UPDATE keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (now, key_id))
            return cur.rowcount == 1

    # seed and reset ------------------------------------------------------------------------
    def set_seed(self, objects: Mapping[str, Sequence[tuple[str, dict]]], now: float) -> None:
        """Replace the current seed; tenants that have never been seeded get it right away."""
        rows = [
            (collection, object_id, json.dumps(data, separators=(",", ":")))
            for collection, items in objects.items()
            for object_id, data in items
        ]
        with self._tx() as db:
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
        with self._tx() as db:
            if db.execute("SELECT 1 FROM tenants WHERE tenant_id = ?", (tenant_id,)).fetchone() \
                    is None:
                raise KeyError(tenant_id)
            db.execute("DELETE FROM objects WHERE tenant_id = ?", (tenant_id,))
            db.execute("DELETE FROM tenant_state WHERE tenant_id = ?", (tenant_id,))
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
        with self._tx() as db:
            db.execute(
                "INSERT INTO objects (tenant_id, collection, object_id, data, origin, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (tenant_id, collection, object_id, json.dumps(data, separators=(",", ":")),
                 origin, now, now),
            )
        return StoredObject(collection, object_id, data, origin, now, now)

    def get_object(self, tenant_id: str, collection: str, object_id: str) -> StoredObject | None:
        rows = self._query(
            f"SELECT {_OBJECT_COLUMNS} FROM objects"
            " WHERE tenant_id = ? AND collection = ? AND object_id = ?",
            (tenant_id, collection, object_id))
        return _row_to_object(rows[0]) if rows else None

    def replace_object(self, tenant_id: str, collection: str, object_id: str, data: dict,
                       now: float) -> StoredObject | None:
        with self._tx() as db:
            cur = db.execute(
                "UPDATE objects SET data = ?, updated_at = ?"
                " WHERE tenant_id = ? AND collection = ? AND object_id = ?",
                (json.dumps(data, separators=(",", ":")), now, tenant_id, collection, object_id))
            if cur.rowcount != 1:
                return None
            row = db.execute(
                f"SELECT {_OBJECT_COLUMNS} FROM objects"
                " WHERE tenant_id = ? AND collection = ? AND object_id = ?",
                (tenant_id, collection, object_id)).fetchone()
        return _row_to_object(row)

    def delete_object(self, tenant_id: str, collection: str, object_id: str) -> bool:
        with self._tx() as db:
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
        for name, value in query.contains.items():
            where.append("EXISTS (SELECT 1 FROM json_each(data, ?) WHERE json_each.value = ?)")
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
        with self._lock:
            rows = self._db.execute(sql, [*params, query.limit + 1, query.offset]).fetchall()
            total = self._db.execute(f"SELECT COUNT(*) FROM objects WHERE {filtered_where}",
                                     filtered_params).fetchone()[0]
        items = [_row_to_object(row) for row in rows[: query.limit]]
        if flip:
            items.reverse()
        return Page(items=items, has_more=len(rows) > query.limit, total=total)

    def max_int_id(self, tenant_id: str, collection: str) -> int:
        rows = self._query(
            "SELECT MAX(CAST(object_id AS INTEGER)) FROM objects"
            " WHERE tenant_id = ? AND collection = ?", (tenant_id, collection))
        return int(rows[0][0] or 0)

    def count_objects(self, tenant_id: str, origin: str | None = None) -> int:
        if origin is None:
            rows = self._query("SELECT COUNT(*) FROM objects WHERE tenant_id = ?", (tenant_id,))
        else:
            rows = self._query("SELECT COUNT(*) FROM objects WHERE tenant_id = ? AND origin = ?",
                               (tenant_id, origin))
        return int(rows[0][0])

    def purge_older_than(self, tenant_id: str, cutoff: float) -> int:
        """Delete the tenant's api-created objects created before `cutoff` (seeds stay)."""
        with self._tx() as db:
            cur = db.execute(
                "DELETE FROM objects WHERE tenant_id = ? AND origin = ? AND created_at < ?",
                (tenant_id, ORIGIN_API, cutoff))
            return cur.rowcount

    # per-tenant state ----------------------------------------------------------------------
    def get_state(self, tenant_id: str, key: str) -> Any:
        rows = self._query("SELECT value FROM tenant_state WHERE tenant_id = ? AND key = ?",
                           (tenant_id, key))
        return json.loads(rows[0][0]) if rows else None

    def set_state(self, tenant_id: str, key: str, value: Any) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO tenant_state VALUES (?, ?, ?)"
                " ON CONFLICT (tenant_id, key) DO UPDATE SET value = excluded.value",
                (tenant_id, key, json.dumps(value)))

    # usage and request log -----------------------------------------------------------------
    def count_request(self, tenant_id: str, day: str) -> int:
        """Count one request for the tenant on `day` and return the day's total so far."""
        with self._tx() as db:
            return db.execute(
                "INSERT INTO usage VALUES (?, ?, 1) ON CONFLICT (tenant_id, day)"
                " DO UPDATE SET requests = requests + 1 RETURNING requests",
                (tenant_id, day)).fetchone()[0]

    def append_logs(self, entries: Sequence[tuple[str, LogEntry]], keep: int) -> None:
        """Append (tenant, entry) pairs in one transaction; keep each tenant's newest `keep`."""
        if not entries:
            return
        with self._tx() as db:
            db.executemany(
                "INSERT INTO request_log (tenant_id, at, method, path, status, duration_ms,"
                " request_body, response_body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(tenant_id, e.at, e.method, e.path, e.status, e.duration_ms, e.request_body,
                  e.response_body) for tenant_id, e in entries])
            for tenant_id in {tenant_id for tenant_id, _ in entries}:
                db.execute(
                    "DELETE FROM request_log WHERE tenant_id = ? AND id < (SELECT MIN(id) FROM"
                    " (SELECT id FROM request_log WHERE tenant_id = ? ORDER BY id DESC LIMIT ?))",
                    (tenant_id, tenant_id, keep))

    def read_log(self, tenant_id: str, limit: int) -> list[LogEntry]:
        """Return the tenant's most recent requests, newest first."""
        rows = self._query(
            "SELECT at, method, path, status, duration_ms, request_body, response_body"
            " FROM request_log WHERE tenant_id = ? ORDER BY id DESC LIMIT ?", (tenant_id, limit))
        return [LogEntry(*row) for row in rows]

    # whole-store snapshots -----------------------------------------------------------------
    def snapshot(self) -> bytes:
        """Return a consistent copy of the whole store (every tenant, key, object, log) as gzip'd SQLite."""
        copy = sqlite3.connect(":memory:")
        try:
            with self._lock:
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
        copy = sqlite3.connect(":memory:")
        try:
            copy.deserialize(_rollback_journal(raw))
            tables = {row[0] for row in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"tenants", "keys", "objects"} <= tables:
                raise ValueError("the snapshot holds no Sandlot store (tables tenants, keys, objects missing)")
            with self._lock:
                copy.backup(self._db)
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"the snapshot is not a readable SQLite database: {exc}") from exc
        finally:
            copy.close()

    def close(self) -> None:
        with self._lock:
            self._db.close()

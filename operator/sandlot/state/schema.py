"""The state file's schema version: open what an older Sandlot wrote, refuse what cannot be read.

Called by `SQLiteStore` (state/sqlite_store.py) before it touches a file. A state file records
its schema version (and the Sandlot that last wrote it) in its `meta` table:

- a new or empty file gets the current schema;
- a file of an older schema is migrated in one transaction (each step adds what it lacks; none
  drops data). Files written before versions were recorded are version 1;
- a file of a newer schema is refused with a message naming both versions, untouched;
- a file that is not a SQLite database, or whose pages are damaged, is refused untouched: it is
  read only (`mode=ro`) until it has passed these checks, so a refusal never writes a byte.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sandlot.util.sqlite import immediate

#: The schema this Sandlot writes. Bump it with a step in MIGRATIONS.
SCHEMA_VERSION = 2

#: What the first bytes of every SQLite database file are.
SQLITE_HEADER = b"SQLite format 3\x00"


class StateFileError(ValueError):
    """A state file this Sandlot cannot open; the message says why and what to do."""


def sandlot_version() -> str:
    """Return the installed Sandlot's version (recorded in the files it writes)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sandlot")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
        return "unknown"


#: Added by version 2: the simulation's queue and buckets beside the state, the counters that
#: give worker processes distinct integer ids, and the index that reads a page of a collection
#: in creation order without sorting the whole collection.
DURABLE_TABLES = """
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    seq INTEGER PRIMARY KEY, delivery_id TEXT NOT NULL UNIQUE, tenant_id TEXT NOT NULL,
    due_at REAL NOT NULL, state TEXT NOT NULL, body BLOB NOT NULL, record TEXT NOT NULL,
    claimed_by TEXT, claimed_until REAL, finished_at REAL);
CREATE INDEX IF NOT EXISTS webhook_deliveries_pending ON webhook_deliveries (state, due_at);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_tenant ON webhook_deliveries (tenant_id, seq);
CREATE TABLE IF NOT EXISTS rate_buckets (
    key TEXT PRIMARY KEY, tokens REAL NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS objects_by_collection ON objects (tenant_id, collection, seq);
CREATE TABLE IF NOT EXISTS id_counters (
    tenant_id TEXT NOT NULL, collection TEXT NOT NULL, last INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, collection));
"""

#: version -> the SQL that turns a file of that version into one of the next. Steps only add.
MIGRATIONS: dict[int, str] = {
    # 2: the webhook queue, every delivery attempt, the rate-limit buckets, id counters, page index.
    1: DURABLE_TABLES,
}


def check_readable(path: str) -> int | None:
    """Return the schema version of an existing state file (None: new or empty), reading it
    only; raise StateFileError when it is not a usable state file of a version this Sandlot knows."""
    file = Path(path)
    if path == ":memory:" or not file.exists() or file.stat().st_size == 0:
        return None
    with file.open("rb") as handle:
        head = handle.read(len(SQLITE_HEADER))
    if head != SQLITE_HEADER:
        raise StateFileError(
            f"{path} is not a Sandlot state file (not a SQLite database: it starts with {head[:16]!r}); "
            "it was left untouched: move it away or pass another --db")
    try:
        db = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StateFileError(f"{path}: cannot be opened ({exc}); it was left untouched") from None
    try:
        problems = [row[0] for row in db.execute("PRAGMA quick_check(3)")]
        if problems != ["ok"]:
            raise StateFileError(
                f"{path} is damaged ({'; '.join(problems)}); it was left untouched: restore it from a "
                "copy, or move it away (or pass another --db) to start afresh")
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return None
        if "objects" not in tables or "meta" not in tables:
            raise StateFileError(
                f"{path} is a SQLite database but not a Sandlot state file (tables: "
                f"{', '.join(sorted(tables))}); it was left untouched: pass another --db")
        version, written_by = stored_version(db)
    except sqlite3.DatabaseError as exc:
        raise StateFileError(
            f"{path} is damaged ({exc}); it was left untouched: restore it from a copy, or move it "
            "away (or pass another --db) to start afresh") from None
    finally:
        db.close()
    if version > SCHEMA_VERSION:
        raise StateFileError(
            f"{path} {too_new(version, written_by)}: upgrade Sandlot, or pass another --db to start afresh. "
            "The file was left untouched.")
    return version


def stored_version(db: sqlite3.Connection) -> tuple[int, str]:
    """Return (schema version, the Sandlot that wrote it) of a Sandlot database with a `meta`
    table; files written before versions were recorded are version 1."""
    found = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('schema_version', 'written_by')"))
    return int(found.get("schema_version", 1)), found.get("written_by", "unknown")


def too_new(version: int, written_by: str) -> str:
    """Return the words for a state of a schema this Sandlot cannot read, naming both versions."""
    return (f"has state schema version {version} (written by Sandlot {written_by}); this Sandlot "
            f"({sandlot_version()}) reads schema versions 1 to {SCHEMA_VERSION}")


def migrate(db: sqlite3.Connection, version: int | None, base_schema: str) -> None:
    """Bring a checked file (`version` from check_readable; None: new) to SCHEMA_VERSION, in one
    transaction, and record the version and this Sandlot in `meta`."""
    with immediate(db):
        if version is None:
            for statement in (base_schema + DURABLE_TABLES).split(";"):
                if statement.strip():
                    db.execute(statement)
        else:
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step].split(";"):
                    if statement.strip():
                        db.execute(statement)
        if version != SCHEMA_VERSION:
            db.execute("INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET"
                       " value = excluded.value", (str(SCHEMA_VERSION),))
            db.execute("INSERT INTO meta VALUES ('written_by', ?) ON CONFLICT (key) DO UPDATE SET"
                       " value = excluded.value", (sandlot_version(),))

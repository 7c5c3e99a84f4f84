"""The one write transaction on a `sqlite3` connection (opened with `isolation_level=None`).

Used by the state store (state/sqlite_store.py), the request journal on its own connection
(state/journal.py), the schema migration (state/schema.py) and the drift record
(drift/store.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def immediate(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block in one `BEGIN IMMEDIATE` transaction, committed after it. On any error,
    the COMMIT's included (a full disk), roll back, and only if SQLite has not already done so
    itself (on some errors it ends the transaction): the error raised is the one that happened,
    and the connection is never left inside a transaction every later write would trip on."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise

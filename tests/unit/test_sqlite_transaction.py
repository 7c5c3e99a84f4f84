"""`sandlot.util.sqlite.immediate`: the one write transaction, on a real file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sandlot.util.sqlite import immediate


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS t (v TEXT)")
    return db


def test_the_block_is_committed_or_rolled_back_whole(tmp_path: Path) -> None:
    db = _connect(tmp_path / "t.db")
    with immediate(db):
        db.execute("INSERT INTO t VALUES ('kept')")
    with pytest.raises(ValueError), immediate(db):
        db.execute("INSERT INTO t VALUES ('undone')")
        raise ValueError("the caller failed")
    assert not db.in_transaction
    assert [row[0] for row in db.execute("SELECT v FROM t")] == ["kept"]


def test_an_error_on_which_sqlite_ends_the_transaction_is_the_error_raised(tmp_path: Path) -> None:
    """SQLITE_FULL (a page limit here) ends the transaction inside SQLite: the caller gets that
    error, not "cannot rollback - no transaction is active", and the next write works."""
    db = _connect(tmp_path / "t.db")
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + 2}")
    with pytest.raises(sqlite3.OperationalError, match="full"), immediate(db):
        db.execute("INSERT INTO t VALUES ('small')")
        db.execute("INSERT INTO t VALUES (?)", ("x" * 200_000,))
    db.execute("PRAGMA max_page_count = 1073741823")
    assert not db.in_transaction
    with immediate(db):
        db.execute("INSERT INTO t VALUES ('after')")
    assert [row[0] for row in db.execute("SELECT v FROM t")] == ["after"]


class _CommitFails:
    """A connection whose COMMIT fails, as a full disk can make it."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, *args: object) -> object:
        if sql == "COMMIT":
            raise sqlite3.OperationalError("database or disk is full")
        return self._db.execute(sql, *args)

    @property
    def in_transaction(self) -> bool:
        return self._db.in_transaction


def test_a_failed_commit_is_rolled_back(tmp_path: Path) -> None:
    db = _connect(tmp_path / "t.db")
    with pytest.raises(sqlite3.OperationalError, match="disk is full"), \
            immediate(_CommitFails(db)):  # type: ignore[arg-type]
        db.execute("INSERT INTO t VALUES ('lost')")
    assert not db.in_transaction
    assert db.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0

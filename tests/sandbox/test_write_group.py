"""Write groups (state/sqlite_store.py `write_group`): the requests of one event-loop turn write in
one transaction, one savepoint each, committed once at the next turn; each answers only after
that commit. On a real file, watched through a second connection as another process would."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandlot.state.journal import JournalQuery
from sandlot.state.journal_stage import BATCH
from sandlot.state.sqlite_store import SQLiteStore
from sandlot.state.store import NotSaved

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "payments"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "s.db")
    s.set_seed({}, 0)
    s.create_tenant("a", "A", 1)
    yield s
    s.close()


def _outside(store: SQLiteStore) -> tuple[set[str], int]:
    """Return (object ids of tenant a, data_version) as another connection sees them now."""
    with sqlite3.connect(store.path) as other:
        found = {row[0] for row in other.execute("SELECT object_id FROM objects WHERE tenant_id = 'a'")}
        return found, other.execute("PRAGMA data_version").fetchone()[0]


def test_the_requests_of_one_turn_commit_once_and_are_told_after(store: SQLiteStore) -> None:
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)

    async def turn() -> list[set[str]]:
        seen = []
        tickets = []
        for number in range(3):
            ticket = store.write_group()
            with ticket:
                store.insert_object("a", "customers", f"cus_{number}", {"id": f"cus_{number}"}, 2)
            tickets.append(ticket)
            seen.append(_outside(store)[0])  # nothing is in the file yet
        await asyncio.gather(*(ticket.saved() for ticket in tickets))
        seen.append(_outside(store)[0])
        return seen

    seen = asyncio.run(turn())
    store._db.set_trace_callback(None)
    assert seen == [set(), set(), set(), {"cus_0", "cus_1", "cus_2"}]
    transactions = [s for s in statements if s.split()[0] in ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")]
    assert transactions == ["BEGIN IMMEDIATE", *["SAVEPOINT request", "RELEASE request"] * 3, "COMMIT"]


def test_a_request_that_fails_undoes_its_own_writes_only(store: SQLiteStore) -> None:
    async def turn() -> None:
        first, failing = store.write_group(), store.write_group()
        with first:
            store.insert_object("a", "customers", "cus_kept", {"id": "cus_kept"}, 2)
        with failing, pytest.raises(RuntimeError), store.transaction() as db:
            db.execute("INSERT INTO objects (tenant_id, collection, object_id, data, origin, created_at,"
                       " updated_at) VALUES ('a', 'customers', 'cus_undone', '{}', 'api', 2, 2)")
            raise RuntimeError("the request failed half-way")
        await first.saved()
        await failing.saved()

    asyncio.run(turn())
    assert _outside(store)[0] == {"cus_kept"}
    assert store.get_object("a", "customers", "cus_undone") is None


def test_what_comes_without_a_ticket_commits_the_group_first(store: SQLiteStore) -> None:
    async def turn() -> tuple[set[str], set[str]]:
        ticket = store.write_group()
        with ticket:
            store.insert_object("a", "customers", "cus_1", {"id": "cus_1"}, 2)
        before = _outside(store)[0]
        # A request answered at once (no ticket) reads: the group is committed before it may see it.
        assert store.get_object("a", "customers", "cus_1") is not None
        after = _outside(store)[0]
        await ticket.saved()
        return before, after

    assert asyncio.run(turn()) == (set(), {"cus_1"})


def test_another_thread_commits_the_group_first_and_the_request_is_told(store: SQLiteStore) -> None:
    async def turn() -> set[str]:
        ticket = store.write_group()
        with ticket:
            store.insert_object("a", "customers", "cus_1", {"id": "cus_1"}, 2)
        worker = threading.Thread(target=store.list_tenants)
        worker.start()
        worker.join(10)
        seen = _outside(store)[0]
        await asyncio.wait_for(ticket.saved(), 10)
        return seen

    assert asyncio.run(turn()) == {"cus_1"}


class _FailingCommits:
    """A connection whose COMMIT fails (the first `times` ones; all when None) as a full disk
    would make it (sqlite3.Connection's methods cannot be replaced one by one)."""

    def __init__(self, db: sqlite3.Connection, times: int | None = None) -> None:
        self._db = db
        self._left = times

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT" and self._left != 0:
            if self._left is not None:
                self._left -= 1
            raise sqlite3.OperationalError("database or disk is full")
        return self._db.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def test_a_group_that_cannot_be_committed_keeps_nothing_and_says_so(store: SQLiteStore) -> None:
    real = store._db

    async def turn() -> None:
        ticket = store.write_group()
        with ticket:
            store.insert_object("a", "customers", "cus_lost", {"id": "cus_lost"}, 2)
        store._db = _FailingCommits(real)  # type: ignore[assignment]
        try:
            with pytest.raises(NotSaved, match="disk is full"):
                await ticket.saved()
        finally:
            store._db = real

    asyncio.run(turn())
    assert not real.in_transaction
    assert store.get_object("a", "customers", "cus_lost") is None and _outside(store)[0] == set()


def _configmap_value(path: Path, key: str) -> str:
    return str(yaml.safe_load(path.read_text())["data"][key])


def test_a_create_that_cannot_be_saved_is_answered_503_and_not_kept(tmp_path: Path) -> None:
    """Through the ASGI app `sandlot mock --stateful` serves: the client is told, nothing half-kept."""
    from sandlot.http.compose import build_app
    from sandlot.state.fixtures import parse_fixtures

    spec = tmp_path / "payments.yaml"
    spec.write_text(_configmap_value(EXAMPLE / "payments-openapi.yaml", "openapi.yaml"))
    fixtures = parse_fixtures(_configmap_value(EXAMPLE / "payments-fixtures.yaml", "fixtures.yaml"))
    app = build_app(str(spec), db=tmp_path / "s.db", fixtures=fixtures, admin_token="adm_group")
    state = app.pipeline.state
    assert state is not None
    _, key = state.issue_key(name="group")
    store = state.store
    assert isinstance(store, SQLiteStore)

    async def call(method: str, path: str, body: bytes = b"") -> tuple[int, dict[str, Any]]:
        sent: list[dict[str, Any]] = []
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        path, _, query = path.partition("?")
        await app({"type": "http", "method": method, "path": path, "raw_path": path.encode(),
                   "query_string": query.encode(), "headers": [
                       (b"authorization", f"Bearer {key.secret}".encode()),
                       (b"content-type", b"application/json")]}, receive, send)
        return sent[0]["status"], json.loads(sent[1]["body"])

    async def scenario() -> tuple[tuple[int, dict[str, Any]], tuple[int, dict[str, Any]], int]:
        before = (await call("GET", "/v1/customers?limit=100"))[1]["data"]
        for _ in range(BATCH - 2):  # the refused create below fills the journal's batch
            assert (await call("GET", "/v1/customers/cus_seed_ada"))[0] == 200
        real = store._db
        store._db = _FailingCommits(real, times=1)  # type: ignore[assignment]
        try:
            refused = await call("POST", "/v1/customers", b'{"email": "lost@example.com"}')
        finally:
            store._db = real
        created = await call("POST", "/v1/customers", b'{"email": "kept@example.com"}')
        after = (await call("GET", "/v1/customers?limit=100"))[1]["data"]
        return refused, created, len(after) - len(before)

    try:
        refused, created, grown = asyncio.run(scenario())
        journal = app.pipeline.journal
        assert journal is not None
        journal.flush()
        # The batch filled by the refused create was written on its own, not in the failed group.
        written = journal.store.find(JournalQuery(limit=1000))
    finally:
        app.pipeline.close()
    assert len(written) == BATCH + 2
    status, problem = refused
    assert status == 503 and "could not save" in problem["detail"] and "retry" in problem["detail"]
    assert created[0] == 200 or created[0] == 201, created
    assert created[1]["email"] == "kept@example.com"
    assert grown == 1  # the refused create left nothing behind


def test_a_request_whose_first_group_failed_writes_nothing_more_and_hears_of_it(store: SQLiteStore) -> None:
    """Another thread may commit the group between two writes of one request: when that commit
    fails, the request's later writes are refused too (nothing of it is kept) and its answer
    says it was not saved."""
    real = store._db

    class FirstCommitFails(_FailingCommits):
        failed = False

        def execute(self, sql: str, *args: Any) -> Any:
            if sql == "COMMIT" and not FirstCommitFails.failed:
                FirstCommitFails.failed = True
                raise sqlite3.OperationalError("disk I/O error")
            return real.execute(sql, *args)

    async def turn() -> None:
        ticket = store.write_group()
        with ticket:
            store.insert_object("a", "customers", "cus_first", {"id": "cus_first"}, 2)
            store._db = FirstCommitFails(real)  # type: ignore[assignment]
            worker = threading.Thread(target=store.list_tenants)  # commits (and fails) the first group
            worker.start()
            worker.join(10)
            store._db = real
            with pytest.raises(NotSaved, match="disk I/O error"):
                store.insert_object("a", "customers", "cus_second", {"id": "cus_second"}, 2)
        with pytest.raises(NotSaved, match="disk I/O error"):
            await asyncio.wait_for(ticket.saved(), 10)

    asyncio.run(turn())
    assert _outside(store)[0] == set()


def test_a_full_disk_that_ends_the_transaction_fails_the_group_and_nothing_after_it(store: SQLiteStore) -> None:
    """SQLite rolls back the whole transaction on some errors (SQLITE_FULL here, from a page
    limit): the group's requests hear they were not saved, the failing one gets SQLite's own
    error, and a request later in the turn starts a new group rather than writing outside one."""
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]

    async def turn() -> tuple[list[str], str]:
        first, full, later = store.write_group(), store.write_group(), store.write_group()
        with first:
            store.insert_object("a", "customers", "cus_first", {"id": "cus_first"}, 2)
        store._db.execute(f"PRAGMA max_page_count = {pages + 4}")
        with full, pytest.raises(sqlite3.OperationalError, match="full") as raised:
            store.insert_object("a", "customers", "cus_big", {"id": "cus_big", "blob": "x" * 200_000}, 2)
        store._db.execute("PRAGMA max_page_count = 1073741823")
        with later:
            store.insert_object("a", "customers", "cus_later", {"id": "cus_later"}, 2)
        outcomes = []
        for ticket in (first, full, later):
            try:
                await asyncio.wait_for(ticket.saved(), 10)
                outcomes.append("saved")
            except NotSaved:
                outcomes.append("not saved")
        return outcomes, str(raised.value)

    outcomes, error = asyncio.run(turn())
    assert outcomes == ["not saved", "not saved", "saved"] and "full" in error
    assert _outside(store)[0] == {"cus_later"} and not store._db.in_transaction


def test_a_restore_a_snapshot_and_closing_commit_an_open_group_first(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.set_seed({}, 0)
    store.create_tenant("a", "A", 1)
    image = store.snapshot()

    async def turn() -> tuple[bytes, set[str]]:
        before, restorer = store.write_group(), store.write_group()
        with before:
            store.insert_object("a", "customers", "cus_1", {"id": "cus_1"}, 2)
        with restorer:  # `PUT /__sandlot/snapshot` has a body: it holds a ticket too
            taken = store.snapshot()
            store.restore(image)
        await before.saved()
        await restorer.saved()
        with store.write_group() as last:
            store.insert_object("a", "customers", "cus_2", {"id": "cus_2"}, 3)
        store.close()  # the group is committed on the way out
        await last.saved()
        return taken, _outside(store)[0]

    taken, left = asyncio.run(turn())
    assert left == {"cus_2"}  # cus_1 was saved, in the snapshot taken, then restored away
    copy = SQLiteStore(tmp_path / "copy.db")
    copy.restore(taken)
    assert copy.get_object("a", "customers", "cus_1") is not None
    copy.close()


def test_a_write_whose_commit_fails_leaves_no_transaction_open(store: SQLiteStore) -> None:
    """Outside a group too: a failed COMMIT is rolled back, and the next write works."""
    real = store._db
    store._db = _FailingCommits(real, times=1)  # type: ignore[assignment]
    try:
        with pytest.raises(sqlite3.OperationalError, match="disk is full"):
            store.insert_object("a", "customers", "cus_lost", {"id": "cus_lost"}, 2)
    finally:
        store._db = real
    assert not real.in_transaction
    store.insert_object("a", "customers", "cus_kept", {"id": "cus_kept"}, 3)
    assert _outside(store)[0] == {"cus_kept"}


def test_a_group_whose_transaction_vanished_is_failed_not_written_outside(store: SQLiteStore) -> None:
    """Should the group's transaction end without the store knowing (here: rolled back behind
    its back), the next request neither writes outside a transaction nor is told a lie."""
    async def turn() -> list[str]:
        first, later = store.write_group(), store.write_group()
        with first:
            store.insert_object("a", "customers", "cus_first", {"id": "cus_first"}, 2)
        store._db.execute("ROLLBACK")
        with later:
            store.insert_object("a", "customers", "cus_later", {"id": "cus_later"}, 2)
        outcomes = []
        for ticket in (first, later):
            try:
                await ticket.saved()
                outcomes.append("saved")
            except NotSaved:
                outcomes.append("not saved")
        return outcomes

    assert asyncio.run(turn()) == ["not saved", "saved"]
    assert _outside(store)[0] == {"cus_later"} and not store._db.in_transaction

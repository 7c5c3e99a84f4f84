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
    with sqlite3.connect(store.path) as watcher:
        watcher.execute("SELECT 1").fetchone()
        before = watcher.execute("PRAGMA data_version").fetchone()[0]

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
        after = watcher.execute("PRAGMA data_version").fetchone()[0]
    assert seen == [set(), set(), set(), {"cus_0", "cus_1", "cus_2"}]
    assert after == before + 1  # one commit for the three


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
    """A connection whose COMMIT fails as a full disk would make it (sqlite3.Connection's methods
    cannot be replaced one by one)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT":
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
        real = store._db
        store._db = _FailingCommits(real)  # type: ignore[assignment]
        try:
            refused = await call("POST", "/v1/customers", b'{"email": "lost@example.com"}')
        finally:
            store._db = real
        created = await call("POST", "/v1/customers", b'{"email": "kept@example.com"}')
        after = (await call("GET", "/v1/customers?limit=100"))[1]["data"]
        return refused, created, len(after) - len(before)

    try:
        refused, created, grown = asyncio.run(scenario())
    finally:
        app.pipeline.close()
    status, problem = refused
    assert status == 503 and "could not save" in problem["detail"] and "retry" in problem["detail"]
    assert created[0] == 200 or created[0] == 201, created
    assert created[1]["email"] == "kept@example.com"
    assert grown == 1  # the refused create left nothing behind


def test_a_request_split_across_two_groups_waits_for_both_and_hears_of_either_failing(store: SQLiteStore) -> None:
    """Another thread may commit the group between two writes of one request: the request's
    answer then waits for both groups, and says so if the first could not be committed."""
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
            store.insert_object("a", "customers", "cus_second", {"id": "cus_second"}, 2)
        with pytest.raises(NotSaved, match="disk I/O error"):
            await asyncio.wait_for(ticket.saved(), 10)

    asyncio.run(turn())
    assert _outside(store)[0] == {"cus_second"}

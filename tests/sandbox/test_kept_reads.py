"""SQLiteStore keeps its request-path reads (a key's tenant, tenant state, objects, pages) until the
file changes: whatever another connection or another process commits, and whatever this one
writes, is seen by the very next read. Revoking a key stops it at once, also from another
process; a reset, an update or a new key made elsewhere is answered at once."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sandlot.state.keys import hash_key, issue_key
from sandlot.state.sqlite_store import READ_CACHE, READ_ROWS, SQLiteStore
from sandlot.state.store import ORIGIN_API, KeyRecord, ListQuery
from tests.sandbox.conftest import Client
from tests.sandbox.servers import SANDLOT

SEED = {"customers": [(f"cus_{i}", {"id": f"cus_{i}", "n": i}) for i in range(3)]}


@pytest.fixture
def pair(tmp_path: Path):
    """Two connections to one file, as two worker processes (or a server and `sandlot keys`) have."""
    first = SQLiteStore(tmp_path / "s.db")
    first.set_seed(SEED, 0)
    first.create_tenant("ten_a", "a", 0)
    second = SQLiteStore(tmp_path / "s.db")
    yield first, second
    first.close()
    second.close()


def _key(store: SQLiteStore, tenant: str = "ten_a") -> tuple[str, str]:
    key = issue_key()
    store.add_key(KeyRecord(key.key_id, key.key_hash, tenant, key.hint, 0))
    return key.key_id, key.key_hash


def test_a_key_revoked_by_another_connection_is_refused_at_the_next_lookup(pair) -> None:
    first, second = pair
    key_id, key_hash = _key(first)
    assert first.find_key(key_hash).tenant_id == "ten_a"
    assert first.find_key(key_hash).tenant_id == "ten_a"  # now kept
    assert second.revoke_key(key_id, 1)
    assert first.find_key(key_hash) is None


def test_a_key_revoked_on_the_same_connection_is_refused_at_once(pair) -> None:
    first, _ = pair
    key_id, key_hash = _key(first)
    assert first.find_key(key_hash) is not None
    assert first.revoke_key(key_id, 1)
    assert first.find_key(key_hash) is None


def test_an_unknown_key_is_found_once_another_connection_adds_it(pair) -> None:
    first, second = pair
    key = issue_key()
    assert first.find_key(key.key_hash) is None  # the miss is kept too
    second.add_key(KeyRecord(key.key_id, key.key_hash, "ten_a", key.hint, 0))
    assert first.find_key(key.key_hash).tenant_id == "ten_a"


def test_objects_and_pages_follow_writes_of_another_connection(pair) -> None:
    first, second = pair
    assert first.get_object("ten_a", "customers", "cus_1").data["n"] == 1
    assert first.list_objects("ten_a", "customers", ListQuery(limit=10)).total == 3
    second.replace_object("ten_a", "customers", "cus_1", {"id": "cus_1", "n": 41}, 1)
    second.insert_object("ten_a", "customers", "cus_new", {"id": "cus_new", "n": 9}, 1)
    assert first.get_object("ten_a", "customers", "cus_1").data["n"] == 41
    page = first.list_objects("ten_a", "customers", ListQuery(limit=10))
    assert page.total == 4 and [o.object_id for o in page.items][-1] == "cus_new"
    second.reset_tenant("ten_a", 2)
    assert first.get_object("ten_a", "customers", "cus_new") is None
    assert first.get_object("ten_a", "customers", "cus_1").data["n"] == 1
    second.delete_object("ten_a", "customers", "cus_1")
    assert first.get_object("ten_a", "customers", "cus_1") is None


def test_tenant_state_follows_writes_of_either_connection(pair) -> None:
    first, second = pair
    assert first.get_states("ten_a", ("scenario", "clock")) == {}
    second.set_state("ten_a", "scenario", "slow")
    assert first.get_states("ten_a", ("scenario", "clock")) == {"scenario": "slow"}
    first.set_state("ten_a", "clock", 5)
    assert first.get_states("ten_a", ("scenario", "clock")) == {"scenario": "slow", "clock": 5}
    assert first.get_state("ten_a", "clock") == 5


def test_own_writes_drop_what_they_change(pair) -> None:
    first, _ = pair
    assert first.get_object("ten_a", "customers", "cus_2").data["n"] == 2
    first.replace_object("ten_a", "customers", "cus_2", {"id": "cus_2", "n": 7}, 1)
    assert first.get_object("ten_a", "customers", "cus_2").data["n"] == 7
    first.insert_object("ten_a", "customers", "cus_9", {"id": "cus_9"}, 1, ORIGIN_API)
    assert first.list_objects("ten_a", "customers", ListQuery(limit=1, offset=3)).items[0].object_id == "cus_9"
    first.purge_older_than("ten_a", 10)
    assert first.get_object("ten_a", "customers", "cus_9") is None


def test_each_reader_gets_its_own_copy_of_a_kept_object(pair) -> None:
    first, _ = pair
    found = first.get_object("ten_a", "customers", "cus_0")
    found.data["n"] = "changed by a caller"
    page = first.list_objects("ten_a", "customers", ListQuery(limit=10))
    page.items[0].data["n"] = "changed too"
    assert first.get_object("ten_a", "customers", "cus_0").data["n"] == 0
    assert first.list_objects("ten_a", "customers", ListQuery(limit=10)).items[0].data["n"] == 0


def test_a_restored_snapshot_replaces_what_was_kept(pair) -> None:
    first, _ = pair
    image = first.snapshot()
    first.replace_object("ten_a", "customers", "cus_0", {"id": "cus_0", "n": 100}, 1)
    assert first.get_object("ten_a", "customers", "cus_0").data["n"] == 100
    first.restore(image)
    assert first.get_object("ten_a", "customers", "cus_0").data["n"] == 0


def test_kept_reads_are_bounded(pair) -> None:
    first, _ = pair
    for i in range(READ_CACHE + 10):
        assert first.find_key(hash_key(f"sk_sbx_unknown_{i}")) is None
    assert len(first._kept["keys"]) <= READ_CACHE


def test_kept_rows_are_bounded_in_all(pair) -> None:
    first, _ = pair
    for i in range(3, 13):
        first.insert_object("ten_a", "customers", f"cus_{i}", {"id": f"cus_{i}", "n": i}, 1)
    wanted = list(range(13))
    for i in range(READ_ROWS // 8):  # every one another page of eleven rows (ten and one to tell more)
        page = first.list_objects("ten_a", "customers", ListQuery(limit=10, filters={"n": [*wanted, 100 + i]}))
        assert page.total == 13 and page.has_more
    assert sum(len(rows) for rows, _ in first._kept["objects"].values()) <= READ_ROWS


# -- through the stateful stages, with another process writing the file ----------------------------

def _sandlot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SANDLOT, *args], capture_output=True, text=True, timeout=60, check=True)


def test_a_key_revoked_by_another_process_is_refused_at_the_next_request(handler) -> None:
    tenant, key = handler.state.issue_key(name="alice")
    client = Client(handler, key.secret)
    for _ in range(3):  # the key's tenant, the tenant's state and the object are kept now
        assert client("GET", "/customers/cus_seed_ada").status == 200
    _sandlot("keys", "revoke", key.key_id, "--db", handler.state.store.path)
    refused = client("GET", "/customers/cus_seed_ada")
    assert refused.status == 401, refused.body
    assert Client(handler, handler.state.issue_key(tenant_id=tenant)[1].secret)(
        "GET", "/customers/cus_seed_ada").status == 200  # the tenant's other keys still work


def test_a_reset_by_another_process_is_seen_at_the_next_request(handler) -> None:
    _, key = handler.state.issue_key(name="alice")
    client = Client(handler, key.secret)
    made = client("POST", "/customers", {"email": "new@example.com"})
    assert made.status in (200, 201), made.body
    path = "/customers/" + made.json()["id"]
    assert client("GET", path).status == 200
    assert client("GET", path).status == 200
    _sandlot("reset", "--key", key.secret, "--db", handler.state.store.path)
    assert client("GET", path).status == 404


# -- kept answers: a read answers the same until anything stored changes ----------------------------

def test_store_generation_moves_with_every_write_of_either_connection(pair) -> None:
    first, second = pair
    start = first.generation()
    assert first.generation() == start  # reads move nothing
    first.get_object("ten_a", "customers", "cus_0")
    assert first.generation() == start
    first.set_state("ten_a", "clock", 1)
    after_own = first.generation()
    assert after_own != start
    second.replace_object("ten_a", "customers", "cus_0", {"id": "cus_0", "n": 5}, 1)
    assert first.generation() != after_own


def test_a_kept_answer_follows_own_writes_and_another_process(handler) -> None:
    """Repeated reads are answered from what the stage kept; an update here, an object changed
    by another connection and a reset by another process are each seen at the next read."""
    _, key = handler.state.issue_key(name="alice")
    client = Client(handler, key.secret)
    made = client("POST", "/customers", {"email": "first@example.com"})
    path = "/customers/" + made.json()["id"]
    for _ in range(3):
        assert client("GET", path).json()["email"] == "first@example.com"
    assert any(k[2] == "/v1" + path for k in handler.state._answers)  # kept, not recomputed
    assert client("PATCH", path, {"email": "second@example.com"}).status == 200
    assert client("GET", path).json()["email"] == "second@example.com"
    listed = client("GET", "/customers", query="limit=100").json()
    assert "second@example.com" in str(listed)
    other = SQLiteStore(handler.state.store.path)
    try:
        tenant = next(t for t in other.list_tenants() if t.name == "alice").tenant_id
        stored = other.get_object(tenant, "customers", made.json()["id"])
        other.replace_object(tenant, "customers", stored.object_id, {**stored.data, "email": "third@example.com"}, 2)
    finally:
        other.close()
    assert client("GET", path).json()["email"] == "third@example.com"
    assert "third@example.com" in str(client("GET", "/customers", query="limit=100").json())
    _sandlot("reset", "--key", key.secret, "--db", handler.state.store.path)
    assert client("GET", path).status == 404


def test_kept_answers_are_per_caller_and_bounded(handler, monkeypatch) -> None:
    import sandlot.state.stage as stage_module

    monkeypatch.setattr(stage_module, "KEPT_ANSWERS", 5)
    _, alice = handler.state.issue_key(name="alice")
    _, bob = handler.state.issue_key(name="bob")
    made = Client(handler, alice.secret)("POST", "/customers", {"email": "alice@example.com"})
    path = "/customers/" + made.json()["id"]
    assert Client(handler, alice.secret)("GET", path).status == 200
    assert Client(handler, bob.secret)("GET", path).status == 404  # another tenant: not alice's kept answer
    for i in range(10):
        Client(handler, alice.secret)("GET", "/customers", query=f"limit={i + 1}")
    assert len(handler.state._answers) <= 5


def test_writes_no_answer_reads_keep_the_generation(pair) -> None:
    first, _ = pair
    start = first.generation()
    first.count_request("ten_a", "2026-12-02")
    first.next_int_id("ten_a", "customers")
    assert first.generation() == start
    first.insert_object("ten_a", "customers", "cus_x", {"id": "cus_x"}, 1)
    assert first.generation() != start


def test_within_one_view_another_connections_commit_shows_from_the_next_view_on(pair) -> None:
    """The pipeline runs each request in one view: data_version is read once for it, so a commit
    elsewhere during a request is seen by the next request, and never later."""
    first, second = pair
    key_id, key_hash = _key(first)
    assert first.find_key(key_hash) is not None  # kept
    with first.one_view():
        assert first.find_key(key_hash) is not None  # the view's one look at the file
        assert second.revoke_key(key_id, 1)
        assert first.find_key(key_hash) is not None  # as if the revoke came after this request
        with first.one_view():  # a nested block is the same view
            assert first.find_key(key_hash) is not None
    with first.one_view():
        assert first.find_key(key_hash) is None  # the next request sees it
    _, other_hash = _key(second)
    assert first.find_key(other_hash) is not None  # outside a view: every read looks


def test_a_view_is_per_thread(pair) -> None:
    import threading

    first, second = pair
    key_id, key_hash = _key(first)
    assert first.find_key(key_hash) is not None
    seen: list[object] = []
    with first.one_view():
        assert first.find_key(key_hash) is not None
        assert second.revoke_key(key_id, 1)
        worker = threading.Thread(target=lambda: seen.append(first.find_key(key_hash)))
        worker.start()
        worker.join()
    assert seen == [None]  # another thread is not inside this request's view


def _pragmas(store: SQLiteStore) -> list[str]:
    seen: list[str] = []
    store.connection.set_trace_callback(lambda sql: seen.append(sql) if "data_version" in sql else None)
    return seen


def test_data_version_is_read_only_when_the_wal_index_header_moved(pair) -> None:
    """The -shm file's header changes with every commit of any connection: while it stays the
    same, a lookup asks nothing of SQLite; a commit elsewhere (any client of the file, here a
    plain sqlite3 connection) is still seen at the next lookup."""
    import sqlite3

    first, second = pair
    key_id, key_hash = _key(first)
    assert first.find_key(key_hash) is not None
    pragmas = _pragmas(first)
    for _ in range(20):
        assert first.find_key(key_hash).tenant_id == "ten_a"
    assert pragmas == []  # nothing committed: no data_version, no read transaction
    assert second.revoke_key(key_id, 1)
    assert first.find_key(key_hash) is None
    assert len(pragmas) == 1
    other = sqlite3.connect(first.path, isolation_level=None)
    try:
        other.execute("UPDATE keys SET revoked_at = NULL WHERE key_id = ?", (key_id,))
    finally:
        other.close()
    assert first.find_key(key_hash).tenant_id == "ten_a"
    assert len(pragmas) == 2


def test_a_reopened_connection_watches_the_file_again(pair) -> None:
    """A worker process opens its own connection (`reopen`): it maps the header afresh."""
    first, second = pair
    key_id, key_hash = _key(first)
    first.reopen()
    assert first.find_key(key_hash) is not None
    pragmas = _pragmas(first)
    assert first.find_key(key_hash) is not None and pragmas == []
    assert second.revoke_key(key_id, 1)
    assert first.find_key(key_hash) is None and len(pragmas) == 1


def test_a_store_in_memory_reads_data_version_every_time() -> None:
    store = SQLiteStore(":memory:")
    try:
        store.create_tenant("ten_a", "a", 0)
        key_id, key_hash = _key(store)
        assert store.find_key(key_hash) is not None
        pragmas = _pragmas(store)
        assert store.find_key(key_hash) is not None
        assert pragmas == ["PRAGMA data_version"]
        assert store.revoke_key(key_id, 1)
        assert store.find_key(key_hash) is None
    finally:
        store.close()

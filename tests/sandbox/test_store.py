"""SQLiteStore on a real file: tenant isolation in every query, seed/reset, pagination,
filters, the bounded request log, usage counting, retention and restart durability."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sandlot.state.sqlite_store import SQLiteStore
from sandlot.state.store import ORIGIN_API, ORIGIN_SEED, DeliveryRow, KeyRecord, ListQuery

SEED = {"customers": [(f"cus_{i}", {"id": f"cus_{i}", "n": i, "vip": i % 2 == 0})
                      for i in range(5)]}


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    s = SQLiteStore(tmp_path / "s.db")
    s.set_seed(SEED, 0)
    yield s
    s.close()


def ids(page) -> list[str]:
    return [o.object_id for o in page.items]


def test_new_tenants_start_from_the_seed_and_are_isolated(store: SQLiteStore) -> None:
    store.create_tenant("a", "A", 1)
    store.create_tenant("b", "B", 1)
    store.insert_object("a", "customers", "cus_new", {"id": "cus_new"}, 2)
    assert store.get_object("b", "customers", "cus_new") is None
    assert store.get_object("a", "customers", "cus_new").origin == ORIGIN_API
    assert store.get_object("b", "customers", "cus_0").origin == ORIGIN_SEED
    assert not store.delete_object("b", "customers", "cus_new")
    assert store.replace_object("b", "customers", "cus_new", {}, 3) is None
    assert store.count_objects("a") == 6 and store.count_objects("b") == 5
    assert store.count_objects("a", ORIGIN_API) == 1


def test_reset_is_exact_and_clears_tenant_state(store: SQLiteStore) -> None:
    store.create_tenant("a", "A", 1)
    before = store.list_objects("a", "customers", ListQuery(limit=100))
    store.insert_object("a", "customers", "x", {"id": "x"}, 2)
    store.replace_object("a", "customers", "cus_1", {"id": "cus_1", "n": 99}, 2)
    store.delete_object("a", "customers", "cus_2")
    store.set_state("a", "scenario", "rate_limited")
    assert store.reset_tenant("a", 3) == 5
    after = store.list_objects("a", "customers", ListQuery(limit=100))
    assert [(o.object_id, o.data) for o in after.items] == [(o.object_id, o.data) for o in before.items]
    assert store.get_state("a", "scenario") is None
    with pytest.raises(KeyError):
        store.reset_tenant("nobody", 3)


def test_pagination_by_offset_cursor_and_filters(store: SQLiteStore) -> None:
    store.create_tenant("a", "A", 1)
    page = store.list_objects("a", "customers", ListQuery(limit=2))
    assert ids(page) == ["cus_0", "cus_1"] and page.has_more and page.total == 5
    assert ids(store.list_objects("a", "customers", ListQuery(limit=2, offset=4))) == ["cus_4"]
    after = store.list_objects("a", "customers", ListQuery(limit=2, after_id="cus_1"))
    assert ids(after) == ["cus_2", "cus_3"] and after.has_more
    before = store.list_objects("a", "customers", ListQuery(limit=2, before_id="cus_3"))
    assert ids(before) == ["cus_1", "cus_2"]
    vip = store.list_objects("a", "customers", ListQuery(filters={"vip": True}, limit=10))
    assert ids(vip) == ["cus_0", "cus_2", "cus_4"] and vip.total == 3
    assert ids(store.list_objects("a", "customers", ListQuery(filters={"n": 3}))) == ["cus_3"]
    assert ids(store.list_objects("a", "customers", ListQuery(filters={"n": [1, 4, 9]}))) == \
        ["cus_1", "cus_4"]


def test_keys_are_found_by_hash_until_revoked(store: SQLiteStore) -> None:
    store.create_tenant("a", "A", 1)
    store.add_key(KeyRecord("key_1", "h1", "a", "sk_sbx_…", 1))
    assert store.find_key("h1").tenant_id == "a"
    assert store.revoke_key("key_1", 2) and not store.revoke_key("key_1", 3)
    assert store.find_key("h1") is None
    assert store.list_keys("a")[0].revoked_at == 2


def test_usage_counts_per_tenant_and_day(store: SQLiteStore) -> None:
    assert [store.count_request("a", "2026-01-01") for _ in range(3)] == [1, 2, 3]
    assert store.count_request("a", "2026-01-02") == 1
    assert store.count_request("b", "2026-01-01") == 1


def test_purge_removes_only_old_api_objects(store: SQLiteStore) -> None:
    store.create_tenant("a", "A", 0)
    store.insert_object("a", "customers", "old", {}, 10)
    store.insert_object("a", "customers", "new", {}, 100)
    assert store.purge_older_than("a", 50) == 1
    assert store.get_object("a", "customers", "old") is None
    assert store.get_object("a", "customers", "new") is not None
    assert store.get_object("a", "customers", "cus_0") is not None


def test_state_survives_reopening_the_file(tmp_path: Path) -> None:
    first = SQLiteStore(tmp_path / "d.db")
    first.create_tenant("a", "A", 1)
    first.insert_object("a", "customers", "kept", {"id": "kept"}, 1)
    first.close()
    second = SQLiteStore(tmp_path / "d.db")
    assert second.get_object("a", "customers", "kept").data == {"id": "kept"}
    second.close()


def measure_reset(tmp_path: Path, objects: int = 10_000) -> float:
    """Return the milliseconds one reset takes for a tenant seeded with `objects` objects."""
    store = SQLiteStore(tmp_path / "big.db")
    store.set_seed({"customers": [(f"cus_{i}", {"id": f"cus_{i}", "email": f"u{i}@example.com",
                                               "name": f"User {i}", "created": 1767225600 + i})
                                  for i in range(objects)]}, 0)
    store.create_tenant("big", "big", 0)
    for i in range(100):
        store.insert_object("big", "customers", f"extra_{i}", {"id": f"extra_{i}"}, 1)
    started = time.perf_counter()
    restored = store.reset_tenant("big", 2)
    elapsed = (time.perf_counter() - started) * 1000
    assert restored == objects and store.count_objects("big") == objects
    store.close()
    return elapsed


def test_reset_of_ten_thousand_seeded_objects(tmp_path: Path) -> None:
    elapsed = measure_reset(tmp_path)
    print(f"\nreset of a tenant with 10,000 seeded objects: {elapsed:.1f} ms")


def test_a_tenant_created_before_any_seed_gets_the_first_one(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "late.db")
    store.create_tenant("early", "made by `sandlot keys create` on a fresh file", 1)
    store.insert_object("early", "customers", "mine", {"id": "mine"}, 2)
    assert store.count_objects("early") == 1
    store.set_seed(SEED, 3)
    assert store.count_objects("early", ORIGIN_SEED) == 5 and store.get_object("early", "customers", "mine")
    store.set_seed({"customers": [("cus_x", {"id": "cus_x"})]}, 4)
    assert store.count_objects("early", ORIGIN_SEED) == 5  # seeded once; a reset picks up the new seed
    assert store.reset_tenant("early", 5) == 1
    store.close()


def test_get_states_reads_several_keys_of_one_tenant_at_once(store: SQLiteStore) -> None:
    store.create_tenant("a", "A", 1)
    store.create_tenant("b", "B", 1)
    store.set_state("a", "scenario", "rate_limited")
    store.set_state("a", "sandlot.clock.offset", 86400.0)
    store.set_state("b", "scenario", "unavailable")
    assert store.get_states("a", ("scenario", "sandlot.clock.offset", "unset")) == {
        "scenario": "rate_limited", "sandlot.clock.offset": 86400.0}
    assert store.get_states("b", ("sandlot.clock.offset",)) == {}


V1_SCHEMA = Path(__file__).resolve().parent / "fixtures" / "schema_v1.sql"


def test_a_snapshot_carries_the_webhook_queue_and_buckets_with_its_claims_released(tmp_path: Path) -> None:
    old = SQLiteStore(tmp_path / "old.db")
    old.create_tenant("a", "A", 1)
    old.put_deliveries([DeliveryRow("dlv_1", "a", 5.0, "scheduled", b'{"n":1}', {"event_id": "evt_1"}),
                        DeliveryRow("dlv_2", "a", 6.0, "retrying", b'{"n":2}', {"event_id": "evt_2"})])
    # the process that took the snapshot was sending dlv_1 (its claim would last an hour)
    assert [r.delivery_id for r in old.claim_deliveries(["dlv_1"], "gone-1", 10.0, 3600.0)] == ["dlv_1"]
    old.update_bucket("rl:a", lambda stored: (3.0, 42.0))
    snap = old.snapshot()
    old.close()
    fresh = SQLiteStore(tmp_path / "fresh.db")
    fresh.restore(snap)
    assert [(d[0], d[1]) for d in fresh.pending_deliveries(11.0)] == [("dlv_1", "a"), ("dlv_2", "a")]
    assert [(r.delivery_id, r.body, r.record) for r in fresh.list_deliveries("a")] == [
        ("dlv_1", b'{"n":1}', {"event_id": "evt_1"}), ("dlv_2", b'{"n":2}', {"event_id": "evt_2"})]
    seen: list[tuple[float, float] | None] = []
    fresh.update_bucket("rl:a", lambda stored: seen.append(stored) or (2.0, 43.0))
    assert seen == [(3.0, 42.0)]
    fresh.close()


def test_a_snapshot_of_an_older_schema_is_migrated_and_a_newer_one_refused(tmp_path: Path) -> None:
    import gzip
    import sqlite3

    from sandlot.state.schema import SCHEMA_VERSION

    v1 = sqlite3.connect(":memory:")
    v1.executescript(V1_SCHEMA.read_text())
    v1.execute("INSERT INTO tenants VALUES ('ten_old', 'old', 1.0)")
    v1.commit()
    store = SQLiteStore(tmp_path / "s.db")
    store.restore(gzip.compress(v1.serialize()))
    assert [t.tenant_id for t in store.list_tenants()] == ["ten_old"]
    assert store.put_deliveries([DeliveryRow("dlv_1", "ten_old", 1.0, "scheduled", b"{}", {})]) == [1]
    newer = sqlite3.connect(":memory:")
    newer.deserialize(gzip.decompress(store.snapshot()))
    newer.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    newer.commit()
    with pytest.raises(ValueError, match=f"schema version {SCHEMA_VERSION + 1} .*reads schema versions 1 to "
                                         f"{SCHEMA_VERSION}"):
        store.restore(gzip.compress(newer.serialize()))
    assert [t.tenant_id for t in store.list_tenants()] == ["ten_old"]  # untouched
    store.close()

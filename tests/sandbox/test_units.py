"""Pure pieces: keys, live-key detection, ids, shaping, the sidecar config and fixtures."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from sandlot.mock.messages import MockRequest
from sandlot.state.auth import LiveKeyDetector, bearer_or_basic
from sandlot.state.config import ConfigError, load_config
from sandlot.state.fixtures import FixtureError, check_fixtures, parse_fixtures
from sandlot.state.ids import may_collide, new_id, random_token
from sandlot.state.inference import IdFormat, Timestamp
from sandlot.state.keys import KEY_PREFIX, hash_key, issue_key, looks_live
from sandlot.state.shape import format_timestamp


def test_keys_have_the_prefix_256_bits_and_are_stored_hashed() -> None:
    key = issue_key()
    assert key.secret.startswith(KEY_PREFIX)
    assert len(bytes.fromhex(key.secret[len(KEY_PREFIX):])) == 32
    assert key.key_hash == hash_key(key.secret) and len(key.key_hash) == 64
    assert key.secret not in key.hint and key.hint.startswith(KEY_PREFIX)
    assert issue_key().secret != key.secret


def test_live_key_detection_everywhere_a_key_may_travel() -> None:
    detector = LiveKeyDetector(("sk_live_*", "pk_live_*"))
    basic = base64.b64encode(b"sk_live_abc:").decode()
    for req in (MockRequest("GET", "/", "", {"authorization": "Bearer sk_live_1"}),
                MockRequest("GET", "/", "", {"authorization": f"Basic {basic}"}),
                MockRequest("GET", "/", "", {"x-api-key": "pk_live_2"}),
                MockRequest("GET", "/", "api_key=sk_live_3")):
        assert detector.found_in(req)
    assert not detector.found_in(MockRequest("GET", "/", "", {"authorization": "Bearer sk_sbx_1"}))
    assert looks_live("rk_live_x") and not looks_live("sk_test_x")
    assert list(bearer_or_basic("Basic !!!")) == []


def test_the_live_key_verdict_of_a_header_set_is_remembered_per_headers_and_query() -> None:
    detector = LiveKeyDetector(("sk_live_*",))
    clean = MockRequest("GET", "/a", "", {"authorization": "Bearer sk_sbx_1", "x-trace": "1"})
    live = MockRequest("GET", "/b", "", {"authorization": "Bearer sk_sbx_1", "x-trace": "sk_live_9"})
    in_query = MockRequest("GET", "/a", "key=sk_live_9", {"authorization": "Bearer sk_sbx_1", "x-trace": "1"})
    for _ in range(3):  # asked again and again, in any order, each keeps its own verdict
        assert not detector.found_in(clean)
        assert detector.found_in(live)
        assert detector.found_in(in_query)


def test_id_formats() -> None:
    assert re.fullmatch(r"cus_[A-Za-z0-9]{14}", new_id(IdFormat("prefixed", "cus_", 14), lambda: 0))
    assert new_id(IdFormat("int"), lambda: 42) == 42
    assert re.fullmatch(r"[0-9a-f-]{36}", new_id(IdFormat("uuid"), lambda: 0))
    assert re.fullmatch(r"AC[0-9a-f]{32}", new_id(IdFormat("pattern", "^AC[0-9a-f]{32}$"), lambda: 0))


def test_random_tokens_use_all_62_characters_evenly() -> None:
    tokens = [random_token(31) for _ in range(5000)]
    assert all(len(t) == 31 and t.isalnum() and t.isascii() for t in tokens)
    counts: dict[str, int] = {}
    for ch in "".join(tokens):
        counts[ch] = counts.get(ch, 0) + 1
    # 155,000 characters: 2,500 expected each (sd 50); a byte % 62 bias toward the first 8 would give 3,027
    assert len(counts) == 62 and max(counts.values()) < 2800 and min(counts.values()) > 2200
    assert len(set(tokens)) == len(tokens)


def test_timestamp_styles() -> None:
    assert format_timestamp(Timestamp("c", "created", "unix"), 1767225600.7) == 1767225600
    assert format_timestamp(Timestamp("c", "created", "unix_ms"), 1.5) == 1500
    assert format_timestamp(Timestamp("c", "created", "iso"), 1767225600) == "2026-01-01T00:00:00Z"
    assert format_timestamp(Timestamp("c", "created", "iso_ms"), 1767225600.25) == "2026-01-01T00:00:00.250Z"
    assert format_timestamp(Timestamp("c", "created", "date"), 1767225600) == "2026-01-01"


def test_iso_timestamps_follow_the_example_else_carry_milliseconds() -> None:
    from sandlot.state.inference import _timestamps
    stamps = _timestamps({"created_at": {"type": "string", "format": "date-time", "example": "2020-07-21T18:37:44Z"},
                          "updatedAt": {"type": "string", "format": "date-time"},
                          "editedAt": {"type": "string", "examples": ["2020-07-21T18:37:44.120+00:00"]}})
    assert [(s.name, s.style) for s in stamps] == [("created_at", "iso"), ("updatedAt", "iso_ms"), ("editedAt", "iso_ms")]


def test_sidecar_config(tmp_path: Path) -> None:
    path = tmp_path / "sandlot.yaml"
    path.write_text("retention: 7d\nquota: {objects: 100, requestsPerDay: 5000}\n"
                    "liveKeyPatterns: ['live_*']\ncollections: {customers: {idFormat: uuid}}\n")
    config = load_config(path)
    assert (config.retention_seconds, config.max_objects, config.requests_per_day) == (604800, 100, 5000)
    assert config.live_key_patterns == ("live_*",)
    assert config.overrides == {"collections": {"customers": {"idFormat": "uuid"}}}
    path.write_text("quota: {objects: 0}\n")
    with pytest.raises(ConfigError, match="quota.objects must be a whole number"):
        load_config(path)
    path.write_text("retnetion: 7d\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(path)
    path.write_text("retention: a week\n")
    with pytest.raises(ConfigError, match="retention: 'a week' is not a duration"):
        load_config(path)


def test_fixtures_parse_and_check() -> None:
    fixtures = parse_fixtures('{"customers": [{"id": "c1"}], "charges": [{"id": "h1", "customer": "c1"}]}')
    check_fixtures(fixtures, {"customers": "id", "charges": "id"}, {"charges": {"customer": "customers"}})
    assert parse_fixtures("") == {} and parse_fixtures("refunds:\n") == {"refunds": []}
    with pytest.raises(FixtureError, match="mapping of collection name"):
        parse_fixtures("- a\n- b\n")
    with pytest.raises(FixtureError, match=r"customers\[1\]: id 'c1' is used twice"):
        check_fixtures(parse_fixtures("customers: [{id: c1}, {id: c1}]"), {"customers": "id"})
    with pytest.raises(FixtureError, match=r"customers\[0\] has no 'id'"):
        check_fixtures(parse_fixtures("customers: [{name: x}]"), {"customers": "id"})
    with pytest.raises(FixtureError, match="not valid YAML"):
        parse_fixtures("customers: [")


def test_put_replaces_patch_merges() -> None:
    from sandlot.state.inference import Collection
    from sandlot.state.shape import apply_update

    props = {"id": {"type": "string", "readOnly": True}, "email": {"type": "string"},
             "name": {"type": "string"}, "nick": {"type": "string"},
             "created": {"type": "integer", "readOnly": True}}
    people = Collection("people", "id", IdFormat("string"), {"type": "object"}, props,
                        (Timestamp("created", "created", "unix"),), frozenset({"id", "email"}))
    stored = {"id": "p1", "email": "a@x", "name": "A", "nick": "a", "created": 1}
    assert apply_update(stored, {"name": "B", "id": "nope"}, people, 9) == {**stored, "name": "B"}
    assert apply_update(stored, {"name": "B"}, people, 9, replace=True) == \
        {"id": "p1", "email": "a@x", "name": "B", "created": 1}


@pytest.mark.parametrize(("fmt", "checked"), [
    (IdFormat("uuid"), False), (IdFormat("int"), False), (IdFormat("prefixed", "cus_"), False),
    (IdFormat("string"), False), (IdFormat("prefixed", "x_", length=10), True),
    (IdFormat("prefixed", "x_", length=11), True), (IdFormat("prefixed", "cus_", length=14), False), (IdFormat("string", length=8), True),
    (IdFormat("pattern", "^[a-z]{3}$"), True),
])
def test_only_ids_that_may_collide_are_checked_before_a_create(fmt: IdFormat, checked: bool) -> None:
    assert may_collide(fmt) is checked

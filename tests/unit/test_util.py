"""The shared utilities both halves use: one duration grammar, one key generator, one deref."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sandlot.util.durations import DurationError, parse_duration, parse_ttl
from sandlot.util.keys import KEY_PREFIX, new_key_secret
from sandlot.util.pointers import deref, resolve_pointer


@pytest.mark.parametrize("text, seconds", [("250ms", 0.25), ("2s", 2.0), ("1.5m", 90.0), ("72h", 259200.0),
                                           ("7d", 604800.0), ("4", 4.0), (3, 3.0), (" 2 s ", 2.0)])
def test_one_duration_grammar(text, seconds) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["a week", "1w", "-1s", True, float("inf"), -2])
def test_bad_durations_name_the_place_and_the_forms(text) -> None:
    with pytest.raises(DurationError, match="^retention: "):
        parse_duration(text, "retention")


def test_a_ttl_is_the_crd_subset_of_the_same_grammar() -> None:
    assert parse_ttl("90m") == timedelta(minutes=90) and parse_ttl("7d") == timedelta(days=7)
    for bad in ("", "0h", "1.5h", "10", "250ms", " 1h", "123456h"):
        with pytest.raises(DurationError, match="e.g. 90m, 72h, 7d"):
            parse_ttl(bad)


def test_one_key_generator_for_operator_and_sandbox() -> None:
    from sandlot.controller.handlers import generate_api_key
    from sandlot.state.keys import issue_key

    key = new_key_secret()
    assert key.startswith(KEY_PREFIX) and len(bytes.fromhex(key[len(KEY_PREFIX):])) == 32
    assert generate_api_key is new_key_secret
    assert len(issue_key().secret) == len(key)


def test_deref_follows_local_refs_and_gives_the_empty_schema_otherwise() -> None:
    doc = {"a": {"$ref": "#/b"}, "b": {"type": "string"}, "loop": {"$ref": "#/loop"},
           "x": {"$ref": "other.yaml#/c"}, "gone": {"$ref": "#/nowhere"}, "p/q": [1, 2]}
    assert deref(doc, doc["a"]) == {"type": "string"}
    assert deref(doc, doc["loop"]) == {} and deref(doc, doc["x"]) == {} and deref(doc, doc["gone"]) == {}
    assert deref(doc, 5) == 5
    assert resolve_pointer(doc, "/p~1q/1") == 2
    with pytest.raises(KeyError):
        resolve_pointer(doc, "/p~1q/9")

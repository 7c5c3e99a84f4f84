"""sandlot.util.fastjson: orjson's speed, the standard library's values (exact outputs)."""

from __future__ import annotations

import json

import pytest

from sandlot.util import fastjson


def test_dumps_is_compact_utf8() -> None:
    assert fastjson.dumps({"name": "Zoë", "tags": ["a", 1, 2.5, None, True]}) == \
        '{"name":"Zoë","tags":["a",1,2.5,null,true]}'.encode()


def test_dumps_hands_what_orjson_refuses_to_json() -> None:
    assert fastjson.dumps({"big": 2**70}) == b'{"big":1180591620717411303424}'
    assert fastjson.dumps({1: "x"}) == b'{"1":"x"}'
    assert fastjson.dumps_text({"a": [1]}) == '{"a":[1]}'


def test_loads_keeps_big_integers_and_json_extensions_exact() -> None:
    assert fastjson.loads(b'{"n": 123456789012345678901234567890}') == {"n": 123456789012345678901234567890}
    assert fastjson.loads('{"n": 12}') == {"n": 12}
    assert str(fastjson.loads(b"[NaN]")[0]) == "nan"  # as json.loads reads it


def test_loads_raises_json_errors_with_json_messages() -> None:
    with pytest.raises(ValueError) as caught:
        fastjson.loads(b'{"a": }')
    with pytest.raises(ValueError) as expected:
        json.loads(b'{"a": }')
    assert str(caught.value) == str(expected.value)


@pytest.mark.parametrize("text", [
    '{"n": 12345678901234567890123}',          # a long integer: the standard library reads it
    '{"n": -99999999999999999999, "m": 1.5}',
    '{"s": "٠١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦٧٨٩"}',         # another script's digits, in a string
    '{"a": 123456789012345678, "b": "1234567890123456789"}',
    '{"id": "cus_1", "created": 1700000000, "tags": ["x"]}',
    '{"max": 9223372036854775807, "min": -9223372036854775808}',  # 19 digits at the edges of 64 bits
    '{"n": 9223372036854775808, "u": 18446744073709551615}',      # just beyond: orjson would not keep these
    '{"d": "rekor - 2605736670972794746", "f": 0.1234567890123456789}',
])
def test_loads_gives_the_standard_librarys_values_for_str_and_bytes(text: str) -> None:
    expected = json.loads(text)
    for data in (text, text.encode()):
        got = fastjson.loads(data)
        assert got == expected
        assert json.dumps(got) == json.dumps(expected)  # ints stay ints, floats floats


def test_canonical_text_sorts_keys_and_takes_what_orjson_refuses() -> None:
    assert fastjson.canonical({"b": [1, 1.0, True], "a": {"d": None, "c": "é"}}) == \
        '{"a":{"c":"é","d":null},"b":[1,1.0,true]}'
    assert fastjson.canonical({"b": 1}) != fastjson.canonical({"b": True})
    assert fastjson.canonical({"n": 2**70}) == json.dumps({"n": 2**70})
    assert fastjson.canonical({2: "y", 1: "x"}) == json.dumps({1: "x", 2: "y"}, sort_keys=True)

"""The data plane's JSON codec on its hot paths: orjson where it gives the same values, the
standard library where it would not.

Called by the responder (every JSON response body, mock/responder.py), the state store (every
stored object, state/sqlite_store.py) and the request validator (JSON request bodies,
mock/validate.py). orjson encodes and decodes a small object 10-20x faster than `json`, which
is a tenth of an uncached request's work. Where the two would differ, `json` does the work:

- `dumps`: values orjson refuses (integers beyond 64 bits, non-string keys, other types) are
  encoded by `json` (compact, UTF-8), so nothing that encoded before fails now. Floats are
  written in their shortest round-trip form either way (`1e-05` from `json`, `0.00001` from
  orjson: the same number);
- `loads`: text with a run of digits beyond 9223372036854775807 (an integer orjson would turn
  into a float; shorter runs, and long ones inside strings such as an id in a description, read
  the same either way) and text orjson refuses (`NaN`, `Infinity`, or malformed) go to `json`, so values, and the error
  messages for malformed bodies, are the standard library's.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# A run of 19 digits is found as a run of 19 zeros once every ASCII digit is a zero and every
# other byte a dot: one translate and one substring search, a tenth of a regular expression's
# time. JSON numbers are ASCII, so other scripts' digits (in strings) never matter.
_DIGITS_AS_ZEROS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x2E for b in range(256))
_LONG_RUN = b"0" * 19
#: The largest magnitude every integer up to which orjson reads as an int (the sign is not looked
#: at: -9223372036854775808 goes to `json` too, which reads it the same).
_EXACT_MAX = 2**63 - 1


def _long_digits(data: bytes | str) -> bool:
    """Tell whether `data` holds a run of ASCII digits beyond _EXACT_MAX. Runs of 19 are rare, so
    each one found in the translated text is read on its own (a 13 MB spec holds three)."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    zeros = raw.translate(_DIGITS_AS_ZEROS)
    start = zeros.find(_LONG_RUN)
    while start >= 0:
        end = start + len(_LONG_RUN)
        while end < len(zeros) and zeros[end] == 0x30:
            end += 1
        if int(raw[start:end]) > _EXACT_MAX:
            return True
        start = zeros.find(_LONG_RUN, end)
    return False


def dumps(value: Any) -> bytes:
    """Return `value` as compact UTF-8 JSON."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def dumps_text(value: Any) -> str:
    """Return `value` as compact JSON text."""
    return dumps(value).decode()


def scan_text(value: Any) -> bytes | None:
    """Return `value` as compact JSON text to search in (keys that are not strings written as
    strings, as YAML's `200:` is), or None when orjson cannot encode it (then walk the value)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return None


def canonical(value: Any) -> str:
    """Return a value as JSON text with sorted keys (what is not JSON as its `str`): equal
    values give equal text, for the keys of caches."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str).decode()
    except TypeError:  # integers beyond 64 bits, keys that are not strings
        return json.dumps(value, sort_keys=True, default=str)


def loads(data: bytes | str) -> Any:
    """Return the value JSON `data` holds (raises ValueError, as `json.loads`, when it is not JSON)."""
    if not _long_digits(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)

"""Assign ids to created objects in the format the collection's schema implies.

Called by the state stage (state/stage.py) on every create. Random ids (not sequences) for string
formats, so ids never collide across tenants or restarts; integers count up per tenant.
"""

from __future__ import annotations

import random
import secrets
import string
import uuid
from collections.abc import Callable

from sandlot.mock.regex_gen import generate_matching
from sandlot.state.inference import IdFormat

_ALPHABET = string.ascii_letters + string.digits


#: Random bytes below this map evenly onto the 62 characters (4 x 62); the rest are skipped.
_EVEN = 4 * len(_ALPHABET)


def random_token(length: int) -> str:
    """Return `length` random base62 characters (uniform, from one read of the OS's randomness:
    a read per character was a system call each, a tenth of a create's time)."""
    found: list[str] = []
    while len(found) < length:
        found += [_ALPHABET[b % 62] for b in secrets.token_bytes(length + 8) if b < _EVEN]
    return "".join(found[:length])


def new_id(fmt: IdFormat, next_int: Callable[[], int]) -> str | int:
    """Return a fresh id: uuid4, the next integer, prefix + base62, a pattern match, or base62."""
    if fmt.kind == "uuid":
        return str(uuid.uuid4())
    if fmt.kind == "int":
        return next_int()
    if fmt.kind == "prefixed":
        return fmt.prefix + random_token(max(8, min(fmt.length, 32)))
    if fmt.kind == "pattern":
        # ECMA-262, as every pattern of a spec (openapi/patterns.py); random, not seeded: ids are fresh.
        found = generate_matching(fmt.prefix, random.Random(secrets.randbits(64)))
        if found is not None:
            return found
    return random_token(max(8, min(fmt.length, 32)))


#: Random base62 characters from which a fresh id is not looked up before a create: two of 10
#: million ids of 12 characters are the same with probability 1.6e-8 (n^2 / 2 / 62^12).
UNIQUE_LENGTH = 12


def may_collide(fmt: IdFormat) -> bool:
    """Tell whether a fresh id of this format may already be taken: a pattern's (its space may
    be small) or a short random one; uuids, counters and 12+ random base62 characters do not
    (Stripe's `cus_` + 14 is not looked up: a read saved on every create)."""
    return fmt.kind == "pattern" or (fmt.kind not in ("uuid", "int") and max(8, min(fmt.length, 32)) < UNIQUE_LENGTH)

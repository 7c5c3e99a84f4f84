"""A cheaply seeded `random.Random` for one request's generated values.

The engine makes one per request (mock/engine.py `Engine.rng`): seeding the standard Mersenne
Twister costs about 6 us, more than rendering a small body. Here the seed is hashed once with
blake2b into 512 bits, drawn from low bits first; when they run out the digest is hashed again.
The same seed always gives the same draws; `random()`, `getrandbits()` and `_randbelow()` are
drawn from the pool, so every other `random.Random` method (randint, choice, shuffle, uniform ...)
keeps its documented distribution.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

_POOL_BYTES = 64
_POOL_BITS = _POOL_BYTES * 8
_FLOAT_SCALE = 2.0 ** -53


class SeededRandom(random.Random):
    """A `random.Random` whose draws come from blake2b of the seed (bytes, or anything printable)."""

    _digest: bytes
    _pool: int
    _bits: int

    def __init__(self, x: Any = None) -> None:  # random.Random's, without its Python-level detour
        data = x if type(x) is bytes else str(x).encode()
        self._digest = digest = hashlib.blake2b(data, digest_size=_POOL_BYTES).digest()
        self._pool = int.from_bytes(digest, "little")
        self._bits = _POOL_BITS
        self.gauss_next = None

    def seed(self, a: Any = None, version: int = 2) -> None:  # noqa: ARG002 - random.Random's signature
        """Set the state from a seed: bytes as they are, anything else by its text."""
        SeededRandom.__init__(self, a)

    def _refill(self) -> None:
        self._digest = digest = hashlib.blake2b(self._digest, digest_size=_POOL_BYTES).digest()
        self._pool |= int.from_bytes(digest, "little") << self._bits
        self._bits += _POOL_BITS

    def getrandbits(self, k: int) -> int:
        """Return an integer with `k` random bits."""
        if k < 0:
            raise ValueError("number of bits must be non-negative")
        while k > self._bits:
            self._refill()
        out = self._pool & ((1 << k) - 1)
        self._pool >>= k
        self._bits -= k
        return out

    def _randbelow(self, n: int) -> int:  # type: ignore[override]
        """Return a uniform integer in [0, n) (rejection sampling, as random.Random does)."""
        if n <= 0:
            return 0
        k = n.bit_length()
        mask = (1 << k) - 1
        while True:
            while k > self._bits:
                self._refill()
            out = self._pool & mask
            self._pool >>= k
            self._bits -= k
            if out < n:
                return out

    def randint(self, a: int, b: int) -> int:
        """Return a uniform integer in [a, b] (random.Random's, without its argument conversions)."""
        if type(a) is int and type(b) is int and a <= b:
            return a + self._randbelow(b - a + 1)
        return super().randint(a, b)

    def random(self) -> float:
        """Return the next float in [0, 1)."""
        return self.getrandbits(53) * _FLOAT_SCALE

    def getstate(self) -> Any:
        """Return the state (for copying)."""
        return (self._digest, self._pool, self._bits, self.gauss_next)

    def setstate(self, state: Any) -> None:
        """Restore a state from getstate()."""
        self._digest, self._pool, self._bits, self.gauss_next = state

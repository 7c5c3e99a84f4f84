"""Values for GraphQL fields, chosen by field name and type with the REST generator's logic.

Called by the GraphQL engine's resolvers (graphql/engine.py) for every field nobody stored or
exampled. One generator for both API descriptions: a GraphQL scalar becomes the JSON Schema it
stands for (`Int` an int32 integer, `DateTime` a date-time string, `URI` a uri ...) and
`sandlot.mock.generate.Generator.build(schema, rng, name=field)` draws it, so a field called
`email`, `avatarUrl`, `createdAt` or `stargazerCount` looks like one (and counts are not
negative), as REST properties do.

Determinism: every value is drawn from a small random generator seeded by (--seed, the value's
key): the key names the object by how it was reached (`Query.user(id:"1").name`), never by the
query's shape, so the same field of the same object has the same value in every query, with
aliases or fragments or not.

Directives honoured (on the field definition, or on a custom scalar's definition):
graphql-faker's `@fake(type: email)`, `@examples(values: [...])` and `@listLength(min, max)`,
and `@example(value: ...)`.
"""

from __future__ import annotations

import functools
import hashlib
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLNamedType,
    GraphQLScalarType,
    value_from_ast_untyped,
)
from graphql.language import ast

from sandlot.mock import formats
from sandlot.mock.generate import Generator

_MASK = (1 << 64) - 1

#: The longest list generated without @listLength, and the most items a paging argument
#: (`first: 100`) gets: bounded, so a nested query stays small.
LIST_MIN, LIST_MAX, PAGED_MAX = 1, 3, 10
#: Arguments that ask for a number of items.
COUNT_ARGS = ("first", "last", "limit", "take", "pageSize", "page_size", "perPage", "per_page", "count", "size")

_STRING = {"type": "string"}
_INT = {"type": "integer", "format": "int32"}
_FLOAT = {"type": "number"}
_BOOLEAN = {"type": "boolean"}
#: Custom scalars by their lower-cased name: the JSON Schema their values follow.
_SCALARS: dict[str, dict[str, Any]] = {
    "datetime": {"type": "string", "format": "date-time"}, "timestamp": {"type": "string", "format": "date-time"},
    "instant": {"type": "string", "format": "date-time"},
    "precisedatetime": {"type": "string", "format": "date-time"},
    "offsetdatetime": {"type": "string", "format": "date-time"},
    "zoneddatetime": {"type": "string", "format": "date-time"},
    "isodatetime": {"type": "string", "format": "date-time"}, "date": {"type": "string", "format": "date"},
    "localdate": {"type": "string", "format": "date"}, "time": {"type": "string", "format": "time"},
    "localtime": {"type": "string", "format": "time"}, "duration": {"type": "string", "format": "duration"},
    "uri": {"type": "string", "format": "uri"}, "url": {"type": "string", "format": "uri"},
    "email": {"type": "string", "format": "email"}, "emailaddress": {"type": "string", "format": "email"},
    "uuid": {"type": "string", "format": "uuid"}, "guid": {"type": "string", "format": "uuid"},
    "ipv4": {"type": "string", "format": "ipv4"}, "ipv6": {"type": "string", "format": "ipv6"},
    "phonenumber": {"type": "string", "format": "phone"},
    "html": {"type": "string", "pattern": "^<p>[a-z ]{4,30}</p>$"},
    "gitobjectid": {"type": "string", "pattern": "^[0-9a-f]{40}$"},
    "gitsshremote": {"type": "string", "pattern": "^git@example\\.com:[a-z]{4,10}/[a-z]{4,10}\\.git$"},
    "gitrefname": {"type": "string", "pattern": "^refs/heads/[a-z]{3,10}$"},
    "base64string": {"type": "string", "format": "byte"}, "x509certificate": {"type": "string", "format": "byte"},
    "bigint": {"type": "integer", "minimum": 1, "maximum": 1_000_000}, "long": {"type": "integer", "minimum": 1},
    "decimal": {"type": "string", "format": "decimal"}, "bigdecimal": {"type": "string", "format": "decimal"},
    "money": {"type": "string", "format": "decimal"}, "unsignedint64": {"type": "string", "format": "int64"},
    "hexcolor": {"type": "string", "pattern": "^#[0-9a-f]{6}$"},
    "color": {"type": "string", "pattern": "^#[0-9a-f]{6}$"},
    "json": {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
             "required": ["id", "name"]},
    "jsonobject": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]},
}
#: graphql-faker's @fake types that are not already a field-name hint: (JSON Schema, name hint).
_FAKES: dict[str, tuple[dict[str, Any], str]] = {
    "pastDate": ({"type": "string", "format": "date-time"}, ""),
    "futureDate": ({"type": "string", "format": "date-time"}, ""),
    "recentDate": ({"type": "string", "format": "date-time"}, ""),
    "money": ({"type": "string", "format": "decimal"}, "amount"),
    "number": ({"type": "integer", "minimum": 1, "maximum": 1000}, ""),
    "latitude": ({"type": "number", "minimum": -90, "maximum": 90}, "latitude"),
    "longitude": ({"type": "number", "minimum": -180, "maximum": 180}, "longitude"),
    "ipv4Address": ({"type": "string", "format": "ipv4"}, ""),
    "ipv6Address": ({"type": "string", "format": "ipv6"}, ""),
    "domainName": ({"type": "string", "format": "hostname"}, ""),
    "colorHex": ({"type": "string", "pattern": "^#[0-9a-f]{6}$"}, ""),
    "semver": (_STRING, "version"), "phoneNumber": (_STRING, "phone"), "fullName": (_STRING, "name"),
    "zipCode": (_STRING, "postcode"), "productName": (_STRING, "title"), "lorem": (_STRING, "description"),
    "words": (_STRING, "description"), "imageUrl": (_STRING, "image"), "avatarUrl": (_STRING, "avatar"),
    "companyCatchPhrase": (_STRING, "title"), "hackerPhrase": (_STRING, "description"),
    "filename": (_STRING, "fileName"), "financeAccountName": (_STRING, "name"),
}


class KeyRandom(random.Random):
    """A `random.Random` with a cheap seed (splitmix64): one is made per generated value, and
    seeding the standard Mersenne Twister costs ~30 us."""

    def seed(self, a: Any = None, version: int = 2) -> None:  # noqa: ARG002 - random.Random's signature
        """Set the state from an integer seed."""
        self._state = a & _MASK if isinstance(a, int) else 0

    def _next(self) -> int:
        self._state = z = (self._state + 0x9E3779B97F4A7C15) & _MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def random(self) -> float:
        """Return the next float in [0, 1)."""
        return (self._next() >> 11) * (1.0 / (1 << 53))

    def getrandbits(self, k: int) -> int:
        """Return an integer with `k` random bits."""
        if 0 < k <= 64:  # what random's choice and randrange ask for: one draw
            return self._next() >> (64 - k)
        out, got = 0, 0
        while got < k:
            out, got = (out << 64) | self._next(), got + 64
        return out >> (got - k)

    def _randbelow(self, n: int) -> int:
        """Return an int in [0, n): random's `_randbelow_with_getrandbits` (rejection sampling on
        n.bit_length() bits) with the draw inlined, so choice/randint/randrange draw the same
        numbers with one Python call instead of three."""
        k = n.bit_length()
        if not 0 < k <= 64:
            return random.Random._randbelow_with_getrandbits(self, n)  # type: ignore[attr-defined]
        shift, state = 64 - k, self._state
        while True:
            state = (state + 0x9E3779B97F4A7C15) & _MASK
            z = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
            r = (z ^ (z >> 31)) >> shift
            if r < n:
                self._state = state
                return r

    def getstate(self) -> Any:
        """Return the state (for copying)."""
        return self._state

    def setstate(self, state: Any) -> None:
        """Restore a state from getstate()."""
        self._state = state


def _seed_of(seed: int, key: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}\0{key}".encode(), digest_size=8).digest(), "big")


def rng_for(seed: int, key: str) -> KeyRandom:
    """Return the generator for one value: seeded by --seed and the value's key."""
    return KeyRandom(_seed_of(seed, key))


class _Reseeded(threading.local):
    """One KeyRandom per thread, reseeded for each value: making one costs more than drawing a
    value with it (random.Random's constructor also seeds the Mersenne Twister it never uses)."""

    def __init__(self) -> None:
        self.rng = KeyRandom(0)


def _reseeded(local: _Reseeded, seed: int, key: str) -> KeyRandom:
    """Return this thread's generator set to the state `rng_for(seed, key)` starts from; valid
    until the next call on this thread (callers draw and return before asking again)."""
    rng = local.rng
    rng._state = _seed_of(seed, key)
    return rng


@dataclass(frozen=True)
class Hints:
    """What a field's (or its scalar's) directives say about its values."""

    fake: str | None = None
    examples: tuple[Any, ...] = ()
    list_length: tuple[int, int] | None = None


_NO_HINTS = Hints()
#: (the hints it was made for, examples or None, JSON Schema, name hint, direct draw or None)
_Plan = tuple[Hints, tuple[Any, ...] | None, dict[str, Any], str, Callable[[random.Random], Any] | None]


def _direct(schema: dict[str, Any], hint: str) -> Callable[[random.Random], Any] | None:
    """Return what `Generator.build(schema, rng, prefer_examples=False, name=hint)` comes down to
    for a plain boolean, a string with a known format, or a string whose name says what it holds
    (no length bounds, pattern or enum): the same function on the same rng, without the
    generator's per-call dispatch (tests/graphql/test_values.py checks they agree on every
    field of GitHub's schema). Any other schema: None, and the generator draws it."""
    if schema is _BOOLEAN:
        return _coin
    if schema.get("type") != "string" or set(schema) - {"type", "format"}:
        return None
    fmt = schema.get("format")
    if fmt is not None:
        return formats.FORMAT_GENERATORS.get(fmt) if fmt != "byte" else None
    kind = formats.string_kind_for_name(hint) if hint else None
    return functools.partial(formats.string_for_kind, kind) if kind is not None else None


def _coin(rng: random.Random) -> bool:
    return rng.random() < 0.5


def _directive_args(node: Any, name: str) -> dict[str, Any] | None:
    for directive in getattr(node, "directives", None) or ():
        if directive.name.value == name:
            return {arg.name.value: value_from_ast_untyped(arg.value) for arg in directive.arguments or ()}
    return None


def hints_of(node: ast.Node | None) -> Hints:
    """Read @fake, @examples, @example and @listLength from a field or scalar definition node."""
    if node is None or not getattr(node, "directives", None):
        return _NO_HINTS
    fake = _directive_args(node, "fake")
    examples = _directive_args(node, "examples")
    example = _directive_args(node, "example")
    length = _directive_args(node, "listLength")
    values: tuple[Any, ...] = ()
    if examples and isinstance(examples.get("values"), list):
        values = tuple(examples["values"])
    elif example and "value" in example:
        values = (example["value"],)
    bounds = None
    if length and isinstance(length.get("min"), int) and isinstance(length.get("max"), int):
        low, high = sorted((max(0, length["min"]), max(0, length["max"])))
        bounds = (low, high)
    return Hints(str(fake["type"]) if fake and fake.get("type") else None, values, bounds)


class Values:
    """Draws scalar and enum values and list lengths for one schema (caches per field)."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.generator = Generator({}, openapi_version="3.1.0")
        self._hints: dict[tuple[str, str], Hints] = {}
        self._scalar_hints: dict[str, Hints] = {}
        #: (scalar, field name, id of the hints) -> its _Plan
        self._plans: dict[tuple[str, str, int], _Plan] = {}
        self._local = _Reseeded()

    def hints(self, parent: GraphQLNamedType, name: str, field: GraphQLField) -> Hints:
        """Return the directives' hints for a field (cached)."""
        key = (parent.name, name)
        found = self._hints.get(key)
        if found is None:
            found = self._hints[key] = hints_of(field.ast_node)
        return found

    def scalar(self, scalar: GraphQLScalarType, name: str, key: str, hints: Hints = _NO_HINTS) -> Any:
        """Return a value of a scalar type for the field `name`, drawn for `key`."""
        plan = self._plans.get((scalar.name, name, id(hints)))
        if plan is None or plan[0] is not hints:
            plan = self._plans[(scalar.name, name, id(hints))] = self._plan(scalar, name, hints)
        rng = _reseeded(self._local, self.seed, key)
        _, examples, schema, hint, draw = plan
        if examples:
            return rng.choice(examples)
        if draw is not None:
            return draw(rng)
        value = self.generator.build(schema, rng, prefer_examples=False, name=hint)
        if scalar.name == "Float" and isinstance(value, int):
            value = float(value)
        return value

    def _plan(self, scalar: GraphQLScalarType, name: str, hints: Hints) -> _Plan:
        """Decide once per (scalar, field, hints) where a value comes from: examples, else a JSON
        Schema and the name hint the generator draws with, and for the plainest schemas the one
        function the generator would end up calling (see _direct)."""
        scalar_hints = hints
        if not (hints.examples or hints.fake):
            scalar_hints = self._scalar_hints.get(scalar.name) or \
                self._scalar_hints.setdefault(scalar.name, hints_of(scalar.ast_node))
        schema, hint = self._schema_for(scalar, name, scalar_hints.fake)
        return hints, scalar_hints.examples or None, schema, hint, _direct(schema, hint)

    @staticmethod
    def _schema_for(scalar: GraphQLScalarType, name: str, fake: str | None) -> tuple[dict[str, Any], str]:
        base = scalar.name
        if fake:
            found = _FAKES.get(fake)
            schema, hint = found if found else (_STRING, fake)
            if base in ("Int", "Float") and schema.get("type") == "string":
                schema = _INT if base == "Int" else _FLOAT
            return schema, hint or name
        if base == "String":
            return _STRING, name
        if base == "Int":
            return _INT, name
        if base == "Float":
            return _FLOAT, name
        if base == "Boolean":
            return _BOOLEAN, name
        if base == "ID":
            return _STRING, name if formats.string_kind_for_name(name) else "id"
        found_schema = _SCALARS.get(base.lower())
        if found_schema is not None:
            return found_schema, name
        return _STRING, name

    def enum(self, enum: GraphQLEnumType, key: str) -> Any:
        """Return one of an enum's values (its name), drawn for `key`."""
        names = list(enum.values)
        return _reseeded(self._local, self.seed, key).choice(names) if names else None

    def list_length(self, hints: Hints, args: Mapping[str, Any], key: str) -> int:
        """Return how many items a list field gets: @listLength, else a paging argument (capped),
        else 1 to 3."""
        rng = _reseeded(self._local, self.seed, key + "#len")
        if hints.list_length is not None:
            low, high = hints.list_length
            return rng.randint(low, high)
        for arg in COUNT_ARGS:
            value = args.get(arg)
            if isinstance(value, int) and not isinstance(value, bool):
                return max(0, min(value, PAGED_MAX))
        return rng.randint(LIST_MIN, LIST_MAX)

    def choose(self, options: list[Any], key: str) -> Any:
        """Return one of `options`, drawn for `key` (abstract types pick their object type)."""
        return _reseeded(self._local, self.seed, key).choice(options)

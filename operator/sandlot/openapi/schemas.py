"""JSON Schema validators for the schemas of a bundled OpenAPI document.

Also the properties of an object schema (`object_properties`, `object_required`), which the
stateful inference reads. Called by the engine's request validation and its example checks. OpenAPI 3.1
schemas are JSON Schema 2020-12; OpenAPI 3.0 schemas are validated as draft 4
(whose boolean `exclusiveMinimum`/`exclusiveMaximum` and `$ref`-replaces-siblings
rules 3.0 inherited) extended with `nullable`, and with readOnly/writeOnly honoured
by direction: a required readOnly property need not be sent in a request, a
required writeOnly one is never in a response. Every `$ref` resolves against the
one bundled document held in a `referencing` registry.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from jsonschema import Draft4Validator, Draft202012Validator, FormatChecker, validators
from jsonschema import _keywords as draft_keywords  # the stock keyword functions we wrap
from jsonschema.exceptions import ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT4, DRAFT202012

from sandlot.openapi import patterns
from sandlot.util.pointers import deref


def object_properties(document: Mapping[str, Any], schema: Any) -> dict[str, Any]:
    """Return the properties of an object schema, merging `allOf` members (resolved)."""
    schema = deref(document, schema)
    if not isinstance(schema, dict):
        return {}
    props: dict[str, Any] = {}
    for member in schema.get("allOf") or ():
        props.update(object_properties(document, member))
    for name, sub in (schema.get("properties") or {}).items():
        props[name] = deref(document, sub)
    if not props:
        # oneOf/anyOf of objects: the first member's properties give the stored fields.
        for member in (schema.get("oneOf") or schema.get("anyOf") or ())[:1]:
            props.update(object_properties(document, member))
    return props


def object_required(document: Mapping[str, Any], schema: Any) -> set[str]:
    """Return the required property names of an object schema, merging `allOf` members."""
    schema = deref(document, schema)
    if not isinstance(schema, dict):
        return set()
    required = set(schema.get("required") or ())
    for member in schema.get("allOf") or ():
        required |= object_required(document, member)
    return required


SPEC_URI = "urn:sandlot:spec"
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]*\Z")  # RFC 3986 absolute URI, loosely


def _nullable_type(validator: Any, types: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    if instance is None and schema.get("nullable") is True:
        return
    yield from draft_keywords.type(validator, types, instance, schema)


def _nullable_enum(validator: Any, enums: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    if instance is None and schema.get("nullable") is True:
        return
    yield from draft_keywords.enum(validator, enums, instance, schema)


def _directional_required(skip_flag: str):  # type: ignore[no-untyped-def]
    """Return a `required` keyword that ignores properties marked `skip_flag` (readOnly/writeOnly)."""

    def required(validator: Any, required: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
        if not validator.is_type(instance, "object"):
            return
        props = schema.get("properties") or {}
        for name in required:
            if name in instance:
                continue
            prop = props.get(name)
            if isinstance(prop, Mapping) and "$ref" in prop:
                try:
                    prop = validator._resolver.lookup(prop["$ref"]).contents
                except Exception:  # noqa: BLE001 - a dangling ref is reported by `$ref` itself
                    prop = None
            if isinstance(prop, Mapping) and prop.get(skip_flag) is True:
                continue
            yield ValidationError(f"{name!r} is a required property")

    return required


def _ecma_pattern(validator: Any, pattern: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    """`pattern` read as ECMA-262 (openapi/patterns.py): `\\p{L}` is valid there, not in `re`."""
    if validator.is_type(instance, "string") and not patterns.search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _ecma_pattern_properties(validator: Any, pattern_properties: Any, instance: Any,
                             schema: Mapping[str, Any]) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in pattern_properties.items():
        for key, value in instance.items():
            if patterns.search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _ecma_additional_properties(validator: Any, additional: Any, instance: Any,
                                schema: Mapping[str, Any]) -> Iterator[Any]:
    """`additionalProperties` whose patternProperties are ECMA-262 (jsonschema's uses `re`)."""
    if "patternProperties" not in schema:
        yield from draft_keywords.additionalProperties(validator, additional, instance, schema)
        return
    if not validator.is_type(instance, "object"):
        return
    known = schema.get("properties") or {}
    extras = [k for k in instance if k not in known
              and not any(patterns.search(p, k) for p in schema["patternProperties"])]
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        names = ", ".join(repr(e) for e in sorted(extras))
        yield ValidationError(f"{names} {'does' if len(extras) == 1 else 'do'} not match any of the regexes: "
                              + ", ".join(repr(p) for p in sorted(schema["patternProperties"])))


#: The keywords that read regular expressions, as ECMA-262.
_ECMA_KEYWORDS = {"pattern": _ecma_pattern, "patternProperties": _ecma_pattern_properties,
                  "additionalProperties": _ecma_additional_properties}


def _nullable_combinator(keyword: str):  # type: ignore[no-untyped-def]
    """Wrap allOf/oneOf/anyOf so that OAS 3.0 `nullable: true` beside them admits null."""
    original = getattr(draft_keywords, keyword)

    def combinator(validator: Any, subschemas: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
        if instance is None and schema.get("nullable") is True:
            return
        yield from original(validator, subschemas, instance, schema)

    return combinator


def _discriminated(keyword: str, inner: Any):  # type: ignore[no-untyped-def]
    """Wrap oneOf/anyOf so that a discriminator picks the one branch to validate against.

    OpenAPI's discriminator selects the schema by the property's value; plain JSON Schema
    `oneOf` would instead refuse a body that happens to fit two branches.
    """

    def combinator(validator: Any, subschemas: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
        disc = schema.get("discriminator")
        if isinstance(disc, Mapping) and isinstance(instance, dict):
            name = disc.get("propertyName")
            value = instance.get(name) if isinstance(name, str) else None
            if isinstance(value, str):
                target = (disc.get("mapping") or {}).get(value)
                refs = [s.get("$ref") for s in subschemas if isinstance(s, Mapping)]
                if target is None:
                    target = next((r for r in refs if isinstance(r, str) and r.rsplit("/", 1)[-1] == value), None)
                elif "/" not in target and "#" not in target:
                    target = "#/components/schemas/" + target
                if target is not None:
                    yield from validator.descend(instance, {"$ref": target})
                    return
        yield from inner(validator, subschemas, instance, schema)

    return combinator


@cache
def validator_class(openapi_version: str, direction: str) -> Any:
    """Return the validator class for "3.0"/"3.1" and "request"/"response"."""
    skip = "readOnly" if direction == "request" else "writeOnly"
    if openapi_version == "3.0":
        return validators.extend(
            Draft4Validator,
            {**_ECMA_KEYWORDS, "type": _nullable_type, "enum": _nullable_enum, "required": _directional_required(skip),
             "allOf": _nullable_combinator("allOf"),
             "oneOf": _discriminated("oneOf", _nullable_combinator("oneOf")),
             "anyOf": _discriminated("anyOf", _nullable_combinator("anyOf"))},
        )
    return validators.extend(
        Draft202012Validator,
        {**_ECMA_KEYWORDS, "required": _directional_required(skip),
         "oneOf": _discriminated("oneOf", draft_keywords.oneOf),
         "anyOf": _discriminated("anyOf", draft_keywords.anyOf)},
    )


def _format_checker() -> FormatChecker:
    """Return the JSON Schema 2020-12 format checker plus a loose `uri` and OpenAPI's int32/int64 ranges.

    A bare `FormatChecker()` holds the last registration of each format across all drafts,
    which for `time` is draft 3's: it refuses RFC 3339 "14:55:33Z" and accepts "14:55:33".
    """
    checker = FormatChecker(formats=())
    checker.checkers = dict(Draft202012Validator.FORMAT_CHECKER.checkers)

    def _in_range(bits: int):  # type: ignore[no-untyped-def]
        low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

        def check(instance: object) -> bool:
            if isinstance(instance, bool) or not isinstance(instance, (int, float)):
                return True
            return low <= instance <= high

        return check

    checker.checks("uri")(lambda value: not isinstance(value, str) or bool(_URI.match(value)))
    # `format: regex` values are ECMA-262 regular expressions, as `pattern`s are.
    checker.checks("regex")(lambda value: not isinstance(value, str) or patterns.compiled(value) is not None)
    checker.checks("int32")(_in_range(32))
    checker.checks("int64")(_in_range(64))
    return checker


class SchemaIndex:
    """The bundled document as a registry; builds validators and resolves `$ref`s for the engine."""

    def __init__(self, document: Mapping[str, Any], openapi_version: str) -> None:
        self.document = document
        self.version = openapi_version
        spec = DRAFT4 if openapi_version == "3.0" else DRAFT202012
        self.registry = Registry().with_resource(SPEC_URI, spec.create_resource(document))
        self._format_checker = _format_checker()
        self._validators: dict[tuple[int, str], tuple[Any, Any]] = {}
        self._acceptors: dict[tuple[int, str], tuple[Any, Any]] = {}

    def validator(self, schema: Any, direction: str) -> Any:
        """Return the validator for one schema node of the document (formats asserted), built once."""
        key = (id(schema), direction)
        cached = self._validators.get(key)
        if cached is not None and cached[0] is schema:  # the node itself is kept, so its id stays unique
            return cached[1]
        cls = validator_class(self.version, direction)
        target = schema
        if isinstance(schema, Mapping) and len(schema) == 1 and "$ref" in schema:
            # A body or parameter schema is mostly `{"$ref": ...}` alone: validating its target
            # saves the registry lookup of that reference on every request. (A reference that
            # cannot be followed derefs to {}: the validator then follows it itself.)
            target = self.deref(schema) or schema
        validator = cls(
            target,
            registry=self.registry,
            _resolver=self.registry.resolver(base_uri=SPEC_URI),
            format_checker=self._format_checker,
        )
        self._validators[key] = (schema, validator)
        return validator

    def acceptor(self, schema: Any, direction: str) -> Any:
        """Return `compile_acceptor`'s fast test for one schema node (None: none), built once:
        the values most requests send pass it at a tenth of the validator's cost, and any other
        goes to `validator`, which alone explains a refusal."""
        key = (id(schema), direction)
        cached = self._acceptors.get(key)
        if cached is None or cached[0] is not schema:
            cached = self._acceptors[key] = (schema, compile_acceptor(self, schema, direction))
        return cached[1]

    def deref(self, node: Any) -> Any:
        """Follow `$ref`s (local pointers) until a node that is not a reference (util.pointers.deref)."""
        return deref(self.document, node)

    def types(self, schema: Any, _depth: int = 0) -> set[str]:
        """Return the JSON types a schema admits, looking through `$ref` and allOf/oneOf/anyOf."""
        schema = self.deref(schema)
        if not isinstance(schema, Mapping) or _depth > 8:
            return set()
        declared = schema.get("type")
        found = set([declared] if isinstance(declared, str) else declared or [])
        if schema.get("nullable") is True:
            found.add("null")
        if not found:
            for key in ("allOf", "oneOf", "anyOf"):
                for sub in schema.get(key) or ():
                    found |= self.types(sub, _depth + 1)
            if "properties" in schema and not found:
                found.add("object")
            if "items" in schema and not found:
                found.add("array")
        return found

    def subschema(self, schema: Any, keyword: str, name: str | None = None, _depth: int = 0) -> Any:
        """Return the schema for an array's items (keyword="items") or an object's property `name`."""
        schema = self.deref(schema)
        if not isinstance(schema, Mapping) or _depth > 8:
            return {}
        if keyword == "items" and isinstance(schema.get("items"), Mapping):
            return schema["items"]
        if keyword == "properties":
            props = schema.get("properties") or {}
            if name in props:
                return props[name]
            if isinstance(schema.get("additionalProperties"), Mapping) and not any(
                k in schema for k in ("allOf", "oneOf", "anyOf")
            ):
                return schema["additionalProperties"]
        for key in ("allOf", "oneOf", "anyOf"):
            for sub in schema.get(key) or ():
                found = self.subschema(sub, keyword, name, _depth + 1)
                if found:
                    return found
        return {}

    def property_names(self, schema: Any, _depth: int = 0) -> set[str]:
        """Return the declared property names of an object schema (through allOf/oneOf/anyOf)."""
        schema = self.deref(schema)
        if not isinstance(schema, Mapping) or _depth > 8:
            return set()
        names = set(schema.get("properties") or {})
        for key in ("allOf", "oneOf", "anyOf"):
            for sub in schema.get(key) or ():
                names |= self.property_names(sub, _depth + 1)
        return names


#: Keywords that never refuse a value (annotations, or words JSON Schema does not define).
_ANNOTATIONS = frozenset({"description", "title", "example", "examples", "deprecated", "readOnly", "writeOnly",
                          "default", "xml", "externalDocs", "$comment", "nullable", "discriminator",
                          "contentMediaType", "contentEncoding"})
_JSON_TYPES: dict[str, Any] = {
    "string": lambda v: type(v) is str, "integer": lambda v: type(v) is int,
    "number": lambda v: type(v) is int or type(v) is float, "boolean": lambda v: type(v) is bool,
    "object": lambda v: type(v) is dict, "array": lambda v: type(v) is list, "null": lambda v: v is None,
}
Accept = Any  # Callable[[Any], bool]


class _NotFast(Exception):
    """A schema holds something the acceptor does not judge: the validator alone decides."""


class _Acceptors:
    """Compile the fast acceptor of `SchemaIndex.acceptor` (one per schema node and direction)."""

    def __init__(self, index: SchemaIndex, direction: str) -> None:
        self.index = index
        self.legacy = index.version == "3.0"
        self.skip = "readOnly" if direction == "request" else "writeOnly"
        self.active: set[int] = set()

    def compile(self, schema: Any) -> Accept:
        if schema is True or (isinstance(schema, Mapping) and not schema):
            return lambda v: True
        if not isinstance(schema, Mapping) or id(schema) in self.active:  # recursive: not fast
            raise _NotFast
        self.active.add(id(schema))
        try:
            return self._compile(schema)
        finally:
            self.active.discard(id(schema))

    def _compile(self, schema: Mapping[str, Any]) -> Accept:
        if "$ref" in schema:
            target = self.index.deref(schema)
            if not target or (not self.legacy and any(k not in _ANNOTATIONS for k in schema if k != "$ref")):
                raise _NotFast  # a dangling reference, or 2020-12 siblings beside it
            return self.compile(target)  # 3.0: `$ref` replaces its siblings
        tests: list[Accept] = []
        handled = set(_ANNOTATIONS)
        declared = schema.get("type")
        if declared is not None:
            names = [declared] if isinstance(declared, str) else declared
            if not isinstance(names, list) or not all(n in _JSON_TYPES for n in names):
                raise _NotFast
            kinds = [_JSON_TYPES[n] for n in names]
            tests.append(kinds[0] if len(kinds) == 1 else lambda v: any(kind(v) for kind in kinds))
            handled.add("type")
        # Each test below passes a value of a type its keywords do not apply to, as JSON Schema does.
        tests += self._strings(schema, handled) + self._numbers(schema, handled)
        tests += self._objects(schema, handled) + self._arrays(schema, handled) + self._combined(schema, handled)
        if any(k not in handled and not k.startswith("x-") for k in schema):
            raise _NotFast
        nullable = self.legacy and schema.get("nullable") is True
        if len(tests) == 1 and not nullable:
            return tests[0]
        return lambda v: (nullable and v is None) or all(test(v) for test in tests)

    def _strings(self, schema: Mapping[str, Any], handled: set[str]) -> list[Accept]:
        tests: list[Accept] = []
        shortest, longest = schema.get("minLength", 0), schema.get("maxLength", math.inf)
        if type(shortest) is not int or type(longest) not in (int, float):
            raise _NotFast
        if "minLength" in schema or "maxLength" in schema:
            tests.append(lambda v: type(v) is not str or shortest <= len(v) <= longest)
        pattern = schema.get("pattern")
        if pattern is not None:
            if not isinstance(pattern, str):
                raise _NotFast
            tests.append(lambda v: type(v) is not str or patterns.search(pattern, v))
        fmt = schema.get("format")
        if fmt is not None:
            checker = self.index._format_checker
            tests.append(lambda v: checker.conforms(v, fmt))
        enum = schema.get("enum")
        if enum is not None:
            if not isinstance(enum, list) or not all(type(e) is str for e in enum):
                raise _NotFast
            choices = frozenset(enum)
            tests.append(lambda v: type(v) is str and v in choices)
        handled.update(("minLength", "maxLength", "pattern", "format", "enum"))
        return tests

    def _numbers(self, schema: Mapping[str, Any], handled: set[str]) -> list[Accept]:
        bounds = {k: schema[k] for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") if k in schema}
        if not bounds:
            return []
        low, high = bounds.get("minimum", -math.inf), bounds.get("maximum", math.inf)
        above, below = bounds.get("exclusiveMinimum", False), bounds.get("exclusiveMaximum", False)
        if type(low) not in (int, float) or type(high) not in (int, float):
            raise _NotFast
        if self.legacy:  # draft 4: booleans that make minimum/maximum exclusive
            if type(above) is not bool or type(below) is not bool:
                raise _NotFast
            low_open, high_open = above, below
        else:
            if not all(type(b) in (int, float) for b in (above, below) if b is not False):
                raise _NotFast
            if above is not False and above >= low:
                low, low_open = above, True
            else:
                low_open = False
            if below is not False and below <= high:
                high, high_open = below, True
            else:
                high_open = False
        handled.update(bounds)

        def fits(v: Any) -> bool:
            if type(v) is not int and type(v) is not float:
                return True  # bounds judge numbers only (a bool is not one)
            return (low < v if low_open else low <= v) and (v < high if high_open else v <= high)

        return [fits]

    def _objects(self, schema: Mapping[str, Any], handled: set[str]) -> list[Accept]:
        props = schema.get("properties")
        required = schema.get("required")
        extra = schema.get("additionalProperties", True)
        fewest, most = schema.get("minProperties", 0), schema.get("maxProperties", math.inf)
        if props is None and required is None and extra is True and "minProperties" not in schema \
                and "maxProperties" not in schema:
            return []
        if not isinstance(props or {}, Mapping) or not isinstance(required or [], list) \
                or type(fewest) is not int or type(most) not in (int, float):
            raise _NotFast
        handled.update(("properties", "required", "additionalProperties", "minProperties", "maxProperties"))
        checks = {name: self.compile(sub) for name, sub in (props or {}).items()}
        needed = tuple(name for name in required or () if not self._skipped((props or {}).get(name)))
        closed = extra is False  # no property beyond `properties`
        extras = None if extra is True or closed else self.compile(extra)

        def fits(v: Any) -> bool:
            if type(v) is not dict:
                return True
            if not fewest <= len(v) <= most:
                return False
            for name in needed:
                if name not in v:
                    return False
            for name, value in v.items():
                check = checks.get(name)
                if check is not None:
                    if not check(value):
                        return False
                elif closed or (extras is not None and not extras(value)):
                    return False
            return True

        return [fits]

    def _skipped(self, prop: Any) -> bool:
        """Whether a required property need not be there (readOnly in a request, writeOnly in a
        response), read as the validator's `required` reads it: the property or its one target."""
        if isinstance(prop, Mapping) and "$ref" in prop:
            ref = prop["$ref"]
            prop = deref(self.index.document, {"$ref": ref}) if isinstance(ref, str) and ref.startswith("#") else None
            if isinstance(prop, Mapping) and "$ref" in prop:
                return False
        return isinstance(prop, Mapping) and prop.get(self.skip) is True

    def _arrays(self, schema: Mapping[str, Any], handled: set[str]) -> list[Accept]:
        items = schema.get("items")
        fewest, most = schema.get("minItems", 0), schema.get("maxItems", math.inf)
        if items is None and "minItems" not in schema and "maxItems" not in schema:
            return []
        if type(fewest) is not int or type(most) not in (int, float) or (items is not None and
                                                                           not isinstance(items, Mapping)):
            raise _NotFast
        handled.update(("items", "minItems", "maxItems"))
        each = self.compile(items) if items is not None else None
        return [lambda v: type(v) is not list or (fewest <= len(v) <= most
                                                   and (each is None or all(each(item) for item in v)))]

    def _combined(self, schema: Mapping[str, Any], handled: set[str]) -> list[Accept]:
        tests: list[Accept] = []
        members = schema.get("allOf")
        if members is not None:
            if not isinstance(members, list):
                raise _NotFast
            every = [self.compile(m) for m in members]
            tests.append(lambda v: all(test(v) for test in every))
            handled.add("allOf")
        members = schema.get("anyOf")
        if members is not None:
            if not isinstance(members, list) or "discriminator" in schema:
                raise _NotFast  # a discriminator picks the one branch that counts
            some = [self.compile(m) for m in members]
            tests.append(lambda v: any(test(v) for test in some))
            handled.add("anyOf")
        return tests


def compile_acceptor(index: SchemaIndex, schema: Any, direction: str) -> Accept | None:
    """Return a test that says True only of values the schema's validator finds no error in
    (False: the validator decides and explains), or None when the schema holds a keyword it
    does not judge (oneOf, not, const, uniqueItems, multipleOf, recursion, ...)."""
    try:
        return _Acceptors(index, direction).compile(schema)
    except _NotFast:
        return None

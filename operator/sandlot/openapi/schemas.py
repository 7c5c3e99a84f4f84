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

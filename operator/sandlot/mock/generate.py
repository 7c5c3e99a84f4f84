"""Build values that are valid against an OpenAPI 3.0/3.1 schema: documented examples first, else synthesized.

Called by the mock engine for response bodies (and by anything that needs a sample request body):

    gen = Generator(document, openapi_version="3.0.3")
    value = gen.build(schema, random.Random(seed), direction="response", prefer_examples=True)
    gen.example(schema)  # the schema's own documented example, or NO_VALUE

`document` is the whole bundled OpenAPI document; every `$ref` in it is a local pointer. The same
rng state always yields the same value. Work that depends only on the schema is done once and
cached by node identity: `$ref` lookups, `allOf` merges (a *plan* per schema node), example
checks and validators. See docs/generation.md for the precedence rules and the heuristics.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

from sandlot.mock import formats
from sandlot.mock.regex_gen import PatternError, generate_matching
from sandlot.openapi import patterns
from sandlot.openapi.loader import resolve_pointer

# Below this nesting depth optional properties are filled and arrays get a few items; deeper
# (or inside a schema that refers to itself) only what the schema requires is generated.
OPTIONAL_DEPTH = 5
# Past this depth a still-required recursion is cut with the shortest value the schema allows.
HARD_DEPTH = 24
# After this many nodes in one value, generation turns lean too: specs such as Stripe's nest
# dozens of objects per level, and a response of megabytes helps nobody (and is slow).
NODE_BUDGET = 1500
_RETRIES = 6
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_COMPOSITIONS = ("oneOf", "anyOf")
_TYPE_HINTS = (  # keyword -> the type a schema without `type` evidently describes
    ("properties", "object"), ("additionalProperties", "object"), ("patternProperties", "object"),
    ("required", "object"), ("minProperties", "object"), ("maxProperties", "object"),
    ("items", "array"), ("prefixItems", "array"), ("minItems", "array"), ("maxItems", "array"),
    ("uniqueItems", "array"), ("pattern", "string"), ("minLength", "string"),
    ("maxLength", "string"), ("format", "string"), ("minimum", "number"), ("maximum", "number"),
    ("exclusiveMinimum", "number"), ("exclusiveMaximum", "number"), ("multipleOf", "number"),
)
# A value of each type, to give a property a type its schema refuses (oneOf tie-breaking).
_WRONG_VALUES = (("string", "x"), ("integer", 0), ("boolean", False))
_UNJUDGEABLE = (RecursionError, ValueError, LookupError, TypeError, re.error)
_NUMERIC_FORMATS = {"int32": "integer", "int64": "integer", "float": "number", "double": "number"}


class _NoValue:
    """The type of NO_VALUE: "this schema documents no usable example"."""

    _instance: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NO_VALUE"

    def __bool__(self) -> bool:
        return False


NO_VALUE: Any = _NoValue()


class _Plan:
    """One schema node made ready to generate from: `$ref`s followed, `allOf` merged, type known."""

    __slots__ = (
        "schema", "types", "nullable", "bounds", "enum", "compositions", "base",
        "nots", "disjoint", "fields", "required", "null_ok", "strings", "self_ref",
    )

    def __init__(self, schema: dict[str, Any], v30: bool) -> None:
        self.schema = schema
        self.self_ref: str | None = schema.get("x-sandlot-self")  # the $ref this node expands
        self.types, self.nullable = _types_of(schema, v30)
        self.bounds: tuple[Any, bool, Any, bool] = schema.get("x-sandlot-bounds") or (None, False, None, False)
        self.enum: list[Any] | None = None
        if "enum" in schema and isinstance(schema["enum"], list) and schema["enum"]:
            members = _enum_members(schema["enum"], self.types, self.nullable) or list(schema["enum"])
            # null is a legal member of nullable enums, but a real value shows the shape better
            self.enum = [m for m in members if m is not None] or members
        self.nots = _nots_of(schema)
        self.disjoint: bool | None = None  # oneOf branches of different types (set on first use)
        # (name, schema, required, readOnly, writeOnly) per property, filled on first use
        self.fields: list[tuple[str, Any, bool, bool, bool]] | None = None
        self.required: list[str] = [r for r in schema.get("required") or () if isinstance(r, str)]
        # (minLength, maxLength, patterns, format) for string generation, filled on first use
        self.strings: tuple[int, int | None, list[str], Any] | None = None
        comps = [(key, schema[key]) for key in _COMPOSITIONS if isinstance(schema.get(key), list) and schema[key]]
        comps += schema.get("x-sandlot-compositions", [])
        self.compositions: list[tuple[str, list[Any]]] = comps
        # The node without its compositions: each generation merges one branch into it.
        self.base = schema
        if comps:
            self.base = {k: v for k, v in schema.items() if k not in _COMPOSITIONS and k != "x-sandlot-compositions"}
        # null is a safe shortcut only where the schema says so outright (`nullable: true`, or
        # "null" among the types) and nothing else (enum, const, not, oneOf ...) could object.
        declared = schema.get("type")
        self.null_ok = (
            (schema.get("nullable") is True and v30 and declared is not None)
            or (isinstance(declared, list) and "null" in declared)
            or declared == "null"
        ) and not (self.enum is not None or "const" in schema or self.nots or self.compositions)


class _Context:
    """Per-build state: the rng, the direction, the example mode and the `$ref`s being expanded."""

    __slots__ = ("rng", "direction", "prefer_examples", "stack", "skip_flag", "budget")

    def __init__(self, rng: random.Random, direction: str, prefer_examples: bool) -> None:
        self.rng = rng
        self.direction = direction
        self.prefer_examples = prefer_examples
        self.stack: list[str] = []
        self.skip_flag = "writeOnly" if direction == "response" else "readOnly"
        self.budget = NODE_BUDGET


#: A compiled schema node: the per-build context in, a value out (see Generator._compile).
_Node = Callable[[_Context], Any]
#: A compiled scalar: the rng in, a value out; it reads neither the budget nor the `$ref` stack.
_Leaf = Callable[[random.Random], Any]


class Generator:
    """Build schema-valid values for one OpenAPI document; all caches live as long as it does."""

    def __init__(self, root: Mapping[str, Any], *, openapi_version: str) -> None:
        if not isinstance(openapi_version, str) or not openapi_version.startswith(("3.0", "3.1", "3.2")):
            raise ValueError(
                f"openapi_version {openapi_version!r} is not supported: pass the document's "
                "`openapi` field, 3.0.x or 3.1.x (convert Swagger 2.0 first)"
            )
        self._root = root
        self._v30 = openapi_version.startswith("3.0")
        self._refs: dict[str, Any] = {}
        self._plans: dict[int, tuple[Any, _Plan]] = {}
        self._combined: dict[tuple[int, ...], tuple[Any, _Plan]] = {}
        self._examples: dict[tuple[int, str], tuple[Any, Any]] = {}
        self._validators: dict[tuple[int, str], tuple[Any, Any]] = {}
        self._scratch: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._index: Any = None
        # (node id, direction, prefer_examples, name, depth) -> (node, its compiled function)
        self._functions: dict[tuple[Any, ...], tuple[Any, _Node]] = {}

    # ------------------------------------------------------------------ public API

    def build(
        self,
        schema: Mapping[str, Any] | bool,
        rng: random.Random,
        *,
        direction: str = "response",
        prefer_examples: bool = True,
        name: str = "",
    ) -> Any:
        """Return a value valid against `schema`, deterministic for the rng's state.

        direction="response" leaves out writeOnly properties, "request" readOnly ones.
        prefer_examples=False ignores documented examples and defaults (Prism's dynamic mode).
        `name` is the property (or GraphQL field) the value is for: `email`, `createdAt` and
        `stargazerCount` get values that look like one (mock/formats.py).
        """
        if direction not in ("response", "request"):
            raise ValueError(f"direction must be 'response' or 'request', not {direction!r}")
        return self._compiled(schema, direction, prefer_examples, name, 0)(_Context(rng, direction, prefer_examples))

    def function(
        self, schema: Mapping[str, Any] | bool, *, direction: str = "response", prefer_examples: bool = True,
    ) -> Callable[[random.Random], Any]:
        """Return `build` for one schema as a function of the rng, compiled now (for a caller that
        builds from the same schema on every request: the responder keeps one per media type)."""
        if direction not in ("response", "request"):
            raise ValueError(f"direction must be 'response' or 'request', not {direction!r}")
        node = self._compiled(schema, direction, prefer_examples, "", 0)
        return lambda rng: node(_Context(rng, direction, prefer_examples))

    def example(self, schema: Mapping[str, Any] | bool, *, direction: str = "response") -> Any:
        """Return a copy of the schema's own documented example if it is valid, else NO_VALUE.

        Looks at `example`, the first of `examples` and `default`, through `$ref` and `allOf`.
        """
        found = self._checked_example(schema, direction)
        return NO_VALUE if found is NO_VALUE else _copy(found)

    # ------------------------------------------------------------------ plans (cached per node)

    def _resolve(self, ref: str) -> Any:
        """Return the node a local `$ref` points at (cached)."""
        node = self._refs.get(ref)
        if node is None:
            if not ref.startswith("#"):
                raise ValueError(
                    f"$ref {ref!r} is not local: bundle the document first (sandlot.openapi.loader)"
                )
            try:
                node = resolve_pointer(self._root, ref[1:])
            except KeyError:
                raise ValueError(f"$ref {ref!r} does not point at anything in the document") from None
            self._refs[ref] = node
        return node

    def _plan(self, schema: Any) -> _Plan:
        """Return the cached plan of a schema node."""
        hit = self._plans.get(id(schema))
        if hit is not None and hit[0] is schema:
            return hit[1]
        plan = _Plan(self._flatten(schema, frozenset()), self._v30)
        self._plans[id(schema)] = (schema, plan)
        return plan

    def _flatten(self, schema: Any, seen: frozenset[str]) -> dict[str, Any]:
        """Return `schema` with `$ref` followed and `allOf` merged into one keyword dict."""
        if schema is True or schema is None:
            return {}
        if schema is False:
            return {"not": {}}
        if not isinstance(schema, Mapping):
            raise ValueError(f"a schema must be an object or a boolean, not {schema!r}")
        out: dict[str, Any] = {}
        ref = schema.get("$ref")
        if isinstance(ref, str):
            if ref not in seen:
                out = dict(self._flatten(self._resolve(ref), seen | {ref}))
                out.pop("x-sandlot-self", None)
                out["x-sandlot-self"] = ref
            if self._v30:
                return out  # OpenAPI 3.0: siblings of $ref are ignored
            own = {k: v for k, v in schema.items() if k != "$ref"}
        else:
            own = dict(schema)
        branches = own.pop("allOf", None)
        own_bounds = _bounds(own, self._v30)
        if own_bounds is not None:
            own["x-sandlot-bounds"] = own_bounds
        if out:
            _merge_into(out, own, seen, self._v30)
        else:
            out.update(own)
        if isinstance(branches, list):
            for branch in branches:
                branch_ref = branch.get("$ref") if isinstance(branch, Mapping) else None
                if isinstance(branch_ref, str) and branch_ref in seen:
                    continue
                part = self._flatten(branch, seen)
                for key in ("example", "examples", "default", "x-sandlot-self"):
                    part.pop(key, None)  # a part's example describes the part, not the whole
                _merge_into(out, part, seen | {r for r in [branch_ref] if isinstance(r, str)}, self._v30)
        return out

    def _combine(self, plan: _Plan, branches: tuple[Any, ...]) -> _Plan:
        """Return the plan of `plan.base` merged with one branch per composition (cached)."""
        key = (id(plan),) + tuple(id(b) for b in branches)
        hit = self._combined.get(key)
        if hit is not None:
            return hit[1]
        merged = dict(plan.base)
        merged.pop("x-sandlot-self", None)  # the chosen branch, not the parent, names the value
        for branch in branches:
            branch_ref = branch.get("$ref") if isinstance(branch, Mapping) else None
            seen = frozenset([branch_ref]) if isinstance(branch_ref, str) else frozenset()
            part = self._flatten(branch, frozenset())
            part.pop("x-sandlot-self", None)
            _merge_into(merged, part, seen, self._v30)
        combined = _Plan(merged, self._v30)
        self._combined[key] = ((plan, branches), combined)
        return combined

    # ------------------------------------------------------------------ examples and validation

    def _schema_index(self) -> Any:
        """Return the engine's SchemaIndex for this document (built on first use)."""
        if self._index is None:
            from sandlot.openapi.schemas import SchemaIndex  # the engine's validators: same semantics

            self._index = SchemaIndex(self._root, "3.0" if self._v30 else "3.1")
        return self._index

    def _is_valid(self, schema: Any, value: Any, direction: str) -> bool | None:
        """Tell whether `value` is valid against the original `schema` node (validator cached).

        Returns None for a schema the validator cannot evaluate (e.g. a discriminator cycle
        that recurses forever); it is remembered, so the cost is paid once.
        """
        if schema is True or schema == {}:
            return True
        key = (id(schema), direction)
        hit = self._validators.get(key)
        if hit is None or hit[0] is not schema:
            hit = (schema, self._schema_index().validator(schema, direction))
            self._validators[key] = hit
        if hit[1] is None:
            return None
        try:
            return bool(hit[1].is_valid(value))
        except BaseException as exc:
            # A recursion that ends inside rpds (jsonschema's maps, in Rust) surfaces as pyo3's
            # PanicException, a BaseException: where the limit hits depends on the caller's depth.
            if not isinstance(exc, _UNJUDGEABLE) and type(exc).__name__ != "PanicException":
                raise
            self._validators[key] = (schema, None)
            return None

    def _checked_example(self, schema: Any, direction: str) -> Any:
        """Return the first documented example of `schema` that validates (cached), or NO_VALUE."""
        key = (id(schema), direction)
        hit = self._examples.get(key)
        if hit is not None and hit[0] is schema:
            return hit[1]
        found = NO_VALUE
        for candidate in self._example_candidates(schema, frozenset()):
            if self._is_valid(schema, candidate, direction) is True:  # unverifiable examples are not used
                found = candidate
                break
        self._examples[key] = (schema, found)
        return found

    def _example_candidates(self, schema: Any, seen: frozenset[str]) -> list[Any]:
        """List the documented examples of a node: its own, then its `$ref` target's and allOf parts'."""
        if not isinstance(schema, Mapping):
            return []
        found = []
        if "example" in schema:
            found.append(schema["example"])
        examples = schema.get("examples")
        if isinstance(examples, list) and examples:
            found.append(examples[0])
        if "default" in schema:
            found.append(schema["default"])
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref not in seen:
            found += self._example_candidates(self._resolve(ref), seen | {ref})
        for branch in schema.get("allOf") or ():
            found += self._example_candidates(branch, seen)
        return found

    # ------------------------------------------------------------------ generation

    def _generate(self, schema: Any, ctx: _Context, name: str, depth: int) -> Any:
        """Return a value for one schema node (examples first when the context prefers them)."""
        if ctx.prefer_examples and (type(schema) is dict or isinstance(schema, Mapping)):
            found = self._checked_example(schema, ctx.direction)
            if found is not NO_VALUE:
                return _copy(found)
        plan = self._plan(schema)
        self_ref = plan.self_ref
        ctx.budget -= 1
        # Lean: the schema contains itself, or the value is deep or big already. Then only
        # what is required is generated, and null where the schema allows it.
        lean = depth >= OPTIONAL_DEPTH or ctx.budget <= 0 or (self_ref is not None and self_ref in ctx.stack)
        if lean and plan.null_ok and depth > 0:
            return None
        if self_ref is not None:
            ctx.stack.append(self_ref)
        try:
            return self._from_plan(plan, ctx, name, depth, lean)
        finally:
            if self_ref is not None:
                ctx.stack.pop()

    def _from_plan(self, plan: _Plan, ctx: _Context, name: str, depth: int, lean: bool) -> Any:
        """Return a value for a plan: const/enum, then compositions, then by type; `not` re-checked."""
        schema = plan.schema
        if "const" in schema:
            return _copy(schema["const"])
        if plan.enum is not None:
            return _copy(ctx.rng.choice(plan.enum))
        if depth > HARD_DEPTH:
            return _shortest(plan)
        nots = plan.nots
        for _ in range(_RETRIES if nots else 1):
            if plan.compositions:
                value = self._from_compositions(plan, ctx, name, depth, lean)
            else:
                value = self._by_type(plan, ctx, name, depth, lean)
            if not nots or not any(self._is_valid(n, value, ctx.direction) is True for n in nots):
                return value
        return value

    def _from_compositions(self, plan: _Plan, ctx: _Context, name: str, depth: int, lean: bool) -> Any:
        """Return a value for a node with oneOf/anyOf: one branch each, merged with the node's own keywords."""
        rng = ctx.rng
        orders = [list(range(len(alts))) for _, alts in plan.compositions]
        for order, (_, alts) in zip(orders, plan.compositions, strict=True):
            rng.shuffle(order)
            if lean:  # scalar branches first: an id rather than the whole expanded object
                order.sort(key=lambda i: bool({"object", "array"} & set(self._plan(alts[i]).types)))
        value: Any = None
        for attempt in range(max(len(o) for o in orders)):
            branches = tuple(alts[order[attempt % len(order)]]
                             for (_, alts), order in zip(plan.compositions, orders, strict=True))
            combined = self._combine(plan, branches)
            pushed = [b["$ref"] for b in branches if isinstance(b, Mapping) and isinstance(b.get("$ref"), str)]
            ctx.stack.extend(pushed)
            try:
                if combined.compositions:  # a branch brought its own oneOf/anyOf
                    value = self._from_compositions(combined, ctx, name, depth, lean)
                elif "const" in combined.schema:
                    value = _copy(combined.schema["const"])
                elif combined.enum is not None:
                    value = _copy(rng.choice(combined.enum))
                else:
                    value = self._by_type(combined, ctx, name, depth, lean)
            finally:
                del ctx.stack[len(ctx.stack) - len(pushed):]
            if isinstance(value, dict):
                discriminator = plan.schema.get("discriminator")
                if isinstance(discriminator, Mapping):
                    for branch in branches:
                        branch_ref = branch.get("$ref") if isinstance(branch, Mapping) else None
                        self._set_discriminator(value, discriminator, branch_ref, combined)
            if self._exclusive(plan, branches, value, ctx.direction):
                return value
            if isinstance(value, dict) and len(plan.compositions) == 1:
                self._break_tie(combined, plan.compositions[0][1], branches[0], value, ctx.direction)
                if self._exclusive(plan, branches, value, ctx.direction):
                    return value
        return value

    def _break_tie(self, chosen: _Plan, alts: list[Any], branch: Any, value: dict[str, Any], direction: str) -> None:
        """Make an object match only its own oneOf branch by giving a property only another branch
        declares a value of a type that branch refuses (`metadata: "x"` where it wants an object)."""
        own = chosen.schema.get("properties") or {}
        extra = chosen.schema.get("additionalProperties", True)
        if chosen.schema.get("patternProperties") or not (extra is True or extra == {}):
            return  # undeclared properties are not free in the chosen branch
        for alt in alts:
            if alt is branch or self._is_valid(alt, value, direction) is not True:
                continue
            for prop, sub in (self._plan(alt).schema.get("properties") or {}).items():
                if prop in own:
                    continue
                types = set(self._plan(sub).types) if sub not in (True, False) else {"string"}
                refused = [v for t, v in _WRONG_VALUES if t not in types and not (t == "integer" and "number" in types)]
                if not refused:
                    continue
                wrong = refused[0]
                value[prop] = wrong
                if self._is_valid(alt, value, direction) is False:
                    break
                del value[prop]

    def _exclusive(self, plan: _Plan, branches: tuple[Any, ...], value: Any, direction: str) -> bool:
        """Tell whether `value` satisfies every composition: exactly one branch of each oneOf, one of each anyOf."""
        for keyword, alts in plan.compositions:
            # anyOf: the value was built from one branch merged in, so that branch holds.
            if keyword == "anyOf" or len(alts) == 1:
                continue
            if self._disjoint(plan, alts):
                continue
            verdicts = [self._is_valid(alt, value, direction) for alt in alts]
            if None in verdicts:
                continue  # the validator cannot judge these branches: nobody can hold us to them
            if verdicts.count(True) != 1:
                return False
        return True

    def _disjoint(self, plan: _Plan, alts: list[Any]) -> bool:
        """Tell whether no value can match two of these branches because their types differ."""
        if plan.disjoint is None:
            kinds = []
            for alt in alts:
                types = self._plan(alt).types
                if len(types) != 1 or self._plan(alt).compositions:
                    break
                kinds.append("number" if types[0] == "integer" else types[0])
            plan.disjoint = len(kinds) == len(alts) and len(set(kinds)) == len(kinds)
        return plan.disjoint

    def _set_discriminator(
        self, value: dict[str, Any], discriminator: Mapping[str, Any], ref: str | None, plan: _Plan
    ) -> None:
        """Set the discriminator property of `value` to the name that selects `ref`'s schema."""
        prop = discriminator.get("propertyName")
        if not isinstance(prop, str) or not ref:
            return
        tag = None
        for key, target in (discriminator.get("mapping") or {}).items():
            if target == ref or (isinstance(target, str) and "/" not in target and ref.endswith("/" + target)):
                tag = key
                break
        if tag is None:
            tag = ref.rsplit("/", 1)[-1]
        prop_schema = (plan.schema.get("properties") or {}).get(prop)
        prop_plan = self._plan(prop_schema) if prop_schema is not None else None
        if prop_plan is not None:
            if prop_plan.enum is not None and tag not in prop_plan.enum:
                return
            if "const" in prop_plan.schema and prop_plan.schema["const"] != tag:
                return
            pattern = prop_plan.schema.get("pattern")
            if isinstance(pattern, str) and not _search(pattern, tag):
                return
        value[prop] = tag

    def _by_type(self, plan: _Plan, ctx: _Context, name: str, depth: int, lean: bool) -> Any:
        """Return a value of one of the plan's types."""
        types = plan.types
        kind = types[0] if len(types) == 1 else (ctx.rng.choice(types) if types else None)
        if kind == "object":
            return self._object(plan, ctx, depth, lean)
        if kind == "array":
            return self._array(plan, ctx, name, depth, lean)
        if kind == "string":
            return self._string(plan, ctx.rng, name)
        if kind == "integer":
            return _integer(plan.schema, plan.bounds, ctx.rng, name)
        if kind == "number":
            return _number(plan.schema, plan.bounds, ctx.rng, name)
        if kind == "boolean":
            return ctx.rng.random() < 0.5
        if kind == "null":
            return None
        # No type at all (`{}` / true): a plausible scalar.
        hinted = formats.string_kind_for_name(name) if name else None
        if hinted is not None:
            return formats.string_for_kind(hinted, ctx.rng)
        return ctx.rng.choice(formats.pool("word"))

    def _object(self, plan: _Plan, ctx: _Context, depth: int, lean: bool) -> dict[str, Any]:
        """Return an object: required properties always, optional ones unless lean, within min/maxProperties."""
        schema = plan.schema
        props: Mapping[str, Any] = schema.get("properties") or {}
        required = plan.required
        fields = self._fields(plan)
        max_props = schema.get("maxProperties")
        min_props = schema.get("minProperties") or 0
        out: dict[str, Any] = {}
        optional_room = None if max_props is None else max(0, max_props - len(required))
        response = ctx.direction == "response"
        for prop, prop_schema, is_required, read_only, write_only in fields:
            if (write_only if response else read_only) and (not is_required or self._v30):
                # 3.0 says a required readOnly property is required in responses only (and
                # writeOnly in requests only); 3.1 has no such rule, so keep it there.
                continue
            if not is_required:
                if lean or optional_room == 0:
                    continue
                if optional_room is not None:
                    optional_room -= 1
            out[prop] = self._generate(prop_schema, ctx, prop, depth + 1)
        for prop in required:
            if prop not in out and prop not in props:
                out[prop] = self._generate(self._schema_for_key(schema, prop), ctx, prop, depth + 1)
        if not props or len(out) < min_props:  # else there is nothing to add (and no rng draw)
            self._add_extra_properties(schema, out, ctx, depth, lean, min_props, max_props)
        discriminator = schema.get("discriminator")
        if isinstance(discriminator, Mapping) and plan.schema.get("x-sandlot-self"):
            self._set_discriminator(out, discriminator, plan.schema["x-sandlot-self"], plan)
        return out

    def _fields(self, plan: _Plan) -> list[tuple[str, Any, bool, bool, bool]]:
        """Return (name, schema, required, readOnly, writeOnly) per property of an object plan (cached)."""
        if plan.fields is None:
            props: Mapping[str, Any] = plan.schema.get("properties") or {}
            plan.fields = [
                (prop, sub, prop in plan.required, self._flag(sub, "readOnly"), self._flag(sub, "writeOnly"))
                for prop, sub in props.items()
                if sub is not False
            ]
        return plan.fields

    def _flag(self, schema: Any, flag: str) -> bool:
        """Tell whether a property schema (after `$ref` and allOf) is marked readOnly/writeOnly."""
        if not isinstance(schema, Mapping):
            return False
        if flag in schema:
            return schema[flag] is True
        return self._plan(schema).schema.get(flag) is True

    def _schema_for_key(self, schema: Mapping[str, Any], key: str) -> Any:
        """Return the schema an extra key's value must satisfy (patternProperties, additionalProperties)."""
        matching = [sub for pattern, sub in (schema.get("patternProperties") or {}).items() if _search(pattern, key)]
        if len(matching) == 1:
            return matching[0]
        if matching:
            return {"allOf": matching}
        extra = schema.get("additionalProperties", True)
        return {} if extra is True or extra is None else extra

    def _add_extra_properties(
        self, schema: Mapping[str, Any], out: dict[str, Any], ctx: _Context, depth: int, lean: bool,
        min_props: int, max_props: int | None,
    ) -> None:
        """Add patternProperties / additionalProperties entries: a few for maps, enough for minProperties."""
        rng = ctx.rng
        props = schema.get("properties") or {}
        patterns = schema.get("patternProperties") or {}
        extra = schema.get("additionalProperties", True)
        cap = max_props if max_props is not None else 1 << 30
        # Fill minProperties from the optional properties first: they are the documented ones.
        for prop, prop_schema in props.items():
            if len(out) >= min_props:
                break
            if prop not in out and prop_schema is not False and not self._flag(prop_schema, ctx.skip_flag):
                out[prop] = self._generate(prop_schema, ctx, prop, depth + 1)
        wanted = min_props
        is_map = not props and (patterns or isinstance(extra, Mapping) and extra)
        if is_map and not lean:
            wanted = max(wanted, rng.randint(1, 3))
        wanted = min(wanted, cap)
        names = schema.get("propertyNames")
        for pattern in patterns:
            if len(out) >= wanted:
                break
            try:
                key = generate_matching(pattern, rng)
            except PatternError:
                key = None
            if key is not None and key not in out and self._key_allowed(names, key, ctx):
                out[key] = self._generate(self._schema_for_key(schema, key), ctx, key, depth + 1)
        if extra is False:
            return
        attempt = 0
        while len(out) < wanted and attempt < wanted * 4 + 4:
            attempt += 1
            if isinstance(names, Mapping) and names:
                key = self._generate(names, ctx, "key", depth + 1)
                if not isinstance(key, str):
                    continue
            else:
                key = f"{rng.choice(formats.pool('word'))}_{attempt}"
            if key in out or key in props or not self._key_allowed(names, key, ctx):
                continue
            out[key] = self._generate(self._schema_for_key(schema, key), ctx, key, depth + 1)

    def _key_allowed(self, names: Any, key: str, ctx: _Context) -> bool:
        """Tell whether `key` satisfies the object's propertyNames schema (if any)."""
        return names is None or names is True or self._is_valid(names, key, ctx.direction) is not False

    def _array(self, plan: _Plan, ctx: _Context, name: str, depth: int, lean: bool) -> list[Any]:
        """Return an array within minItems/maxItems, honouring prefixItems, items, uniqueItems, contains."""
        schema = plan.schema
        rng = ctx.rng
        low = schema.get("minItems") or 0
        high = schema.get("maxItems")
        if lean:
            count = low
        else:
            top = max(low, 1) + 2 if high is None else min(high, max(low, 1) + 2)
            count = rng.randint(min(max(low, 1), top), top) if top > 0 else 0
        prefix = schema.get("prefixItems") if not self._v30 else None
        prefix = prefix if isinstance(prefix, list) else []
        items = schema.get("items", True)
        if isinstance(items, list):  # draft-4 tuple form, tolerated in 3.0 documents
            prefix, items = items, schema.get("additionalItems", True)
        if items is False:
            count = min(count, len(prefix))
        item_name = name[:-1] if name.endswith("s") else name
        contains = schema.get("contains") if not self._v30 else None
        unique = schema.get("uniqueItems") is True
        out: list[Any] = []
        seen: set[str] = set()
        attempts = 0
        while len(out) < count and attempts < count * 4 + 4:
            attempts += 1
            index = len(out)
            item_schema = prefix[index] if index < len(prefix) else items
            if index == 0 and contains is not None and index >= len(prefix):
                item_schema = {"allOf": [items, contains]} if items is not True else contains
                item_schema = self._interned(item_schema, ("contains", id(items), id(contains)))
            value = self._generate(item_schema, ctx, item_name, depth + 1)
            if unique:
                key = json.dumps(value, sort_keys=True, default=str)
                if key in seen:
                    continue
                seen.add(key)
            out.append(value)
        return out

    def _interned(self, schema: dict[str, Any], key: tuple[Any, ...]) -> dict[str, Any]:
        """Return one persistent copy of a schema built on the fly, so its plan is cached."""
        return self._scratch.setdefault(key, schema)

    def _string(self, plan: _Plan, rng: random.Random, name: str) -> str:
        """Return a string: pattern, else format, else a name hint, else words; lengths honoured."""
        min_len, max_len, patterns, fmt = _string_facts(plan)
        if patterns:
            for _ in range(_RETRIES):
                try:
                    text = generate_matching(patterns[0], rng, min_len, max_len)
                except PatternError:
                    break
                if text is not None and all(_search(p, text) for p in patterns[1:]):
                    return text
        if fmt == "byte":
            encoded = formats.byte(rng, min_len, max_len)
            if encoded is not None:
                return encoded
        make = formats.FORMAT_GENERATORS.get(fmt) if isinstance(fmt, str) else None
        if make is not None:
            text = make(rng)
            if _fits(text, min_len, max_len):
                return text
        elif name:
            kind = formats.string_kind_for_name(name)
            if kind is not None:
                text = formats.string_for_kind(kind, rng)
                if _fits(text, min_len, max_len):
                    return text
        return _words(rng, min_len, max_len)

    # ------------------------------------------------------------------ compiled generation
    #
    # `build` runs a function compiled once per (node, direction, example mode, name, depth):
    # what depends only on the schema (its example, type, bounds, format, which properties) is
    # decided when compiling, so a build pays for its random draws and little else. A compiled
    # function draws exactly what `_generate` draws, in the same order, and counts the same node
    # budget (tests/generate/test_compiled.py compares the two on every shared spec); whatever is
    # unusual (compositions, `not`, patterns, maps, unique items, a lean value) is `_generate`'s.

    def _compiled(self, schema: Any, direction: str, prefer: bool, name: str, depth: int) -> _Node:
        """Return the compiled function of a schema node (compiled on first use)."""
        key = (id(schema), direction, prefer, name, depth)
        hit = self._functions.get(key)
        if hit is not None and hit[0] is schema:
            return hit[1]
        function = self._compile(schema, direction, prefer, name, depth)
        self._functions[key] = (schema, function)
        return function

    def _compile(self, schema: Any, direction: str, prefer: bool, name: str, depth: int) -> _Node:
        leaf = self._leaf(schema, direction, prefer, name)
        if leaf is not None:
            make, cost = leaf
            if not cost:
                return lambda ctx: make(ctx.rng)

            def counted(ctx: _Context) -> Any:
                ctx.budget -= cost
                return make(ctx.rng)
            return counted

        def interpret(ctx: _Context) -> Any:
            return self._generate(schema, ctx, name, depth)

        if depth >= OPTIONAL_DEPTH:
            return interpret
        plan = self._plan(schema)  # its example, if any, was taken by _leaf
        kind = plan.types[0] if len(plan.types) == 1 else None
        # (the function of a value that is not lean, whether it has parts that read the $ref stack)
        made: tuple[_Node, bool] | None = None
        if plan.nots or plan.compositions or "const" in plan.schema or plan.enum is not None:
            made = None
        elif kind == "object":
            made = self._object_body(plan, direction, prefer, depth)
        elif kind == "array":
            made = self._array_body(plan, direction, prefer, name, depth)
        if made is None:
            return interpret
        body, nested = made
        self_ref = plan.self_ref
        pushed = self_ref if nested else None  # scalars alone never read the stack

        def node(ctx: _Context) -> Any:
            ctx.budget -= 1
            if ctx.budget <= 0 or (self_ref is not None and self_ref in ctx.stack):
                ctx.budget += 1  # lean: _generate counts this node again
                return self._generate(schema, ctx, name, depth)
            if pushed is None:
                return body(ctx)
            ctx.stack.append(pushed)
            try:
                return body(ctx)
            finally:
                ctx.stack.pop()
        return node

    def _leaf(self, schema: Any, direction: str, prefer: bool, name: str) -> tuple[_Leaf, int] | None:
        """Return (function of the rng, nodes it counts) for a value that neither lean mode nor
        the `$ref` stack can change (a documented example, a plain scalar), else None."""
        if prefer and isinstance(schema, Mapping):
            found = self._checked_example(schema, direction)
            if found is not NO_VALUE:
                if isinstance(found, (dict, list)):
                    return (lambda rng: _copy(found)), 0
                return (lambda rng: found), 0
        plan = self._plan(schema)
        if plan.null_ok or plan.nots or plan.compositions:
            return None
        if "const" in plan.schema:
            const = plan.schema["const"]
            return (lambda rng: _copy(const)), 1
        members = plan.enum
        if members is not None:
            if any(isinstance(m, (dict, list)) for m in members):
                return (lambda rng: _copy(rng.choice(members))), 1
            return (lambda rng: rng.choice(members)), 1
        kind = plan.types[0] if len(plan.types) == 1 else None
        make: _Leaf | None = None
        if kind == "string":
            make = self._string_leaf(plan, name)
        elif kind == "integer":
            make = _integer_leaf(plan.schema, plan.bounds, name)
        elif kind == "number":
            number_schema, bounds = plan.schema, plan.bounds
            make = lambda rng: _number(number_schema, bounds, rng, name)  # noqa: E731
        elif kind == "boolean":
            make = lambda rng: rng.random() < 0.5  # noqa: E731
        return None if make is None else (make, 1)

    def _string_leaf(self, plan: _Plan, name: str) -> _Leaf:
        """Return `_string` for one plan and name, its format or name hint looked up once."""
        min_len, max_len, patterns, fmt = _string_facts(plan)
        if patterns or fmt == "byte":
            return lambda rng: self._string(plan, rng, name)
        make = formats.FORMAT_GENERATORS.get(fmt) if isinstance(fmt, str) else None
        if make is None and name:
            kind = formats.string_kind_for_name(name)
            if kind is not None:
                make = formats.kind_generator(kind)
        if make is None:
            if not min_len and max_len is None:  # _words' single draw
                words = formats.pool("word")
                return lambda rng: rng.choice(words)
            return lambda rng: _words(rng, min_len, max_len)
        if not min_len and max_len is None:
            return make
        made = make

        def bounded(rng: random.Random) -> str:
            text = made(rng)
            return text if _fits(text, min_len, max_len) else _words(rng, min_len, max_len)
        return bounded

    def _object_body(self, plan: _Plan, direction: str, prefer: bool, depth: int) -> tuple[_Node, bool] | None:
        """Return `_object` (not lean) for a plan whose properties are all it needs, else None."""
        schema = plan.schema
        props: Mapping[str, Any] = schema.get("properties") or {}
        required = plan.required
        discriminator = schema.get("discriminator")
        if not props or any(r not in props for r in required) or (
                isinstance(discriminator, Mapping) and schema.get("x-sandlot-self")):
            return None
        max_props = schema.get("maxProperties")
        optional_room = None if max_props is None else max(0, max_props - len(required))
        response = direction == "response"
        chosen = []
        for prop, prop_schema, is_required, read_only, write_only in self._fields(plan):
            if (write_only if response else read_only) and (not is_required or self._v30):
                continue
            if not is_required:
                if optional_room == 0:
                    continue
                if optional_room is not None:
                    optional_room -= 1
            chosen.append((prop, prop_schema))
        if len(chosen) < (schema.get("minProperties") or 0):
            return None
        leaves = [(prop, self._leaf(sub, direction, prefer, prop)) for prop, sub in chosen]
        if all(leaf is not None for _, leaf in leaves):
            pairs = [(prop, leaf[0]) for prop, leaf in leaves if leaf is not None]
            cost = sum(leaf[1] for _, leaf in leaves if leaf is not None)

            def flat(ctx: _Context) -> dict[str, Any]:
                ctx.budget -= cost
                rng = ctx.rng
                return {prop: make(rng) for prop, make in pairs}
            return flat, False
        # (name, function, nodes counted; -1: the function takes the context and counts itself)
        entries: list[list[Any]] = []
        for (prop, sub), (_, leaf) in zip(chosen, leaves, strict=True):
            if leaf is not None:
                entries.append([prop, leaf[0], leaf[1]])
            else:
                entries.append([prop, None, -1])
                entries[-1][1] = self._lazy(entries[-1], sub, direction, prefer, prop, depth + 1)

        def nested(ctx: _Context) -> dict[str, Any]:
            out = {}
            for prop, make, cost in entries:
                if cost < 0:
                    out[prop] = make(ctx)
                else:
                    ctx.budget -= cost
                    out[prop] = make(ctx.rng)
            return out
        return nested, True

    def _lazy(self, entry: list[Any], schema: Any, direction: str, prefer: bool, name: str, depth: int) -> _Node:
        """Return a stand-in that compiles `schema` when first called and puts it in `entry[1]`
        (compiling every reachable node up front would be exponential on specs such as Stripe's)."""
        def first(ctx: _Context) -> Any:
            entry[1] = self._compiled(schema, direction, prefer, name, depth)
            return entry[1](ctx)
        return first

    def _array_body(self, plan: _Plan, direction: str, prefer: bool, name: str,
                    depth: int) -> tuple[_Node, bool] | None:
        """Return `_array` (not lean) for a plain `items` array, else None."""
        schema = plan.schema
        items = schema.get("items", True)
        if ("prefixItems" in schema or "contains" in schema or schema.get("uniqueItems") is True
                or isinstance(items, list) or items is False):
            return None
        low = schema.get("minItems") or 0
        high = schema.get("maxItems")
        top = max(low, 1) + 2 if high is None else min(high, max(low, 1) + 2)
        bottom = min(max(low, 1), top)
        item_name = name[:-1] if name.endswith("s") else name
        leaf = self._leaf(items, direction, prefer, item_name)
        if leaf is not None:
            make, cost = leaf

            def scalars(ctx: _Context) -> list[Any]:
                rng = ctx.rng
                count = rng.randint(bottom, top) if top > 0 else 0
                ctx.budget -= cost * count
                return [make(rng) for _ in range(count)]
            return scalars, False
        entry: list[Any] = [None, None, -1]
        entry[1] = self._lazy(entry, items, direction, prefer, item_name, depth + 1)

        def values(ctx: _Context) -> list[Any]:
            count = ctx.rng.randint(bottom, top) if top > 0 else 0
            return [entry[1](ctx) for _ in range(count)]
        return values, True


# ---------------------------------------------------------------------- pure helpers


def _string_facts(plan: _Plan) -> tuple[int, int | None, list[str], Any]:
    """Return (minLength, maxLength, patterns, format) of a string plan (cached on the plan)."""
    if plan.strings is None:
        schema = plan.schema
        plan.strings = (
            schema.get("minLength") or 0,
            schema.get("maxLength"),
            [p for p in [schema.get("pattern"), *schema.get("x-sandlot-patterns", ())] if isinstance(p, str)],
            schema.get("format", schema.get("x-format")),  # some specs spell vendor formats x-format
        )
    return plan.strings


def _copy(value: Any) -> Any:
    """Return a deep copy of a JSON value (faster than copy.deepcopy)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _search(pattern: str, text: str) -> bool:
    """Tell whether `pattern` (ECMA-262) matches somewhere in `text` (openapi/patterns.py)."""
    return patterns.search(pattern, text)


def _fits(text: str, min_len: int, max_len: int | None) -> bool:
    """Tell whether `text` lies within the length bounds."""
    return len(text) >= min_len and (max_len is None or len(text) <= max_len)


def _words(rng: random.Random, min_len: int, max_len: int | None) -> str:
    """Return lower-case words (or letters) whose length lies in the bounds."""
    words = formats.pool("word")
    text = rng.choice(words)
    while len(text) < min_len:
        text += " " + rng.choice(words)
    if max_len is not None and len(text) > max_len:
        text = text[:max_len]
        if text.endswith(" "):
            text = text[:-1] + "a"
    return text


def _types_of(schema: Mapping[str, Any], v30: bool) -> tuple[tuple[str, ...], bool]:
    """Return (the non-null types a node may take, whether null is allowed)."""
    declared = schema.get("type")
    if isinstance(declared, str):
        declared = [declared]
    if isinstance(declared, list) and declared:
        types = tuple(t for t in declared if t != "null")
        nullable = "null" in declared or (v30 and schema.get("nullable") is True)
        if not types and not nullable:
            types = ("string",)
        return types, nullable
    if schema.get("x-sandlot-no-type"):
        return (), False  # allOf parts declared conflicting types
    for keyword, kind in _TYPE_HINTS:
        if keyword in schema:
            if kind == "string" and keyword == "format":
                kind = _NUMERIC_FORMATS.get(schema["format"], "string")
            return (kind,), "enum" not in schema
    return (), True


def _enum_members(values: list[Any], types: tuple[str, ...], nullable: bool) -> list[Any]:
    """Return the enum members that also satisfy the node's type (3.0 enums often list null)."""
    if not types:
        return [v for v in values if v is not None or nullable] or list(values)
    return [v for v in values if (v is None and nullable) or (v is not None and _json_type_ok(v, types))]


def _json_type_ok(value: Any, types: tuple[str, ...]) -> bool:
    """Tell whether a JSON value has one of the given JSON Schema types."""
    for kind in types:
        if kind == "string" and isinstance(value, str):
            return True
        if kind == "boolean" and isinstance(value, bool):
            return True
        if kind == "integer" and isinstance(value, int) and not isinstance(value, bool):
            return True
        if kind == "integer" and isinstance(value, float) and value.is_integer():
            return True
        if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if kind == "object" and isinstance(value, dict):
            return True
        if kind == "array" and isinstance(value, list):
            return True
    return False


def _nots_of(schema: Mapping[str, Any]) -> list[Any]:
    """Return every `not` schema a node (and its merged allOf parts) forbids."""
    found = list(schema.get("x-sandlot-nots", ()))
    if "not" in schema:
        found.append(schema["not"])
    return found


def _shortest(plan: _Plan) -> Any:
    """Return the shortest value of a plan's type, used to cut a recursion that never ends."""
    if plan.nullable:
        return None
    kind = plan.types[0] if plan.types else None
    return {"object": {}, "array": [], "integer": 0, "number": 0, "boolean": False}.get(kind or "", "")


def _bounds(schema: Mapping[str, Any], v30: bool) -> tuple[Any, bool, Any, bool] | None:
    """Return (low, low exclusive, high, high exclusive) from either OpenAPI version's keywords."""
    low, high = schema.get("minimum"), schema.get("maximum")
    ex_low, ex_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if low is None and high is None and ex_low is None and ex_high is None:
        return None
    low_x = high_x = False
    if isinstance(ex_low, bool):
        low_x = ex_low and low is not None
    elif isinstance(ex_low, (int, float)) and (low is None or ex_low >= low):
        low, low_x = ex_low, True
    if isinstance(ex_high, bool):
        high_x = ex_high and high is not None
    elif isinstance(ex_high, (int, float)) and (high is None or ex_high <= high):
        high, high_x = ex_high, True
    return low, low_x, high, high_x


def _tighter_bounds(a: tuple[Any, bool, Any, bool], b: tuple[Any, bool, Any, bool]) -> tuple[Any, bool, Any, bool]:
    """Return the intersection of two normalized bound tuples."""
    low, low_x = a[0], a[1]
    if b[0] is not None and (low is None or b[0] > low or (b[0] == low and b[1])):
        low, low_x = b[0], b[1]
    high, high_x = a[2], a[3]
    if b[2] is not None and (high is None or b[2] < high or (b[2] == high and b[3])):
        high, high_x = b[2], b[3]
    return low, low_x, high, high_x


_MAX_KEYS = ("maxLength", "maxItems", "maxProperties")
_MIN_KEYS = ("minLength", "minItems", "minProperties")


def _merge_into(out: dict[str, Any], part: Mapping[str, Any], seen: frozenset[str], v30: bool) -> None:
    """Merge one flattened allOf part into `out` so a value valid for `out` satisfies both."""
    admits_null = _admits_null(out, v30) and _admits_null(part, v30)
    for key, value in part.items():
        if key not in out:
            if key in _COMPOSITIONS and _refers_to(value, seen):
                continue  # the parent's oneOf lists the schema being built: it is that branch
            out[key] = list(value) if key == "required" else value
            continue
        current = out[key]
        if key == "properties":
            merged = dict(current)
            for prop, sub in value.items():
                merged[prop] = {"allOf": [merged[prop], sub]} if prop in merged and merged[prop] is not sub else sub
            out[key] = merged
        elif key == "required":
            out[key] = current + [r for r in value if r not in current]
        elif key == "type":
            mine = [current] if isinstance(current, str) else list(current)
            theirs = [value] if isinstance(value, str) else list(value)
            if "integer" in theirs and "number" in mine:
                mine.append("integer")
            if "integer" in mine and "number" in theirs:
                theirs.append("integer")
            common = [t for t in mine if t in theirs]
            if common:
                out[key] = common if len(common) > 1 else common[0]
            else:
                out["x-sandlot-no-type"] = True
        elif key == "x-sandlot-bounds":
            out[key] = _tighter_bounds(current, value)
        elif key in _MIN_KEYS:
            out[key] = max(current, value)
        elif key in _MAX_KEYS:
            out[key] = min(current, value)
        elif key == "enum" and isinstance(current, list) and isinstance(value, list):
            out[key] = [v for v in current if v in value] or current
        elif key == "pattern" and value != current:
            out["x-sandlot-patterns"] = [*out.get("x-sandlot-patterns", ()), value]
        elif key in ("items", "additionalProperties", "propertyNames", "contains"):
            if current is False or value is False:
                out[key] = False
            elif current is True or current == {}:
                out[key] = value
            elif value is not True and value != {} and value is not current:
                out[key] = {"allOf": [current, value]}
        elif key == "patternProperties":
            out[key] = {**current, **value}
        elif key in _COMPOSITIONS:
            if not _refers_to(value, seen):
                out["x-sandlot-compositions"] = [*out.get("x-sandlot-compositions", ()), (key, value)]
        elif key == "not":
            out["x-sandlot-nots"] = [*out.get("x-sandlot-nots", ()), value]
        elif key in ("x-sandlot-nots", "x-sandlot-patterns", "x-sandlot-compositions"):
            out[key] = [*current, *value]
        elif key in ("readOnly", "writeOnly", "uniqueItems"):
            out[key] = current is True or value is True
        elif key == "multipleOf" and isinstance(current, int) and isinstance(value, int) and current and value:
            out[key] = current * value // math.gcd(current, value)
        # any other keyword: the first part's value stands (descriptions, formats, discriminator)
    if v30:
        out["nullable"] = admits_null


def _admits_null(schema: Mapping[str, Any], v30: bool) -> bool:
    """Tell whether a 3.0 schema admits null: it has no type, or says `nullable: true`."""
    return "type" not in schema or schema.get("nullable") is True

def _refers_to(alternatives: Any, seen: frozenset[str]) -> bool:
    """Tell whether a oneOf/anyOf list names one of the schemas currently being merged."""
    return bool(seen) and isinstance(alternatives, list) and any(
        isinstance(alt, Mapping) and alt.get("$ref") in seen for alt in alternatives
    )


def _integer_range(bounds: tuple[Any, bool, Any, bool], fmt: Any) -> tuple[int | None, int | None]:
    """Return the inclusive integer range allowed by the bounds and an int32/int64 format."""
    low, low_x, high, high_x = bounds
    ilow = None if low is None else (math.floor(low) + 1 if low_x else math.ceil(low))
    ihigh = None if high is None else (math.ceil(high) - 1 if high_x else math.floor(high))
    limits = _INT32 if fmt == "int32" else _INT64 if fmt == "int64" else None
    if limits is not None:
        # only clamp bounds the schema gave: an unbounded int64 should still look like a count
        ilow = None if ilow is None else max(ilow, limits[0])
        ihigh = None if ihigh is None else min(ihigh, limits[1])
    return ilow, ihigh


def _pick_range(low: Any, high: Any, hint: tuple[float, float] | None, span: float) -> tuple[Any, Any]:
    """Return a realistic (low, high) inside the schema's bounds: the name hint if it fits, else near the bounds."""
    if hint is not None:
        a = hint[0] if low is None else max(low, hint[0])
        b = hint[1] if high is None else min(high, hint[1])
        if a <= b:
            return a, b
    if low is None and high is None:
        return 1, span
    if low is None:
        return (min(high, 1) if high >= 1 else high - span), high
    if high is None:
        return low, low + span
    return low, high


def _integer_window(
    schema: Mapping[str, Any], bounds: tuple[Any, bool, Any, bool], name: str,
) -> tuple[int | None, int | None, int, int]:
    """Return (the schema's inclusive range, the realistic window inside it) for an integer."""
    ilow, ihigh = _integer_range(bounds, schema.get("format"))
    hint = formats.number_range_for_name(name) if name else None
    low, high = _pick_range(ilow, ihigh, hint, 1000)
    limits = _INT32 if schema.get("format") == "int32" else _INT64
    return ilow, ihigh, max(math.ceil(low), limits[0]), min(math.floor(high), limits[1])


def _integer_leaf(schema: Mapping[str, Any], bounds: tuple[Any, bool, Any, bool], name: str) -> _Leaf:
    """Return `_integer` for one schema and name, its window computed once."""
    step = schema.get("multipleOf")
    if isinstance(step, (int, float)) and not isinstance(step, bool) and step > 0:
        return lambda rng: _integer(schema, bounds, rng, name)
    _, _, low, high = _integer_window(schema, bounds, name)
    if low > high:
        return lambda rng: low
    return lambda rng: rng.randint(low, high)


def _integer(schema: Mapping[str, Any], bounds: tuple[Any, bool, Any, bool], rng: random.Random, name: str) -> int:
    """Return an integer within the bounds, a multiple of multipleOf, realistic for the name."""
    ilow, ihigh, low, high = _integer_window(schema, bounds, name)
    step = schema.get("multipleOf")
    if isinstance(step, (int, float)) and not isinstance(step, bool) and step > 0:
        step = Fraction(str(step)).numerator if not float(step).is_integer() else int(step)
        k_low, k_high = math.ceil(low / step), math.floor(high / step)
        if k_low > k_high and (ilow is not None or ihigh is not None):
            # the realistic window holds no multiple: fall back to the schema's own bounds
            # One of the two is set (checked above), so each fallback has its other bound.
            low = ilow if ilow is not None else (ihigh - step * 1000)  # type: ignore[operator]
            high = ihigh if ihigh is not None else (ilow + step * 1000)  # type: ignore[operator]
            k_low, k_high = math.ceil(low / step), math.floor(high / step)
        if k_low > k_high:
            return int(k_low * step)
        return int(rng.randint(k_low, k_high) * step)
    if low > high:
        return int(low)
    return rng.randint(low, high)


def _number(
    schema: Mapping[str, Any], bounds: tuple[Any, bool, Any, bool], rng: random.Random, name: str
) -> float | int:
    """Return a number within the (possibly exclusive) bounds, a multiple of multipleOf when asked."""
    low, low_x, high, high_x = bounds
    step = schema.get("multipleOf")
    hint = formats.number_range_for_name(name) if name else None
    if hint is not None and formats.is_money_name(name):
        hint = (1.0, 1000.0)
    a, b = _pick_range(low, high, hint, 1000.0)
    if isinstance(step, (int, float)) and not isinstance(step, bool) and step > 0:
        k_low, k_high = math.ceil(a / step), math.floor(b / step)
        first = rng.randint(k_low, k_high) if k_low <= k_high else k_low
        for k in (first, k_low, k_high, k_low + 1, k_high - 1, first + 1, first - 1):
            value: float | int = k * step if isinstance(step, int) else round(k * step, 10)
            if _is_multiple(value, step) and _inside(value, bounds):
                return value
        return first * step
    for _ in range(_RETRIES):
        value = round(rng.uniform(a, b), 2)
        if _inside(value, bounds):
            return value
    midpoint = (a + b) / 2
    return midpoint if _inside(midpoint, bounds) else a


def _is_multiple(value: float | int, step: float | int) -> bool:
    """Tell whether `value` is a multiple of `step` the way JSON Schema validators compute it."""
    if isinstance(step, float):
        quotient = value / step
        return math.isfinite(quotient) and int(quotient) == quotient
    return not value % step


def _inside(value: float, bounds: tuple[Any, bool, Any, bool]) -> bool:
    """Tell whether a number satisfies normalized bounds."""
    low, low_x, high, high_x = bounds
    if low is not None and (value < low or (low_x and value == low)):
        return False
    if high is not None and (value > high or (high_x and value == high)):
        return False
    return True

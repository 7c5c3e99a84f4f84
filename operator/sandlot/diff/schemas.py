"""Compare two JSON schemas by what they accept, not by how they are written.

Called by sandlot.diff.openapi for every parameter, request body and response body. A schema is
first reduced to a `View`: `$ref`s followed, `allOf` merged into one set of constraints, a
`oneOf`/`anyOf` whose only other branch is `null` (or that has a single branch) folded into the
schema with a nullable flag, 3.0's `nullable` and 3.1's `type: [..., "null"]` read alike. So
moving a schema into components, renaming a component, wrapping a `$ref` in `allOf` to add a
description, or re-ordering `oneOf` branches compares equal. `oneOf`/`anyOf` branches are paired
by equality first (order-free), then by title, component name or discriminator mapping, and only
the branches left over are reported added or removed.

Results are relative (a rule suffix or id, the property path below the compared schema, the two
pointers) and memoised per pair of views and side, so a component used by a hundred operations is
compared once. Recursive schemas stop where a pair of views is already being compared: its
differences are reported at the outer level.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from sandlot.diff.rules import BOUNDS, INFO, RULES, bound_rule
from sandlot.util.pointers import escape_token, resolve_pointer

REQUEST, RESPONSE = "request", "response"

Member = tuple[Any, str]  # (raw schema node, its JSON pointer)

_PROSE = {"$ref", "description", "summary", "$comment", "example", "examples", "externalDocs"}
_VALUE_ONLY = {"type", "enum", "const", "title", "description", "$comment", "example", "examples"}
_WIDER_FORMATS = {("int32", "int64"), ("float", "double")}
_OBJECT_HINTS = ("properties", "additionalProperties", "required", "minProperties", "maxProperties")
_ARRAY_HINTS = ("items", "minItems", "maxItems", "uniqueItems")
_STRING_HINTS = ("pattern", "minLength", "maxLength")


@dataclass(frozen=True)
class SchemaChange:
    """One difference below a compared schema pair.

    `rule` is a schema-rule suffix ("max-decreased", prefixed by the caller with where the schema
    sits) when `scoped`, else a full rule id ("new-required-request-property").
    """

    rule: str
    path: tuple[str, ...]
    old: str
    new: str
    args: dict[str, Any] = field(default_factory=dict)
    scoped: bool = True


@dataclass(eq=False)
class View:
    """What one schema (or a conjunction of schemas) accepts, with refs and allOf resolved."""

    members: tuple[Member, ...]
    pointer: str
    atoms: list[Member] = field(default_factory=list)  # the schemas whose own keywords were merged
    types: frozenset[str] | None = None        # declared (or inferred) types without "null"; None: any
    declared: bool = False                     # types came from `type`, not inferred
    nullable: bool = False
    format: str | None = None
    enum: dict[str, Any] | None = None         # canonical JSON -> value
    pattern: str | None = None
    bounds: dict[str, tuple[float, bool]] = field(default_factory=dict)  # keyword -> (value, exclusive)
    properties: dict[str, list[Member]] = field(default_factory=dict)
    required: set[str] = field(default_factory=set)
    items: list[Member] = field(default_factory=list)
    additional: list[Member] = field(default_factory=list)
    groups: list[tuple[str, list[Member]]] = field(default_factory=list)  # ("oneOf" | "anyOf", branches)
    read_only: bool = False
    write_only: bool = False
    title: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)  # discriminator value -> target pointer


def _is_null_schema(node: Any) -> bool:
    return isinstance(node, dict) and (node.get("type") == "null" or node.get("type") == ["null"])


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _intersect(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    """Return the types both accept (None: any); an integer is a number."""
    if a is None or b is None:
        return b if a is None else a
    both = set(a & b)
    if ("integer" in a and "number" in b) or ("number" in a and "integer" in b):
        both.add("integer")
    return frozenset(both)


class Schemas:
    """The views of one document's schemas, built on demand and cached by node identity."""

    def __init__(self, document: Any) -> None:
        self.document = document
        self._refs: dict[str, Member | None] = {}
        self._views: dict[tuple[int, ...], View] = {}
        self._building: set[tuple[int, ...]] = set()
        self._branches: dict[tuple[int, int], View] = {}

    def resolve(self, ref: str) -> Member | None:
        """Return (node, pointer) a local `$ref` names, or None when it names nothing."""
        if ref not in self._refs:
            pointer = ref[1:] if ref.startswith("#") else None
            try:
                self._refs[ref] = None if pointer is None else (resolve_pointer(self.document, pointer), pointer)
            except KeyError:
                self._refs[ref] = None
        return self._refs[ref]

    def deref(self, node: Any, pointer: str, *, prose_only: bool = False) -> Member:
        """Follow `$ref`s (of any OpenAPI object) to the node they name; stop at a dangling or looping one.

        With `prose_only`, follow only a `$ref` that has nothing but prose beside it.
        """
        for _ in range(32):
            if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)
                    and (not prose_only or node.keys() <= _PROSE)):
                break
            found = self.resolve(node["$ref"])
            if found is None:
                break
            node, pointer = found
        return node, pointer

    def view(self, members: tuple[Member, ...] | list[Member]) -> View:
        """Return the view of a conjunction of schemas (one member: a plain schema).

        A `$ref` with nothing but prose beside it is its target, so every use of a component
        shares one view (and one comparison, and recursion is seen at the first repeat).
        """
        members = tuple(self.deref(node, pointer, prose_only=True) for node, pointer in members)
        key = tuple(id(node) for node, _ in members)
        found = self._views.get(key)
        if found is not None:
            return found
        if key in self._building:  # allOf/ref cycle: the outer view holds the constraints
            return View(members, members[0][1] if members else "")
        self._building.add(key)
        try:
            view = self._build(members)
        finally:
            self._building.discard(key)
        self._views[key] = view
        return view

    def _atoms(self, node: Any, pointer: str, seen: set[int], out: list[Member],
               groups: list[tuple[str, list[Member]]]) -> bool:
        """Append the schemas a node is the conjunction of; return True when a branch allows null."""
        if not isinstance(node, dict) or id(node) in seen:
            return False
        seen.add(id(node))
        nullable = False
        ref = node.get("$ref")
        if isinstance(ref, str):
            found = self.resolve(ref)
            if found is not None:
                nullable |= self._atoms(found[0], found[1], seen, out, groups)
        for i, branch in enumerate(node.get("allOf") or ()):
            nullable |= self._atoms(branch, f"{pointer}/allOf/{i}", seen, out, groups)
        for kind in ("oneOf", "anyOf"):
            branches = node.get(kind)
            if not isinstance(branches, list):
                continue
            kept = []
            for i, branch in enumerate(branches):
                target = self.deref(branch, f"{pointer}/{kind}/{i}")
                if _is_null_schema(target[0]):
                    nullable = True
                else:
                    kept.append((branch, f"{pointer}/{kind}/{i}"))
            values = self._value_list([self.deref(*b)[0] for b in kept]) if len(kept) > 1 else None
            if len(kept) == 1:  # `oneOf: [X, null]` or `anyOf: [X]`: X itself
                nullable |= self._atoms(kept[0][0], kept[0][1], seen, out, groups)
            elif values is not None:  # `oneOf: [{const: a}, {const: b}]` is `enum: [a, b]`
                out.append((values, f"{pointer}/{kind}"))
            elif kept:
                groups.append((kind, kept))
        out.append((node, pointer))
        return nullable

    @staticmethod
    def _value_list(branches: list[Any]) -> dict[str, Any] | None:
        """Return `{type, enum}` when every branch only lists values (enum/const), else None."""
        values: list[Any] = []
        types: set[str] = set()
        for branch in branches:
            if not isinstance(branch, dict) or not branch.keys() <= _VALUE_ONLY:
                return None
            if "enum" not in branch and "const" not in branch:
                return None
            values += branch["enum"] if isinstance(branch.get("enum"), list) else [branch.get("const")]
            kind = branch.get("type")
            types.update(kind if isinstance(kind, list) else [kind] if kind else ["any"])
        merged: dict[str, Any] = {"enum": values}
        if "any" not in types:
            merged["type"] = sorted(types)
        return merged

    def _build(self, members: tuple[Member, ...]) -> View:
        atoms: list[Member] = []
        groups: list[tuple[str, list[Member]]] = []
        seen: set[int] = set()
        nullable = False
        for node, pointer in members:
            nullable |= self._atoms(node, pointer, seen, atoms, groups)
        first = self.deref(*members[0]) if members else (None, "")
        return self._merged(View(members, first[1], nullable=nullable, groups=groups), atoms)

    def _merged(self, view: View, atoms: list[Member]) -> View:
        view.atoms = atoms
        for node, pointer in atoms:
            self._merge(view, node, pointer)
        if view.types is None:
            view.types = _inferred_types(atoms)
        return view

    def branch_view(self, parent: View, branch: Member) -> View:
        """Return a oneOf/anyOf branch as a value must satisfy it: the branch and the parent's own keywords."""
        if not _has_own_constraints(parent):
            return self.view((branch,))
        key = (id(parent), id(branch[0]))
        found = self._branches.get(key)
        if found is None:
            atoms: list[Member] = []
            groups: list[tuple[str, list[Member]]] = []
            nullable = self._atoms(branch[0], branch[1], set(), atoms, groups)
            view = View((*parent.members, branch), self.deref(*branch)[1], nullable=nullable, groups=groups)
            found = self._branches[key] = self._merged(view, [*parent.atoms, *atoms])
        return found

    def _merge(self, view: View, node: dict[str, Any], pointer: str) -> None:
        """Add one schema's own keywords to a view (a conjunction: the stricter constraint wins)."""
        kind = node.get("type")
        if kind is not None:
            kinds = set(kind) if isinstance(kind, list) else {kind}
            if "null" in kinds:
                view.nullable = True
                kinds.discard("null")
            view.types = _intersect(view.types, frozenset(map(str, kinds)))
            view.declared = True
        if node.get("nullable") is True:
            view.nullable = True
        values = node.get("enum") if isinstance(node.get("enum"), list) else (
            [node["const"]] if "const" in node else None)
        if values is not None:
            if None in values:
                view.nullable = True
            found = {_canonical(v): v for v in values if v is not None}
            view.enum = found if view.enum is None else {k: v for k, v in view.enum.items() if k in found}
        view.format = view.format or (node.get("format") if isinstance(node.get("format"), str) else None)
        view.pattern = view.pattern or (node.get("pattern") if isinstance(node.get("pattern"), str) else None)
        view.title = view.title or (node.get("title") if isinstance(node.get("title"), str) else None)
        view.read_only |= node.get("readOnly") is True
        view.write_only |= node.get("writeOnly") is True
        _merge_bounds(view, node)
        for name, schema in (node.get("properties") or {}).items() if isinstance(node.get("properties"), dict) else ():
            where = f"{pointer}/properties/{escape_token(str(name))}"
            view.properties.setdefault(str(name), []).append((schema, where))
        if isinstance(node.get("required"), list):
            view.required.update(str(n) for n in node["required"])
        if isinstance(node.get("items"), dict):
            view.items.append((node["items"], f"{pointer}/items"))
        if isinstance(node.get("additionalProperties"), dict):
            view.additional.append((node["additionalProperties"], f"{pointer}/additionalProperties"))
        discriminator = node.get("discriminator")
        if isinstance(discriminator, dict) and isinstance(discriminator.get("mapping"), dict):
            for value, target in discriminator["mapping"].items():
                if isinstance(target, str) and target.startswith("#"):
                    view.mapping[str(value)] = target[1:]

    def label(self, member: Member) -> tuple[str | None, set[str]]:
        """Return a branch's name (title or component name; None) and the keys it may be paired by."""
        node, pointer = member
        target_pointer = self.deref(node, pointer)[1]
        view = self.view((member,))
        keys = {f"title:{view.title}"} if view.title else set()
        parts = target_pointer.split("/")
        named = len(parts) == 4 and parts[1] == "components" or len(parts) == 3 and parts[1] == "x-sandlot-bundled"
        if named:
            keys.add(f"name:{parts[-1]}")
        return view.title or (parts[-1] if named else None), keys


def _merge_bounds(view: View, node: dict[str, Any]) -> None:
    """Merge numeric, length and size bounds into a view, keeping the stricter of two."""
    for keyword, larger_accepts_more, _ in BOUNDS:
        value = node.get(keyword)
        exclusive = False
        if keyword in ("maximum", "minimum"):
            exclusive_keyword = "exclusiveMaximum" if keyword == "maximum" else "exclusiveMinimum"
            flag = node.get(exclusive_keyword)
            if isinstance(flag, bool):  # OpenAPI 3.0
                exclusive = flag
            elif isinstance(flag, (int, float)):  # OpenAPI 3.1
                if not isinstance(value, (int, float)) or (flag <= value if larger_accepts_more else flag >= value):
                    value, exclusive = flag, True
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        bound = (value, exclusive)
        current = view.bounds.get(keyword)
        if current is None or _accepts_more(current, bound, larger_accepts_more):
            view.bounds[keyword] = bound


def _accepts_more(a: tuple[float, bool], b: tuple[float, bool], larger_accepts_more: bool) -> bool:
    """Return True when bound `a` lets strictly more values through than bound `b`."""
    if a[0] != b[0]:
        return (a[0] > b[0]) == larger_accepts_more
    return b[1] and not a[1]


def _inferred_types(atoms: list[Member]) -> frozenset[str] | None:
    """Return the type a schema without `type` evidently means (properties: object ...), or None."""
    present = {k for node, _ in atoms for k in node}
    if present & set(_OBJECT_HINTS):
        return frozenset({"object"})
    if present & set(_ARRAY_HINTS):
        return frozenset({"array"})
    if present & set(_STRING_HINTS):
        return frozenset({"string"})
    return None


def _type_text(types: frozenset[str] | None, fmt: str | None) -> str:
    text = "/".join(sorted(types)) if types else "any"
    return f"{text}/{fmt}" if fmt else text


def _covers(wide: frozenset[str], narrow: frozenset[str]) -> bool:
    return all(t in wide or (t == "integer" and "number" in wide) for t in narrow)


def _format(view: View) -> str | None:
    """Return a view's format, None for one that adds nothing (int64 on integer, double on number)."""
    if (view.format, view.types) in (("int64", frozenset({"integer"})), ("double", frozenset({"number"}))):
        return None
    return view.format


def type_effect(old: View, new: View) -> str:
    """Return how the set of accepted types moved: same, narrowed, widened, changed or disjoint."""
    if old.types == new.types:
        old_format, new_format = _format(old), _format(new)
        if old_format == new_format:
            return "same"
        if new_format is None or (old_format, new_format) in _WIDER_FORMATS:
            return "widened"
        if old_format is None or (new_format, old_format) in _WIDER_FORMATS:
            return "narrowed"
        return "changed"
    if new.types is None:
        return "widened"
    if old.types is None:
        return "narrowed"
    if _covers(new.types, old.types):
        return "widened"
    if _covers(old.types, new.types):
        return "narrowed"
    return "changed" if _intersect(old.types, new.types) else "disjoint"


def _bound_text(bound: tuple[float, bool] | None) -> str:
    if bound is None:
        return "none"
    return f"{bound[0]:g} (exclusive)" if bound[1] else f"{bound[0]:g}"


class SchemaDiff:
    """Compares views of an old and a new document; results are memoised per pair and side."""

    def __init__(self, old: Schemas, new: Schemas) -> None:
        self.old, self.new = old, new
        self._memo: dict[tuple[int, int, str], list[SchemaChange]] = {}
        self._stack: dict[tuple[int, int, str], int] = {}
        self._low = 1 << 30  # shallowest stack depth a cycle was cut at, below the current pair

    def compare(self, old: View, new: View, side: str) -> list[SchemaChange]:
        """Return the differences between two views for a request or a response schema."""
        key = (id(old), id(new), side)
        found = self._memo.get(key)
        if found is not None:
            return found
        if key in self._stack:
            self._low = min(self._low, self._stack[key])
            return []
        depth = len(self._stack)
        self._stack[key] = depth
        outer_low, self._low = self._low, 1 << 30
        try:
            changes = self._compare(old, new, side)
        finally:
            del self._stack[key]
        # A result cut short by a cycle through an outer pair is only valid inside that pair.
        if self._low >= depth:
            self._memo[key] = changes
        self._low = min(outer_low, self._low)
        return changes

    def _compare(self, old: View, new: View, side: str) -> list[SchemaChange]:
        out: list[SchemaChange] = []
        request = side == REQUEST
        lifted = bool(old.groups) != bool(new.groups)  # alternatives on one side only: compare branch-wise

        def add(rule: str, args: dict[str, Any] | None = None) -> None:
            out.append(SchemaChange(rule, (), old.pointer, new.pointer, args or {}))

        if not lifted and not (old.types is None and old.groups) and not (new.types is None and new.groups):
            effect = type_effect(old, new)
            if effect != "same":
                args = {"old": _type_text(old.types, old.format), "new": _type_text(new.types, new.format)}
                if effect in ("changed", "disjoint") or effect == ("narrowed" if request else "widened"):
                    add("type-changed", args)
                else:
                    add("type-generalized" if request else "type-specialized", args)
                if effect == "disjoint":
                    return out  # nothing below compares meaningfully
        if old.nullable and not new.nullable and request:
            add("became-not-nullable")
        if new.nullable and not old.nullable and not request:
            add("became-nullable")
        if not lifted:
            self._compare_values(old, new, request, add)
            self._compare_properties(old, new, side, out)
            for key, old_members, new_members in (("items", old.items, new.items),
                                                  ("*", old.additional, new.additional)):
                if old_members and new_members:
                    below = self.compare(self.old.view(old_members), self.new.view(new_members), side)
                    out.extend(replace(c, path=(key, *c.path)) for c in below)
        if old.groups and new.groups:
            for (old_kind, old_branches), (new_kind, new_branches) in zip(old.groups, new.groups, strict=False):
                self._alternatives(old_kind, [(old, b) for b in old_branches], new_kind,
                                   [(new, b) for b in new_branches], side, out)
        elif lifted and new.groups:
            self._alternatives("", [(old, None)], new.groups[0][0],
                               [(new, b) for b in new.groups[0][1]], side, out)
        elif lifted:
            self._alternatives(old.groups[0][0], [(old, b) for b in old.groups[0][1]], "",
                               [(new, None)], side, out)
        return out

    def _compare_values(self, old: View, new: View, request: bool, add: Any) -> None:
        """Compare enum, pattern and bounds: what narrows a request or widens a response."""
        if old.enum is None and new.enum is not None and request:
            add("became-enum", {"new": ", ".join(_canonical(v) for v in new.enum.values())})
        elif old.enum is not None and new.enum is None and not request:
            add("became-not-enum", {"old": ", ".join(_canonical(v) for v in old.enum.values())})
        elif old.enum is not None and new.enum is not None:
            for key, value in old.enum.items():
                if key not in new.enum:
                    add("enum-value-removed", {"value": _canonical(value)})
            for key, value in new.enum.items():
                if key not in old.enum:
                    add("enum-value-added", {"value": _canonical(value)})
        if old.pattern != new.pattern:
            args = {"old": old.pattern, "new": new.pattern}
            if old.pattern is None and request:
                add("pattern-added", args)
            elif new.pattern is None and not request:
                add("pattern-removed", args)
            elif old.pattern is not None and new.pattern is not None:
                add("pattern-changed", args)
        for keyword, larger_accepts_more, stem in BOUNDS:
            before, after = old.bounds.get(keyword), new.bounds.get(keyword)
            if before == after:
                continue
            if before is None or after is None:
                wider = before is not None  # a bound removed accepts more, one set accepts less
            else:
                wider = _accepts_more(after, before, larger_accepts_more)
            if wider != request:  # a narrower request or a wider response
                add(bound_rule(stem, larger_accepts_more, wider),
                    {"old": _bound_text(before), "new": _bound_text(after)})

    def _compare_properties(self, old: View, new: View, side: str, out: list[SchemaChange]) -> None:
        """Compare object properties: added, removed, required or not, and each one's schema."""
        request = side == REQUEST
        for name in [*old.properties, *(n for n in new.properties if n not in old.properties)]:
            old_view = self.old.view(old.properties[name]) if name in old.properties else None
            new_view = self.new.view(new.properties[name]) if name in new.properties else None
            # readOnly properties are never sent, writeOnly ones never returned.
            old_seen = old_view is not None and not (old_view.read_only if request else old_view.write_only)
            new_seen = new_view is not None and not (new_view.read_only if request else new_view.write_only)
            was_required, is_required = name in old.required, name in new.required
            old_pointer = old_view.members[0][1] if old_view else old.pointer
            new_pointer = new_view.members[0][1] if new_view else new.pointer

            def add(rule: str, name: str = name, old_pointer: str = old_pointer,
                    new_pointer: str = new_pointer) -> None:
                out.append(SchemaChange(rule, (name,), old_pointer, new_pointer, scoped=False))

            if old_seen and new_seen:
                if is_required and not was_required and request:
                    add("request-property-became-required")
                elif was_required and not is_required:
                    add("request-property-became-optional" if request else "response-property-became-optional")
                below = self.compare(old_view, new_view, side)  # type: ignore[arg-type]
                out.extend(replace(c, path=(name, *c.path)) for c in below)
            elif new_seen:
                if request:
                    add("new-required-request-property" if is_required else "new-optional-request-property")
                else:
                    add("response-required-property-added" if is_required else "response-optional-property-added")
            elif old_seen:
                if request:
                    add("request-property-removed")
                else:
                    add("response-required-property-removed" if was_required else "response-optional-property-removed")

    def _alternatives(self, old_kind: str, old_branches: list[tuple[View, Member | None]], new_kind: str,
                      new_branches: list[tuple[View, Member | None]], side: str, out: list[SchemaChange]) -> None:
        """Pair oneOf/anyOf branches, compare each pair, report the branches left over.

        Pairing, in order: equal branches (any order, same position first); a new branch that
        still accepts (request) or no longer widens (response) an old one; the same title,
        component name or discriminator value; the one branch left on each side; then the
        closest branch of the same type. Only what is left after that was added or removed.
        """
        olds = [self._branch(self.old, parent, b) for parent, b in old_branches]
        news = [self._branch(self.new, parent, b) for parent, b in new_branches]
        old_keys = [self._keys(self.old, parent, b, i) for i, (parent, b) in enumerate(old_branches)]
        new_keys = [self._keys(self.new, parent, b, j) for j, (parent, b) in enumerate(new_branches)]
        pairs: dict[int, int] = {}

        def free(i: int) -> list[int]:  # unpaired new branches, the same position first
            return [j for j in sorted(range(len(news)), key=lambda j: j != i) if j not in pairs.values()]

        for exact in (True, False):
            for i in range(len(olds)):
                for j in free(i) if i not in pairs else ():
                    if not self.compare(olds[i], news[j], side) if exact else self._covers(olds[i], news[j], side):
                        pairs[i] = j
                        break
        for i in range(len(olds)):
            for j in free(i) if i not in pairs else ():
                if old_keys[i][1] & new_keys[j][1]:
                    pairs[i] = j
                    break
        rest_old = [i for i in range(len(olds)) if i not in pairs]
        rest_new = free(-1)
        if len(rest_old) == 1 and len(rest_new) == 1:
            pairs[rest_old[0]] = rest_new[0]
        else:
            costs = sorted((len(self.compare(olds[i], news[j], side)), abs(i - j), i, j)
                           for i in rest_old for j in rest_new if olds[i].types == news[j].types)
            for _, _, i, j in costs:
                if i not in pairs and j not in pairs.values():
                    pairs[i] = j
        for i, j in sorted(pairs.items()):
            name = new_keys[j][0] if new_kind else old_keys[i][0]
            below = self.compare(olds[i], news[j], side)
            out.extend(replace(c, path=(f"{new_kind or old_kind}[{name}]", *c.path)) for c in below)
        # A branch left over is still no change when another branch covers it (a new one that accepts
        # all it accepted, an old one that allowed all it returns), even one already paired.
        suffix = {"oneOf": "one-of", "anyOf": "any-of"}
        if side == REQUEST and old_kind:
            for i in range(len(olds)):
                if i not in pairs and not any(self._covers(olds[i], other, side) for other in news):
                    out.append(SchemaChange(f"{suffix[old_kind]}-removed", (), olds[i].pointer,
                                            news[0].pointer if news else "",
                                            {"value": _branch_text(old_keys[i][0], olds[i])}))
        if side == RESPONSE and new_kind:
            for j in free(-1):
                if not any(self._covers(other, news[j], side) for other in olds):
                    out.append(SchemaChange(f"{suffix[new_kind]}-added", (), olds[0].pointer if olds else "",
                                            news[j].pointer, {"value": _branch_text(new_keys[j][0], news[j])}))

    def _covers(self, old: View, new: View, side: str) -> bool:
        """Return True when going from `old` to `new` breaks nothing (information at most)."""
        return not any(_breaks(c, side) for c in self.compare(old, new, side))

    @staticmethod
    def _branch(schemas: Schemas, parent: View, branch: Member | None) -> View:
        return parent if branch is None else schemas.branch_view(parent, branch)

    @staticmethod
    def _keys(schemas: Schemas, parent: View, branch: Member | None, index: int) -> tuple[str, set[str]]:
        """Return a branch's name in messages (title, component name, else its 1-based position) and
        the keys it pairs by."""
        name, keys = schemas.label(branch or parent.members[0]) if branch or parent.members else (None, set())
        if branch is not None:
            target = schemas.deref(*branch)[1]
            keys |= {f"mapping:{value}" for value, pointer in parent.mapping.items() if pointer == target}
        return name or str(index + 1), keys


def _breaks(change: SchemaChange, side: str) -> bool:
    """Return True when a schema change is an error or a warning (not merely information)."""
    rule = f"{side}-body-{change.rule}" if change.scoped else change.rule
    return RULES[rule].level != INFO


def _branch_text(name: str, view: View) -> str:
    kind = "/".join(sorted(view.types)) if view.types else "any"
    return f"#{name} ({kind})" if name.isdigit() else f"'{name}'"


def _has_own_constraints(view: View) -> bool:
    """Return True when a schema with oneOf/anyOf also constrains values itself (type, properties ...)."""
    return bool(view.declared or view.properties or view.enum is not None or view.bounds or view.pattern
                or view.items or view.required or view.nullable)

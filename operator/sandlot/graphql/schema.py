"""Load a GraphQL schema for serving: SDL files (one or several), a URL, a ConfigMap manifest, or an
introspection result (JSON), built by graphql-core.

Called by the GraphQL engine (`GraphQLEngine.from_source`, graphql/engine.py) for `sandlot mock
schema.graphql` and the stubs of `sandlot up` and the operator, and by `sandlot mock --check`
(`check_schema`). Every problem is a `SchemaError` naming the file, line and column.

Real published schemas are not always valid: GitHub's public SDL defines fields of a type twice.
graphql-js (and graphql-core) refuse such a document outright; here a duplicate that is the same
definition (descriptions aside) is merged, with a warning naming the file and both lines, and a
duplicate that differs is refused naming both places. The directives graphql-faker users write
(`@fake`, `@examples`, `@listLength`) and Sandlot's own (`@example`, `@magic`) are declared
when the schema uses them without declaring them, as graphql-faker does.

A schema served from SDL is parsed once: the merged document is kept in the user's cache
directory (graphql/cache.py, keyed by the sources' text and the versions), so a restart on the
same SDL skips graphql-core's parser (most of a large schema's start-up).

Serving builds the schema with graphql-core's `assume_valid` (the SDL rules cost seconds on a
large schema); when the build fails the SDL rules run to name the place. `--check` runs every
rule: graphql-core's SDL validation and its schema validation.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    Source,
    build_ast_schema,
    is_specified_scalar_type,
    parse,
    print_ast,
    validate_schema,
)
from graphql.language import ast
from graphql.validation.validate import validate_sdl

from sandlot.graphql import cache as sdl_cache
from sandlot.openapi.loader import SpecError
from sandlot.util.introspection import (
    SDL_SUFFIXES,
    IntrospectionError,
    schema_from_introspection,
)
from sandlot.util.sources import SourceError, configmap_payload, read_file, read_url

log = logging.getLogger("sandlot.graphql")


#: Directives Sandlot understands, declared for a schema that uses them without declaring them.
#: `@fake`, `@examples` and `@listLength` are graphql-faker's; `@example` and `@magic` are Sandlot's.
KNOWN_DIRECTIVES = {
    "fake": "directive @fake(type: sandlot__Any!, options: sandlot__Any, locale: sandlot__Any) "
            "on FIELD_DEFINITION | SCALAR",
    "examples": "directive @examples(values: [sandlot__Any]!) on FIELD_DEFINITION | SCALAR",
    "example": "directive @example(value: sandlot__Any!) on FIELD_DEFINITION | SCALAR",
    "listLength": "directive @listLength(min: Int!, max: Int!) on FIELD_DEFINITION",
    "magic": "directive @magic(value: sandlot__Any!, error: String!, code: String) repeatable "
             "on ARGUMENT_DEFINITION | INPUT_FIELD_DEFINITION",
}
ANY_SCALAR = "sandlot__Any"


class SchemaError(SpecError):
    """A schema that cannot be served: names the file, line and column, and the problem (a
    SpecError, so the command line and the reloader report it as they report a bad spec)."""

    def __init__(self, problem: str, *, file: str = "", line: int | None = None, column: int | None = None) -> None:
        super().__init__(problem, file=file or "<schema>", line=line, column=column)


@dataclass
class LoadedSchema:
    """A built schema and where it came from."""

    schema: GraphQLSchema
    source: str  # what the user named (joined with ", " for several files)
    files: list[str] = field(default_factory=list)  # local files read (what a reloader watches)
    warnings: list[str] = field(default_factory=list)
    introspection: bool = False  # built from an introspection result (no SDL directives to read)


def _texts(sources: Sequence[str]) -> list[tuple[str, str, bool]]:
    """Return (name, text, is_local_file) for every source: files, directories, URLs, ConfigMaps."""
    found: list[tuple[str, str, bool]] = []
    for source in sources:
        try:
            if source.startswith(("http://", "https://")):
                found.append((source, read_url(source), False))
                continue
            path = Path(source)
            if path.is_dir():
                members = sorted(p for p in path.iterdir() if p.suffix.lower() in SDL_SUFFIXES)
                if not members:
                    raise SchemaError(f"the directory holds no {', '.join(SDL_SUFFIXES)} files", file=source)
                found += [(str(p), read_file(p), True) for p in members]
                continue
            text = read_file(source)
        except SourceError as exc:
            raise SchemaError(str(exc).removeprefix(f"{source}: "), file=source) from None
        payload = configmap_payload(text, source) if source.endswith((".yaml", ".yml")) else None
        if payload is not None:
            found.append((f"{source} (key {payload[0]})", payload[1], True))
        else:
            found.append((source, text, True))
    return found


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a schema is built: the hundreds of thousands
    of AST and type objects of a large schema set it off again and again (it traverses everything
    alive each time), which doubled the parse and the load of GitHub's schema. Nothing built
    here is garbage; the collector runs again afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_schema(sources: str | Sequence[str], *, check: bool = False) -> LoadedSchema:
    """Load and build a schema from SDL files, a directory, a URL, a ConfigMap manifest or an
    introspection result (raises SchemaError). `check` runs every validation rule."""
    with _collector_paused():
        return _load_schema(sources, check)


def _load_schema(sources: str | Sequence[str], check: bool) -> LoadedSchema:
    names = [sources] if isinstance(sources, str) else list(sources)
    if not names:
        raise SchemaError("no schema given")
    texts = _texts(names)
    files = [os.path.abspath(n) for n, _, local in texts if local and Path(n).is_file()]
    label = ", ".join(names)
    jsons = [(n, t) for n, t, _ in texts if t.lstrip().startswith(("{", "["))]
    if jsons:
        if len(texts) > 1:
            raise SchemaError("an introspection result (JSON) is a whole schema: serve it alone, "
                              "not together with other files", file=jsons[0][0])
        name, text = jsons[0]
        return LoadedSchema(_from_introspection(name, text), label, files, [], True)
    key = sdl_cache.key_for([(n, t) for n, t, _ in texts])
    cached = None if check else sdl_cache.load(key)
    if cached is not None:  # parsed and merged before (graphql/cache.py): no locations, no rules to run
        document, warnings = cached
        try:
            return LoadedSchema(build(document), label, files, warnings)
        except SchemaError:
            log.info("graphql: the cached schema document does not build; parsing the schema")
    documents = []
    for name, text, _ in texts:
        try:
            documents.append(parse(Source(text, name)))
        except GraphQLSyntaxError as exc:
            raise _located(exc, f"invalid GraphQL SDL: {exc.message}") from None
    warnings = []
    document = merge_documents(documents, warnings)
    if any(f"@{name}" in text for _, text, _ in texts for name in KNOWN_DIRECTIVES):  # skip the walk if none
        document = declare_known_directives(document)
    schema = build(document, check=check)
    sdl_cache.store(key, document, warnings)
    return LoadedSchema(schema, label, files, warnings)


def _from_introspection(name: str, text: str) -> GraphQLSchema:
    try:
        return schema_from_introspection(text)
    except IntrospectionError as exc:
        raise SchemaError(str(exc), file=name, line=exc.line, column=exc.column) from None


def _located(error: GraphQLError, problem: str | None = None) -> SchemaError:
    """Return a SchemaError at the error's first location (its file is the node's source)."""
    source = error.source
    locations = error.locations or []
    if error.nodes and error.nodes[0].loc is not None:
        source = error.nodes[0].loc.source
    first = locations[0] if locations else None
    message = problem or error.message
    if len(locations) > 1:
        message += " (also at " + ", ".join(f"line {loc.line} column {loc.column}" for loc in locations[1:]) + ")"
    return SchemaError(message, file=source.name if source else "",
                       line=first.line if first else None, column=first.column if first else None)


def build(document: DocumentNode, *, check: bool = False) -> GraphQLSchema:
    """Build a schema from a merged SDL document (raises SchemaError at the first problem's place)."""
    if check:
        errors = validate_sdl(document)
        if errors:
            raise _located(errors[0])
    try:
        schema = build_ast_schema(document, assume_valid=not check, assume_valid_sdl=not check)
    except (TypeError, GraphQLError) as exc:
        errors = validate_sdl(document)  # name the place
        if errors:
            raise _located(errors[0]) from None
        raise SchemaError(f"invalid GraphQL schema: {exc}") from None
    if check:
        errors = validate_schema(schema)
        if errors:
            raise _located(errors[0])
    return schema


# -- duplicates -------------------------------------------------------------------------------------

def _where(node: ast.Node) -> tuple[str, int]:
    """Return (file, line) of a definition: the line of its name (not of its description)."""
    name = getattr(node, "name", None)
    loc = name.loc if name is not None and name.loc is not None else node.loc
    if loc is None:
        return "<schema>", 0
    return loc.source.name, loc.start_token.line


def _place(node: ast.Node) -> str:
    name, line = _where(node)
    return f"{name} line {line}"


def _without_descriptions(node: ast.Node) -> str:
    """Return a node printed without its descriptions (what identical means here)."""
    text: str = print_ast(_strip(node))
    return text


def _strip(node: Any) -> Any:
    if isinstance(node, ast.Node):
        values = {}
        for key in node.keys:
            if key == "loc":
                continue
            value = getattr(node, key, None)
            values[key] = None if key == "description" else _strip(value)
        return type(node)(**values)
    if isinstance(node, tuple | list):
        return tuple(_strip(v) for v in node)
    return node


_MEMBER_LISTS = ("fields", "values", "arguments")


def _dedupe_members(definition: Any, owner: str, warnings: list[str]) -> Any:
    """Return the definition with identical duplicate members (fields, input fields, enum values,
    arguments) merged; raise SchemaError for duplicates that differ."""
    changes: dict[str, Any] = {}
    for key in _MEMBER_LISTS:
        members = getattr(definition, key, None)
        if not members:
            continue
        kept: list[Any] = []
        seen: dict[str, Any] = {}
        for member in members:
            inner = _dedupe_members(member, f"{owner}.{member.name.value}", warnings) \
                if getattr(member, "arguments", None) else member
            name = inner.name.value
            first = seen.get(name)
            if first is None:
                seen[name] = inner
                kept.append(inner)
                continue
            label = f"{owner}.{name}" if key != "arguments" else f"{owner}({name}:)"
            if _without_descriptions(first) != _without_descriptions(inner):
                raise SchemaError(f"{label} is defined twice, differently: at {_place(first)} and at "
                                  f"{_place(inner)}; remove one of them", file=_where(inner)[0],
                                  line=_where(inner)[1])
            note = "" if print_ast(first) == print_ast(inner) else " (their descriptions differ; the first is kept)"
            warnings.append(f"{_where(inner)[0]}: {label} is defined twice, identically, at lines "
                            f"{_where(first)[1]} and {_where(inner)[1]}; serving one{note}")
        if len(kept) != len(members):
            changes[key] = tuple(kept)
    if not changes:
        return definition
    values = {k: getattr(definition, k, None) for k in definition.keys}
    values.update(changes)
    return type(definition)(**values)


def merge_documents(documents: Iterable[DocumentNode], warnings: list[str]) -> DocumentNode:
    """Return one document holding every definition of `documents`, duplicates merged (identical
    ones, with a warning) or refused (SchemaError naming both places)."""
    definitions: list[Any] = []
    by_name: dict[tuple[str, str], Any] = {}
    for document in documents:
        for definition in document.definitions:
            name_node = getattr(definition, "name", None)
            if name_node is None or isinstance(definition, ast.TypeExtensionNode):
                definitions.append(_dedupe_members(definition, "extend", warnings)
                                   if name_node is None else
                                   _dedupe_members(definition, name_node.value, warnings))
                continue
            kind = "directive" if isinstance(definition, ast.DirectiveDefinitionNode) else "type"
            key = (kind, name_node.value)
            definition = _dedupe_members(definition, name_node.value, warnings)
            first = by_name.get(key)
            if first is None:
                by_name[key] = definition
                definitions.append(definition)
                continue
            label = f"@{name_node.value}" if kind == "directive" else name_node.value
            if _without_descriptions(first) != _without_descriptions(definition):
                raise SchemaError(f"{label} is defined twice, differently: at {_place(first)} and at "
                                  f"{_place(definition)}; remove one, or make the second an `extend`",
                                  file=_where(definition)[0], line=_where(definition)[1])
            warnings.append(f"{label} is defined twice, identically, at {_place(first)} and at "
                            f"{_place(definition)}; serving one")
    return ast.DocumentNode(definitions=tuple(definitions))


def declare_known_directives(document: DocumentNode) -> DocumentNode:
    """Return the document with a declaration added for every known directive it uses but does
    not declare (`@fake`, `@examples`, `@listLength`, `@example`, `@magic`)."""
    declared = {d.name.value for d in document.definitions if isinstance(d, ast.DirectiveDefinitionNode)}
    types = {d.name.value for d in document.definitions
             if isinstance(d, ast.TypeDefinitionNode) and getattr(d, "name", None)}
    used: set[str] = set()
    _collect_directives(document, used)
    missing = [name for name in KNOWN_DIRECTIVES if name in used and name not in declared]
    if not missing:
        return document
    extra = "\n".join(KNOWN_DIRECTIVES[name] for name in missing)
    if ANY_SCALAR not in types:
        extra += f'\n"Any JSON value (arguments of Sandlot\'s and graphql-faker\'s directives)."\nscalar {ANY_SCALAR}'
    added = parse(Source(extra, "<sandlot directives>"))
    return ast.DocumentNode(definitions=(*document.definitions, *added.definitions))


def _collect_directives(node: Any, used: set[str]) -> None:
    if isinstance(node, ast.DirectiveNode):
        used.add(node.name.value)
        return
    if isinstance(node, ast.Node):
        for key in node.keys:
            if key not in ("loc", "description", "name", "type", "default_value"):
                _collect_directives(getattr(node, key, None), used)
    elif isinstance(node, tuple | list):
        for item in node:
            _collect_directives(item, used)


def check_schema(sources: str | Sequence[str]) -> tuple[LoadedSchema | None, str, list[SchemaError]]:
    """Validate a schema with every rule graphql-core has (its SDL rules, then its schema rules).

    Return the schema (None when it cannot be built), the one-line summary `--check` prints, and
    every problem found, each at its file, line and column. A schema with problems may still be
    served (duplicates merged, the rules a server does not need skipped): `--check` is the strict
    judge. Raise SchemaError for a source that cannot be read or parsed at all."""
    loaded = load_schema(sources)  # reads, parses, merges duplicates (builds with assume_valid)
    problems: list[SchemaError] = []
    strict = loaded.schema
    if not loaded.introspection:
        names = names_of(sources)
        document = _document_of(names)
        problems += [_located(e) for e in validate_sdl(document)]
        if not problems:
            strict = build_ast_schema(document, assume_valid_sdl=True)  # not assume_valid: the rules run
    else:
        strict = _strict_introspection(names_of(sources))
    problems += [_located(e) if e.nodes else SchemaError(e.message, file=loaded.source)
                 for e in validate_schema(strict)]
    schema = loaded.schema
    roots = [(kind, t) for kind, t in (("query", schema.query_type), ("mutation", schema.mutation_type),
                                         ("subscription", schema.subscription_type)) if t is not None]
    if not roots:
        problems.append(SchemaError("the schema has no Query type: nothing could be asked of it", file=loaded.source))
    counts = ", ".join(f"{len(t.fields)} {kind} fields" for kind, t in roots)
    types = sum(1 for name, type_ in schema.type_map.items()
                if not name.startswith("__") and name != ANY_SCALAR and not is_specified_scalar_type(type_))
    return loaded, f"{types} types, {counts}", problems


def names_of(sources: str | Sequence[str]) -> list[str]:
    """Return the sources as a list."""
    return [sources] if isinstance(sources, str) else list(sources)


def _strict_introspection(names: Sequence[str]) -> GraphQLSchema:
    """Return an introspection result's schema built without assume_valid (so its rules run)."""
    name, text, _ = _texts(names)[0]
    try:
        return schema_from_introspection(text, assume_valid=False)
    except IntrospectionError as exc:
        raise SchemaError(str(exc), file=name, line=exc.line, column=exc.column) from None


def _document_of(names: Sequence[str]) -> DocumentNode:
    """Return the merged SDL document of sources (as load_schema built it)."""
    documents = [parse(Source(text, name)) for name, text, _ in _texts(names)]
    return declare_known_directives(merge_documents(documents, []))

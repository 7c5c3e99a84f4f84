"""Load an OpenAPI 3.0/3.1 document from a path or URL into one self-contained dict.

Called by the engine (and `sandlot mock --check`). Every `$ref` in the result is
local (`#/...`): documents split over many files are *bundled*, each externally
referenced node copied once under `#/x-sandlot-bundled/<name>` and every reference
to it rewritten, so recursive schemas stay references rather than being expanded.
Validation and generation therefore only ever resolve local JSON pointers.

Problems raise `SpecError`, whose message names the file, the JSON pointer and
what is wrong.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sandlot.util import fastjson, netguard
from sandlot.util.pointers import escape_token, resolve_pointer

BUNDLE_KEY = "x-sandlot-bundled"
_URL_TIMEOUT_S = 30
#: The largest document read from a URL (GitHub's spec is 13 MB).
_URL_MAX_BYTES = 64 << 20
_EXTERNAL_REF_IN_JSON = re.compile(rb'"\$ref"\s*:\s*"(?!#)')
_LOCAL_REF_IN_JSON = re.compile(rb'"\$ref"\s*:\s*"(#[^"]*)"')
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_SCHEMA_KEYWORDS = {"type", "properties", "allOf", "oneOf", "anyOf", "items", "$ref", "enum", "not",
                    "additionalProperties", "format", "nullable", "const"}


class SpecError(Exception):
    """An OpenAPI document that cannot be served: names the file, the JSON pointer and the problem."""

    def __init__(self, problem: str, *, file: str = "", pointer: str = "", line: int | None = None,
                 column: int | None = None) -> None:
        self.problem = problem
        self.file = file
        self.pointer = pointer
        self.line = line  # 1-based, for text that does not parse
        self.column = column
        where = file or "<spec>"
        if line is not None:
            where += f" line {line}" + (f" column {column}" if column is not None else "")
        super().__init__(f"{where}: at {pointer or '/'}: {problem}" if pointer else f"{where}: {problem}")


class ExternalRefRefused(SpecError):
    """A `$ref` to another file or URL in a document loaded with `external_refs=False`: nothing was read."""


@dataclass
class Spec:
    """A loaded, bundled OpenAPI document and where it came from."""

    document: dict[str, Any]
    source: str
    openapi: str  # the document's `openapi` field, e.g. "3.0.3"
    files: list[str] = field(default_factory=list)  # local files read (to watch for changes)
    # bundled node name -> (file or URL, JSON pointer in it): where `#/x-sandlot-bundled/NAME` came from
    origins: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def version(self) -> str:
        """Return "3.0" or "3.1"."""
        return self.openapi[:3]


class _NoTimestampLoader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):  # type: ignore[misc]
    """A YAML loader that keeps dates as strings: OpenAPI examples must stay JSON values."""


_NoTimestampLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def _read(location: str) -> bytes:
    """Read a file or URL; raise SpecError naming it when that fails."""
    try:
        if _is_url(location):  # the one URL fetch, open to its user's reach
            return netguard.fetch(location, netguard.USER_REACH, timeout=_URL_TIMEOUT_S, max_bytes=_URL_MAX_BYTES)
        return Path(location).read_bytes()
    except netguard.FetchError as exc:
        raise SpecError(f"cannot read the document: {exc.message}", file=location) from exc
    except (OSError, ValueError) as exc:
        raise SpecError(f"cannot read the document: {exc}", file=location) from exc


def _parse(location: str, raw: bytes) -> Any:
    """Parse JSON or YAML text; raise SpecError with the line when it is malformed."""
    head = raw.lstrip()[:1]
    if head in (b"{", b"["):
        try:
            return fastjson.loads(raw)
        except json.JSONDecodeError as exc:
            if location.endswith(".json"):
                raise SpecError(f"invalid JSON: {exc.msg}", file=location, line=exc.lineno, column=exc.colno) from exc
        except ValueError as exc:  # not UTF-8
            if location.endswith(".json"):
                raise SpecError(f"invalid JSON: {exc}", file=location) from exc
    try:
        return yaml.load(raw, Loader=_NoTimestampLoader)  # noqa: S506 (a safe loader subclass)
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(location, exc) from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML: {exc}".replace("\n", " "), file=location) from exc


def _yaml_error(location: str, exc: yaml.MarkedYAMLError) -> SpecError:
    """Return a YAML syntax error as "FILE line L column C: invalid YAML: problem (context ...)".

    PyYAML's own text names the file "<byte string>" (it parsed bytes) and spreads over lines.
    """
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "cannot be parsed"
    if exc.problem and exc.context:
        problem += f" ({exc.context}"
        start = exc.context_mark
        if start is not None and (mark is None or (start.line, start.column) != (mark.line, mark.column)):
            problem += f" started at line {start.line + 1} column {start.column + 1}"
        problem += ")"
    return SpecError(f"invalid YAML: {problem}", file=location,
                     line=None if mark is None else mark.line + 1, column=None if mark is None else mark.column + 1)


def _join(base: str, relative: str) -> str:
    """Resolve a reference's document part against the referring document's location."""
    if _is_url(base) or _is_url(relative):
        return urllib.parse.urljoin(base, relative)
    relative = urllib.parse.unquote(relative)
    if relative.startswith("file://"):
        relative = relative[len("file://"):]
    return os.path.normpath(os.path.join(os.path.dirname(base), relative))


class _Bundler:
    """Walk a document and its referenced files, rewriting every `$ref` to a local pointer."""

    def __init__(self, root: Any, root_location: str, external_refs: bool = True) -> None:
        self.root = root
        self.root_location = root_location
        self.external_refs = external_refs
        self.docs: dict[str, Any] = {root_location: root}
        self.local: dict[tuple[str, str], str] = {}
        self.bundled: dict[str, Any] = {}
        self.names: set[str] = set()
        self.seen: dict[int, Any] = {}  # id -> node; holding the node keeps its id from being reused
        self.pending: list[tuple[Any, Any, str, str]] = []  # (container, key, location, pointer)
        self.root_refs: dict[str, str] = {}  # root-local `$ref` -> the pointer of its first use
        self.origins: dict[str, tuple[str, str]] = {}  # bundled name -> (location, fragment)

    def run(self) -> None:
        """Rewrite the whole tree in place; attach the bundled nodes to the root."""
        self.pending.append(({"": self.root}, "", self.root_location, ""))
        while self.pending:
            container, key, location, pointer = self.pending.pop()
            self._visit(container, key, location, pointer)
        self._check_root_refs()
        if self.bundled:
            self.root[BUNDLE_KEY] = self.bundled

    def _check_root_refs(self) -> None:
        """Raise SpecError for the first root-local `$ref` whose target does not exist.

        Refs into other files are checked as they are bundled; the root's own `#/...` refs are
        only collected on the walk, so each distinct one costs one lookup here.
        """
        for ref, pointer in self.root_refs.items():
            try:
                resolve_pointer(self.root, ref[1:])
            except KeyError:
                raise _dangling(ref, self.root_location, pointer) from None

    def _doc(self, location: str, referrer: str, pointer: str) -> Any:
        if location not in self.docs:
            if not self.external_refs:
                raise ExternalRefRefused(
                    f"$ref to {location}: this document may refer to nothing outside itself (another file or "
                    "a URL); bundle it into one document first (e.g. `npx @redocly/cli bundle`)",
                    file=referrer, pointer=pointer)
            try:
                self.docs[location] = _parse(location, _read(location))
            except SpecError as exc:
                at = f" line {exc.line} column {exc.column}" if exc.line is not None else ""
                raise SpecError(
                    f"$ref to {location}{at} failed: {exc.problem}", file=referrer, pointer=pointer
                ) from exc
        return self.docs[location]

    def _name(self, location: str, fragment: str) -> str:
        stem = Path(urllib.parse.urlparse(location).path).stem or "doc"
        tail = ".".join(t for t in fragment.split("/") if t)
        base = _NAME_UNSAFE.sub("_", f"{stem}.{tail}" if tail else stem)
        name, n = base, 1
        while name in self.names:
            n += 1
            name = f"{base}_{n}"
        self.names.add(name)
        return name

    def _target(self, ref: str, location: str, pointer: str) -> tuple[str, Any] | None:
        """Return (local ref, node) for a reference seen in `location`; None when it is root-local."""
        doc_part, _, fragment = ref.partition("#")
        fragment = urllib.parse.unquote(fragment)
        target_loc = _join(location, doc_part) if doc_part else location
        if target_loc == self.root_location:
            try:
                node = resolve_pointer(self.root, fragment)
            except KeyError:
                raise SpecError(
                    f"$ref {ref!r} does not resolve in {self.root_location}", file=location, pointer=pointer
                ) from None
            return "#" + fragment, node
        key = (target_loc, fragment)
        doc = self._doc(target_loc, location, pointer)
        try:
            node = resolve_pointer(doc, fragment)
        except KeyError:
            raise SpecError(
                f"$ref {ref!r} does not resolve: {target_loc} has nothing at {fragment or '/'}",
                file=location, pointer=pointer,
            ) from None
        if key not in self.local and isinstance(node, dict):
            name = self._name(target_loc, fragment)
            self.local[key] = f"#/{BUNDLE_KEY}/{escape_token(name)}"
            self.bundled[name] = node
            self.origins[name] = (target_loc, fragment)
            self.pending.append((self.bundled, name, target_loc, fragment))
        return self.local.get(key, ""), node

    def _visit(self, container: Any, key: Any, location: str, pointer: str) -> None:
        node = container[key]
        if isinstance(node, list):
            for i in range(len(node)):
                if isinstance(node[i], (dict, list)):
                    self.pending.append((node, i, location, f"{pointer}/{i}"))
            return
        if id(node) in self.seen:
            return
        self.seen[id(node)] = node
        if any(not isinstance(k, str) for k in node):  # YAML `200:` keys are ints
            for k in [k for k in node if not isinstance(k, str)]:
                node[str(k).lower() if isinstance(k, bool) else str(k)] = node.pop(k)
        ref = node.get("$ref")
        if isinstance(ref, str) and location == self.root_location and ref.startswith("#"):
            self.root_refs.setdefault(ref, pointer + "/$ref")
        elif isinstance(ref, str):
            local_ref, target = self._target(ref, location, pointer + "/$ref")  # type: ignore[misc]  # not root-local here
            if not local_ref:  # a non-object target (a description string ...): inline it
                container[key] = target
                return
            if key == "properties" and len(node) == 1 and not (target.keys() & _SCHEMA_KEYWORDS):
                # `properties: {$ref: file#/map}` stands for the map itself (ref tools inline it);
                # kept as a ref it would read as a property called "$ref".
                doc_part, _, fragment = ref.partition("#")
                container[key] = target
                self.pending.append((container, key, _join(location, doc_part) if doc_part else location,
                                     urllib.parse.unquote(fragment)))
                return
            node["$ref"] = local_ref
        mapping = node.get("mapping") if key == "discriminator" or "propertyName" in node else None
        if isinstance(mapping, dict):
            for name, value in list(mapping.items()):
                if isinstance(value, str) and ("#" in value or "/" in value or "." in value):
                    found = self._target(value, location, f"{pointer}/mapping/{escape_token(name)}")
                    if found and found[0]:
                        mapping[name] = found[0]
        for k, v in node.items():
            if isinstance(v, (dict, list)):
                self.pending.append((node, k, location, f"{pointer}/{escape_token(k)}"))

    def files(self) -> list[str]:
        """Return the local files that make up the document (root first)."""
        return [loc for loc in self.docs if not _is_url(loc)]


def _check_local_refs_json(raw: bytes, document: Any, location: str) -> None:
    """Check every local `$ref` in a JSON text resolves (cheap: one regex, one lookup per distinct ref)."""
    for found in set(_LOCAL_REF_IN_JSON.findall(raw)):
        ref = json.loads(b'"' + found + b'"') if b"\\" in found else found.decode()  # `#\/a` is `#/a`
        try:
            resolve_pointer(document, ref[1:])
        except KeyError:
            raise _dangling(ref, location, _find_ref(document, ref) or "") from None


def _dangling(ref: str, location: str, pointer: str) -> SpecError:
    """Return the error for a local `$ref` whose target is missing: file, where the ref is, what it wants."""
    return SpecError(f"$ref {ref!r} does not resolve: {location} has nothing at {ref[1:] or '/'}",
                     file=location, pointer=pointer)


def _find_ref(document: Any, ref: str) -> str | None:
    """Return the JSON pointer of the first `$ref` equal to `ref` (for error messages)."""
    stack: list[tuple[Any, str]] = [(document, "")]
    while stack:
        node, pointer = stack.pop()
        if isinstance(node, dict):
            if node.get("$ref") == ref:
                return pointer + "/$ref"
            stack.extend((v, f"{pointer}/{escape_token(str(k))}") for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{pointer}/{i}") for i, v in enumerate(node))
    return None


def _check_header(document: Any, location: str) -> str:
    """Check the document is an OpenAPI 3.0/3.1 object and return its `openapi` version."""
    if not isinstance(document, dict):
        raise SpecError("the document is not a JSON/YAML object", file=location)
    if "swagger" in document:
        raise SpecError(
            "Swagger 2.0 is not supported; convert it to OpenAPI 3 first "
            "(e.g. `npx swagger2openapi SPEC -o openapi.yaml`) and serve the result",
            file=location, pointer="/swagger",
        )
    version = document.get("openapi")
    if not isinstance(version, str) or not re.match(r"3\.[01]\.?", version):
        raise SpecError(
            f"`openapi` must be a 3.0.x or 3.1.x version string, found {version!r}",
            file=location, pointer="/openapi",
        )
    paths = document.get("paths", {})
    if not isinstance(paths, dict):
        raise SpecError("`paths` must be an object", file=location, pointer="/paths")
    for template in paths:
        if not str(template).startswith("/"):
            raise SpecError(f"path {template!r} must start with '/'", file=location,
                            pointer="/paths/" + escape_token(str(template)))
    return version


def load_spec(source: str | os.PathLike[str], text: bytes | None = None, *, external_refs: bool = True) -> Spec:
    """Load and bundle an OpenAPI document from a file path or http(s) URL.

    `text`, when given, is the document itself (a ConfigMap's key): `source` then only names it in
    errors and anchors its relative `$ref`s. `external_refs=False` reads nothing but `text`: a
    `$ref` to another file or URL raises ExternalRefRefused (the operator compares documents a
    tenant named, which it may fetch only through the guarded fetch).
    """
    location = str(source)
    if not _is_url(location) and external_refs:  # (a text read alone keeps the name it was given)
        location = os.path.abspath(location)
    raw = _read(location) if text is None else text
    document = _parse(location, raw)
    openapi = _check_header(document, location)
    is_json = raw.lstrip()[:1] == b"{"
    if is_json and not _EXTERNAL_REF_IN_JSON.search(raw):
        # Fast path for big single-file JSON specs: no key fixing or rewriting needed.
        _check_local_refs_json(raw, document, location)
        return Spec(document, location, openapi, [] if _is_url(location) else [location])
    bundler = _Bundler(document, location, external_refs)
    bundler.run()
    _inline_operation_refs(document)
    return Spec(document, location, openapi, bundler.files(), bundler.origins)


_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _inline_operation_refs(document: dict[str, Any]) -> None:
    """Replace `$ref`s that stand for whole operations (OpenAPI has no such ref) by their target.

    Some multi-file specs (DigitalOcean's) keep each operation in its own file; after
    bundling those are `{"$ref": "#/x-sandlot-bundled/..."}`, which validators reject.
    """
    for item in (document.get("paths") or {}).values():
        if not isinstance(item, dict):
            continue
        for method in _METHODS:
            op = item.get(method)
            if isinstance(op, dict) and isinstance(op.get("$ref"), str) and op["$ref"].startswith("#"):
                try:
                    item[method] = {**resolve_pointer(document, op["$ref"][1:]),
                                    **{k: v for k, v in op.items() if k != "$ref"}}
                except KeyError:
                    raise SpecError(f"$ref {op['$ref']!r} does not resolve", pointer="/paths") from None


def iter_operations(document: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """Yield (METHOD, path template, operation, path item) for every operation in `paths`."""
    for template, item in (document.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        if "$ref" in item and isinstance(item["$ref"], str):
            try:
                item = {**resolve_pointer(document, item["$ref"][1:]), **item}
            except KeyError:
                continue
        for method in _METHODS:
            op = item.get(method)
            if isinstance(op, dict):
                yield method.upper(), template, op, item

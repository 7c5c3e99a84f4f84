"""Match a request path to an OpenAPI path template, most specific template first.

Built once per spec by the engine. Templates are compiled into a trie of segments:
at every level a literal segment is tried before a segment that mixes text and
parameters (`{Sid}.json`), which is tried before a bare parameter (`{id}`), so
`/users/me` beats `/users/{id}`. Requests are matched with and without each
server's base path (`/v2/pets` and `/pets` both reach `/pets` when a server is
`https://host/v2`), the prefixed form first.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
_PARAM = re.compile(r"\{([^{}]+)\}")


@dataclass
class _Node(Generic[T]):
    literal: dict[str, _Node[T]] = field(default_factory=dict)
    mixed: list[tuple[re.Pattern[str], list[str], _Node[T]]] = field(default_factory=list)
    param: tuple[str, _Node[T]] | None = None
    methods: dict[str, T] = field(default_factory=dict)
    template: str = ""
    #: Each method's own template: `GET /a/{subject_digest}` and `DELETE /a/{attestation_id}` end
    #: at one node, and a request's parameters are named as the matched operation names them.
    templates: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class RouteMatch(Generic[T]):
    """The outcome of matching: a value for the method, or the methods the path allows.

    Not frozen (its path_params dict makes it unhashable anyway): a frozen dataclass's
    __init__ costs twice as much, and one is made per request."""

    template: str
    value: T | None
    path_params: dict[str, str]
    allowed: tuple[str, ...]


def server_base_paths(urls: Iterable[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """Return the distinct path prefixes of server URLs (variables filled with defaults), longest first."""
    prefixes: set[str] = set()
    for url, variables in urls:
        for name, var in (variables or {}).items():
            default = var.get("default", "") if isinstance(var, Mapping) else ""
            url = url.replace("{" + name + "}", str(default))
        path = urllib.parse.urlparse(url).path if "://" in url else url.split("?")[0]
        path = "/" + path.strip("/")
        if path != "/" and "{" not in path:
            prefixes.add(path)
    return sorted(prefixes, key=len, reverse=True)


class Router(Generic[T]):
    """A compiled set of path templates; `match` returns the most specific route for a path."""

    def __init__(self, base_paths: Iterable[str] = ()) -> None:
        self._root: _Node[T] = _Node()
        self._base_paths = list(base_paths)
        self._prefixes = [(p, p + "/") for p in self._base_paths]  # (base path, what starts below it)
        self._literal_paths: dict[str, _Node[T]] = {}
        self._names: dict[str, list[str]] = {}

    def add(self, template: str, method: str, value: T) -> None:
        """Register `value` for METHOD on a path template such as `/pets/{id}`."""
        node = self._root
        for segment in _split(template):
            names = _PARAM.findall(segment)
            if not names:
                node = node.literal.setdefault(segment, _Node())
            elif segment == "{" + names[0] + "}":
                # Templates may name one position differently (`/a/{id}`, `/a/{name}/b`): values
                # are positional and each end node maps them to its own template's names.
                if node.param is None:
                    node.param = (names[0], _Node())
                node = node.param[1]
            else:
                pattern = re.compile(
                    "".join(
                        re.escape(part) if i % 2 == 0 else "(.+?)"
                        for i, part in enumerate(_PARAM.split(segment))
                    ) + r"\Z",
                    re.DOTALL,  # a decoded parameter may hold any character, newlines included
                )
                for pat, _names, child in node.mixed:
                    if pat.pattern == pattern.pattern:
                        node = child
                        break
                else:
                    child = _Node()
                    node.mixed.append((pattern, names, child))
                    node = child
        node.methods[method.upper()] = value
        node.template = node.template or template
        node.templates[method.upper()] = template
        if "{" not in template:
            self._literal_paths[_normalise(template)] = node
        self._names.setdefault(template, _param_names(template))

    def match(self, method: str, raw_path: str) -> RouteMatch[T] | None:
        """Return the route for METHOD and a raw (still percent-encoded) path, or None (404)."""
        method = method.upper()
        fallback: RouteMatch[T] | None = None
        for prefix, below in self._prefixes:
            if raw_path == prefix or raw_path.startswith(below):
                found = self._match_one(method, raw_path[len(prefix):] or "/")
                if found is not None:
                    if found.value is not None:
                        return found
                    fallback = fallback or found
        found = self._match_one(method, raw_path)
        if found is not None and found.value is not None:
            return found
        return fallback or found

    def _match_one(self, method: str, path: str) -> RouteMatch[T] | None:
        norm = _normalise(path)
        node = self._literal_paths.get(norm)
        if node is not None:
            return RouteMatch(node.template, node.methods.get(method), {}, tuple(node.methods))
        segments = _split(norm)
        if "%" in norm:
            segments = [urllib.parse.unquote(s) for s in segments]
        # The most specific template decides (OpenAPI: concrete paths match before templated
        # ones); a method it lacks is a 405 even when a less specific template has it.
        found = _descend(self._root, segments)
        if found is None:
            found = next(_walk(self._root, segments, 0, []), None)
            if found is None:
                return None
        end, values = found
        value = end.methods.get(method)
        names = self._names[end.templates[method]] if value is not None else ()
        return RouteMatch(end.template, value, dict(zip(names, values, strict=False)), tuple(end.methods))


def _descend(node: _Node[T], segments: list[str]) -> tuple[_Node[T], list[str]] | None:
    """Return what `_walk` yields first when no backtracking is needed, else None (walk then).

    Each level takes the literal child, else the parameter child when the node has no mixed
    segments; ending on a node with methods is then `_walk`'s first, most specific, answer."""
    values: list[str] = []
    for segment in segments:
        child = node.literal.get(segment)
        if child is None:
            if node.mixed or node.param is None or not segment:
                return None
            child = node.param[1]
            values.append(segment)
        node = child
    return (node, values) if node.methods else None


def _walk(node: _Node[T], segments: list[str], i: int, values: list[str]):  # type: ignore[no-untyped-def]
    """Yield (end node, parameter values) for every template matching, most specific first."""
    if i == len(segments):
        if node.methods:
            yield node, values
        return
    segment = segments[i]
    child = node.literal.get(segment)
    if child is not None:
        yield from _walk(child, segments, i + 1, values)
    for pattern, _names, child in node.mixed:
        m = pattern.match(segment)
        if m:
            yield from _walk(child, segments, i + 1, values + list(m.groups()))
    if node.param is not None and segment:
        yield from _walk(node.param[1], segments, i + 1, values + [segment])


def _split(path: str) -> list[str]:
    return list(path.split("/")[1:]) if path != "/" else []


def _normalise(path: str) -> str:
    """Drop one trailing slash (except on the root) so `/pets/` routes like `/pets`."""
    return path[:-1] if len(path) > 1 and path.endswith("/") else path


def _param_names(template: str) -> list[str]:
    return _PARAM.findall(template)

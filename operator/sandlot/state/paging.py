"""Fill a list response's page metadata from the page actually served. Pure functions.

Called by the state stage (state/stage.py)'s list action after `shape.envelope` put the items in the
generated envelope. Generated envelopes carry random metadata (`page_size: 40`,
`next_page_uri: https://yet.example.com/...`, `meta.total: 3`); here the fields named like
page metadata, at the top level and inside `meta`, `links`, `links.pages`, `pagination` ...,
get the real figures: totals, the page number and size the client asked for, and links to
the first, previous, next and last pages as URIs on this server (absent or null when there
is no such page). The caller validates the result and takes back what the schema refuses
(`revert_refused`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

#: Containers whose fields are page metadata (normalized: lower case, no `_`/`-`).
CONTAINERS = frozenset({"meta", "links", "pages", "pagination", "pageinfo", "paging", "page"})
#: Normalized field name -> which fact it holds.
FIELDS = {
    **dict.fromkeys(("total", "totalcount", "totalresults", "totalitems", "totalsize"), "total"),
    **dict.fromkeys(("page", "pagenumber", "currentpage"), "page"),
    **dict.fromkeys(("pagesize", "perpage"), "page_size"),
    "start": "start", "end": "end",
    **dict.fromkeys(("uri", "self", "url"), "uri"),
    **dict.fromkeys(("next", "nextpageuri", "nextpage", "nexturl", "nextpageurl", "nextlink"),
                    "next"),
    **dict.fromkeys(("prev", "previous", "previouspageuri", "prevpageuri", "previouspage",
                     "previousurl", "prevurl", "previouspageurl"), "prev"),
    **dict.fromkeys(("first", "firstpageuri", "firstpage", "firsturl", "firstpageurl"), "first"),
    **dict.fromkeys(("last", "lastpageuri", "lastpage", "lasturl", "lastpageurl"), "last"),
    **dict.fromkeys(("totalelements", "totalitems"), "total"),
    **dict.fromkeys(("totalpages", "pagecount", "pages"), "pages"),
}
#: Names that are page metadata only inside a container (Spring's `page: {size, number}`).
CONTAINED_FIELDS = {"size": "page_size", "number": "page"}
LINKS = frozenset({"uri", "next", "prev", "first", "last"})


@dataclass(frozen=True)
class PageFacts:
    """What the page served holds, and the URIs (on this server) of its neighbours."""

    total: int
    page: int
    page_size: int
    start: int
    end: int
    uri: str
    first: str | None
    prev: str | None
    next: str | None
    last: str | None
    #: How many pages there are (at least one).
    pages: int = 1


def _normal(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def with_query(path: str, query: str, changes: Mapping[str, Any]) -> str:
    """Return `path?query` with the parameters in `changes` set (None removes one)."""
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in changes]
    pairs += [(k, str(v)) for k, v in changes.items() if v is not None]
    return path + ("?" + urlencode(pairs) if pairs else "")


def page_facts(path: str, query: str, *, offset: int, limit: int, count: int, total: int,
               has_more: bool, page_param: str | None, page_base: int, limit_param: str | None,
               offset_param: str | None, next_query: Mapping[str, Any] | None = None) -> PageFacts:
    """Compute the facts of a page of `count` items starting at `offset`, `limit` per page.

    Links move the page parameter (or the offset); `next_query` is what the next link sets
    instead when the list pages by cursor."""
    limit = max(1, limit)
    page = offset // limit + page_base
    last_page = page_base + max(0, math.ceil(total / limit) - 1)

    def link(to_offset: int) -> str:
        changes: dict[str, Any] = {}
        if limit_param:
            changes[limit_param] = limit
        if page_param:
            changes[page_param] = to_offset // limit + page_base
        elif offset_param:
            changes[offset_param] = to_offset
        return with_query(path, query, changes)

    paged = bool(page_param or offset_param)
    if next_query is not None and has_more:
        moved = {**({limit_param: limit} if limit_param else {}),
                 **({page_param: page + 1} if page_param else {}), **next_query}
        next_uri: str | None = with_query(path, query, moved)
    else:
        next_uri = link(offset + limit) if has_more and paged else None
    return PageFacts(
        total=total, page=page, page_size=limit, start=offset, end=offset + max(count - 1, 0),
        uri=with_query(path, query, {}),
        first=link(0) if paged else None,
        prev=link(max(0, offset - limit)) if paged and offset > 0 else None,
        next=next_uri,
        last=link((last_page - page_base) * limit) if paged else None,
        pages=max(1, math.ceil(total / limit)))


Path = tuple[str, ...]


def fill_page_fields(body: Any, facts: PageFacts, skip: Iterable[str] = ()) -> tuple[Any, list[Path]]:
    """Return (a copy of the envelope with its page metadata set from `facts`, the paths set).

    Fields present in the envelope are overwritten; links are added to `pages`/`links`
    containers only when they exist (`links.pages: {"next": ...}` on DigitalOcean), a
    missing neighbour removes the link or, where the field was present, sets it to null."""
    if not isinstance(body, dict):
        return body, []
    skipped = set(skip)
    changed: list[Path] = []

    def visit(node: dict[str, Any], where: Path, depth: int) -> dict[str, Any]:
        out = dict(node)
        # Links are added to `pages`, or to `links` when it holds no `pages` of its own; HAL's
        # `_links` hold link objects (`{"self": {"href": ...}}`).
        kind = _normal(where[-1]) if where else ""
        hal = kind == "links" and any(isinstance(v, dict) and "href" in v for v in node.values())
        link_container = kind == "pages" or hal or (
            kind == "links" and not any(isinstance(v, dict) for v in node.values()))
        for name, value in node.items():
            if not where and name in skipped:
                continue
            if isinstance(value, dict) and _normal(name) in CONTAINERS and depth < 3 and not hal:
                out[name] = visit(value, (*where, name), depth + 1)
                continue
            fact = FIELDS.get(_normal(name)) or (CONTAINED_FIELDS.get(_normal(name)) if where else None)
            if hal and fact in LINKS and isinstance(value, dict):
                out[name] = {**value, "href": getattr(facts, fact)}
                changed.append((*where, name, "href"))
                continue
            if fact is None or isinstance(value, (dict, list)):
                continue
            if fact == "total" and not isinstance(value, int):
                continue
            out[name] = getattr(facts, fact)
            changed.append((*where, name))
        if link_container:
            # As DigitalOcean (and clients such as godo, which read a missing `last` as "this
            # is the last page"): first/prev only after the first page, next/last only
            # before the last one.
            wanted = {"first": facts.prev and facts.first, "prev": facts.prev,
                      "next": facts.next, "last": facts.next and facts.last}
            present = {FIELDS.get(_normal(n)) for n in node}
            for fact, link in wanted.items():
                if fact not in present and link is not None:
                    out[fact] = {"href": link} if hal else link
                    changed.append((*where, fact, "href") if hal else (*where, fact))
            for name in list(out):  # a link the page has no target for goes, rather than null
                fact = FIELDS.get(_normal(name))
                value = out[name]["href"] if hal and isinstance(out[name], dict) else out[name]
                if fact in LINKS and (value is None or (fact in wanted and not wanted[fact])):
                    del out[name]
        return out

    return visit(body, (), 0), changed


def revert_refused(body: Any, template: Any, changed: Sequence[Path],
                   errors: Callable[[Any], list[Path]], absolute: Callable[[str], str],
                   rounds: int = 3) -> Any:
    """Take back the page fields the response schema refuses: a relative link becomes
    absolute, else the generated value returns, else the field goes.

    `errors(body)` returns the paths of the body's validation errors."""
    for _ in range(rounds):
        failing = errors(body)
        if not failing:
            return body
        hit = [p for p in changed if any(p[:len(e)] == tuple(e) or tuple(e)[:len(p)] == p
                                         for e in failing)]
        if not hit:
            return body
        for path in hit:
            current = _get(body, path)
            original = _get(template, path)
            if isinstance(current, str) and current.startswith("/"):
                body = _set(body, path, absolute(current))
            elif original is not _MISSING and current != original:
                body = _set(body, path, original)
            else:
                body = _set(body, path, _MISSING)
    return body


_MISSING = object()


def _get(node: Any, path: Path) -> Any:
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return _MISSING
        node = node[key]
    return node


def _set(node: Any, path: Path, value: Any) -> Any:
    """Return a copy of `node` with `path` set to `value` (removed when `_MISSING`)."""
    if not isinstance(node, dict):
        return node
    out = dict(node)
    if len(path) == 1:
        if value is _MISSING:
            out.pop(path[0], None)
        else:
            out[path[0]] = value
    elif path[0] in out:
        out[path[0]] = _set(out[path[0]], path[1:], value)
    return out

"""Media-type matching: a request body's Content-Type and a response's Accept negotiation.

Called by validate.py (which declared request media type fits the body) and by the
responder (which documented response media type fits `Accept`, honouring q-values
and wildcards).
"""

from __future__ import annotations

from collections.abc import Iterable


def media_type(header: str | None) -> str:
    """Return the bare, lower-cased media type of a Content-Type value ("" when absent)."""
    return (header or "").split(";", 1)[0].strip().lower()


def media_param(header: str | None, name: str) -> str | None:
    """Return one parameter of a Content-Type value (e.g. multipart `boundary`)."""
    for part in (header or "").split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == name:
            return value.strip().strip('"')
    return None


def is_json(media: str) -> bool:
    """Tell whether a media type carries JSON (application/json, */*+json, application/*json)."""
    media = media_type(media)
    return media.endswith("/json") or media.endswith("+json") or media in ("*/*", "application/*")


def _fits(pattern: str, concrete: str) -> bool:
    """Tell whether a (possibly wildcard) media range covers a concrete media type."""
    if pattern in ("*/*", "*") or pattern == concrete:
        return True
    ptype, _, psub = pattern.partition("/")
    ctype, _, csub = concrete.partition("/")
    if psub == "*" and ptype == ctype:
        return True
    return psub.startswith("*+") and ptype == ctype and csub.endswith(psub[1:])


def match_declared(declared: Iterable[str], content_type: str) -> str | None:
    """Return the declared request media type (key of `content`) that a body's type fits, or None."""
    concrete = media_type(content_type)
    keys = list(declared)
    for key in keys:
        if key.lower() == concrete:
            return key
    best = None
    for key in keys:
        low = key.lower().split(";", 1)[0].strip()
        if low == concrete or _fits(low, concrete):
            if best is None or best.count("*") > key.count("*"):
                best = key
    return best


def parse_accept(accept: str | None) -> list[tuple[str, float]]:
    """Parse an Accept header into (media range, q) pairs, best first; empty means "anything"."""
    ranges = []
    for i, part in enumerate((accept or "").split(",")):
        media, *params = [p.strip() for p in part.split(";")]
        if not media:
            continue
        q = 1.0
        for p in params:
            key, _, value = p.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        specificity = 0 if media == "*/*" else 1 if media.endswith("/*") else 2
        ranges.append((media.lower(), q, specificity, -i))
    ranges.sort(key=lambda r: (r[1], r[2], r[3]), reverse=True)
    return [(m, q) for m, q, _, _ in ranges]


def negotiate(available: list[str], accept: str | None) -> str | None:
    """Return the documented media type to answer with for `Accept`, or None (406).

    With no Accept header the first documented type wins; otherwise the highest-q range
    picks the first documented type it covers (JSON preferred under wildcards).
    """
    if not available:
        return None
    ranges = parse_accept(accept)
    if not ranges:
        return available[0]
    refused = {m for m, q in ranges if q <= 0}
    for rng, q in ranges:
        if q <= 0:
            continue
        fitting = [a for a in available if _fits(rng, a.lower().split(";")[0].strip()) or _fits(a.lower(), rng)]
        fitting = [a for a in fitting if a.lower() not in refused]
        if fitting:
            json_first = [a for a in fitting if is_json(a) and "*" not in a]
            return (json_first or fitting)[0]
    return None

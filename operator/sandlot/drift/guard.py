"""The live-credential guard of the drift proxy: nothing that looks like a production key is sent
upstream unless the user says `--allow-live-upstream`.

Called at start-up on the headers given with `--upstream-header` (`check_configured`: a live one
stops `sandlot mock --proxy` with exit 2) and by the proxy stage on every request before it is
forwarded (`live_credential`: a live one is answered 403 and never sent). The shapes are the
project's one list of well-known live keys (`state/keys.py`, LIVE_KEY_SHAPES), the list the
stateful sandbox refuses from its clients. Pure.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sandlot.mock.validate import parse_cookies
from sandlot.state.auth import bearer_or_basic
from sandlot.state.keys import DEFAULT_LIVE_KEY_PATTERNS, looks_live

DOCS = "docs/drift.md#live-credentials"


class LiveUpstreamError(ValueError):
    """A configured upstream credential looks live: the message says why and the way out."""


def _candidates(name: str, value: str) -> Iterator[str]:
    """Yield the secrets a header value may carry: itself, a bearer token, basic's user and
    password, each cookie value."""
    yield value.strip()
    lower = name.lower()
    if lower in ("authorization", "proxy-authorization"):
        yield from bearer_or_basic(value)
    elif lower == "cookie":
        yield from parse_cookies(value).values()


@dataclass(frozen=True)
class LiveCredential:
    """A value that looks like a live key: in a header or a query parameter, and the shape it matches."""

    place: str  # "header" | "query"
    name: str
    pattern: str

    @property
    def where(self) -> str:
        """Return where it is, for a message: "the Authorization header", "the query parameter 'key'"."""
        return f"the {self.name} header" if self.place == "header" else f"the query parameter {self.name!r}"


def live_credential(headers: Iterable[tuple[str, str]], query: str = "",
                    patterns: tuple[str, ...] = DEFAULT_LIVE_KEY_PATTERNS) -> LiveCredential | None:
    """Return the first header or query value that looks like a live key, or None."""
    for name, value in headers:
        for candidate in _candidates(name, value):
            pattern = _matching(candidate, patterns)
            if pattern is not None:
                return LiveCredential("header", name, pattern)
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=False):
        pattern = _matching(value, patterns)
        if pattern is not None:
            return LiveCredential("query", key, pattern)
    return None


def _matching(value: str, patterns: tuple[str, ...]) -> str | None:
    return next((p for p in patterns if looks_live(value, (p,))), None)


def check_configured(headers: Iterable[tuple[str, str]], query: str = "",
                     patterns: tuple[str, ...] = DEFAULT_LIVE_KEY_PATTERNS) -> None:
    """Raise LiveUpstreamError when a credential configured for the upstream (an --upstream-header,
    a query parameter of --proxy's URL) looks live."""
    found = live_credential(headers, query, patterns)
    if found is None:
        return
    where = f"--upstream-header {found.name}" if found.place == "header" else \
        f"--proxy's query parameter {found.name!r}"
    raise LiveUpstreamError(
        f"{where} looks like a live (production) credential (it matches {found.pattern}); `sandlot mock --proxy` "
        f"measures drift against test and staging APIs, so it refuses to send it. Use a test credential, or "
        f"pass --allow-live-upstream if this upstream is meant to get live keys ({DOCS})")


def refusal_detail(found: LiveCredential, upstream: str) -> str:
    """Return why a request was not forwarded: its live-looking credential, and what to do."""
    return (f"This is a Sandlot drift proxy: {found.where} looks like a live (production) credential (it matches "
            f"{found.pattern}), so the request was not forwarded to {upstream}. Use a test credential against a "
            f"test or staging upstream, or restart with --allow-live-upstream if this upstream is meant to get live "
            f"keys ({DOCS}).")

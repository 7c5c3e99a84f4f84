"""Redact secrets before a request reaches the journal: credentials in headers, query
parameters and bodies never land in it as sent.

Called by the request journal (state/journal_stage.py) for every entry it writes. Pure and
cheap: a header or parameter is redacted when its name looks secret (Authorization, cookies,
`*token*`, `*secret*`, `*key*`, ...) or when the spec's apiKey security schemes name it; any
value that looks like a sandbox, live or webhook secret (`sk_sbx_...`, `sk_live_...`,
`whsec_...`) is cut to its prefix wherever it appears; JSON and form fields named like a secret
(`password`, `client_secret`, `access_token`, ...) have their values replaced.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "[redacted]"

#: Header and query parameter names whose values are secrets.
_SECRET_NAME = re.compile(r"auth|cookie|token|secret|passw|api[-_]?key|apikey|private[-_]?key|access[-_]?key"
                          r"|signature|session|credential|x-api-key", re.IGNORECASE)
#: Values that are secrets whatever they are called: keys and signing secrets.
_SECRET_VALUE = re.compile(r"\b((?:sk|pk|rk)_(?:sbx|live|test)_|whsec_|adm_)[A-Za-z0-9_\-]{4,}")
#: JSON members and form fields whose values are secrets.
_FIELD = (r"(?:password|passwd|passphrase|secret|client_secret|token|access_token|refresh_token|id_token"
          r"|api_?key|private_key|access_key|authorization|credentials?|session(?:_id)?|cookie)")
_JSON_FIELD = re.compile(r'("' + _FIELD + r'"\s*:\s*)"(?:[^"\\]|\\.)*"', re.IGNORECASE)
#: Headers whose names look secret but whose values are not (a challenge names a scheme).
_NOT_SECRET = frozenset({"www-authenticate", "proxy-authenticate"})
_FORM_FIELD = re.compile(r"((?:^|&)" + _FIELD + r"=)[^&]*", re.IGNORECASE)


def secret_names(document: Mapping[str, Any]) -> frozenset[str]:
    """Return the header, query and cookie names the spec's apiKey security schemes read (lower case)."""
    components = document.get("components") if isinstance(document, Mapping) else None
    schemes = (components or {}).get("securitySchemes") if isinstance(components, Mapping) else None
    names = set()
    for scheme in (schemes or {}).values() if isinstance(schemes, Mapping) else ():
        if isinstance(scheme, Mapping) and scheme.get("type") == "apiKey" and scheme.get("name"):
            names.add(str(scheme["name"]).lower())
    return frozenset(names)


def is_secret_name(name: str, extra: Iterable[str] = ()) -> bool:
    """Tell whether a header or parameter called `name` carries a secret."""
    return name.lower() in extra or bool(_SECRET_NAME.search(name))


def _may_hold_key(value: str) -> bool:
    # Plain substring tests (no generator, no regex): every body and header value passes here.
    return "_" in value and ("sk_" in value or "pk_" in value or "rk_" in value or "whsec_" in value
                             or "adm_" in value)


def _may_name_secret(lower: str) -> bool:
    return ("pass" in lower or "secret" in lower or "token" in lower or "key" in lower or "auth" in lower
            or "credential" in lower or "session" in lower or "cookie" in lower)


def redact_value(value: str) -> str:
    """Return `value` with every key-looking secret cut to its prefix (`sk_sbx_[redacted]`)."""
    if not _may_hold_key(value):
        return value
    return _SECRET_VALUE.sub(lambda m: m.group(1) + REDACTED, value)


def redact_header(name: str, value: str, extra: Iterable[str] = ()) -> str:
    """Return the value to record for one header: the scheme of an Authorization header is kept
    (`Bearer [redacted]`), a cookie keeps its names (`a=[redacted]; b=[redacted]`)."""
    lower = name.lower()
    if lower in ("authorization", "proxy-authorization"):
        scheme, _, rest = value.strip().partition(" ")
        return f"{scheme} {REDACTED}" if rest else REDACTED
    if lower in ("cookie", "set-cookie"):
        parts = [p.strip() for p in value.split(";" if lower == "cookie" else ",") if p.strip()]
        return "; ".join(p.partition("=")[0] + "=" + REDACTED for p in parts) if lower == "cookie" \
            else REDACTED
    if lower not in _NOT_SECRET and is_secret_name(lower, extra):
        return REDACTED
    return redact_value(value)


def redact_headers(headers: Iterable[tuple[str, str]], extra: Iterable[str] = ()) -> dict[str, str]:
    """Return headers (name, value) as a dict with every secret redacted."""
    return {name: redact_header(name, value, extra) for name, value in headers}


def redact_query(query: str, extra: Iterable[str] = ()) -> str:
    """Return a raw query string with secret parameters' values redacted (the rest as sent)."""
    if not query:
        return query
    parts = []
    for part in query.split("&"):
        name, sep, value = part.partition("=")
        if sep and is_secret_name(urllib.parse.unquote_plus(name), extra):
            parts.append(f"{name}={REDACTED}")
        else:
            parts.append(redact_value(part))
    return "&".join(parts)


def redact_body(text: str) -> str:
    """Return a body (JSON or form text, possibly cut short) with secret fields' values redacted."""
    if not text:
        return text
    if _may_name_secret(text.lower()):
        text = _JSON_FIELD.sub(lambda m: m.group(1) + '"' + REDACTED + '"', text)
        if "=" in text:
            text = _FORM_FIELD.sub(lambda m: m.group(1) + REDACTED, text)
    return redact_value(text)

"""Redact credentials and secrets from what the drift proxy keeps: samples and recorded responses.

Called by the drift store's samples (drift/stage.py) and by `--record DIR` (drift/record.py)
before anything is written. A value is replaced by `REDACTED` when its name says it is secret
(a header, query parameter or JSON property named like a password, token, key, secret,
session, cookie or signature, or a header the spec's security schemes name), or when the value
itself has the shape of a credential wherever it is (a live or test API key, a JWT, a bearer
token, an AWS access key id, a GitHub or Slack token, a PEM private key). Pure.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from sandlot.state.keys import DEFAULT_LIVE_KEY_PATTERNS, looks_live

REDACTED = "REDACTED"

#: Headers that always carry credentials or session state.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key",
                            "api-key", "x-auth-token", "x-csrf-token", "x-xsrf-token"})
#: Words that make a name secret (names are split on punctuation and camelCase).
_SECRET_WORDS = frozenset({"password", "passwd", "pwd", "secret", "secrets", "token", "apikey", "credential",
                           "credentials", "cookie", "session", "sessionid", "signature", "authorization", "auth",
                           "otp", "cvc", "cvv", "pin", "jwt", "bearer", "privatekey", "passphrase"})
_SECRET_PAIRS = frozenset({("api", "key"), ("access", "key"), ("private", "key"), ("client", "secret"),
                           ("secret", "key"), ("signing", "key"), ("refresh", "token"), ("access", "token")})
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z]|\b|_|\d)|[A-Z]?[a-z]+|[A-Z]+|\d+")
#: Credential shapes recognised wherever they appear (besides the live-key list).
_SECRET_VALUE = re.compile(
    r"""^(?:
        (?:sk|rk|pk)_(?:test|sbx)_\w{8,}            # Stripe-style test keys, Sandlot's sandbox keys
      | whsec_\w{8,}                                # webhook signing secrets
      | eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]*          # JWTs
      | (?:Bearer|Basic|Token)\s+\S{8,}             # an Authorization value
      | (?:AKIA|ASIA)[0-9A-Z]{16}                   # AWS access key ids
      | gh[pousr]_[A-Za-z0-9]{30,}                  # GitHub tokens
      | xox[abpors]-[\w-]{10,}                      # Slack tokens
      | -----BEGIN[ A-Z]*PRIVATE\ KEY-----.*         # PEM private keys
    )$""", re.VERBOSE | re.DOTALL)


def secret_name(name: str) -> bool:
    """Tell whether a header, parameter or property name says its value is secret."""
    words = [w.lower() for w in _WORD.findall(name)]
    if any(w in _SECRET_WORDS for w in words) or "".join(words) in _SECRET_WORDS:
        return True
    return any(pair in _SECRET_PAIRS for pair in zip(words, words[1:], strict=False))


def secret_value(value: str) -> bool:
    """Tell whether a string has the shape of a credential (live-key list included)."""
    text = value.strip()
    return bool(text) and (looks_live(text, DEFAULT_LIVE_KEY_PATTERNS) or bool(_SECRET_VALUE.match(text)))


def redact_headers(headers: Iterable[tuple[str, str]], secret_names: Iterable[str] = ()) -> list[tuple[str, str]]:
    """Return headers with secret values replaced; `secret_names` adds the spec's apiKey header names."""
    extra = {n.lower() for n in secret_names}
    return [(name, REDACTED if name.lower() in SECRET_HEADERS or name.lower() in extra or secret_name(name)
             or secret_value(value) else value) for name, value in headers]


def redact_query(query: str, secret_names: Iterable[str] = ()) -> str:
    """Return a raw query string with secret parameter values replaced (the rest left as sent)."""
    if not query:
        return query
    extra = set(secret_names)
    kept = []
    for part in query.split("&"):
        key, sep, value = part.partition("=")
        name = urllib.parse.unquote_plus(key)
        plain = urllib.parse.unquote_plus(value)
        if sep and (name in extra or secret_name(name) or secret_value(plain)):
            value = REDACTED
        kept.append(f"{key}{sep}{value}")
    return "&".join(kept)


def redact_value(value: Any) -> Any:
    """Return a JSON value with secret properties and credential-shaped strings replaced."""
    if isinstance(value, Mapping):
        return {k: (REDACTED if isinstance(v, str) and secret_name(str(k)) else redact_value(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    if isinstance(value, str) and secret_value(value):
        return REDACTED
    return value

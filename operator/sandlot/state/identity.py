"""Tokens an API issues to its own users, as the sandbox mints and checks them. Pure functions.

Called by the state stage (state/stage.py) when a sign-up or log-in operation answers
(inference.py's `Identity` says which), and by the tenancy (state/auth.py) to find the tenant a
token belongs to when no sandbox key says it. A token is JWT-shaped (clients that decode one
find `sub` and `iat`), names its tenant in the payload and is valid only while its hash is in
that tenant's state: a reset forgets every token with the users, and a token never works in
another tenant.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any

#: The tenant-state key holding {token hash: user object id}.
TOKENS_KEY = "identity.tokens"
#: Where a stored user keeps what is never answered (the password's hash).
HIDDEN = "__sandlot"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def mint_token(tenant_id: str, user_id: str, now: float) -> str:
    """Return a new JWT-shaped token for a user of a tenant."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps({"sub": user_id, "tnt": tenant_id, "iat": int(now)}, separators=(",", ":")).encode())
    return f"{header}.{payload}.{_b64(secrets.token_bytes(32))}"


def token_tenant(token: str) -> str | None:
    """Return the tenant a token names in its payload, or None when it is not one of ours."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    tenant = payload.get("tnt") if isinstance(payload, dict) else None
    return tenant if isinstance(tenant, str) else None


def token_hash(token: str) -> str:
    """Return the hash under which a token is kept."""
    return hashlib.sha256(token.encode()).hexdigest()


def password_hash(password: str) -> str:
    """Return the hash a user's password is kept as (sandbox passwords are test data; salted
    anyway, so equal passwords do not look equal in the state file)."""
    salt = secrets.token_hex(8)
    return salt + "$" + hashlib.sha256((salt + password).encode()).hexdigest()


def password_matches(stored: Any, password: Any) -> bool:
    """Tell whether a password matches its stored hash."""
    if not isinstance(stored, str) or "$" not in stored or not isinstance(password, str):
        return False
    salt, digest = stored.split("$", 1)
    return secrets.compare_digest(digest, hashlib.sha256((salt + password).encode()).hexdigest())


def presented_token(value: str) -> str:
    """Return the token in a credential as sent, whatever its prefix (`Token x`, `Bearer x`, `x`)."""
    return value.strip().split()[-1] if value.strip() else ""

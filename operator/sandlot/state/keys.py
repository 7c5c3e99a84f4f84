"""Sandbox test credentials: issue keys, hash them for storage, and spot live-looking keys.

Called by the admin API, `sandlot keys create` and `sandlot up` (to issue keys) and by the
state stage (to hash a presented key and to refuse a production key). Pure functions:
nothing here touches the store.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from sandlot.util.keys import KEY_PREFIX, new_key_secret

#: Well-known shapes of production credentials (glob, whose): a sandbox refuses them from its
#: clients (the state stage) and the drift proxy refuses to send them upstream (sandlot/drift/).
#: Only shapes that say "production" in the key itself; docs/drift.md lists them (a test checks).
LIVE_KEY_SHAPES: tuple[tuple[str, str], ...] = (
    ("sk_live_*", "Stripe secret key (also Paystack's)"),
    ("rk_live_*", "Stripe restricted key"),
    ("pk_live_*", "Stripe publishable key (also Paystack's)"),
    ("rzp_live_*", "Razorpay key id"),
    ("pdl_live_*", "Paddle API key"),
    ("xnd_production_*", "Xendit secret key"),
    ("access_token$production$*", "Braintree access token"),
    ("FLWSECK-*", "Flutterwave secret key (test keys are FLWSECK_TEST-)"),
    ("FLWPUBK-*", "Flutterwave public key (test keys are FLWPUBK_TEST-)"),
)
DEFAULT_LIVE_KEY_PATTERNS: tuple[str, ...] = tuple(pattern for pattern, _ in LIVE_KEY_SHAPES)


@dataclass(frozen=True)
class IssuedKey:
    """A freshly issued key: `secret` is shown once, only `key_hash` is stored."""

    key_id: str
    secret: str
    key_hash: str
    hint: str


def hash_key(secret: str) -> str:
    """Return the hex SHA-256 of a key; keys carry 256 bits of entropy, so no salt is needed."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def key_hint(secret: str) -> str:
    """Return a short, safe-to-print form of a key (prefix and last four characters)."""
    return f"{secret[: len(KEY_PREFIX) + 4]}…{secret[-4:]}"


def issue_key() -> IssuedKey:
    """Create a new `sk_sbx_` key (sandlot.util.keys, the generator the operator uses too)."""
    return key_from_secret(new_key_secret())


def key_from_secret(secret: str) -> IssuedKey:
    """Describe an existing key (one issued elsewhere, e.g. by the operator into a Secret)."""
    key_hash = hash_key(secret)
    # The id is derived from the hash so it can be shown and used to revoke without the secret.
    return IssuedKey(key_id="key_" + key_hash[:16], secret=secret, key_hash=key_hash,
                     hint=key_hint(secret))


def check_provided_key(secret: str) -> None:
    """Raise ValueError unless a key handed to the stub looks like a sandbox key."""
    if not secret.startswith(KEY_PREFIX) or len(secret) < len(KEY_PREFIX) + 32:
        raise ValueError(f"a provided key must start with {KEY_PREFIX!r} and carry at least 32 "
                         f"characters after it (got {key_hint(secret) if secret else 'an empty key'});"
                         " create one with `sandlot keys create` or let the stub issue one")


def looks_live(secret: str, patterns: Iterable[str] = DEFAULT_LIVE_KEY_PATTERNS) -> bool:
    """Tell whether a presented credential matches any live-key glob pattern (e.g. `sk_live_*`)."""
    return any(fnmatch.fnmatchcase(secret, pattern) for pattern in patterns)


def live_key_problem(patterns: Iterable[str]) -> dict:
    """Build the 401 body sent for a live-looking key: it says why and what to use instead."""
    return {
        "type": "https://sandlot.dev/problems/live-key-refused",
        "title": "Live keys are never accepted by a sandbox",
        "status": 401,
        "detail": (
            "This is a Sandlot sandbox. The credential looks like a production key "
            f"(patterns: {', '.join(patterns)}) and was refused without being checked or stored. "
            f"Use a sandbox key starting with {KEY_PREFIX!r} (create one with `sandlot keys create`)."
        ),
    }

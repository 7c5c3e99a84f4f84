"""Tenants and their credentials: issue keys into a store, find a request's tenant, and
spot live-looking credentials anywhere a client may have put them.

Called by the stateful handler (every request), the admin API (`/__sandlot/keys`),
`sandlot keys` and `sandlot up`.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import re
import secrets
import urllib.parse
from collections.abc import Iterable, Iterator

from sandlot.mock.messages import MockRequest
from sandlot.state.keys import IssuedKey, check_provided_key, hash_key, issue_key, key_from_secret
from sandlot.state.store import KeyRecord, Store


def new_tenant_id() -> str:
    """Return a fresh tenant id (`ten_` + 16 random hex characters)."""
    return "ten_" + secrets.token_hex(8)


def issue_for_tenant(store: Store, now: float, tenant_id: str | None = None,
                     name: str = "", secret: IssuedKey | None = None) -> tuple[str, IssuedKey]:
    """Issue a key; create (and seed) the tenant first when it does not exist yet.

    Pass `secret` to register an already issued key (the same key across a sandbox's stubs).
    """
    tenant_id = tenant_id or new_tenant_id()
    if store.get_tenant(tenant_id) is None:
        store.create_tenant(tenant_id, name or tenant_id, now)
    key = secret or issue_key()
    store.add_key(KeyRecord(key.key_id, key.key_hash, tenant_id, key.hint, now))
    return tenant_id, key


def register_provided_keys(store: Store, secrets_: Iterable[str], now: float) -> list[str]:
    """Register keys issued elsewhere (the operator's credentials Secret, `--key`), each for
    its own tenant whose id derives from the key, so a stub with a fresh volume recreates the
    same tenant. Return the tenant ids; keys already known are left as they are."""
    tenants = []
    for secret in secrets_:
        check_provided_key(secret)
        key = key_from_secret(secret)
        known = store.find_key(key.key_hash)
        if known is None:
            tenant_id, _ = issue_for_tenant(store, now, tenant_id="ten_" + key.key_hash[-16:],
                                            name="provided key", secret=key)
            tenants.append(tenant_id)
        else:
            tenants.append(known.tenant_id)
    return tenants


def authenticate(store: Store, secret: str) -> str | None:
    """Return the tenant id owning an unrevoked key, or None."""
    record = store.find_key(hash_key(secret))
    return record.tenant_id if record else None


def bearer_or_basic(authorization: str | None) -> Iterator[str]:
    """Yield the secrets in an Authorization header: the bearer token, or basic's user/password."""
    if not authorization:
        return
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        yield value
    elif scheme.lower() == "basic" and value:
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return
        # Stripe-style basic auth puts the key in the user name; others use the password.
        yield from (part for part in (user, password) if part)


def presented_values(req: MockRequest) -> Iterator[str]:
    """Yield every value that may carry a credential: headers (auth decoded) and query values."""
    for name, value in req.headers.items():
        if name == "authorization":
            yield from bearer_or_basic(value)
        elif name not in ("content-type", "accept", "content-length", "host", "user-agent"):
            yield value
    if req.query:
        for _, value in urllib.parse.parse_qsl(req.query, keep_blank_values=False):
            yield value


class LiveKeyDetector:
    """Tell whether a request carries a live-looking credential (compiled glob patterns)."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(patterns)
        self._regex = re.compile("|".join(fnmatch.translate(p) for p in self.patterns)) \
            if self.patterns else None

    def found_in(self, req: MockRequest) -> bool:
        """Return True when any presented value matches a live-key pattern."""
        if self._regex is None:
            return False
        return any(self._regex.match(value) for value in presented_values(req))

"""Authentication: issue keys into a store, identify a request's tenant, and spot
live-looking credentials anywhere a client may have put them.

The app's tenancy is one of two identifiers, chosen when the stages are composed
(http/compose.py) and called once per request by the request context (mock/context.py):
`StoreTenancy` (stateful: the key's tenant in the store) and `credential_tenant` (stateless: one
tenant per credential). Requests without a credential belong to `PUBLIC_TENANT`. Also called by
the admin API (`/__sandlot/keys`), `sandlot keys` and `sandlot up`.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import re
import secrets
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sandlot.mock.context import RequestContext
from sandlot.mock.messages import MockRequest, MockResponse
from sandlot.state.identity import presented_token, token_tenant
from sandlot.state.keys import IssuedKey, check_provided_key, hash_key, issue_key, key_from_secret
from sandlot.state.store import KeyRecord, Store

#: The tenant of requests that carry no credential (and of every request to an API that issues
#: its own tokens, when no sandbox key says otherwise: one default tenant, keyless).
PUBLIC_TENANT = "public"
#: Header sets and queries whose live-key verdict is remembered (then forgotten all at once).
_SEEN = 1024
#: Where a sandbox key travels when the API's own credential occupies Authorization.
SANDLOT_KEY_HEADER = "sandlot-key"


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
        # (headers, query) -> the answer: a client sends the same headers request after request.
        self._seen: dict[tuple[Any, ...], bool] = {}

    def found_in(self, req: MockRequest) -> bool:
        """Return True when any presented value matches a live-key pattern."""
        if self._regex is None:
            return False
        key = (req.query, *req.headers.items())
        found = self._seen.get(key)
        if found is None:
            if len(self._seen) >= _SEEN:
                self._seen.clear()
            found = self._seen[key] = any(self._regex.match(value) for value in presented_values(req))
        return found


def offered_credentials(ctx: RequestContext) -> list[str]:
    """Return the secrets a request offers: those its operation's security schemes declare
    (basic auth split into user and password), else the Authorization header's."""
    offered: list[str] = []
    validated = ctx.validated() if ctx.match is not None else None
    if validated is not None and not isinstance(validated, MockResponse):
        for value in validated.credentials.values():
            offered.append(value)
            if ":" in value:  # basic auth: the key may be the user name or the password
                offered += [part for part in value.split(":", 1) if part]
    return offered or list(bearer_or_basic(ctx.request.headers.get("authorization")))


class StoreTenancy:
    """Identify a stateful request's tenant: the tenant of the sandbox key in `Sandlot-Key`, else
    of the key it offers as the API's credential (None for an unknown or revoked key), else the
    public tenant when it offers none. When the API issues its own tokens (`issues_tokens()`),
    a token names its tenant, and a request with no sandbox key goes to the public tenant: the
    server runs keyless, and the state stage checks the token inside that tenant."""

    def __init__(self, store: Store, clock: Callable[[], float],
                 issues_tokens: Callable[[], bool] = lambda: False) -> None:
        self.store = store
        self.clock = clock
        self.issues_tokens = issues_tokens

    def _public(self) -> str:
        if self.store.get_tenant(PUBLIC_TENANT) is None:
            self.store.create_tenant(PUBLIC_TENANT, "requests without credentials", self.clock())
        return PUBLIC_TENANT

    def __call__(self, ctx: RequestContext) -> str | None:
        """Return the request's tenant id, or None for a key no tenant has."""
        named = ctx.request.headers.get(SANDLOT_KEY_HEADER)
        if named is not None:
            return authenticate(self.store, named.strip())
        offered = offered_credentials(ctx)
        if not offered:
            return self._public()
        found = next((t for t in (authenticate(self.store, v) for v in offered) if t), None)
        if found is not None or not self.issues_tokens():
            return found
        for value in offered:
            tenant = token_tenant(presented_token(value))
            if tenant is not None and self.store.get_tenant(tenant) is not None:
                return tenant
        return self._public()


def credential_tenant(ctx: RequestContext) -> str:
    """Identify a stateless request's tenant: one per credential, or the public tenant."""
    offered = next(iter(bearer_or_basic(ctx.request.headers.get("authorization"))), None)
    return PUBLIC_TENANT if offered is None else tenant_of_credential(offered)


def tenant_of_credential(secret: str) -> str:
    """Return the stateless mock's tenant id for a credential (derived, nothing is stored)."""
    return "cred_" + hashlib.sha256(secret.encode()).hexdigest()[:16]

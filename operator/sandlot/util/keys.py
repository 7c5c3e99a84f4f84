"""The one generator of sandbox API keys (`sk_sbx_` + 256 random bits as 64 hex digits).

Called by the operator (the credentials Secret it writes for a new sandbox) and by the data
plane (sandlot/state/keys.py: `sandlot keys create`, the admin API, `sandlot up`), so a key
made by either is accepted by both.
"""

from __future__ import annotations

import secrets

KEY_PREFIX = "sk_sbx_"
#: Random bytes in a key: 256 bits, so a stored hash needs no salt.
KEY_BYTES = 32


def new_key_secret() -> str:
    """Return a fresh sandbox key: the `sk_sbx_` prefix and 256 random bits in hex."""
    return KEY_PREFIX + secrets.token_hex(KEY_BYTES)

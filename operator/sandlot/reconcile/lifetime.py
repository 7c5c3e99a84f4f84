"""Sandbox lifetime: parse a ttl and compute when a sandbox expires.

Pure: expiry is always recomputed from the CR's creationTimestamp and spec.ttl, both stored
in the API, so it survives operator restarts and raising spec.ttl extends it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_TTL = re.compile(r"^([1-9][0-9]{0,4})(m|h|d)$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_ttl(ttl: str) -> timedelta:
    """Return the duration of a ttl such as `90m`, `72h` or `7d`; raise ValueError otherwise."""
    match = _TTL.match(ttl)
    if not match:
        raise ValueError(f"ttl {ttl!r} is not a whole number of minutes, hours or days (e.g. 90m, 72h, 7d)")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def parse_time(stamp: str) -> datetime:
    """Return an RFC 3339 timestamp as an aware datetime."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def format_time(moment: datetime) -> str:
    """Return `moment` as Kubernetes writes timestamps (UTC, seconds, `Z`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def expires_at(creation_timestamp: str, ttl: str) -> datetime:
    """Return when a sandbox created at `creation_timestamp` with `ttl` expires."""
    return parse_time(creation_timestamp) + parse_ttl(ttl)


def is_expired(creation_timestamp: str, ttl: str, now: datetime) -> bool:
    """Return True when the sandbox's lifetime is over at `now`."""
    return now >= expires_at(creation_timestamp, ttl)

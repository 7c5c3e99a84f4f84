"""Sandbox lifetime: parse a ttl and compute when a sandbox expires.

Pure: expiry is always recomputed from the CR's creationTimestamp and spec.ttl, both stored
in the API, so it survives operator restarts and raising spec.ttl extends it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sandlot.util.durations import parse_ttl

__all__ = ["expires_at", "format_time", "is_expired", "parse_time", "parse_ttl"]


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

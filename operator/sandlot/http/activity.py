"""When a stub last answered a request: what the operator reads to put an idle sandbox to sleep.

Kept by the admin router (http/admin.py), the first stage, which sees every request: each one
counts except the operator's and the kubelet's own calls (`/__sandlot/health`,
`/__sandlot/activity`, `/__sandlot/snapshot`); the rest of the admin API counts, since a test
suite resetting state is using the sandbox. Kept in memory: a restarted stub reports its start
as its last activity, so a restart never looks idle. See docs/tenants.md (sleep).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

#: Routes under /__sandlot/ that are not use of the sandbox.
PROBE_ROUTES = frozenset({"health", "activity", "snapshot"})


def _stamp(at: float | None) -> str | None:
    return None if at is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


class Activity:
    """The stub's start, its last request and how many it answered."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.started_at = clock()
        self.last_request_at: float | None = None
        self.requests = 0

    def touch(self) -> None:
        """Record one request now."""
        self.last_request_at = self.clock()
        self.requests += 1

    def report(self) -> dict[str, Any]:
        """Return what GET /__sandlot/activity answers (RFC 3339 UTC times; lastRequestAt null when none yet)."""
        return {"startedAt": _stamp(self.started_at), "lastRequestAt": _stamp(self.last_request_at),
                "requests": self.requests}

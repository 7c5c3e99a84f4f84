"""Whether an awake sandbox has been idle long enough to sleep, from what its stubs report.

Pure: the controller asks every stub of the sandbox for `GET /__sandlot/activity`
(controller/stubs.py) and passes the readings here. What is observed is every request that
reaches a stub; what is not is traffic to the app's own Service that never makes the app call
a stub (a health check, a static page). A sandbox with no stub, or a stub that cannot be
read, is never put to sleep: no signal is not the same as no use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sandlot.reconcile.lifetime import format_time, parse_time


@dataclass(frozen=True)
class Reading:
    """What one stub said about its activity (or why it could not be asked)."""

    downstream: str
    started_at: datetime | None = None
    last_request_at: datetime | None = None
    error: str | None = None

    @classmethod
    def of(cls, downstream: str, body: dict[str, Any]) -> Reading:
        """Return the reading of a `/__sandlot/activity` answer."""
        try:
            started = parse_time(body["startedAt"])
            last = parse_time(body["lastRequestAt"]) if body.get("lastRequestAt") else None
        except (KeyError, TypeError, ValueError) as exc:
            return cls(downstream, error=f"unreadable activity answer ({exc!r})")
        return cls(downstream, started, last)

    @property
    def active_at(self) -> datetime | None:
        """Return the last sign of use: the last request, else the stub's start (a restart is never idle)."""
        return self.last_request_at or self.started_at


@dataclass(frozen=True)
class IdleVerdict:
    """Sleep or not, with the last activity seen and a sentence saying why."""

    sleep: bool
    last_activity: datetime | None
    why: str


def idle_verdict(readings: list[Reading], *, awake_since: datetime, idle_after: timedelta,
                 now: datetime) -> IdleVerdict:
    """Return whether the sandbox has been idle for `idle_after` (awake_since: its admission or wake)."""
    if not readings:
        return IdleVerdict(False, None, "it has no stub whose requests can be observed")
    broken = [r for r in readings if r.error is not None]
    if broken:
        return IdleVerdict(False, None, "; ".join(f"stub {r.downstream}: {r.error}" for r in broken))
    last = max([awake_since, *(r.active_at for r in readings if r.active_at is not None)])
    quiet = now - last
    if quiet >= idle_after:
        return IdleVerdict(True, last, f"no request reached its stubs since {format_time(last)} "
                                       f"({_span(quiet)}; idleAfter {_span(idle_after)})")
    return IdleVerdict(False, last, f"last request {format_time(last)}")


def _span(delta: timedelta) -> str:
    """Return a duration as `1h5m`, `45s`."""
    seconds = int(delta.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"

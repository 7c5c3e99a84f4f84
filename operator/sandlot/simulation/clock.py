"""The virtual clock: each tenant's "now" is the base clock plus an offset the tenant moved it by.

Used by the simulation stage (simulation/stage.py): `POST /__sandlot/clock/advance` adds to a
tenant's offset; the simulation puts the offset on each request's context (`ctx.clock_offset`),
so the state stage's stored timestamps (`created`), data expiry and scheduled webhooks all read
the tenant's virtual time.
The offset lives in the tenant's state (`sandlot.clock.offset`), which a reset deletes in the
same transaction as the objects: after a reset the clock is back at the start (offset 0).

The base clock is injected (tests pass a fake), so nothing here reads the wall clock by itself.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sandlot.util.durations import DurationError

OFFSET_KEY = "sandlot.clock.offset"

#: How far a tenant's clock may be moved ahead of real time in all: 10 years (3650 days). Far
#: enough for any expiry or billing cycle; beyond it timestamps stop being dates.
MAX_OFFSET_SECONDS = 3650 * 86400.0


def offset_of(value: Any) -> float:
    """Return the offset a stored `OFFSET_KEY` value holds (0 when there is none)."""
    return float(value) if isinstance(value, (int, float)) else 0.0


class TenantState(Protocol):
    """Per-tenant key/value state that a reset clears (the Store's get_state/set_state)."""

    def get_state(self, tenant_id: str, key: str) -> Any: ...
    def get_states(self, tenant_id: str, keys: Sequence[str]) -> dict[str, Any]: ...
    def set_state(self, tenant_id: str, key: str, value: Any) -> None: ...


class VirtualClock:
    """Per-tenant virtual time over an injected base clock."""

    def __init__(self, state: TenantState, base: Callable[[], float] = time.time) -> None:
        self.state = state
        self.base = base
        #: Called with the tenant id after its clock moved (GraphQL subscriptions fed by the clock).
        self.listeners: list[Callable[[str], None]] = []

    def offset(self, tenant_id: str | None) -> float:
        """Return how far the tenant's clock was moved forward, in seconds."""
        if tenant_id is None:
            return 0.0
        return offset_of(self.state.get_state(tenant_id, OFFSET_KEY))

    def now(self, tenant_id: str | None) -> float:
        """Return the tenant's virtual time (Unix seconds)."""
        return self.base() + self.offset(tenant_id)

    def advance(self, tenant_id: str, seconds: float) -> float:
        """Move the tenant's clock forward by `seconds` and return its new virtual time."""
        if not math.isfinite(seconds):
            raise DurationError(f"cannot move the clock by {seconds!r}; give a finite duration, e.g. 3d")
        if seconds < 0:
            raise DurationError("the clock only moves forward; reset the tenant to go back to the start")
        offset = self.offset(tenant_id) + seconds
        if offset > MAX_OFFSET_SECONDS:
            raise DurationError(
                f"the clock may be at most {MAX_OFFSET_SECONDS:.0f} s (10 years) ahead of real time; "
                f"it is {self.offset(tenant_id):g} s ahead, so {seconds:g} s more is too far "
                "(reset the tenant to start over)")
        self.state.set_state(tenant_id, OFFSET_KEY, offset)
        for listener in self.listeners:
            listener(tenant_id)
        return self.now(tenant_id)

"""The one duration grammar: `250ms`, `2s`, `90m`, `72h`, `7d`, or a bare number of seconds.

Called by the simulation (scenario parameters, `Sandlot-Latency`, clock advances, rate limits,
webhook retries), the sidecar config (`retention`) and the operator (a sandbox's `spec.ttl`,
read by reconcile/lifetime.py). `parse_ttl` accepts the strict subset the CRD allows for a
ttl (whole minutes, hours or days, as its schema pattern says) through the same grammar.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Any

#: A number and an optional unit; whitespace around either is allowed.
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
#: The units a ttl may use, and the largest number it may carry (the CRD's pattern).
TTL_UNITS = ("m", "h", "d")
TTL_MAX_DIGITS = 5
_FORMS = "write e.g. 250ms, 2s, 90m, 72h or 7d"


class DurationError(ValueError):
    """A duration that cannot be read; the message names where it was and the accepted forms."""


def parse_duration(value: Any, where: str = "duration") -> float:
    """Return seconds for `250ms`, `2s`, `90m`, `72h`, `7d` or a bare number of seconds (0 or more)."""
    if isinstance(value, bool):
        raise DurationError(f"{where}: {value!r} is not a duration; {_FORMS}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise DurationError(f"{where}: {value!r} is not a finite number of seconds")
        if value < 0:
            raise DurationError(f"{where}: {value!r} is negative; durations are 0 or more")
        return float(value)
    number, unit = _split(value, where)
    seconds = float(number) * UNIT_SECONDS[unit or "s"]
    if not math.isfinite(seconds):
        raise DurationError(f"{where}: {value!r} is too long to be a duration")
    return seconds


def parse_ttl(ttl: str) -> timedelta:
    """Return the length of a sandbox ttl: a whole number (1-99999) of minutes, hours or days."""
    problem = f"ttl {ttl!r} is not a whole number of minutes, hours or days (e.g. 90m, 72h, 7d)"
    if not isinstance(ttl, str) or ttl != ttl.strip():
        raise DurationError(problem)
    try:
        number, unit = _split(ttl, "ttl")
    except DurationError:
        raise DurationError(problem) from None
    if unit not in TTL_UNITS or not number.isdigit() or number.startswith("0") \
            or len(number) > TTL_MAX_DIGITS:
        raise DurationError(problem)
    return timedelta(seconds=int(number) * UNIT_SECONDS[unit])


def _split(value: Any, where: str) -> tuple[str, str | None]:
    """Return the number and unit (None: seconds) of a duration text, or raise DurationError."""
    found = _DURATION.match(str(value))
    if not found:
        raise DurationError(f"{where}: {value!r} is not a duration; {_FORMS}")
    return found.group(1), found.group(2)

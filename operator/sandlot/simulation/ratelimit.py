"""A token-bucket rate limiter per key, with `X-RateLimit-*` and `Retry-After` headers.

Configured by the sidecar config's `rateLimit:` or the spec's `x-sandlot-rate-limit`
(`{requests: 100, per: 1s, burst: 100}`); used by the simulation stage for every API request,
keyed by the request's credential (or the tenant). The arithmetic (`take`) is a pure function
of the bucket, the limit and the time; `RateLimiter` keeps one bucket per key in memory with an
injected monotonic clock, so tests drive time by hand. Rate limits follow real (monotonic)
time, not the virtual clock: they protect the stub, they do not model business time.

Headers on every limited request: `X-RateLimit-Limit` (the burst), `X-RateLimit-Remaining`
(whole tokens left), `X-RateLimit-Reset` (seconds until the bucket is full again). A refusal
adds `Retry-After` (whole seconds until one token is back, at least 1); `refusal` is its
problem body when the operation documents no 429.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sandlot.mock.messages import MockResponse
from sandlot.util.durations import DurationError, parse_duration

#: The problem type of a refusal by the rate limiter (not a scenario: nobody asked for it).
PROBLEM_TYPE = "https://sandlot.dev/problems/rate-limit"


class RateLimitError(ValueError):
    """A rate-limit setting that cannot be used."""


@dataclass(frozen=True)
class Limit:
    """`requests` tokens refill every `per` seconds; the bucket holds at most `burst`."""

    requests: int
    per: float
    burst: int

    @property
    def rate(self) -> float:
        """Return tokens added per second."""
        return self.requests / self.per


@dataclass(frozen=True)
class Bucket:
    """Tokens left at the moment `at` (monotonic seconds)."""

    tokens: float
    at: float


@dataclass(frozen=True)
class Decision:
    """The outcome of one request against a bucket, and the headers that say so."""

    allowed: bool
    bucket: Bucket
    remaining: int
    reset_seconds: int
    retry_after: int

    def headers(self, limit: Limit) -> list[tuple[str, str]]:
        """Return the X-RateLimit-* headers (and Retry-After when refused)."""
        found = [("x-ratelimit-limit", str(limit.burst)), ("x-ratelimit-remaining", str(self.remaining)),
                 ("x-ratelimit-reset", str(self.reset_seconds))]
        if not self.allowed:
            found.append(("retry-after", str(self.retry_after)))
        return found


def limit_from(data: Any, where: str) -> Limit | None:
    """Read `{requests: N, per: 1s, burst: M}` (burst defaults to requests)."""
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise RateLimitError(f"{where}: write {{requests: 100, per: 1s, burst: 100}}")
    requests = data.get("requests")
    if not isinstance(requests, int) or requests < 1:
        raise RateLimitError(f"{where}.requests: a whole number of at least 1")
    try:
        per = parse_duration(data.get("per", "1s"), f"{where}.per")
    except DurationError as exc:
        raise RateLimitError(str(exc)) from None
    if per <= 0:
        raise RateLimitError(f"{where}.per: must be longer than 0")
    burst = data.get("burst", requests)
    if not isinstance(burst, int) or burst < 1:
        raise RateLimitError(f"{where}.burst: a whole number of at least 1")
    return Limit(requests, per, burst)


def take(bucket: Bucket | None, limit: Limit, now: float) -> Decision:
    """Refill the bucket to `now` and take one token if there is one."""
    if bucket is None:
        tokens = float(limit.burst)
    else:
        tokens = min(float(limit.burst), bucket.tokens + max(0.0, now - bucket.at) * limit.rate)
    allowed = tokens >= 1.0
    if allowed:
        tokens -= 1.0
    missing_for_one = max(0.0, 1.0 - tokens)
    return Decision(
        allowed=allowed,
        bucket=Bucket(tokens, now),
        remaining=int(math.floor(tokens + 1e-9)),
        reset_seconds=int(math.ceil((limit.burst - tokens) / limit.rate - 1e-9)),
        retry_after=max(1, int(math.ceil(missing_for_one / limit.rate - 1e-9))),
    )


def refusal(limit: Limit, decision: Decision, headers: list[tuple[str, str]]) -> MockResponse:
    """Build the 429 problem for a refused request, naming the limit it went over."""
    body = {"type": PROBLEM_TYPE, "title": "Rate limit exceeded", "status": 429,
            "detail": f"Rate limit of {limit.requests} requests per {limit.per:g} s (burst {limit.burst}) "
                      f"exceeded; retry after {decision.retry_after} s.",
            "limit": {"requests": limit.requests, "per_seconds": limit.per, "burst": limit.burst}}
    return MockResponse(429, [("content-type", "application/problem+json"), *headers],
                        json.dumps(body).encode())


class RateLimiter:
    """One token bucket per key, in memory, over an injected monotonic clock."""

    def __init__(self, limit: Limit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self._buckets: dict[str, Bucket] = {}

    def check(self, key: str) -> Decision:
        """Take one token for `key` and return the decision."""
        decision = take(self._buckets.get(key), self.limit, self.clock())
        self._buckets[key] = decision.bucket
        return decision

    def forget(self, key: str) -> None:
        """Drop a key's bucket (it starts full again)."""
        self._buckets.pop(key, None)

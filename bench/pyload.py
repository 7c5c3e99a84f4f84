"""A bounded keep-alive HTTP/1.1 load generator in asyncio, used when wrk is not installed.

Called by `bench.load.run_load`. N connections each send GET requests back to back for a fixed
duration and record every latency; responses are framed by Content-Length or chunked encoding.
It shares the CPU with the server under test, so its absolute figures are lower than wrk's; the
ratio between two servers measured the same way is still meaningful.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

REQUEST_TIMEOUT_S = 10.0
DISTINCT = "{n}"  # in a URL path: replaced by a number never sent before in this run


@dataclass
class Stats:
    """Latencies and counts gathered by all connections."""

    duration_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)
    bad_responses: int = 0
    errors: int = 0

    @property
    def requests(self) -> int:
        """Count the completed requests."""
        return len(self.latencies_s)

    @property
    def rps(self) -> float:
        """Return completed requests per second."""
        return self.requests / self.duration_s if self.duration_s else 0.0

    def percentile_ms(self, pct: float) -> float:
        """Return a latency percentile in milliseconds (nearest rank; NaN with no requests)."""
        if not self.latencies_s:
            return math.nan
        ordered = sorted(self.latencies_s)
        rank = max(1, math.ceil(pct / 100 * len(ordered)))
        return ordered[rank - 1] * 1000


def build_request(host: str, port: int, path: str, headers: dict[str, str]) -> bytes:
    """Encode one keep-alive GET request."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; return its status and whether the server keeps the connection open."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
    if fields.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(int(fields.get("content-length", "0")))
    return status, fields.get("connection", "").lower() != "close"


async def _connection(
    host: str, port: int, next_request: Callable[[], bytes], stop_at: float, stats: Stats,
) -> None:
    writer = None
    while time.monotonic() < stop_at:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            request = next_request()
            started = time.perf_counter()
            writer.write(request)
            status, keep = await asyncio.wait_for(read_response(reader), REQUEST_TIMEOUT_S)
            stats.latencies_s.append(time.perf_counter() - started)
            stats.bad_responses += not 200 <= status < 400
            if not keep:
                writer.close()
                writer = None
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError):
            stats.errors += 1
            if writer is not None:
                writer.close()
            writer = None
            await asyncio.sleep(0.01)
    if writer is not None:
        writer.close()


async def _run(url: str, headers: dict[str, str], connections: int, duration_s: float, first_number: int) -> Stats:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if DISTINCT in path:
        numbers = itertools.count(first_number)
        def next_request() -> bytes:
            return build_request(parts.hostname, parts.port, path.replace(DISTINCT, str(next(numbers))), headers)
    else:
        fixed = build_request(parts.hostname, parts.port, path, headers)
        def next_request() -> bytes:
            return fixed
    stats = Stats()
    started = time.monotonic()
    stop_at = started + duration_s
    tasks = [_connection(parts.hostname, parts.port, next_request, stop_at, stats) for _ in range(connections)]
    await asyncio.wait_for(asyncio.gather(*tasks), duration_s + REQUEST_TIMEOUT_S + 5)
    stats.duration_s = time.monotonic() - started
    return stats


def run(url: str, headers: dict[str, str], connections: int, duration_s: float, first_number: int = 1) -> Stats:
    """Load one URL with N keep-alive connections for a fixed duration (`{n}`: distinct per request)."""
    try:
        import uvloop  # installed with uvicorn[standard]; about twice as fast as the default loop
    except ImportError:
        return asyncio.run(_run(url, headers, connections, duration_s, first_number))
    return uvloop.run(_run(url, headers, connections, duration_s, first_number))

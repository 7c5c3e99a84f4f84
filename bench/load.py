"""Runs the load generator against one server and parses what it reports.

Called by the runner for every throughput scenario. wrk is used when present (`-t2 -c32 -d10s
--latency` in a full run); otherwise `pyload` sends the same kind of keep-alive load from Python.
`parse_wrk` is pure and turns wrk's text report into a `LoadResult`.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import tempfile
from dataclasses import dataclass
from urllib.parse import urlsplit

from bench import pyload

DISTINCT = "{n}"  # in a URL: replaced by a number never sent before in this run
# Each load test (warm-up included) starts its numbers at a new offset, so none repeat.
_OFFSETS = itertools.count(start=10**6, step=10**6)

# Each wrk thread has its own Lua state: ids interleave by thread so no two requests repeat.
_WRK_DISTINCT_SCRIPT = """
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local counter = %(offset)d
function request()
  counter = counter + 1
  return wrk.format(nil, %(prefix)s .. (counter * 64 + tid) .. %(suffix)s)
end
"""

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_DURATION = re.compile(r"^([\d.]+)(us|ms|s|m|h)$")


@dataclass(frozen=True)
class LoadResult:
    """What one load test measured."""

    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    bad_responses: int   # non-2xx/3xx answers: a fast error is not a fast mock
    socket_errors: int   # connect/read/write errors and timeouts
    tool: str


def _to_ms(text: str) -> float:
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"unexpected wrk duration {text!r}")
    return float(match.group(1)) * _UNIT_MS[match.group(2)]


def parse_wrk(text: str) -> LoadResult:
    """Parse the report of `wrk --latency` into a LoadResult (ValueError if a figure is missing)."""
    percentiles = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)\s*$", text, re.MULTILINE))
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.MULTILINE)
    total = re.search(r"^\s+(\d+) requests in", text, re.MULTILINE)
    if not (rps and total and {"50", "99"} <= percentiles.keys()):
        raise ValueError("wrk report lacks Requests/sec, the request count or the 50%/99% latencies:\n" + text)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return LoadResult(
        requests=int(total.group(1)),
        rps=float(rps.group(1)),
        p50_ms=_to_ms(percentiles["50"]),
        p99_ms=_to_ms(percentiles["99"]),
        bad_responses=int(bad.group(1)) if bad else 0,
        socket_errors=sum(int(n) for n in socket.groups()) if socket else 0,
        tool="wrk",
    )


def wrk_distinct_script(url: str, offset: int) -> tuple[str, str]:
    """Return a wrk Lua script that fills `{n}` with a new number per request, and wrk's URL."""
    parts = urlsplit(url)
    prefix, _, suffix = (parts.path + (f"?{parts.query}" if parts.query else "")).partition(DISTINCT)
    lua = _WRK_DISTINCT_SCRIPT % {"prefix": json.dumps(prefix), "suffix": json.dumps(suffix), "offset": offset}
    return lua, f"{parts.scheme}://{parts.netloc}/"


def run_wrk(
    wrk: str, url: str, headers: dict[str, str], threads: int, connections: int, duration_s: float,
) -> LoadResult:
    """Load one URL with wrk for a fixed duration and return what it measured.

    A URL containing `{n}` gets a different number in every request (a Lua script does it).
    """
    argv = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration_s))}s", "--latency",
            "--timeout", "10s"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        if DISTINCT in url:
            lua, url = wrk_distinct_script(url, next(_OFFSETS))
            script.write(lua)
            script.flush()
            argv += ["-s", script.name]
        done = subprocess.run(
            [*argv, url], capture_output=True, text=True, timeout=duration_s + 60, check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited with {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
    return parse_wrk(done.stdout)


def run_load(
    wrk: str | None, url: str, headers: dict[str, str], threads: int, connections: int,
    duration_s: float,
) -> LoadResult:
    """Load one URL with wrk when available, else with the Python fallback."""
    if wrk:
        return run_wrk(wrk, url, headers, threads, connections, duration_s)
    stats = pyload.run(url, headers, connections, duration_s, first_number=next(_OFFSETS))
    return LoadResult(
        requests=stats.requests, rps=stats.rps, p50_ms=stats.percentile_ms(50),
        p99_ms=stats.percentile_ms(99), bad_responses=stats.bad_responses,
        socket_errors=stats.errors, tool="python",
    )

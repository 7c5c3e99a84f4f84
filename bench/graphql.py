"""`make bench`'s GraphQL section: Sandlot's GraphQL mock against @graphql-tools/mock in the same run.

Both serve GitHub's public schema (the introspection result in @octokit/graphql-schema, as the
issue measured) on 127.0.0.1 and answer the same nested query, one server at a time:

- start-up: process start to the first answer to the query (Sandlot also on the 1.2 MB SDL, with
  an empty SDL cache and again with the cache its first start wrote: cold and warm);
- req/s and p99 with wrk (`-t2 -c32`, POST): the same request again and again (Sandlot answers a
  repeated request from its cache, as its REST mock does), and a new request each time (the
  variables change) to show the cost of executing;
- the server's CPU time per request during each load (user + system of its process tree, divided
  by the requests wrk counted): unlike req/s it does not move with the other jobs on the machine;
- peak RSS of the server's process tree;
- what each answers for a string and a count field (the values look real, counts not negative).

Run: `python -m bench.graphql [--quick]`; writes bench/results/graphql.md. No timed assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.config import REPO_ROOT, RESULTS_DIR
from bench.load import LoadResult, parse_wrk
from bench.processes import ServerProcess, install_cleanup, stop_all
from bench.runner import free_port

CACHE = REPO_ROOT / ".cache" / "bench-graphql"
PEER_PACKAGES = {"@graphql-tools/mock": "9", "@graphql-tools/schema": "10", "graphql": "16",
                 "@octokit/graphql-schema": "15.26.1"}
SCHEMA_JSON = CACHE / "node_modules" / "@octokit" / "graphql-schema" / "schema.json"
SCHEMA_SDL = CACHE / "node_modules" / "@octokit" / "graphql-schema" / "schema.graphql"
QUERY = ("query Repo($owner: String!, $name: String!) { repository(owner: $owner, name: $name) { "
         "name description stargazerCount forkCount createdAt url owner { login avatarUrl } "
         "issues(first: 5) { totalCount nodes { number title createdAt author { login } } } } }")
VARIABLES = {"owner": "octocat", "name": "hello-world"}

_SAME = """
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = %(body)s
"""
_DISTINCT = """
local counter = 0
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function request()
  counter = counter + 1
  local body = %(prefix)s .. (counter * 64 + tid) .. %(suffix)s
  return wrk.format("POST", nil, {["content-type"] = "application/json"}, body)
end
"""


def _log(message: str) -> None:
    print(f"[bench graphql {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def prepare() -> str | None:
    """Install the peer and the schema under .cache/bench-graphql; return a problem or None."""
    if SCHEMA_JSON.is_file() and (CACHE / "node_modules" / "@graphql-tools" / "mock").is_dir():
        return None
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        return "node/npm not found: install Node.js 18+ to compare with @graphql-tools/mock"
    CACHE.mkdir(parents=True, exist_ok=True)
    specs = [f"{name}@{version}" for name, version in PEER_PACKAGES.items()]
    _log(f"set-up: npm install --prefix {CACHE} {' '.join(specs)}")
    done = subprocess.run([npm, "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", *specs],
                          capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0 or not SCHEMA_JSON.is_file():
        return "npm install failed: " + done.stderr.strip()[-300:]
    return None


def post(port: int, body: dict, timeout: float = 5.0) -> dict | None:
    """POST a GraphQL request; return the JSON answer, or None when nothing answers (yet)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback only
            return json.loads(response.read())
    except (OSError, ValueError):
        return None


def cpu_seconds(pid: int) -> float | None:
    """Return the CPU time (user + system) a process has used: start-up cost that, unlike the wall
    clock, does not grow when other jobs share the machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Row:
    """What one server measured."""

    name: str
    startup_s: float | None
    startup_cpu_s: float | None
    same: LoadResult | None
    distinct: LoadResult | None
    rss_mib: float | None
    sample: dict | None
    same_cpu_ms: float | None = None  # server CPU per request during the load
    distinct_cpu_ms: float | None = None


def start(name: str, argv: list[str], port: int, timeout: float = 120, env: dict[str, str] | None = None
          ) -> tuple[ServerProcess, float | None, dict | None, float | None]:
    """Start a server; return it, the seconds to its first answer to the query, that answer and
    the CPU seconds it used until then."""
    logs = CACHE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    server = ServerProcess(argv, logs / f"{name}.log", cwd=CACHE,
                           env={**os.environ, "GRAPHQL_PEER_MODULES": str(CACHE / "node_modules"), **(env or {})})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.alive:
        answer = post(port, {"query": QUERY, "variables": VARIABLES}, timeout=2)
        if answer is not None:
            return server, time.monotonic() - server.started_at, answer, cpu_seconds(server.proc.pid)
        time.sleep(0.05)
    return server, None, None, None


def wrk(port: int, script: str, duration: int) -> LoadResult:
    """Run wrk (-t2 -c32) with a Lua script against the server's /graphql."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    argv = ["wrk", "-t2", "-c32", f"-d{duration}s", "--latency", "--timeout", "10s", "-s", handle.name,
            f"http://127.0.0.1:{port}/graphql"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60, check=False)
    Path(handle.name).unlink()
    return parse_wrk(done.stdout)


def same_script() -> str:
    body = json.dumps({"query": QUERY, "variables": VARIABLES})
    return _SAME % {"body": json.dumps(body)}


def distinct_script() -> str:
    prefix, suffix = json.dumps({"query": QUERY, "variables": {"owner": "octocat", "name": "@@"}}).split("@@")
    return _DISTINCT % {"prefix": json.dumps(prefix), "suffix": json.dumps(suffix)}


def loaded(server: ServerProcess, port: int, script: str, duration: int) -> tuple[LoadResult, float | None]:
    """Run one load; return wrk's result and the server's CPU milliseconds per request."""
    before = server.cpu_seconds()
    result = wrk(port, script, duration)
    spent = server.cpu_seconds() - before
    return result, (spent * 1000 / result.requests if result.requests else None)


def measure(name: str, argv_for, duration: int) -> Row:
    port = free_port()
    server, startup, sample, cpu = start(name, argv_for(port), port)
    try:
        if startup is None:
            _log(f"{name}: no answer ({server.log_tail(3)})")
            return Row(name, None, None, None, None, None, None)
        post(port, {"query": QUERY, "variables": VARIABLES})
        wrk(port, same_script(), 2)  # warm-up
        same, same_cpu = loaded(server, port, same_script(), duration)
        fresh, fresh_cpu = loaded(server, port, distinct_script(), duration)
        return Row(name, startup, cpu, same, fresh, server.peak_rss_mib(), sample, same_cpu, fresh_cpu)
    finally:
        server.stop()


def sdl_startups(argv_for) -> list[tuple[float | None, float | None]]:
    """Start Sandlot on the SDL twice with a new, empty cache directory: (seconds, CPU seconds) of
    the cold start (parses, writes the cache) and of the warm one (reads it)."""
    found = []
    with tempfile.TemporaryDirectory(prefix="bench-graphql-xdg-") as xdg:
        for label in ("cold", "warm"):
            port = free_port()
            server, seconds, _, cpu = start(f"sandlot-sdl-{label}", argv_for(port), port,
                                            env={"XDG_CACHE_HOME": xdg})
            server.stop()
            found.append((seconds, cpu))
    return found


def _fmt(value: float | None, pattern: str) -> str:
    return "–" if value is None else pattern.format(value)


def render(rows: list[Row], sdl: list[tuple[float | None, float | None]], duration: int) -> str:
    version = PEER_PACKAGES["@octokit/graphql-schema"]
    lines = [f"GitHub's public schema (introspection JSON, @octokit/graphql-schema {version}), "
             f"nested query (repository, owner, issues(first: 5) with authors); wrk -t2 -c32 -d{duration}s, POST, "
             "one server at a time on this machine. Start-up is process start to the first answer to the query "
             "(in brackets the CPU time the server used until then: it does not grow with other load). "
             "CPU/req is the server's CPU time per request during that load.", "",
             "| server | start-up (CPU) | req/s (same request) | p99 | CPU/req | req/s (new request each time) | p99 "
             "| CPU/req | peak RSS |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row.name} | {_fmt(row.startup_s, '{:.2f} s')} ({_fmt(row.startup_cpu_s, '{:.2f} s')}) "
                     f"| {_fmt(row.same and row.same.rps, '{:,.0f}')} "
                     f"| {_fmt(row.same and row.same.p99_ms, '{:.1f} ms')} "
                     f"| {_fmt(row.same_cpu_ms, '{:.2f} ms')} "
                     f"| {_fmt(row.distinct and row.distinct.rps, '{:,.0f}')} "
                     f"| {_fmt(row.distinct and row.distinct.p99_ms, '{:.1f} ms')} "
                     f"| {_fmt(row.distinct_cpu_ms, '{:.2f} ms')} "
                     f"| {_fmt(row.rss_mib, '{:.0f} MiB')} |")
    (cold_s, cold_cpu), (warm_s, warm_cpu) = sdl
    lines += ["", "Sandlot start-up on the 1.2 MB SDL (parse, merge the duplicates, build): "
                  f"cold (empty SDL cache) {_fmt(cold_s, '{:.2f} s')} ({_fmt(cold_cpu, '{:.2f} s')} CPU), "
                  f"warm (the cache written by the cold start) "
                  f"{_fmt(warm_s, '{:.2f} s')} ({_fmt(warm_cpu, '{:.2f} s')} CPU)",
              "", "What each answered for the repository (description, stargazerCount, owner.login):"]
    for row in rows:
        repo = ((row.sample or {}).get("data") or {}).get("repository") or {}
        lines.append(f"- {row.name}: {repo.get('description')!r}, {repo.get('stargazerCount')!r}, "
                     f"{(repo.get('owner') or {}).get('login')!r}")
    ours = next((r for r in rows if r.name.startswith("Sandlot")), None)
    peer = next((r for r in rows if not r.name.startswith("Sandlot")), None)
    if ours and peer and ours.same and peer.same:
        lines += ["", f"Ratio (same request): {ours.same.rps / peer.same.rps:.1f}x the peer's req/s "
                      f"(goal: at least 2x); start-up goal: under 2 s on the large schema."]
    if ours and peer and ours.distinct and peer.same and peer.distinct:
        lines += [f"Ratio (new request each time): {ours.distinct.rps / peer.distinct.rps:.1f}x the peer's req/s "
                  f"on new requests, {ours.distinct.rps / peer.same.rps:.1f}x on its repeated request."]
    if ours and peer and ours.distinct_cpu_ms and peer.distinct_cpu_ms and peer.same_cpu_ms:
        lines += [f"CPU per new request: Sandlot {ours.distinct_cpu_ms:.2f} ms, the peer "
                  f"{peer.distinct_cpu_ms:.2f} ms ({peer.same_cpu_ms:.2f} ms on its repeated request)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.graphql", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (checks the harness only)")
    args = parser.parse_args(argv)
    duration = 2 if args.quick else 10
    install_cleanup()
    problem = prepare()
    if problem:
        _log(f"skipped: {problem}")
        return 0
    if shutil.which("wrk") is None:
        _log("skipped: wrk not found (apt-get install wrk)")
        return 0
    sandlot = [sys.executable, "-m", "sandlot.cli", "mock"]
    peer = ["node", str(REPO_ROOT / "bench" / "graphql_peer.mjs"), str(SCHEMA_JSON)]
    rows = []
    try:
        rows.append(measure("Sandlot", lambda p: [*sandlot, str(SCHEMA_JSON), "--port", str(p), "--no-watch",
                                                   "--log-level", "warning"], duration))
        rows.append(measure("@graphql-tools/mock 9 (Node)", lambda p: [*peer, str(p)], duration))
        sdl = sdl_startups(lambda p: [*sandlot, str(SCHEMA_SDL), "--port", str(p), "--no-watch",
                                      "--log-level", "warning"])
    finally:
        stop_all()
    text = render(rows, sdl, duration)
    print(text)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / ("graphql-quick.md" if args.quick else "graphql.md")).write_text(
        f"## GraphQL mock vs @graphql-tools/mock, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Measure the stateful mode's req/s next to the stateless mode's, in one run, on the payments
example; one worker process against two; a page listed from a tenant holding 10,000 objects
(p50); 1,000 tenants of 100 objects each (RSS and p99); and the reset time of a tenant seeded
with 10,000 objects.

Run: `.venv/bin/python -m tests.sandbox.measure_throughput [--seconds 3]`. Not a test (no timed
assertions); the figures go in the issue note and docs/stateful.md. Uses `wrk` when it is
installed (Debian `wrk`), else a bounded sequential httpx loop (much lower absolute numbers,
same comparison).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.config import THROUGHPUT_ROUNDS

from .conftest import EXAMPLE, configmap_value
from .servers import free_port, start, start_stateful_mock, stop
from .test_store import measure_reset

ADMIN = "adm_measure"


def wrk_rate(url: str, key: str, seconds: float, method: str = "GET", body: str = "",
             workdir: Path = Path(".")) -> float:
    """Return wrk's requests/s for one URL (2 threads, 16 connections)."""
    script = workdir / f"{method.lower()}.lua"
    script.write_text(f'wrk.method = "{method}"\nwrk.body = [[{body}]]\n'
                      'wrk.headers["Content-Type"] = "application/json"\n'
                      f'wrk.headers["Authorization"] = "Bearer {key}"\n')
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{max(1, round(seconds))}s", "-s", str(script), url],
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"{method} {url}: {non2xx.group(1)} non-2xx responses\n{out}")
    return float(found.group(1)) if found else 0.0


def loop_rate(url: str, key: str, requests: int, method: str = "GET", body: str = "") -> float:
    """Return requests/s of a sequential keep-alive loop of `requests` requests."""
    with httpx.Client(headers={"authorization": f"Bearer {key}",
                               "content-type": "application/json"}) as client:
        started = time.perf_counter()
        for _ in range(requests):
            response = client.request(method, url, content=body or None)
            assert response.status_code < 300, response.text
        return requests / (time.perf_counter() - started)


def wrk_figures(url: str, seconds: float, lua: str, workdir: Path, connections: int = 16) -> tuple[float, float]:
    """Return (req/s, p99 ms) of wrk running the Lua script `lua` against `url`."""
    from bench.load import parse_wrk

    script = workdir / "figures.lua"
    script.write_text(lua)
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "-s",
                          str(script), url], capture_output=True, text=True, timeout=seconds + 30).stdout
    result = parse_wrk(out)
    if result.bad_responses:
        raise RuntimeError(f"{url}: {result.bad_responses} non-2xx responses\n{out}")
    return result.rps, result.p99_ms


def _payments(work: Path, fixtures: dict[str, Any] | None = None) -> tuple[Path, Path]:
    spec = work / "payments.yaml"
    spec.write_text(configmap_value(EXAMPLE / "payments-openapi.yaml", "openapi.yaml"))
    seed = work / "fixtures.json"
    if fixtures is None:
        seed.write_text(json.dumps(yaml.safe_load(configmap_value(EXAMPLE / "payments-fixtures.yaml",
                                                                  "fixtures.yaml"))))
    else:
        seed.write_text(json.dumps(fixtures))
    return spec, seed


def _peak_rss_mib(pid: int) -> float:
    """Return a process's (and its children's) peak resident memory in MiB."""
    total = 0.0
    for proc in [pid, *_children(pid)]:
        status = Path(f"/proc/{proc}/status").read_text()
        total += int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]
    return total


def _children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in found.read_text().split()] if found.exists() else []


def measure_workers(seconds: float) -> list[tuple[str, float, float]]:
    """Return (request, req/s with 1 worker, req/s with 2 workers) on the stateful payments stub."""
    rows = []
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            spec, seed = _payments(work)
            proc, root = start_stateful_mock(spec, work / "w.db", seed, ADMIN,
                                             extra=["--log-level", "error", "--workers", str(workers)])
            key = proc.stdout.readline().split(": ")[-1].strip()
            try:
                for i, (label, method, path, body) in enumerate(_CASES):
                    rate = wrk_rate(root + path, key, seconds, method, body, work)
                    if workers == 1:
                        rows.append((label, rate, 0.0))
                    else:
                        rows[i] = (label, rows[i][1], rate)
            finally:
                stop(proc)
    return rows


def measure_big_list(objects: int = 10_000, requests: int = 300) -> tuple[float, float]:
    """Return (p50 ms, p99 ms) of listing a page of 10 (`?limit=10&starting_after=` the middle
    object) from a tenant holding `objects` customers, one keep-alive client, over HTTP."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        spec, seed = _payments(work, {"customers": [
            {"id": f"cus_seed_{i:05d}", "email": f"user{i}@example.com", "name": f"User {i}"}
            for i in range(objects)]})
        proc, root = start_stateful_mock(spec, work / "big.db", seed, ADMIN, extra=["--log-level", "error"])
        key = proc.stdout.readline().split(": ")[-1].strip()
        try:
            with httpx.Client(base_url=root, headers={"authorization": f"Bearer {key}"}, timeout=30) as client:
                times = []
                for i in range(requests + 20):
                    query = "limit=10" if i % 2 else f"limit=10&starting_after=cus_seed_{objects // 2:05d}"
                    started = time.perf_counter()
                    response = client.get("/v1/customers?" + query)
                    elapsed = (time.perf_counter() - started) * 1000
                    assert response.status_code == 200 and len(response.json()["data"]) == 10, response.text
                    if i >= 20:  # after the warm-up
                        times.append(elapsed)
        finally:
            stop(proc)
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.99)]


def measure_many_tenants(seconds: float, tenants: int = 1000, objects: int = 100) -> tuple[float, float, float]:
    """Return (req/s, p99 ms, peak RSS MiB) of a stub holding `tenants` tenants of `objects`
    customers each, every request from another tenant (a page of 10, or one customer)."""
    from sandlot.state.auth import issue_for_tenant
    from sandlot.state.sqlite_store import SQLiteStore

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        spec, seed = _payments(work, {"customers": [
            {"id": f"cus_seed_{i:03d}", "email": f"user{i}@example.com", "name": f"User {i}"}
            for i in range(objects)]})
        db = work / "tenants.db"
        proc, _ = start_stateful_mock(spec, db, seed, ADMIN, extra=["--log-level", "error"])
        keys = [proc.stdout.readline().split(": ")[-1].strip()]  # the first tenant's
        stop(proc)  # the seed is registered; now the other tenants, each seeded with it
        store = SQLiteStore(db)
        keys += [issue_for_tenant(store, time.time(), name=f"t{i}")[1].secret for i in range(tenants - 1)]
        store.close()
        proc, root = start_stateful_mock(spec, db, seed, ADMIN, extra=["--log-level", "error"])
        lua = ("local keys = {" + ",".join(f'"{k}"' for k in keys) + "}\nlocal n = 0\n"
               "request = function()\n  n = n + 1\n  local key = keys[(n % #keys) + 1]\n"
               "  local path = (n % 2 == 0) and '/v1/customers?limit=10' or '/v1/customers/cus_seed_042'\n"
               "  return wrk.format('GET', path, {['Authorization'] = 'Bearer ' .. key})\nend\n")
        try:
            rps, p99 = wrk_figures(root + "/", seconds, lua, work)
            rss = _peak_rss_mib(proc.pid)
        finally:
            stop(proc)
    return rps, p99, rss


_CASES = [("GET /v1/customers/cus_seed_ada", "GET", "/v1/customers/cus_seed_ada", ""),
          ("GET /v1/customers (list)", "GET", "/v1/customers?limit=10", ""),
          ("POST /v1/customers (create)", "POST", "/v1/customers", '{"email": "load@example.com"}')]


def measure(seconds: float, rounds: int = THROUGHPUT_ROUNDS) -> list[tuple[str, float, float]]:
    """Return (request, stateless req/s, stateful req/s) rows: each side loaded `rounds` times,
    alternately, and its fastest run kept, as the bench's throughput rows do (bench/runner.py): on
    a shared machine one run of a side can land in a busy second, and the same code has moved 1.8x
    between runs minutes apart."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        spec = work / "payments.yaml"
        spec.write_text(configmap_value(EXAMPLE / "payments-openapi.yaml", "openapi.yaml"))
        fixtures = work / "fixtures.yaml"
        fixtures.write_text(configmap_value(EXAMPLE / "payments-fixtures.yaml", "fixtures.yaml"))
        port = free_port()
        stateless = start(["mock", str(spec), "--port", str(port), "--no-watch", "--log-level", "error"],
                          f"http://127.0.0.1:{port}/v1/customers")
        stateful, root = start_stateful_mock(spec, work / "s.db", fixtures, ADMIN,
                                             extra=["--log-level", "error"])
        key = stateful.stdout.readline().split(": ")[-1].strip()
        try:
            for label, method, path, body in _CASES:
                rates = [0.0, 0.0]
                for _ in range(max(1, rounds)):
                    for side, base in enumerate((f"http://127.0.0.1:{port}", root)):
                        if shutil.which("wrk"):
                            rate = wrk_rate(base + path, key, seconds, method, body, work)
                        else:
                            rate = loop_rate(base + path, key, 300, method, body)
                        rates[side] = max(rates[side], rate)
                rows.append((label, rates[0], rates[1]))
        finally:
            stop(stateless)
            stop(stateful)
    return rows


def measure_http_reset(objects: int = 10_000) -> tuple[float, float]:
    """Return (server-side ms, client-observed ms) of `POST /__sandlot/reset` for a tenant of
    a stateful server seeded with `objects` customers."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        spec = work / "payments.yaml"
        spec.write_text(configmap_value(EXAMPLE / "payments-openapi.yaml", "openapi.yaml"))
        fixtures = work / "fixtures.json"
        fixtures.write_text(json.dumps({"customers": [
            {"id": f"cus_seed_{i}", "email": f"user{i}@example.com", "name": f"User {i}"}
            for i in range(objects)]}))
        proc, root = start_stateful_mock(spec, work / "big.db", fixtures, ADMIN)
        key = proc.stdout.readline().split(": ")[-1].strip()
        try:
            auth = {"authorization": f"Bearer {key}"}
            httpx.post(root + "/v1/customers", json={"email": "extra@example.com"}, headers=auth)
            started = time.perf_counter()
            answer = httpx.post(root + "/__sandlot/reset", headers=auth, timeout=60).json()
            client_ms = (time.perf_counter() - started) * 1000
            assert answer["objects"] == objects, answer
            return answer["duration_ms"], client_ms
        finally:
            stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=THROUGHPUT_ROUNDS,
                        help=f"runs of each side per request, alternately; the fastest counts (default "
                             f"{THROUGHPUT_ROUNDS})")
    args = parser.parse_args()
    tool = "wrk -t2 -c16" if shutil.which("wrk") else "sequential httpx loop"
    print(f"| request ({tool}, {args.seconds:g} s each, fastest of {args.rounds} alternate runs per side) "
          "| stateless req/s | stateful req/s | ratio |")
    print("|---|---:|---:|---:|")
    for label, plain, stateful in measure(args.seconds, args.rounds):
        print(f"| {label} | {plain:,.0f} | {stateful:,.0f} | {stateful / plain:.2f} |")
    if shutil.which("wrk"):
        print(f"\n| stateful request (wrk -t2 -c16, {args.seconds:g} s each) | 1 worker req/s | 2 workers req/s "
              "| ratio |\n|---|---:|---:|---:|")
        for label, one, two in measure_workers(args.seconds):
            print(f"| {label} | {one:,.0f} | {two:,.0f} | {two / one:.2f} |")
    p50, p99 = measure_big_list()
    print(f"\nlist a page of 10 from a tenant holding 10,000 objects (HTTP, one keep-alive client, 300 requests):"
          f" p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    if shutil.which("wrk"):
        rps, p99, rss = measure_many_tenants(args.seconds)
        print(f"1,000 tenants x 100 objects (each request another tenant; a page or one object; wrk -t2 -c16):"
              f" {rps:,.0f} req/s, p99 {p99:.2f} ms, peak RSS {rss:.0f} MiB")
    with tempfile.TemporaryDirectory() as tmp:
        runs = sorted(measure_reset(Path(tmp) / str(i)) for i in range(3) if (Path(tmp) / str(i)).mkdir() is None)
    print(f"\nreset of a tenant with 10,000 seeded objects (store): median {runs[1]:.1f} ms "
          f"(runs: {', '.join(f'{r:.1f}' for r in runs)})")
    server_ms, client_ms = measure_http_reset()
    print(f"reset over HTTP (POST /__sandlot/reset, 10,000 seeded customers): {server_ms:.1f} ms "
          f"in the server, {client_ms:.1f} ms seen by the client")


if __name__ == "__main__":
    main()

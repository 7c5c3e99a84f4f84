"""Measure the stateful mode's req/s next to the stateless mode's, in one run, on the payments
example; and the reset time of a tenant seeded with 10,000 objects.

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

import httpx

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


def measure(seconds: float) -> list[tuple[str, float, float]]:
    """Return (request, stateless req/s, stateful req/s) rows."""
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
            cases = [("GET /v1/customers/cus_seed_ada", "GET", "/v1/customers/cus_seed_ada", ""),
                     ("GET /v1/customers (list)", "GET", "/v1/customers?limit=10", ""),
                     ("POST /v1/customers (create)", "POST", "/v1/customers",
                      '{"email": "load@example.com"}')]
            for label, method, path, body in cases:
                rates = []
                for base in (f"http://127.0.0.1:{port}", root):
                    if shutil.which("wrk"):
                        rates.append(wrk_rate(base + path, key, seconds, method, body, work))
                    else:
                        rates.append(loop_rate(base + path, key, 300, method, body))
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
    args = parser.parse_args()
    tool = "wrk -t2 -c16" if shutil.which("wrk") else "sequential httpx loop"
    print(f"| request ({tool}, {args.seconds:g} s each) | stateless req/s | stateful req/s | ratio |")
    print("|---|---:|---:|---:|")
    for label, plain, stateful in measure(args.seconds):
        print(f"| {label} | {plain:,.0f} | {stateful:,.0f} | {stateful / plain:.2f} |")
    with tempfile.TemporaryDirectory() as tmp:
        runs = sorted(measure_reset(Path(tmp) / str(i)) for i in range(3) if (Path(tmp) / str(i)).mkdir() is None)
    print(f"\nreset of a tenant with 10,000 seeded objects (store): median {runs[1]:.1f} ms "
          f"(runs: {', '.join(f'{r:.1f}' for r in runs)})")
    server_ms, client_ms = measure_http_reset()
    print(f"reset over HTTP (POST /__sandlot/reset, 10,000 seeded customers): {server_ms:.1f} ms "
          f"in the server, {client_ms:.1f} ms seen by the client")


if __name__ == "__main__":
    main()

"""Per-request work of the stateful mode in-process: the payments example without a server.

Run by hand while profiling (`python -m bench.stateful_inprocess [--profile read|list|create]`).
It builds the app `sandlot mock --stateful` serves (http/compose.py: admin, journal in the state
file, simulation, state) over a temporary state file seeded with the example's fixtures, issues
one key, and times through `Pipeline.handle` (no ASGI edge, no uvicorn), in CPU time of this
process, the three requests `tests/sandbox/measure_throughput.py` loads over HTTP:

- `read`: `GET /v1/customers/cus_seed_ada`;
- `list`: `GET /v1/customers?limit=10`;
- `create`: `POST /v1/customers` with a small JSON body (the table grows as in the load test);
- `read*` and `list*`: the two reads with a header new in every request, which no kept answer
  fits in either mode: the work of a read that is not a repeat;

and the same three on the stateless mock for comparison (whose answer cache serves the two
identical reads, as it does in the load test). Every figure is the best of several rounds, so a
busy machine inflates it less; ratios of in-process figures are not req/s ratios over HTTP (the
edge and the server add the same cost to both modes).
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bench.config import REPO_ROOT

EXAMPLE = REPO_ROOT / "examples" / "payments"
ADMIN = "adm_inprocess"
CASES: dict[str, tuple[str, str, str, bytes]] = {
    "read": ("GET", "/v1/customers/cus_seed_ada", "", b""),
    "list": ("GET", "/v1/customers", "limit=10", b""),
    "create": ("POST", "/v1/customers", "", b'{"email": "load@example.com"}'),
    # The same reads with an `x-request-id` header new in every request, as some clients send:
    # no kept answer fits (both modes key them on the whole request), so every one is worked out.
    "read*": ("GET", "/v1/customers/cus_seed_ada", "", b""),
    "list*": ("GET", "/v1/customers", "limit=10", b""),
}


def _configmap_value(path: Path, key: str) -> str:
    return str(yaml.safe_load(path.read_text())["data"][key])


def _rounds(work: Callable[[], Any], count: int, rounds: int) -> tuple[float, float]:
    """Return the best (CPU, wall-clock) microseconds per call of `work` over `rounds` rounds of
    `count` calls (wall-clock time also counts waiting on the file system, and other processes)."""
    for _ in range(max(1, count // 10)):  # warm the plans and caches
        work()
    best_cpu = best_wall = float("inf")
    for _ in range(rounds):
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(count):
            work()
        best_cpu = min(best_cpu, (time.process_time() - cpu) / count * 1e6)
        best_wall = min(best_wall, (time.perf_counter() - wall) / count * 1e6)
    return best_cpu, best_wall


def measure(count: int = 2000, rounds: int = 5, profile: str | None = None) -> dict[str, tuple[float, float]]:
    """Return (CPU, wall-clock) microseconds per request, `stateful <case>` and `stateless <case>`."""
    from sandlot.http.compose import build_app
    from sandlot.http.reload import freeze_heap
    from sandlot.mock.messages import MockRequest
    from sandlot.state.fixtures import parse_fixtures

    figures: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        spec = work / "payments.yaml"
        spec.write_text(_configmap_value(EXAMPLE / "payments-openapi.yaml", "openapi.yaml"))
        fixtures = parse_fixtures(_configmap_value(EXAMPLE / "payments-fixtures.yaml", "fixtures.yaml"))
        stateful = build_app(str(spec), db=work / "s.db", fixtures=fixtures, admin_token=ADMIN)
        stateless = build_app(str(spec))
        freeze_heap()  # as `sandlot mock` does before serving
        state = stateful.pipeline.state
        assert state is not None
        _, key = state.issue_key(name="bench")
        headers = {"host": "127.0.0.1:4010", "user-agent": "bench", "accept": "*/*",
                   "authorization": f"Bearer {key.secret}", "content-type": "application/json"}
        request_ids = itertools.count()
        try:
            for mode, app in (("stateful", stateful), ("stateless", stateless)):
                pipeline = app.pipeline
                for case, (method, path, query, body) in CASES.items():
                    def one(pipeline: Any = pipeline, method: str = method, path: str = path, query: str = query,
                            body: bytes = body, fresh: bool = case.endswith("*")) -> None:
                        sent = dict(headers)
                        if fresh:
                            sent["x-request-id"] = str(next(request_ids))
                        answer = pipeline.handle(MockRequest(method, path, query, sent, body))
                        assert answer.status < 300, (answer.status, answer.body)

                    figures[f"{mode} {case}"] = _rounds(one, count, rounds)
                    if profile == case and mode == "stateful":
                        profiler = cProfile.Profile()
                        profiler.enable()
                        for _ in range(count):
                            one()
                        profiler.disable()
                        stats = pstats.Stats(profiler, stream=sys.stderr)
                        stats.sort_stats("tottime").print_stats(35)
                        stats.sort_stats("cumulative").print_stats(45)
        finally:
            stateful.pipeline.close()
            stateless.pipeline.close()
    return figures


def main(argv: list[str] | None = None) -> int:
    """Print the figures (and a profile of one stateful case with --profile)."""
    parser = argparse.ArgumentParser(prog="python -m bench.stateful_inprocess",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="requests per round (default 2000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the best counts (default 5)")
    parser.add_argument("--profile", choices=sorted(CASES), help="print cProfile's top functions for one case")
    args = parser.parse_args(argv)
    figures = measure(args.count, args.rounds, args.profile)
    print(f"Per-request CPU time in-process (Pipeline.handle), payments example, best of "
          f"{args.rounds} x {args.count}:")
    print("          stateful CPU (wall)     stateless CPU (wall)    stateless/stateful CPU")
    for case in CASES:
        (full, full_wall), (plain, plain_wall) = figures[f"stateful {case}"], figures[f"stateless {case}"]
        print(f"  {case:<7} {full:7.1f} us ({full_wall:6.1f})   {plain:7.1f} us ({plain_wall:6.1f})"
              f"   {plain / full:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

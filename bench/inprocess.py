"""Per-request work in-process: the Sandlot app without a server, a new petId in every request.

Run by `make bench` (`python -m bench.inprocess`) and by hand while profiling. It builds the app
`sandlot mock` serves (http/compose.py) for the classic petstore and times, in CPU time of this
process, `GET /v1/pets/{n}` with a number never sent before (the answer cache cannot help):

- `pipeline`: the stages and the engine (route, validate, generate, serialize);
- `asgi`: the same through the ASGI edge (header decoding, sending), without uvicorn;

each static and with `Prefer: dynamic=true`. Every figure is the best of several rounds, so a
busy machine inflates it less. `--profile` prints cProfile's top functions for the ASGI path.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import itertools
import pstats
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.config import PETSTORE_SPEC

_NUMBERS = itertools.count(10**6)
#: ASGI requests per coroutine: one event-loop turn per request would time the loop.
BATCH = 200


def _rounds(work: Callable[[int], Any], count: int, rounds: int) -> float:
    """Return the best CPU microseconds per call of `work` over `rounds` rounds of `count` calls."""
    for _ in range(count // 10):  # warm the plans and caches
        work(next(_NUMBERS))
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(count):
            work(next(_NUMBERS))
        best = min(best, (time.process_time() - started) / count * 1e6)
    return best


def measure(count: int = 5000, rounds: int = 5, profile: bool = False) -> dict[str, float]:
    """Return microseconds per request for each path and mode (see the module docstring)."""
    from sandlot.http.compose import build_app
    from sandlot.http.reload import freeze_heap
    from sandlot.mock.messages import MockRequest

    app = build_app(str(PETSTORE_SPEC))
    freeze_heap()  # as `sandlot mock` does before serving
    pipeline = app.pipeline
    loop = asyncio.new_event_loop()
    figures: dict[str, float] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    for mode, extra in (("static", {}), ("dynamic", {"prefer": "dynamic=true"})):
        headers = {"host": "127.0.0.1:4010", "user-agent": "bench", "accept": "*/*", **extra}
        raw = [(k.encode(), v.encode()) for k, v in headers.items()]

        def through_pipeline(n: int, headers: dict[str, str] = headers) -> Any:
            return pipeline.handle(MockRequest("GET", f"/v1/pets/{n}", "", dict(headers), b""))

        async def one(n: int, raw: list[tuple[bytes, bytes]] = raw) -> None:
            path = f"/v1/pets/{n}"
            await app({"type": "http", "method": "GET", "path": path, "raw_path": path.encode(),
                       "query_string": b"", "headers": raw, "http_version": "1.1"}, receive, send)

        async def many(numbers: range) -> None:
            for n in numbers:
                await one(n)

        figures[f"pipeline {mode}"] = _rounds(through_pipeline, count, rounds)
        figures[f"asgi {mode}"] = _rounds(
            lambda n: loop.run_until_complete(many(range(n * BATCH, (n + 1) * BATCH))), count // BATCH,
            rounds) / BATCH
        if profile and mode == "static":
            profiler = cProfile.Profile()
            profiler.enable()
            loop.run_until_complete(many(range(10**8, 10**8 + count)))
            profiler.disable()
            stats = pstats.Stats(profiler, stream=sys.stderr)
            stats.sort_stats("tottime").print_stats(30)
            print("Shares of the profiled time (static, ASGI; cProfile inflates Python calls):", file=sys.stderr)
            for part, share in shares(stats).items():
                print(f"  {part:<60} {share:5.1f} %", file=sys.stderr)
    loop.close()
    return figures


#: (part of a request, the functions whose cumulative time it is: file name ending, function name)
_PARTS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("the pipeline (stages and engine)", (("http/pipeline.py", "run"),)),
    ("  the engine (Engine.handle)", (("mock/engine.py", "handle"),)),
    ("    routing (Router.match)", (("mock/router.py", "match"),)),
    ("    request validation (RequestPlan.check)", (("mock/validate.py", "check"),)),
    ("    rendering the answer (ResponsePlan.render)", (("mock/responder.py", "render"),)),
    ("      seeding the request's generator (Engine.rng)", (("mock/engine.py", "rng"),)),
    ("      serializing (responder.serialize)", (("mock/responder.py", "serialize"),)),
)


def shares(stats: pstats.Stats) -> dict[str, float]:
    """Return the percentage of the profiled time each part of a request took (see _PARTS), the
    generator's share (what the responder calls in mock/generate.py) and the stages' and edge's."""
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = stats.total_tt  # type: ignore[attr-defined]

    def cumulative(file_end: str, name: str) -> float:
        return sum(row[3] for (file, _, func), row in table.items() if file.endswith(file_end) and func == name)

    out = {part: sum(cumulative(*f) for f in functions) / total * 100 for part, functions in _PARTS}
    generated = sum(spent[3] for key, row in table.items() if key[0].endswith("mock/generate.py")
                    for caller, spent in row[4].items() if caller[0].endswith("mock/responder.py"))
    out["      the generator (mock/generate.py, from the responder)"] = generated / total * 100
    out["  the stages above the engine"] = out["the pipeline (stages and engine)"] - out["  the engine (Engine.handle)"]
    out["the ASGI edge and the bench's loop"] = 100 - out["the pipeline (stages and engine)"]
    return out


def main(argv: list[str] | None = None) -> int:
    """Print the figures (and a profile with --profile)."""
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000, help="requests per round (default 5000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the best counts (default 5)")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions (static, ASGI)")
    args = parser.parse_args(argv)
    figures = measure(args.count, args.rounds, args.profile)
    print(f"Per-request CPU time in-process, petstore GET /v1/pets/{{n}} (new id each request), best of "
          f"{args.rounds} x {args.count}:")
    for name, micros in figures.items():
        print(f"  {name:<18} {micros:7.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())

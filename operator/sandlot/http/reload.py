"""Spec reloading: the engine serving now, and the watcher that swaps in a new one.

The HTTP app (http/app.py) keeps its engine in an `EngineHolder`; with `--no-watch` off the
watcher (started on the app's lifespan) swaps `holder.engine` for a freshly compiled one when
the spec's files change. A request takes the reference once (mock/context.py), so requests in
flight finish on the engine they started with. A broken edit keeps the last good engine serving
and logs the file, pointer and problem; `GET /__sandlot/health` shows it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Callable

from sandlot.mock.engine import Engine
from sandlot.openapi.loader import SpecError

log = logging.getLogger("sandlot.mock")


#: The cyclic collector's first threshold while serving (CPython's default: 700 allocations).
GC_YOUNG_THRESHOLD = 10_000


def freeze_heap() -> None:
    """Move every object alive now (the parsed spec, compiled routes) out of the GC's reach, and
    collect the young generation less often while serving.

    A big spec is millions of objects; without this every full collection walks them all,
    which shows up as 100+ ms pauses in the p99 latency. They are still freed by reference
    counting when a reload drops them. A request leaves a few objects alive (the journal keeps
    its exchanges): at CPython's default threshold, collections (and the older generations'
    ones they lead to) took 0.2 s of every 42,000 requests served with a new id each, about 5 %
    of the server's time; at 10,000 one collection ran in as many requests. Garbage in cycles
    (rare here: everything is freed by reference counting) waits a little longer for its turn.
    """
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    if 0 < young < GC_YOUNG_THRESHOLD:  # 0: collection is off; leave it off
        gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


class EngineHolder:
    """The engine currently serving, swapped atomically on reload."""

    def __init__(self, engine: Engine, source: str, seed: int = 0, dynamic: bool = False,
                 lenient: bool = False, load: Callable[[], Engine] | None = None) -> None:
        """`load` builds a fresh engine from the same source (default: the OpenAPI loader; a
        GraphQL stub passes its own)."""
        self.engine = engine
        self._load = load or (lambda: Engine.from_source(source, seed=seed, dynamic=dynamic, lenient=lenient))
        self.source = source
        self.seed = seed
        self.dynamic = dynamic
        self.lenient = lenient
        self.loaded_at = time.time()
        self.reloads = 0
        self.last_error: str | None = None

    def reload(self) -> bool:
        """Load and compile the spec again; swap it in if it is valid. Return whether it was swapped."""
        try:
            engine = self._load()
        except SpecError as exc:
            self.last_error = str(exc)
            log.error("spec reload failed, still serving the last good version: %s", exc)
            return False
        self.engine = engine
        freeze_heap()
        self.loaded_at = time.time()
        self.reloads += 1
        self.last_error = None
        log.info("reloaded %s: %d operations", self.source, len(engine.operations))
        return True


async def watch_spec(holder: EngineHolder) -> None:
    """Reload the engine whenever one of the spec's files changes (runs until cancelled)."""
    import watchfiles

    while True:
        files = {os.path.realpath(f) for f in holder.engine.files}
        if not files:
            return
        # Watch the directories, not the files: editors that save by renaming a new file over
        # the old one would otherwise leave a watch on a deleted inode.
        folders = sorted({os.path.dirname(f) for f in files})
        def watched(_change: object, path: str, files: set[str] = files) -> bool:
            return os.path.realpath(path) in files

        async for _changes in watchfiles.awatch(
            *folders, watch_filter=watched,
            recursive=False, debounce=200, step=50,
        ):
            await asyncio.to_thread(holder.reload)
            if {os.path.realpath(f) for f in holder.engine.files} != files:  # files added/removed: re-arm
                break

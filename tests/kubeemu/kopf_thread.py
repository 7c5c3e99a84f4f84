"""Run a real kopf operator in a background thread for a test, against the emulator.

Used by the emulator's own kopf test and available to the operator's
integration tests: `with running_kopf(registry): ...` starts `kopf.operator()`
with its own event loop, waits until kopf reports ready, and stops it (and
waits for it) on exit. kopf logs in through its registry's login handlers; with
the `kube_emulator` fixture active, `kopf.login_via_client` (the default
registry's login) finds the emulator through KUBECONFIG.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

KOPF_TIMEOUT_SECONDS = 30.0


@contextlib.contextmanager
def running_kopf(registry: Any = None, *, clusterwide: bool = True, timeout: float = KOPF_TIMEOUT_SECONDS,
                 **operator_kwargs: Any) -> Iterator[threading.Thread]:
    """Run kopf.operator() in a thread until the block ends; raise if it fails to start or to stop.

    `registry` defaults to kopf's global registry (where `@kopf.on...` decorators register);
    other keyword arguments (settings, namespaces, standalone, memo ...) go to kopf.operator().
    """
    import kopf

    stop, ready = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(kopf.operator(registry=registry, clusterwide=clusterwide, stop_flag=stop,
                                      ready_flag=ready, **operator_kwargs))
        except BaseException as exc:  # reported to the test thread below
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=run, name="kopf-operator", daemon=True)
    thread.start()
    try:
        if not ready.wait(timeout):
            raise RuntimeError(f"kopf did not become ready within {timeout}s; run with --log-level=DEBUG to see why")
        if failure:
            raise RuntimeError(f"kopf failed to start: {failure[0]!r}") from failure[0]
        yield thread
    finally:
        stop.set()
        thread.join(timeout)
    if thread.is_alive():
        raise RuntimeError(f"kopf did not stop within {timeout}s of its stop flag")
    if failure:
        raise RuntimeError(f"kopf ended with an error: {failure[0]!r}") from failure[0]

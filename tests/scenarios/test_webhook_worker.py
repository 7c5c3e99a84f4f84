"""The webhook worker is woken from any thread: the drift proxy answers requests on worker threads
(http/app.py), and a webhook scheduled or a clock advanced there must reach the worker at once, not
when its idle timer next fires. The idle timer is set to 30 s here, so only a real wake-up passes
within the 5 s each wait allows."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from sandlot.simulation import webhook_sender
from sandlot.simulation.webhook_sender import WebhookWorker
from sandlot.simulation.webhooks import RetryPolicy


class CountingQueue:
    """A queue with nothing to deliver that counts how often the worker looks."""

    def __init__(self) -> None:
        self.looks = 0

    def due(self, now_of: Callable[[str], float]) -> list[object]:
        self.looks += 1
        return []

    def seconds_to_next(self, now_of: Callable[[str], float]) -> float | None:
        return None


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 5
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within 5 s: {what}")
        time.sleep(0.01)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running on its own thread, as the server's does."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_a_poke_from_another_thread_wakes_the_worker_at_once(loop, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhook_sender, "MAX_IDLE", 30.0)
    queue = CountingQueue()
    worker = WebhookWorker(queue, lambda tenant: 0.0, RetryPolicy())  # type: ignore[arg-type]
    loop.call_soon_threadsafe(worker.ensure_started)
    wait_until(lambda: queue.looks == 1, "the worker's first look")
    time.sleep(0.1)  # asleep now, waiting for a poke or its 30 s timer
    worker.poke()  # from this thread, not the loop's
    wait_until(lambda: queue.looks == 2, "a look after the poke")
    asyncio.run_coroutine_threadsafe(worker.stop(), loop).result(5)


def test_started_from_another_thread_it_runs_on_the_loop_it_ran_on(loop, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhook_sender, "MAX_IDLE", 30.0)
    queue = CountingQueue()
    worker = WebhookWorker(queue, lambda tenant: 0.0, RetryPolicy())  # type: ignore[arg-type]
    worker.ensure_started()  # no loop known yet, none running here: nothing to start on
    time.sleep(0.1)
    assert queue.looks == 0
    loop.call_soon_threadsafe(worker.ensure_started)
    wait_until(lambda: queue.looks == 1, "the worker's first look")
    asyncio.run_coroutine_threadsafe(worker.stop(), loop).result(5)
    worker.ensure_started()  # from this thread, after the worker stopped: started again on its loop
    wait_until(lambda: queue.looks == 2, "the restarted worker's first look")
    asyncio.run_coroutine_threadsafe(worker.stop(), loop).result(5)


def test_attached_at_start_up_a_worker_thread_can_start_it(loop, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server attaches the worker to its loop at start-up (SimulationStage.resume); the first
    webhook may then be scheduled on a worker thread (the drift proxy's)."""
    monkeypatch.setattr(webhook_sender, "MAX_IDLE", 30.0)
    queue = CountingQueue()
    worker = WebhookWorker(queue, lambda tenant: 0.0, RetryPolicy())  # type: ignore[arg-type]
    loop.call_soon_threadsafe(worker.attach)
    time.sleep(0.1)
    assert queue.looks == 0  # attaching starts nothing
    worker.ensure_started()  # from this thread
    wait_until(lambda: queue.looks == 1, "the worker's first look")
    worker.poke()
    wait_until(lambda: queue.looks == 2, "a look after the poke")
    asyncio.run_coroutine_threadsafe(worker.stop(), loop).result(5)

"""The webhook delivery worker: the side-effect edge of webhooks.

Started lazily by the simulation stage on the server's event loop (the first event scheduled
or clock advance starts it; on a worker thread, such as the drift proxy's, it is started on the
loop the server attached it to at start-up). It takes due deliveries from the queue (`Outbox`
in memory, simulation/webhooks.py, or `StoredOutbox` in the state file, simulation/durable.py)
one at a time, in due order, signs each with the wall-clock time, POSTs it with aiohttp
(bounded timeout), and reports the attempt back so the outbox schedules the retry or finishes
the delivery. It sleeps until the next delivery is due or until `poke()` says something changed
(a new event, a clock advance).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sandlot.simulation.webhooks import (
    BAD_SIGNATURE,
    SIGNATURE_HEADER,
    Attempt,
    Delivery,
    DeliveryQueue,
    RetryPolicy,
    signature_header,
)

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger("sandlot.webhooks")

#: The longest the worker sleeps before looking again (scheduled times are virtual and a clock
#: advance pokes it, so this only bounds how stale a sleep can get).
MAX_IDLE = 1.0


def request_headers(delivery: Delivery, attempt: int, signed_at: int) -> dict[str, str]:
    """Return the headers of one delivery attempt, signature included (wrong on purpose for the
    bad_signature fault: signed with another secret)."""
    secret = delivery.secret if BAD_SIGNATURE not in delivery.faults else delivery.secret + "-wrong"
    return {
        "content-type": "application/json",
        "user-agent": "Sandlot-Webhooks/1",
        SIGNATURE_HEADER: signature_header(secret, signed_at, delivery.body),
        "Sandlot-Event-Id": delivery.event_id,
        "Sandlot-Event-Type": delivery.event_type,
        "Sandlot-Delivery-Id": delivery.delivery_id,
        "Sandlot-Delivery-Attempt": str(attempt),
    }


class WebhookWorker:
    """Deliver due webhooks until cancelled."""

    def __init__(self, outbox: DeliveryQueue, now_of: Callable[[str], float], policy: RetryPolicy,
                 wall: Callable[[], float] = time.time) -> None:
        self.outbox = outbox
        self.now_of = now_of
        self.policy = policy
        self.wall = wall
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self) -> None:
        """Remember the running loop (the server's, at start-up) as the one to start on later, so a
        first webhook scheduled on a worker thread still starts the worker; starts nothing now
        (aiohttp's import stays off the start-up)."""
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            pass

    def ensure_started(self) -> None:
        """Start the worker on the running event loop unless it already runs there. Called off
        the loop (the drift proxy answers on worker threads), it starts the worker on the loop it
        ran on before, if that loop still runs."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            known = self._loop
            if known is not None and known.is_running():
                known.call_soon_threadsafe(self.ensure_started)
            return
        if self._task is not None and not self._task.done() and self._task.get_loop() is loop:
            return
        self._loop = loop
        self._wake = asyncio.Event()
        self._task = loop.create_task(self.run())

    def poke(self) -> None:
        """Wake the worker: something was scheduled or a clock moved. Safe from any thread: an
        asyncio.Event set off its loop would not wake a loop asleep in select()."""
        wake, loop = self._wake, self._loop
        if wake is None or loop is None:
            return
        try:
            on_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            wake.set()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    async def stop(self) -> None:
        """Cancel the worker and wait for it."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping anyway
                pass

    async def run(self) -> None:
        """Deliver forever: due deliveries in order, then sleep until the next or a poke."""
        import aiohttp  # here, not at the top: its import costs ~0.3 s of every stub's start-up

        assert self._wake is not None
        async with aiohttp.ClientSession() as session:
            while True:
                self._wake.clear()
                try:
                    due = self.outbox.due(self.now_of)
                    for delivery in due:
                        await self._attempt(session, delivery)
                    if due:
                        continue
                    wait = self.outbox.seconds_to_next(self.now_of)
                except Exception:  # noqa: BLE001 - a queue error (a busy state file) must not stop delivering
                    log.exception("webhook queue error; trying again in %.0f s", MAX_IDLE)
                    wait = MAX_IDLE
                try:
                    await asyncio.wait_for(self._wake.wait(), min(MAX_IDLE, wait if wait is not None
                                                                  else MAX_IDLE))
                except TimeoutError:
                    pass

    async def _attempt(self, session: aiohttp.ClientSession, delivery: Delivery) -> None:
        import aiohttp

        number = len(delivery.attempts) + 1
        signed_at = int(self.wall())
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        headers = request_headers(delivery, number, signed_at)
        try:
            # The policy's timeout is read per attempt: a spec reload may change it.
            async with session.post(delivery.url, data=delivery.body, allow_redirects=False,
                                    headers=headers,
                                    timeout=aiohttp.ClientTimeout(total=self.policy.timeout)) as response:
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        log.debug("webhook %s attempt %d -> %s", delivery.delivery_id, number, status or error)
        self.outbox.settle(delivery, Attempt(number, self.now_of(delivery.tenant_id), signed_at,
                                             status, error, duration_ms,
                                             signature=headers[SIGNATURE_HEADER]), self.policy)

"""Per-backend request queue: a concurrency limit and priorities.

A backend such as Ollama serves one request at a time by default; everything else waits
here instead of in the server's queue, so the order is ours: completion before chat and
code actions before background work (preheat), first come first served within a priority.

- A waiter whose task is cancelled leaves the queue at once and never reaches the backend.
- Requests may name a `group` (e.g. the completions of one document): a queued request is
  dropped with `RequestCancelledError` when a newer request of the same group arrives, so a
  superseded completion never waits behind its replacement.
- A slot is held for the whole stream; the caller releases it in `finally`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from trust_lsp.errors import RequestCancelledError


@dataclass(eq=False, slots=True)
class _Waiter:
    future: asyncio.Future[None]
    group: str | None
    seq: int
    active: bool = field(default=True)  # counted in RequestQueue.queued


class RequestQueue:
    """A priority queue in front of one backend. Lower priority values run first."""

    def __init__(self, name: str, limit: Callable[[], int]) -> None:
        self.name = name
        self._limit = limit  # read live, so a config change applies to the next grant
        self._running = 0
        self._queued = 0
        self._heap: list[tuple[int, int, _Waiter]] = []
        self._order = itertools.count()

    @property
    def queued(self) -> int:
        """Requests waiting for a slot."""
        return self._queued

    @property
    def running(self) -> int:
        """Slots in use."""
        return self._running

    @property
    def limit(self) -> int:
        return max(1, self._limit())

    async def acquire(self, priority: int, *, group: str | None = None, seq: int = 0) -> None:
        """Wait for a slot. `seq` orders requests of one group (higher is newer).

        Raises `RequestCancelledError` when superseded; cancellation of the calling task
        removes the waiter at once.
        """
        if self._queued == 0 and self._running < self.limit:
            self._running += 1  # fast path: nobody waiting, a slot is free
            return
        if group is not None:
            self._supersede(group, seq, newcomer=True)
        waiter = _Waiter(asyncio.get_running_loop().create_future(), group, seq)
        heapq.heappush(self._heap, (priority, next(self._order), waiter))
        self._queued += 1
        self._grant()
        try:
            await waiter.future
        except BaseException:
            fut = waiter.future
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self.release()  # granted just as we were cancelled: pass the slot on
            else:
                self._drop(waiter)
            raise

    def release(self) -> None:
        """Give a slot back (exactly once per successful `acquire`)."""
        self._running -= 1
        self._grant()

    def supersede(self, group: str, seq: int) -> int:
        """Drop queued requests of `group` older than `seq`; returns how many."""
        return self._supersede(group, seq, newcomer=False)

    @asynccontextmanager
    async def slot(
        self, priority: int, *, group: str | None = None, seq: int = 0
    ) -> AsyncIterator[None]:
        """`async with queue.slot(...)`: hold a slot for the body."""
        await self.acquire(priority, group=group, seq=seq)
        try:
            yield
        finally:
            self.release()

    def _supersede(self, group: str, seq: int, *, newcomer: bool) -> int:
        dropped = 0
        for _, _, other in self._heap:
            if not other.active or other.group != group:
                continue
            if other.seq < seq:
                self._drop(other, RequestCancelledError("superseded by a newer request"))
                dropped += 1
            elif newcomer:
                # A newer request of the group is already waiting: this one is stale.
                raise RequestCancelledError("superseded by a newer request")
        return dropped

    def _drop(self, waiter: _Waiter, error: BaseException | None = None) -> None:
        if not waiter.active:
            return
        waiter.active = False
        self._queued -= 1
        if error is not None and not waiter.future.done():
            waiter.future.set_exception(error)
        # Dropped waiters stay in the heap until popped; compact when they dominate.
        if len(self._heap) > 2 * self._queued + 32:
            self._heap = [item for item in self._heap if item[2].active]
            heapq.heapify(self._heap)

    def _grant(self) -> None:
        limit = self.limit
        while self._running < limit and self._heap:
            _, _, waiter = heapq.heappop(self._heap)
            if not waiter.active:
                continue
            waiter.active = False
            self._queued -= 1
            if waiter.future.done():  # its task was cancelled; it cleans up after itself
                continue
            self._running += 1
            waiter.future.set_result(None)

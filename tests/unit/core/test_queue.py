"""RequestQueue: concurrency limit, priorities, FIFO, cancellation, supersede."""

from __future__ import annotations

import asyncio

import pytest

from trust_lsp.core.queue import RequestQueue
from trust_lsp.core.types import Priority
from trust_lsp.errors import RequestCancelledError


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_free_slot_is_granted_at_once_and_limit_holds() -> None:
    queue = RequestQueue("q", lambda: 2)
    await queue.acquire(Priority.INTERACTIVE)
    await queue.acquire(Priority.INTERACTIVE)
    third = asyncio.create_task(queue.acquire(Priority.INTERACTIVE))
    await settle()
    assert not third.done()
    assert (queue.running, queue.queued) == (2, 1)
    queue.release()
    await third
    assert (queue.running, queue.queued) == (2, 0)


async def test_priority_then_fifo_order() -> None:
    queue = RequestQueue("q", lambda: 1)
    await queue.acquire(Priority.INTERACTIVE)  # a long chat holds the only slot
    served: list[str] = []

    async def request(label: str, priority: Priority) -> None:
        await queue.acquire(priority)
        served.append(label)
        await asyncio.sleep(0)
        queue.release()

    arrivals = [
        ("background", Priority.BACKGROUND),
        ("chat-1", Priority.INTERACTIVE),
        ("completion-1", Priority.COMPLETION),
        ("chat-2", Priority.INTERACTIVE),
        ("completion-2", Priority.COMPLETION),
    ]
    tasks = []
    for label, priority in arrivals:
        tasks.append(asyncio.create_task(request(label, priority)))
        await settle()
    assert queue.queued == 5
    queue.release()
    await asyncio.gather(*tasks)
    assert served == ["completion-1", "completion-2", "chat-1", "chat-2", "background"]
    assert (queue.running, queue.queued) == (0, 0)


async def test_cancelled_waiter_leaves_at_once_and_is_never_granted() -> None:
    queue = RequestQueue("q", lambda: 1)
    await queue.acquire(Priority.INTERACTIVE)
    waiter = asyncio.create_task(queue.acquire(Priority.COMPLETION))
    await settle()
    assert queue.queued == 1
    waiter.cancel()
    await settle()
    assert queue.queued == 0
    with pytest.raises(asyncio.CancelledError):
        await waiter
    queue.release()
    assert (queue.running, queue.queued) == (0, 0)


async def test_granted_while_cancelled_passes_the_slot_on() -> None:
    queue = RequestQueue("q", lambda: 1)
    await queue.acquire(Priority.INTERACTIVE)
    first = asyncio.create_task(queue.acquire(Priority.INTERACTIVE))
    second = asyncio.create_task(queue.acquire(Priority.INTERACTIVE))
    await settle()
    queue.release()  # grants `first`, which has not resumed yet
    first.cancel()  # ... and is cancelled before it does
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)
    assert (queue.running, queue.queued) == (1, 0)


async def test_newer_request_of_a_group_supersedes_the_queued_one() -> None:
    queue = RequestQueue("q", lambda: 1)
    await queue.acquire(Priority.INTERACTIVE)
    old = asyncio.create_task(queue.acquire(Priority.COMPLETION, group="a.py", seq=1))
    other = asyncio.create_task(queue.acquire(Priority.COMPLETION, group="b.py", seq=2))
    await settle()
    new = asyncio.create_task(queue.acquire(Priority.COMPLETION, group="a.py", seq=3))
    await settle()
    with pytest.raises(RequestCancelledError):
        await old
    assert queue.queued == 2
    queue.release()
    await other
    queue.release()
    await new
    assert (queue.running, queue.queued) == (1, 0)


async def test_stale_request_arriving_after_a_newer_one_is_dropped() -> None:
    queue = RequestQueue("q", lambda: 1)
    await queue.acquire(Priority.INTERACTIVE)
    newer = asyncio.create_task(queue.acquire(Priority.COMPLETION, group="a.py", seq=5))
    await settle()
    with pytest.raises(RequestCancelledError):
        await queue.acquire(Priority.COMPLETION, group="a.py", seq=4)
    assert queue.queued == 1
    assert queue.supersede("a.py", 6) == 1
    with pytest.raises(RequestCancelledError):
        await newer


async def test_slot_is_released_when_the_body_fails() -> None:
    queue = RequestQueue("q", lambda: 1)
    with pytest.raises(RuntimeError):
        async with queue.slot(Priority.BACKGROUND):
            assert queue.running == 1
            raise RuntimeError("boom")
    assert queue.running == 0


async def test_raising_the_limit_applies_to_the_next_grant() -> None:
    limit = [1]
    queue = RequestQueue("q", lambda: limit[0])
    await queue.acquire(Priority.INTERACTIVE)
    waiter = asyncio.create_task(queue.acquire(Priority.INTERACTIVE))
    await settle()
    assert not waiter.done()
    limit[0] = 2
    later = asyncio.create_task(queue.acquire(Priority.INTERACTIVE))
    await settle()
    assert waiter.done()
    assert not later.done()  # two running now; the later one waits its turn
    later.cancel()


async def test_many_cancelled_waiters_do_not_pile_up() -> None:
    queue = RequestQueue("q", lambda: 1)
    await queue.acquire(Priority.INTERACTIVE)
    for _ in range(10):
        tasks = [asyncio.create_task(queue.acquire(Priority.COMPLETION)) for _ in range(50)]
        await settle()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert queue.queued == 0
    assert len(queue._heap) < 100

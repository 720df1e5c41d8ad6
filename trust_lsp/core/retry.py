"""Retries of transient connection failures, bounded by the request's time limit.

Only `BackendConnectionError` (refused, reset) is retried here: other recoverable errors
(timeout, busy, missing model) are better handled by moving on to the next backend. The
first try runs without tenacity, so a request that succeeds pays nothing for retries.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from trust_lsp.core.types import RequestKind
from trust_lsp.errors import BackendConnectionError

T = TypeVar("T")

TRANSIENT: tuple[type[BaseException], ...] = (BackendConnectionError,)


def max_attempts(kind: RequestKind) -> int:
    """Tries per backend: a completion has no time for more than one retry."""
    return 2 if kind is RequestKind.COMPLETION else 3


def backoff(retry: int, *, initial: float, maximum: float) -> float:
    """Wait before retry number `retry` (1-based): exponential, plus up to `initial` jitter."""
    delay: float = initial * 2.0 ** (retry - 1) + random.uniform(0.0, initial)
    return min(maximum, delay)


class _StopAtDeadline:
    """Stop when the tries are used up or the next sleep would end past the deadline."""

    def __init__(self, attempts: int, deadline: float, clock: Callable[[], float]) -> None:
        self._attempts = attempts
        self._deadline = deadline
        self._clock = clock

    def __call__(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self._attempts:
            return True
        return self._clock() + state.upcoming_sleep >= self._deadline


async def call_with_retry(
    fn: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
    initial_wait: float = 0.05,
    max_wait: float = 1.0,
) -> T:
    """Await `fn()`, retrying transient failures with exponential backoff and jitter.

    At most `attempts` tries in all. `deadline` is on `clock`'s scale: no retry starts
    after it. The last error is raised as is.
    """
    try:
        return await fn()
    except TRANSIENT:
        first_wait = backoff(1, initial=initial_wait, maximum=max_wait)
        if attempts <= 1 or clock() + first_wait >= deadline:
            raise
    await asyncio.sleep(first_wait)
    retrying = AsyncRetrying(
        # tenacity counts from our second try: its attempt n is our try n + 1.
        stop=_StopAtDeadline(attempts - 1, deadline, clock),
        wait=lambda state: backoff(
            state.attempt_number + 1, initial=initial_wait, maximum=max_wait
        ),
        retry=retry_if_exception_type(TRANSIENT),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await fn()
    raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

"""call_with_retry: transient errors only, attempts and deadline bounds, backoff."""

from __future__ import annotations

import asyncio
import time

import pytest

from trust_lsp.core.retry import backoff, call_with_retry, max_attempts
from trust_lsp.core.types import RequestKind
from trust_lsp.errors import BackendConnectionError, BackendTimeoutError


class Flaky:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


def refused() -> BackendConnectionError:
    return BackendConnectionError("refused")


async def test_success_needs_one_call() -> None:
    fn = Flaky([])
    assert await call_with_retry(fn, attempts=3, deadline=time.monotonic() + 5) == "ok"
    assert fn.calls == 1


async def test_connection_errors_are_retried_until_success() -> None:
    fn = Flaky([refused(), refused()])
    result = await call_with_retry(
        fn, attempts=3, deadline=time.monotonic() + 5, initial_wait=0.001
    )
    assert result == "ok"
    assert fn.calls == 3


async def test_attempts_bound_the_tries() -> None:
    fn = Flaky([refused(), refused(), refused()])
    with pytest.raises(BackendConnectionError):
        await call_with_retry(fn, attempts=2, deadline=time.monotonic() + 5, initial_wait=0.001)
    assert fn.calls == 2


async def test_other_errors_are_not_retried() -> None:
    fn = Flaky([BackendTimeoutError("slow")])
    with pytest.raises(BackendTimeoutError):
        await call_with_retry(fn, attempts=3, deadline=time.monotonic() + 5)
    assert fn.calls == 1


async def test_no_retry_would_end_past_the_deadline() -> None:
    fn = Flaky([refused(), refused(), refused()])
    with pytest.raises(BackendConnectionError):
        await call_with_retry(fn, attempts=3, deadline=time.monotonic() + 0.01, initial_wait=0.5)
    assert fn.calls == 1


async def test_deadline_stops_retries_midway() -> None:
    fn = Flaky([refused()] * 10)
    clock = [0.0]

    async def advancing() -> str:
        clock[0] += 0.3  # each try takes 0.3 s on the fake clock
        return await fn()

    with pytest.raises(BackendConnectionError):
        await call_with_retry(
            advancing, attempts=10, deadline=1.0, clock=lambda: clock[0], initial_wait=0.001
        )
    assert fn.calls == 4  # 0.3, 0.6, 0.9, 1.2: no try starts once the deadline has passed


@pytest.mark.parametrize(("retry", "low", "high"), [(1, 0.05, 0.1), (2, 0.1, 0.15), (3, 0.2, 0.25)])
def test_backoff_is_exponential_with_jitter(retry: int, low: float, high: float) -> None:
    for _ in range(50):
        assert low <= backoff(retry, initial=0.05, maximum=1.0) <= high
    assert backoff(20, initial=0.05, maximum=1.0) == 1.0


def test_completions_retry_once_at_most() -> None:
    assert max_attempts(RequestKind.COMPLETION) == 2
    assert max_attempts(RequestKind.CHAT) == 3


async def test_cancellation_is_not_retried() -> None:
    async def cancelled() -> str:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await call_with_retry(cancelled, attempts=3, deadline=time.monotonic() + 5)

"""Scheduling helpers: adaptive debounce, keystroke rhythm, tickets."""

from __future__ import annotations

import asyncio

import pytest

from trust_lsp.features.completion.scheduler import (
    KeystrokeRhythm,
    Tickets,
    adaptive_debounce,
    unless_superseded,
)


@pytest.mark.parametrize(
    ("configured", "intervals", "expected"),
    [
        (0.15, [], 0.15),  # no history
        (0.15, [0.3, 0.3, 0.3], 0.15),  # too few samples
        (0.15, [0.04, 0.08, 0.06, 0.09, 0.05], 0.15),  # fast typist: the setting
        (0.15, [0.11, 0.12, 0.13, 0.14, 0.12], 0.175),  # 1.25 × p90 (0.14)
        (0.15, [0.25, 0.3, 0.28, 0.29], 0.3),  # capped at 2 × the setting
        (0.15, [5.0, 9.0, 0.05, 0.05, 0.05, 0.05], 0.15),  # pauses left out
        (0.0, [0.2, 0.2, 0.2, 0.2], 0.0),  # debounce off stays off
    ],
)
def test_adaptive_debounce(configured: float, intervals: list[float], expected: float) -> None:
    assert adaptive_debounce(configured, intervals) == pytest.approx(expected)


def test_keystroke_rhythm_keeps_recent_intervals_per_document() -> None:
    rhythm = KeystrokeRhythm()
    for t in (0.0, 0.1, 0.25, 0.45):
        rhythm.note("a", t)
    rhythm.note("b", 7.0)
    assert rhythm.intervals("a") == pytest.approx((0.1, 0.15, 0.2))
    assert rhythm.intervals("b") == ()
    for i in range(40):
        rhythm.note("a", 1 + i)
    assert len(rhythm.intervals("a")) == 16
    rhythm.forget("a")
    assert rhythm.intervals("a") == ()


async def test_tickets_supersede_per_channel() -> None:
    tickets = Tickets()
    first = tickets.take("u")
    background = tickets.take("u", "background")
    second = tickets.take("u")
    assert first.superseded.is_set()
    assert not background.superseded.is_set()
    assert not second.superseded.is_set()
    tickets.release(first)  # not the latest: nothing happens
    tickets.supersede("u")
    assert second.superseded.is_set() and background.superseded.is_set()


async def test_unless_superseded_cancels_owned_coroutines_only() -> None:
    tickets = Tickets()
    ticket = tickets.take("u")
    shared: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    waiting = asyncio.ensure_future(unless_superseded(shared, ticket))
    sleeping = asyncio.ensure_future(unless_superseded(asyncio.sleep(3600), ticket))
    await asyncio.sleep(0)
    tickets.take("u")
    assert await waiting == (False, None)
    assert await sleeping == (False, None)
    assert not shared.cancelled()  # others may share it
    shared.set_result(1)
    fresh = tickets.take("v")
    assert await unless_superseded(shared, fresh) == (True, 1)

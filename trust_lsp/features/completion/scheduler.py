"""Who may still want an answer: per-document request tickets and shared generations.

A document has at most one inline request waiting (a newer one supersedes the older, which
then answers `[]` at once) and at most one generation in flight. A generation is shared by
every request that types along it and is cancelled as soon as nobody waits for it (unless
it runs for the cache, in the background).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from trust_lsp.features.completion.cache import CursorKey
from trust_lsp.features.completion.postprocess import CursorContext, strip_start
from trust_lsp.features.completion.types import Suggestion

T = TypeVar("T")

# How far a request may have typed past a generation's position and still share it.
MAX_TYPED_ALONG = 256
# How many characters a request may be ahead of the streamed output and still share it: a
# slow stream the user keeps typing past is not worth waiting for.
TYPED_AHEAD = 2

# Adaptive debounce: wait at least this many times the typist's usual pause between keys
# (90th percentile of the recent ones), so that a slow typist (or a jittery connection)
# does not start a generation between two keystrokes; never more than ADAPTIVE_MAX_FACTOR
# times the configured debounce.
ADAPTIVE_FACTOR = 1.25
ADAPTIVE_MAX_FACTOR = 2.0
KEYSTROKE_HISTORY = 16
MIN_KEYSTROKE_SAMPLES = 4
# Longer gaps are pauses, not typing rhythm.
TYPING_GAP_LIMIT_S = 1.0


def adaptive_debounce(configured_s: float, intervals: Sequence[float]) -> float:
    """The debounce for a typist whose recent keystroke intervals are `intervals`.

    The configured value, raised to 1.25 × the 90th percentile of the intervals (pauses of
    a second or more left out), at most 2 × the configured value. With fewer than 4
    intervals, or a configured 0, the configured value.
    """
    typing = sorted(i for i in intervals if 0 <= i < TYPING_GAP_LIMIT_S)
    if configured_s <= 0 or len(typing) < MIN_KEYSTROKE_SAMPLES:
        return configured_s
    p90 = typing[math.ceil(0.9 * len(typing)) - 1]  # nearest rank
    return min(max(configured_s, ADAPTIVE_FACTOR * p90), ADAPTIVE_MAX_FACTOR * configured_s)


class KeystrokeRhythm:
    """Recent intervals between requests of each document (one request per keystroke)."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._intervals: dict[str, deque[float]] = {}

    def note(self, uri: str, now: float) -> None:
        """A request (keystroke) for `uri` at `now`."""
        last = self._last.get(uri)
        self._last[uri] = now
        if last is not None:
            history = self._intervals.setdefault(uri, deque(maxlen=KEYSTROKE_HISTORY))
            history.append(now - last)

    def intervals(self, uri: str) -> Sequence[float]:
        """The recent intervals of `uri`, oldest first."""
        return tuple(self._intervals.get(uri, ()))

    def forget(self, uri: str) -> None:
        """Drop a closed document's history."""
        self._last.pop(uri, None)
        self._intervals.pop(uri, None)


@dataclass(eq=False)
class Ticket:
    """One request's claim on its document; `superseded` is set by a newer request."""

    uri: str
    superseded: asyncio.Event = field(default_factory=asyncio.Event)


class Tickets:
    """The latest request per (document, channel)."""

    def __init__(self) -> None:
        self._latest: dict[tuple[str, str], Ticket] = {}

    def take(self, uri: str, channel: str = "inline") -> Ticket:
        """A ticket for a new request; the previous one on the channel is superseded."""
        ticket = Ticket(uri)
        previous = self._latest.get((uri, channel))
        if previous is not None:
            previous.superseded.set()
        self._latest[(uri, channel)] = ticket
        return ticket

    def release(self, ticket: Ticket, channel: str = "inline") -> None:
        """Forget a finished request's ticket (if it is still the latest)."""
        if self._latest.get((ticket.uri, channel)) is ticket:
            del self._latest[(ticket.uri, channel)]

    def supersede(self, uri: str) -> None:
        """Supersede every waiting request of a document."""
        for (ticket_uri, channel), ticket in list(self._latest.items()):
            if ticket_uri == uri:
                ticket.superseded.set()
                del self._latest[(ticket_uri, channel)]

    def supersede_all(self) -> None:
        """Supersede every waiting request."""
        for ticket in self._latest.values():
            ticket.superseded.set()
        self._latest.clear()


async def unless_superseded(awaitable: Awaitable[T], ticket: Ticket) -> tuple[bool, T | None]:
    """Wait for `awaitable` or for the ticket to be superseded, whichever comes first.

    Returns (True, result) or (False, None) when superseded. A coroutine is wrapped in a
    task that is cancelled when superseded (e.g. a debounce sleep); a task or future passed
    in is left running, because others may share it. Exceptions of `awaitable` propagate.
    """
    owned = asyncio.iscoroutine(awaitable)
    future = asyncio.ensure_future(awaitable)
    if ticket.superseded.is_set() and not future.done():
        if owned:
            future.cancel()
        return False, None
    signal = asyncio.ensure_future(ticket.superseded.wait())
    try:
        await asyncio.wait({future, signal}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        signal.cancel()
        if owned and not future.done():
            future.cancel()
    if not future.done():
        return False, None
    return True, future.result()


@dataclass(eq=False)
class Generation:
    """One backend generation at one cursor position, shared by the requests that follow it.

    `partial` is the raw text streamed so far; `waiters` counts requests awaiting `task`;
    `keep` lets it run to completion without waiters (its result lands in the cache).
    """

    key: CursorKey
    ctx: CursorContext
    task: asyncio.Task[tuple[Suggestion, ...] | None] | None = None
    partial: str = ""
    waiters: int = 0
    keep: bool = False

    def follows(self, prefix: str, suffix: str) -> bool:
        """Whether a request at `prefix|suffix` is this position, or typed along the output.

        While the output is still streaming, a character or two typed past what arrived so
        far is given the benefit of the doubt: the result is checked when it is complete.
        """
        streamed = strip_start(self.partial, self.ctx)
        for typed in self.key.typed_since(prefix, suffix, MAX_TYPED_ALONG):
            if streamed.startswith(typed):
                return True
            if typed.startswith(streamed) and len(typed) - len(streamed) <= TYPED_AHEAD:
                return True
        return False

    @property
    def running(self) -> bool:
        """True until the task finished (or was cancelled)."""
        return self.task is not None and not self.task.done()

    def release(self) -> None:
        """One waiter is gone; cancel the generation when it was the last one."""
        self.waiters -= 1
        if self.waiters <= 0 and not self.keep and self.task is not None:
            self.task.cancel()

    def cancel(self) -> None:
        """Stop the generation (closes the backend stream)."""
        if self.task is not None:
            self.task.cancel()

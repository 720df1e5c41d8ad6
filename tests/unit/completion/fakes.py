"""A fake generator and a manual clock for the completion engine's tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from trust_lsp.backends.base import Done, TextDelta
from trust_lsp.core.types import GenerationRequest, GeneratorEvent, Selected


class ManualClock:
    """`now()` and `sleep()` that only move when a test calls `advance()`."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, future))
        await future

    @property
    def sleeping(self) -> int:
        return sum(1 for _, f in self._sleepers if not f.done())

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        for deadline, future in self._sleepers:
            if deadline <= self.now and not future.done():
                future.set_result(None)
        self._sleepers = [(d, f) for d, f in self._sleepers if not f.done()]
        await settle()


async def settle(rounds: int = 20) -> None:
    """Let every ready task run until things are quiet."""
    for _ in range(rounds):
        await asyncio.sleep(0)


@dataclass
class Stream:
    """The record of one `stream()` call."""

    request: GenerationRequest
    sent: list[str] = field(default_factory=list)
    finished: bool = False
    closed_early: bool = False


class FakeGenerator:
    """Streams scripted replies piece by piece.

    `reply(request)` gives the pieces; with `hold=True` each piece waits for `release()`,
    so a test can act while a stream is open. `error` is raised instead of streaming.
    """

    def __init__(
        self,
        reply: Sequence[str] | Callable[[GenerationRequest], Sequence[str]] = ("hello_world",),
        *,
        hold: bool = False,
        error: BaseException | None = None,
        done_reason: str = "stop",
    ) -> None:
        self._reply = reply
        self.done_reason = done_reason
        self.hold = hold
        self.error = error
        self.streams: list[Stream] = []
        self._gate = asyncio.Event()

    @property
    def requests(self) -> list[GenerationRequest]:
        return [s.request for s in self.streams]

    def release(self) -> None:
        """Let held streams run to their end."""
        self._gate.set()

    def stream(self, request: GenerationRequest) -> AsyncIterator[GeneratorEvent]:
        return self._stream(request)

    async def _stream(self, request: GenerationRequest) -> AsyncIterator[GeneratorEvent]:
        record = Stream(request)
        self.streams.append(record)
        pieces = self._reply(request) if callable(self._reply) else self._reply
        try:
            if self.error is not None:
                raise self.error
            yield Selected(backend="fake", model="fake-model", cloud=False)
            for i, piece in enumerate(pieces):
                if self.hold and i > 0:
                    await self._gate.wait()
                await asyncio.sleep(0)
                record.sent.append(piece)
                yield TextDelta(piece)
            yield Done(self.done_reason)
            record.finished = True
        finally:
            record.closed_early = not record.finished

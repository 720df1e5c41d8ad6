"""In-memory backends for the core's unit tests: scripted events, errors and delays.

Every contact (stream, health, list, info, preheat, pull) is recorded in `calls`, so a test
can assert that a backend was never contacted at all (the privacy gate) or exactly once
(single-flight preheat). Integration tests use the real backends instead.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from trust_lsp.backends.base import (
    ChatRequest,
    CompletionRequest,
    Done,
    HealthStatus,
    Message,
    ModelInfo,
    PullProgress,
    Purpose,
    StreamEvent,
    TextDelta,
    Usage,
)
from trust_lsp.config.store import ConfigStore, Layer
from trust_lsp.core.types import ChatInput, CompletionInput, GenerationRequest, RequestKind
from trust_lsp.errors import ModelNotFoundError


@dataclass
class Reply:
    """One scripted answer. Items: text (a TextDelta), an exception (raised there), a float
    (sleep that long), or an asyncio.Event (wait for it)."""

    items: Sequence[Any] = ("ok",)
    done: bool = True


@dataclass
class FakeBackend:
    name_: str
    cloud: bool = False
    chat_model: str = "chat-m"
    completion_model: str = "comp-m"
    models: set[str] = field(default_factory=lambda: {"chat-m", "comp-m"})
    healthy: bool = True
    preheat_delay: float = 0.0
    open_errors: deque[BaseException] = field(default_factory=deque)
    script: deque[Reply] = field(default_factory=deque)
    calls: list[tuple[str, str | None]] = field(default_factory=list)
    closed_streams: int = 0
    finished_streams: int = 0
    closed: bool = False

    @property
    def name(self) -> str:
        return self.name_

    @property
    def is_cloud(self) -> bool:
        return self.cloud

    def model_for(self, purpose: Purpose) -> str:
        return self.chat_model if purpose == "chat" else self.completion_model

    @property
    def stream_calls(self) -> list[str | None]:
        return [model for kind, model in self.calls if kind in ("chat", "completion")]

    def reply(self, *items: Any) -> None:
        self.script.append(Reply(items))

    def stream_chat(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        self.calls.append(("chat", request.model))
        return self._stream(request.model)

    def stream_completion(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        self.calls.append(("completion", request.model))
        return self._stream(request.model)

    async def _stream(self, model: str) -> AsyncIterator[StreamEvent]:
        finished = False
        try:
            if self.open_errors:
                raise self.open_errors.popleft()
            if model not in self.models:
                raise ModelNotFoundError(f"no model {model!r}", backend=self.name_, model=model)
            reply = self.script.popleft() if self.script else Reply()
            count = 0
            for item in reply.items:
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, float):
                    await asyncio.sleep(item)
                elif isinstance(item, asyncio.Event):
                    await item.wait()
                else:
                    count += 1
                    yield TextDelta(str(item))
            if reply.done:
                yield Usage(prompt_tokens=3, completion_tokens=count)
                yield Done("stop")
            finished = True
        finally:
            if finished:
                self.finished_streams += 1
            else:
                self.closed_streams += 1

    async def list_models(self) -> list[ModelInfo]:
        self.calls.append(("list", None))
        return [ModelInfo(name=m) for m in sorted(self.models)]

    async def model_info(self, model: str) -> ModelInfo:
        self.calls.append(("info", model))
        if model not in self.models:
            raise ModelNotFoundError(f"no model {model!r}", backend=self.name_, model=model)
        return ModelInfo(name=model, capabilities=frozenset({"completion"}))

    async def health(self) -> HealthStatus:
        self.calls.append(("health", None))
        return HealthStatus(ok=self.healthy, detail="fine" if self.healthy else "it is down")

    async def preheat(self, model: str) -> None:
        self.calls.append(("preheat", model))
        await asyncio.sleep(self.preheat_delay)
        if model not in self.models:
            raise ModelNotFoundError(f"no model {model!r}", backend=self.name_, model=model)

    async def aclose(self) -> None:
        self.closed = True


@dataclass
class FakePullable(FakeBackend):
    """Like Ollama: can download a missing model, with progress."""

    pull_steps: int = 3
    pull_error: BaseException | None = None
    pull_delay: float = 0.0

    async def pull(self, model: str) -> AsyncIterator[PullProgress]:
        self.calls.append(("pull", model))
        for step in range(self.pull_steps):
            await asyncio.sleep(self.pull_delay)
            yield PullProgress("pulling abc", total=self.pull_steps, completed=step + 1)
        if self.pull_error is not None:
            raise self.pull_error
        self.models.add(model)
        yield PullProgress("success")


def store(**layer: Any) -> ConfigStore:
    """A config store with the client layer `layer` (nested dicts or dotted keys)."""
    base: dict[str, Any] = {"server.preheat": False, "health.interval_s": 30.0}
    base.update(layer)
    return ConfigStore({Layer.CLIENT: base})


def chat(text: str = "hi", **kw: Any) -> GenerationRequest:
    return GenerationRequest(
        kind=kw.pop("kind", RequestKind.CHAT),
        chat=ChatInput(messages=[Message("user", text)]),
        **kw,
    )


def completion(prefix: str = "def f(", **kw: Any) -> GenerationRequest:
    return GenerationRequest(
        kind=RequestKind.COMPLETION, completion=CompletionInput(prefix, "\n"), **kw
    )

"""What a front end hands the core, and what it gets back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from trust_lsp.backends.base import (
    GenerationOptions,
    Message,
    PullProgress,
    StreamEvent,
    ToolCall,
    ToolSpec,
    Usage,
)
from trust_lsp.errors import Attempt


class RequestKind(StrEnum):
    COMPLETION = "completion"
    CHAT = "chat"
    ACTION = "action"
    BACKGROUND = "background"


class Priority(IntEnum):
    """Lower runs first."""

    COMPLETION = 0
    INTERACTIVE = 1  # chat and code actions
    BACKGROUND = 2  # preheat, pull

    @classmethod
    def for_kind(cls, kind: RequestKind) -> Priority:
        if kind is RequestKind.COMPLETION:
            return cls.COMPLETION
        if kind is RequestKind.BACKGROUND:
            return cls.BACKGROUND
        return cls.INTERACTIVE


@dataclass(frozen=True, slots=True)
class ChatInput:
    messages: Sequence[Message]
    tools: Sequence[ToolSpec] = ()
    tool_choice: str | None = None


@dataclass(frozen=True, slots=True)
class CompletionInput:
    prefix: str
    suffix: str = ""


PullCallback = Callable[[str, PullProgress], None]  # (model, progress)


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """One request to the core.

    Exactly one of `chat` / `completion` is set. Cancellation is the asyncio kind: cancel
    the task consuming `Generator.stream(...)` and the backend stream is closed.
    `group` names a stream of requests where a newer one supersedes the older (e.g. the
    completions of one document): a queued request of the same group is dropped when a new
    one arrives.
    """

    kind: RequestKind
    chat: ChatInput | None = None
    completion: CompletionInput | None = None
    options: GenerationOptions = field(default_factory=GenerationOptions)
    model: str | None = None  # overrides the backend's configured model
    backend: str | None = None  # try this backend first
    group: str | None = None
    timeout_s: float | None = None  # overrides the per-kind time limit
    on_pull_progress: PullCallback | None = None

    @property
    def priority(self) -> Priority:
        return Priority.for_kind(self.kind)


@dataclass(frozen=True, slots=True)
class Selected:
    """First event of every generator stream: who is answering, and who was skipped."""

    backend: str
    model: str
    cloud: bool
    skipped: tuple[Attempt, ...] = ()


GeneratorEvent = Selected | StreamEvent


@dataclass(slots=True)
class GenerationResult:
    """A whole answer, collected from a stream."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    backend: str = ""
    model: str = ""
    cloud: bool = False
    usage: Usage | None = None
    done_reason: str = ""
    skipped: tuple[Attempt, ...] = ()

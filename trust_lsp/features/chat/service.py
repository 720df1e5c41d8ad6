"""One chat turn: build the prompt, stream the answer, keep the history.

Two ways to answer: straight from the generator's stream, or — when tools are enabled and
a tool runner is available — through the tool loop (the model may read and edit the
workspace between text chunks). Either way the text arrives through `on_delta`, in order,
and the turn is recorded in the session; an answer cut short (cancelled, or failed after
some text arrived) is recorded too, marked interrupted, so nothing the user saw is lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from trust_lsp.backends.base import GenerationOptions, Message, TextDelta, ToolCall, Usage
from trust_lsp.core.types import ChatInput, GenerationRequest, RequestKind, Selected
from trust_lsp.errors import Attempt
from trust_lsp.features.chat.context import (
    CHAT_SYSTEM_PROMPT,
    WorkspaceContext,
    build_chat_messages,
)
from trust_lsp.features.chat.sessions import ChatSession, Turn

if TYPE_CHECKING:
    from trust_lsp.config.settings import Settings
    from trust_lsp.core.generator import Generator


@dataclass(slots=True)
class TurnProgress:
    """What a turn produced so far; the caller keeps it to report a partial answer."""

    text: list[str] = field(default_factory=list)
    backend: str = ""
    model: str = ""
    cloud: bool = False
    usage: Usage | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    dropped_turns: int = 0
    skipped: tuple[Attempt, ...] = ()  # backends passed over before the one that answered

    @property
    def answer(self) -> str:
        return "".join(self.text)


@dataclass(frozen=True, slots=True)
class ChatAnswer:
    """The result of a turn (the shape of the `trust.chat` / `trust.ask` result)."""

    text: str
    backend: str
    model: str
    cloud: bool
    usage: Usage | None
    tool_calls: Sequence[dict[str, Any]]
    interrupted: bool
    session_id: str | None

    def to_json(self) -> dict[str, Any]:
        usage = None
        if self.usage is not None:
            usage = {
                "promptTokens": self.usage.prompt_tokens,
                "completionTokens": self.usage.completion_tokens,
            }
        return {
            "text": self.text,
            "backend": self.backend,
            "model": self.model,
            "sessionId": self.session_id,
            "cloud": self.cloud,
            "usage": usage,
            "toolCalls": list(self.tool_calls),
            "interrupted": self.interrupted,
        }


def answer_from(
    progress: TurnProgress, session: ChatSession | None, *, interrupted: bool
) -> ChatAnswer:
    """A `ChatAnswer` from what a turn produced."""
    return ChatAnswer(
        text=progress.answer,
        backend=progress.backend,
        model=progress.model,
        cloud=progress.cloud,
        usage=progress.usage,
        tool_calls=list(progress.tool_calls),
        interrupted=interrupted,
        session_id=session.id if session is not None else None,
    )


class ToolTurnRunner(Protocol):
    """Runs a turn through the tool loop (see `trust_lsp.tools.loop.run_chat_turn`).

    Must report text through `on_delta`, the backend through `progress`, and append
    `{"name", "arguments", "summary"}` for each tool call to `progress.tool_calls`.
    """

    def enabled(self) -> bool: ...

    async def __call__(
        self,
        request: GenerationRequest,
        progress: TurnProgress,
        on_delta: Callable[[str], None],
    ) -> None: ...


class ChatService:
    """Chat turns over the generator, with history kept in `ChatSession`s."""

    def __init__(
        self,
        generator: Generator,
        settings: Callable[[], Settings],
        *,
        tool_runner: ToolTurnRunner | None = None,
    ) -> None:
        self._generator = generator
        self._settings = settings
        self.tool_runner = tool_runner

    def build_request(
        self,
        messages: Sequence[Message],
        *,
        kind: RequestKind = RequestKind.CHAT,
        model: str | None = None,
        backend: str | None = None,
    ) -> GenerationRequest:
        chat = self._settings().chat
        return GenerationRequest(
            kind=kind,
            chat=ChatInput(messages=list(messages)),
            options=GenerationOptions(temperature=chat.temperature, max_tokens=chat.max_tokens),
            model=model,
            backend=backend,
        )

    async def ask(
        self,
        prompt: str,
        *,
        session: ChatSession | None,
        context: WorkspaceContext | None,
        on_delta: Callable[[str], None],
        progress: TurnProgress | None = None,
        kind: RequestKind = RequestKind.CHAT,
        system: str = CHAT_SYSTEM_PROMPT,
        use_tools: bool = True,
        model: str | None = None,
        backend: str | None = None,
    ) -> ChatAnswer:
        """Answer `prompt`; `session` None is a one-shot question (no history kept).

        Raises what the generator raises (`trust_lsp.errors.*`) and `CancelledError`; the
        turn is recorded in the session before either propagates.
        """
        progress = progress if progress is not None else TurnProgress()
        built = build_chat_messages(
            prompt,
            history=session.turns if session is not None else (),
            context=context,
            budget_tokens=self._settings().chat.context_tokens,
            system=system,
        )
        progress.dropped_turns = built.dropped_turns
        request = self.build_request(built.messages, kind=kind, model=model, backend=backend)

        def deliver(delta: str) -> None:
            progress.text.append(delta)
            on_delta(delta)

        try:
            runner = self.tool_runner
            if use_tools and runner is not None and runner.enabled():
                await runner(request, progress, deliver)
            else:
                await self._stream(request, progress, deliver)
        except asyncio.CancelledError:
            _record(session, prompt, progress, interrupted=True)
            raise
        except Exception:
            if progress.text:
                _record(session, prompt, progress, interrupted=True)
            raise
        _record(session, prompt, progress, interrupted=False)
        return answer_from(progress, session, interrupted=False)

    async def generate(
        self,
        request: GenerationRequest,
        progress: TurnProgress,
        on_delta: Callable[[str], None],
        *,
        until: Callable[[str], bool] | None = None,
    ) -> None:
        """Stream one request without history (code actions use this).

        `until(text so far)` True stops the generation early (the backend stream is closed):
        e.g. once the answer's first code block is complete.
        """

        def deliver(delta: str) -> None:
            progress.text.append(delta)
            on_delta(delta)

        await self._stream(request, progress, deliver, until=until)

    async def _stream(
        self,
        request: GenerationRequest,
        progress: TurnProgress,
        deliver: Callable[[str], None],
        *,
        until: Callable[[str], bool] | None = None,
    ) -> None:
        stream = self._generator.stream(request)
        try:
            async for event in stream:
                if isinstance(event, TextDelta):
                    if event.text:
                        deliver(event.text)
                        if until is not None and until(progress.answer):
                            return
                elif isinstance(event, Selected):
                    progress.backend, progress.model, progress.cloud = (
                        event.backend,
                        event.model,
                        event.cloud,
                    )
                    progress.skipped = event.skipped
                elif isinstance(event, Usage):
                    progress.usage = event
                elif isinstance(event, ToolCall):
                    # No tools were offered: record what the model tried, run nothing.
                    progress.tool_calls.append(
                        {"name": event.name, "arguments": event.raw_arguments, "executed": False}
                    )
        finally:
            # Close the stream now (not when it is garbage collected): that closes the
            # backend's HTTP response or stops llama.cpp.
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()


def _record(
    session: ChatSession | None, prompt: str, progress: TurnProgress, *, interrupted: bool
) -> None:
    if session is None:
        return
    session.add(
        Turn(
            user=prompt,
            assistant=progress.answer,
            interrupted=interrupted,
            backend=progress.backend,
            model=progress.model,
        )
    )

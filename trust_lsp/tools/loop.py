"""The tool-calling chat loop: ask the model, run the tools it calls, feed results back.

One chat turn is at most `tools.max_iterations` rounds of tool calls. Each round streams
the model's text (forwarded as `TextDelta` events), collects its tool calls, runs them
through the registry (validated, sandboxed, time-limited; edits approved by the user) and
appends the assistant's calls and the tool results to the conversation. When the model
answers without calling a tool the turn is over. When the limit is reached the model is
told so and asked to answer without tools, in one last round where no tools are offered.

Whether a model can take tools is settled per backend: the OpenAI-compatible backend sends
them only when `backends.cloud.supports_tools`; the embedded model is told about them in
its prompt (and a forced `tool_choice` is grammar-constrained); Ollama answers 400 "does
not support tools" for a model without the `tools` capability, and the loop then answers
that turn without tools instead of failing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from trust_lsp.backends.base import Done, Message, TextDelta, ToolCall, ToolSpec, Usage
from trust_lsp.core.types import GenerationRequest, GeneratorEvent, Selected
from trust_lsp.errors import ValidationError
from trust_lsp.tools.host import WorkspaceHost
from trust_lsp.tools.registry import ToolContext, ToolMetrics, ToolRegistry, ToolResult
from trust_lsp.tools.sandbox import WorkspaceSandbox

__all__ = [
    "Activity",
    "ChatGenerator",
    "ChatTurnEvent",
    "ChatTurnResult",
    "ToolActivity",
    "run_chat_turn",
    "tools_prompt",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Activity:
    """A progress line between text deltas, e.g. "reading src/app.py"."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolActivity(Activity):
    """A tool call finished: the progress line plus its outcome."""

    name: str = ""
    ok: bool = True
    summary: str = ""


ChatTurnEvent = Selected | TextDelta | Activity


class ChatGenerator(Protocol):
    """The part of `core.generator.Generator` the loop uses."""

    def stream(self, request: GenerationRequest) -> AsyncIterator[GeneratorEvent]: ...


@dataclass(slots=True)
class ChatTurnResult:
    """A whole chat turn.

    `text` is everything streamed as `TextDelta`s, in order (their concatenation).
    `tool_calls`: one `{name, arguments, ok, summary}` per call, in order. `messages`: the
    conversation as sent in the last round plus the final answer (for session history).
    `stopped_reason`: "done" (the model answered), "max_iterations" (the tool-round limit
    was reached), or the last round's done reason when not "stop" (e.g. "length").
    """

    text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    backend: str = ""
    model: str = ""
    cloud: bool = False
    usage: Usage | None = None
    iterations: int = 0
    stopped_reason: str = "done"
    messages: list[Message] = field(default_factory=list)


def tools_prompt(sandbox: WorkspaceSandbox, specs: list[ToolSpec]) -> str:
    """The system note that tells the model it has tools and where the workspace is."""
    names = ", ".join(spec.name for spec in specs)
    roots = ", ".join(str(root) for root in sandbox.roots)
    return (
        f"You can use tools to look at the user's workspace ({roots}): {names}. Paths are "
        "relative to the workspace root. Read files before you change them; edits are shown "
        "to the user, who may decline them. Call tools only when they help answer the "
        "question, then answer in plain text."
    )


def limit_note(max_iterations: int) -> str:
    """The message that ends the tool rounds of a turn."""
    return (
        f"You have used the limit of {max_iterations} tool-call rounds for this answer. Do "
        "not call any more tools: answer the user now with what you have found, and say what "
        "is still unknown."
    )


async def run_chat_turn(
    generator: ChatGenerator,
    request: GenerationRequest,
    registry: ToolRegistry,
    host: WorkspaceHost,
    *,
    on_event: Callable[[ChatTurnEvent], None],
) -> ChatTurnResult:
    """Run one chat turn with tools; stream text and activity lines through `on_event`.

    Backend errors propagate (`trust_lsp.errors`), as does cancellation; tool problems never
    do: they become tool results the model sees.
    """
    if request.chat is None:
        raise ValueError("run_chat_turn needs a chat request")
    settings = registry.settings()
    specs = registry.specs(settings.tools.enabled)
    context: ToolContext | None = None
    if specs:
        try:
            sandbox = WorkspaceSandbox(list(host.roots))
        except ValidationError:
            specs = []  # no workspace folder: a plain chat
        else:
            metrics: ToolMetrics | None = getattr(generator, "metrics", None)
            context = ToolContext(host, sandbox, settings.tools, metrics=metrics)
    plain_messages = list(request.chat.messages)
    messages = plain_messages
    if context is not None:
        messages = _with_system_note(plain_messages, tools_prompt(context.sandbox, specs))

    result = ChatTurnResult()
    max_rounds = settings.tools.max_iterations
    call_seq = 0
    offer = context is not None
    limit_hit = False
    while True:
        result.iterations += 1
        round_request = dataclasses.replace(
            request,
            chat=dataclasses.replace(
                request.chat,
                messages=tuple(messages),
                tools=tuple(specs) if offer else (),
                tool_choice=request.chat.tool_choice if offer else None,
            ),
        )
        streamed_before = len(result.text)
        try:
            text, calls, done = await _one_round(generator, round_request, result, on_event)
        except ValidationError as exc:
            if not (offer and result.iterations == 1 and len(result.text) == streamed_before):
                raise
            if not _tools_unsupported(exc):
                raise
            # The model cannot take tools (Ollama answers 400 "does not support tools"):
            # answer this turn without them rather than fail.
            log.info("answering without tools: %s", exc.message)
            on_event(Activity("this model cannot use tools; answering without them"))
            offer, context, messages = False, None, plain_messages
            result.iterations = 0
            continue
        if not offer or not calls or context is None:
            if calls:
                log.info("ignoring %d tool call(s): no tools offered in this round", len(calls))
            if limit_hit:
                result.stopped_reason = "max_iterations"
            else:
                result.stopped_reason = "done" if done in ("", "stop", "tool_calls") else done
            messages.append(Message("assistant", text))
            break
        numbered: list[ToolCall] = []
        for call in calls:
            call_seq += 1
            numbered.append(
                dataclasses.replace(
                    call,
                    id=call.id or f"call_{call_seq}",
                    # Histories must stay sendable: a malformed call is kept as {} (its raw
                    # text stays in raw_arguments and the error result explains).
                    arguments=call.arguments if call.arguments is not None else {},
                )
            )
        messages.append(Message("assistant", text, tool_calls=tuple(numbered)))
        for original, call in zip(calls, numbered, strict=True):
            on_event(Activity(registry.activity(original)))
            outcome = await registry.execute(original, context, enabled=settings.tools.enabled)
            result.tool_calls.append(_record(outcome, original))
            on_event(
                ToolActivity(
                    _outcome_line(outcome),
                    name=outcome.name,
                    ok=outcome.ok,
                    summary=outcome.summary,
                )
            )
            messages.append(
                Message("tool", outcome.content, tool_name=call.name, tool_call_id=call.id)
            )
        if result.iterations >= max_rounds:
            offer, limit_hit = False, True
            messages.append(Message("user", limit_note(max_rounds)))
            on_event(Activity(f"tool limit reached ({max_rounds} rounds); answering"))
    result.messages = messages
    return result


async def _one_round(
    generator: ChatGenerator,
    request: GenerationRequest,
    result: ChatTurnResult,
    on_event: Callable[[ChatTurnEvent], None],
) -> tuple[str, list[ToolCall], str]:
    text: list[str] = []
    calls: list[ToolCall] = []
    done = ""
    async for event in generator.stream(request):
        if isinstance(event, Selected):
            result.backend, result.model = event.backend, event.model
            result.cloud = result.cloud or event.cloud
            on_event(event)
        elif isinstance(event, TextDelta):
            if not event.text:
                continue
            if not text and result.text and not result.text.endswith("\n"):
                # Text of a new round after earlier text: keep the answers apart.
                separator = TextDelta("\n\n")
                result.text += separator.text
                on_event(separator)
            text.append(event.text)
            result.text += event.text
            on_event(event)
        elif isinstance(event, ToolCall):
            calls.append(event)
        elif isinstance(event, Usage):
            result.usage = _add_usage(result.usage, event)
        elif isinstance(event, Done):
            done = event.reason
    return "".join(text), calls, done


def _tools_unsupported(exc: ValidationError) -> bool:
    message = exc.message.lower()
    return "does not support tools" in message or "tools are not supported" in message


def _with_system_note(messages: list[Message], note: str) -> list[Message]:
    # After the leading system message(s), so the caller's own system prompt stays first.
    index = 0
    while index < len(messages) and messages[index].role == "system":
        index += 1
    return [*messages[:index], Message("system", note), *messages[index:]]


def _record(outcome: ToolResult, call: ToolCall) -> dict[str, Any]:
    arguments: Any = dict(outcome.arguments) if outcome.arguments is not None else None
    if arguments is None:
        arguments = call.raw_arguments
    return {
        "name": outcome.name,
        "arguments": _jsonable(arguments),
        "ok": outcome.ok,
        "summary": outcome.summary,
    }


def _outcome_line(outcome: ToolResult) -> str:
    return outcome.summary if outcome.ok else f"{outcome.name}: {outcome.summary}"


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value


def _add_usage(total: Usage | None, more: Usage) -> Usage:
    if total is None:
        return more

    def add(a: float | None, b: float | None) -> float | None:
        return None if a is None and b is None else (a or 0.0) + (b or 0.0)

    return Usage(
        prompt_tokens=total.prompt_tokens + more.prompt_tokens,
        completion_tokens=total.completion_tokens + more.completion_tokens,
        prompt_ms=add(total.prompt_ms, more.prompt_ms),
        generation_ms=add(total.generation_ms, more.generation_ms),
    )

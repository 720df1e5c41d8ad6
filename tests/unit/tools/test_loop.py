"""run_chat_turn with a scripted generator: rounds, errors fed back, the iteration limit."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.workspace_host import FakeHost
from trust_lsp.backends.base import Done, Message, TextDelta, ToolCall, Usage
from trust_lsp.config.settings import Settings, ToolsSettings
from trust_lsp.core.types import (
    ChatInput,
    GenerationRequest,
    GeneratorEvent,
    RequestKind,
    Selected,
)
from trust_lsp.errors import ValidationError
from trust_lsp.tools.loop import Activity, ChatTurnEvent, ToolActivity, run_chat_turn
from trust_lsp.tools.registry import ToolRegistry
from trust_lsp.tools.workspace import build_registry

Round = Sequence[str | ToolCall]


def call(name: str, arguments: dict[str, Any] | None, raw: str | None = None) -> ToolCall:
    return ToolCall(name, arguments, raw if raw is not None else json.dumps(arguments))


class ScriptedGenerator:
    """Answers each round from a script; a round is text pieces and tool calls."""

    def __init__(self, rounds: Sequence[Round], *, repeat_last: bool = False) -> None:
        self.rounds = list(rounds)
        self.repeat_last = repeat_last
        self.requests: list[GenerationRequest] = []

    async def stream(self, request: GenerationRequest) -> AsyncIterator[GeneratorEvent]:
        self.requests.append(request)
        index = len(self.requests) - 1
        if index >= len(self.rounds):
            assert self.repeat_last, "the loop asked for more rounds than scripted"
            index = len(self.rounds) - 1
        yield Selected("ollama", "qwen", False)
        calls = False
        for item in self.rounds[index]:
            if isinstance(item, str):
                yield TextDelta(item)
            else:
                calls = True
                yield item
        yield Usage(prompt_tokens=10, completion_tokens=5)
        yield Done("tool_calls" if calls else "stop")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text("ANSWER = 42\n")
    return tmp_path


def request(prompt: str = "What is ANSWER?") -> GenerationRequest:
    return GenerationRequest(
        kind=RequestKind.CHAT,
        chat=ChatInput(messages=[Message("system", "You are Trust."), Message("user", prompt)]),
    )


def registry_with(**tools: Any) -> ToolRegistry:
    settings = Settings(tools=ToolsSettings(**tools))
    return build_registry(lambda: settings)


async def run(
    generator: ScriptedGenerator, host: FakeHost, registry: ToolRegistry | None = None
) -> tuple[Any, list[ChatTurnEvent]]:
    events: list[ChatTurnEvent] = []
    result = await run_chat_turn(
        generator, request(), registry or registry_with(), host, on_event=events.append
    )
    return result, events


async def test_reads_a_file_and_answers_from_it(workspace: Path) -> None:
    generator = ScriptedGenerator(
        [["Let me look.", call("read_file", {"path": "app.py"})], ["ANSWER ", "is 42."]]
    )
    result, events = await run(generator, FakeHost([workspace]))

    assert result.text == "Let me look.\n\nANSWER is 42."
    assert result.tool_calls == [
        {
            "name": "read_file",
            "arguments": {"path": "app.py"},
            "ok": True,
            "summary": "read app.py lines 1-1",
        }
    ]
    assert (result.backend, result.model, result.cloud) == ("ollama", "qwen", False)
    assert result.usage == Usage(prompt_tokens=20, completion_tokens=10)
    assert result.iterations == 2
    assert result.stopped_reason == "done"

    # Streamed: text deltas (concatenating to the result) and activity lines in order.
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert "".join(texts) == result.text
    activity = [e.text for e in events if isinstance(e, Activity)]
    assert activity == ["reading app.py", "read app.py lines 1-1"]
    finished = [e for e in events if isinstance(e, ToolActivity)]
    assert finished[0].ok and finished[0].name == "read_file"

    # Round 1 offered the tools with a note on how to use them; round 2 carried the result.
    first, second = generator.requests
    assert first.chat is not None and second.chat is not None
    assert [t.name for t in first.chat.tools][:2] == ["read_file", "list_directory"]
    roles = [m.role for m in second.chat.messages]
    assert roles == ["system", "system", "user", "assistant", "tool"]
    assert "workspace" in second.chat.messages[1].content
    assistant, tool = second.chat.messages[3], second.chat.messages[4]
    assert assistant.content == "Let me look."
    assert assistant.tool_calls[0].name == "read_file"
    assert assistant.tool_calls[0].id == "call_1"
    assert tool.tool_name == "read_file" and tool.tool_call_id == "call_1"
    assert tool.content == "app.py (lines 1-1 of 1):\nANSWER = 42"
    assert result.messages[-1] == Message("assistant", "ANSWER is 42.")


BAD_CALLS = [
    (call("read_file", None, raw="{'path': 'app.py'"), "not a JSON object"),
    (call("read_file", {}), "'path' is a required property"),
    (call("read_file", {"path": 3}), "path: 3 is not of type 'string'"),
    (call("read_file", {"path": "app.py", "start_line": 0}), "less than the minimum of 1"),
    (call("read_file", {"path": "app.py", "lines": "1-2"}), "'lines' was unexpected"),
    (call("read_file", {"path": "../../etc/passwd"}), "leads outside the workspace"),
    (call("delete_everything", {}), "there is no tool named"),
]


@pytest.mark.parametrize(("bad", "message"), BAD_CALLS)
async def test_bad_calls_are_fed_back_and_the_loop_goes_on(
    workspace: Path, bad: ToolCall, message: str
) -> None:
    generator = ScriptedGenerator([[bad], [call("read_file", {"path": "app.py"})], ["It is 42."]])
    result, _ = await run(generator, FakeHost([workspace]))
    assert result.text == "It is 42."
    assert [c["ok"] for c in result.tool_calls] == [False, True]
    second = generator.requests[1].chat
    assert second is not None
    error_message = second.messages[-1]
    assert error_message.role == "tool"
    assert error_message.content.startswith("Error: ")
    assert message in error_message.content
    # The assistant's malformed call stays in the history as an object, sendable to any API.
    assert second.messages[-2].tool_calls[0].arguments is not None


async def test_iteration_limit_stops_a_model_that_keeps_calling_tools(workspace: Path) -> None:
    # The model calls a tool in every round that offers tools.
    generator = ScriptedGenerator([[call("list_directory", {})]] * 3 + [["Final answer."]])
    result, events = await run(generator, FakeHost([workspace]), registry_with(max_iterations=3))

    assert result.iterations == 4
    assert result.stopped_reason == "max_iterations"
    assert len(result.tool_calls) == 3
    assert result.text == "Final answer."
    last = generator.requests[-1].chat
    assert last is not None
    assert last.tools == ()  # no tools offered in the last round
    assert last.messages[-1].role == "user"
    assert "limit of 3 tool-call rounds" in last.messages[-1].content
    assert Activity("tool limit reached (3 rounds); answering") in events


async def test_tool_calls_after_the_limit_are_ignored(workspace: Path) -> None:
    generator = ScriptedGenerator([[call("list_directory", {})]], repeat_last=True)
    result, _ = await run(generator, FakeHost([workspace]), registry_with(max_iterations=2))
    assert result.iterations == 3
    assert len(result.tool_calls) == 2
    assert result.stopped_reason == "max_iterations"


async def test_no_tools_without_a_workspace_or_when_disabled(workspace: Path) -> None:
    for host, registry in [
        (FakeHost([]), registry_with()),
        (FakeHost([workspace]), registry_with(enabled=[])),
    ]:
        generator = ScriptedGenerator([["Plain answer."]])
        result, _ = await run(generator, host, registry)
        assert result.text == "Plain answer."
        chat = generator.requests[0].chat
        assert chat is not None
        assert chat.tools == ()
        assert [m.role for m in chat.messages] == ["system", "user"]


async def test_only_enabled_tools_are_offered_and_runnable(workspace: Path) -> None:
    generator = ScriptedGenerator([[call("write_file", {"path": "x", "content": "y"})], ["ok"]])
    host = FakeHost([workspace])
    result, _ = await run(generator, host, registry_with(enabled=["read_file", "grep"]))
    chat = generator.requests[0].chat
    assert chat is not None
    assert [t.name for t in chat.tools] == ["read_file", "grep"]
    assert result.tool_calls[0]["ok"] is False
    assert host.approvals == [] and host.edits == []


async def test_edit_with_declined_approval_is_reported_to_the_model(workspace: Path) -> None:
    host = FakeHost([workspace], approve=False)
    generator = ScriptedGenerator(
        [
            [call("edit_file", {"path": "app.py", "old_string": "42", "new_string": "43"})],
            ["Okay, I left it."],
        ]
    )
    result, _ = await run(generator, host)
    assert (workspace / "app.py").read_text() == "ANSWER = 42\n"
    assert host.edits == []
    assert result.tool_calls[0]["ok"] is False
    tool_message = generator.requests[1].chat.messages[-1]  # type: ignore[union-attr]
    assert "The user declined the edit of app.py" in tool_message.content


async def test_text_only_turn_is_one_round(workspace: Path) -> None:
    generator = ScriptedGenerator([["Hello", " there"]])
    result, events = await run(generator, FakeHost([workspace]))
    assert result.text == "Hello there"
    assert result.iterations == 1 and result.tool_calls == []
    assert isinstance(events[0], Selected)


async def test_several_calls_in_one_round_run_in_order(workspace: Path) -> None:
    generator = ScriptedGenerator(
        [
            [call("glob", {"pattern": "*.py"}), call("grep", {"pattern": "ANSWER"})],
            ["Found."],
        ]
    )
    result, _ = await run(generator, FakeHost([workspace]))
    assert [c["name"] for c in result.tool_calls] == ["glob", "grep"]
    chat = generator.requests[1].chat
    assert chat is not None
    assert [m.tool_call_id for m in chat.messages[-2:]] == ["call_1", "call_2"]
    assert chat.messages[-2].content == "app.py"
    assert chat.messages[-1].content == "app.py:1: ANSWER = 42"


class NoToolsGenerator(ScriptedGenerator):
    """Like Ollama for a model without the tools capability: 400 when tools are offered."""

    async def stream(self, request: GenerationRequest) -> AsyncIterator[GeneratorEvent]:
        assert request.chat is not None
        if request.chat.tools:
            self.requests.append(request)
            raise ValidationError('Ollama rejected the request: "gemma" does not support tools')
        async for event in super().stream(request):
            yield event


async def test_a_model_without_tools_answers_without_them(workspace: Path) -> None:
    generator = NoToolsGenerator([["unused"], ["Plain answer."]])
    result, events = await run(generator, FakeHost([workspace]))
    assert result.text == "Plain answer."
    assert result.iterations == 1 and result.stopped_reason == "done"
    assert Activity("this model cannot use tools; answering without them") in events
    retry = generator.requests[-1].chat
    assert retry is not None
    assert retry.tools == ()
    assert [m.role for m in retry.messages] == ["system", "user"]  # no tools note


async def test_other_validation_errors_propagate(workspace: Path) -> None:
    class Failing(ScriptedGenerator):
        async def stream(self, request: GenerationRequest) -> AsyncIterator[GeneratorEvent]:
            raise ValidationError("Ollama rejected the request: bad options")
            yield Done()

    with pytest.raises(ValidationError, match="bad options"):
        await run(Failing([]), FakeHost([workspace]))

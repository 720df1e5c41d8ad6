"""trust.chat and the other commands: streaming, sessions, cancellation, tools, models."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from tests.fakes.lsp_fixtures import (
    REQUEST_TIMEOUT_S,
    cancel_request,
    execute,
    open_document,
    progress_text,
    requests_to,
    send_request,
    wait_until,
)
from tests.fakes.ollama_server import OllamaTestServer, tool_call

ANSWER = "Sessions keep history; the oldest turns are dropped past the budget."
LONG_ANSWER = " ".join(f"word{i}" for i in range(200))


def chat_requests(server: OllamaTestServer) -> list[Any]:
    return requests_to(server, "/api/chat")


async def test_chat_streams_progress_in_order(
    lsp: LanguageClient, ollama_server: OllamaTestServer
) -> None:
    ollama_server.reply(ANSWER)

    result = await execute(lsp, "trust.chat", [{"prompt": "How do sessions work?"}], token="t1")

    kinds, messages = progress_text(lsp, "t1")
    assert kinds[0] == "begin" and kinds[-1] == "end"
    assert kinds[1:-1] == ["report"] * (len(kinds) - 2) and len(messages) > 3
    assert "".join(messages) == result["text"] == ANSWER
    assert result["backend"] == "ollama" and result["model"] == "qwen2.5-coder:7b"
    assert result["cloud"] is False and result["interrupted"] is False
    assert result["sessionId"] and result["usage"]["completionTokens"] > 0


async def test_chat_without_token_uses_a_server_created_one(
    lsp: LanguageClient, ollama_server: OllamaTestServer
) -> None:
    ollama_server.reply(ANSWER)

    result = await execute(lsp, "trust.chat", [{"prompt": "hello"}])

    tokens = [t for t in lsp.progress_reports if str(t).startswith("trust-")]
    assert len(tokens) == 1
    kinds, messages = progress_text(lsp, tokens[0])
    assert kinds[0] == "begin" and kinds[-1] == "end"
    assert "".join(messages) == result["text"] == ANSWER


async def test_session_keeps_history_and_workspace_context(
    lsp: LanguageClient, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    uri = open_document(lsp, tmp_path / "calc.py", "def add(a, b):\n    return a - b\n")
    open_document(lsp, tmp_path / "notes.md", "# notes\n", language="markdown")
    selection = {
        "start": {"line": 0, "character": 0},
        "end": {"line": 1, "character": 16},
    }
    ollama_server.reply("It subtracts.")
    first = await execute(
        lsp, "trust.chat", [{"prompt": "What does add do?", "uri": uri, "range": selection}]
    )
    ollama_server.reply("Use a + b.")
    second = await execute(
        lsp, "trust.chat", [{"prompt": "How do I fix it?", "sessionId": first["sessionId"]}]
    )

    assert second["sessionId"] == first["sessionId"]
    first_messages = chat_requests(ollama_server)[0].body["messages"]
    system = first_messages[0]["content"]
    assert "calc.py" in system and "notes.md" in system  # current file and open files
    assert str(tmp_path) in system  # workspace root
    assert "def add(a, b):\n    return a - b" in system  # the selection
    sent = [(m["role"], m["content"]) for m in chat_requests(ollama_server)[-1].body["messages"]]
    assert ("user", "What does add do?") in sent
    assert ("assistant", "It subtracts.") in sent
    assert sent[-1] == ("user", "How do I fix it?")


async def test_cancel_request_keeps_the_partial_answer_in_the_session(
    lsp: LanguageClient, ollama_server: OllamaTestServer
) -> None:
    session = (await execute(lsp, "trust.newSession"))["sessionId"]
    ollama_server.token_delay_s = 0.05
    ollama_server.reply(LONG_ANSWER)
    lsp.progress_reports.setdefault("c1", [])
    msg_id, future = send_request(
        lsp,
        types.WORKSPACE_EXECUTE_COMMAND,
        types.ExecuteCommandParams(
            command="trust.chat",
            arguments=[{"prompt": "Tell me a long story", "sessionId": session}],
            work_done_token="c1",
        ),
    )
    await wait_until(lambda: len(progress_text(lsp, "c1")[1]) >= 3)

    cancel_request(lsp, msg_id)

    with pytest.raises(JsonRpcException) as caught:
        await asyncio.wait_for(future, REQUEST_TIMEOUT_S)
    assert caught.value.code == -32800
    await wait_until(lambda: bool(ollama_server.disconnects))
    await wait_until(lambda: progress_text(lsp, "c1")[0][-1:] == ["end"])
    partial = "".join(progress_text(lsp, "c1")[1])

    ollama_server.token_delay_s = 0.0
    ollama_server.reply("Sorry, here is the short version.")
    await execute(lsp, "trust.chat", [{"prompt": "Shorter please", "sessionId": session}])
    history = chat_requests(ollama_server)[-1].body["messages"]
    assistant = [m["content"] for m in history if m["role"] == "assistant"]
    assert assistant and assistant[0].startswith(partial)
    assert "interrupted" in assistant[0]
    assert len(partial) < len(LONG_ANSWER)


async def test_progress_cancel_returns_the_partial_answer(
    lsp: LanguageClient, ollama_server: OllamaTestServer
) -> None:
    ollama_server.token_delay_s = 0.05
    ollama_server.reply(LONG_ANSWER)
    lsp.progress_reports.setdefault("p1", [])
    _, future = send_request(
        lsp,
        types.WORKSPACE_EXECUTE_COMMAND,
        types.ExecuteCommandParams(
            command="trust.chat", arguments=[{"prompt": "Tell me"}], work_done_token="p1"
        ),
    )
    await wait_until(lambda: len(progress_text(lsp, "p1")[1]) >= 3)

    lsp.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token="p1"))

    result = await asyncio.wait_for(future, REQUEST_TIMEOUT_S)
    assert result["interrupted"] is True
    assert result["text"] and len(result["text"]) < len(LONG_ANSWER)
    assert "".join(progress_text(lsp, "p1")[1]) == result["text"]
    await wait_until(lambda: bool(ollama_server.disconnects))


async def test_chat_with_tools_reads_the_workspace(
    lsp: LanguageClient, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    (tmp_path / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    ollama_server.script_chat(
        [tool_call("read_file", {"path": "calc.py"}), "calc.py defines add(a, b)."]
    )

    result = await execute(lsp, "trust.chat", [{"prompt": "What is in calc.py?"}], token="tt")

    assert result["text"] == "_▸ reading calc.py_\n\ncalc.py defines add(a, b)."
    assert [c["name"] for c in result["toolCalls"]] == ["read_file"]
    # The progress stream is exactly the answer; tool activity goes to the log.
    assert "".join(progress_text(lsp, "tt")[1]) == result["text"]
    assert any("calc.py" in m.message for m in lsp.log_messages)
    tool_message = chat_requests(ollama_server)[-1].body["messages"][-1]
    assert tool_message["role"] == "tool" and "return a + b" in tool_message["content"]


async def test_tool_edits_need_approval_and_go_through_apply_edit(
    lsp: LanguageClient, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    asked: list[types.ShowMessageRequestParams] = []
    applied: list[types.ApplyWorkspaceEditParams] = []

    @lsp.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def approve(params: types.ShowMessageRequestParams) -> types.MessageActionItem:
        asked.append(params)
        return types.MessageActionItem(title="Allow")

    @lsp.feature(types.WORKSPACE_APPLY_EDIT)
    def apply(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        applied.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    uri = open_document(lsp, tmp_path / "calc.py", "def add(a, b):\n    return a - b\n")
    ollama_server.script_chat(
        [
            tool_call(
                "edit_file",
                {"path": "calc.py", "old_string": "a - b", "new_string": "a + b"},
            ),
            "Fixed.",
        ]
    )

    result = await execute(lsp, "trust.chat", [{"prompt": "Fix add"}])

    assert result["text"] == "_▸ editing calc.py_\n\nFixed."
    assert asked and "calc.py" in asked[0].message
    (params,) = applied
    edit = params.edit
    edits = (
        [e for c in edit.document_changes or [] for e in getattr(c, "edits", [])]
        if edit.document_changes
        else list((edit.changes or {}).get(uri, []))
    )
    assert [e.new_text for e in edits] == ["def add(a, b):\n    return a + b\n"]


async def test_models_status_and_new_session(
    lsp: LanguageClient, ollama_server: OllamaTestServer
) -> None:
    models = await execute(lsp, "trust.models")
    status = await execute(lsp, "trust.status")
    first = await execute(lsp, "trust.newSession")
    second = await execute(lsp, "trust.newSession")

    names = [m["name"] for m in models["ollama"]["models"]]
    assert "qwen2.5-coder:1.5b" in names and models["ollama"]["error"] is None
    assert status["backends"]["ollama"]["models"]["completion"] == "qwen2.5-coder:1.5b"
    assert first["sessionId"] != second["sessionId"]


async def test_pull_model_reports_progress(
    lsp: LanguageClient, ollama_server: OllamaTestServer
) -> None:
    result = await execute(lsp, "trust.pullModel", [{"model": "starcoder2:3b"}], token="pull")

    assert result == {"model": "starcoder2:3b", "status": "success"}
    events = lsp.progress_reports["pull"]
    assert events[0].kind == "begin" and events[-1].kind == "end"
    percentages = [e.percentage for e in events if e.kind == "report" and e.percentage is not None]
    assert percentages and percentages == sorted(percentages)
    assert "starcoder2:3b" in ollama_server.models


@pytest.mark.parametrize(
    ("command", "arguments"),
    [
        ("trust.chat", None),
        ("trust.chat", [{"prompt": ""}]),
        ("trust.chat", [{"prompt": "hi", "uri": "file:///nowhere/not-open.py"}]),
        ("trust.chat", [{"prompt": "hi", "sessionId": 42}]),
        ("trust.pullModel", [{}]),
        ("trust.acceptCompletion", ["not an object"]),
        ("trust.noSuchCommand", []),
    ],
)
async def test_invalid_command_arguments_are_invalid_params(
    lsp: LanguageClient, command: str, arguments: list[Any] | None
) -> None:
    with pytest.raises(JsonRpcException) as caught:
        await execute(lsp, command, arguments)
    assert caught.value.code == -32602
    # Still serving.
    assert (await execute(lsp, "trust.newSession"))["sessionId"]

"""Chat with workspace tools, end to end: the real server process (pytest-lsp) and the Ollama
test server scripted to call tools.

The client plays a real editor: it answers `window/showMessageRequest` (approve or deny) and
`workspace/applyEdit` (records the edit and reports it applied, as an editor does without
saving). The Ollama test server records every chat request, so the tests check what the
model was told after each tool call.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.fakes.ollama_server import OllamaTestServer, tool_call

APP = "MAGIC = 1234\n\n\ndef answer():\n    return MAGIC\n"
CHAT_MODEL = "qwen2.5-coder:7b"  # has the "tools" capability on the test server


class Editor:
    """What the test client did as an editor: approvals asked, edits received."""

    def __init__(self) -> None:
        self.approve = True
        self.approval_requests: list[types.ShowMessageRequestParams] = []
        self.applied_edits: list[types.ApplyWorkspaceEditParams] = []


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text(APP)
    (root / ".gitignore").write_text(".env\n")
    (root / ".env").write_text("API_KEY=never-shown\n")
    return root


@pytest.fixture
def editor() -> Editor:
    return Editor()


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, "-m", "trust_lsp.server"]),
)
async def client(
    lsp_client: LanguageClient,
    ollama_server: OllamaTestServer,
    workspace: Path,
    editor: Editor,
) -> AsyncIterator[None]:
    @lsp_client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def show_message_request(
        params: types.ShowMessageRequestParams,
    ) -> types.MessageActionItem | None:
        editor.approval_requests.append(params)
        wanted = "Allow" if editor.approve else "Deny"
        for action in params.actions or []:
            if action.title == wanted:
                return action
        return None

    @lsp_client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        editor.applied_edits.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    options = {
        "backends": {"ollama": {"url": ollama_server.url, "chat_model": CHAT_MODEL}},
        "fallback": {"order": ["ollama"]},
        "server": {"preheat": False},
    }
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=workspace.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="project")],
            initialization_options=options,
        )
    )
    yield
    await lsp_client.shutdown_session()


async def chat(client: LanguageClient, prompt: str, token: str) -> dict[str, Any]:
    client.progress_reports.setdefault(token, [])
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="trust.chat", arguments=[{"prompt": prompt}], work_done_token=token
        )
    )
    assert isinstance(result, dict)
    return result


def streamed_text(client: LanguageClient, token: str) -> str:
    # pytest-lsp stores the structured begin/report/end values under the token.
    reports: list[Any] = list(client.progress_reports[token])
    return "".join(r.message or "" for r in reports if isinstance(r, types.WorkDoneProgressReport))


def chat_bodies(server: OllamaTestServer) -> list[dict[str, Any]]:
    return [r.body for r in server.requests_to("/api/chat")]


def tool_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if m["role"] == "tool"]


def apply_text_edits(text: str, edits: list[types.TextEdit]) -> str:
    """Apply LSP text edits (positions in UTF-16 code units; ASCII here) to `text`."""
    lines = text.splitlines(keepends=True)

    def offset(position: types.Position) -> int:
        return sum(len(line) for line in lines[: position.line]) + position.character

    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character))[::-1]:
        text = text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end) :]
    return text


def edits_for(params: types.ApplyWorkspaceEditParams, uri: str) -> list[types.TextEdit]:
    edit = params.edit
    found: list[types.TextEdit] = []
    if edit.changes and uri in edit.changes:
        found.extend(edit.changes[uri])
    for change in edit.document_changes or []:
        if isinstance(change, types.TextDocumentEdit) and change.text_document.uri == uri:
            found.extend(e for e in change.edits if isinstance(e, types.TextEdit))
    return found


async def test_chat_reads_a_file_and_answers_from_it(
    client: LanguageClient, ollama_server: OllamaTestServer, workspace: Path
) -> None:
    ollama_server.script_chat(
        [tool_call("read_file", {"path": "src/app.py"}), "MAGIC is 1234, and answer() returns it."]
    )
    result = await chat(client, "What does answer() return?", "chat-read")

    assert result["text"] == "_▸ reading src/app.py_\n\nMAGIC is 1234, and answer() returns it."
    assert streamed_text(client, "chat-read") == result["text"]
    assert result["backend"] == "ollama" and result["model"] == CHAT_MODEL
    assert result["toolCalls"] == [
        {
            "name": "read_file",
            "arguments": {"path": "src/app.py"},
            "ok": True,
            "summary": "read src/app.py lines 1-5",
        }
    ]
    first, second = chat_bodies(ollama_server)
    offered = [t["function"]["name"] for t in first["tools"]]
    assert "read_file" in offered and "edit_file" in offered
    # The model got the file's content as the tool result, in Ollama's shape.
    (tool_result,) = tool_messages(second)
    assert tool_result["tool_name"] == "read_file"
    assert tool_result["content"] == "src/app.py (lines 1-5 of 5):\n" + APP.rstrip("\n")
    assistant = second["messages"][-2]
    assert assistant["role"] == "assistant"
    assert assistant["tool_calls"][0]["function"] == {
        "name": "read_file",
        "arguments": {"path": "src/app.py"},
    }
    # The activity line reached the editor's log.
    assert any("reading src/app.py" in m.message for m in client.log_messages)


async def test_open_buffer_is_read_instead_of_the_disk(
    client: LanguageClient, ollama_server: OllamaTestServer, workspace: Path
) -> None:
    uri = (workspace / "src" / "app.py").as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id="python", version=1, text="MAGIC = 99\n")
        )
    )
    ollama_server.script_chat([tool_call("read_file", {"path": "src/app.py"}), "99."])
    await chat(client, "What is MAGIC?", "chat-buffer")
    (tool_result,) = tool_messages(chat_bodies(ollama_server)[1])
    assert (
        tool_result["content"] == "src/app.py (lines 1-1 of 1, unsaved editor buffer):\nMAGIC = 99"
    )


async def test_edit_is_approved_then_applied_by_the_editor(
    client: LanguageClient, ollama_server: OllamaTestServer, workspace: Path, editor: Editor
) -> None:
    ollama_server.script_chat(
        [
            tool_call(
                "edit_file",
                {"path": "src/app.py", "old_string": "MAGIC = 1234", "new_string": "MAGIC = 4321"},
            ),
            "Changed MAGIC to 4321.",
        ]
    )
    result = await chat(client, "Set MAGIC to 4321", "chat-edit")

    (request,) = editor.approval_requests
    assert "src/app.py" in request.message
    assert "+1 −1 lines" in request.message
    assert "-MAGIC = 1234" in request.message and "+MAGIC = 4321" in request.message
    assert [a.title for a in request.actions or []] == ["Allow", "Deny"]

    (applied,) = editor.applied_edits
    uri = (workspace / "src" / "app.py").as_uri()
    new_text = apply_text_edits(APP, edits_for(applied, uri))
    assert new_text == APP.replace("MAGIC = 1234", "MAGIC = 4321")

    assert result["toolCalls"][0]["ok"] is True
    assert result["text"] == "_▸ editing src/app.py_\n\nChanged MAGIC to 4321."
    (tool_result,) = tool_messages(chat_bodies(ollama_server)[1])
    assert tool_result["content"] == "Edited src/app.py (+1 −1 lines)."
    # The server wrote nothing itself: the file changes only when the editor saves.
    assert (workspace / "src" / "app.py").read_text() == APP


async def test_declined_edit_leaves_the_file_and_tells_the_model(
    client: LanguageClient, ollama_server: OllamaTestServer, workspace: Path, editor: Editor
) -> None:
    editor.approve = False
    ollama_server.script_chat(
        [
            tool_call("write_file", {"path": "src/app.py", "content": "print('rewritten')\n"}),
            "Understood, I left the file as it is.",
        ]
    )
    result = await chat(client, "Rewrite app.py", "chat-decline")

    assert len(editor.approval_requests) == 1
    assert editor.applied_edits == []
    assert (workspace / "src" / "app.py").read_text() == APP
    assert result["toolCalls"][0]["ok"] is False
    assert "declined" in result["toolCalls"][0]["summary"]
    (tool_result,) = tool_messages(chat_bodies(ollama_server)[1])
    assert tool_result["content"].startswith(
        "Error: The user declined the edit of src/app.py; the file is unchanged."
    )
    assert result["text"].startswith("_▸ writing src/app.py_\n\n")
    assert "declined" in result["text"]  # the failed step is shown where it happened
    assert result["text"].endswith("Understood, I left the file as it is.")


async def test_escapes_and_ignored_files_are_refused_and_the_chat_goes_on(
    client: LanguageClient, ollama_server: OllamaTestServer, editor: Editor
) -> None:
    ollama_server.script_chat(
        [
            tool_call("read_file", {"path": "../../../etc/passwd"}),
            tool_call("read_file", {"path": ".env"}),
            tool_call("read_file", {"lines": 3}),
            "I could not read those.",
        ]
    )
    result = await chat(client, "Show me secrets", "chat-refused")
    assert [c["ok"] for c in result["toolCalls"]] == [False, False, False]
    bodies = chat_bodies(ollama_server)
    assert len(bodies) == 4
    contents = [tool_messages(body)[-1]["content"] for body in bodies[1:]]
    assert "leads outside the workspace" in contents[0]
    assert "excluded by .gitignore" in contents[1]
    assert "'path' is a required property" in contents[2]
    assert all("never-shown" not in c and "root:" not in c for c in contents)
    steps = result["text"].split("\n\n")
    assert steps[0] == "_▸ reading ../../../etc/passwd_"
    assert steps[1].startswith("_▸ read_file: '../../../etc/passwd' is refused")
    assert steps[-1] == "I could not read those."
    assert editor.approval_requests == []

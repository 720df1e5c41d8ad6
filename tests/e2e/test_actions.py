""" "Ask Trust" code actions: listed instantly, resolved to correct workspace edits."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient, client_capabilities

from tests.fakes.lsp_fixtures import (
    REQUEST_TIMEOUT_S,
    base_options,
    execute,
    open_document,
    progress_text,
    requests_to,
    start_client,
    stop_client,
)
from tests.fakes.ollama_server import OllamaTestServer

SOURCE = "def add(a, b):\n    a + b\n\n\nprint(add(1, 2))\n"
SELECTION = types.Range(
    start=types.Position(line=0, character=0), end=types.Position(line=2, character=0)
)
FIXED = "def add(a, b):\n    return a + b\n"
SELECTION_TITLES = [
    "Ask Trust: Explain",
    "Ask Trust: Fix",
    "Ask Trust: Refactor",
    "Ask Trust: Add documentation",
    "Ask Trust: Write tests",
    "Ask Trust: Custom prompt",
]


def model_requests(server: OllamaTestServer) -> list[Any]:
    return requests_to(server, "/api/chat", "/api/generate")


async def code_actions(
    client: LanguageClient,
    uri: str,
    rng: types.Range,
    diagnostics: list[types.Diagnostic] | None = None,
    only: list[str] | None = None,
) -> list[types.CodeAction]:
    result = await asyncio.wait_for(
        client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=rng,
                context=types.CodeActionContext(diagnostics=diagnostics or [], only=only),
            )
        ),
        REQUEST_TIMEOUT_S,
    )
    assert result is not None
    actions = [a for a in result if isinstance(a, types.CodeAction)]
    assert len(actions) == len(result)
    return actions


async def resolve(client: LanguageClient, action: types.CodeAction) -> types.CodeAction:
    return await asyncio.wait_for(client.code_action_resolve_async(action), REQUEST_TIMEOUT_S)


def edits_for(edit: types.WorkspaceEdit | None, uri: str) -> list[types.TextEdit]:
    """The text edits of one document, whichever form the server chose."""
    assert edit is not None
    if edit.document_changes:
        found: list[types.TextEdit] = []
        for change in edit.document_changes:
            if isinstance(change, types.TextDocumentEdit) and change.text_document.uri == uri:
                found.extend(e for e in change.edits if isinstance(e, types.TextEdit))
        return found
    assert edit.changes is not None
    return list(edit.changes.get(uri, []))


def find(actions: list[types.CodeAction], title: str) -> types.CodeAction:
    return next(a for a in actions if a.title == title)


async def test_actions_are_listed_without_asking_the_model(
    lsp: LanguageClient, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    uri = open_document(lsp, tmp_path / "calc.py", SOURCE)
    diagnostic = types.Diagnostic(
        range=types.Range(
            start=types.Position(line=1, character=4), end=types.Position(line=1, character=9)
        ),
        message="Statement seems to have no effect",
        severity=types.DiagnosticSeverity.Warning,
    )

    selected = await code_actions(lsp, uri, SELECTION)
    cursor_only = await code_actions(
        lsp, uri, types.Range(start=SELECTION.start, end=SELECTION.start)
    )
    with_diagnostic = await code_actions(
        lsp,
        uri,
        types.Range(start=diagnostic.range.start, end=diagnostic.range.start),
        [diagnostic],
    )
    quickfixes_only = await code_actions(lsp, uri, SELECTION, [diagnostic], only=["quickfix"])

    assert [a.title for a in selected] == SELECTION_TITLES
    assert all(a.edit is None for a in selected)  # edits come from codeAction/resolve
    assert cursor_only == []
    assert [a.title for a in with_diagnostic] == [
        "Ask Trust: Fix 'Statement seems to have no effect'"
    ]
    assert list(with_diagnostic[0].diagnostics or []) == [diagnostic]
    assert all(str(a.kind).startswith("quickfix") for a in quickfixes_only)
    assert {a.title for a in quickfixes_only} == {
        "Ask Trust: Fix 'Statement seems to have no effect'",
        "Ask Trust: Fix",
    }
    assert model_requests(ollama_server) == []


async def test_fix_resolves_to_an_edit_of_the_selection(
    lsp: LanguageClient, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    ollama_server.reply(
        f"Here is the fixed code:\n```python\n{FIXED}```\nThe function now returns the sum."
    )
    uri = open_document(lsp, tmp_path / "calc.py", SOURCE)
    action = find(await code_actions(lsp, uri, SELECTION), "Ask Trust: Fix")

    resolved = await resolve(lsp, action)

    edits = edits_for(resolved.edit, uri)
    assert len(edits) == 1
    assert edits[0].range == SELECTION
    assert edits[0].new_text == FIXED  # fences and chatter removed
    assert isinstance(resolved.data, dict) and resolved.data["backend"] == "ollama"
    prompt = model_requests(ollama_server)[-1].body["messages"][-1]["content"]
    assert "def add(a, b):\n    a + b" in prompt


async def test_quickfix_rewrites_the_lines_of_the_diagnostic(
    lsp: LanguageClient, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    ollama_server.reply("```python\n    return a + b\n```")
    uri = open_document(lsp, tmp_path / "calc.py", SOURCE)
    diagnostic = types.Diagnostic(
        range=types.Range(
            start=types.Position(line=1, character=4), end=types.Position(line=1, character=9)
        ),
        message="Statement seems to have no effect",
    )
    at = types.Range(start=diagnostic.range.start, end=diagnostic.range.start)
    (action,) = await code_actions(lsp, uri, at, [diagnostic])

    resolved = await resolve(lsp, action)

    (edit,) = edits_for(resolved.edit, uri)
    assert edit.range == types.Range(
        start=types.Position(line=1, character=0), end=types.Position(line=1, character=9)
    )
    assert edit.new_text == "    return a + b"
    prompt = model_requests(ollama_server)[-1].body["messages"][-1]["content"]
    assert "Statement seems to have no effect" in prompt


async def test_answer_without_code_is_an_error_not_an_edit(
    lsp: LanguageClient, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    ollama_server.reply("I looked at it carefully. The code seems fine to me as it is.")
    uri = open_document(lsp, tmp_path / "calc.py", SOURCE)
    action = find(await code_actions(lsp, uri, SELECTION), "Ask Trust: Refactor")

    with pytest.raises(JsonRpcException) as caught:
        await resolve(lsp, action)

    assert caught.value.code == -32803
    assert "no code" in caught.value.message
    assert any(m.type == types.MessageType.Error and "no code" in m.message for m in lsp.messages)


async def test_write_tests_goes_where_tests_belong(
    lsp: LanguageClient, editor: str, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    tests_code = "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
    ollama_server.reply(f"```python\n{tests_code}```")
    uri = open_document(lsp, tmp_path / "calc.py", SOURCE)
    action = find(await code_actions(lsp, uri, SELECTION), "Ask Trust: Write tests")

    resolved = await resolve(lsp, action)

    assert resolved.edit is not None
    if editor == "visual-studio-code":
        # Versioned edits with file creation: a new tests/test_calc.py.
        target = (tmp_path / "tests" / "test_calc.py").as_uri()
        changes = resolved.edit.document_changes or []
        assert any(isinstance(c, types.CreateFile) and c.uri == target for c in changes)
        (edit,) = edits_for(resolved.edit, target)
        assert edit.new_text == tests_code
    else:
        # This client cannot create files through LSP: appended to the current file.
        (edit,) = edits_for(resolved.edit, uri)
        assert edit.new_text.strip() == tests_code.strip()
        assert edit.range.start.line >= 4
    prompt = model_requests(ollama_server)[-1].body["messages"][-1]["content"]
    assert "`calc`" in prompt  # the module to import the code under test from


async def test_explain_runs_trust_ask_and_streams(
    lsp: LanguageClient, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    ollama_server.reply("It adds two numbers but forgets to return the sum.")
    uri = open_document(lsp, tmp_path / "calc.py", SOURCE)
    action = find(await code_actions(lsp, uri, SELECTION), "Ask Trust: Explain")
    assert action.command is not None and action.command.command == "trust.ask"

    result = await execute(lsp, "trust.ask", list(action.command.arguments or []), token="explain")

    assert result["text"] == "It adds two numbers but forgets to return the sum."
    kinds, messages = progress_text(lsp, "explain")
    assert kinds[0] == "begin" and kinds[-1] == "end"
    assert "".join(messages) == result["text"]
    sent = model_requests(ollama_server)[-1].body["messages"]
    assert "def add(a, b):\n    a + b" in sent[0]["content"]  # the selection is in the context


async def test_custom_prompt_needs_the_prompt_from_the_editor(
    lsp: LanguageClient, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    uri = open_document(lsp, tmp_path / "calc.py", SOURCE)
    action = find(await code_actions(lsp, uri, SELECTION), "Ask Trust: Custom prompt")
    assert action.command is not None
    arguments = list(action.command.arguments or [])

    with pytest.raises(JsonRpcException) as caught:
        await execute(lsp, "trust.ask", arguments)
    assert caught.value.code == -32602

    ollama_server.reply("Renamed.")
    answer = await execute(lsp, "trust.ask", [{**arguments[0], "prompt": "Rename b to y"}])
    assert answer["text"] == "Renamed."


async def test_clients_without_resolve_apply_through_a_command(
    ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    capabilities = client_capabilities("visual-studio-code")
    assert capabilities.text_document and capabilities.text_document.code_action
    capabilities.text_document.code_action.resolve_support = None
    client, _ = await start_client(capabilities, base_options(ollama_server.url), tmp_path)
    applied: list[types.ApplyWorkspaceEditParams] = []

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        applied.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    try:
        ollama_server.reply(f"```python\n{FIXED}```")
        uri = open_document(client, tmp_path / "calc.py", SOURCE)
        action = find(await code_actions(client, uri, SELECTION), "Ask Trust: Fix")
        assert action.command is not None and action.command.command == "trust.applyAction"

        result = await execute(client, "trust.applyAction", list(action.command.arguments or []))

        assert result["applied"] is True
        (edit,) = edits_for(applied[0].edit, uri)
        assert edit.range == SELECTION and edit.new_text == FIXED
    finally:
        await stop_client(client)


async def test_stale_action_is_refused(
    lsp: LanguageClient, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    uri = open_document(lsp, tmp_path / "calc.py", SOURCE)
    action = find(await code_actions(lsp, uri, SELECTION), "Ask Trust: Fix")
    lsp.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text="x = 1\n")],
        )
    )

    with pytest.raises(JsonRpcException) as caught:
        await resolve(lsp, action)

    assert caught.value.code == -32801  # ContentModified
    assert model_requests(ollama_server) == []


async def test_add_documentation_completes_a_python_docstring_in_place(
    lsp: LanguageClient, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    ollama_server.reply("Add two numbers and return the sum.")
    uri = open_document(lsp, tmp_path / "calc.py", SOURCE)
    action = find(await code_actions(lsp, uri, SELECTION), "Ask Trust: Add documentation")

    resolved = await resolve(lsp, action)

    (edit,) = edits_for(resolved.edit, uri)
    at = types.Position(line=1, character=0)
    assert edit.range == types.Range(start=at, end=at)
    assert edit.new_text == '    """Add two numbers and return the sum."""\n'
    # Filled in the middle: the prefix ends with the opening quotes, the suffix is the body.
    body = requests_to(ollama_server, "/api/generate")[-1].body
    assert body["prompt"].endswith('def add(a, b):\n    """')
    assert body["suffix"].startswith("    a + b\n")


async def test_unchanged_selection_is_not_an_edit(
    lsp: LanguageClient, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    ollama_server.reply("```python\ndef add(a, b):\n    a + b\n```")
    uri = open_document(lsp, tmp_path / "calc.py", SOURCE)
    action = find(await code_actions(lsp, uri, SELECTION), "Ask Trust: Refactor")

    with pytest.raises(JsonRpcException) as caught:
        await resolve(lsp, action)

    assert caught.value.code == -32803 and "unchanged" in caught.value.message

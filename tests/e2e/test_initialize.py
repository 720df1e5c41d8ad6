"""initialize: what the server advertises to real editors' capabilities."""

from __future__ import annotations

from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.fakes.lsp_fixtures import encoding_of

COMMANDS = {
    "trust.chat",
    "trust.ask",
    "trust.newSession",
    "trust.status",
    "trust.models",
    "trust.pullModel",
    "trust.acceptCompletion",
}


async def test_capabilities(lsp: LanguageClient, editor: str) -> None:
    result: types.InitializeResult = lsp.initialize_result  # type: ignore[attr-defined]
    caps = result.capabilities
    assert result.server_info is not None and result.server_info.name == "trust-lsp"
    assert caps.inline_completion_provider is not None
    assert caps.completion_provider is not None
    assert isinstance(caps.code_action_provider, types.CodeActionOptions)
    assert caps.code_action_provider.resolve_provider is True
    assert caps.execute_command_provider is not None
    assert set(caps.execute_command_provider.commands) >= COMMANDS
    sync = caps.text_document_sync
    assert isinstance(sync, types.TextDocumentSyncOptions)
    assert sync.change == types.TextDocumentSyncKind.Incremental
    # pygls picks the client's first supported encoding: Neovim offers utf-8 first.
    assert encoding_of(lsp) == ("utf-8" if editor == "neovim" else "utf-16")


async def test_status_after_start(lsp: LanguageClient) -> None:
    from tests.fakes.lsp_fixtures import execute

    status = await execute(lsp, "trust.status")
    assert status["version"]
    assert "acceptanceRate" in status
    assert set(status["backends"]) >= {"ollama", "local", "cloud"}
    assert status["privacy"]["mode"] == "local"

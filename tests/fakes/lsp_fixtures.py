"""Fixtures: the real `trust-lsp` process driven by pytest-lsp, against the Ollama test server.

`lsp` is an initialized client, parametrized over the capabilities pytest-lsp recorded from
real editors (Neovim and VS Code): every test using it runs once per editor. Helpers below
keep the tests short; they only wrap LSP requests (no logic of the server is repeated).
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any, Union

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.fakes.ollama_server import OllamaTestServer

CLIENTS = ["neovim", "visual-studio-code"]
SERVER_COMMAND = [sys.executable, "-m", "trust_lsp", "--log-level", "info"]
# Every request a test makes has an answer well within this (no model is that slow here).
REQUEST_TIMEOUT_S = 60.0
_ids = itertools.count(10_000)


def base_options(ollama_url: str, **sections: Mapping[str, Any]) -> dict[str, Any]:
    """initializationOptions for a test: Ollama test server only, no debounce, no preheat."""
    options: dict[str, Any] = {
        "backends": {"ollama": {"url": ollama_url}},
        "fallback": {"order": ["ollama"]},
        "completion": {"debounce_ms": 0},
        "server": {"preheat": False},
        "health": {"interval_s": 3600},
    }
    for name, values in sections.items():
        options.setdefault(name, {}).update(values)
    return options


async def start_client(
    capabilities: types.ClientCapabilities,
    options: Mapping[str, Any],
    root: Path,
    *,
    env: Mapping[str, str] | None = None,
    configuration: Mapping[str, Any] | None = None,
) -> tuple[LanguageClient, types.InitializeResult]:
    """Spawn the server (stdio, as an editor does) and initialize it.

    `configuration`: what the client answers to `workspace/configuration` (section trust).
    """
    config = ClientServerConfig(
        server_command=SERVER_COMMAND, server_env=dict(env) if env else None
    )
    client = await config.start()
    assert isinstance(client, LanguageClient)
    _fix_code_action_union(client)
    if configuration is not None:
        client.set_configuration(dict(configuration), section="trust")
    result = await asyncio.wait_for(
        client.initialize_session(
            types.InitializeParams(
                capabilities=capabilities,
                root_uri=root.as_uri(),
                workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
                initialization_options=dict(options),
            )
        ),
        REQUEST_TIMEOUT_S,
    )
    return client, result


def _fix_code_action_union(client: LanguageClient) -> None:
    """lsprotocol 2025.0.0 reads every code action that has a `command` as a bare Command
    (its union hook only checks for the key). Editors tell them apart by the type of
    `command` (a string in a Command, an object in a CodeAction): so does this client."""
    converter = client.protocol._converter

    def structure(obj: Any, _: Any) -> types.Command | types.CodeAction:
        if isinstance(obj.get("command"), str):
            return converter.structure(obj, types.Command)
        return converter.structure(obj, types.CodeAction)

    converter.register_structure_hook(types.Command | types.CodeAction, structure)
    converter.register_structure_hook(Union[types.Command, types.CodeAction], structure)  # noqa: UP007


async def stop_client(client: LanguageClient) -> None:
    try:
        await asyncio.wait_for(client.shutdown_session(), REQUEST_TIMEOUT_S)
    finally:
        if client._server is not None and client._server.returncode is None:
            client._server.kill()
        await asyncio.wait_for(client.stop(), REQUEST_TIMEOUT_S)


@pytest.fixture(params=CLIENTS)
def editor(request: pytest.FixtureRequest) -> str:
    """The name of the editor whose recorded capabilities the client presents."""
    return str(request.param)


@pytest.fixture
def lsp_options(ollama_server: OllamaTestServer) -> dict[str, Any]:
    """initializationOptions of the `lsp` fixture (override the fixture to change them)."""
    return base_options(ollama_server.url)


@pytest.fixture
async def lsp(
    editor: str, lsp_options: dict[str, Any], tmp_path: Path
) -> AsyncIterator[LanguageClient]:
    """An initialized client talking to a real `trust-lsp` process over stdio."""
    client, result = await start_client(client_capabilities(editor), lsp_options, tmp_path)
    client.initialize_result = result  # type: ignore[attr-defined]
    try:
        yield client
    finally:
        await stop_client(client)


# --- helpers -------------------------------------------------------------------------------


def encoding_of(client: LanguageClient) -> str:
    result: types.InitializeResult = client.initialize_result  # type: ignore[attr-defined]
    value = result.capabilities.position_encoding or "utf-16"
    return str(getattr(value, "value", value))


def column(text: str, encoding: str) -> int:
    """Length of `text` in code units of the negotiated position encoding."""
    if encoding == "utf-8":
        return len(text.encode("utf-8"))
    if encoding == "utf-32":
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def position_at(text: str, offset: int, encoding: str) -> types.Position:
    """The LSP position of a Python offset (the tests' own conversion, spelled out)."""
    before = text[:offset]
    line = before.count("\n")
    line_text = before.rsplit("\n", 1)[-1]
    return types.Position(line=line, character=column(line_text, encoding))


def open_document(
    client: LanguageClient, path: Path, text: str, language: str = "python", version: int = 1
) -> str:
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id=language, version=version, text=text
            )
        )
    )
    return uri


def insert_text(
    client: LanguageClient, uri: str, version: int, at: types.Position, text: str
) -> None:
    """An incremental change inserting `text` at `at`."""
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(start=at, end=at), text=text
                )
            ],
        )
    )


async def inline_completion(
    client: LanguageClient, uri: str, at: types.Position
) -> types.InlineCompletionList:
    result = await asyncio.wait_for(
        client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=at,
                context=types.InlineCompletionContext(
                    trigger_kind=types.InlineCompletionTriggerKind.Automatic
                ),
            )
        ),
        REQUEST_TIMEOUT_S,
    )
    assert isinstance(result, types.InlineCompletionList)
    return result


async def execute(
    client: LanguageClient,
    command: str,
    arguments: list[Any] | None = None,
    *,
    token: str | None = None,
) -> Any:
    """workspace/executeCommand; `token` is registered with the client first (as editors do)."""
    if token is not None:
        client.progress_reports.setdefault(token, [])
    return await asyncio.wait_for(
        client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=command, arguments=arguments, work_done_token=token)
        ),
        REQUEST_TIMEOUT_S,
    )


def send_request(
    client: LanguageClient, method: str, params: Any
) -> tuple[int, asyncio.Future[Any]]:
    """Send a request with a known id (so a test can cancel it); returns (id, future)."""
    msg_id = next(_ids)
    future = asyncio.ensure_future(
        client.protocol.send_request_async(method, params, msg_id=msg_id)
    )
    return msg_id, future


def cancel_request(client: LanguageClient, msg_id: int) -> None:
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))


async def wait_until(predicate: Callable[[], bool], within_s: float = 20.0) -> None:
    """Poll `predicate` (the event loop keeps running, so notifications arrive)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def progress_text(client: LanguageClient, token: str) -> tuple[list[str], list[str]]:
    """(kinds in order, report messages in order) received on `token`."""
    events = client.progress_reports.get(token, [])
    kinds = [e.kind for e in events]
    messages = [e.message or "" for e in events if e.kind == "report"]
    return kinds, messages


def requests_to(server: OllamaTestServer, *paths: str) -> list[Any]:
    return [r for r in server.requests if r.path in paths]


__all__ = [
    "CLIENTS",
    "base_options",
    "cancel_request",
    "column",
    "encoding_of",
    "execute",
    "inline_completion",
    "insert_text",
    "open_document",
    "position_at",
    "progress_text",
    "requests_to",
    "send_request",
    "start_client",
    "stop_client",
    "wait_until",
]

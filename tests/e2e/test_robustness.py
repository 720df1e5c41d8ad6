"""Bad input gets JSON-RPC errors and the server keeps serving; settings over LSP."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import json
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
    inline_completion,
    open_document,
    start_client,
    stop_client,
    wait_until,
)
from tests.fakes.ollama_server import OllamaTestServer

SOURCE = "def add(a, b):\n    \n"
_raw_ids = itertools.count(50_000)


async def raw_request(client: LanguageClient, method: str, params: Any) -> Any:
    """Send `params` exactly as given: written as JSON, bypassing the client's typing."""
    msg_id = next(_raw_ids)
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    client.protocol._request_futures[msg_id] = future
    write_raw(client, {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
    return await asyncio.wait_for(asyncio.wrap_future(future), REQUEST_TIMEOUT_S)


def write_raw(client: LanguageClient, message: Any) -> None:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    writer = client.protocol.writer
    assert writer is not None
    writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)


async def still_serving(client: LanguageClient, ollama_server: OllamaTestServer, uri: str) -> None:
    ollama_server.reply("return a + b")
    result = await inline_completion(client, uri, types.Position(line=1, character=4))
    assert [item.insert_text for item in result.items] == ["return a + b"]


@pytest.mark.parametrize(
    "params",
    [
        {"textDocument": {"uri": "URI"}, "position": {"line": "one", "character": 0}},
        {"textDocument": {"uri": "URI"}, "position": {"line": -1, "character": 0}},
        {"textDocument": {"uri": "URI"}},
        {"position": {"line": 0, "character": 0}},
        ["not", "an", "object"],
        None,
    ],
)
async def test_malformed_params_are_invalid_params(
    lsp: LanguageClient, ollama_server: OllamaTestServer, tmp_path: Path, params: Any
) -> None:
    uri = open_document(lsp, tmp_path / "calc.py", SOURCE)
    if isinstance(params, dict) and "textDocument" in params:
        params = {**params, "textDocument": {"uri": uri}}
        params["context"] = {"triggerKind": 1}

    with pytest.raises(JsonRpcException) as caught:
        await raw_request(lsp, types.TEXT_DOCUMENT_INLINE_COMPLETION, params)

    assert caught.value.code == -32602
    await still_serving(lsp, ollama_server, uri)


@pytest.mark.parametrize(
    ("method", "make_params"),
    [
        (
            types.TEXT_DOCUMENT_INLINE_COMPLETION,
            lambda uri: types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=99, character=0),
                context=types.InlineCompletionContext(
                    trigger_kind=types.InlineCompletionTriggerKind.Invoked
                ),
            ),
        ),
        (
            types.TEXT_DOCUMENT_COMPLETION,
            lambda uri: types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=5, character=0),
            ),
        ),
        (
            types.TEXT_DOCUMENT_CODE_ACTION,
            lambda uri: types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(
                    start=types.Position(line=0, character=0),
                    end=types.Position(line=40, character=0),
                ),
                context=types.CodeActionContext(diagnostics=[]),
            ),
        ),
        (
            types.TEXT_DOCUMENT_INLINE_COMPLETION,
            lambda uri: types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri + ".never-opened"),
                position=types.Position(line=0, character=0),
                context=types.InlineCompletionContext(
                    trigger_kind=types.InlineCompletionTriggerKind.Invoked
                ),
            ),
        ),
    ],
)
async def test_out_of_range_positions_are_invalid_params(
    lsp: LanguageClient,
    ollama_server: OllamaTestServer,
    tmp_path: Path,
    method: str,
    make_params: Any,
) -> None:
    uri = open_document(lsp, tmp_path / "calc.py", SOURCE)

    with pytest.raises(JsonRpcException) as caught:
        await asyncio.wait_for(
            lsp.protocol.send_request_async(method, make_params(uri)), REQUEST_TIMEOUT_S
        )

    assert caught.value.code == -32602
    await still_serving(lsp, ollama_server, uri)


async def test_unknown_method_and_garbage_input(
    lsp: LanguageClient, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    uri = open_document(lsp, tmp_path / "calc.py", SOURCE)
    with pytest.raises(JsonRpcException) as caught:
        await raw_request(lsp, "trust/noSuchMethod", {})
    assert caught.value.code == -32601

    # A body that is not JSON: the server answers a parse error and carries on.
    write_raw(lsp, b"{this is not json")
    # A notification the server cannot type (bad params): ignored, nothing breaks.
    write_raw(
        lsp, {"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {"textDocument": 5}}
    )

    await still_serving(lsp, ollama_server, uri)


@pytest.fixture
def lsp_options(ollama_server: OllamaTestServer) -> dict[str, Any]:
    options = base_options(ollama_server.url)
    options["completion"]["debounce_ms"] = -5  # invalid: ignored, the default applies
    options["completion"]["max_tokens"] = 40  # valid: applies
    return options


async def test_invalid_setting_is_shown_and_the_rest_applies(
    lsp: LanguageClient, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    await wait_until(lambda: any("debounce_ms" in m.message for m in lsp.messages))
    warning = next(m for m in lsp.messages if "debounce_ms" in m.message)
    assert warning.type == types.MessageType.Warning
    assert "completion.debounce_ms" in warning.message

    uri = open_document(lsp, tmp_path / "calc.py", SOURCE)
    await still_serving(lsp, ollama_server, uri)  # the Ollama URL from the same options
    body = [r for r in ollama_server.requests if r.path == "/api/generate"][-1].body
    assert body["options"]["num_predict"] == 40


async def test_did_change_configuration_runtime_layer(
    lsp: LanguageClient, ollama_server: OllamaTestServer
) -> None:
    lsp.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(
            settings={
                "trust": {
                    "backends": {"ollama": {"completion_model": "deepseek-coder:1.3b-base"}},
                    "chat": {"max_tokens": "lots"},
                }
            }
        )
    )

    await wait_until(lambda: any("chat.max_tokens" in m.message for m in lsp.messages))
    status = await execute(lsp, "trust.status")
    assert status["backends"]["ollama"]["models"]["completion"] == "deepseek-coder:1.3b-base"


async def test_configuration_is_pulled_when_the_notification_has_none(
    ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    client, _ = await start_client(
        client_capabilities("visual-studio-code"),
        base_options(ollama_server.url),
        tmp_path,
        configuration={"backends": {"ollama": {"chat_model": "llama3.2:1b"}}},
    )
    try:
        # Pulled at start-up (workspace/configuration, section "trust"), before any request.
        status = await execute(client, "trust.status")
        assert status["backends"]["ollama"]["models"]["chat"] == "llama3.2:1b"

        # A change notification without settings (as VS Code sends): pulled again.
        client.set_configuration(
            {"backends": {"ollama": {"chat_model": "qwen3:0.6b"}}}, section="trust"
        )
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        for _ in range(200):
            status = await execute(client, "trust.status")
            if status["backends"]["ollama"]["models"]["chat"] == "qwen3:0.6b":
                break
            await asyncio.sleep(0.05)
        assert status["backends"]["ollama"]["models"]["chat"] == "qwen3:0.6b"
    finally:
        await stop_client(client)


async def test_requests_after_shutdown_are_refused_and_exit_code_is_zero(
    ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    client, _ = await start_client(
        client_capabilities("visual-studio-code"), base_options(ollama_server.url), tmp_path
    )
    await asyncio.wait_for(client.shutdown_async(None), REQUEST_TIMEOUT_S)

    with pytest.raises(JsonRpcException) as caught:
        await execute(client, "trust.newSession")
    assert caught.value.code == -32600

    client.exit(None)
    assert client._server is not None
    assert await asyncio.wait_for(client._server.wait(), REQUEST_TIMEOUT_S) == 0
    await asyncio.wait_for(client.stop(), REQUEST_TIMEOUT_S)

"""TCP and WebSocket transports: a token is required, and checked before anything else."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.client import LanguageClient

from tests.fakes.lsp_fixtures import REQUEST_TIMEOUT_S, base_options, wait_until
from tests.fakes.ollama_server import OllamaTestServer

pytestmark = pytest.mark.timeout(120)

TOKEN = "s3cret-token-for-tests"
START_TIMEOUT_S = 30.0


class RunningServer:
    def __init__(self, process: asyncio.subprocess.Process, port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.log = log


async def start_network_server(
    transport: str, tmp_path: Path, *, token: str | None = TOKEN
) -> RunningServer:
    env = {k: v for k, v in os.environ.items() if k != "TRUST_LSP_TOKEN"}
    if token is not None:
        env["TRUST_LSP_TOKEN"] = token
    log = tmp_path / "server.log"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "trust_lsp",
        f"--{transport}",
        "--port",
        "0",
        "--log-file",
        str(log),
        "--log-level",
        "debug",
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    line = await asyncio.wait_for(process.stderr.readline(), START_TIMEOUT_S)
    match = re.search(rb"listening on \w+://127\.0\.0\.1:(\d+)", line)
    assert match, line
    return RunningServer(process, int(match.group(1)), log)


@pytest.fixture(params=["tcp", "ws"])
async def network_server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[RunningServer]:
    server = await start_network_server(str(request.param), tmp_path)
    server.transport = request.param  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        if server.process.returncode is None:
            server.process.kill()
        await asyncio.wait_for(server.process.wait(), START_TIMEOUT_S)


async def connect(server: RunningServer) -> LanguageClient:
    client = LanguageClient("trust-tests", "1")
    if getattr(server, "transport", "tcp") == "ws":
        await client.start_ws("127.0.0.1", server.port)
    else:
        await client.start_tcp("127.0.0.1", server.port)
    return client


async def initialize(client: LanguageClient, options: dict[str, Any]) -> types.InitializeResult:
    return await asyncio.wait_for(
        client.initialize_async(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(), initialization_options=options
            )
        ),
        REQUEST_TIMEOUT_S,
    )


async def disconnect(client: LanguageClient) -> None:
    """Close our end, then stop the client (its reader loop ends with the connection)."""
    writer = client.protocol.writer
    if writer is not None:
        closing = writer.close()
        if asyncio.iscoroutine(closing) or isinstance(closing, asyncio.Future):
            with contextlib.suppress(Exception):
                await closing
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.stop(), REQUEST_TIMEOUT_S)


def connection_closed(client: LanguageClient) -> bool:
    return all(task.done() for task in client._async_tasks)


@pytest.mark.parametrize("token", [None, "", "wrong-token", 12345])
async def test_missing_or_wrong_token_is_refused(
    network_server: RunningServer, ollama_server: OllamaTestServer, token: Any
) -> None:
    client = await connect(network_server)
    options: dict[str, Any] = base_options(ollama_server.url)
    if token is not None:
        options["token"] = token

    with pytest.raises(JsonRpcException) as caught:
        await initialize(client, options)

    assert caught.value.code == -32000
    assert "token" in caught.value.message
    await wait_until(lambda: connection_closed(client))
    # The server is still listening for the right client.
    good = await connect(network_server)
    result = await initialize(good, {**base_options(ollama_server.url), "token": TOKEN})
    assert result.capabilities.inline_completion_provider is not None
    await disconnect(good)


async def test_requests_before_authentication_are_refused(
    network_server: RunningServer,
) -> None:
    client = await connect(network_server)

    with pytest.raises(JsonRpcException) as caught:
        await asyncio.wait_for(client.shutdown_async(None), REQUEST_TIMEOUT_S)

    assert caught.value.code == -32002
    await wait_until(lambda: connection_closed(client))


async def test_right_token_serves_and_is_never_logged(
    network_server: RunningServer, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    client = await connect(network_server)
    result = await initialize(client, {**base_options(ollama_server.url), "token": TOKEN})
    client.initialized(types.InitializedParams())
    assert result.capabilities.inline_completion_provider is not None

    uri = (tmp_path / "calc.py").as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text="def add(a, b):\n    \n"
            )
        )
    )
    ollama_server.reply("return a + b")
    completion = await asyncio.wait_for(
        client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=1, character=4),
                context=types.InlineCompletionContext(
                    trigger_kind=types.InlineCompletionTriggerKind.Invoked
                ),
            )
        ),
        REQUEST_TIMEOUT_S,
    )
    assert completion is not None
    assert [i.insert_text for i in completion.items] == ["return a + b"]

    # A second client while this one is connected is refused, even with the token.
    other = await connect(network_server)
    with pytest.raises(JsonRpcException) as caught:
        await initialize(other, {**base_options(ollama_server.url), "token": TOKEN})
    assert "Another client" in caught.value.message

    await asyncio.wait_for(client.shutdown_async(None), REQUEST_TIMEOUT_S)
    client.exit(None)
    assert await asyncio.wait_for(network_server.process.wait(), START_TIMEOUT_S) == 0
    await disconnect(client)
    await disconnect(other)
    log = network_server.log.read_text()
    assert "initialize" in log  # the debug log has the messages…
    assert TOKEN not in log  # …but never the token


@pytest.mark.parametrize("transport", ["tcp", "ws"])
async def test_network_transport_refuses_to_start_without_a_token(
    transport: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRUST_LSP_TOKEN"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "trust_lsp",
        f"--{transport}",
        "--port",
        "0",
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), START_TIMEOUT_S)

    assert process.returncode == 2
    assert b"token" in stderr


async def test_token_file(tmp_path: Path, ollama_server: OllamaTestServer) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file\n")
    env = {k: v for k, v in os.environ.items() if k != "TRUST_LSP_TOKEN"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "trust_lsp",
        "--tcp",
        "--port",
        "0",
        "--token-file",
        str(token_file),
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        line = await asyncio.wait_for(process.stderr.readline(), START_TIMEOUT_S)
        match = re.search(rb":(\d+)\s*$", line)
        assert match, line
        server = RunningServer(process, int(match.group(1)), tmp_path / "none.log")
        client = await connect(server)
        result = await initialize(
            client, {**base_options(ollama_server.url), "token": "from-a-file"}
        )
        assert result.server_info is not None
        await disconnect(client)
    finally:
        process.kill()
        await asyncio.wait_for(process.wait(), START_TIMEOUT_S)

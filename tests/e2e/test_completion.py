"""Inline and classic completion through the real server, answered by the Ollama test server."""

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
    base_options,
    cancel_request,
    column,
    encoding_of,
    execute,
    inline_completion,
    insert_text,
    open_document,
    position_at,
    requests_to,
    send_request,
    wait_until,
)
from tests.fakes.ollama_server import OllamaTestServer

SOURCE = "def add(a, b):\n    \n\nprint(add(1, 2))\n"
CURSOR = types.Position(line=1, character=4)


def generate_requests(server: OllamaTestServer) -> list[Any]:
    return requests_to(server, "/api/generate")


async def test_inline_completion_fim_suffix(
    lsp: LanguageClient, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    ollama_server.reply("return a + b")
    uri = open_document(lsp, tmp_path / "calc.py", SOURCE)

    result = await inline_completion(lsp, uri, CURSOR)

    assert [item.insert_text for item in result.items] == ["return a + b"]
    item = result.items[0]
    assert item.range == types.Range(start=CURSOR, end=CURSOR)
    assert item.command is not None and item.command.command == "trust.acceptCompletion"
    # The request the model server saw: FIM through Ollama's `suffix` (the model lists
    # `insert`), prefix up to the cursor, suffix from the cursor.
    body = generate_requests(ollama_server)[-1].body
    assert body["model"] == "qwen2.5-coder:1.5b"
    assert body["prompt"].endswith("def add(a, b):\n    ")
    assert body["suffix"].startswith("\n\nprint(add(1, 2))")
    assert not body.get("raw")

    # Acceptance is counted once, locally.
    accepted = await execute(lsp, "trust.acceptCompletion", list(item.command.arguments or []))
    again = await execute(lsp, "trust.acceptCompletion", list(item.command.arguments or []))
    assert accepted["accepted"] is True and again["accepted"] is False
    status = await execute(lsp, "trust.status")
    assert status["acceptanceRate"] > 0


@pytest.fixture
def lsp_options(ollama_server: OllamaTestServer, request: pytest.FixtureRequest) -> dict[str, Any]:
    model = getattr(request, "param", None)
    if model is None:
        return base_options(ollama_server.url)
    return base_options(
        ollama_server.url,
        backends={"ollama": {"url": ollama_server.url, "completion_model": model}},
    )


@pytest.mark.parametrize("lsp_options", ["deepseek-coder:1.3b-base"], indirect=True)
async def test_inline_completion_fim_template(
    lsp: LanguageClient, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    """A model without `insert` gets its family's FIM template, sent raw."""
    ollama_server.reply("return a + b")
    uri = open_document(lsp, tmp_path / "calc.py", SOURCE)

    result = await inline_completion(lsp, uri, CURSOR)

    assert [item.insert_text for item in result.items] == ["return a + b"]
    body = generate_requests(ollama_server)[-1].body
    assert body["model"] == "deepseek-coder:1.3b-base"
    assert body["raw"] is True
    assert "suffix" not in body or not body["suffix"]
    prompt = body["prompt"]
    assert prompt.startswith("<｜fim▁begin｜>")
    assert "def add(a, b):\n    <｜fim▁hole｜>\n\nprint(add(1, 2))" in prompt
    assert prompt.endswith("<｜fim▁end｜>")


async def test_type_through_is_served_from_cache(
    lsp: LanguageClient, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    ollama_server.reply("return a + b")
    uri = open_document(lsp, tmp_path / "calc.py", SOURCE)
    first = await inline_completion(lsp, uri, CURSOR)
    assert first.items[0].insert_text == "return a + b"
    sent = len(generate_requests(ollama_server))

    insert_text(lsp, uri, 2, CURSOR, "ret")
    typed = types.Position(line=1, character=7)
    second = await inline_completion(lsp, uri, typed)

    assert [item.insert_text for item in second.items] == ["urn a + b"]
    assert second.items[0].range == types.Range(start=typed, end=typed)
    assert len(generate_requests(ollama_server)) == sent  # no new backend request


async def test_utf16_and_utf8_positions_with_emoji_and_cjk(
    lsp: LanguageClient, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    """Positions count code units of the negotiated encoding, not Python characters."""
    encoding = encoding_of(lsp)
    line = 'greeting = "héllo 😀 世界"; answer = '
    text = line + "\nprint(greeting)\n"
    ollama_server.reply("compute_answer(42)")
    uri = open_document(lsp, tmp_path / "emoji.py", text)
    cursor = types.Position(line=0, character=column(line, encoding))
    assert cursor.character != len(line)  # the test means something in this encoding

    result = await inline_completion(lsp, uri, cursor)

    assert [item.insert_text for item in result.items] == ["compute_answer(42)"]
    assert result.items[0].range == types.Range(start=cursor, end=cursor)
    body = generate_requests(ollama_server)[-1].body
    assert body["prompt"].endswith('"héllo 😀 世界"; answer = ')
    assert body["suffix"].startswith("\nprint(greeting)")

    # Typing after the emoji: the edit and the next position use the same units.
    insert_text(lsp, uri, 2, cursor, "comp")
    after = position_at(line + "comp", len(line) + 4, encoding)
    typed = await inline_completion(lsp, uri, after)
    assert [item.insert_text for item in typed.items] == ["ute_answer(42)"]


async def test_classic_completion_answers_at_once_then_fills(
    lsp: LanguageClient, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    # Slow model: the whole answer takes well over a second.
    ollama_server.token_delay_s = 0.3
    ollama_server.reply("return a + b")
    uri = open_document(lsp, tmp_path / "calc.py", SOURCE)
    params = types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=CURSOR
    )

    first = await asyncio.wait_for(lsp.text_document_completion_async(params), REQUEST_TIMEOUT_S)

    assert isinstance(first, types.CompletionList)
    assert first.is_incomplete is True and not first.items
    # Answered while the model was still generating.
    assert not any(r.completed for r in generate_requests(ollama_server))

    await wait_until(lambda: any(r.completed for r in generate_requests(ollama_server)))
    await asyncio.sleep(0.2)  # the engine post-processes and caches the answer
    second = await asyncio.wait_for(lsp.text_document_completion_async(params), REQUEST_TIMEOUT_S)

    assert isinstance(second, types.CompletionList)
    assert [item.text_edit.new_text for item in second.items if item.text_edit] == ["return a + b"]
    assert second.is_incomplete is False


async def test_cancel_closes_the_backend_stream(
    lsp: LanguageClient, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    ollama_server.token_delay_s = 0.2
    ollama_server.reply(" ".join(f"x{i} = {i}" for i in range(60)))
    uri = open_document(lsp, tmp_path / "calc.py", SOURCE)
    params = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=CURSOR,
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Invoked
        ),
    )
    msg_id, future = send_request(lsp, types.TEXT_DOCUMENT_INLINE_COMPLETION, params)
    await wait_until(lambda: any(r.tokens_sent > 0 for r in generate_requests(ollama_server)))

    cancel_request(lsp, msg_id)

    # The client gets an answer: the cancellation error (or an empty result).
    try:
        answer = await asyncio.wait_for(future, REQUEST_TIMEOUT_S)
    except JsonRpcException as exc:
        assert exc.code == -32800
    else:
        assert answer is None or not answer.items
    # The model server saw the client go away before the end of the answer.
    await wait_until(lambda: bool(ollama_server.disconnects))
    assert not ollama_server.disconnects[0].completed


async def test_superseded_request_answers_empty_at_once(
    lsp: LanguageClient, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    ollama_server.token_delay_s = 0.2
    ollama_server.reply(" ".join(f"y{i}" for i in range(40)))
    uri = open_document(lsp, tmp_path / "calc.py", SOURCE)
    _, first = send_request(
        lsp,
        types.TEXT_DOCUMENT_INLINE_COMPLETION,
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=CURSOR,
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Automatic
            ),
        ),
    )
    await wait_until(lambda: bool(generate_requests(ollama_server)))
    ollama_server.token_delay_s = 0.0
    ollama_server.reply("return a")
    second = await inline_completion(lsp, uri, types.Position(line=3, character=0))

    superseded = await asyncio.wait_for(first, REQUEST_TIMEOUT_S)
    assert not superseded.items
    assert second is not None


async def test_huge_or_binary_document_gets_no_completion(
    lsp: LanguageClient, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    huge = "x = 1\n" * 400_000  # 2.4 M characters
    uri = open_document(lsp, tmp_path / "huge.py", huge)
    binary = open_document(lsp, tmp_path / "blob.bin", "ab\x00cd\n", language="plaintext")

    assert not (await inline_completion(lsp, uri, types.Position(line=10, character=0))).items
    assert not (await inline_completion(lsp, binary, types.Position(line=0, character=2))).items
    assert generate_requests(ollama_server) == []

"""Fallback at request time: Ollama goes away mid-session, the embedded model answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.fakes.lsp_fixtures import (
    base_options,
    execute,
    inline_completion,
    open_document,
    progress_text,
)
from tests.fakes.ollama_server import OllamaTestServer

pytestmark = [pytest.mark.model, pytest.mark.timeout(240)]


@pytest.fixture
def lsp_options(ollama_server: OllamaTestServer, gguf_path: Path) -> dict[str, Any]:
    return base_options(
        ollama_server.url,
        fallback={"order": ["ollama", "local"]},
        backends={
            "ollama": {"url": ollama_server.url},
            "local": {"model_path": str(gguf_path), "n_ctx": 2048},
        },
        chat={"max_tokens": 24},
        completion={"max_tokens": 16},
        tools={"enabled": []},
    )


def completions_by(status: dict[str, Any], backend: str) -> int:
    latency = status["metrics"]["latency"].get("completion", {}).get(backend, {})
    return int(sum(latency.get("requests", {}).values()))


async def test_ollama_stopped_mid_session_falls_back_to_the_local_model(
    lsp: LanguageClient, ollama_server: OllamaTestServer, tmp_path: Path
) -> None:
    ollama_server.reply("Answered by Ollama.")
    first = await execute(lsp, "trust.chat", [{"prompt": "Say hello"}])
    assert first["backend"] == "ollama"

    ollama_server.down()

    result = await execute(lsp, "trust.chat", [{"prompt": "Say hello again"}], token="fb")
    assert result["backend"] == "local"
    assert result["text"]
    assert "".join(progress_text(lsp, "fb")[1]) == result["text"]

    uri = open_document(lsp, tmp_path / "fib.py", "def fibonacci(n):\n    ")
    await inline_completion(lsp, uri, types.Position(line=1, character=4))
    status = await execute(lsp, "trust.status")
    assert completions_by(status, "local") >= 1
    assert status["backends"]["ollama"]["healthy"] is False

"""Fallback, model recovery, privacy and health over real HTTP (the Ollama test server) and
the real embedded gemma3 model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fakes.ollama_server import OllamaTestServer
from tests.integration.core.helpers import chat, completion, config_for, eventually, running
from trust_lsp.backends.base import PullProgress, TextDelta
from trust_lsp.config.store import Layer
from trust_lsp.core.types import GeneratorEvent, Selected
from trust_lsp.errors import NoBackendAvailableError, PrivacyError, TrustError

CHAT_MODEL = "qwen2.5-coder:7b"


@pytest.mark.model
async def test_ollama_down_the_local_model_answers_and_says_so(
    ollama_server: OllamaTestServer, gguf_path: Path
) -> None:
    ollama_server.down()
    async with running(config_for(ollama_server.url, gguf_path)) as gen:
        result = await gen.generate(chat("Write one word."))
        assert result.backend == "local"
        assert result.model == gguf_path.name
        assert result.cloud is False
        assert result.text.strip()
        assert result.skipped[0].backend == "ollama"
        assert result.skipped[0].reason == "connection"
        assert "Ollama is not running" in (result.skipped[0].error or "")
        # Known down now: the next request goes straight to the local model.
        result = await gen.generate(completion())
        assert result.backend == "local"
        assert result.skipped[0].reason == "down"
        status = gen.status()
        assert status["backends"]["ollama"]["healthy"] is False
        assert status["metrics"]["latency"]["chat"]["local"]["samples"] == 1


async def test_missing_model_is_pulled_with_progress_then_ollama_answers(
    ollama_server: OllamaTestServer,
) -> None:
    ollama_server.models.remove(CHAT_MODEL)
    ollama_server.reply("pulled and ready")
    log: list[Any] = []

    def on_progress(model: str, progress: PullProgress) -> None:
        log.append((model, progress.status))

    async with running(config_for(ollama_server.url)) as gen:
        result = await gen.generate(chat(on_pull_progress=on_progress), on_event=log.append)
    assert result.backend == "ollama"
    assert result.text == "pulled and ready"
    first_event = next(i for i, item in enumerate(log) if isinstance(item, Selected))
    progress = log[:first_event]
    assert progress[0] == (CHAT_MODEL, "pulling manifest")
    assert progress[-1] == (CHAT_MODEL, "success")
    assert any(isinstance(item, tuple) and "pulling " in item[1] for item in progress[1:-1])
    paths = [r.path for r in ollama_server.requests if r.path.startswith("/api/")]
    assert paths == ["/api/chat", "/api/pull", "/api/chat"]


@pytest.mark.model
async def test_failed_pull_falls_back_to_the_local_model(
    ollama_server: OllamaTestServer, gguf_path: Path
) -> None:
    ollama_server.models.remove(CHAT_MODEL)
    ollama_server.fail_pull(CHAT_MODEL, after_updates=2)
    progress: list[str] = []
    async with running(config_for(ollama_server.url, gguf_path)) as gen:
        result = await gen.generate(chat(on_pull_progress=lambda m, p: progress.append(p.status)))
    assert result.backend == "local"
    assert result.text.strip()
    assert result.skipped[0].backend == "ollama"
    assert result.skipped[0].reason == "model_not_found"
    assert "pulling it failed" in (result.skipped[0].error or "")
    assert progress == ["pulling manifest", progress[1]]
    assert len(ollama_server.requests_to("/api/pull")) == 1


@pytest.mark.model
async def test_error_after_the_first_token_is_reported_without_fallback(
    ollama_server: OllamaTestServer, gguf_path: Path
) -> None:
    ollama_server.reply("one two three four five six")
    ollama_server.fail_mid_stream(after_tokens=2)
    seen: list[GeneratorEvent] = []
    async with running(config_for(ollama_server.url, gguf_path)) as gen:
        with pytest.raises(TrustError) as info:
            await gen.generate(chat(), on_event=seen.append)
        local = gen._backends["local"]
        assert getattr(local, "last_generation", "missing") is None  # never asked
    assert info.value.backend == "ollama"
    assert "unexpected EOF" in str(info.value)
    assert isinstance(seen[0], Selected) and seen[0].backend == "ollama"
    assert [e.text for e in seen if isinstance(e, TextDelta)] == ["one", " two"]


async def test_local_mode_never_contacts_a_reachable_cloud() -> None:
    with OllamaTestServer() as ollama, OllamaTestServer() as cloud_server:
        ollama.down()
        config = config_for(
            ollama.url,
            None,  # a model file that does not exist: the local backend is down too
            **{
                "backends.cloud.base_url": cloud_server.url + "/v1",
                "backends.cloud.model": "gpt-test",
                "server.preheat": True,
                "health.interval_s": 0.05,
            },
        )
        async with running(config, start=True) as gen:
            await gen.check_health()
            await eventually(lambda: gen.status()["backends"]["local"]["healthy"] is False)
            for request in (chat(), completion(), chat(backend="cloud")):
                with pytest.raises(NoBackendAvailableError) as info:
                    await gen.generate(request)
                message = str(info.value)
                assert "privacy.mode" in message and "allow-cloud" in message
                assert "Ollama is not running" in message or "ollama: down" in message
            models = await gen.list_models()
            assert "privacy.mode" in str(models["cloud"])
            with pytest.raises(PrivacyError):
                await gen.model_info("cloud", "gpt-test")
            await gen.preheat()
            await gen.check_health()
            status = gen.status()
            assert status["backends"]["cloud"]["allowed"] is False
            assert status["privacy"] == {"mode": "local"}
            assert cloud_server.requests == []

            # Control: the same cloud server is contacted once the user allows it.
            config.set_layer(Layer.RUNTIME, {"privacy.mode": "allow-cloud"})
            await gen.check_health()
            await eventually(lambda: len(cloud_server.requests) > 0)


@pytest.mark.model
async def test_a_backend_that_goes_down_is_skipped_and_used_again_after_it_returns(
    ollama_server: OllamaTestServer, gguf_path: Path
) -> None:
    config = config_for(ollama_server.url, gguf_path, **{"health.interval_s": 0.1})
    async with running(config, start=True) as gen:
        assert (await gen.generate(chat())).backend == "ollama"
        ollama_server.down()
        await eventually(lambda: gen.status()["backends"]["ollama"]["healthy"] is False)
        result = await gen.generate(chat())
        assert result.backend == "local"
        assert result.skipped[0].reason == "down"  # skipped on the monitor's word, no wait
        ollama_server.up()
        await eventually(lambda: gen.status()["backends"]["ollama"]["healthy"] is True)
        result = await gen.generate(chat())
        assert result.backend == "ollama"
        assert result.skipped == ()

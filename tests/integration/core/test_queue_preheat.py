"""The request queue, cancellation and preheating against the Ollama test server."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.fakes.ollama_server import OllamaTestServer
from tests.integration.core.helpers import chat, completion, config_for, eventually, running
from trust_lsp.backends.base import GenerationOptions, TextDelta
from trust_lsp.core.generator import Generator

LONG = " ".join(f"w{i}" for i in range(30))
ONLY_OLLAMA = {"fallback.order": ["ollama"], "backends.ollama.max_concurrency": 1}


def queued(gen: Generator) -> int:
    return int(gen.status()["backends"]["ollama"]["queue"]["queued"])


def generation_requests(server: OllamaTestServer) -> list[Any]:
    return [r for r in server.requests if r.path in ("/api/chat", "/api/generate")]


async def test_a_later_completion_is_served_before_an_earlier_chat() -> None:
    with OllamaTestServer(token_delay_s=0.02, max_parallel=1) as server:
        server.script_chat([LONG, "second chat"])
        server.script_generate(["completed"])
        async with running(config_for(server.url, **ONLY_OLLAMA)) as gen:
            options = GenerationOptions(max_tokens=64)
            long_chat = asyncio.create_task(gen.generate(chat("first", options=options)))
            await server.wait_for_async(lambda: server.active == 1)
            later_chat = asyncio.create_task(gen.generate(chat("second")))
            await eventually(lambda: queued(gen) == 1)
            later_completion = asyncio.create_task(gen.generate(completion()))
            await eventually(lambda: queued(gen) == 2)
            results = await asyncio.gather(long_chat, later_chat, later_completion)
        assert [r.text for r in results] == [LONG, "second chat", "completed"]
        order = [
            (r.path, r.body["messages"][-1]["content"] if r.path == "/api/chat" else "")
            for r in generation_requests(server)
        ]
        assert order == [("/api/chat", "first"), ("/api/generate", ""), ("/api/chat", "second")]
        assert server.max_active_seen == 1


async def test_a_cancelled_queued_request_never_reaches_the_server() -> None:
    with OllamaTestServer(token_delay_s=0.02) as server:
        server.script_chat([LONG])
        async with running(config_for(server.url, **ONLY_OLLAMA)) as gen:
            long_chat = asyncio.create_task(gen.generate(chat("first")))
            await server.wait_for_async(lambda: server.active == 1)
            waiting = asyncio.create_task(gen.generate(chat("never sent")))
            await eventually(lambda: queued(gen) == 1)
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
            assert queued(gen) == 0
            await long_chat
            await asyncio.sleep(0.05)
            snapshot = gen.status()["metrics"]["requests"]
        chats = server.requests_to("/api/chat")
        assert [r.body["messages"][-1]["content"] for r in chats] == ["first"]
        assert snapshot["cancelled"] == 1 and snapshot["ok"] == 1


async def test_a_cancelled_running_request_is_seen_as_a_disconnect() -> None:
    with OllamaTestServer(token_delay_s=0.05) as server:
        server.script_chat([LONG])
        async with running(config_for(server.url, **ONLY_OLLAMA)) as gen:
            got_text = asyncio.Event()

            async def consume() -> None:
                async for event in gen.stream(chat()):
                    if isinstance(event, TextDelta):
                        got_text.set()

            task = asyncio.create_task(consume())
            await asyncio.wait_for(got_text.wait(), 10)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await server.wait_for_async(lambda: len(server.disconnects) == 1)
            assert gen.status()["backends"]["ollama"]["queue"]["running"] == 0
        gone = server.disconnects[0]
        assert gone.path == "/api/chat"
        assert 1 <= gone.tokens_sent < len(LONG.split())


async def test_a_superseded_completion_never_reaches_the_server() -> None:
    with OllamaTestServer(token_delay_s=0.02) as server:
        server.script_chat([LONG])
        server.script_generate(["newest"])
        async with running(config_for(server.url, **ONLY_OLLAMA)) as gen:
            long_chat = asyncio.create_task(gen.generate(chat("first")))
            await server.wait_for_async(lambda: server.active == 1)
            old = asyncio.create_task(gen.generate(completion("x = ", group="file:///a.py")))
            await eventually(lambda: queued(gen) == 1)
            new = asyncio.create_task(gen.generate(completion("x = 1", group="file:///a.py")))
            outcomes = await asyncio.gather(long_chat, old, new, return_exceptions=True)
        assert type(outcomes[1]).__name__ == "RequestCancelledError"
        assert getattr(outcomes[2], "text", None) == "newest"
        prompts = [r.body.get("prompt") for r in server.requests_to("/api/generate")]
        assert prompts == ["x = 1"]


async def test_concurrent_preheats_send_one_load_request_per_model() -> None:
    with OllamaTestServer(load_delay_s=0.2) as server:
        config = config_for(server.url, **ONLY_OLLAMA)
        async with running(config) as gen:
            await asyncio.gather(*(gen.preheat() for _ in range(5)))
            await gen.preheat()
            preheated = gen.status()["backends"]["ollama"]["preheated"]
        loads = [r for r in server.requests_to("/api/generate") if r.body.get("prompt") == ""]
        assert sorted(r.body["model"] for r in loads) == ["qwen2.5-coder:1.5b", "qwen2.5-coder:7b"]
        assert all(r.body["keep_alive"] == "30m" for r in loads)
        assert preheated == ["qwen2.5-coder:1.5b", "qwen2.5-coder:7b"]


async def test_start_preheats_and_a_model_change_preheats_the_new_model() -> None:
    with OllamaTestServer() as server:
        config = config_for(server.url, **ONLY_OLLAMA, **{"server.preheat": True})
        async with running(config, start=True) as gen:
            await eventually(lambda: len(gen.status()["backends"]["ollama"]["preheated"]) == 2)
            from trust_lsp.config.store import Layer

            config.set_layer(Layer.RUNTIME, {"backends.ollama.chat_model": "llama3.2:1b"})
            await eventually(lambda: "llama3.2:1b" in server.loaded_models)
        loads = [r.body["model"] for r in server.requests_to("/api/generate")]
        assert loads.count("llama3.2:1b") == 1
        assert loads.count("qwen2.5-coder:1.5b") == 1  # the unchanged model is not reloaded

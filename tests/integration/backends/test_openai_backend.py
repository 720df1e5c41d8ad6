"""OpenAIBackend against the real `llama_cpp.server` serving gemma3 270M on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.fakes.model_fixtures import LLAMA_SERVER_MODEL_ALIAS
from trust_lsp.backends.base import (
    ChatRequest,
    CompletionRequest,
    Done,
    GenerationOptions,
    Message,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolSpec,
)
from trust_lsp.backends.openai import OpenAIBackend
from trust_lsp.config.settings import CloudSettings

pytestmark = pytest.mark.model

GREEDY = GenerationOptions(temperature=0.0, max_tokens=24)


def _backend(base_url: str, **kw: object) -> OpenAIBackend:
    settings = CloudSettings.model_validate(
        {"base_url": base_url, "model": LLAMA_SERVER_MODEL_ALIAS, "timeout_s": 120, **kw}
    )
    return OpenAIBackend(lambda: settings, env={})


async def _collect(stream: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    return [event async for event in stream]


def _text(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_health_and_models(llama_server: str) -> None:
    backend = _backend(llama_server)
    health = await backend.health()
    assert health.ok, health.detail
    assert not backend.is_cloud  # loopback
    assert [m.name for m in await backend.list_models()] == [LLAMA_SERVER_MODEL_ALIAS]
    await backend.aclose()


async def test_streamed_completion(llama_server: str) -> None:
    backend = _backend(llama_server)
    request = CompletionRequest(model="", prefix="def add(a, b):\n", options=GREEDY)
    events = await _collect(backend.stream_completion(request))
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1  # really streamed, piece by piece
    assert "return" in _text(events)
    assert events[-1] == Done("length")
    # Greedy decoding on the same server: the same answer again.
    again = await _collect(backend.stream_completion(request))
    assert _text(again) == _text(events)
    await backend.aclose()


async def test_streamed_chat(llama_server: str) -> None:
    backend = _backend(llama_server)
    request = ChatRequest(model="", messages=[Message("user", "Name a colour.")], options=GREEDY)
    events = await _collect(backend.stream_chat(request))
    assert _text(events).strip()
    assert isinstance(events[-1], Done)
    assert events[-1].reason in ("stop", "length")
    await backend.aclose()


async def test_forced_tool_call_has_dict_arguments(llama_server: str) -> None:
    backend = _backend(llama_server)
    tool = ToolSpec(
        "get_weather",
        "Get the current weather of a city",
        {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    )
    request = ChatRequest(
        model="",
        messages=[Message("user", "What is the weather in Paris?")],
        tools=[tool],
        tool_choice="get_weather",
        options=GenerationOptions(temperature=0.0, max_tokens=64),
    )
    events = await _collect(backend.stream_chat(request))
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert len(calls) == 1
    call = calls[0]
    assert call.name == "get_weather"
    assert isinstance(call.arguments, dict)
    assert isinstance(call.arguments.get("city"), str)
    assert call.raw_arguments.strip().startswith("{")
    assert call.id
    assert events[-1] == Done("tool_calls")
    await backend.aclose()


async def test_cancel_mid_stream_then_server_still_serves(llama_server: str) -> None:
    backend = _backend(llama_server)
    long = CompletionRequest(
        model="", prefix="# A long story\n", options=GenerationOptions(max_tokens=400)
    )
    got_one = asyncio.Event()

    async def consume() -> None:
        async for event in backend.stream_completion(long):
            if isinstance(event, TextDelta):
                got_one.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_one.wait(), 60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The connection was closed; the next request is served normally.
    short = CompletionRequest(model="", prefix="x = ", options=GenerationOptions(max_tokens=4))
    events = await _collect(backend.stream_completion(short))
    assert isinstance(events[-1], Done)
    await backend.aclose()


async def test_base_url_without_v1_is_reported_as_such(llama_server: str) -> None:
    backend = _backend(llama_server.removesuffix("/v1"))
    health = await backend.health()
    assert not health.ok
    assert "/v1" in health.detail
    await backend.aclose()

"""OllamaBackend against the Ollama test server over real loopback HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

import pytest

from tests.fakes.ollama_server import OllamaTestServer, ScriptedReply, tool_call
from trust_lsp.backends.base import (
    ChatRequest,
    CompletionRequest,
    Done,
    GenerationOptions,
    Message,
    PullableBackend,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from trust_lsp.backends.fim import DEEPSEEK_CODER, render_fim
from trust_lsp.backends.ollama import OllamaBackend
from trust_lsp.config.settings import OllamaSettings
from trust_lsp.errors import (
    BackendConnectionError,
    BackendTimeoutError,
    InvalidResponseError,
    ModelNotFoundError,
    RateLimitError,
    ResourceError,
    UnknownError,
    ValidationError,
)

CHAT_MODEL = "llama3.2:1b"
FIM_MODEL = "qwen2.5-coder:1.5b"  # capabilities include "insert"
TEMPLATE_MODEL = "deepseek-coder:1.3b-base"  # no insert, DeepSeek-Coder FIM tokens
PREFIX_MODEL = "gemma3:270m"  # neither

READ_FILE = ToolSpec(
    name="read_file",
    description="Read a file of the workspace.",
    parameters={
        "type": "object",
        "properties": {"path": {"type": "string"}},
        "required": ["path"],
    },
)


class SettingsBox:
    """Mutable settings behind the zero-arg callable the backend reads on every request."""

    def __init__(self, **values: Any) -> None:
        self.value = OllamaSettings(**values)

    def __call__(self) -> OllamaSettings:
        return self.value

    def update(self, **values: Any) -> None:
        self.value = self.value.model_copy(update=values)


@pytest.fixture
def settings(ollama_server: OllamaTestServer) -> SettingsBox:
    return SettingsBox(
        url=ollama_server.url,
        chat_model=CHAT_MODEL,
        completion_model=FIM_MODEL,
        num_ctx=2048,
        keep_alive="10m",
        timeout_s=10.0,
    )


@pytest.fixture
async def backend(settings: SettingsBox) -> AsyncIterator[OllamaBackend]:
    backend = OllamaBackend(settings)
    yield backend
    await backend.aclose()


async def collect(stream: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    async with aclosing(stream) as events:  # type: ignore[type-var]
        return [event async for event in events]


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def chat(text: str, *, model: str = CHAT_MODEL, **kwargs: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=[Message("user", text)], **kwargs)


# --- protocol ------------------------------------------------------------------------------


def test_implements_pullable_backend(settings: SettingsBox) -> None:
    backend = OllamaBackend(settings)
    assert isinstance(backend, PullableBackend)
    assert backend.name == "ollama" and backend.is_cloud is False
    assert backend.model_for("chat") == CHAT_MODEL
    assert backend.model_for("completion") == FIM_MODEL


# --- chat ----------------------------------------------------------------------------------


async def test_chat_streams_text_usage_and_done(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    ollama_server.reply("Hello there, brave new world!")
    events = await collect(backend.stream_chat(chat("hi", options=GenerationOptions(0.1))))

    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1  # streamed, not one blob
    assert text_of(events) == "Hello there, brave new world!"
    usage = [e for e in events if isinstance(e, Usage)]
    assert len(usage) == 1 and usage[0].completion_tokens == len(deltas)
    assert usage[0].prompt_tokens > 0 and usage[0].generation_ms is not None
    assert events[-1] == Done("stop")

    body = ollama_server.last_request("/api/chat").body
    assert body["model"] == CHAT_MODEL
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert body["stream"] is True
    assert body["keep_alive"] == "10m"
    assert body["options"] == {"num_ctx": 2048, "temperature": 0.1}
    assert "tools" not in body


async def test_chat_options_are_sent_as_ollama_options(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    options = GenerationOptions(temperature=0.0, top_p=0.9, max_tokens=3, stop=("END",), seed=7)
    ollama_server.reply("one two three four five")
    events = await collect(backend.stream_chat(chat("count", options=options)))
    assert text_of(events) == "one two three"
    assert events[-1] == Done("length")
    sent = ollama_server.last_request("/api/chat").body["options"]
    assert sent == {
        "num_ctx": 2048,
        "temperature": 0.0,
        "top_p": 0.9,
        "num_predict": 3,
        "seed": 7,
        "stop": ["END"],
    }


async def test_tool_call_round_trip(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    ollama_server.script_chat(
        [
            ScriptedReply(
                text="Let me look.",
                tool_calls=tool_call("read_file", {"path": "src/a.py", "n": 2}).tool_calls,
            ),
            "The file defines f.",
        ]
    )
    first = await collect(backend.stream_chat(chat("what is in a.py?", tools=[READ_FILE])))
    calls = [e for e in first if isinstance(e, ToolCall)]
    assert text_of(first) == "Let me look."
    assert len(calls) == 1
    call = calls[0]
    assert call.name == "read_file"
    assert call.arguments == {"path": "src/a.py", "n": 2}
    assert json.loads(call.raw_arguments) == {"path": "src/a.py", "n": 2}
    assert call.id is not None and call.id.startswith("call_")
    assert first[-1] == Done("tool_calls")

    sent = ollama_server.last_request("/api/chat").body
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "read_file",
                "description": "Read a file of the workspace.",
                "parameters": dict(READ_FILE.parameters),
            },
        }
    ]

    history = [
        Message("user", "what is in a.py?"),
        Message("assistant", "Let me look.", tool_calls=(call,)),
        Message("tool", "def f(): ...", tool_name="read_file", tool_call_id=call.id),
    ]
    second = await collect(backend.stream_chat(ChatRequest(CHAT_MODEL, history, tools=[READ_FILE])))
    assert text_of(second) == "The file defines f."
    assert second[-1] == Done("stop")
    messages = ollama_server.last_request("/api/chat").body["messages"]
    assert messages[1]["tool_calls"] == [
        {
            "id": call.id,
            "function": {"name": "read_file", "arguments": {"path": "src/a.py", "n": 2}},
        }
    ]
    assert messages[2] == {"role": "tool", "content": "def f(): ...", "tool_name": "read_file"}


async def test_several_tool_calls_each_arrive_whole(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    ollama_server.script_chat(
        [{"tool_calls": [("read_file", {"path": "a"}), ("read_file", {"path": "b"})]}]
    )
    events = await collect(backend.stream_chat(chat("read both", tools=[READ_FILE])))
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert [c.arguments for c in calls] == [{"path": "a"}, {"path": "b"}]
    assert len({c.id for c in calls}) == 2


async def test_tool_choice_offers_only_that_tool(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    other = ToolSpec("grep", "Search.", {"type": "object", "properties": {}})
    await collect(backend.stream_chat(chat("x", tools=[other, READ_FILE], tool_choice="grep")))
    tools = ollama_server.last_request("/api/chat").body["tools"]
    assert [t["function"]["name"] for t in tools] == ["grep"]


async def test_tools_are_not_sent_to_a_model_without_the_tools_capability(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    ollama_server.script_chat(["plain answer"])
    events = await collect(backend.stream_chat(chat("x", model=PREFIX_MODEL, tools=[READ_FILE])))
    assert text_of(events) == "plain answer"
    assert "tools" not in ollama_server.last_request("/api/chat").body


async def test_tools_on_a_model_ollama_says_cannot_use_them_is_a_validation_error(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    # Capabilities not known (an older Ollama without them in /api/show): Ollama's 400.
    ollama_server.models.add(PREFIX_MODEL.replace("270m", "1b"), capabilities=())
    model = PREFIX_MODEL.replace("270m", "1b")
    with pytest.raises(ValidationError):
        await collect(backend.stream_chat(chat("x", model=model, tools=[READ_FILE])))


# --- completions: FIM mode per model --------------------------------------------------------


async def test_fim_suffix_mode_uses_ollama_suffix(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    ollama_server.script_generate(["return a + b"])
    request = CompletionRequest(FIM_MODEL, "def add(a, b):\n    ", "\n\nprint(add(1, 2))\n")
    events = await collect(backend.stream_completion(request))
    assert text_of(events) == "return a + b"
    assert events[-1] == Done("stop")

    body = ollama_server.last_request("/api/generate").body
    assert body["prompt"] == "def add(a, b):\n    "
    assert body["suffix"] == "\n\nprint(add(1, 2))\n"
    assert "raw" not in body
    assert body["think"] is False
    assert body["keep_alive"] == "10m"
    assert body["options"]["num_ctx"] == 2048
    assert "stop" not in body["options"]  # the model's own stop list stays in force


async def test_fim_suffix_mode_sends_newline_for_empty_suffix(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    await collect(backend.stream_completion(CompletionRequest(FIM_MODEL, "x = ")))
    body = ollama_server.last_request("/api/generate").body
    assert body["prompt"] == "x = " and body["suffix"] == "\n"


async def test_fim_suffix_mode_keeps_fim_stops_when_the_request_has_stops(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    options = GenerationOptions(stop=("\n\n",))
    await collect(backend.stream_completion(CompletionRequest(FIM_MODEL, "x", "y", options)))
    stops = ollama_server.last_request("/api/generate").body["options"]["stop"]
    assert stops[0] == "\n\n" and "<|fim_prefix|>" in stops and "<|endoftext|>" in stops


async def test_fim_template_mode_renders_family_template_raw(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    ollama_server.script_generate(["a + b"])
    request = CompletionRequest(TEMPLATE_MODEL, "def add(a, b):\n    return ", "\n")
    events = await collect(backend.stream_completion(request))
    assert text_of(events) == "a + b"

    body = ollama_server.last_request("/api/generate").body
    assert body["prompt"] == render_fim(DEEPSEEK_CODER, "def add(a, b):\n    return ", "\n")
    assert body["prompt"].startswith("<｜fim▁begin｜>def add")
    assert body["raw"] is True
    assert "suffix" not in body
    assert body["think"] is False
    assert body["options"]["num_ctx"] == 2048
    assert set(DEEPSEEK_CODER.stop) <= set(body["options"]["stop"])


async def test_fim_prefix_mode_sends_prefix_only(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    await collect(backend.stream_completion(CompletionRequest(PREFIX_MODEL, "import os\n", "x")))
    body = ollama_server.last_request("/api/generate").body
    assert body["prompt"] == "import os\n"
    assert "suffix" not in body
    assert body["raw"] is True
    assert body["think"] is False
    assert body["options"] == {"num_ctx": 2048}


async def test_empty_prefix_never_sends_an_empty_prompt(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    # Prefix mode: nothing to continue, no generate request at all.
    events = await collect(backend.stream_completion(CompletionRequest(PREFIX_MODEL, "", "x")))
    assert events == [Done("stop")]
    assert ollama_server.requests_to("/api/generate") == []
    # Suffix mode with an empty prefix would be a model load: the template is used instead.
    await collect(backend.stream_completion(CompletionRequest(FIM_MODEL, "", "tail")))
    body = ollama_server.last_request("/api/generate").body
    assert body["raw"] is True
    assert body["prompt"] == "<|fim_prefix|><|fim_suffix|>tail<|fim_middle|>"


async def test_thinking_model_does_not_think_in_completions(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    ollama_server.script_generate(["42"])
    events = await collect(backend.stream_completion(CompletionRequest("qwen3:0.6b", "x = ")))
    assert text_of(events) == "42"  # no thinking text leaks into the completion


async def test_model_info_is_cached_and_live_settings_apply(
    backend: OllamaBackend, ollama_server: OllamaTestServer, settings: SettingsBox
) -> None:
    for _ in range(3):
        await collect(backend.stream_completion(CompletionRequest(FIM_MODEL, "a", "b")))
    assert len(ollama_server.requests_to("/api/show")) == 1
    assert len(ollama_server.requests_to("/api/generate")) == 3
    # One model load: the same num_ctx on every request.
    assert ollama_server.load_events == [(FIM_MODEL, 2048)]

    settings.update(num_ctx=4096, keep_alive="1h")
    await collect(backend.stream_completion(CompletionRequest(FIM_MODEL, "a", "b")))
    body = ollama_server.last_request("/api/generate").body
    assert body["options"]["num_ctx"] == 4096 and body["keep_alive"] == "1h"


async def test_base_url_is_read_on_every_request(
    backend: OllamaBackend, ollama_server: OllamaTestServer, settings: SettingsBox
) -> None:
    with OllamaTestServer() as other:
        other.reply("from the other server")
        settings.update(url=other.url + "/")
        events = await collect(backend.stream_chat(chat("hi")))
        assert text_of(events) == "from the other server"
        assert other.requests_to("/api/chat") and not ollama_server.requests_to("/api/chat")


# --- models, pull, preheat, health ----------------------------------------------------------


async def test_model_info_capabilities(backend: OllamaBackend) -> None:
    info = await backend.model_info(FIM_MODEL)
    assert info.name == FIM_MODEL
    assert {"completion", "insert", "tools"} <= info.capabilities
    assert info.family == "qwen2"
    assert info.context_length == 32768
    assert info.parameter_size == "1.5B" and info.quantization == "Q4_K_M"
    chat_info = await backend.model_info(CHAT_MODEL)
    assert "tools" in chat_info.capabilities and "insert" not in chat_info.capabilities
    assert chat_info.context_length == 131072


async def test_model_info_of_missing_model(backend: OllamaBackend) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        await backend.model_info("nope:1b")
    assert "ollama pull nope:1b" in info.value.message
    assert "trust pull nope:1b" in info.value.message
    assert info.value.recoverable and info.value.backend == "ollama"
    assert info.value.model == "nope:1b"


async def test_list_models(backend: OllamaBackend, ollama_server: OllamaTestServer) -> None:
    models = await backend.list_models()
    assert [m.name for m in models] == ollama_server.models.names()
    fim = next(m for m in models if m.name == FIM_MODEL)
    assert fim.family == "qwen2" and fim.size and fim.parameter_size == "1.5B"


async def test_pull_streams_progress_and_installs(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    assert "starcoder2:3b" not in ollama_server.models
    progress = await collect_pull(backend, "starcoder2:3b")
    statuses = [p.status for p in progress]
    assert statuses[0] == "pulling manifest"
    assert statuses[-1] == "success"
    layers = [p for p in progress if p.digest]
    assert layers and all(p.digest and p.digest.startswith("sha256:") for p in layers)
    assert all(p.total for p in layers)
    assert layers[0].completed is None  # omitted while 0, as Ollama does
    done = [p for p in layers if p.completed == p.total]
    assert len(done) == len(ollama_server.pull_layers)
    assert "starcoder2:3b" in [m.name for m in await backend.list_models()]
    info = await backend.model_info("starcoder2:3b")
    assert "insert" in info.capabilities


async def test_pull_error_line(backend: OllamaBackend, ollama_server: OllamaTestServer) -> None:
    ollama_server.fail_pull("no-such-model:1b")
    with pytest.raises(ModelNotFoundError, match="file does not exist"):
        await collect_pull(backend, "no-such-model:1b")
    assert "no-such-model:1b" not in ollama_server.models


async def collect_pull(backend: OllamaBackend, model: str) -> list[Any]:
    async with aclosing(backend.pull(model)) as progress:  # type: ignore[type-var]
        return [p async for p in progress]


async def test_preheat_loads_with_the_same_num_ctx(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    await backend.preheat(FIM_MODEL)
    body = ollama_server.last_request("/api/generate").body
    assert body == {
        "model": FIM_MODEL,
        "prompt": "",
        "stream": False,
        "keep_alive": "10m",
        "options": {"num_ctx": 2048},
    }
    assert ollama_server.loaded_models == [FIM_MODEL]
    running = await backend.running()
    assert [r.name for r in running] == [FIM_MODEL]
    assert running[0].context_length == 2048 and running[0].expires_at
    # The first real request does not reload the model.
    await collect(backend.stream_completion(CompletionRequest(FIM_MODEL, "a", "b")))
    assert ollama_server.load_events == [(FIM_MODEL, 2048)]


async def test_preheat_missing_model(backend: OllamaBackend) -> None:
    with pytest.raises(ModelNotFoundError):
        await backend.preheat("absent:7b")


async def test_health_up_down_up(backend: OllamaBackend, ollama_server: OllamaTestServer) -> None:
    health = await backend.health()
    assert health.ok and health.version == ollama_server.version
    assert health.latency_ms is not None
    assert await backend.version() == ollama_server.version

    ollama_server.down()
    health = await backend.health()
    assert not health.ok
    assert health.detail == (
        f"Ollama is not running at {ollama_server.url} — start it with `ollama serve` "
        "or set backends.ollama.url"
    )

    ollama_server.up()
    assert (await backend.health()).ok
    # The pool recovers: a stale keep-alive connection is not reused.
    ollama_server.reply("back")
    assert text_of(await collect(backend.stream_chat(chat("hi")))) == "back"


async def test_health_of_something_that_is_not_ollama(settings: SettingsBox) -> None:
    with OllamaTestServer() as srv:
        settings.update(url=srv.url + "/nothing-here")
        backend = OllamaBackend(settings)
        try:
            health = await backend.health()
        finally:
            await backend.aclose()
    assert not health.ok and "404" in health.detail


# --- errors --------------------------------------------------------------------------------


async def test_missing_model_in_chat_and_completion(backend: OllamaBackend) -> None:
    with pytest.raises(ModelNotFoundError, match="ollama pull ghost"):
        await collect(backend.stream_chat(chat("x", model="ghost")))
    with pytest.raises(ModelNotFoundError, match="trust pull ghost"):
        await collect(backend.stream_completion(CompletionRequest("ghost", "x")))


async def test_busy_503_is_a_resource_error(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    ollama_server.fail_next("/api/chat", 503)
    with pytest.raises(ResourceError, match="busy") as info:
        await collect(backend.stream_chat(chat("x")))
    assert info.value.recoverable
    # Only once: the next request succeeds.
    assert (await collect(backend.stream_chat(chat("x"))))[-1] == Done("stop")


@pytest.mark.parametrize(
    ("status", "message", "error"),
    [
        (429, "too many requests", RateLimitError),
        (400, "invalid options", ValidationError),
        (500, "llama runner process has terminated: exit status 2", ResourceError),
        (500, "CUDA error: out of memory", ResourceError),
        (500, "something odd", UnknownError),
    ],
)
async def test_status_errors_map_to_the_error_tree(
    backend: OllamaBackend,
    ollama_server: OllamaTestServer,
    status: int,
    message: str,
    error: type[Exception],
) -> None:
    ollama_server.fail_next("/api/generate", status, message)
    with pytest.raises(error) as info:
        await collect(backend.stream_completion(CompletionRequest(FIM_MODEL, "x", "y")))
    assert message in str(info.value)


async def test_mid_stream_error_line(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    ollama_server.reply("one two three four five six")
    ollama_server.fail_mid_stream(after_tokens=2, message="CUDA error: out of memory")
    seen: list[StreamEvent] = []
    with pytest.raises(ResourceError, match="out of memory"):
        async with aclosing(backend.stream_chat(chat("x"))) as events:  # type: ignore[type-var]
            async for event in events:
                seen.append(event)
    assert text_of(seen) == "one two"  # the text before the error was delivered
    assert not any(isinstance(e, Done) for e in seen)


async def test_mid_stream_garbage_is_an_invalid_response(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    ollama_server.fail_mid_stream(after_tokens=1, kind="garbage")
    with pytest.raises(InvalidResponseError, match="not JSON"):
        await collect(backend.stream_chat(chat("a b c")))


async def test_server_dying_mid_stream_is_a_connection_error(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    ollama_server.fail_mid_stream(after_tokens=1, kind="drop")
    with pytest.raises(BackendConnectionError, match="Lost the connection"):
        await collect(backend.stream_chat(chat("a b c")))


async def test_connection_refused(backend: OllamaBackend, ollama_server: OllamaTestServer) -> None:
    ollama_server.down()
    with pytest.raises(BackendConnectionError) as info:
        await collect(backend.stream_chat(chat("x")))
    assert info.value.message == (
        f"Ollama is not running at {ollama_server.url} — start it with `ollama serve` "
        "or set backends.ollama.url"
    )
    assert info.value.recoverable
    with pytest.raises(BackendConnectionError):
        await backend.list_models()


async def test_read_timeout(
    backend: OllamaBackend, ollama_server: OllamaTestServer, settings: SettingsBox
) -> None:
    settings.update(timeout_s=0.2)
    ollama_server.latency_s = 3.0  # nothing is sent for longer than the read timeout
    with pytest.raises(BackendTimeoutError, match=r"backends\.ollama\.timeout_s"):
        await collect(backend.stream_chat(chat("x")))
    # The backend hung up; the server noticed and stopped.
    await ollama_server.wait_for_async(lambda: len(ollama_server.disconnects) == 1)


async def test_timeout_between_tokens(
    backend: OllamaBackend, ollama_server: OllamaTestServer, settings: SettingsBox
) -> None:
    settings.update(timeout_s=0.3)
    ollama_server.script_chat([ScriptedReply(tokens=("a", "b", "c"))])
    ollama_server.token_delay_s = 1.0
    with pytest.raises(BackendTimeoutError):
        await collect(backend.stream_chat(chat("x")))


# --- wire robustness -----------------------------------------------------------------------


async def test_lines_split_across_reads(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    # Every line goes out in two TCP writes with a pause between them, so the client
    # certainly reads half lines; multi-byte characters get cut in the middle too.
    ollama_server.split_pause_s = 0.01
    text = "naïve 日本語 — emoji 🎉 and ｜fim▁hole｜ stay whole"
    ollama_server.reply(text)
    events = await collect(backend.stream_chat(chat("x")))
    assert text_of(events) == text
    assert ollama_server.split_writes >= len([e for e in events if isinstance(e, TextDelta)])


async def test_concurrent_streams_share_the_pool(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    ollama_server.token_delay_s = 0.01
    results = await asyncio.gather(
        *(collect(backend.stream_chat(chat(f"request {i}"))) for i in range(4))
    )
    assert sorted(text_of(r) for r in results) == [f"Echo: request {i}" for i in range(4)]
    assert ollama_server.max_active_seen > 1


# --- cancellation --------------------------------------------------------------------------


async def _cancel_after_first_delta(
    stream_factory: Callable[[], AsyncIterator[StreamEvent]],
) -> None:
    first = asyncio.Event()

    async def consume() -> None:
        async with aclosing(stream_factory()) as events:  # type: ignore[type-var]
            async for event in events:
                if isinstance(event, TextDelta):
                    first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancelling_a_chat_closes_the_connection(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    ollama_server.token_delay_s = 0.05
    ollama_server.reply(" ".join(f"word{i}" for i in range(100)))
    await _cancel_after_first_delta(lambda: backend.stream_chat(chat("long")))
    await ollama_server.wait_for_async(lambda: len(ollama_server.disconnects) == 1)
    gone = ollama_server.disconnects[0]
    assert gone.path == "/api/chat"
    assert 1 <= gone.tokens_sent < 100  # the server stopped generating


async def test_cancelling_a_completion_closes_the_connection(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    ollama_server.token_delay_s = 0.05
    ollama_server.script_generate([" ".join(["x"] * 100)])
    await _cancel_after_first_delta(
        lambda: backend.stream_completion(CompletionRequest(FIM_MODEL, "a", "b"))
    )
    await ollama_server.wait_for_async(lambda: len(ollama_server.disconnects) == 1)
    assert ollama_server.disconnects[0].path == "/api/generate"


async def test_closing_the_stream_early_closes_the_connection(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    ollama_server.token_delay_s = 0.05
    ollama_server.reply(" ".join(["y"] * 100))
    async with aclosing(backend.stream_chat(chat("x"))) as events:  # type: ignore[type-var]
        async for event in events:
            if isinstance(event, TextDelta):
                break
    await ollama_server.wait_for_async(lambda: len(ollama_server.disconnects) == 1)
    # The backend keeps working after a cancelled stream.
    ollama_server.token_delay_s = 0.0
    ollama_server.reply("fine")
    assert text_of(await collect(backend.stream_chat(chat("x")))) == "fine"


async def test_cancelling_while_queued_behind_another_request(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    # OLLAMA_NUM_PARALLEL=1: the second request waits; cancelling it hangs up the queue slot.
    ollama_server.max_parallel = 1
    ollama_server.token_delay_s = 0.05
    ollama_server.script_chat([" ".join(["z"] * 40)])
    long_task = asyncio.create_task(collect(backend.stream_chat(chat("long"))))
    await ollama_server.wait_for_async(lambda: ollama_server.active == 1)
    queued = asyncio.create_task(collect(backend.stream_chat(chat("queued"))))
    await ollama_server.wait_for_async(lambda: ollama_server.waiting == 1)
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    await ollama_server.wait_for_async(lambda: len(ollama_server.disconnects) == 1)
    assert ollama_server.disconnects[0].body["messages"][0]["content"] == "queued"
    assert ollama_server.disconnects[0].tokens_sent == 0
    long_task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await long_task


async def test_rate_limit_carries_retry_after(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    ollama_server.fail_next("/api/chat", 429, "slow down", headers={"Retry-After": "7"})
    with pytest.raises(RateLimitError) as info:
        await collect(backend.stream_chat(chat("x")))
    assert info.value.retry_after == 7.0 and info.value.recoverable


async def test_garbage_json_answer_is_an_invalid_response(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    ollama_server.fail_next("/api/tags", 200, body=b"<html>not json</html>")
    with pytest.raises(InvalidResponseError, match="not JSON"):
        await backend.list_models()
    ollama_server.fail_next("/api/show", 200, body=b"[1, 2]")
    with pytest.raises(InvalidResponseError):
        await backend.model_info(FIM_MODEL)


async def test_stream_without_final_chunk_is_an_invalid_response(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    # A 200 NDJSON body that just ends: no done:true line.
    ollama_server.fail_next(
        "/api/chat",
        200,
        headers={"Content-Type": "application/x-ndjson"},
        body=b'{"model":"m","message":{"role":"assistant","content":"hi"},"done":false}\n',
    )
    seen: list[StreamEvent] = []
    with pytest.raises(InvalidResponseError, match="without a final chunk"):
        async with aclosing(backend.stream_chat(chat("x"))) as events:  # type: ignore[type-var]
            async for event in events:
                seen.append(event)
    assert text_of(seen) == "hi"


async def test_connections_are_kept_alive(
    backend: OllamaBackend, ollama_server: OllamaTestServer
) -> None:
    await backend.health()
    for _ in range(5):
        await collect(backend.stream_completion(CompletionRequest(FIM_MODEL, "a", "b")))
    await backend.list_models()
    assert len(ollama_server.requests) == 2 + 1 + 5 + 1  # health (2), show, 5 x generate, tags
    assert ollama_server.connections_opened == 1


def test_one_backend_serves_several_event_loops(
    settings: SettingsBox, ollama_server: OllamaTestServer
) -> None:
    # The CLI may run asyncio.run() more than once with the same backend.
    backend = OllamaBackend(settings)
    for _ in range(2):
        assert asyncio.run(backend.health()).ok
    asyncio.run(backend.aclose())

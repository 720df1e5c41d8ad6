"""OpenAIBackend over scripted HTTP answers (httpx.MockTransport) and bare loopback sockets.

The happy paths run against the real llama_cpp.server in tests/integration/backends; here are
the answers a real server rarely gives on demand: auth failures, rate limits, garbage,
errors in the middle of a stream, refused and silent connections.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest

from trust_lsp.backends.base import (
    ChatRequest,
    CompletionRequest,
    Done,
    Message,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from trust_lsp.backends.openai import OpenAIBackend
from trust_lsp.config.settings import CloudSettings
from trust_lsp.errors import (
    AuthenticationError,
    BackendConnectionError,
    BackendTimeoutError,
    InvalidResponseError,
    ModelNotFoundError,
    RateLimitError,
    ResourceError,
    ValidationError,
)

SECRET = "sk-test-do-not-leak-1234"
BASE = "http://127.0.0.1:9/v1"

Handler = Callable[[httpx.Request], httpx.Response]


def _settings(**kw: object) -> CloudSettings:
    data: dict[str, object] = {"base_url": BASE, "model": "m1", "api_key_env": "MY_KEY"}
    data.update(kw)
    return CloudSettings.model_validate(data)


def _backend(handler: Handler, **kw: object) -> OpenAIBackend:
    settings = _settings(**kw)
    return OpenAIBackend(
        lambda: settings, env={"MY_KEY": SECRET}, transport=httpx.MockTransport(handler)
    )


def _sse(*events: object, done: bool = True) -> bytes:
    parts = [f"data: {json.dumps(e)}\n\n" for e in events]
    if done:
        parts.append("data: [DONE]\n\n")
    return "".join(parts).encode()


def _sse_response(body: bytes) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)


async def _collect(stream: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    return [event async for event in stream]


CHAT = ChatRequest(model="", messages=[Message("user", "hi")])
COMPLETE = CompletionRequest(model="", prefix="def f(")


async def test_chat_stream_text_usage_and_bearer_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _sse_response(
            _sse(
                {"choices": [{"delta": {"role": "assistant"}, "finish_reason": None}]},
                {"choices": [{"delta": {"content": "Hel"}, "finish_reason": None}]},
                {"choices": [{"delta": {"content": "lo"}, "finish_reason": None}]},
                {"choices": [{"delta": {}, "finish_reason": "length"}]},
                {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
            )
        )

    backend = _backend(handler)
    events = await _collect(backend.stream_chat(CHAT))
    assert events == [
        TextDelta("Hel"),
        TextDelta("lo"),
        Usage(prompt_tokens=3, completion_tokens=2),
        Done("length"),
    ]
    (request,) = seen
    assert request.url == "http://127.0.0.1:9/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    body = json.loads(request.content)
    assert body["model"] == "m1"
    assert body["stream_options"] == {"include_usage": True}
    await backend.aclose()


async def test_streamed_tool_call_becomes_one_tool_call_event() -> None:
    frags = ['{"ci', 'ty": ', '"Paris"}']
    events_out = [
        {
            "choices": [
                {
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                **({"id": "c1", "type": "function"} if i == 0 else {}),
                                "function": {
                                    **({"name": "weather"} if i == 0 else {}),
                                    "arguments": f,
                                },
                            }
                        ]
                    },
                    "finish_reason": None,
                }
            ]
        }
        for i, f in enumerate(frags)
    ]
    events_out.append({"choices": [{"delta": {}, "finish_reason": "tool_calls"}]})
    backend = _backend(lambda r: _sse_response(_sse(*events_out)))
    tool = ToolSpec("weather", "w", {"type": "object"})
    request = ChatRequest(
        model="", messages=[Message("user", "x")], tools=[tool], tool_choice="weather"
    )
    events = await _collect(backend.stream_chat(request))
    assert events == [
        ToolCall("weather", {"city": "Paris"}, '{"city": "Paris"}', id="c1"),
        Done("tool_calls"),
    ]


async def test_completion_stream_prefix_only_for_unknown_family() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return _sse_response(
            _sse(
                {"choices": [{"text": "x)", "finish_reason": None}]},
                {"choices": [{"text": "", "finish_reason": "stop"}]},
            )
        )

    backend = _backend(handler)
    request = CompletionRequest(model="", prefix="def f(", suffix="\n")
    assert await _collect(backend.stream_completion(request)) == [TextDelta("x)"), Done("stop")]
    assert bodies[0]["prompt"] == "def f("
    assert "suffix" not in bodies[0]


async def test_completion_uses_fim_template_for_known_family() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return _sse_response(_sse({"choices": [{"text": "1", "finish_reason": "stop"}]}))

    backend = _backend(handler, model="qwen2.5-coder-1.5b")
    request = CompletionRequest(model="", prefix="a = ", suffix="\nb = 2")
    await _collect(backend.stream_completion(request))
    assert bodies[0]["prompt"] == "<|fim_prefix|>a = <|fim_suffix|>\nb = 2<|fim_middle|>"
    stops = bodies[0]["stop"]
    assert isinstance(stops, list) and len(stops) <= 4 and "<|endoftext|>" in stops


async def test_server_rejecting_stream_options_is_retried_without_it() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        if "stream_options" in body:
            return httpx.Response(
                400, json={"error": {"message": "Unrecognized request argument: stream_options"}}
            )
        return _sse_response(
            _sse({"choices": [{"delta": {"content": "ok"}, "finish_reason": "stop"}]})
        )

    backend = _backend(handler)
    assert await _collect(backend.stream_chat(CHAT)) == [TextDelta("ok"), Done("stop")]
    assert await _collect(backend.stream_chat(CHAT)) == [TextDelta("ok"), Done("stop")]
    # Remembered: the second request goes out without the option at once.
    assert ["stream_options" in b for b in bodies] == [True, False, False]


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind"),
    [
        (401, {"error": {"message": "Incorrect API key provided"}}, {}, AuthenticationError),
        (403, {"error": {"message": "forbidden"}}, {}, AuthenticationError),
        (404, {"error": {"message": "model 'm1' not found"}}, {}, ModelNotFoundError),
        (429, {"error": {"message": "rate"}}, {"Retry-After": "3"}, RateLimitError),
        (503, {"error": {"message": "busy"}}, {}, ResourceError),
        (500, "Internal Server Error", {}, ResourceError),
    ],
)
async def test_http_errors_are_mapped(
    status: int, body: object, headers: dict[str, str], kind: type
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, headers=headers, text=body)
        return httpx.Response(status, headers=headers, json=body)

    backend = _backend(handler)
    with pytest.raises(kind) as info:
        await _collect(backend.stream_chat(CHAT))
    assert SECRET not in str(info.value)
    if kind is RateLimitError:
        assert info.value.retry_after == 3.0  # type: ignore[attr-defined]
    if kind is AuthenticationError:
        assert "$MY_KEY" in str(info.value)
    # list_models/health go through the same mapping.
    with pytest.raises(kind):
        await backend.list_models()
    health = await backend.health()
    assert not health.ok
    assert SECRET not in health.detail


@pytest.mark.parametrize(
    "body",
    [
        b"data: {not json\n\n",
        b'data: "a string"\n\n',
        b'data: {"choices": [{"delta": {"content": "a"}, "finish_reason": null}]}\n\n'
        b'data: {"error": {"message": "model crashed"}}\n\n',
    ],
)
async def test_garbage_and_mid_stream_errors(body: bytes) -> None:
    backend = _backend(lambda r: _sse_response(body))
    with pytest.raises((InvalidResponseError, ResourceError)) as info:
        await _collect(backend.stream_chat(CHAT))
    if b"model crashed" in body:
        assert isinstance(info.value, ResourceError)
        assert "model crashed" in str(info.value)


async def test_mid_stream_rate_limit_error_event() -> None:
    body = b'data: {"error": {"message": "too fast", "type": "rate_limit_error"}}\n\n'
    backend = _backend(lambda r: _sse_response(body))
    with pytest.raises(RateLimitError):
        await _collect(backend.stream_completion(COMPLETE))


async def test_stream_cut_off_before_the_end_is_a_connection_error() -> None:
    body = _sse({"choices": [{"delta": {"content": "a"}, "finish_reason": None}]}, done=False)
    backend = _backend(lambda r: _sse_response(body))
    with pytest.raises(BackendConnectionError):
        await _collect(backend.stream_chat(CHAT))


async def test_missing_base_url_is_a_clear_validation_error() -> None:
    settings = CloudSettings(model="m")
    backend = OpenAIBackend(lambda: settings, env={})
    with pytest.raises(ValidationError, match=r"backends\.cloud\.base_url"):
        await _collect(backend.stream_chat(CHAT))
    health = await backend.health()
    assert not health.ok
    assert "base_url" in health.detail
    assert backend.is_cloud  # unknown destination: treated as cloud


async def test_missing_model_is_a_clear_validation_error() -> None:
    settings = CloudSettings(base_url=BASE)
    backend = OpenAIBackend(lambda: settings, env={})
    with pytest.raises(ValidationError, match=r"backends\.cloud\.model"):
        await _collect(backend.stream_chat(CHAT))


def test_key_never_in_repr_and_loopback_is_not_cloud() -> None:
    backend = _backend(lambda r: httpx.Response(200))
    assert SECRET not in repr(backend)
    assert SECRET not in str(backend)
    assert SECRET not in repr(vars(backend))
    assert not backend.is_cloud
    remote = CloudSettings(base_url="https://api.example.com/v1")
    assert OpenAIBackend(lambda: remote, env={}).is_cloud


async def test_no_key_means_no_authorization_header() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"object": "list", "data": [{"id": "m1"}]})

    settings = _settings()
    backend = OpenAIBackend(lambda: settings, env={}, transport=httpx.MockTransport(handler))
    models = await backend.list_models()
    assert [m.name for m in models] == ["m1"]
    assert "authorization" not in seen[0].headers
    assert (await backend.model_info("m1")).name == "m1"
    with pytest.raises(ModelNotFoundError):
        await backend.model_info("other")


class _SlowStream(httpx.AsyncByteStream):
    """An SSE body that sends one event, then waits forever; records being closed."""

    def __init__(self) -> None:
        self.closed = asyncio.Event()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'data: {"choices": [{"delta": {"content": "a"}, "finish_reason": null}]}\n\n'
        await asyncio.sleep(3600)
        yield b""

    async def aclose(self) -> None:
        self.closed.set()


async def test_cancelling_the_consumer_closes_the_response() -> None:
    stream = _SlowStream()
    backend = _backend(
        lambda r: httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=stream)
    )
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in backend.stream_chat(CHAT):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(stream.closed.wait(), 5)


# --- real sockets on loopback ------------------------------------------------------------------


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                conns.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(5)
    for conn in conns:
        conn.close()
    server.close()


async def test_refused_connection_is_a_connection_error(closed_port: int) -> None:
    settings = _settings(base_url=f"http://127.0.0.1:{closed_port}/v1")
    backend = OpenAIBackend(lambda: settings, env={})
    with pytest.raises(BackendConnectionError, match=f"127.0.0.1:{closed_port}"):
        await _collect(backend.stream_chat(CHAT))
    assert not (await backend.health()).ok
    await backend.aclose()


async def test_silent_server_is_a_timeout(silent_server: int) -> None:
    settings = _settings(base_url=f"http://127.0.0.1:{silent_server}/v1", timeout_s=0.3)
    backend = OpenAIBackend(lambda: settings, env={})
    with pytest.raises(BackendTimeoutError, match="timeout_s"):
        await _collect(backend.stream_completion(COMPLETE))
    await backend.aclose()

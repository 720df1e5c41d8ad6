"""OpenAI-compatible backend: the pure wire helpers (SSE, tool-call assembly, bodies, errors)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from trust_lsp.backends.base import ChatRequest, GenerationOptions, Message, ToolCall, ToolSpec
from trust_lsp.backends.fim import QWEN_CODER
from trust_lsp.backends.openai import (
    SSEDecoder,
    ToolCallAssembler,
    build_chat_body,
    build_completion_body,
    error_from_response,
    fim_prompt,
    is_loopback_url,
    parse_retry_after,
)
from trust_lsp.errors import (
    AuthenticationError,
    InvalidResponseError,
    ModelNotFoundError,
    RateLimitError,
    ResourceError,
    ValidationError,
)


def _feed(lines: list[str]) -> list[str]:
    decoder = SSEDecoder()
    out = [d for line in lines if (d := decoder.feed(line)) is not None]
    tail = decoder.flush()
    return [*out, tail] if tail is not None else out


@pytest.mark.parametrize(
    ("lines", "events"),
    [
        (["data: {}", ""], ["{}"]),
        (["data:{}", ""], ["{}"]),  # no space after the colon
        (["data: a", "data: b", ""], ["a\nb"]),  # one event over several data lines
        ([": ping - 2024", "", "data: x", ""], ["x"]),  # comments are skipped
        (["event: message", "id: 7", "data: y", ""], ["y"]),  # other fields ignored
        (["data: z\r", "\r"], ["z"]),  # CRLF line ends
        (["data: [DONE]", ""], ["[DONE]"]),
        (["data: last"], ["last"]),  # stream ended without the blank line
        (["", "", ""], []),
    ],
)
def test_sse_decoder(lines: list[str], events: list[str]) -> None:
    assert _feed(lines) == events


def test_tool_call_fragments_are_assembled_per_index() -> None:
    asm = ToolCallAssembler()
    # OpenAI: id and name once, arguments in pieces; two calls interleaved.
    asm.add([{"index": 0, "id": "call_a", "function": {"name": "read_file", "arguments": ""}}])
    asm.add([{"index": 1, "id": "call_b", "function": {"name": "grep", "arguments": '{"pat'}}])
    asm.add([{"index": 0, "function": {"arguments": '{"path": '}}])
    asm.add([{"index": 0, "function": {"arguments": '"a.py"}'}}])
    asm.add([{"index": 1, "function": {"arguments": 'tern": "x"}'}}])
    calls = asm.finish()
    assert calls == [
        ToolCall("read_file", {"path": "a.py"}, '{"path": "a.py"}', id="call_a"),
        ToolCall("grep", {"pattern": "x"}, '{"pattern": "x"}', id="call_b"),
    ]
    assert not asm


def test_tool_call_name_repeated_in_every_fragment_is_not_duplicated() -> None:
    # llama_cpp.server repeats id and name in each chunk.
    asm = ToolCallAssembler()
    for piece in ['{ "city"', ': "Paris"', " }"]:
        asm.add([{"index": 0, "id": "c1", "function": {"name": "weather", "arguments": piece}}])
    (call,) = asm.finish()
    assert call.name == "weather"
    assert call.arguments == {"city": "Paris"}


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ('{"a": 1}', {"a": 1}),
        ("", {}),  # a call without arguments
        ('{"a": ', None),  # cut off
        ("[1, 2]", None),  # JSON, but not an object
        ("not json", None),
    ],
)
def test_tool_call_arguments_parsing(raw: str, parsed: dict[str, int] | None) -> None:
    asm = ToolCallAssembler()
    asm.add([{"index": 0, "function": {"name": "t", "arguments": raw}}])
    (call,) = asm.finish()
    assert call.arguments == parsed
    assert call.raw_arguments == raw


TOOL = ToolSpec("get_weather", "Weather of a city", {"type": "object", "properties": {}})


def test_chat_body_with_named_tool_choice_and_history() -> None:
    request = ChatRequest(
        model="ignored",
        messages=[
            Message("system", "sys"),
            Message("user", "hi"),
            Message(
                "assistant",
                "",
                tool_calls=(ToolCall("get_weather", {"city": "Oslo"}, '{"city": "Oslo"}', "c1"),),
            ),
            Message("tool", "sunny", tool_name="get_weather", tool_call_id="c1"),
        ],
        tools=[TOOL],
        tool_choice="get_weather",
        options=GenerationOptions(temperature=0.0, max_tokens=5, stop=("x",), seed=3),
    )
    body = build_chat_body(request, model="m", include_usage=True)
    assert body["model"] == "m"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["tools"][0]["function"]["name"] == "get_weather"
    assert (body["temperature"], body["max_tokens"], body["stop"], body["seed"]) == (
        0.0,
        5,
        ["x"],
        3,
    )
    assistant = body["messages"][2]
    assert assistant["content"] is None
    assert assistant["tool_calls"][0] == {
        "id": "c1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
    }
    assert body["messages"][3] == {
        "role": "tool",
        "content": "sunny",
        "tool_call_id": "c1",
        "name": "get_weather",
    }


def test_chat_body_without_usage_option_and_without_tools_when_unsupported() -> None:
    request = ChatRequest(model="m", messages=[Message("user", "hi")], tools=[TOOL])
    body = build_chat_body(request, model="m", include_usage=False, offer_tools=False)
    assert "stream_options" not in body
    assert "tools" not in body
    assert "temperature" not in body  # unset options are left to the server


def test_completion_body() -> None:
    body = build_completion_body(
        "def f(", GenerationOptions(max_tokens=8), model="m", include_usage=True
    )
    assert body == {
        "model": "m",
        "prompt": "def f(",
        "stream": True,
        "max_tokens": 8,
        "stream_options": {"include_usage": True},
    }


def test_fim_prompt_only_for_known_families() -> None:
    assert fim_prompt("gemma3-270m", "a", "b") is None
    rendered = fim_prompt("qwen2.5-coder:1.5b", "a", "b")
    assert rendered is not None
    prompt, stops = rendered
    assert prompt == "<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>"
    assert stops == QWEN_CODER.stop


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8000/v1", True),
        ("http://127.5.0.1/v1", True),
        ("http://localhost:1234/v1", True),
        ("http://[::1]:8000/v1", True),
        ("https://api.example.com/v1", False),
        ("http://10.0.0.2/v1", False),
        (None, False),
        ("", False),
        ("not a url", False),
    ],
)
def test_is_loopback_url(url: str | None, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_parse_retry_after() -> None:
    assert parse_retry_after({"Retry-After": "7"}) == 7.0
    assert parse_retry_after({"retry-after-ms": "1500", "Retry-After": "9"}) == 1.5
    assert parse_retry_after({}) is None
    assert parse_retry_after({"Retry-After": "soon"}) is None
    now = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    later = format_datetime(datetime(2030, 1, 1, 0, 0, 30, tzinfo=UTC), usegmt=True)
    assert parse_retry_after({"Retry-After": later}, now=now) == pytest.approx(30.0)


def _err(
    status: int, body: object, *, key_present: bool = True, headers: dict[str, str] | None = None
):  # type: ignore[no-untyped-def]
    raw = body if isinstance(body, str) else json.dumps(body)
    return error_from_response(
        status,
        headers or {},
        raw,
        base_url="http://127.0.0.1:9/v1",
        model="m1",
        key_env="MY_KEY_VAR",
        key_present=key_present,
    )


@pytest.mark.parametrize(
    ("status", "body", "kind", "fragment"),
    [
        (
            401,
            {"error": {"message": "Incorrect API key"}},
            AuthenticationError,
            "rejected the key in $MY_KEY_VAR",
        ),
        (403, {"error": {"message": "forbidden"}}, AuthenticationError, "$MY_KEY_VAR"),
        (
            404,
            {"error": {"message": "The model `m1` does not exist"}},
            ModelNotFoundError,
            "no model 'm1'",
        ),
        (404, "Not Found", InvalidResponseError, "ends in /v1"),
        (429, {"error": {"message": "slow down"}}, RateLimitError, "slow down"),
        (400, {"error": {"message": "context too long"}}, ValidationError, "context too long"),
        (422, {"detail": [{"msg": "field required"}]}, ValidationError, "field required"),
        (500, "boom", ResourceError, "boom"),
        (503, {"error": "Loading model"}, ResourceError, "Loading model"),
        (418, "teapot", InvalidResponseError, "teapot"),
    ],
)
def test_error_mapping_table(status: int, body: object, kind: type, fragment: str) -> None:
    err = _err(status, body)
    assert type(err) is kind
    assert fragment in err.message
    assert err.backend == "cloud"
    assert err.model == "m1"


def test_auth_error_without_key_says_where_to_put_it() -> None:
    err = _err(401, {"error": {"message": "no key"}}, key_present=False)
    assert isinstance(err, AuthenticationError)
    assert "needs an API key" in err.message
    assert "$MY_KEY_VAR" in err.message
    assert not err.recoverable


def test_rate_limit_carries_retry_after_and_bad_request_is_recoverable() -> None:
    err = _err(429, {"error": {"message": "x"}}, headers={"Retry-After": "12"})
    assert isinstance(err, RateLimitError)
    assert err.retry_after == 12.0
    assert err.recoverable
    assert _err(400, "bad").recoverable  # another backend may accept the request

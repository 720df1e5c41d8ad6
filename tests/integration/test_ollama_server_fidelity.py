"""Keep the Ollama test server honest: drive it with the official `ollama` package.

The package's pydantic models (ChatResponse, GenerateResponse, ListResponse, ShowResponse,
ProgressResponse, ProcessResponse, EmbedResponse) describe what a real Ollama answers; every
response shape of the test server must parse with them, and its errors must surface as
`ollama.ResponseError` with the right status, as they do against a real server.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest
from ollama import (
    ChatResponse,
    EmbedResponse,
    GenerateResponse,
    ListResponse,
    ProcessResponse,
    ProgressResponse,
    ShowResponse,
)

from tests.fakes.ollama_server import OllamaTestServer, ScriptedReply, tool_call

READ_FILE_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "read_file",
        "description": "Read a file",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string", "description": "path"}},
            "required": ["path"],
        },
    },
}


def ndjson(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


# --- the official async client -------------------------------------------------------------


async def test_async_chat_stream_with_tool_calls(ollama_server: OllamaTestServer) -> None:
    ollama_server.script_chat(
        [
            ScriptedReply(
                text="Reading it.",
                tool_calls=tool_call("read_file", {"path": "a.py"}).tool_calls
                + tool_call("read_file", {"path": "b.py"}).tool_calls,
            )
        ]
    )
    client = ollama.AsyncClient(host=ollama_server.url)
    parts: list[ChatResponse] = []
    async for part in await client.chat(
        model="llama3.2:1b",
        messages=[{"role": "user", "content": "read a.py"}],
        tools=[READ_FILE_TOOL],
        stream=True,
    ):
        parts.append(part)
    assert all(isinstance(p, ChatResponse) for p in parts)
    assert "".join(p.message.content or "" for p in parts) == "Reading it."
    with_calls = [p for p in parts if p.message.tool_calls]
    # Each tool call arrives whole in its own done:false chunk.
    assert len(with_calls) == 2 and not any(p.done for p in with_calls)
    calls = [c for p in with_calls for c in p.message.tool_calls or ()]
    assert [dict(c.function.arguments) for c in calls] == [{"path": "a.py"}, {"path": "b.py"}]
    final = parts[-1]
    assert final.done and final.done_reason == "stop"
    assert final.eval_count and final.prompt_eval_count
    assert final.total_duration and final.eval_duration and final.load_duration is not None
    assert final.created_at and final.model == "llama3.2:1b"


async def test_async_chat_round_trip_with_tool_message(ollama_server: OllamaTestServer) -> None:
    ollama_server.reply("It defines f.")
    client = ollama.AsyncClient(host=ollama_server.url)
    response = await client.chat(
        model="llama3.2:1b",
        messages=[
            {"role": "user", "content": "read a.py"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "read_file", "arguments": {"path": "a"}}}],
            },
            {"role": "tool", "content": "def f(): pass", "tool_name": "read_file"},
        ],
        tools=[READ_FILE_TOOL],
    )
    assert isinstance(response, ChatResponse)
    assert response.message.content == "It defines f." and response.done
    sent = ollama_server.last_request("/api/chat").body
    assert sent["messages"][2]["tool_name"] == "read_file"


async def test_async_generate_with_suffix(ollama_server: OllamaTestServer) -> None:
    ollama_server.script_generate(["return a + b"])
    client = ollama.AsyncClient(host=ollama_server.url)
    parts = [
        part
        async for part in await client.generate(
            model="qwen2.5-coder:1.5b",
            prompt="def add(a, b):\n    ",
            suffix="\n",
            options={"num_ctx": 4096, "temperature": 0},
            think=False,
            stream=True,
        )
    ]
    assert all(isinstance(p, GenerateResponse) for p in parts)
    assert "".join(p.response or "" for p in parts) == "return a + b"
    assert parts[-1].done and parts[-1].done_reason == "stop"
    assert not any(p.done for p in parts[:-1])


async def test_async_errors_are_response_errors(ollama_server: OllamaTestServer) -> None:
    client = ollama.AsyncClient(host=ollama_server.url)
    with pytest.raises(ollama.ResponseError) as info:
        await client.chat(model="nope", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 404 and info.value.error == "model 'nope' not found"

    ollama_server.fail_next("/api/generate", 503)
    with pytest.raises(ollama.ResponseError) as info:
        await client.generate(model="gemma3:270m", prompt="x")
    assert info.value.status_code == 503 and "server busy" in info.value.error

    ollama_server.fail_mid_stream(after_tokens=1, message="boom")
    with pytest.raises(ollama.ResponseError) as info:
        async for _ in await client.generate(model="gemma3:270m", prompt="a b c", stream=True):
            pass
    assert info.value.error == "boom"


# --- the official sync client ---------------------------------------------------------------


def test_sync_list_show_ps_embed(ollama_server: OllamaTestServer) -> None:
    client = ollama.Client(host=ollama_server.url)
    listed = client.list()
    assert isinstance(listed, ListResponse)
    assert [m.model for m in listed.models] == ollama_server.models.names()
    assert all(m.details and m.details.family and m.size and m.digest for m in listed.models)

    shown = client.show("qwen2.5-coder:1.5b")
    assert isinstance(shown, ShowResponse)
    assert set(shown.capabilities or ()) == {"completion", "insert", "tools"}
    assert shown.modelinfo and shown.modelinfo["qwen2.context_length"] == 32768
    assert shown.details and shown.details.family == "qwen2"
    assert shown.template and ".Suffix" in shown.template
    assert client.show("gemma3:270m").capabilities == ["completion"]

    assert client.ps().models == []
    client.generate(model="gemma3:270m", prompt="", keep_alive="5m")  # load only
    ps = client.ps()
    assert isinstance(ps, ProcessResponse)
    assert [m.model for m in ps.models] == ["gemma3:270m"]
    assert ps.models[0].expires_at is not None and ps.models[0].size_vram

    embedded = client.embed(model="nomic-embed-text", input=["a", "b"])
    assert isinstance(embedded, EmbedResponse)
    assert len(embedded.embeddings) == 2 and len(embedded.embeddings[0]) == 16
    assert embedded.embeddings != [embedded.embeddings[0]] * 2


def test_sync_load_unload_and_capability_errors(ollama_server: OllamaTestServer) -> None:
    client = ollama.Client(host=ollama_server.url)
    loaded = client.generate(model="gemma3:270m", prompt="")
    assert loaded.done and loaded.done_reason == "load"
    unloaded = client.generate(model="gemma3:270m", prompt="", keep_alive=0)
    assert unloaded.done_reason == "unload"
    assert client.ps().models == []

    with pytest.raises(ollama.ResponseError) as info:
        client.generate(model="gemma3:270m", prompt="x", suffix="y")
    assert info.value.status_code == 400 and "does not support insert" in info.value.error
    with pytest.raises(ollama.ResponseError) as info:
        client.generate(model="gemma3:270m", prompt="x", think=True)
    assert info.value.status_code == 400 and "does not support thinking" in info.value.error
    # think:false is safe for any model
    assert client.generate(model="gemma3:270m", prompt="x", think=False).done


def test_sync_thinking_model_thinks_unless_told_not_to(ollama_server: OllamaTestServer) -> None:
    client = ollama.Client(host=ollama_server.url)
    ollama_server.script_generate(["42", "42"])
    thought = client.generate(model="qwen3:0.6b", prompt="x")
    assert thought.thinking and thought.response == "42"
    plain = client.generate(model="qwen3:0.6b", prompt="x", think=False)
    assert plain.thinking is None and plain.response == "42"


def test_sync_pull_progress(ollama_server: OllamaTestServer) -> None:
    client = ollama.Client(host=ollama_server.url)
    updates = list(client.pull("starcoder2:3b", stream=True))
    assert all(isinstance(u, ProgressResponse) for u in updates)
    assert updates[0].status == "pulling manifest" and updates[-1].status == "success"
    layer = [u for u in updates if u.digest]
    assert layer and all(u.total for u in layer)
    assert any(u.completed == u.total for u in layer)
    assert "starcoder2:3b" in [m.model for m in client.list().models]

    ollama_server.fail_pull("missing:1b", after_updates=1)
    with pytest.raises(ollama.ResponseError, match="file does not exist"):
        list(client.pull("missing:1b", stream=True))
    assert client.pull("other:1b").status == "success"  # not streamed: one object


def test_sync_connection_refused_when_down(ollama_server: OllamaTestServer) -> None:
    client = ollama.Client(host=ollama_server.url)
    ollama_server.down()
    with pytest.raises(ConnectionError):
        client.list()
    ollama_server.up()
    assert client.list().models


# --- raw responses parsed with the package's models ----------------------------------------


def test_raw_responses_parse_with_the_official_models(ollama_server: OllamaTestServer) -> None:
    base = ollama_server.url
    with httpx.Client(base_url=base, timeout=10) as http:
        root = http.get("/")
        assert root.status_code == 200 and root.text == "Ollama is running"
        assert http.get("/api/version").json() == {"version": ollama_server.version}

        ollama_server.script_chat([tool_call("read_file", {"path": "x"})])
        chat = http.post(
            "/api/chat",
            json={
                "model": "llama3.2:1b",
                "messages": [{"role": "user", "content": "hi"}],
                "tools": [READ_FILE_TOOL],
            },
        )
        assert chat.headers["content-type"] == "application/x-ndjson"
        assert chat.headers.get("transfer-encoding") == "chunked"
        chunks = [ChatResponse.model_validate(line) for line in ndjson(chat)]
        assert chunks[-1].done
        call_lines = [line for line in ndjson(chat) if line["message"].get("tool_calls")]
        raw_call = call_lines[0]["message"]["tool_calls"][0]
        assert raw_call["function"]["index"] == 0 and raw_call["id"]
        assert isinstance(raw_call["function"]["arguments"], dict)  # an object, not a string

        gen = http.post("/api/generate", json={"model": "gemma3:270m", "prompt": "x y z"})
        parsed = [GenerateResponse.model_validate(line) for line in ndjson(gen)]
        final = ndjson(gen)[-1]
        for key in (
            "done",
            "done_reason",
            "total_duration",
            "load_duration",
            "prompt_eval_count",
            "prompt_eval_duration",
            "eval_count",
            "eval_duration",
            "created_at",
            "model",
        ):
            assert key in final, key
        assert parsed[-1].done

        single = http.post(
            "/api/generate", json={"model": "gemma3:270m", "prompt": "x", "stream": False}
        )
        assert single.headers["content-type"].startswith("application/json")
        assert GenerateResponse.model_validate(single.json()).done

        ListResponse.model_validate(http.get("/api/tags").json())
        ShowResponse.model_validate(http.post("/api/show", json={"model": "gemma3:270m"}).json())
        ProcessResponse.model_validate(http.get("/api/ps").json())
        EmbedResponse.model_validate(
            http.post("/api/embed", json={"model": "nomic-embed-text", "input": "x"}).json()
        )
        pull = http.post("/api/pull", json={"model": "tiny:1b"})
        for line in ndjson(pull):
            ProgressResponse.model_validate(line)

        missing = http.post("/api/show", json={"model": "x"})
        assert missing.status_code == 404 and missing.json() == {"error": "model 'x' not found"}
        ollama_server.fail_next("/api/chat", 503)
        busy = http.post("/api/chat", json={"model": "llama3.2:1b", "messages": []})
        assert busy.status_code == 503
        assert busy.json() == {
            "error": "server busy, please try again.  maximum pending requests exceeded"
        }
        assert http.get("/api/nothing").status_code == 404
        assert http.get("/api/chat").status_code == 405


def test_ndjson_lines_are_split_across_tcp_writes(ollama_server: OllamaTestServer) -> None:
    """A raw socket sees a partial line first: real servers do not align lines with reads."""
    ollama_server.split_pause_s = 0.2
    ollama_server.reply("alpha beta")
    body = json.dumps({"model": "gemma3:270m", "prompt": "x"}).encode()
    request = (
        b"POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    with socket.create_connection((ollama_server.host, ollama_server.port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536)
        head, _, rest = received.partition(b"\r\n\r\n")
        assert b"Transfer-Encoding: chunked" in head
        # Read until the first chunk is complete; the server pauses before the second half.
        while rest.count(b"\r\n") < 2:
            rest += sock.recv(65536)
        size_line, _, chunk = rest.partition(b"\r\n")
        first = chunk[: int(size_line, 16)]
        assert first and not first.endswith(b"\n")  # half a JSON line
        with pytest.raises(ValueError):
            json.loads(first)
        sock.settimeout(0.1)
        with pytest.raises(TimeoutError):
            sock.recv(65536)  # nothing more yet: the line really went out in two writes
    assert ollama_server.split_writes >= 1


async def test_max_parallel_makes_requests_wait(ollama_server: OllamaTestServer) -> None:
    ollama_server.max_parallel = 1
    ollama_server.token_delay_s = 0.01
    client = ollama.AsyncClient(host=ollama_server.url)

    async def one(i: int) -> str:
        reply = await client.generate(model="gemma3:270m", prompt=f"p{i} a b c d")
        return reply.response or ""

    answers = await asyncio.gather(*(one(i) for i in range(3)))
    assert answers == [f"echo p{i} a b c d" for i in range(3)]
    assert ollama_server.max_active_seen == 1


def test_runs_standalone_from_the_command_line() -> None:
    """`python -m tests.fakes.ollama_server` (for benches and demos) prints its URL and serves."""
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.ollama_server", "--port", "0", "--token-delay-ms", "1"],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        client = ollama.Client(host=url, timeout=10)
        assert client.list().models
        reply = client.chat(model="llama3.2:1b", messages=[{"role": "user", "content": "hi"}])
        assert reply.message.content == "Echo: hi"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


# --- the test server's own guarantees -------------------------------------------------------


def test_stop_and_num_predict_options(ollama_server: OllamaTestServer) -> None:
    client = ollama.Client(host=ollama_server.url)
    ollama_server.script_generate(["alpha beta\n\ngamma delta", "one two three four"])
    cut = client.generate(model="gemma3:270m", prompt="x", options={"stop": ["\n\n"]})
    assert cut.response == "alpha beta" and cut.done_reason == "stop"
    short = client.generate(model="gemma3:270m", prompt="x", options={"num_predict": 2})
    assert short.response == "one two" and short.done_reason == "length"
    assert short.eval_count == 2


def test_num_ctx_change_reloads_the_model(ollama_server: OllamaTestServer) -> None:
    client = ollama.Client(host=ollama_server.url)
    for num_ctx in (2048, 2048, 4096):
        client.generate(model="gemma3:270m", prompt="x", options={"num_ctx": num_ctx})
    assert ollama_server.load_events == [("gemma3:270m", 2048), ("gemma3:270m", 4096)]


def test_models_can_be_added_and_removed(ollama_server: OllamaTestServer) -> None:
    client = ollama.Client(host=ollama_server.url)
    ollama_server.models.add("mine", capabilities=["completion", "insert"], context_length=999)
    shown = client.show("mine")
    assert shown.capabilities == ["completion", "insert"]
    assert "mine:latest" in [m.model for m in client.list().models]
    assert ollama_server.models.remove("mine:latest")
    with pytest.raises(ollama.ResponseError) as info:
        client.show("mine")
    assert info.value.status_code == 404


def test_down_while_streaming_is_not_a_client_disconnect(ollama_server: OllamaTestServer) -> None:
    ollama_server.token_delay_s = 0.05
    ollama_server.reply(" ".join(["t"] * 100))
    client = ollama.Client(host=ollama_server.url, timeout=10)
    stream = client.chat(
        model="llama3.2:1b", messages=[{"role": "user", "content": "x"}], stream=True
    )
    next(iter(stream))
    ollama_server.down()
    with pytest.raises(httpx.HTTPError):
        for _ in stream:
            pass
    assert ollama_server.disconnects == []
    ollama_server.up()
    assert client.list().models


def test_stop_while_a_client_is_streaming_does_not_hang() -> None:
    server = OllamaTestServer(token_delay_s=0.05).start()
    server.reply(" ".join(["t"] * 100))
    client = ollama.Client(host=server.url, timeout=10)
    stream = client.chat(
        model="llama3.2:1b", messages=[{"role": "user", "content": "x"}], stream=True
    )
    next(iter(stream))
    server.stop()
    assert not server.running
    with pytest.raises(httpx.HTTPError):
        for _ in stream:
            pass


def test_wait_for_times_out(ollama_server: OllamaTestServer) -> None:
    with pytest.raises(TimeoutError):
        ollama_server.wait_for(lambda: False, timeout=0.05)

"""`trust serve`: the OpenAI-compatible API, driven by the official `openai` client."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import openai
import pytest

from tests.fakes.ollama_server import OllamaTestServer

from .conftest import TRUST, CliEnv

TOKEN = "test-token-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Api:
    def __init__(self, proc: subprocess.Popen[str], port: int) -> None:
        self.proc = proc
        self.base = f"http://127.0.0.1:{port}"

    def client(self, token: str = TOKEN) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.base}/v1", api_key=token, max_retries=0)


def start_api(cli: CliEnv, *extra: str, env: dict[str, str] | None = None) -> Iterator[Api]:
    port = free_port()
    proc = subprocess.Popen(
        [*TRUST, "serve", "--port", str(port), *extra],
        cwd=cli.workspace,
        env={**cli.env, "TRUST_API_TOKEN": TOKEN, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"trust serve did not start: {proc.communicate()[1]}")
            time.sleep(0.1)
        yield Api(proc, port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def api(cli: CliEnv) -> Iterator[Api]:
    yield from start_api(cli)


def test_streamed_chat_through_the_api(api: Api, ollama_server: OllamaTestServer) -> None:
    ollama_server.reply("Streaming works fine.")
    stream = api.client().chat.completions.create(
        model="trust", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert "".join(pieces) == "Streaming works fine."
    assert len([p for p in pieces if p]) > 1  # really streamed, not one block
    assert ollama_server.last_request("/api/chat").json["messages"][-1]["content"] == "hi"


def test_plain_chat_and_completion_say_who_answered(
    api: Api, ollama_server: OllamaTestServer
) -> None:
    ollama_server.reply("Plain answer.")
    response = api.client().chat.completions.create(
        model="ollama/qwen2.5-coder:7b", messages=[{"role": "user", "content": "q"}]
    )
    assert response.choices[0].message.content == "Plain answer."
    assert response.model_extra is not None
    assert response.model_extra["trust"]["backend"] == "ollama"
    assert response.model_extra["trust"]["cloud"] is False
    ollama_server.reply("b")
    completion = api.client().completions.create(model="trust", prompt="a + ", max_tokens=8)
    assert completion.choices[0].text == "b"
    assert ollama_server.last_request("/api/generate").json["prompt"].endswith("a + ")


def test_models_are_listed(api: Api) -> None:
    ids = [m.id for m in api.client().models.list()]
    assert "trust" in ids
    assert "ollama/qwen2.5-coder:7b" in ids


def test_missing_or_wrong_token_gets_401(api: Api) -> None:
    with pytest.raises(openai.AuthenticationError):
        api.client("wrong-token").models.list()
    response = httpx.post(
        f"{api.base}/v1/chat/completions",
        json={"model": "trust", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 401
    assert "access-control-allow-origin" not in response.headers
    odd = httpx.get(f"{api.base}/v1/models", headers={"Authorization": "Bearer tök".encode()})
    assert odd.status_code == 401  # a non-ASCII token is refused, not a server error


def test_malformed_request_gets_400(api: Api) -> None:
    response = httpx.post(
        f"{api.base}/v1/chat/completions",
        headers={"Authorization": f"Bearer {TOKEN}"},
        content=b"{not json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


class CountingServer:
    """Any HTTP server that only counts what reaches it (a stand-in for a cloud API)."""

    def __init__(self) -> None:
        self.hits = 0
        counter = self

        class Handler(BaseHTTPRequestHandler):
            def _count(self) -> None:
                counter.hits += 1
                self.send_response(500)
                self.end_headers()

            do_GET = do_POST = _count

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


def test_privacy_mode_local_never_reaches_the_cloud(cli: CliEnv, tmp_path: Path) -> None:
    cloud = CountingServer()
    try:
        env = {
            "TRUST_BACKENDS__CLOUD__BASE_URL": cloud.url,
            "TRUST_BACKENDS__CLOUD__MODEL": "gpt-test",
            "TRUST_FALLBACK__ORDER": '["cloud"]',
        }
        for running in start_api(cli, env=env):
            with pytest.raises(openai.APIStatusError) as failure:
                running.client().chat.completions.create(
                    model="cloud/gpt-test", messages=[{"role": "user", "content": "secret"}]
                )
            assert failure.value.status_code in (403, 503)
            ids = [m.id for m in running.client().models.list()]
            assert not any(i.startswith("cloud/") for i in ids)
        assert cloud.hits == 0
    finally:
        cloud.close()

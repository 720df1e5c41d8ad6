"""Pure parts of the Ollama backend: the NDJSON decoder and the error mapping tables."""

from __future__ import annotations

import json

import httpx
import pytest

from trust_lsp.backends.ollama import (
    NdjsonDecoder,
    map_status_error,
    map_stream_error,
    map_transport_error,
)
from trust_lsp.errors import (
    AuthenticationError,
    BackendConnectionError,
    BackendTimeoutError,
    InvalidResponseError,
    ModelNotFoundError,
    RateLimitError,
    ResourceError,
    TrustError,
    UnknownError,
    ValidationError,
)

URL = "http://127.0.0.1:11434"
LINES = [
    {"model": "m", "response": "héllo 🎉", "done": False},
    {"model": "m", "response": "", "done": True, "done_reason": "stop"},
]
PAYLOAD = b"".join(json.dumps(obj, ensure_ascii=False).encode() + b"\n" for obj in LINES)


# --- NDJSON --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64, len(PAYLOAD)])
def test_decoder_survives_any_split(size: int) -> None:
    decoder = NdjsonDecoder()
    out = []
    for i in range(0, len(PAYLOAD), size):
        out += decoder.feed(PAYLOAD[i : i + size])
    out += decoder.close()
    assert out == LINES


def test_decoder_skips_blank_lines_and_reads_a_last_line_without_newline() -> None:
    decoder = NdjsonDecoder()
    assert decoder.feed(b'\n  \n{"a": 1}\r\n\n{"b"') == [{"a": 1}]
    assert decoder.feed(b": 2}") == []
    assert decoder.close() == [{"b": 2}]
    assert decoder.close() == []


@pytest.mark.parametrize("line", [b"{not json\n", b"[1, 2]\n", b'"text"\n', b"\xff\xfe\n"])
def test_decoder_rejects_garbage(line: bytes) -> None:
    decoder = NdjsonDecoder(model="m")
    with pytest.raises(InvalidResponseError) as info:
        decoder.feed(line)
    assert info.value.backend == "ollama" and info.value.model == "m"


def test_decoder_bounds_a_line_without_end() -> None:
    decoder = NdjsonDecoder()
    with pytest.raises(InvalidResponseError, match="longer than"):
        for _ in range(17):
            decoder.feed(b"x" * (1024 * 1024))


# --- HTTP status -> error tree -------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error", "needle"),
    [
        (404, b'{"error":"model \'q:1b\' not found"}', ModelNotFoundError, "ollama pull q:1b"),
        (
            404,
            b'{"error":"model \\"q:1b\\" not found, try pulling it first"}',
            ModelNotFoundError,
            "trust pull q:1b",
        ),
        (404, b"404 page not found", InvalidResponseError, "Ollama server?"),
        (503, b'{"error":"server busy, please try again."}', ResourceError, "busy"),
        (429, b'{"error":"slow down"}', RateLimitError, "slow down"),
        (
            400,
            b'{"error":"\\"q\\" does not support insert"}',
            ValidationError,
            "does not support insert",
        ),
        (401, b'{"error":"unauthorized"}', AuthenticationError, "unauthorized"),
        (403, b"forbidden", AuthenticationError, "forbidden"),
        (
            500,
            b'{"error":"model requires more system memory (9 GiB) than is available"}',
            ResourceError,
            "smaller",
        ),
        (500, b'{"error":"llama runner process has terminated"}', ResourceError, "could not run"),
        (500, b'{"error":"strange"}', UnknownError, "strange"),
        (502, b"bad gateway", UnknownError, "502"),
        (422, b'{"error":"odd"}', ValidationError, "422"),
        (400, b'{"error":{"message":"openai shape"}}', ValidationError, "openai shape"),
    ],
)
def test_status_mapping(status: int, body: bytes, error: type[TrustError], needle: str) -> None:
    mapped = map_status_error(status, body, url=URL, model="q:1b")
    assert type(mapped) is error
    assert needle in mapped.message
    assert mapped.backend == "ollama" and mapped.model == "q:1b"


@pytest.mark.parametrize(
    ("header", "seconds"), [("3", 3.0), ("0.5", 0.5), ("soon", None), (None, None)]
)
def test_rate_limit_retry_after(header: str | None, seconds: float | None) -> None:
    mapped = map_status_error(429, b"{}", url=URL, model=None, retry_after=header)
    assert isinstance(mapped, RateLimitError) and mapped.retry_after == seconds


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ModelNotFoundError, True),
        (ResourceError, True),
        (RateLimitError, True),
        (UnknownError, True),  # 5xx from Ollama: another backend may still answer
        (ValidationError, False),
        (AuthenticationError, False),
    ],
)
def test_recoverability(error: type[TrustError], expected: bool) -> None:
    samples = {
        ModelNotFoundError: (404, b'{"error":"x"}'),
        ResourceError: (503, b"{}"),
        RateLimitError: (429, b"{}"),
        UnknownError: (500, b'{"error":"x"}'),
        ValidationError: (400, b'{"error":"x"}'),
        AuthenticationError: (401, b"{}"),
    }
    status, body = samples[error]
    mapped = map_status_error(status, body, url=URL, model="m")
    assert type(mapped) is error and mapped.recoverable is expected


# --- stream error lines --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (
            "an error was encountered while running the model: CUDA error: out of memory",
            ResourceError,
        ),
        ("llama runner process has terminated: signal: killed", ResourceError),
        ("pull model manifest: file does not exist", ModelNotFoundError),
        ("an error was encountered while running the model: unexpected EOF", UnknownError),
    ],
)
def test_stream_error_mapping(message: str, error: type[TrustError]) -> None:
    mapped = map_stream_error(message, url=URL, model="m")
    assert type(mapped) is error and message in mapped.message and mapped.recoverable


# --- transport failures --------------------------------------------------------------------

_REQUEST = httpx.Request("POST", URL + "/api/chat")


@pytest.mark.parametrize(
    ("exc", "error", "needle"),
    [
        (httpx.ConnectError("refused", request=_REQUEST), BackendConnectionError, "ollama serve"),
        (httpx.ConnectTimeout("t", request=_REQUEST), BackendTimeoutError, "connect_timeout_s"),
        (httpx.ReadTimeout("t", request=_REQUEST), BackendTimeoutError, "12 s"),
        (httpx.PoolTimeout("t", request=_REQUEST), BackendTimeoutError, "PoolTimeout"),
        (
            httpx.RemoteProtocolError("peer closed", request=_REQUEST),
            BackendConnectionError,
            "Lost",
        ),
        (httpx.ReadError("reset", request=_REQUEST), BackendConnectionError, "Lost"),
        (httpx.DecodingError("bad gzip", request=_REQUEST), InvalidResponseError, "undecodable"),
        (
            httpx.UnsupportedProtocol("ftp", request=_REQUEST),
            ValidationError,
            "backends.ollama.url",
        ),
    ],
)
def test_transport_mapping(exc: httpx.HTTPError, error: type[TrustError], needle: str) -> None:
    mapped = map_transport_error(exc, url=URL, model="m", read_timeout_s=12.0)
    assert type(mapped) is error and needle in mapped.message


def test_connection_refused_message_is_actionable() -> None:
    mapped = map_transport_error(
        httpx.ConnectError("refused", request=_REQUEST), url=URL, model=None, read_timeout_s=1
    )
    assert mapped.message == (
        "Ollama is not running at http://127.0.0.1:11434 — start it with `ollama serve` "
        "or set backends.ollama.url"
    )

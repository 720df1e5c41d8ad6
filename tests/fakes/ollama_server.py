"""A protocol-faithful Ollama server for tests, benches and demos.

`OllamaTestServer` speaks Ollama's native HTTP API (facts: docs/design OLLAMA.md) on a
loopback port. It runs its own asyncio loop in a background thread, so it serves tests in
any event loop and other processes (the LSP server under test, the CLI, benches).

It is written on raw asyncio streams, not a web framework, so it controls every byte:
streamed NDJSON lines are split across TCP writes (as real servers do), tokens are paced by
`token_delay_s`, and a client that closes its connection is noticed at once (Ollama stops
generating at the next token) and recorded in `disconnects`.

Scripting (thread-safe; call from any thread)::

    with OllamaTestServer() as srv:
        srv.reply("hello world")                        # next chat or generate answer
        srv.script_chat([tool_call("read_file", {"path": "a.py"}), "done"])
        srv.fail_next("/api/chat", 503)                 # busy once
        srv.fail_mid_stream(after_tokens=2)             # {"error": …} line after 2 tokens
        srv.token_delay_s = 0.01
        srv.max_parallel = 1                            # like OLLAMA_NUM_PARALLEL=1
        srv.models.add("starcoder2:3b")                 # or .remove(name)
        srv.down(); srv.up()                            # refuse connections, listen again
        srv.requests, srv.disconnects, srv.wait_for(lambda: …, timeout=5)

Run standalone: ``python -m tests.fakes.ollama_server --port 11434 --token-delay-ms 20``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.utils
import hashlib
import json
import math
import re
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "DEFAULT_MODELS",
    "FailureRule",
    "ModelRegistry",
    "ModelSpec",
    "OllamaTestServer",
    "RecordedRequest",
    "ScriptedReply",
    "ScriptedToolCall",
    "tokenize",
    "tool_call",
]

VERSION = "0.33.0"
BUSY_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"
MID_STREAM_MESSAGE = "an error was encountered while running the model: unexpected EOF"
DEFAULT_KEEP_ALIVE_S = 300.0

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    499: "Client Closed Request",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


# --- models --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """One installed model as `/api/tags`, `/api/show` and `/api/ps` describe it."""

    name: str
    family: str = "llama"
    capabilities: tuple[str, ...] = ("completion",)
    context_length: int = 8192
    template: str = "{{ .Prompt }}"
    parameter_size: str = "1B"
    quantization_level: str = "Q4_K_M"
    size: int = 1_000_000_000
    embedding_length: int = 16
    parameters: str = ""
    architecture: str | None = None  # key prefix of model_info (defaults to family)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()

    @property
    def arch(self) -> str:
        return self.architecture or self.family


_QWEN_CODER_TEMPLATE = (
    "{{- if .Suffix }}<|fim_prefix|>{{ .Prompt }}<|fim_suffix|>{{ .Suffix }}<|fim_middle|>\n"
    "{{- else if .Messages }}{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}"
    "<|im_end|>\n{{ end }}<|im_start|>assistant\n"
    "{{- else }}{{ .Prompt }}{{ end }}"
)
_CHAT_TEMPLATE = (
    "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}"
    "<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n"
)

DEFAULT_MODELS: tuple[ModelSpec, ...] = (
    # FIM coder models: the template uses .Suffix, so capabilities include "insert".
    ModelSpec(
        "qwen2.5-coder:1.5b",
        family="qwen2",
        capabilities=("completion", "tools", "insert"),
        context_length=32768,
        template=_QWEN_CODER_TEMPLATE,
        parameter_size="1.5B",
        size=986_000_000,
        parameters='stop "<|endoftext|>"',
    ),
    ModelSpec(
        "qwen2.5-coder:7b",
        family="qwen2",
        capabilities=("completion", "tools", "insert"),
        context_length=32768,
        template=_QWEN_CODER_TEMPLATE,
        parameter_size="7.6B",
        size=4_683_000_000,
        parameters='stop "<|endoftext|>"',
    ),
    # A chat model with tools and no FIM.
    ModelSpec(
        "llama3.2:1b",
        family="llama",
        capabilities=("completion", "tools"),
        context_length=131072,
        template=_CHAT_TEMPLATE,
        parameter_size="1.2B",
        size=1_321_000_000,
        parameters='stop "<|eot_id|>"',
    ),
    # A coder base model whose Ollama template has no .Suffix: the client renders the
    # family's FIM template itself and sends raw:true.
    ModelSpec(
        "deepseek-coder:1.3b-base",
        family="llama",
        capabilities=("completion",),
        context_length=16384,
        parameter_size="1B",
        size=776_000_000,
    ),
    # A base model with neither insert nor a family template: prefix-only completion.
    ModelSpec(
        "gemma3:270m",
        family="gemma3",
        capabilities=("completion",),
        context_length=32768,
        parameter_size="268.10M",
        size=291_000_000,
    ),
    # A thinking model: thinks by default unless the request sends think:false.
    ModelSpec(
        "qwen3:0.6b",
        family="qwen3",
        capabilities=("completion", "tools", "thinking"),
        context_length=40960,
        template=_CHAT_TEMPLATE,
        parameter_size="751.63M",
        size=522_000_000,
    ),
    ModelSpec(
        "nomic-embed-text:latest",
        family="nomic-bert",
        capabilities=("embedding",),
        context_length=2048,
        parameter_size="137M",
        quantization_level="F16",
        size=274_000_000,
        embedding_length=16,
    ),
)


def normalize_model_name(name: str) -> str:
    """Ollama's short names: a name without a tag means ":latest"."""
    name = name.strip()
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def guess_spec(name: str) -> ModelSpec:
    """A plausible spec for a model name (used by `models.add(name)` and by pulls)."""
    full = normalize_model_name(name)
    for spec in DEFAULT_MODELS:
        if spec.name == full:
            return spec
    base = full.split(":", 1)[0].rsplit("/", 1)[-1]
    table: list[tuple[str, str, tuple[str, ...]]] = [
        ("qwen2.5-coder", "qwen2", ("completion", "tools", "insert")),
        ("qwen3", "qwen3", ("completion", "tools", "thinking")),
        ("starcoder2", "starcoder2", ("completion", "insert")),
        ("codestral", "llama", ("completion", "insert")),
        ("codegemma", "gemma", ("completion", "insert")),
        ("codellama", "llama", ("completion", "insert")),
        ("deepseek-coder-v2", "deepseek2", ("completion", "insert")),
        ("deepseek-coder", "llama", ("completion",)),
        ("llama", "llama", ("completion", "tools")),
        ("embed", "nomic-bert", ("embedding",)),
    ]
    for prefix, family, caps in table:
        if base.startswith(prefix) or prefix in base:
            template = _QWEN_CODER_TEMPLATE if "insert" in caps else _CHAT_TEMPLATE
            return ModelSpec(full, family=family, capabilities=caps, template=template)
    return ModelSpec(full, family=base.split("-")[0].split(".")[0] or "llama")


class ModelRegistry:
    """The installed models (thread-safe). `srv.models.add(...)` / `.remove(name)`."""

    def __init__(self, specs: Iterable[ModelSpec | str] = ()) -> None:
        self._lock = threading.RLock()
        self._specs: dict[str, ModelSpec] = {}
        self._modified: dict[str, datetime] = {}
        for spec in specs:
            self.add(spec)

    def add(self, spec: ModelSpec | str, **overrides: Any) -> ModelSpec:
        """Install a model: a ModelSpec, or a name (spec guessed) plus field overrides."""
        if isinstance(spec, str):
            spec = guess_spec(spec)
        if overrides:
            if "capabilities" in overrides:
                overrides["capabilities"] = tuple(overrides["capabilities"])
            spec = replace(spec, **overrides)
        spec = replace(spec, name=normalize_model_name(spec.name))
        with self._lock:
            self._specs[spec.name] = spec
            self._modified[spec.name] = datetime.now(UTC)
        return spec

    def remove(self, name: str) -> bool:
        """Uninstall a model; True when it was installed."""
        with self._lock:
            full = normalize_model_name(name)
            self._modified.pop(full, None)
            return self._specs.pop(full, None) is not None

    def get(self, name: str) -> ModelSpec | None:
        with self._lock:
            return self._specs.get(normalize_model_name(name))

    def names(self) -> list[str]:
        with self._lock:
            return list(self._specs)

    def specs(self) -> list[tuple[ModelSpec, datetime]]:
        with self._lock:
            return [(s, self._modified[n]) for n, s in self._specs.items()]

    def clear(self) -> None:
        with self._lock:
            self._specs.clear()
            self._modified.clear()

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        with self._lock:
            return len(self._specs)


# --- scripting -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ScriptedToolCall:
    name: str
    arguments: Mapping[str, Any]
    id: str | None = None


def tool_call(
    name: str, arguments: Mapping[str, Any] | None = None, *, id: str | None = None
) -> ScriptedReply:
    """A scripted reply made of one tool call (arguments are a JSON object, as Ollama sends)."""
    return ScriptedReply(tool_calls=(ScriptedToolCall(name, dict(arguments or {}), id),))


@dataclass(frozen=True)
class ScriptedReply:
    """One answer: text (streamed token by token), then tool calls, then the final chunk.

    `tokens` overrides the tokenization of `text`; `thinking` is streamed before the text
    when the request allows thinking; `done_reason` overrides stop/length; `error_after`
    ends the stream after that many tokens, the way `error_kind` says: "error" (an
    `{"error": error}` line, as Ollama does), "garbage" (a line that is not JSON) or "drop"
    (the connection is reset, as when the server dies).
    """

    text: str = ""
    tool_calls: tuple[ScriptedToolCall, ...] = ()
    thinking: str | None = None
    tokens: tuple[str, ...] | None = None
    done_reason: str | None = None
    error_after: int | None = None
    error: str = MID_STREAM_MESSAGE
    error_kind: str = "error"
    prompt_eval_count: int | None = None

    def token_list(self) -> list[str]:
        return list(self.tokens) if self.tokens is not None else tokenize(self.text)


ScriptItem = ScriptedReply | str | Mapping[str, Any]


def to_reply(item: ScriptItem) -> ScriptedReply:
    """Accept a ScriptedReply, a plain string, or a dict {text|content, tool_calls, …}."""
    if isinstance(item, ScriptedReply):
        return item
    if isinstance(item, str):
        return ScriptedReply(text=item)
    data = dict(item)
    calls: list[ScriptedToolCall] = []
    for call in data.pop("tool_calls", ()) or ():
        if isinstance(call, ScriptedToolCall):
            calls.append(call)
        elif isinstance(call, Mapping):
            fn = call.get("function", call)
            calls.append(
                ScriptedToolCall(fn["name"], dict(fn.get("arguments") or {}), call.get("id"))
            )
        else:
            name, args = call
            calls.append(ScriptedToolCall(name, dict(args)))
    text = data.pop("text", data.pop("content", ""))
    if "tokens" in data and data["tokens"] is not None:
        data["tokens"] = tuple(data["tokens"])
    return ScriptedReply(text=text, tool_calls=tuple(calls), **data)


_TOKEN_RE = re.compile(r"\s*\S+|\s+")


def tokenize(text: str) -> list[str]:
    """Split text into word-like tokens that keep their leading whitespace."""
    tokens: list[str] = []
    for word in _TOKEN_RE.findall(text):
        # Long words become several tokens, like a real tokenizer's sub-words.
        while len(word) > 8:
            tokens.append(word[:6])
            word = word[6:]
        tokens.append(word)
    return tokens


def default_reply(endpoint: str, body: Mapping[str, Any]) -> str:
    """The answer when nothing is scripted: deterministic, derived from the request."""
    if endpoint == "/api/chat":
        last = ""
        for message in body.get("messages") or ():
            if isinstance(message, Mapping) and message.get("role") == "user":
                last = str(message.get("content") or "")
        return f"Echo: {last[:200]}"
    prompt = str(body.get("prompt") or "")
    lines = [line for line in prompt.splitlines() if line.strip()]
    tail = lines[-1].strip()[:60] if lines else ""
    return f"echo {tail}"


@dataclass
class FailureRule:
    path: str
    status: int
    message: str
    count: int
    headers: Mapping[str, str] | None = None
    body: bytes | None = None  # sent instead of {"error": message}


@dataclass
class RecordedRequest:
    """One HTTP request as the server saw it (and how it ended)."""

    method: str
    path: str
    body: Any
    headers: dict[str, str]
    time: float  # time.time() when the request arrived
    status: int | None = None
    tokens_sent: int = 0
    completed: bool = False  # the whole response was written
    disconnected: bool = False  # the client closed the connection before the end
    raw_body: bytes = b""

    @property
    def json(self) -> Any:
        return self.body


# --- HTTP plumbing -------------------------------------------------------------------------


class _ClientGone(Exception):
    """The client closed the connection while we were answering."""


class _Connection:
    """Byte-level access to one TCP connection, with disconnect detection.

    While a response is being written a watcher task keeps reading the socket: HTTP/1.1
    clients send nothing until the response ends, so EOF there means the client hung up.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()
        self.eof = False
        self.gone = asyncio.Event()
        self.server_closed = False  # closed by down(): not the client's doing
        self._watcher: asyncio.Task[None] | None = None
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def _fill(self) -> bool:
        data = await self.reader.read(65536)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    async def read_until(self, marker: bytes, limit: int = 1 << 20) -> bytes | None:
        while True:
            idx = self.buf.find(marker)
            if idx >= 0:
                out = bytes(self.buf[: idx + len(marker)])
                del self.buf[: idx + len(marker)]
                return out
            if len(self.buf) > limit or self.eof or not await self._fill():
                return None

    async def read_exactly(self, n: int) -> bytes | None:
        while len(self.buf) < n:
            if self.eof or not await self._fill():
                return None
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def start_watch(self) -> None:
        async def watch() -> None:
            try:
                while await self._fill():
                    pass
            except (ConnectionError, OSError):
                pass
            self.gone.set()

        self._watcher = asyncio.get_running_loop().create_task(watch())

    async def stop_watch(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None

    async def write(self, data: bytes) -> None:
        if self.gone.is_set() or self.writer.is_closing():
            raise _ClientGone
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, OSError) as exc:
            self.gone.set()
            raise _ClientGone from exc

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake (and raise) as soon as the client goes away."""
        if self.gone.is_set():
            raise _ClientGone
        if seconds <= 0:
            await asyncio.sleep(0)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.gone.wait(), seconds)
        if self.gone.is_set():
            raise _ClientGone


@dataclass
class _Exchange:
    conn: _Connection
    record: RecordedRequest
    body: Any
    streaming_started: bool = False
    dropped: bool = False  # the server reset the connection on purpose


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _parse_keep_alive(value: Any) -> float | None:
    """Seconds (negative = forever) from Ollama's keep_alive: a number or a Go duration."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise _HttpError(400, "invalid keep_alive")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        with contextlib.suppress(ValueError):
            return float(text)
        units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
        parts = re.findall(r"(-?\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
        if parts and "".join(n + u for n, u in parts) == text.replace(" ", ""):
            return sum(float(n) * units[u] for n, u in parts)
    raise _HttpError(400, f'time: invalid duration "{value}"')


@dataclass
class _Loaded:
    spec: ModelSpec
    num_ctx: int | None
    expires_at: datetime | None  # None = forever


# --- the server ----------------------------------------------------------------------------


class OllamaTestServer:
    """A scriptable, protocol-faithful Ollama server on 127.0.0.1 (see the module docstring).

    Tunables (plain attributes, may be changed at any time from any thread):
    `token_delay_s` (pause before each token), `latency_s` (pause before the first token, like
    prompt evaluation), `load_delay_s` (extra pause when a model is (re)loaded),
    `max_parallel` (None: unlimited; 1: requests wait like OLLAMA_NUM_PARALLEL=1),
    `max_queue` (waiting requests beyond this get 503 busy), `split_lines` (write every
    NDJSON line in two TCP writes), `split_pause_s` (pause between the two halves),
    `version`, `default_reply` (callable(endpoint, body) -> text).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        models: Iterable[ModelSpec | str] | None = None,
        token_delay_s: float = 0.0,
        latency_s: float = 0.0,
        load_delay_s: float = 0.0,
        max_parallel: int | None = None,
        split_lines: bool = True,
        split_pause_s: float = 0.0,
    ) -> None:
        self.host = "127.0.0.1"
        self._requested_port = port
        self.port = port
        self.models = ModelRegistry(DEFAULT_MODELS if models is None else models)
        self.token_delay_s = token_delay_s
        self.latency_s = latency_s
        self.load_delay_s = load_delay_s
        self.max_parallel = max_parallel
        self.max_queue = 512
        self.split_lines = split_lines
        self.split_pause_s = split_pause_s
        self.version = VERSION
        self.default_reply: Callable[[str, Mapping[str, Any]], str] = default_reply
        self.pull_layers: list[int] = [4_000_000, 1_200, 11_000]
        self.pull_chunks = 3

        self._lock = threading.RLock()
        self._requests: list[RecordedRequest] = []
        self._shared_script: deque[ScriptedReply] = deque()
        self._chat_script: deque[ScriptedReply] = deque()
        self._generate_script: deque[ScriptedReply] = deque()
        self._failures: list[FailureRule] = []
        self._mid_stream: deque[tuple[int, str, str]] = deque()
        self._pull_failures: dict[str, tuple[str, int]] = {}
        self._loaded: dict[str, _Loaded] = {}
        self._load_events: list[tuple[str, int | None]] = []
        self._split_writes = 0
        self._connections_opened = 0
        self._active = 0
        self._max_active_seen = 0
        self._waiting = 0
        self._tool_call_seq = 0

        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._slot_cond: asyncio.Condition | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def listening(self) -> bool:
        return self._server is not None

    def start(self) -> OllamaTestServer:
        """Start the loop thread and listen; returns self. Idempotent."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._listen())
            except BaseException as exc:  # reported to start()'s caller
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._shutdown())
                loop.close()

        self._thread = threading.Thread(target=run, name="ollama-test-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the Ollama test server did not start within 10 s")
        if failure:
            self._thread.join(5)
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Close every connection, stop listening and join the thread. Idempotent."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> OllamaTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def down(self) -> None:
        """Stop listening and drop open connections: new connections are refused."""
        self._call(self._close_listener())

    def up(self) -> None:
        """Listen again on the same port."""
        self._call(self._listen())

    def _call(self, coro: Awaitable[None]) -> None:
        if self._loop is None:
            raise RuntimeError("the Ollama test server is not running")

        async def wrapped() -> None:
            await coro

        asyncio.run_coroutine_threadsafe(wrapped(), self._loop).result(10)

    async def _listen(self) -> None:
        if self._server is not None:
            return
        self._slot_cond = self._slot_cond or asyncio.Condition()
        self._server = await asyncio.start_server(
            self._serve_connection, self.host, self.port or self._requested_port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close_listener(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for conn in list(self._connections):
            conn.server_closed = True
            with contextlib.suppress(Exception):
                conn.writer.transport.abort()  # like a killed process: RST, no goodbye
        self._connections.clear()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

    async def _shutdown(self) -> None:
        await self._close_listener()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- scripting -------------------------------------------------------------------------

    def reply(self, text: str = "", **fields: Any) -> None:
        """Queue the next answer of either endpoint (chat or generate), after their own queues."""
        with self._lock:
            self._shared_script.append(to_reply({"text": text, **fields}))

    def script_chat(self, items: Sequence[ScriptItem]) -> None:
        """Queue answers for /api/chat, in order (text, dicts, `tool_call(...)`, ScriptedReply)."""
        with self._lock:
            self._chat_script.extend(to_reply(item) for item in items)

    def script_generate(self, items: Sequence[ScriptItem]) -> None:
        """Queue answers for /api/generate, in order."""
        with self._lock:
            self._generate_script.extend(to_reply(item) for item in items)

    def fail_next(
        self,
        path: str,
        status: int = 503,
        message: str | None = None,
        count: int = 1,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> None:
        """Answer the next `count` requests to `path` with `status` and `{"error": message}`.

        The default message of 503 is Ollama's queue-full text. `headers` are added to the
        response (e.g. Retry-After); `body` replaces the JSON error with raw bytes (garbage).
        """
        if message is None:
            message = BUSY_MESSAGE if status == 503 else f"scripted failure ({status})"
        with self._lock:
            self._failures.append(FailureRule(path, status, message, count, headers, body))

    def fail_mid_stream(
        self,
        after_tokens: int = 0,
        message: str = MID_STREAM_MESSAGE,
        count: int = 1,
        *,
        kind: str = "error",
    ) -> None:
        """The next `count` chat/generate answers fail after `after_tokens` tokens.

        kind "error": an `{"error": message}` line ends the 200 stream (Ollama's way; a
        non-streamed request gets 500); "garbage": a line that is not JSON; "drop": the
        connection is reset (the server died).
        """
        if kind not in ("error", "garbage", "drop"):
            raise ValueError(f"unknown failure kind {kind!r}")
        with self._lock:
            self._mid_stream.extend([(after_tokens, message, kind)] * count)

    def fail_pull(
        self,
        model: str,
        message: str = "pull model manifest: file does not exist",
        after_updates: int = 1,
    ) -> None:
        """Pulling `model` streams `after_updates` progress lines, then an error line."""
        with self._lock:
            self._pull_failures[normalize_model_name(model)] = (message, after_updates)

    def reset(self) -> None:
        """Forget scripts, failures and records (models and tunables stay)."""
        with self._lock:
            self._requests.clear()
            self._shared_script.clear()
            self._chat_script.clear()
            self._generate_script.clear()
            self._failures.clear()
            self._mid_stream.clear()
            self._pull_failures.clear()
            self._load_events.clear()

    # --- observation -----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, oldest first (a snapshot)."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self._requests if r.path == path]

    def last_request(self, path: str | None = None) -> RecordedRequest:
        with self._lock:
            for r in reversed(self._requests):
                if path is None or r.path == path:
                    return r
        raise LookupError(f"no request to {path or 'any path'} was recorded")

    @property
    def disconnects(self) -> list[RecordedRequest]:
        """Requests whose client closed the connection before the response ended."""
        with self._lock:
            return [r for r in self._requests if r.disconnected]

    @property
    def load_events(self) -> list[tuple[str, int | None]]:
        """(model, num_ctx) each time a model was (re)loaded: a changed num_ctx reloads."""
        with self._lock:
            return list(self._load_events)

    @property
    def loaded_models(self) -> list[str]:
        with self._lock:
            self._expire_loaded()
            return list(self._loaded)

    @property
    def split_writes(self) -> int:
        """How many NDJSON lines were written in two pieces."""
        with self._lock:
            return self._split_writes

    @property
    def connections_opened(self) -> int:
        """TCP connections accepted so far (keep-alive clients reuse theirs)."""
        with self._lock:
            return self._connections_opened

    @property
    def active(self) -> int:
        """Chat/generate requests being answered right now."""
        with self._lock:
            return self._active

    @property
    def max_active_seen(self) -> int:
        with self._lock:
            return self._max_active_seen

    @property
    def waiting(self) -> int:
        with self._lock:
            return self._waiting

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Block until predicate() is true; TimeoutError after `timeout` seconds.

        Blocking: from async tests use `await srv.wait_for_async(...)`, or the test's own loop
        (and the client under test) stands still.
        """
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout} s")
            time.sleep(0.005)

    async def wait_for_async(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 (same signature as wait_for)
    ) -> None:
        """`wait_for` for async tests: polls without blocking the caller's event loop."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout} s")
            await asyncio.sleep(0.005)

    # --- connection handling ---------------------------------------------------------------

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        conn = _Connection(reader, writer)
        self._connections.add(conn)
        with self._lock:
            self._connections_opened += 1
        try:
            while await self._serve_one(conn):
                pass
        except (ConnectionError, OSError, _ClientGone):
            pass
        finally:
            self._connections.discard(conn)
            with contextlib.suppress(Exception):
                writer.close()

    async def _serve_one(self, conn: _Connection) -> bool:
        head = await conn.read_until(b"\r\n\r\n")
        if head is None:
            return False
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, _version = lines[0].split(" ", 2)
        except ValueError:
            await self._send_plain(conn, 400, "400 Bad Request", close=True)
            return False
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip().lower()] = value.strip()
        raw = b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = bytearray()
            while True:
                size_line = await conn.read_until(b"\r\n")
                if size_line is None:
                    return False
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                data = await conn.read_exactly(size + 2)
                if data is None:
                    return False
                if size == 0:
                    break
                chunks += data[:-2]
            raw = bytes(chunks)
        elif headers.get("content-length"):
            got = await conn.read_exactly(int(headers["content-length"]))
            if got is None:
                return False
            raw = got
        path = target.split("?", 1)[0]
        body: Any = None
        body_error: str | None = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body_error = "invalid character in request body"
        record = RecordedRequest(method, path, body, headers, time.time(), raw_body=raw)
        with self._lock:
            self._requests.append(record)
        exchange = _Exchange(conn, record, body)
        keep_alive = headers.get("connection", "").lower() != "close"
        conn.start_watch()
        try:
            await self._dispatch(exchange, body_error)
            if exchange.dropped:
                return False
            record.completed = True
        except _ClientGone:
            record.disconnected = not conn.server_closed
            if record.status is None:
                record.status = 499
            return False
        finally:
            await conn.stop_watch()
        if conn.gone.is_set() and conn.eof:
            return False
        return keep_alive

    async def _dispatch(self, ex: _Exchange, body_error: str | None) -> None:
        method, path = ex.record.method, ex.record.path
        routes: dict[tuple[str, str], Callable[[_Exchange], Awaitable[None]]] = {
            ("GET", "/"): self._root,
            ("HEAD", "/"): self._root,
            ("GET", "/api/version"): self._version,
            ("GET", "/api/tags"): self._tags,
            ("POST", "/api/show"): self._show,
            ("POST", "/api/generate"): self._generate,
            ("POST", "/api/chat"): self._chat,
            ("POST", "/api/pull"): self._pull,
            ("GET", "/api/ps"): self._ps,
            ("POST", "/api/embed"): self._embed,
        }
        handler = routes.get((method, path))
        if handler is None:
            if any(p == path for _m, p in routes):
                await self._send_plain(ex.conn, 405, "405 method not allowed", record=ex.record)
            else:
                await self._send_plain(ex.conn, 404, "404 page not found", record=ex.record)
            return
        rule = self._take_failure(path)
        if rule is not None:
            await self._send_json(
                ex,
                {"error": rule.message},
                status=rule.status,
                headers=rule.headers,
                raw=rule.body,
            )
            return
        if method == "POST":
            if body_error is not None:
                await self._send_json(ex, {"error": body_error}, status=400)
                return
            if not isinstance(ex.body, dict):
                await self._send_json(ex, {"error": "missing request body"}, status=400)
                return
        try:
            await handler(ex)
        except _HttpError as err:
            if ex.streaming_started:
                await self._stream_line(ex, {"error": err.message})
                await self._end_stream(ex)
            else:
                await self._send_json(ex, {"error": err.message}, status=err.status)

    def _take_failure(self, path: str) -> FailureRule | None:
        with self._lock:
            for rule in self._failures:
                if rule.path == path and rule.count > 0:
                    rule.count -= 1
                    if rule.count == 0:
                        self._failures.remove(rule)
                    return rule
        return None

    # --- response writing ------------------------------------------------------------------

    def _head(self, status: int, content_type: str, extra: str) -> bytes:
        return (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n"
            f"Content-Type: {content_type}\r\nDate: {email.utils.formatdate(usegmt=True)}\r\n"
            f"{extra}\r\n"
        ).encode("latin-1")

    async def _send_plain(
        self,
        conn: _Connection,
        status: int,
        text: str,
        *,
        close: bool = False,
        record: RecordedRequest | None = None,
        head_only: bool = False,
    ) -> None:
        data = text.encode()
        extra = f"Content-Length: {len(data)}\r\n" + ("Connection: close\r\n" if close else "")
        if record is not None:
            record.status = status
        await conn.write(
            self._head(status, "text/plain; charset=utf-8", extra) + (b"" if head_only else data)
        )

    async def _send_json(
        self,
        ex: _Exchange,
        obj: Any,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        raw: bytes | None = None,
    ) -> None:
        data = _json_bytes(obj) if raw is None else raw
        ex.record.status = status
        extra_headers = dict(headers or {})
        content_type = "application/json; charset=utf-8"
        for key in [k for k in extra_headers if k.lower() == "content-type"]:
            content_type = extra_headers.pop(key)
        extra = f"Content-Length: {len(data)}\r\n"
        extra += "".join(f"{k}: {v}\r\n" for k, v in extra_headers.items())
        await ex.conn.write(self._head(status, content_type, extra) + data)

    async def _start_stream(self, ex: _Exchange) -> None:
        ex.record.status = 200
        ex.streaming_started = True
        await ex.conn.write(
            self._head(200, "application/x-ndjson", "Transfer-Encoding: chunked\r\n")
        )

    async def _write_chunk(self, ex: _Exchange, data: bytes) -> None:
        await ex.conn.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    async def _stream_line(self, ex: _Exchange, obj: Any) -> None:
        line = _json_bytes(obj) + b"\n"
        if self.split_lines and len(line) > 2:
            # Real servers do not align lines with reads: send each line in two pieces.
            cut = max(1, len(line) // 2)
            await self._write_chunk(ex, line[:cut])
            with self._lock:
                self._split_writes += 1
            if self.split_pause_s > 0:
                await ex.conn.sleep(self.split_pause_s)
            await self._write_chunk(ex, line[cut:])
        else:
            await self._write_chunk(ex, line)

    async def _end_stream(self, ex: _Exchange) -> None:
        await ex.conn.write(b"0\r\n\r\n")

    # --- model scheduling ------------------------------------------------------------------

    def _require_model(self, body: Mapping[str, Any]) -> ModelSpec:
        name = body.get("model") or body.get("name")
        if not isinstance(name, str) or not name:
            raise _HttpError(400, "model is required")
        spec = self.models.get(name)
        if spec is None:
            raise _HttpError(404, f"model '{name}' not found")
        return spec

    @staticmethod
    def _check_caps(body: Mapping[str, Any], spec: ModelSpec, needed: Iterable[str]) -> None:
        missing = [cap for cap in needed if cap not in spec.capabilities]
        if missing:
            raise _HttpError(400, f'"{body.get("model")}" does not support {", ".join(missing)}')

    @contextlib.asynccontextmanager
    async def _slot(self, ex: _Exchange) -> Any:
        """Wait for a runner slot like Ollama's scheduler (OLLAMA_NUM_PARALLEL)."""
        cond = self._slot_cond
        assert cond is not None
        with self._lock:
            if self._waiting >= self.max_queue:
                raise _HttpError(503, BUSY_MESSAGE)
            self._waiting += 1
        try:
            async with cond:
                while True:
                    limit = self.max_parallel
                    with self._lock:
                        if limit is None or self._active < limit:
                            self._active += 1
                            self._max_active_seen = max(self._max_active_seen, self._active)
                            break
                    if ex.conn.gone.is_set():
                        raise _ClientGone
                    # Re-check periodically: max_parallel may change from another thread,
                    # and a queued client may hang up (Ollama answers 499 then).
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(cond.wait(), 0.02)
        finally:
            with self._lock:
                self._waiting -= 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
            async with cond:
                cond.notify_all()

    def _expire_loaded(self) -> None:
        now = datetime.now(UTC)
        for name, loaded in list(self._loaded.items()):
            if loaded.expires_at is not None and loaded.expires_at <= now:
                del self._loaded[name]

    async def _load(self, ex: _Exchange, spec: ModelSpec, body: Mapping[str, Any]) -> int:
        """Load (or keep) the model; returns load_duration in ns."""
        keep = _parse_keep_alive(body.get("keep_alive"))
        keep = DEFAULT_KEEP_ALIVE_S if keep is None else keep
        options = body.get("options") if isinstance(body.get("options"), dict) else {}
        num_ctx = options.get("num_ctx") if isinstance(options, dict) else None
        started = time.perf_counter()
        with self._lock:
            self._expire_loaded()
            current = self._loaded.get(spec.name)
            reload = current is None or (num_ctx is not None and current.num_ctx != num_ctx)
            if reload:
                self._load_events.append((spec.name, num_ctx))
        if reload and self.load_delay_s > 0:
            await ex.conn.sleep(self.load_delay_s)
        expires = None if keep < 0 else datetime.now(UTC) + timedelta(seconds=keep)
        with self._lock:
            if keep == 0:
                self._loaded.pop(spec.name, None)
            else:
                ctx = num_ctx if num_ctx is not None else (current.num_ctx if current else None)
                self._loaded[spec.name] = _Loaded(spec, ctx, expires)
        return int((time.perf_counter() - started) * 1e9) + (1_000_000 if reload else 0)

    def _next_reply(self, endpoint: str, body: Mapping[str, Any]) -> ScriptedReply:
        with self._lock:
            own = self._chat_script if endpoint == "/api/chat" else self._generate_script
            if own:
                reply = own.popleft()
            elif self._shared_script:
                reply = self._shared_script.popleft()
            else:
                reply = ScriptedReply(text=self.default_reply(endpoint, body))
            if reply.error_after is None and self._mid_stream:
                after, message, kind = self._mid_stream.popleft()
                reply = replace(reply, error_after=after, error=message, error_kind=kind)
        return reply

    def _next_tool_id(self) -> str:
        with self._lock:
            self._tool_call_seq += 1
            return "call_" + hashlib.sha1(str(self._tool_call_seq).encode()).hexdigest()[:8]

    # --- endpoints -------------------------------------------------------------------------

    async def _root(self, ex: _Exchange) -> None:
        await self._send_plain(
            ex.conn,
            200,
            "Ollama is running",
            record=ex.record,
            head_only=ex.record.method == "HEAD",
        )

    async def _version(self, ex: _Exchange) -> None:
        await self._send_json(ex, {"version": self.version})

    def _details(self, spec: ModelSpec) -> dict[str, Any]:
        return {
            "parent_model": "",
            "format": "gguf",
            "family": spec.family,
            "families": [spec.family],
            "parameter_size": spec.parameter_size,
            "quantization_level": spec.quantization_level,
        }

    @staticmethod
    def _iso(moment: datetime) -> str:
        return moment.isoformat(timespec="microseconds")

    async def _tags(self, ex: _Exchange) -> None:
        models = [
            {
                "name": spec.name,
                "model": spec.name,
                "modified_at": self._iso(modified),
                "size": spec.size,
                "digest": spec.digest,
                "details": self._details(spec),
            }
            for spec, modified in self.models.specs()
        ]
        await self._send_json(ex, {"models": models})

    async def _show(self, ex: _Exchange) -> None:
        spec = self._require_model(ex.body)
        modified = dict((s.name, m) for s, m in self.models.specs()).get(spec.name)
        info: dict[str, Any] = {
            "general.architecture": spec.arch,
            "general.file_type": 15,
            "general.parameter_count": 1_000_000_000,
            "general.quantization_version": 2,
            f"{spec.arch}.context_length": spec.context_length,
            f"{spec.arch}.embedding_length": spec.embedding_length,
            f"{spec.arch}.block_count": 24,
        }
        await self._send_json(
            ex,
            {
                "license": "",
                "modelfile": f'# Modelfile generated by "ollama show"\nFROM {spec.name}\n'
                f'TEMPLATE """{spec.template}"""\n',
                "parameters": spec.parameters,
                "template": spec.template,
                "details": self._details(spec),
                "model_info": info,
                "tensors": [],
                "capabilities": list(spec.capabilities),
                "modified_at": self._iso(modified or datetime.now(UTC)),
            },
        )

    async def _ps(self, ex: _Exchange) -> None:
        with self._lock:
            self._expire_loaded()
            loaded = list(self._loaded.values())
        forever = datetime(2318, 1, 1, tzinfo=UTC)
        await self._send_json(
            ex,
            {
                "models": [
                    {
                        "name": item.spec.name,
                        "model": item.spec.name,
                        "size": item.spec.size,
                        "digest": item.spec.digest,
                        "details": self._details(item.spec),
                        "expires_at": self._iso(item.expires_at or forever),
                        "size_vram": item.spec.size,
                        "context_length": item.num_ctx or item.spec.context_length,
                    }
                    for item in loaded
                ]
            },
        )

    async def _embed(self, ex: _Exchange) -> None:
        spec = self._require_model(ex.body)
        raw_input = ex.body.get("input")
        inputs = [raw_input] if isinstance(raw_input, str) else list(raw_input or [])
        if not all(isinstance(item, str) for item in inputs):
            raise _HttpError(400, "invalid input type")
        async with self._slot(ex):
            load_ns = await self._load(ex, spec, ex.body)
            vectors = [self._embedding(text, spec.embedding_length) for text in inputs]
        await self._send_json(
            ex,
            {
                "model": ex.body["model"],
                "embeddings": vectors,
                "total_duration": load_ns + 1_000_000,
                "load_duration": load_ns,
                "prompt_eval_count": sum(len(tokenize(t)) for t in inputs),
            },
        )

    @staticmethod
    def _embedding(text: str, dims: int) -> list[float]:
        digest = hashlib.sha256(text.encode()).digest()
        raw = [(digest[i % len(digest)] - 127.5) / 127.5 for i in range(dims)]
        norm = math.sqrt(sum(v * v for v in raw)) or 1.0
        return [v / norm for v in raw]

    async def _pull(self, ex: _Exchange) -> None:
        body = ex.body
        name = body.get("model") or body.get("name")
        if not isinstance(name, str) or not name:
            raise _HttpError(400, "model is required")
        full = normalize_model_name(name)
        with self._lock:
            failure = self._pull_failures.pop(full, None)
        digests = [
            "sha256:" + hashlib.sha256(f"{full}/{i}".encode()).hexdigest()
            for i in range(len(self.pull_layers))
        ]
        updates: list[dict[str, Any]] = [{"status": "pulling manifest"}]
        for digest, total in zip(digests, self.pull_layers, strict=True):
            short = digest.removeprefix("sha256:")[:12]
            updates.append({"status": f"pulling {short}", "digest": digest, "total": total})
            for step in range(1, self.pull_chunks + 1):
                updates.append(
                    {
                        "status": f"pulling {short}",
                        "digest": digest,
                        "total": total,
                        "completed": total * step // self.pull_chunks,
                    }
                )
        updates += [
            {"status": "verifying sha256 digest"},
            {"status": "writing manifest"},
            {"status": "removing unused layers"},
            {"status": "success"},
        ]
        if not body.get("stream", True):
            for _ in updates:
                await ex.conn.sleep(self.token_delay_s)
            if failure is not None:
                raise _HttpError(500, failure[0])
            self.models.add(full)
            await self._send_json(ex, {"status": "success"})
            return
        await self._start_stream(ex)
        for index, update in enumerate(updates):
            if failure is not None and index >= failure[1]:
                await self._stream_line(ex, {"error": failure[0]})
                await self._end_stream(ex)
                return
            await ex.conn.sleep(self.token_delay_s)
            if update["status"] == "success":
                self.models.add(full)
            await self._stream_line(ex, update)
            ex.record.tokens_sent += 1
        await self._end_stream(ex)

    async def _generate(self, ex: _Exchange) -> None:
        body = ex.body
        spec = self._require_model(body)
        prompt = body.get("prompt") or ""
        suffix = body.get("suffix") or ""
        think = body.get("think")
        if not isinstance(prompt, str) or not isinstance(suffix, str):
            raise _HttpError(400, "prompt and suffix must be strings")
        needed = ["completion"]
        if suffix:
            needed.append("insert")
        if think is True or isinstance(think, str):
            needed.append("thinking")
        self._check_caps(body, spec, needed)
        if not prompt and not body.get("images"):
            # An empty prompt only loads (or, with keep_alive 0, unloads) the model.
            async with self._slot(ex):
                load_ns = await self._load(ex, spec, body)
            unload = _parse_keep_alive(body.get("keep_alive")) == 0
            await self._send_json(
                ex,
                {
                    "model": body["model"],
                    "created_at": _now_iso(),
                    "response": "",
                    "done": True,
                    "done_reason": "unload" if unload else "load",
                    **({} if unload else {"load_duration": load_ns, "total_duration": load_ns}),
                },
            )
            return
        # Ollama applies FIM only with a non-empty prompt and suffix; raw ignores the suffix.
        thinks = "thinking" in spec.capabilities and think is not False
        text_in = prompt + ("" if body.get("raw") else suffix)
        await self._answer(ex, spec, "/api/generate", text_in, thinks)

    async def _chat(self, ex: _Exchange) -> None:
        body = ex.body
        spec = self._require_model(body)
        messages = body.get("messages") or []
        if not isinstance(messages, list):
            raise _HttpError(400, "messages must be a list")
        for message in messages:
            if not isinstance(message, dict):
                raise _HttpError(400, "invalid message")
            role = message.get("role")
            if role not in ("system", "user", "assistant", "tool"):
                raise _HttpError(400, f"invalid role: {role}")
        needed = ["completion"]
        if body.get("tools"):
            needed.append("tools")
        think = body.get("think")
        if think is True or isinstance(think, str):
            needed.append("thinking")
        self._check_caps(body, spec, needed)
        if not messages:
            async with self._slot(ex):
                load_ns = await self._load(ex, spec, body)
            await self._send_json(
                ex,
                {
                    "model": body["model"],
                    "created_at": _now_iso(),
                    "message": {"role": "assistant", "content": ""},
                    "done": True,
                    "done_reason": "load",
                    "load_duration": load_ns,
                    "total_duration": load_ns,
                },
            )
            return
        thinks = "thinking" in spec.capabilities and think is not False
        text_in = "\n".join(str(m.get("content") or "") for m in messages)
        await self._answer(ex, spec, "/api/chat", text_in, thinks)

    async def _answer(
        self, ex: _Exchange, spec: ModelSpec, endpoint: str, text_in: str, thinks: bool
    ) -> None:
        body = ex.body
        stream = body.get("stream", True) is not False
        options = body.get("options") if isinstance(body.get("options"), dict) else {}
        assert isinstance(options, dict)
        started = time.perf_counter()
        async with self._slot(ex):
            load_ns = await self._load(ex, spec, body)
            reply = self._next_reply(endpoint, body)
            tokens = reply.token_list()
            done_reason = reply.done_reason or "stop"
            stops = options.get("stop")
            if isinstance(stops, list) and stops and not reply.tool_calls:
                tokens = _apply_stops(tokens, [s for s in stops if isinstance(s, str)])
            limit = options.get("num_predict")
            if isinstance(limit, int) and limit >= 0 and len(tokens) > limit:
                tokens = tokens[:limit]
                done_reason = reply.done_reason or "length"
            thinking = tokenize(reply.thinking or "Let me think.") if thinks else []
            prompt_eval = reply.prompt_eval_count or max(1, len(tokenize(text_in)))
            prompt_started = time.perf_counter()
            if self.latency_s > 0:
                await ex.conn.sleep(self.latency_s)
            prompt_ns = int((time.perf_counter() - prompt_started) * 1e9) + 1000
            eval_started = time.perf_counter()
            chat = endpoint == "/api/chat"

            def chunk(**fields: Any) -> dict[str, Any]:
                base: dict[str, Any] = {"model": body["model"], "created_at": _now_iso()}
                if chat:
                    message: dict[str, Any] = {
                        "role": "assistant",
                        "content": fields.pop("text", ""),
                    }
                    if "thinking" in fields:
                        message["thinking"] = fields.pop("thinking")
                    if "tool_calls" in fields:
                        message["tool_calls"] = fields.pop("tool_calls")
                    base["message"] = message
                else:
                    base["response"] = fields.pop("text", "")
                    if "thinking" in fields:
                        base["thinking"] = fields.pop("thinking")
                base.update(fields)
                return base

            def final(eval_count: int, text: str = "", **extra: Any) -> dict[str, Any]:
                eval_ns = int((time.perf_counter() - eval_started) * 1e9) + 1000
                out = chunk(text=text, **extra)
                out.update(
                    done=True,
                    done_reason=done_reason,
                    total_duration=int((time.perf_counter() - started) * 1e9),
                    load_duration=load_ns,
                    prompt_eval_count=prompt_eval,
                    prompt_eval_duration=prompt_ns,
                    eval_count=eval_count,
                    eval_duration=eval_ns,
                )
                if not chat and not body.get("raw"):
                    out["context"] = list(range(1, min(prompt_eval + eval_count, 32) + 1))
                return out

            calls = [
                {
                    "id": call.id or self._next_tool_id(),
                    "function": {"index": i, "name": call.name, "arguments": dict(call.arguments)},
                }
                for i, call in enumerate(reply.tool_calls)
            ]
            emitted = thinking + tokens
            if not stream:
                for _ in emitted:
                    await ex.conn.sleep(self.token_delay_s)
                if reply.error_after is not None and reply.error_after < len(emitted):
                    if reply.error_kind == "drop":
                        self._drop(ex)
                        return
                    raise _HttpError(500, reply.error)
                extra: dict[str, Any] = {}
                if thinking:
                    extra["thinking"] = "".join(thinking)
                if calls and chat:
                    extra["tool_calls"] = calls
                ex.record.tokens_sent = len(emitted)
                await self._send_json(ex, final(len(emitted), "".join(tokens), **extra))
                return
            await self._start_stream(ex)
            count = 0
            for index, token in enumerate(emitted):
                if reply.error_after is not None and index >= reply.error_after:
                    await self._fail_stream(ex, reply)
                    return
                await ex.conn.sleep(self.token_delay_s)
                if index < len(thinking):
                    await self._stream_line(ex, chunk(text="", thinking=token, done=False))
                else:
                    await self._stream_line(ex, chunk(text=token, done=False))
                count += 1
                ex.record.tokens_sent = count
            if reply.error_after is not None and reply.error_after >= len(emitted):
                await self._fail_stream(ex, reply)
                return
            if chat:
                for call in calls:
                    # Each tool call arrives whole, in one done:false chunk.
                    await ex.conn.sleep(self.token_delay_s)
                    await self._stream_line(ex, chunk(text="", tool_calls=[call], done=False))
            await self._stream_line(ex, final(count))
            await self._end_stream(ex)

    async def _fail_stream(self, ex: _Exchange, reply: ScriptedReply) -> None:
        if reply.error_kind == "drop":
            self._drop(ex)
            return
        if reply.error_kind == "garbage":
            await self._write_chunk(ex, b"{this is not json\n")
        else:
            await self._stream_line(ex, {"error": reply.error})
        await self._end_stream(ex)

    @staticmethod
    def _drop(ex: _Exchange) -> None:
        ex.dropped = True
        ex.conn.writer.transport.abort()


def _apply_stops(tokens: list[str], stops: Sequence[str]) -> list[str]:
    """Cut the token list where the text first contains a stop sequence (stop excluded)."""
    text = ""
    for i, token in enumerate(tokens):
        candidate = text + token
        hits = [candidate.find(s) for s in stops if s and s in candidate]
        if hits:
            cut = min(hits)
            head = candidate[:cut][len(text) :]
            return tokens[:i] + ([head] if head else [])
        text = candidate
    return tokens


# --- command line --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the test server in the foreground until interrupted."""
    parser = argparse.ArgumentParser(description="A protocol-faithful Ollama test server.")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--token-delay-ms", type=float, default=0.0, help="pause per token")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="pause before token 1")
    parser.add_argument("--max-parallel", type=int, default=None, help="like OLLAMA_NUM_PARALLEL")
    parser.add_argument("--reply", default=None, help="answer every request with this text")
    args = parser.parse_args(argv)
    server = OllamaTestServer(
        port=args.port,
        token_delay_s=args.token_delay_ms / 1000,
        latency_s=args.latency_ms / 1000,
        max_parallel=args.max_parallel,
    )
    if args.reply is not None:
        fixed: str = args.reply
        server.default_reply = lambda _endpoint, _body: fixed
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with server:
        print(server.url, flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

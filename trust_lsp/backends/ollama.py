"""The Ollama backend: Ollama's native HTTP API over one pooled `httpx.AsyncClient`.

- `/api/chat` streams chat with tools (tool-call arguments arrive as JSON objects);
- `/api/generate` streams completions, filling in the middle per model (see `backends.fim`):
  the server's `suffix` support, the family's template sent `raw`, or the prefix alone;
  every request carries the same `num_ctx` (a different one makes Ollama reload the model)
  and completions send `think: false`;
- `/api/show`, `/api/tags`, `/api/ps`, `/api/version`, `/api/pull`, and `GET /` for health.

Settings are read on every request (live configuration: a new URL or model applies to the
next request). Errors from httpx, HTTP statuses and `{"error": …}` NDJSON lines are mapped
to `trust_lsp.errors` here and nowhere else. Cancelling the task that consumes a stream
closes the HTTP response, which is how Ollama is told to stop generating.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping
from contextlib import aclosing, contextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx

from trust_lsp.backends.base import (
    ChatRequest,
    CompletionRequest,
    Done,
    FimMode,
    GenerationOptions,
    HealthStatus,
    Message,
    ModelInfo,
    PullProgress,
    Purpose,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from trust_lsp.backends.fim import choose_fim_mode, fim_template_for, render_fim
from trust_lsp.config.settings import OllamaSettings
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

__all__ = [
    "NdjsonDecoder",
    "OllamaBackend",
    "RunningModel",
    "map_status_error",
    "map_stream_error",
    "map_transport_error",
]

BACKEND = "ollama"
_MAX_LINE_BYTES = 16 * 1024 * 1024
_HEALTH_READ_TIMEOUT_S = 5.0


# --- NDJSON ------------------------------------------------------------------------------


class NdjsonDecoder:
    """Incremental NDJSON decoder: feed it bytes as they arrive, get whole objects back.

    Reads do not line up with lines (a line may span several reads, and one read may hold
    several lines), and a multi-byte UTF-8 character may be split between reads: bytes are
    buffered until a newline and decoded per whole line.
    """

    def __init__(self, *, backend: str = BACKEND, model: str | None = None) -> None:
        self._buf = bytearray()
        self._backend = backend
        self._model = model

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """Add bytes; return the objects of every line completed by them."""
        self._buf += data
        out: list[dict[str, Any]] = []
        while True:
            idx = self._buf.find(b"\n")
            if idx < 0:
                break
            line = bytes(self._buf[:idx])
            del self._buf[: idx + 1]
            obj = self._decode(line)
            if obj is not None:
                out.append(obj)
        if len(self._buf) > _MAX_LINE_BYTES:
            raise InvalidResponseError(
                f"Ollama sent a line longer than {_MAX_LINE_BYTES} bytes",
                backend=self._backend,
                model=self._model,
            )
        return out

    def close(self) -> list[dict[str, Any]]:
        """End of stream: the last line may lack its newline."""
        line, self._buf = bytes(self._buf), bytearray()
        obj = self._decode(line)
        return [obj] if obj is not None else []

    def _decode(self, line: bytes) -> dict[str, Any] | None:
        if not line.strip():
            return None
        try:
            obj = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidResponseError(
                f"Ollama sent a line that is not JSON: {line[:120]!r}",
                backend=self._backend,
                model=self._model,
            ) from exc
        if not isinstance(obj, dict):
            raise InvalidResponseError(
                f"Ollama sent a JSON line that is not an object: {line[:120]!r}",
                backend=self._backend,
                model=self._model,
            )
        return obj


# --- error mapping (the only place Ollama/httpx errors become Trust errors) ----------------

_OOM = re.compile(
    r"out of memory|requires more system memory|insufficient memory|failed to allocate|"
    r"unable to allocate|cudamalloc|not enough memory",
    re.IGNORECASE,
)
_RUNNER = re.compile(
    r"llama runner|unable to load model|error loading model|runner process|timed out waiting",
    re.IGNORECASE,
)


def _error_text(body: bytes | str) -> str:
    """The `error` of a JSON error body (Ollama's and OpenAI's shapes), else the raw text."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, str):
            return err
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])
    return text.strip()


def _is_json_error(body: bytes | str) -> bool:
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and "error" in data


def _not_running(url: str) -> str:
    return (
        f"Ollama is not running at {url} — start it with `ollama serve` or set backends.ollama.url"
    )


def map_status_error(
    status: int,
    body: bytes | str,
    *,
    url: str,
    model: str | None,
    retry_after: str | None = None,
) -> TrustError:
    """An HTTP error status from Ollama as a Trust error with a message the user can act on."""
    text = _error_text(body)
    if status == 404:
        if _is_json_error(body):
            name = model or "the model"
            return ModelNotFoundError(
                f"Ollama at {url} has no model '{name}' ({text}) — run `ollama pull {name}` "
                f"or `trust pull {name}`",
                backend=BACKEND,
                model=model,
            )
        # A bare 404 page: the URL points at something that is not (this version of) Ollama.
        return InvalidResponseError(
            f"{url} answered 404 ({text[:80]}) — is backends.ollama.url an Ollama server?",
            backend=BACKEND,
            model=model,
        )
    if status in (401, 403):
        return AuthenticationError(
            f"Ollama at {url} refused the request ({status}: {text})", backend=BACKEND, model=model
        )
    if status == 429:
        seconds: float | None = None
        if retry_after:
            try:
                seconds = float(retry_after)
            except ValueError:
                seconds = None
        return RateLimitError(
            f"Ollama at {url} is rate limiting requests ({text})",
            retry_after=seconds,
            backend=BACKEND,
            model=model,
        )
    if status == 503:
        return ResourceError(
            f"Ollama at {url} is busy: {text} — try again shortly", backend=BACKEND, model=model
        )
    if _OOM.search(text):
        return ResourceError(
            f"Ollama ran out of memory for model '{model}': {text} — try a smaller model "
            "or a smaller backends.ollama.num_ctx",
            backend=BACKEND,
            model=model,
        )
    if status == 400:
        return ValidationError(f"Ollama rejected the request: {text}", backend=BACKEND, model=model)
    if status >= 500 and _RUNNER.search(text):
        return ResourceError(
            f"Ollama could not run model '{model}': {text}", backend=BACKEND, model=model
        )
    if status >= 500:
        return UnknownError(
            f"Ollama at {url} failed ({status}): {text}",
            recoverable=True,
            backend=BACKEND,
            model=model,
        )
    return ValidationError(
        f"Ollama rejected the request ({status}): {text}", backend=BACKEND, model=model
    )


def map_stream_error(message: str, *, url: str, model: str | None) -> TrustError:
    """An `{"error": …}` line inside a 200 stream as a Trust error."""
    if _OOM.search(message):
        return ResourceError(
            f"Ollama ran out of memory for model '{model}': {message} — try a smaller model "
            "or a smaller backends.ollama.num_ctx",
            backend=BACKEND,
            model=model,
        )
    if _RUNNER.search(message):
        return ResourceError(
            f"Ollama could not run model '{model}': {message}", backend=BACKEND, model=model
        )
    if "file does not exist" in message or "not found" in message:
        return ModelNotFoundError(
            f"Ollama could not find model '{model}': {message} — check the name "
            "(e.g. `ollama list`, or the model library)",
            backend=BACKEND,
            model=model,
        )
    return UnknownError(
        f"Ollama at {url} stopped with an error: {message}",
        recoverable=True,
        backend=BACKEND,
        model=model,
    )


def map_transport_error(
    exc: httpx.HTTPError, *, url: str, model: str | None, read_timeout_s: float
) -> TrustError:
    """An httpx failure (no HTTP status) as a Trust error."""
    if isinstance(exc, httpx.ConnectTimeout):
        return BackendTimeoutError(
            f"Ollama at {url} did not accept the connection in time — is it running? "
            "(backends.ollama.connect_timeout_s)",
            backend=BACKEND,
            model=model,
        )
    if isinstance(exc, httpx.ReadTimeout):
        return BackendTimeoutError(
            f"Ollama at {url} sent nothing for {read_timeout_s:g} s "
            "(backends.ollama.timeout_s) — the model may be loading or too slow",
            backend=BACKEND,
            model=model,
        )
    if isinstance(exc, httpx.TimeoutException):
        return BackendTimeoutError(
            f"Ollama at {url} timed out ({type(exc).__name__})", backend=BACKEND, model=model
        )
    if isinstance(exc, httpx.ConnectError):
        return BackendConnectionError(_not_running(url), backend=BACKEND, model=model)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return BackendConnectionError(
            f"Lost the connection to Ollama at {url} ({exc or type(exc).__name__}) — "
            "did it stop or crash?",
            backend=BACKEND,
            model=model,
        )
    if isinstance(exc, httpx.DecodingError):
        return InvalidResponseError(
            f"Ollama at {url} sent an undecodable response", backend=BACKEND, model=model
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ValidationError(
            f"backends.ollama.url is not a usable URL: {url!r} ({exc})",
            backend=BACKEND,
            model=model,
        )
    return BackendConnectionError(
        f"Cannot talk to Ollama at {url}: {exc}", backend=BACKEND, model=model
    )


# --- values --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunningModel:
    """A model Ollama has loaded right now (`/api/ps`)."""

    name: str
    size: int | None = None
    size_vram: int | None = None
    expires_at: str | None = None
    context_length: int | None = None


def _base_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    return url


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _ms(ns: object) -> float | None:
    value = _int(ns)
    return value / 1e6 if value is not None else None


def _options(options: GenerationOptions, num_ctx: int) -> dict[str, Any]:
    out: dict[str, Any] = {"num_ctx": num_ctx}
    if options.temperature is not None:
        out["temperature"] = options.temperature
    if options.top_p is not None:
        out["top_p"] = options.top_p
    if options.max_tokens is not None:
        out["num_predict"] = options.max_tokens
    if options.seed is not None:
        out["seed"] = options.seed
    if options.stop:
        out["stop"] = list(options.stop)
    return out


def _tool(spec: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": spec.name,
            "description": spec.description,
            "parameters": dict(spec.parameters),
        },
    }


def _message(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        calls = []
        for call in message.tool_calls:
            arguments: Any = call.arguments
            if arguments is None:
                # Send back what the model produced if it was an object after all.
                try:
                    arguments = json.loads(call.raw_arguments)
                except ValueError:
                    arguments = None
                if not isinstance(arguments, dict):
                    arguments = {}
            fn: dict[str, Any] = {"name": call.name, "arguments": dict(arguments)}
            entry: dict[str, Any] = {"function": fn}
            if call.id:
                entry["id"] = call.id
            calls.append(entry)
        out["tool_calls"] = calls
    if message.role == "tool" and message.tool_name:
        out["tool_name"] = message.tool_name
    return out


def _tool_call(raw: object) -> ToolCall | None:
    if not isinstance(raw, Mapping):
        return None
    fn = raw.get("function")
    if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
        return None
    args = fn.get("arguments")
    arguments: Mapping[str, Any] | None
    if isinstance(args, Mapping):
        arguments = dict(args)
        raw_arguments = json.dumps(arguments, ensure_ascii=False)
    elif isinstance(args, str):
        raw_arguments = args
        try:
            parsed = json.loads(args)
        except ValueError:
            parsed = None
        arguments = dict(parsed) if isinstance(parsed, dict) else None
    else:
        arguments, raw_arguments = {}, "{}"
    return ToolCall(
        name=str(fn["name"]),
        arguments=arguments,
        raw_arguments=raw_arguments,
        id=_str(raw.get("id")),
    )


def _usage(final: Mapping[str, Any]) -> Usage:
    return Usage(
        prompt_tokens=_int(final.get("prompt_eval_count")) or 0,
        completion_tokens=_int(final.get("eval_count")) or 0,
        prompt_ms=_ms(final.get("prompt_eval_duration")),
        generation_ms=_ms(final.get("eval_duration")),
    )


def _model_info(name: str, show: Mapping[str, Any]) -> ModelInfo:
    details = show.get("details") if isinstance(show.get("details"), Mapping) else {}
    assert isinstance(details, Mapping)
    info = show.get("model_info") if isinstance(show.get("model_info"), Mapping) else {}
    assert isinstance(info, Mapping)
    arch = _str(info.get("general.architecture"))
    context = _int(info.get(f"{arch}.context_length")) if arch else None
    if context is None:
        context = next(
            (_int(v) for k, v in info.items() if k.endswith(".context_length") and _int(v)),
            None,
        )
    caps = show.get("capabilities")
    return ModelInfo(
        name=name,
        family=_str(details.get("family")),
        parameter_size=_str(details.get("parameter_size")),
        quantization=_str(details.get("quantization_level")),
        capabilities=frozenset(c for c in caps if isinstance(c, str))
        if isinstance(caps, list)
        else frozenset(),
        context_length=context,
    )


# --- the backend ---------------------------------------------------------------------------


class OllamaBackend:
    """Ollama's native API as a `PullableBackend` (name "ollama")."""

    def __init__(
        self,
        settings: Callable[[], OllamaSettings],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._info_cache: dict[tuple[str, str], ModelInfo] = {}

    # --- identity ---------------------------------------------------------------------

    @property
    def name(self) -> str:
        return BACKEND

    @property
    def is_cloud(self) -> bool:
        return False

    def model_for(self, purpose: Purpose) -> str:
        s = self._settings()
        return s.chat_model if purpose == "chat" else s.completion_model

    @property
    def url(self) -> str:
        """The base URL the next request goes to."""
        return _base_url(self._settings().url)

    # --- HTTP plumbing -----------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        # Created lazily (start-up stays cheap) and shared by every request, so connections
        # are kept alive between completions. Timeouts are passed per request (live config);
        # the pool size applies when the client is created.
        loop = asyncio.get_running_loop()
        if self._client is None or self._client.is_closed or self._client_loop is not loop:
            # A pool belongs to one event loop (a CLI may call asyncio.run more than once).
            self._client_loop = loop
            s = self._settings()
            self._client = httpx.AsyncClient(
                limits=httpx.Limits(
                    max_connections=s.max_connections,
                    max_keepalive_connections=s.max_connections,
                    keepalive_expiry=60.0,
                ),
                transport=self._transport,
                trust_env=False,  # loopback traffic never goes through an HTTP proxy
                headers={"User-Agent": "trust-lsp"},
            )
        return self._client

    def _timeout(self, read_s: float | None = None) -> httpx.Timeout:
        s = self._settings()
        read = s.timeout_s if read_s is None else read_s
        return httpx.Timeout(connect=s.connect_timeout_s, read=read, write=read, pool=read)

    @contextmanager
    def _mapped(self, url: str, model: str | None) -> Iterator[None]:
        try:
            yield
        except httpx.HTTPError as exc:
            raise map_transport_error(
                exc, url=url, model=model, read_timeout_s=self._settings().timeout_s
            ) from exc

    async def _raise_for_status(
        self, response: httpx.Response, url: str, model: str | None
    ) -> None:
        if response.status_code < 400:
            return
        body = await response.aread()
        raise map_status_error(
            response.status_code,
            body,
            url=url,
            model=model,
            retry_after=response.headers.get("retry-after"),
        )

    async def _get_json(
        self, path: str, *, model: str | None = None, read_s: float | None = None
    ) -> Any:
        return await self._request_json("GET", path, None, model=model, read_s=read_s)

    async def _request_json(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        *,
        model: str | None = None,
        read_s: float | None = None,
    ) -> Any:
        base = self.url
        with self._mapped(base, model):
            response = await self._http().request(
                method, base + path, json=body, timeout=self._timeout(read_s)
            )
            await self._raise_for_status(response, base, model)
            try:
                return response.json()
            except ValueError as exc:
                raise InvalidResponseError(
                    f"Ollama at {base} answered {path} with something that is not JSON: "
                    f"{response.text[:120]!r}",
                    backend=BACKEND,
                    model=model,
                ) from exc

    async def _stream(
        self, path: str, body: Mapping[str, Any], *, model: str | None
    ) -> AsyncGenerator[dict[str, Any], None]:
        """POST and yield each NDJSON object; an `{"error": …}` line raises."""
        base = self.url
        decoder = NdjsonDecoder(model=model)
        with self._mapped(base, model):
            # `async with` closes the response when the consumer is cancelled or stops early:
            # closing the connection is how Ollama learns to stop generating.
            async with self._http().stream(
                "POST", base + path, json=body, timeout=self._timeout()
            ) as response:
                await self._raise_for_status(response, base, model)
                async for data in response.aiter_raw():
                    for obj in decoder.feed(data):
                        yield self._checked(obj, base, model)
                for obj in decoder.close():
                    yield self._checked(obj, base, model)

    @staticmethod
    def _checked(obj: dict[str, Any], url: str, model: str | None) -> dict[str, Any]:
        error = obj.get("error")
        if error is not None:
            raise map_stream_error(
                error if isinstance(error, str) else json.dumps(error), url=url, model=model
            )
        return obj

    async def _events(
        self, path: str, body: Mapping[str, Any], model: str, *, chat: bool
    ) -> AsyncGenerator[StreamEvent, None]:
        saw_tool_call = False
        final: dict[str, Any] | None = None
        async with aclosing(self._stream(path, body, model=model)) as lines:
            async for obj in lines:
                if final is not None:
                    continue  # nothing should follow the final chunk; ignore it if it does
                if chat:
                    message = obj.get("message")
                    if isinstance(message, Mapping):
                        content = _str(message.get("content"))
                        if content:
                            yield TextDelta(content)
                        calls = message.get("tool_calls")
                        for raw in calls if isinstance(calls, list) else ():
                            call = _tool_call(raw)
                            if call is not None:
                                saw_tool_call = True
                                yield call
                else:
                    text = _str(obj.get("response"))
                    if text:
                        yield TextDelta(text)
                if obj.get("done") is True:
                    # Read on to the end of the body before reporting Done: a response
                    # closed early cannot return its connection to the keep-alive pool.
                    final = obj
        if final is None:
            raise InvalidResponseError(
                f"Ollama at {self.url} ended the stream without a final chunk",
                backend=BACKEND,
                model=model,
            )
        reason = _str(final.get("done_reason")) or "stop"
        if saw_tool_call and reason == "stop":
            reason = "tool_calls"
        yield _usage(final)
        yield Done(reason)

    # --- generation --------------------------------------------------------------------

    def chat_body(self, request: ChatRequest) -> dict[str, Any]:
        """The `/api/chat` request body (public for tests and diagnostics)."""
        s = self._settings()
        tools = list(request.tools)
        if request.tool_choice is not None:
            # Ollama has no tool_choice: offer only the required tool.
            tools = [t for t in tools if t.name == request.tool_choice] or tools
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [_message(m) for m in request.messages],
            "stream": True,
            "keep_alive": s.keep_alive,
            "options": _options(request.options, s.num_ctx),
        }
        if tools:
            body["tools"] = [_tool(t) for t in tools]
        return body

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Stream a chat answer: text deltas, tool calls, usage, done.

        Tools are sent only to a model whose capabilities include "tools" (known from the
        cached /api/show); to another, Ollama would answer 400 and cost a round trip.
        """
        if request.tools:
            try:
                info = await self.model_info(request.model)
            except TrustError:
                info = None  # the chat request itself reports the problem
            if info is not None and info.capabilities and "tools" not in info.capabilities:
                request = replace(request, tools=(), tool_choice=None)
        body = self.chat_body(request)
        async with aclosing(self._events("/api/chat", body, request.model, chat=True)) as events:
            async for event in events:
                yield event

    async def completion_body(self, request: CompletionRequest) -> dict[str, Any] | None:
        """The `/api/generate` body for a completion, FIM mode chosen per model.

        None when there is nothing to send (an empty prompt would only load the model).
        """
        s = self._settings()
        info = await self.model_info(request.model)
        mode: FimMode = choose_fim_mode(info)
        template = fim_template_for(info.name, info.family)
        prefix, suffix = request.prefix, request.suffix
        if mode == "suffix" and not prefix:
            # Ollama treats an empty prompt as "load the model": use the template if known.
            mode = "template" if template is not None else "prefix"
        stops = list(request.options.stop)
        body: dict[str, Any] = {
            "model": request.model,
            "stream": True,
            "keep_alive": s.keep_alive,
            "think": False,
        }
        if mode == "suffix":
            # Ollama fills in the middle only when prompt and suffix are both non-empty.
            body["prompt"] = prefix
            body["suffix"] = suffix or "\n"
            if stops and template is not None:
                # A request's stop list replaces the model's own: keep the FIM tokens in it.
                stops += [t for t in template.stop if t not in stops]
        elif mode == "template" and template is not None:
            body["prompt"] = render_fim(template, prefix, suffix)
            body["raw"] = True
            stops += [t for t in template.stop if t not in stops]
        else:
            if not prefix:
                return None
            # raw: a plain continuation, not wrapped in the model's chat template.
            body["prompt"] = prefix
            body["raw"] = True
        options = _options(request.options, s.num_ctx)
        if stops:
            options["stop"] = stops
        body["options"] = options
        return body

    async def stream_completion(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        """Stream a code completion at the cursor (FIM when the model can)."""
        body = await self.completion_body(request)
        if body is None:
            yield Done("stop")
            return
        async with aclosing(
            self._events("/api/generate", body, request.model, chat=False)
        ) as events:
            async for event in events:
                yield event

    # --- models ------------------------------------------------------------------------

    async def list_models(self) -> list[ModelInfo]:
        """Installed models (`/api/tags`)."""
        data = await self._get_json("/api/tags")
        models = data.get("models") if isinstance(data, Mapping) else None
        out: list[ModelInfo] = []
        for item in models if isinstance(models, list) else ():
            if not isinstance(item, Mapping):
                continue
            name = _str(item.get("name")) or _str(item.get("model"))
            if not name:
                continue
            details = item.get("details") if isinstance(item.get("details"), Mapping) else {}
            assert isinstance(details, Mapping)
            caps = item.get("capabilities")
            out.append(
                ModelInfo(
                    name=name,
                    size=_int(item.get("size")),
                    family=_str(details.get("family")),
                    parameter_size=_str(details.get("parameter_size")),
                    quantization=_str(details.get("quantization_level")),
                    capabilities=frozenset(c for c in caps if isinstance(c, str))
                    if isinstance(caps, list)
                    else frozenset(),
                )
            )
        return out

    async def model_info(self, model: str) -> ModelInfo:
        """Capabilities, family and context length (`/api/show`), cached per URL and model."""
        key = (self.url, model)
        cached = self._info_cache.get(key)
        if cached is not None:
            return cached
        data = await self._request_json("POST", "/api/show", {"model": model}, model=model)
        if not isinstance(data, Mapping):
            raise InvalidResponseError(
                f"Ollama answered /api/show for '{model}' with {data!r}",
                backend=BACKEND,
                model=model,
            )
        info = _model_info(model, data)
        self._info_cache[key] = info
        return info

    def forget_model_info(self, model: str | None = None) -> None:
        """Drop cached `/api/show` results (all, or one model's)."""
        if model is None:
            self._info_cache.clear()
        else:
            for key in [k for k in self._info_cache if k[1] == model]:
                del self._info_cache[key]

    async def running(self) -> list[RunningModel]:
        """Models loaded right now (`/api/ps`)."""
        data = await self._get_json("/api/ps")
        models = data.get("models") if isinstance(data, Mapping) else None
        return [
            RunningModel(
                name=_str(item.get("name")) or _str(item.get("model")) or "?",
                size=_int(item.get("size")),
                size_vram=_int(item.get("size_vram")),
                expires_at=_str(item.get("expires_at")),
                context_length=_int(item.get("context_length")),
            )
            for item in (models if isinstance(models, list) else ())
            if isinstance(item, Mapping)
        ]

    async def version(self) -> str:
        """Ollama's version (`/api/version`)."""
        data = await self._get_json("/api/version", read_s=_HEALTH_READ_TIMEOUT_S)
        version = data.get("version") if isinstance(data, Mapping) else None
        if not isinstance(version, str):
            raise InvalidResponseError(
                f"Ollama at {self.url} answered /api/version with {data!r}", backend=BACKEND
            )
        return version

    async def health(self) -> HealthStatus:
        """`GET /` and `/api/version`; never raises."""
        base = self.url
        started = time.perf_counter()
        try:
            with self._mapped(base, None):
                response = await self._http().get(
                    base + "/", timeout=self._timeout(_HEALTH_READ_TIMEOUT_S)
                )
                await self._raise_for_status(response, base, None)
            latency_ms = (time.perf_counter() - started) * 1000
            if "ollama is running" not in response.text.lower():
                return HealthStatus(
                    ok=False,
                    detail=f"{base} answered but does not look like Ollama: {response.text[:80]!r}",
                    latency_ms=latency_ms,
                )
            version = await self.version()
        except TrustError as err:
            return HealthStatus(ok=False, detail=err.message)
        except Exception as exc:  # health never raises: report whatever went wrong
            return HealthStatus(ok=False, detail=f"health check of {base} failed: {exc!r}")
        return HealthStatus(
            ok=True, detail=f"Ollama {version} at {base}", version=version, latency_ms=latency_ms
        )

    async def preheat(self, model: str) -> None:
        """Load the model now (an empty prompt), with the same num_ctx as real requests."""
        s = self._settings()
        await self._request_json(
            "POST",
            "/api/generate",
            {
                "model": model,
                "prompt": "",
                "stream": False,
                "keep_alive": s.keep_alive,
                "options": {"num_ctx": s.num_ctx},
            },
            model=model,
        )

    async def pull(self, model: str) -> AsyncIterator[PullProgress]:
        """Download a model, yielding Ollama's progress; raises on an error line."""
        self.forget_model_info(model)
        body = {"model": model, "stream": True}
        succeeded = False
        async with aclosing(self._stream("/api/pull", body, model=model)) as lines:
            async for obj in lines:
                status = _str(obj.get("status")) or ""
                succeeded = succeeded or status == "success"
                yield PullProgress(
                    status=status,
                    digest=_str(obj.get("digest")),
                    total=_int(obj.get("total")),
                    completed=_int(obj.get("completed")),
                )
        if succeeded:
            self.forget_model_info(model)
            return
        raise InvalidResponseError(
            f"Ollama at {self.url} ended the pull of '{model}' without success",
            backend=BACKEND,
            model=model,
        )

    async def aclose(self) -> None:
        """Close the connection pool (idempotent)."""
        client, self._client = self._client, None
        if client is not None and self._client_loop is asyncio.get_running_loop():
            await client.aclose()

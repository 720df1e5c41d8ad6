"""OpenAI-compatible backend: cloud APIs, vLLM, llama-server, LM Studio.

Speaks `/v1/chat/completions` and `/v1/completions` with server-sent events over one pooled
`httpx.AsyncClient` (no SDK at run time). Tool-call arguments arrive as JSON *strings* split
across many chunks; they are assembled per call index and parsed once the call is complete.

The API key is read from the environment variable named by `backends.cloud.api_key_env` at
each request; it is never stored on the backend, never logged and never part of an error.
HTTP statuses, `{"error": …}` bodies and httpx exceptions are mapped to `trust_lsp.errors`
here and nowhere else.
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import httpx

from trust_lsp.backends.base import (
    ChatRequest,
    CompletionRequest,
    Done,
    GenerationOptions,
    HealthStatus,
    Message,
    ModelInfo,
    Purpose,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from trust_lsp.backends.fim import fim_template_for, render_fim
from trust_lsp.config.settings import CloudSettings
from trust_lsp.errors import (
    AuthenticationError,
    BackendConnectionError,
    BackendTimeoutError,
    InvalidResponseError,
    ModelNotFoundError,
    RateLimitError,
    ResourceError,
    TrustError,
    ValidationError,
)

__all__ = [
    "OpenAIBackend",
    "SSEDecoder",
    "ToolCallAssembler",
    "build_chat_body",
    "build_completion_body",
    "error_from_response",
    "fim_prompt",
    "is_loopback_url",
    "parse_retry_after",
]

NAME = "cloud"
_DONE_SENTINEL = "[DONE]"
# Yielded by the event reader for `data: [DONE]` (compared by identity).
_DONE_EVENT: Mapping[str, Any] = {"done": True}


# --- pure helpers ----------------------------------------------------------------------------


def is_loopback_url(url: str | None) -> bool:
    """True when `url` points at this machine (127.0.0.0/8, ::1 or localhost)."""
    if not url:
        return False
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from `Retry-After` (seconds or HTTP date) or `retry-after-ms`."""
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _error_message(body: object) -> str | None:
    """The human message in an OpenAI-shaped `{"error": …}` body (or a few variants)."""
    if isinstance(body, Mapping):
        err = body.get("error", body.get("detail"))
        if isinstance(err, Mapping):
            msg = err.get("message")
            return str(msg) if msg else None
        if isinstance(err, str) and err:
            return err
        if isinstance(err, list) and err:  # FastAPI validation details
            first = err[0]
            if isinstance(first, Mapping) and first.get("msg"):
                return str(first["msg"])
        msg = body.get("message")
        if isinstance(msg, str) and msg:
            return msg
    return None


def _decode_body(body: bytes | str) -> tuple[object, str]:
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    try:
        return json.loads(text), text
    except ValueError:
        return None, text


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    base_url: str,
    model: str | None,
    key_env: str,
    key_present: bool,
) -> TrustError:
    """Map an HTTP error answer to the Trust error tree (pure; the key is never included)."""
    parsed, text = _decode_body(body)
    detail = _error_message(parsed) or text.strip()[:300] or f"HTTP {status}"
    where = base_url
    if status in (401, 403):
        if key_present:
            msg = (
                f"The cloud API at {where} rejected the key in ${key_env} ({status}: {detail}). "
                f"Check the key, or set backends.cloud.api_key_env to the variable that holds it."
            )
        else:
            msg = (
                f"The cloud API at {where} needs an API key ({status}: {detail}): put it in "
                f"the environment variable ${key_env} (backends.cloud.api_key_env)."
            )
        return AuthenticationError(msg, backend=NAME, model=model)
    if status == 404:
        if "model" in detail.lower() or (model and model in detail):
            return ModelNotFoundError(
                f"The server at {where} has no model '{model}' ({detail}). "
                f"Set backends.cloud.model to one it serves.",
                backend=NAME,
                model=model,
            )
        return InvalidResponseError(
            f"{where} has no such endpoint ({detail}). Check backends.cloud.base_url: "
            f"it usually ends in /v1.",
            backend=NAME,
            model=model,
        )
    if status == 429:
        retry = parse_retry_after(headers)
        hint = f" Retry in {retry:.0f} s." if retry is not None else ""
        return RateLimitError(
            f"The cloud API at {where} is rate-limiting requests ({detail}).{hint}",
            retry_after=retry,
            backend=NAME,
            model=model,
        )
    if status in (400, 413, 422):
        # The server refuses this request (too long, unsupported parameter…): another
        # backend may well accept it, hence recoverable.
        return ValidationError(
            f"The server at {where} refused the request ({status}: {detail}).",
            backend=NAME,
            model=model,
            recoverable=True,
        )
    if status >= 500:
        return ResourceError(
            f"The server at {where} is busy or failed ({status}: {detail}). Try again later.",
            backend=NAME,
            model=model,
        )
    return InvalidResponseError(
        f"Unexpected answer from {where} ({status}: {detail}).", backend=NAME, model=model
    )


class SSEDecoder:
    """Server-sent events, line by line: returns each event's data once it is complete.

    Handles `data:` fields split over several lines, comments (`: ping`), other fields
    (`event:`, `id:`), and CR/LF line ends. Feed it lines without their terminator.
    """

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        line = line.rstrip("\r")
        if not line:
            return self.flush()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        return None

    def flush(self) -> str | None:
        """The pending event's data, if any (call at end of stream too)."""
        if not self._data:
            return None
        data = "\n".join(self._data)
        self._data = []
        return data


@dataclass
class _PartialCall:
    id: str | None = None
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ToolCallAssembler:
    """Collects streamed tool-call fragments (by `index`) into whole `ToolCall`s."""

    def __init__(self) -> None:
        self._calls: dict[int, _PartialCall] = {}

    def __bool__(self) -> bool:
        return bool(self._calls)

    def add(self, fragments: object) -> None:
        if not isinstance(fragments, list):
            return
        for position, frag in enumerate(fragments):
            if not isinstance(frag, Mapping):
                continue
            index = frag.get("index", position)
            if not isinstance(index, int):
                index = position
            call = self._calls.setdefault(index, _PartialCall())
            if isinstance(frag.get("id"), str) and not call.id:
                call.id = frag["id"]
            function = frag.get("function")
            if not isinstance(function, Mapping):
                continue
            name = function.get("name")
            # OpenAI sends the name once; some servers repeat it in every fragment.
            if isinstance(name, str) and name and not call.name:
                call.name = name
            args = function.get("arguments")
            if isinstance(args, str):
                call.arguments.append(args)
            elif isinstance(args, Mapping):  # a few servers send an object
                call.arguments.append(json.dumps(args))

    def finish(self) -> list[ToolCall]:
        """The assembled calls in index order; arguments parsed (None if not a JSON object)."""
        out: list[ToolCall] = []
        for index in sorted(self._calls):
            call = self._calls[index]
            raw = "".join(call.arguments)
            out.append(
                ToolCall(
                    name=call.name,
                    arguments=_parse_arguments(raw),
                    raw_arguments=raw,
                    id=call.id,
                )
            )
        self._calls.clear()
        return out


def _parse_arguments(raw: str) -> Mapping[str, Any] | None:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _options_body(options: GenerationOptions) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if options.temperature is not None:
        body["temperature"] = options.temperature
    if options.top_p is not None:
        body["top_p"] = options.top_p
    if options.max_tokens is not None:
        body["max_tokens"] = options.max_tokens
    if options.stop:
        body["stop"] = list(options.stop)
    if options.seed is not None:
        body["seed"] = options.seed
    return body


def _message_body(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.role == "assistant" and message.tool_calls:
        out["content"] = message.content or None
        out["tool_calls"] = [
            {
                **({"id": call.id} if call.id else {}),
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": call.raw_arguments
                    if call.raw_arguments
                    else json.dumps(dict(call.arguments or {})),
                },
            }
            for call in message.tool_calls
        ]
    if message.role == "tool":
        if message.tool_call_id:
            out["tool_call_id"] = message.tool_call_id
        if message.tool_name:
            out["name"] = message.tool_name
    return out


def _tool_body(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": dict(tool.parameters),
        },
    }


def build_chat_body(
    request: ChatRequest, *, model: str, include_usage: bool, offer_tools: bool = True
) -> dict[str, Any]:
    """The JSON body of a streamed `/v1/chat/completions` request."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [_message_body(m) for m in request.messages],
        "stream": True,
        **_options_body(request.options),
    }
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    if request.tools and (offer_tools or request.tool_choice):
        body["tools"] = [_tool_body(t) for t in request.tools]
        if request.tool_choice:
            body["tool_choice"] = {"type": "function", "function": {"name": request.tool_choice}}
    return body


def build_completion_body(
    prompt: str, options: GenerationOptions, *, model: str, include_usage: bool
) -> dict[str, Any]:
    """The JSON body of a streamed `/v1/completions` request."""
    body: dict[str, Any] = {
        "model": model,
        "prompt": prompt,
        "stream": True,
        **_options_body(options),
    }
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    return body


def _finish_reason(value: object, had_tool_calls: bool) -> str:
    if had_tool_calls or value in ("tool_calls", "function_call"):
        return "tool_calls"
    if isinstance(value, str) and value:
        return value
    return "stop"


def _usage(data: Mapping[str, Any]) -> Usage | None:
    usage = data.get("usage")
    timings = data.get("timings")  # llama.cpp's own server adds these
    if not isinstance(usage, Mapping) and not isinstance(timings, Mapping):
        return None
    usage = usage if isinstance(usage, Mapping) else {}
    timings = timings if isinstance(timings, Mapping) else {}

    def _int(v: object) -> int:
        return v if isinstance(v, int) else 0

    def _float(v: object) -> float | None:
        return float(v) if isinstance(v, int | float) else None

    return Usage(
        prompt_tokens=_int(usage.get("prompt_tokens", timings.get("prompt_n"))),
        completion_tokens=_int(usage.get("completion_tokens", timings.get("predicted_n"))),
        prompt_ms=_float(timings.get("prompt_ms")),
        generation_ms=_float(timings.get("predicted_ms")),
    )


def fim_prompt(model: str, prefix: str, suffix: str) -> tuple[str, tuple[str, ...]] | None:
    """The family's FIM template rendered for `model` and its stops; None when unknown."""
    template = fim_template_for(model)
    if template is None:
        return None
    return render_fim(template, prefix, suffix), template.stop


# --- the backend -----------------------------------------------------------------------------


class OpenAIBackend:
    """An OpenAI-compatible HTTP server (`name` "cloud")."""

    def __init__(
        self,
        settings: Callable[[], CloudSettings],
        *,
        env: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._env = _Environment(os.environ if env is None else env)
        self._transport = transport
        self._clients: dict[bool, httpx.AsyncClient] = {}
        # Base URLs whose server refused `stream_options`: not sent to them again.
        self._no_stream_options: set[str] = set()

    def __repr__(self) -> str:
        return f"OpenAIBackend(base_url={self._settings().base_url!r})"

    # -- protocol properties

    @property
    def name(self) -> str:
        return NAME

    @property
    def is_cloud(self) -> bool:
        return not is_loopback_url(self._settings().base_url)

    def model_for(self, purpose: Purpose) -> str:
        s = self._settings()
        if purpose == "completion":
            return s.completion_model or s.model or ""
        return s.model or ""

    # -- plumbing

    def _base_url(self) -> str:
        base = self._settings().base_url
        if not base or not base.strip():
            raise ValidationError(
                "The cloud backend has no server: set backends.cloud.base_url "
                "(e.g. http://127.0.0.1:8000/v1).",
                backend=NAME,
            )
        base = base.strip().rstrip("/")
        if urlsplit(base).scheme not in ("http", "https"):
            raise ValidationError(
                f"backends.cloud.base_url must be an http(s) URL, got {base!r}.", backend=NAME
            )
        return base

    def _client(self, base_url: str) -> httpx.AsyncClient:
        # Loopback servers are reached directly, never through an environment proxy.
        loopback = is_loopback_url(base_url)
        client = self._clients.get(loopback)
        if client is None:
            s = self._settings()
            limits = httpx.Limits(
                max_connections=max(4, s.max_concurrency * 2),
                max_keepalive_connections=max(2, s.max_concurrency),
            )
            client = httpx.AsyncClient(
                transport=self._transport,
                limits=limits,
                trust_env=not loopback,
                headers={"Accept": "application/json"},
            )
            self._clients[loopback] = client
        return client

    def _timeout(self) -> httpx.Timeout:
        read = self._settings().timeout_s
        return httpx.Timeout(read, connect=min(10.0, read))

    def _key_env(self) -> str:
        return self._settings().api_key_env

    def _headers(self) -> dict[str, str]:
        key = self._env.get(self._key_env())
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _map_http_error(self, exc: httpx.HTTPError, base_url: str, model: str | None) -> TrustError:
        if isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError):
            return BackendConnectionError(
                f"Cannot reach the OpenAI-compatible server at {base_url} — start it, or "
                f"fix backends.cloud.base_url.",
                backend=NAME,
                model=model,
            )
        if isinstance(exc, httpx.TimeoutException):
            return BackendTimeoutError(
                f"The server at {base_url} did not answer within "
                f"{self._settings().timeout_s:g} s (backends.cloud.timeout_s).",
                backend=NAME,
                model=model,
            )
        if isinstance(exc, httpx.NetworkError):
            return BackendConnectionError(
                f"The connection to {base_url} broke off.", backend=NAME, model=model
            )
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return ValidationError(
                f"backends.cloud.base_url is not a usable URL: {base_url!r}.", backend=NAME
            )
        return InvalidResponseError(
            f"The server at {base_url} broke the HTTP protocol ({type(exc).__name__}).",
            backend=NAME,
            model=model,
        )

    def _status_error(
        self, response: httpx.Response, body: bytes, base_url: str, model: str | None
    ) -> TrustError:
        key_env = self._key_env()
        return error_from_response(
            response.status_code,
            response.headers,
            body,
            base_url=base_url,
            model=model,
            key_env=key_env,
            key_present=bool(self._env.get(key_env)),
        )

    def _require_model(self, model: str, purpose: Purpose) -> str:
        model = model or self.model_for(purpose)
        if not model:
            # Recoverable: a configuration gap of this backend, another one may answer.
            raise ValidationError(
                "No model is set for the cloud backend: set backends.cloud.model.",
                backend=NAME,
                recoverable=True,
            )
        return model

    async def _stream_events(
        self, path: str, make_body: Callable[[bool], dict[str, Any]], model: str
    ) -> AsyncIterator[Mapping[str, Any]]:
        """POST a streaming request and yield each SSE event's JSON object."""
        base_url = self._base_url()
        url = f"{base_url}{path}"
        client = self._client(base_url)
        include_usage = base_url not in self._no_stream_options
        for attempt in range(2):
            body = make_body(include_usage)
            try:
                async with client.stream(
                    "POST", url, json=body, headers=self._headers(), timeout=self._timeout()
                ) as response:
                    if response.status_code >= 400:
                        raw = await response.aread()
                        if (
                            attempt == 0
                            and include_usage
                            and response.status_code in (400, 422)
                            and b"stream_options" in raw
                        ):
                            # The server rejects the usage option: retry without it.
                            self._no_stream_options.add(base_url)
                            include_usage = False
                            continue
                        raise self._status_error(response, raw, base_url, model)
                    async for event in self._events(response, base_url, model):
                        yield event
                    return
            except httpx.HTTPError as exc:
                raise self._map_http_error(exc, base_url, model) from exc

    async def _events(
        self, response: httpx.Response, base_url: str, model: str
    ) -> AsyncIterator[Mapping[str, Any]]:
        ctype = response.headers.get("content-type", "")
        if "text/event-stream" not in ctype and "application/json" in ctype:
            # A server that ignored "stream": true answers one JSON object.
            raw = await response.aread()
            parsed, _ = _decode_body(raw)
            if not isinstance(parsed, Mapping):
                raise InvalidResponseError(
                    f"The server at {base_url} answered something that is not JSON.",
                    backend=NAME,
                    model=model,
                )
            yield _as_chunk(parsed)
            return
        decoder = SSEDecoder()
        async for line in response.aiter_lines():
            data = decoder.feed(line)
            if data is None:
                continue
            if data.strip() == _DONE_SENTINEL:
                yield _DONE_EVENT
                return
            yield self._parse_event(data, response, base_url, model)
        tail = decoder.flush()
        if tail is not None:
            if tail.strip() == _DONE_SENTINEL:
                yield _DONE_EVENT
            else:
                yield self._parse_event(tail, response, base_url, model)

    def _parse_event(
        self, data: str, response: httpx.Response, base_url: str, model: str
    ) -> Mapping[str, Any]:
        try:
            event = json.loads(data)
        except ValueError as exc:
            raise InvalidResponseError(
                f"The server at {base_url} sent a stream event that is not JSON: {data[:120]!r}",
                backend=NAME,
                model=model,
            ) from exc
        if not isinstance(event, Mapping):
            raise InvalidResponseError(
                f"The server at {base_url} sent an unexpected stream event: {data[:120]!r}",
                backend=NAME,
                model=model,
            )
        if "error" in event and not event.get("choices"):
            err = event["error"]
            status = 500
            if isinstance(err, Mapping):
                code = err.get("code", err.get("status"))
                if isinstance(code, int) and 400 <= code < 600:
                    status = code
                elif err.get("type") == "rate_limit_error" or code == "rate_limit_exceeded":
                    status = 429
            raise error_from_response(
                status,
                response.headers,
                data,
                base_url=base_url,
                model=model,
                key_env=self._key_env(),
                key_present=bool(self._env.get(self._key_env())),
            )
        return event

    # -- streaming API

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Stream a chat answer: text deltas, then tool calls, usage and `Done`."""
        model = self._require_model(request.model, "chat")
        offer_tools = self._settings().supports_tools
        tools = ToolCallAssembler()
        finish: object = None
        usage: Usage | None = None
        complete = False
        async for event in self._stream_events(
            "/chat/completions",
            lambda include_usage: build_chat_body(
                request, model=model, include_usage=include_usage, offer_tools=offer_tools
            ),
            model,
        ):
            if event is _DONE_EVENT:
                complete = True
                break
            usage = _usage(event) or usage
            choice = _first_choice(event)
            if choice is None:
                continue
            delta = choice.get("delta")
            if isinstance(delta, Mapping):
                content = delta.get("content")
                if isinstance(content, str) and content:
                    yield TextDelta(content)
                if delta.get("tool_calls"):
                    tools.add(delta["tool_calls"])
                elif isinstance(delta.get("function_call"), Mapping):
                    tools.add([{"index": 0, "function": delta["function_call"]}])
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
        self._check_complete(complete or finish is not None, model)
        had_tools = bool(tools)
        for call in tools.finish():
            yield call
        if usage is not None:
            yield usage
        yield Done(_finish_reason(finish, had_tools))

    async def stream_completion(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        """Stream a code completion.

        Prefix-only by default (most OpenAI-compatible servers reject or mis-handle
        `suffix`); when `backends.fim` has a template for the model's family and there is a
        suffix, the rendered template is sent as the prompt.
        """
        model = self._require_model(request.model, "completion")
        prompt = request.prefix
        options = request.options
        if request.suffix:
            fim = fim_prompt(model, request.prefix, request.suffix)
            if fim is not None:
                prompt, stops = fim
                # OpenAI accepts at most four stop sequences.
                merged = tuple(dict.fromkeys((*options.stop, *stops)))[:4]
                options = replace(options, stop=merged)
        finish: object = None
        usage: Usage | None = None
        complete = False
        async for event in self._stream_events(
            "/completions",
            lambda include_usage: build_completion_body(
                prompt, options, model=model, include_usage=include_usage
            ),
            model,
        ):
            if event is _DONE_EVENT:
                complete = True
                break
            usage = _usage(event) or usage
            choice = _first_choice(event)
            if choice is None:
                continue
            text = choice.get("text")
            if isinstance(text, str) and text:
                yield TextDelta(text)
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
        self._check_complete(complete or finish is not None, model)
        if usage is not None:
            yield usage
        yield Done(_finish_reason(finish, False))

    def _check_complete(self, complete: bool, model: str) -> None:
        if not complete:
            raise BackendConnectionError(
                f"The server at {self._base_url()} ended the stream before the answer was "
                f"complete.",
                backend=NAME,
                model=model,
            )

    # -- models and health

    async def _get_json(self, path: str, model: str | None = None) -> object:
        base_url = self._base_url()
        client = self._client(base_url)
        try:
            response = await client.get(
                f"{base_url}{path}", headers=self._headers(), timeout=self._timeout()
            )
        except httpx.HTTPError as exc:
            raise self._map_http_error(exc, base_url, model) from exc
        if response.status_code >= 400:
            raise self._status_error(response, response.content, base_url, model)
        try:
            return response.json()
        except ValueError as exc:
            raise InvalidResponseError(
                f"The server at {base_url} answered {path} with something that is not JSON.",
                backend=NAME,
                model=model,
            ) from exc

    async def list_models(self) -> list[ModelInfo]:
        """The models `/v1/models` lists."""
        data = await self._get_json("/models")
        items = data.get("data") if isinstance(data, Mapping) else None
        if not isinstance(items, list):
            raise InvalidResponseError(
                "The server's /v1/models answer has no model list.", backend=NAME
            )
        caps = frozenset(
            {"completion", "tools"} if self._settings().supports_tools else {"completion"}
        )
        out: list[ModelInfo] = []
        for item in items:
            if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
                continue
            ctx = item.get("context_length", item.get("max_model_len"))
            meta = item.get("meta")
            if ctx is None and isinstance(meta, Mapping):
                ctx = meta.get("n_ctx_train")
            out.append(
                ModelInfo(
                    name=item["id"],
                    capabilities=caps,
                    context_length=ctx if isinstance(ctx, int) else None,
                )
            )
        return out

    async def model_info(self, model: str) -> ModelInfo:
        """The model's entry in `/v1/models`; ModelNotFoundError when it is not listed."""
        models = await self.list_models()
        for info in models:
            if info.name == model:
                return info
        raise ModelNotFoundError(
            f"The server at {self._base_url()} does not list model '{model}' "
            f"(it has: {', '.join(m.name for m in models) or 'none'}). "
            f"Set backends.cloud.model.",
            backend=NAME,
            model=model,
        )

    async def health(self) -> HealthStatus:
        """GET /v1/models: cheap, and proves the key works. Never raises."""
        started = time.perf_counter()
        try:
            await self._get_json("/models")
        except TrustError as exc:
            return HealthStatus(ok=False, detail=exc.message)
        latency = (time.perf_counter() - started) * 1000.0
        return HealthStatus(ok=True, detail=f"{self._base_url()} answers", latency_ms=latency)

    async def preheat(self, model: str) -> None:
        """Nothing to load: the remote server manages its models."""
        return None

    async def aclose(self) -> None:
        clients = list(self._clients.values())
        self._clients.clear()
        for client in clients:
            await client.aclose()


class _Environment:
    """Read access to the environment whose repr never shows a value (the key lives there)."""

    __slots__ = ("_env",)

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def get(self, name: str) -> str | None:
        return self._env.get(name)

    def __repr__(self) -> str:
        return "<environment>"


def _first_choice(event: Mapping[str, Any]) -> Mapping[str, Any] | None:
    choices = event.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        return choices[0]
    return None


def _as_chunk(answer: Mapping[str, Any]) -> Mapping[str, Any]:
    """Turn a non-streamed answer into the shape of one stream chunk."""
    choices = answer.get("choices")
    if isinstance(choices, list):
        fixed: list[Any] = []
        for choice in choices:
            if isinstance(choice, Mapping) and isinstance(choice.get("message"), Mapping):
                choice = {**choice, "delta": choice["message"]}
            fixed.append(choice)
        return {**answer, "choices": fixed}
    return answer

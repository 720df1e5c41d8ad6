"""`trust serve`: an OpenAI-compatible HTTP API over the same generator.

Routes: `GET /health` (no token; says only whether the API is up), `GET /v1/models`,
`POST /v1/chat/completions` and `POST /v1/completions` (both with SSE streaming). Every
`/v1` route needs `Authorization: Bearer <token>`. Requests go through the generator, so
fallback and the privacy gate apply exactly as in the editor. No CORS headers are sent: a web
page on another origin cannot read the answers.

Model names: "trust" (or any unknown name) uses the configured chat/completion model with
fallback; "<backend>/<model>" (e.g. "ollama/qwen2.5-coder:7b") asks that backend first.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from trust_lsp.backends.base import (
    Done,
    GenerationOptions,
    Message,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from trust_lsp.backends.local import BUNDLED_MODEL_NAME
from trust_lsp.config import ConfigStore
from trust_lsp.config.settings import DEFAULT_ORDER
from trust_lsp.core.generator import Generator
from trust_lsp.core.types import (
    ChatInput,
    CompletionInput,
    GenerationRequest,
    GeneratorEvent,
    RequestKind,
    Selected,
)
from trust_lsp.errors import (
    AuthenticationError,
    NoBackendAvailableError,
    PrivacyError,
    TrustError,
    ValidationError,
)
from trust_lsp.server.auth import token_matches

BACKENDS = tuple(DEFAULT_ORDER)


# --- token ---------------------------------------------------------------------------------


def load_or_create_token(path: Path) -> tuple[str, bool]:
    """The API token stored at `path` (0600), created on first use. Returns (token, created)."""
    if path.exists():
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token, False
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    return token, True


def _authorized(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and token_matches(token, given.strip())


# --- request parsing (pure) ----------------------------------------------------------------


def split_model(name: str | None) -> tuple[str | None, str | None]:
    """ "ollama/qwen:7b" → ("ollama", "qwen:7b"); "trust"/None → (None, None)."""
    if not name or name in ("trust", "default"):
        return None, None
    backend, sep, model = name.partition("/")
    if sep and backend in BACKENDS:
        return backend, model or None
    return None, name


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    raise ValidationError("message content must be a string or a list of text parts")


def parse_messages(raw: Any) -> list[Message]:
    """OpenAI chat messages → ours (tool calls' JSON-string arguments parsed)."""
    if not isinstance(raw, list) or not raw:
        raise ValidationError("'messages' must be a non-empty list")
    out: list[Message] = []
    for item in raw:
        if not isinstance(item, dict):
            raise ValidationError("each message must be an object")
        role = item.get("role")
        if role == "developer":
            role = "system"
        if role not in ("system", "user", "assistant", "tool"):
            raise ValidationError(f"unsupported message role {role!r}")
        calls = []
        for call in item.get("tool_calls") or []:
            function = call.get("function") or {}
            raw_args = function.get("arguments") or "{}"
            try:
                args = json.loads(raw_args) if isinstance(raw_args, str) else raw_args
            except json.JSONDecodeError:
                args = None
            calls.append(
                ToolCall(
                    name=str(function.get("name", "")),
                    arguments=args if isinstance(args, dict) else None,
                    raw_arguments=raw_args if isinstance(raw_args, str) else json.dumps(raw_args),
                    id=call.get("id"),
                )
            )
        out.append(
            Message(
                role,
                _content_text(item.get("content")),
                tool_calls=tuple(calls),
                tool_name=item.get("name"),
                tool_call_id=item.get("tool_call_id"),
            )
        )
    return out


def parse_tools(raw: Any) -> list[ToolSpec]:
    if not raw:
        return []
    if not isinstance(raw, list):
        raise ValidationError("'tools' must be a list")
    specs = []
    for tool in raw:
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not function.get("name"):
            raise ValidationError("each tool needs {type: 'function', function: {name, …}}")
        specs.append(
            ToolSpec(
                name=str(function["name"]),
                description=str(function.get("description", "")),
                parameters=function.get("parameters") or {"type": "object", "properties": {}},
            )
        )
    return specs


def parse_options(body: Mapping[str, Any], default_max: int) -> GenerationOptions:
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or default_max
    try:
        return GenerationOptions(
            temperature=float(body["temperature"]) if body.get("temperature") is not None else None,
            top_p=float(body["top_p"]) if body.get("top_p") is not None else None,
            max_tokens=int(max_tokens),
            stop=tuple(str(s) for s in stop or ()),
            seed=int(body["seed"]) if body.get("seed") is not None else None,
        )
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"invalid sampling option: {exc}") from None


def _tool_choice(raw: Any) -> str | None:
    if isinstance(raw, dict):
        function = raw.get("function")
        if isinstance(function, dict) and function.get("name"):
            return str(function["name"])
    return None


# --- responses ----------------------------------------------------------------------------


def error_response(error: Exception) -> JSONResponse:
    """Our errors in OpenAI's error shape, with a fitting status code."""
    status, kind = 500, "api_error"
    if isinstance(error, ValidationError):
        status, kind = 400, "invalid_request_error"
    elif isinstance(error, PrivacyError):
        status, kind = 403, "permission_error"
    elif isinstance(error, AuthenticationError):
        status, kind = 502, "api_error"
    elif isinstance(error, NoBackendAvailableError) or (
        isinstance(error, TrustError) and error.recoverable
    ):
        status, kind = 503, "api_error"
    message = error.message if isinstance(error, TrustError) else "internal error"
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": None, "code": None}},
        status_code=status,
    )


def _openai_tool_calls(calls: list[ToolCall]) -> list[dict[str, Any]]:
    return [
        {
            "index": i,
            "id": call.id or f"call_{uuid.uuid4().hex[:12]}",
            "type": "function",
            "function": {"name": call.name, "arguments": call.raw_arguments},
        }
        for i, call in enumerate(calls)
    ]


def _finish_reason(reason: str, tool_calls: bool) -> str:
    if tool_calls:
        return "tool_calls"
    return "length" if reason == "length" else "stop"


def _usage(usage: Usage | None) -> dict[str, int] | None:
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


def _trust_meta(selected: Selected | None) -> dict[str, Any]:
    if selected is None:
        return {}
    return {"backend": selected.backend, "model": selected.model, "cloud": selected.cloud}


# --- the app ------------------------------------------------------------------------------


class ApiServer:
    """Routes the OpenAI-compatible API to a generator."""

    def __init__(self, store: ConfigStore, generator: Generator, token: str) -> None:
        self._store = store
        self._generator = generator
        self._token = token

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/health", self.health, methods=["GET"]),
                Route("/v1/models", self.models, methods=["GET"]),
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/v1/completions", self.completions, methods=["POST"]),
            ]
        )

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    def _check(self, request: Request) -> Response | None:
        if not _authorized(request, self._token):
            return JSONResponse(
                {
                    "error": {
                        "message": "missing or wrong bearer token (see `trust serve` output)",
                        "type": "authentication_error",
                        "param": None,
                        "code": "invalid_api_key",
                    }
                },
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return None

    async def _body(self, request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ValidationError("the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ValidationError("the request body must be a JSON object")
        return body

    async def models(self, request: Request) -> Response:
        if (denied := self._check(request)) is not None:
            return denied
        settings = self._store.settings
        created = int(time.time())
        data = [{"id": "trust", "object": "model", "created": created, "owned_by": "trust"}]
        status = self._generator.status().get("backends", {})
        for name in settings.fallback.order:
            info = status.get(name, {})
            if isinstance(info, dict) and info.get("allowed") is False:
                continue
            for model in _configured_models(settings, name):
                data.append(
                    {
                        "id": f"{name}/{model}",
                        "object": "model",
                        "created": created,
                        "owned_by": name,
                    }
                )
        return JSONResponse({"object": "list", "data": data})

    async def chat(self, request: Request) -> Response:
        if (denied := self._check(request)) is not None:
            return denied
        try:
            body = await self._body(request)
            backend, model = split_model(body.get("model"))
            gen_request = GenerationRequest(
                kind=RequestKind.CHAT,
                chat=ChatInput(
                    messages=parse_messages(body.get("messages")),
                    tools=parse_tools(body.get("tools")),
                    tool_choice=_tool_choice(body.get("tool_choice")),
                ),
                options=parse_options(body, self._store.settings.chat.max_tokens),
                model=model,
                backend=backend,
            )
        except TrustError as error:
            return error_response(error)
        name = str(body.get("model") or "trust")
        if body.get("stream"):
            return await self._stream(gen_request, name, chat=True)
        try:
            result = await self._generator.generate(gen_request)
        except TrustError as error:
            return error_response(error)
        message: dict[str, Any] = {"role": "assistant", "content": result.text}
        if result.tool_calls:
            message["tool_calls"] = _openai_tool_calls(result.tool_calls)
        return JSONResponse(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": name,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": _finish_reason(
                            result.done_reason, bool(result.tool_calls)
                        ),
                    }
                ],
                "usage": _usage(result.usage),
                "trust": {"backend": result.backend, "model": result.model, "cloud": result.cloud},
            },
            headers={"X-Trust-Backend": result.backend},
        )

    async def completions(self, request: Request) -> Response:
        if (denied := self._check(request)) is not None:
            return denied
        try:
            body = await self._body(request)
            prompt = body.get("prompt")
            if isinstance(prompt, list) and len(prompt) == 1:
                prompt = prompt[0]
            if not isinstance(prompt, str):
                raise ValidationError("'prompt' must be a string")
            suffix = body.get("suffix") or ""
            if not isinstance(suffix, str):
                raise ValidationError("'suffix' must be a string")
            backend, model = split_model(body.get("model"))
            gen_request = GenerationRequest(
                kind=RequestKind.COMPLETION,
                completion=CompletionInput(prefix=prompt, suffix=suffix),
                options=parse_options(body, self._store.settings.completion.max_tokens),
                model=model,
                backend=backend,
                timeout_s=self._store.settings.chat.timeout_s,
            )
        except TrustError as error:
            return error_response(error)
        name = str(body.get("model") or "trust")
        if body.get("stream"):
            return await self._stream(gen_request, name, chat=False)
        try:
            result = await self._generator.generate(gen_request)
        except TrustError as error:
            return error_response(error)
        return JSONResponse(
            {
                "id": f"cmpl-{uuid.uuid4().hex}",
                "object": "text_completion",
                "created": int(time.time()),
                "model": name,
                "choices": [
                    {
                        "index": 0,
                        "text": result.text,
                        "logprobs": None,
                        "finish_reason": _finish_reason(result.done_reason, False),
                    }
                ],
                "usage": _usage(result.usage),
                "trust": {"backend": result.backend, "model": result.model, "cloud": result.cloud},
            },
            headers={"X-Trust-Backend": result.backend},
        )

    async def _stream(self, request: GenerationRequest, name: str, *, chat: bool) -> Response:
        """Start the stream first, so a request nobody can serve gets a proper error status."""
        events = self._generator.stream(request).__aiter__()
        try:
            first = await events.__anext__()
        except TrustError as error:
            return error_response(error)
        except StopAsyncIteration:
            first = Done()
        return StreamingResponse(
            self._sse(first, events, name, chat=chat),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def _sse(
        self,
        first: GeneratorEvent,
        events: AsyncIterator[GeneratorEvent],
        name: str,
        *,
        chat: bool,
    ) -> AsyncIterator[bytes]:
        ident = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"
        created = int(time.time())
        selected = first if isinstance(first, Selected) else None
        calls: list[ToolCall] = []
        usage: Usage | None = None
        reason = "stop"

        def chunk(payload: dict[str, Any], finish: str | None = None) -> bytes:
            choice: dict[str, Any] = {"index": 0, "finish_reason": finish}
            if chat:
                choice["delta"] = payload
            else:
                choice.update(payload)
                choice["logprobs"] = None
            data: dict[str, Any] = {
                "id": ident,
                "object": "chat.completion.chunk" if chat else "text_completion",
                "created": created,
                "model": name,
                "choices": [choice],
            }
            if finish is not None:
                data["usage"] = _usage(usage)
                data["trust"] = _trust_meta(selected)
            return f"data: {json.dumps(data)}\n\n".encode()

        async def all_events() -> AsyncIterator[GeneratorEvent]:
            yield first
            async for event in events:
                yield event

        if chat:
            yield chunk({"role": "assistant", "content": ""})
        try:
            async for event in all_events():
                if isinstance(event, TextDelta) and event.text:
                    yield chunk({"content": event.text} if chat else {"text": event.text})
                elif isinstance(event, ToolCall):
                    calls.append(event)
                elif isinstance(event, Usage):
                    usage = event
                elif isinstance(event, Done):
                    reason = event.reason
        except TrustError as error:
            # Output has started: the status is already 200, so the error goes in the stream.
            payload = {
                "error": {
                    "message": error.message,
                    "type": "api_error",
                    "param": None,
                    "code": None,
                }
            }
            yield f"data: {json.dumps(payload)}\n\n".encode()
            yield b"data: [DONE]\n\n"
            return
        if calls and chat:
            yield chunk({"tool_calls": _openai_tool_calls(calls)})
        yield chunk({} if chat else {"text": ""}, _finish_reason(reason, bool(calls)))
        yield b"data: [DONE]\n\n"


def _configured_models(settings: Any, backend: str) -> list[str]:
    if backend == "ollama":
        ollama = settings.backends.ollama
        return list(dict.fromkeys([ollama.chat_model, ollama.completion_model]))
    if backend == "cloud":
        cloud = settings.backends.cloud
        return [m for m in dict.fromkeys([cloud.model, cloud.completion_model]) if m]
    if backend == "local":
        path = settings.backends.local.model_path
        return [Path(path).name if path else BUNDLED_MODEL_NAME]
    return []

"""Shared set-up of the core's integration tests: a config store pointing the real backends
at the Ollama test server and the real gemma3 GGUF, and a generator built by the factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from trust_lsp.backends.base import GenerationOptions, Message
from trust_lsp.config.store import ConfigStore, Layer
from trust_lsp.core.factory import build_backends, build_generator
from trust_lsp.core.generator import Generator
from trust_lsp.core.types import ChatInput, CompletionInput, GenerationRequest, RequestKind

SHORT = GenerationOptions(max_tokens=8, temperature=0.0, seed=1)


def config_for(ollama_url: str, gguf: Path | str | None = None, **extra: Any) -> ConfigStore:
    layer: dict[str, Any] = {
        "backends.ollama.url": ollama_url,
        "backends.local.model_path": str(gguf) if gguf else "/nonexistent/model.gguf",
        "backends.local.n_ctx": 1024,
        "backends.local.n_threads": 2,
        "server.preheat": False,
        "health.interval_s": 30.0,
    }
    layer.update(extra)
    return ConfigStore({Layer.CLIENT: layer})


@asynccontextmanager
async def running(config: ConfigStore, *, start: bool = False) -> AsyncIterator[Generator]:
    generator = build_generator(config, build_backends(config))
    try:
        if start:
            await generator.start()
        yield generator
    finally:
        await generator.aclose()


def chat(text: str = "Say hi.", **kw: Any) -> GenerationRequest:
    kw.setdefault("options", SHORT)
    return GenerationRequest(
        kind=kw.pop("kind", RequestKind.CHAT),
        chat=ChatInput(messages=[Message("user", text)]),
        **kw,
    )


def completion(prefix: str = "def add(a, b):\n    return", **kw: Any) -> GenerationRequest:
    kw.setdefault("options", SHORT)
    return GenerationRequest(
        kind=RequestKind.COMPLETION, completion=CompletionInput(prefix, "\n"), **kw
    )


async def eventually(predicate: Callable[[], bool], within_s: float = 5.0) -> None:
    """Poll until `predicate()` holds (a bounded wait, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within_s} s")
        await asyncio.sleep(0.01)

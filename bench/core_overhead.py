"""What the core costs on top of the wire: the same streamed requests, direct vs generator.

Starts the Ollama test server in this process (its own thread and event loop), then sends
the same streamed completion requests (the exact `/api/generate` body the Ollama backend
builds) two ways, alternating one of each so load on the machine hits both alike:

- direct: one pooled `httpx.AsyncClient`, stream the NDJSON, parse every line;
- generator: `Generator.stream(GenerationRequest(...))` over the real `OllamaBackend`
  (selection, privacy gate, queue slot, deadline watchdog, metrics);
- backend (for attribution): `OllamaBackend.stream_completion` alone, no core, so
  generator/backend is the core's own share and backend/direct the wire client's.

Prints p50/p95 of the whole request and of the time to first token for both, and the
ratio generator/direct (target: p50 <= 1.05x). Two server settings by default: tokens
paced like a small local model (`--token-delay-ms`, realistic), and no pacing at all (the
overhead in isolation; the ratio there is dominated by the loopback round trip itself).

    .venv/bin/python bench/core_overhead.py [--requests 200] [--tokens 16] [--token-delay-ms 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from tests.fakes.ollama_server import OllamaTestServer  # noqa: E402
from trust_lsp.backends.base import CompletionRequest, GenerationOptions, TextDelta  # noqa: E402
from trust_lsp.backends.ollama import OllamaBackend  # noqa: E402
from trust_lsp.config.store import ConfigStore, Layer  # noqa: E402
from trust_lsp.core.factory import build_generator  # noqa: E402
from trust_lsp.core.generator import Generator  # noqa: E402
from trust_lsp.core.types import CompletionInput, GenerationRequest, RequestKind  # noqa: E402

PREFIX = "def fibonacci(n):\n    "
SUFFIX = "\n\nprint(fibonacci(10))\n"
OPTIONS = GenerationOptions(max_tokens=64, temperature=0.2)


@dataclass
class Sample:
    total_s: float
    ttft_s: float


async def direct_once(client: httpx.AsyncClient, url: str, body: dict[str, object]) -> Sample:
    started = time.perf_counter()
    ttft = 0.0
    async with client.stream("POST", url + "/api/generate", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line:
                continue
            obj = json.loads(line)
            if not ttft and obj.get("response"):
                ttft = time.perf_counter() - started
    return Sample(time.perf_counter() - started, ttft)


async def backend_once(backend: OllamaBackend, request: CompletionRequest) -> Sample:
    started = time.perf_counter()
    ttft = 0.0
    async for event in backend.stream_completion(request):
        if not ttft and isinstance(event, TextDelta):
            ttft = time.perf_counter() - started
    return Sample(time.perf_counter() - started, ttft)


async def generator_once(gen: Generator, request: GenerationRequest) -> Sample:
    started = time.perf_counter()
    ttft = 0.0
    async for event in gen.stream(request):
        if not ttft and isinstance(event, TextDelta):
            ttft = time.perf_counter() - started
    return Sample(time.perf_counter() - started, ttft)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def report(title: str, direct: list[Sample], through: list[Sample], backend: list[Sample]) -> float:
    print(f"\n{title}")
    print(f"{'':12}{'p50 ms':>10}{'p95 ms':>10}{'ttft p50':>10}{'ttft p95':>10}")
    for name, samples in (("direct", direct), ("generator", through), ("backend", backend)):
        totals = [s.total_s * 1000 for s in samples]
        ttfts = [s.ttft_s * 1000 for s in samples]
        print(
            f"{name:12}{pct(totals, 50):10.2f}{pct(totals, 95):10.2f}"
            f"{pct(ttfts, 50):10.2f}{pct(ttfts, 95):10.2f}"
        )
    d50 = statistics.median(s.total_s for s in direct)
    g50 = statistics.median(s.total_s for s in through)
    d95 = pct([s.total_s for s in direct], 95)
    g95 = pct([s.total_s for s in through], 95)
    b50 = statistics.median(s.total_s for s in backend)
    ratio = g50 / d50
    print(
        f"generator/direct: p50 {ratio:.3f}x (overhead {1000 * (g50 - d50):+.2f} ms), "
        f"p95 {g95 / d95:.3f}x — target p50 <= 1.05x: {'met' if ratio <= 1.05 else 'NOT met'}"
    )
    print(
        f"of which the core (generator/backend): {g50 / b50:.3f}x "
        f"({1000 * (g50 - b50):+.2f} ms); the Ollama backend (backend/direct): "
        f"{b50 / d50:.3f}x ({1000 * (b50 - d50):+.2f} ms)"
    )
    return ratio


async def scenario(requests: int, tokens: int, token_delay_ms: float) -> float:
    reply = "".join(f" tok{i}" for i in range(tokens))
    with OllamaTestServer(token_delay_s=token_delay_ms / 1000, split_lines=True) as server:
        server.default_reply = lambda endpoint, body: reply
        config = ConfigStore(
            {
                Layer.CLIENT: {
                    "backends.ollama.url": server.url,
                    "fallback.order": ["ollama"],
                    "server.preheat": False,
                }
            }
        )
        gen = build_generator(config)
        await gen.start()
        backend = gen._backends["ollama"]
        assert isinstance(backend, OllamaBackend)
        model = backend.model_for("completion")
        wire_request = CompletionRequest(model, PREFIX, SUFFIX, OPTIONS)
        body = await backend.completion_body(wire_request)
        assert body is not None
        request = GenerationRequest(
            kind=RequestKind.COMPLETION, completion=CompletionInput(PREFIX, SUFFIX), options=OPTIONS
        )
        direct: list[Sample] = []
        through: list[Sample] = []
        alone: list[Sample] = []
        async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
            for _ in range(20):  # warm up: connections, caches, the model "load"
                await direct_once(client, server.url, body)
                await generator_once(gen, request)
                await backend_once(backend, wire_request)
            for i in range(requests):
                # Rotate the order so drift in machine load hits every path alike.
                runs = [
                    lambda: direct_once(client, server.url, body),
                    lambda: generator_once(gen, request),
                    lambda: backend_once(backend, wire_request),
                ]
                sinks = [direct, through, alone]
                for k in range(3):
                    j = (i + k) % 3
                    sinks[j].append(await runs[j]())
        await gen.aclose()
    title = (
        f"{requests} streamed completions, {tokens} tokens each, "
        f"server token delay {token_delay_ms:g} ms"
    )
    return report(title, direct, through, alone)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--token-delay-ms", type=float, default=2.0)
    args = parser.parse_args()
    await scenario(args.requests, args.tokens, args.token_delay_ms)
    if args.token_delay_ms:
        await scenario(args.requests, args.tokens, 0.0)


if __name__ == "__main__":
    asyncio.run(main())

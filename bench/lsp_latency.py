"""Inline completion through the language server vs the same request sent to the backend.

The backend is the Ollama test server with a fixed 50 ms latency before the first token. For
each of N completions (default 200) the bench:

1. edits the document (so no answer can come from the completion cache) and sends
   `textDocument/inlineCompletion` to a real `trust-lsp` process over stdio, timing until the
   answer arrives;
2. sends the very request body the server sent to `/api/generate` straight to the test
   server (httpx, streaming, read to the end), timing that too.

The two kinds alternate, so machine load affects both alike. `completion.debounce_ms` is set
to 0 for this bench: the debounce is a deliberate wait for typing to pause, not overhead.

Targets: server p50 ≤ 1.05 × direct p50, server p95 ≤ 1.10 × direct p95.

    python bench/lsp_latency.py [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from lsprotocol import types
from pygls.lsp.client import LanguageClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.ollama_server import OllamaTestServer

LATENCY_S = 0.050
WARMUP = 10
TIMEOUT_S = 30.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


async def direct(http: httpx.AsyncClient, url: str, body: Any) -> float:
    started = time.perf_counter()
    async with http.stream("POST", f"{url}/api/generate", json=body) as response:
        async for _ in response.aiter_lines():
            pass
    return time.perf_counter() - started


async def run(requests: int) -> int:
    with OllamaTestServer(latency_s=LATENCY_S) as backend:
        backend.default_reply = lambda _endpoint, _body: "return total / len(values)"
        client = LanguageClient("latency-bench", "1")
        await client.start_io(sys.executable, "-m", "trust_lsp", "--log-level", "warning")
        await client.initialize_async(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(),
                initialization_options={
                    "backends": {"ollama": {"url": backend.url}},
                    "fallback": {"order": ["ollama"]},
                    "completion": {"debounce_ms": 0},
                    "server": {"preheat": False},
                },
            )
        )
        client.initialized(types.InitializedParams())
        uri = "file:///bench/latency.py"
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="python", version=1, text=""
                )
            )
        )
        through_server: list[float] = []
        straight: list[float] = []
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as http:
            for i in range(WARMUP + requests):
                line = f"def mean_{i}(values):\n    total = sum(values)\n    "
                client.text_document_did_change(
                    types.DidChangeTextDocumentParams(
                        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=i + 2),
                        content_changes=[types.TextDocumentContentChangeWholeDocument(text=line)],
                    )
                )
                sent_before = len(backend.requests_to("/api/generate"))
                started = time.perf_counter()
                result = await asyncio.wait_for(
                    client.text_document_inline_completion_async(
                        types.InlineCompletionParams(
                            text_document=types.TextDocumentIdentifier(uri=uri),
                            position=types.Position(line=2, character=4),
                            context=types.InlineCompletionContext(
                                trigger_kind=types.InlineCompletionTriggerKind.Automatic
                            ),
                        )
                    ),
                    TIMEOUT_S,
                )
                elapsed = time.perf_counter() - started
                generated = backend.requests_to("/api/generate")
                if len(generated) != sent_before + 1 or result is None:
                    print(f"request {i}: no backend request or no answer", file=sys.stderr)
                    return 1
                direct_s = await direct(http, backend.url, generated[-1].body)
                if i >= WARMUP:
                    through_server.append(elapsed)
                    straight.append(direct_s)
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()

    print(
        f"{requests} inline completions, backend latency {LATENCY_S * 1000:.0f} ms "
        "(completion.debounce_ms = 0 for this bench)"
    )
    rows = [("direct to backend", straight), ("through trust-lsp", through_server)]
    for name, values in rows:
        print(
            f"  {name:18s} p50 {percentile(values, 50) * 1000:6.1f} ms   "
            f"p95 {percentile(values, 95) * 1000:6.1f} ms   "
            f"mean {statistics.mean(values) * 1000:6.1f} ms"
        )
    p50 = percentile(through_server, 50) / percentile(straight, 50)
    p95 = percentile(through_server, 95) / percentile(straight, 95)
    print(f"  ratio p50 {p50:.3f}× (target ≤ 1.05×: {'met' if p50 <= 1.05 else 'NOT met'})")
    print(f"  ratio p95 {p95:.3f}× (target ≤ 1.10×: {'met' if p95 <= 1.10 else 'NOT met'})")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    return asyncio.run(run(args.requests))


if __name__ == "__main__":
    sys.exit(main())

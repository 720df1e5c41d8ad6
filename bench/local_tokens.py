"""Tokens/s of the embedded backend next to raw llama-cpp-python, measured in the same run.

Both sides run the same GGUF (the bundled gemma3 270M unless `--model`), with the same
context size, thread count, buffer choice and prompt, greedy (temperature 0), streaming a
128-token completion:

- raw:     `llama_cpp.Llama(...)(prompt, max_tokens=128, temperature=0, stream=True)`,
           consumed synchronously;
- backend: `LocalBackend.stream_completion(...)` consumed from an asyncio event loop
           (worker thread, queue hand-off to the loop, cancellation checks, usage).

Each side has its own model instance. After a warm-up run of each, the runs alternate
(raw, backend, backend, raw, …) so load from other processes hits both alike. Prints the
median tokens/s of each side (end to end, and generation only: first token to last) and
the ratio backend/raw (target: >= 0.95x), also as the median of the ratios of adjacent
(raw, backend) pairs, which is less sensitive to load that comes and goes.

    .venv/bin/python bench/local_tokens.py [--runs 9] [--tokens 128] [--threads N] [--model PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from trust_lsp.backends.base import (  # noqa: E402
    CompletionRequest,
    GenerationOptions,
    TextDelta,
    Usage,
)
from trust_lsp.backends.llama_runtime import (  # noqa: E402
    default_cache_dir,
    extra_buffers_safe,
    load_guard,
)
from trust_lsp.backends.local import LocalBackend, ensure_bundled_model  # noqa: E402
from trust_lsp.config.settings import LocalSettings  # noqa: E402

PROMPT = '''import math


def is_prime(n: int) -> bool:
    """Return True when n is a prime number."""
'''


@dataclass(frozen=True)
class Run:
    tokens: int
    total_s: float
    gen_s: float  # first token to last
    text: str

    @property
    def tps(self) -> float:
        return self.tokens / self.total_s

    @property
    def gen_tps(self) -> float:
        return (self.tokens - 1) / self.gen_s if self.gen_s > 0 else float("nan")


def run_raw(llm: object, max_tokens: int) -> Run:
    started = time.perf_counter()
    first: float | None = None
    count = 0
    parts: list[str] = []
    for chunk in llm(PROMPT, max_tokens=max_tokens, temperature=0.0, stream=True):  # type: ignore[operator]
        choice = chunk["choices"][0]
        if choice["finish_reason"] is not None:
            break
        count += 1
        if first is None:
            first = time.perf_counter()
        parts.append(choice["text"])
    end = time.perf_counter()
    return Run(count, end - started, end - (first or end), "".join(parts))


async def run_backend(backend: LocalBackend, max_tokens: int) -> Run:
    request = CompletionRequest(
        model="", prefix=PROMPT, options=GenerationOptions(temperature=0.0, max_tokens=max_tokens)
    )
    started = time.perf_counter()
    first: float | None = None
    tokens = 0
    parts: list[str] = []
    async for event in backend.stream_completion(request):
        if isinstance(event, TextDelta):
            if first is None:
                first = time.perf_counter()
            parts.append(event.text)
        elif isinstance(event, Usage):
            tokens = event.completion_tokens
    end = time.perf_counter()
    return Run(tokens, end - started, end - (first or end), "".join(parts))


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="measured runs per side")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--model", type=Path, default=None, help="GGUF file (default: bundled)")
    args = parser.parse_args()

    import llama_cpp

    model = args.model or ensure_bundled_model(default_cache_dir())
    safe = extra_buffers_safe(model)
    with load_guard(use_extra_bufts=safe):
        raw = llama_cpp.Llama(
            model_path=str(model),
            n_ctx=args.n_ctx,
            n_threads=args.threads,
            n_threads_batch=args.threads,
            verbose=False,
        )
    settings = LocalSettings(
        model_path=str(model), n_ctx=args.n_ctx, n_threads=args.threads, idle_unload_s=0
    )
    backend = LocalBackend(lambda: settings)

    print(f"model {model.name}, {args.threads} threads, n_ctx {args.n_ctx}, ", end="")
    print(f"extra buffers {'on' if safe else 'off (AMX guard)'}, llama-cpp-python ", end="")
    print(f"{llama_cpp.__version__}, {args.tokens} tokens at temperature 0, {args.runs} runs")
    print(f"load average before: {loadavg()}")

    # Warm-up (loads the backend's model, fills caches, starts OpenMP teams).
    warm_raw = run_raw(raw, args.tokens)
    warm_backend = await run_backend(backend, args.tokens)
    if warm_raw.text != warm_backend.text:
        print("warning: raw and backend produced different text", file=sys.stderr)

    raws: list[Run] = []
    backs: list[Run] = []
    for i in range(args.runs):
        if i % 2 == 0:
            raws.append(run_raw(raw, args.tokens))
            backs.append(await run_backend(backend, args.tokens))
        else:
            backs.append(await run_backend(backend, args.tokens))
            raws.append(run_raw(raw, args.tokens))
    await backend.aclose()

    def med(values: list[float]) -> float:
        return statistics.median(values)

    raw_tps, back_tps = med([r.tps for r in raws]), med([r.tps for r in backs])
    raw_gen, back_gen = med([r.gen_tps for r in raws]), med([r.gen_tps for r in backs])
    print(f"load average after:  {loadavg()}")
    print(f"tokens per run: raw {sorted({r.tokens for r in raws})}, ", end="")
    print(f"backend {sorted({r.tokens for r in backs})}")
    print(f"{'':10} {'end to end':>12} {'generation':>12}   (median tokens/s)")
    print(f"{'raw':10} {raw_tps:12.1f} {raw_gen:12.1f}")
    print(f"{'backend':10} {back_tps:12.1f} {back_gen:12.1f}")
    ratio = back_tps / raw_tps
    print(f"{'ratio':10} {ratio:11.3f}x {back_gen / raw_gen:11.3f}x   (target >= 0.95x)")
    # Runs next to each other in time saw about the same load from other processes.
    paired = med([b.tps / r.tps for r, b in zip(raws, backs, strict=True)])
    print(f"median of paired ratios (adjacent runs): {paired:.3f}x")
    spread = [f"{r.tps:.1f}" for r in raws], [f"{b.tps:.1f}" for b in backs]
    print(f"runs raw:     {' '.join(spread[0])}")
    print(f"runs backend: {' '.join(spread[1])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))

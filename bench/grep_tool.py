"""Benchmark: the `grep` tool on a generated tree of 20,000 files vs ripgrep, in one run.

The tree (in a temporary directory, deleted afterwards) has 200 directories of 100 source
files (~1.5 KB each, about 30 MB), a `.gitignore`d build directory, a `.git` directory and
some binary files. Each case runs the whole tool call (registry validation, sandbox, the
search, formatting the result) and, for comparison, plain `rg -n` with the same file rules
(output captured through a pipe). Every figure is the median of several runs, taken in turn
(rg, tool, fallback, rg, …) after one warm-up run each, so the page cache is warm for all
and changes in machine load hit all alike.

Target: the tool with ripgrep ≤ 1.5× ripgrep alone. The pure-Python fallback's ratio is
printed too. Run: `.venv/bin/python bench/grep_tool.py [--files N] [--runs R]`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trust_lsp.backends.base import ToolCall
from trust_lsp.config.settings import Settings, ToolsSettings
from trust_lsp.tools.registry import ToolContext
from trust_lsp.tools.sandbox import WorkspaceSandbox
from trust_lsp.tools.search import RG_BASE_ARGS
from trust_lsp.tools.workspace import build_registry

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "value",
    "result",
    "config",
    "handler",
    "request",
    "response",
    "buffer",
    "index",
    "token",
    "stream",
    "parse",
    "render",
    "update",
    "cache",
    "client",
    "server",
    "session",
    "record",
]


def make_tree(root: Path, files: int, seed: int = 7) -> None:
    """`files` source files in directories of 100, plus ignored, hidden and binary files."""
    rng = random.Random(seed)
    per_dir = 100
    for n in range(files):
        directory = root / f"pkg{n // per_dir:03d}"
        if n % per_dir == 0:
            directory.mkdir(parents=True, exist_ok=True)
        lines = []
        for i in range(40):
            a, b = rng.choice(WORDS), rng.choice(WORDS)
            lines.append(f"    def {a}_{b}_{i}(self, {b}): return self.{a}({b}) + {i}")
        if n % 1000 == 0:
            lines.append("    # NEEDLE_marker: the rare pattern")
        (directory / f"mod{n % per_dir:03d}.py").write_text("class C:\n" + "\n".join(lines))
    (root / ".gitignore").write_text("build/\n*.bin\n")
    build = root / "build"
    build.mkdir()
    for n in range(200):
        (build / f"gen{n}.py").write_text("NEEDLE_marker ignored\n" * 20)
    (root / ".git").mkdir()
    (root / ".git" / "packed").write_text("NEEDLE_marker in git\n")
    for n in range(50):
        (root / f"blob{n}.dat").write_bytes(b"\0NEEDLE_marker\0" * 100)


async def interleaved(
    fns: dict[str, Callable[[], Awaitable[Any]]], runs: int
) -> tuple[dict[str, float], dict[str, Any]]:
    """Median seconds of each function, run in turn (A B C A B C …) after one warm-up each.

    Interleaving spreads any change in machine load evenly over the contestants.
    """
    results = {name: await fn() for name, fn in fns.items()}  # warm-up (page cache)
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            start = time.perf_counter()
            results[name] = await fn()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(times) for name, times in samples.items()}, results


def rg_alone(rg: str, root: Path, pattern: str) -> Callable[[], Awaitable[int]]:
    args = [rg, *(a for a in RG_BASE_ARGS if a != "--json"), "-n", "-e", pattern, str(root)]

    async def run() -> int:
        proc = await asyncio.to_thread(subprocess.run, args, capture_output=True, check=False)
        return proc.stdout.count(b"\n")

    return run


def tool_call(
    root: Path, rg: str | None, arguments: dict[str, Any]
) -> Callable[[], Awaitable[Any]]:
    tools = ToolsSettings(max_output_chars=10_000_000, timeout_s=600)
    registry = build_registry(lambda: Settings(tools=tools), rg_path=lambda: rg)

    class Host:
        def __init__(self) -> None:
            self.roots = [root]

        def document_text(self, path: Path) -> str | None:
            return None

        def open_documents(self) -> list[Path]:
            return []

        def diagnostics(self, path: Path | None = None) -> list[dict[str, Any]]:
            return []

        async def request_approval(self, title: str, detail: str) -> bool:
            return False

        async def apply_edit(self, path: Path, new_text: str) -> tuple[bool, str | None]:
            return False, "read-only benchmark"

    async def run() -> Any:
        # A fresh sandbox per call, as each chat turn builds one (no warm ignore cache).
        context = ToolContext(Host(), WorkspaceSandbox([root]), tools)
        result = await registry.execute(ToolCall("grep", arguments, "{}"), context)
        assert result.ok, result.content
        return result

    return run


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rg = shutil.which("rg")
    with tempfile.TemporaryDirectory(prefix="trust-grep-bench-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        make_tree(root, args.files)
        print(f"tree: {args.files} files + ignored/binary/.git extras in {root}")
        print(f"      generated in {time.perf_counter() - started:.1f} s; median of {args.runs}")
        print()
        cases: list[tuple[str, dict[str, Any]]] = [
            ("rare pattern (20 matches)", {"pattern": "NEEDLE_marker"}),
            ("common pattern, default limit (100)", {"pattern": r"def value_\w+_3\b"}),
            (
                "common pattern, max_results=1000",
                {"pattern": r"def value_\w+_3\b", "max_results": 1000},
            ),
        ]
        header = f"{'case':38} {'lines':>6} {'rg alone':>10} {'tool+rg':>10} {'ratio':>7}"
        header += f" {'tool (Python)':>14} {'ratio':>7}"
        print(header)
        for label, arguments in cases:
            row = f"{label:38}"
            fns = {"python": tool_call(root, None, arguments)}
            if rg is not None:
                fns["rg"] = rg_alone(rg, root, arguments["pattern"])
                fns["tool+rg"] = tool_call(root, rg, arguments)
            median, results = await interleaved(fns, args.runs)
            base = median.get("rg")
            if base is not None:
                with_rg = median["tool+rg"]
                row += f" {results['rg']:6d} {base * 1000:8.1f}ms {with_rg * 1000:8.1f}ms"
                row += f" {with_rg / base:6.2f}×"
            else:
                row += f" {'-':>6} {'(no rg)':>10} {'-':>10} {'-':>7}"
            python_s = median["python"]
            ratio = f"{python_s / base:6.2f}×" if base else "     -"
            row += f" {python_s * 1000:12.1f}ms {ratio}"
            print(row)
        print()
        if rg is None:
            print("ripgrep is not installed: only the Python fallback was measured.")
        else:
            version = subprocess.check_output([rg, "--version"], text=True)  # noqa: ASYNC221
            print(f"ripgrep: {version.splitlines()[0]}; target: tool+rg ≤ 1.5× rg alone")


if __name__ == "__main__":
    asyncio.run(main())

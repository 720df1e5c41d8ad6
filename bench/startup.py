"""Start-up of `trust-lsp` next to a minimal pygls server, measured in the same run.

For each server, N times (interleaved, so machine load affects both alike): spawn the
process, send `initialize` at once (as editors do), time until the result arrives; then
`initialized`, one second idle, and read the resident memory (VmRSS) before any model is
loaded. Trust runs with `server.preheat = false` (preheat would load a model: that is not
start-up) and Ollama pointed at a closed loopback port.

Targets: Trust's median spawn→initialize ≤ 1.25 × the minimal server's; idle RSS ≤ 90 MB.

    python bench/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MINIMAL_SERVER = """
from lsprotocol import types
from pygls.lsp.server import LanguageServer

server = LanguageServer("minimal", "0.1")

@server.feature(types.TEXT_DOCUMENT_COMPLETION)
def completion(params: types.CompletionParams) -> list[types.CompletionItem]:
    return []

server.start_io()
"""


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def read_message(stream: Any) -> dict[str, Any]:
    length = 0
    while True:
        line = stream.readline()
        if not line:
            raise EOFError("server closed stdout")
        if line in (b"\r\n", b"\n"):
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    result: dict[str, Any] = json.loads(stream.read(length))
    return result


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(command: list[str], options: dict[str, Any]) -> tuple[float, float]:
    """(seconds spawn→initialize result, idle RSS in MB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(
            frame(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {
                        "processId": os.getpid(),
                        "rootUri": None,
                        "capabilities": {},
                        "initializationOptions": options,
                    },
                }
            )
        )
        proc.stdin.flush()
        while True:
            message = read_message(proc.stdout)
            if message.get("id") == 1:
                break
        elapsed = time.perf_counter() - start
        proc.stdin.write(frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
        proc.stdin.flush()
        time.sleep(1.0)
        rss = rss_mb(proc.pid)
        proc.stdin.write(frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}))
        proc.stdin.write(frame({"jsonrpc": "2.0", "method": "exit"}))
        proc.stdin.flush()
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return elapsed, rss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    trust_options = {
        "server": {"preheat": False},
        "backends": {"ollama": {"url": f"http://127.0.0.1:{closed_port()}"}},
    }
    with tempfile.TemporaryDirectory() as tmp:
        minimal_py = Path(tmp) / "minimal_server.py"
        minimal_py.write_text(MINIMAL_SERVER)
        servers = {
            "minimal pygls": ([sys.executable, str(minimal_py)], {}),
            "trust-lsp": ([sys.executable, "-m", "trust_lsp"], trust_options),
        }
        times: dict[str, list[float]] = {name: [] for name in servers}
        rss: dict[str, list[float]] = {name: [] for name in servers}
        measure(*servers["trust-lsp"])  # warm the file cache and bytecode
        for _ in range(args.runs):
            for name, (command, options) in servers.items():
                elapsed, memory = measure(command, options)
                times[name].append(elapsed)
                rss[name].append(memory)

    base = statistics.median(times["minimal pygls"])
    print(f"spawn → initialize result, median of {args.runs} runs (and idle RSS):")
    for name in servers:
        med = statistics.median(times[name])
        print(
            f"  {name:14s} {med * 1000:7.1f} ms  (min {min(times[name]) * 1000:6.1f} ms)"
            f"  ratio {med / base:4.2f}×   RSS {statistics.median(rss[name]):5.1f} MB"
        )
    ratio = statistics.median(times["trust-lsp"]) / base
    trust_rss = statistics.median(rss["trust-lsp"])
    print(f"target: ratio ≤ 1.25× → {'met' if ratio <= 1.25 else 'NOT met'} ({ratio:.2f}×)")
    verdict = "met" if trust_rss <= 90 else "NOT met"
    print(f"target: idle RSS ≤ 90 MB → {verdict} ({trust_rss:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

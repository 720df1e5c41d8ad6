"""Keeping llama.cpp from crashing the process on CPUs whose AMX kernels fault.

llama-cpp-python compiles llama.cpp with `-march=native`. On a CPU that advertises AMX
(`amx_tile` in /proc/cpuinfo) ggml then puts quantized weights in its AMX "extra buffer
type", and on some machines (virtual machines that advertise AMX but do not give the tile
state to the guest) the first matrix multiplication dies with SIGSEGV, taking the whole
language server with it. A segfault cannot be caught, so before the first load on such a
CPU we probe once, in a child process, whether a decode with the default buffers survives,
and remember the answer on disk (keyed by the llama.cpp build). When it does not, models are
loaded with `use_extra_bufts = false` (plain CPU buffers: somewhat slower, but correct).

Everything here imports llama_cpp lazily: this module is imported on the start-up path.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "cpu_has_amx",
    "default_cache_dir",
    "extra_buffers_safe",
    "load_guard",
]

# Loads that patch llama.cpp's default parameters must not interleave.
_PATCH_LOCK = threading.Lock()

_PROBE = """
import sys
import llama_cpp
llm = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=256, n_threads=1, verbose=False)
llm.eval(llm.tokenize(b"def probe(a, b):\\n    return a + b\\n"))
print("ok")
"""


def cpu_has_amx(cpuinfo: str | None = None) -> bool:
    """True when the CPU flags (from /proc/cpuinfo) include AMX tiles."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return "amx_tile" in line.split()
    return False


def default_cache_dir() -> Path:
    """Where Trust keeps small machine-local markers ($XDG_CACHE_HOME/trust-lsp)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trust-lsp"


def _build_key() -> str:
    """Identifies the installed llama.cpp build (version + native library size/mtime)."""
    import llama_cpp

    lib_dir = Path(llama_cpp.__file__).parent / "lib"
    parts = [str(getattr(llama_cpp, "__version__", "?"))]
    with contextlib.suppress(OSError):
        for lib in sorted(lib_dir.glob("libggml-cpu*")):
            stat = lib.stat()
            parts.append(f"{lib.name}:{stat.st_size}:{int(stat.st_mtime)}")
    return "|".join(parts)


def extra_buffers_safe(
    model_path: Path, *, cache_dir: Path | None = None, timeout_s: float = 120.0
) -> bool:
    """Whether llama.cpp's extra buffer types (AMX, repacking) work on this machine.

    No probe on CPUs without AMX. Otherwise a child process loads `model_path` and decodes
    a few tokens; its fate is cached per llama.cpp build so the probe runs once per machine.
    """
    if not cpu_has_amx():
        return True
    key = _build_key()
    marker = (cache_dir or default_cache_dir()) / "llama-extra-buffers.json"
    with contextlib.suppress(OSError, ValueError):
        cached = json.loads(marker.read_text(encoding="utf-8"))
        if isinstance(cached, dict) and cached.get("build") == key:
            return bool(cached.get("safe"))
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE, str(model_path)],
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
        safe = proc.returncode == 0 and b"ok" in proc.stdout
    except (OSError, subprocess.TimeoutExpired):
        # Unknown: choose the configuration that cannot crash.
        return False
    with contextlib.suppress(OSError):
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"build": key, "safe": safe}), encoding="utf-8")
    return safe


@contextlib.contextmanager
def load_guard(*, use_extra_bufts: bool) -> Iterator[None]:
    """Wrap a `llama_cpp.Llama(...)` construction: safe buffers and no fd juggling.

    - `use_extra_bufts=False` loads weights in plain CPU buffers (see the module docstring).
      `llama_cpp.Llama` does not expose the parameter, so the default-parameter factory it
      calls is swapped for the duration of the block.
    - With `verbose=False`, llama-cpp-python silences loading by pointing file descriptors
      1 and 2 at /dev/null for the whole process. In a language server on stdio that would
      swallow LSP messages written by other threads meanwhile, so that redirection is
      replaced by a no-op (llama.cpp's log stays quiet through its log level anyway).
    Loads are serialized by a lock because the patches are process-wide.
    """
    # Typed as Any: these are private attributes of llama-cpp-python, patched on purpose.
    internals: Any = importlib.import_module("llama_cpp._internals")
    high: Any = importlib.import_module("llama_cpp.llama")
    low: Any = importlib.import_module("llama_cpp.llama_cpp")

    with _PATCH_LOCK:
        _route_llama_log(low)
        original_params = low.llama_model_default_params
        original_high = high.suppress_stdout_stderr
        original_internals = internals.suppress_stdout_stderr

        def patched_params() -> Any:
            params = original_params()
            params.use_extra_bufts = False
            return params

        if not use_extra_bufts:
            low.llama_model_default_params = patched_params
        high.suppress_stdout_stderr = _NoRedirect
        internals.suppress_stdout_stderr = _NoRedirect
        try:
            yield
        finally:
            low.llama_model_default_params = original_params
            high.suppress_stdout_stderr = original_high
            internals.suppress_stdout_stderr = original_internals


# ggml's levels: 1 DEBUG, 2 INFO, 3 WARN, 4 ERROR, 5 CONT. Its warnings are about the model
# file ("control-looking token …"), nothing a user can act on: logged at INFO.
_LOG_LEVELS = {3: logging.INFO, 4: logging.WARNING}
_log_callback: list[Any] = []  # keeps the C callback alive for as long as llama.cpp may call it


def _route_llama_log(low: Any) -> None:
    """Send llama.cpp's own log to Python logging (`trust_lsp.llama`), once per process.

    llama-cpp-python prints it to stderr unless it redirects the file descriptors, which
    `load_guard` forbids; a terminal user should not see model-loading chatter.
    """
    if _log_callback:
        return
    logger = logging.getLogger("trust_lsp.llama")

    def forward(level: int, text: bytes, user_data: Any) -> None:
        del user_data
        if text:
            line = text.decode("utf-8", "replace").rstrip()
            if line:
                logger.log(_LOG_LEVELS.get(level, logging.DEBUG), "%s", line)

    callback = low.llama_log_callback(forward)
    _log_callback.append(callback)
    low.llama_log_set(callback, ctypes.c_void_p(0))


class _NoRedirect:
    """Stands in for llama-cpp-python's `suppress_stdout_stderr` (same call signature)."""

    def __init__(self, disable: bool = True) -> None:
        del disable

    def __enter__(self) -> _NoRedirect:
        return self

    def __exit__(self, *_: object) -> None:
        return None

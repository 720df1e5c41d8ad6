"""Run the real `llama_cpp.server` with Trust's guard against llama.cpp's AMX crash.

Usage is exactly that of `python -m llama_cpp.server …`. When this machine's llama.cpp
build faults in its AMX kernels (see `trust_lsp.backends.llama_runtime`), the server loads
its model with plain CPU buffers; otherwise it runs unchanged.
"""

from __future__ import annotations

import contextlib
import ctypes
import runpy
import signal
import sys
from pathlib import Path

from trust_lsp.backends.llama_runtime import extra_buffers_safe, load_guard


def _model_arg(argv: list[str]) -> Path | None:
    for i, arg in enumerate(argv):
        if arg == "--model" and i + 1 < len(argv):
            return Path(argv[i + 1])
        if arg.startswith("--model="):
            return Path(arg.split("=", 1)[1])
    return None


def _die_with_parent() -> None:
    """Get SIGTERM when the process that started this one dies: no orphaned servers."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def main() -> None:
    _die_with_parent()
    model = _model_arg(sys.argv[1:])
    safe = model is None or extra_buffers_safe(model)
    with load_guard(use_extra_bufts=safe):
        sys.argv[0] = "llama_cpp.server"
        runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()

"""The real embedded model (gemma3 270M via LocalBackend) offered one workspace tool with a
forced call produces a call that passes the registry's validation.

The model is tiny and weak, so nothing is asserted about *what* it asks for; the point is
that llama.cpp's grammar, built from the tool's own JSON schema (required keys, types,
`additionalProperties: false`, length and range limits), yields arguments the registry
accepts, so a forced call never comes back as "malformed" or "invalid".
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.fakes.model_fixtures import require_package
from tests.fakes.workspace_host import FakeHost
from trust_lsp.backends.base import ChatRequest, GenerationOptions, Message, ToolCall
from trust_lsp.backends.local import LocalBackend
from trust_lsp.config.settings import LocalSettings, Settings, ToolsSettings
from trust_lsp.tools.registry import ToolContext
from trust_lsp.tools.sandbox import WorkspaceSandbox
from trust_lsp.tools.workspace import build_registry

pytestmark = pytest.mark.model
async_test = pytest.mark.asyncio(loop_scope="module")

# The simplest schema (one required string, optional integers with minimum) and the
# richest (three required strings, a boolean, no extra keys).
PROMPTS = {
    "read_file": "Read lines 1 to 3 of the file app.py.",
    "edit_file": "In app.py, replace 'MAGIC = 1' with 'MAGIC = 2'.",
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def backend(gguf_path: Path) -> AsyncIterator[LocalBackend]:
    require_package("llama_cpp", "the embedded backend runs llama.cpp")
    settings = LocalSettings(
        model_path=str(gguf_path), n_ctx=2048, n_threads=min(2, os.cpu_count() or 1)
    )
    local = LocalBackend(lambda: settings)
    yield local
    await local.aclose()


@async_test
@pytest.mark.parametrize("tool", list(PROMPTS))
async def test_forced_call_passes_validation(
    backend: LocalBackend, tmp_path: Path, tool: str
) -> None:
    (tmp_path / "app.py").write_text("MAGIC = 1\nprint(MAGIC)\n")
    tools = ToolsSettings(write_approval="never")  # a valid edit_file call is then refused
    registry = build_registry(lambda: Settings(tools=tools))
    (spec,) = registry.specs([tool])
    request = ChatRequest(
        model="",
        messages=[Message("user", PROMPTS[tool])],
        tools=[spec],
        tool_choice=tool,
        # Bounded: a valid call is ~30 tokens; the grammar closes the object in time.
        options=GenerationOptions(temperature=0.0, max_tokens=96),
    )
    calls = [e async for e in backend.stream_chat(request) if isinstance(e, ToolCall)]
    assert len(calls) == 1
    (call,) = calls
    assert call.name == tool
    assert call.arguments is not None, call.raw_arguments

    host = FakeHost([tmp_path])
    context = ToolContext(host, WorkspaceSandbox([tmp_path]), tools)
    result = await registry.execute(call, context)
    # Validation passed: whatever happened next (file not found, edit refused by policy)
    # is the tool's own answer, not a schema complaint.
    assert result.error not in ("malformed_arguments", "invalid_arguments", "unknown_tool"), (
        call.raw_arguments,
        result.content,
    )
    assert host.edits == []

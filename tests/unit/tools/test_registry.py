"""ToolRegistry: validation before execution, errors as tool results, limits, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.workspace_host import FakeHost
from trust_lsp.backends.base import ToolCall
from trust_lsp.config.settings import Settings, ToolsSettings
from trust_lsp.core.metrics import Metrics
from trust_lsp.errors import ToolExecutionError, ValidationError
from trust_lsp.tools.registry import (
    Tool,
    ToolContext,
    ToolOutput,
    ToolRegistry,
    describe_parameters,
    truncate_output,
)
from trust_lsp.tools.sandbox import WorkspaceSandbox

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "path": {"type": "string", "minLength": 1},
        "count": {"type": "integer", "minimum": 1, "maximum": 10},
        "mode": {"type": "string", "enum": ["fast", "slow"]},
        "flag": {"type": "boolean"},
    },
    "required": ["path"],
    "additionalProperties": False,
}


class RecordingMetrics:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []

    def record_tool(self, name: str, seconds: float, error: str | None) -> None:
        assert seconds >= 0
        self.calls.append((name, error))


def make_registry(
    impl: Any = None, *, tools: ToolsSettings | None = None
) -> tuple[ToolRegistry, list[Mapping[str, Any]], RecordingMetrics]:
    ran: list[Mapping[str, Any]] = []

    async def echo(context: ToolContext, args: Mapping[str, Any]) -> ToolOutput:
        ran.append(args)
        return ToolOutput(f"echo {args['path']}", "echoed")

    settings = Settings(tools=tools or ToolsSettings(enabled=["echo", "other"]))
    metrics = RecordingMetrics()
    registry = ToolRegistry(lambda: settings, metrics)
    registry.register(
        Tool("echo", "Echo a path.", SCHEMA, impl or echo, lambda a: f"echo {a['path']}")
    )
    registry.register(Tool("other", "Other.", {"type": "object", "properties": {}}, impl or echo))
    registry.register(Tool("hidden", "Not enabled.", {"type": "object"}, impl or echo))
    return registry, ran, metrics


def context(tmp_path: Path, tools: ToolsSettings | None = None) -> ToolContext:
    host = FakeHost([tmp_path])
    settings = tools or ToolsSettings()
    settings.enabled = ["echo", "other"]
    return ToolContext(host, WorkspaceSandbox([tmp_path]), settings)


def call(name: str, arguments: Mapping[str, Any] | None, raw: str = "{}") -> ToolCall:
    return ToolCall(name=name, arguments=arguments, raw_arguments=raw)


async def test_valid_call_runs(tmp_path: Path) -> None:
    registry, ran, metrics = make_registry()
    result = await registry.execute(call("echo", {"path": "a.py", "count": 3}), context(tmp_path))
    assert result.ok
    assert result.content == "echo a.py"
    assert result.summary == "echoed"
    assert result.error is None
    assert ran == [{"path": "a.py", "count": 3}]
    assert metrics.calls == [("echo", None)]


INVALID = [
    ({}, "'path' is a required property"),
    ({"path": 3}, "path: 3 is not of type 'string'"),
    ({"path": ""}, "path: '' should be non-empty"),
    ({"path": "a", "count": 0}, "count: 0 is less than the minimum of 1"),
    ({"path": "a", "count": 11}, "count: 11 is greater than the maximum of 10"),
    ({"path": "a", "count": "3"}, "count: '3' is not of type 'integer'"),
    ({"path": "a", "count": 1.5}, "count: 1.5 is not of type 'integer'"),
    ({"path": "a", "mode": "medium"}, "mode: 'medium' is not one of ['fast', 'slow']"),
    ({"path": "a", "flag": "yes"}, "flag: 'yes' is not of type 'boolean'"),
    ({"path": "a", "extra": 1}, "Additional properties are not allowed ('extra' was unexpected)"),
    ({"path": None}, "path: None is not of type 'string'"),
]


@pytest.mark.parametrize(("arguments", "problem"), INVALID)
async def test_schema_violations_become_tool_results(
    tmp_path: Path, arguments: dict[str, Any], problem: str
) -> None:
    registry, ran, metrics = make_registry()
    result = await registry.execute(call("echo", arguments), context(tmp_path))
    assert not result.ok
    assert result.error == "invalid_arguments"
    assert result.content.startswith("Error: invalid arguments for echo:")
    assert problem in result.content
    # The model is told what the parameters are, so it can fix the call.
    assert "path (string, required), count (integer)" in result.content
    assert ran == []
    assert metrics.calls == [("echo", "invalid_arguments")]


async def test_every_violation_is_listed(tmp_path: Path) -> None:
    registry, _, _ = make_registry()
    result = await registry.execute(
        call("echo", {"count": 0, "flag": 1, "zzz": True}), context(tmp_path)
    )
    for problem in ("'path' is a required", "count: 0 is less", "flag: 1 is not", "'zzz'"):
        assert problem in result.content


async def test_malformed_arguments_show_what_was_received(tmp_path: Path) -> None:
    registry, ran, metrics = make_registry()
    result = await registry.execute(call("echo", None, raw='{"path": "a.py",'), context(tmp_path))
    assert not result.ok
    assert result.error == "malformed_arguments"
    assert "not a JSON object" in result.content
    assert '{"path": "a.py",' in result.content
    assert "path (string, required)" in result.content
    assert ran == []
    assert metrics.calls == [("echo", "malformed_arguments")]


@pytest.mark.parametrize("name", ["nope", "hidden", ""])
async def test_unknown_or_disabled_tools_list_the_available_ones(tmp_path: Path, name: str) -> None:
    registry, ran, metrics = make_registry()
    result = await registry.execute(
        call(name, {}), context(tmp_path, ToolsSettings(enabled=["echo", "other"]))
    )
    assert not result.ok
    assert result.error == "unknown_tool"
    assert f"there is no tool named '{name}'" in result.content
    assert "Available tools: echo, other." in result.content
    assert ran == []
    assert metrics.calls == [(name, "unknown_tool")]


async def test_slow_tool_is_stopped_at_the_time_limit(tmp_path: Path) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def slow(context: ToolContext, args: Mapping[str, Any]) -> ToolOutput:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return ToolOutput("never", "never")

    registry, _, metrics = make_registry(slow)
    result = await registry.execute(
        call("echo", {"path": "a"}), context(tmp_path, ToolsSettings(timeout_s=0.05))
    )
    assert started.is_set() and cancelled.is_set()
    assert not result.ok
    assert result.error == "timeout"
    assert "did not finish within 0.05 s" in result.content
    assert metrics.calls == [("echo", "timeout")]


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ValidationError("'x' is outside the workspace"), "refused"),
        (ToolExecutionError("disk on fire"), "failed"),
        (RuntimeError("bug"), "failed"),
    ],
)
async def test_tool_errors_become_results(tmp_path: Path, exc: Exception, kind: str) -> None:
    async def failing(context: ToolContext, args: Mapping[str, Any]) -> ToolOutput:
        raise exc

    registry, _, metrics = make_registry(failing)
    result = await registry.execute(call("echo", {"path": "a"}), context(tmp_path))
    assert not result.ok
    assert result.error == kind
    assert result.content.startswith("Error: ")
    assert str(exc) in result.content
    assert metrics.calls == [("echo", kind)]


async def test_long_output_is_truncated_with_a_note(tmp_path: Path) -> None:
    async def big(context: ToolContext, args: Mapping[str, Any]) -> ToolOutput:
        return ToolOutput("\n".join(f"line {i}" for i in range(5000)), "big")

    registry, _, _ = make_registry(big)
    result = await registry.execute(
        call("echo", {"path": "a"}), context(tmp_path, ToolsSettings(max_output_chars=1000))
    )
    assert result.ok
    assert len(result.content) <= 1000
    assert result.content.startswith("line 0\nline 1\n")
    assert "[output truncated:" in result.content
    total = len("\n".join(f"line {i}" for i in range(5000)))
    assert f"of {total} characters shown" in result.content


@pytest.mark.parametrize("limit", [256, 300, 1000])
def test_truncate_output_respects_the_limit(limit: int) -> None:
    text = "x" * 5000
    out = truncate_output(text, limit)
    assert len(out) <= limit
    assert out.startswith("xxx")
    assert truncate_output("short", limit) == "short"


def test_specs_follow_enabled_in_registration_order() -> None:
    registry, _, _ = make_registry()
    assert [s.name for s in registry.specs()] == ["echo", "other"]
    assert [s.name for s in registry.specs(["other", "hidden", "missing"])] == ["other", "hidden"]
    assert registry.specs([]) == []


def test_register_rejects_bad_schemas() -> None:
    registry = ToolRegistry()

    async def impl(context: ToolContext, args: Mapping[str, Any]) -> ToolOutput:
        return ToolOutput("", "")

    with pytest.raises(ValueError, match="object schema"):
        registry.register(Tool("t", "d", {"type": "string"}, impl))
    with pytest.raises(Exception, match="3 is not of type 'object'"):
        registry.register(Tool("t", "d", {"type": "object", "properties": 3}, impl))


def test_activity_lines() -> None:
    registry, _, _ = make_registry()
    assert registry.activity(call("echo", {"path": "src/a.py"})) == "echo src/a.py"
    assert registry.activity(call("echo", {})) == "calling echo"  # bad shape: no crash
    assert registry.activity(call("echo", None)) == "calling echo"
    assert registry.activity(call("nope", {})) == "calling nope"


def test_describe_parameters() -> None:
    assert describe_parameters(SCHEMA) == (
        "path (string, required), count (integer), mode (string), flag (boolean)"
    )
    assert describe_parameters({"type": "object"}) == "none"


async def test_real_metrics_count_tool_errors(tmp_path: Path) -> None:
    registry, _, _ = make_registry()
    metrics = Metrics()
    registry.metrics = metrics
    await registry.execute(call("echo", {"path": "a"}), context(tmp_path))
    await registry.execute(call("echo", {}), context(tmp_path))
    await registry.execute(call("nope", {}), context(tmp_path))
    tools = metrics.snapshot()["tools"]
    assert tools["echo"]["count"] == 2
    assert tools["echo"]["errors"] == 1
    assert tools["nope"] == {"count": 1, "errors": 1, "mean_ms": tools["nope"]["mean_ms"]}

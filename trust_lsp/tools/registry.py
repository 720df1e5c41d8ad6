"""The tool registry: what the model may call, validated before anything runs.

A tool is a name, a description, a JSON-schema object of parameters and an async
implementation. `ToolRegistry.specs()` hands the enabled tools to the core as `ToolSpec`s
(each backend puts them on the wire in its own shape: Ollama's native `tools`, the
OpenAI-compatible `tools`, or a prompt plus a JSON grammar for the embedded model).

`ToolRegistry.execute()` never raises for anything the model did: an unknown tool,
arguments that are not a JSON object, arguments that break the schema, a tool that fails or
runs out of time — each becomes a tool result that tells the model what went wrong, so it
can correct itself, and is counted in the metrics.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from trust_lsp.backends.base import ToolCall, ToolSpec
from trust_lsp.config.settings import Settings, ToolsSettings
from trust_lsp.errors import TrustError, ValidationError
from trust_lsp.tools.host import WorkspaceHost
from trust_lsp.tools.sandbox import WorkspaceSandbox

__all__ = [
    "Tool",
    "ToolContext",
    "ToolMetrics",
    "ToolOutput",
    "ToolRegistry",
    "ToolResult",
    "describe_parameters",
    "truncate_output",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


class ToolMetrics(Protocol):
    """The part of `core.metrics.Metrics` the registry uses."""

    def record_tool(self, name: str, seconds: float, error: str | None) -> None: ...


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """What a tool implementation returns: text for the model, a one-line summary for people."""

    text: str
    summary: str


@dataclass(slots=True)
class ToolContext:
    """What a tool runs with: the editor, the sandbox and the tool settings of this turn."""

    host: WorkspaceHost
    sandbox: WorkspaceSandbox
    settings: ToolsSettings
    metrics: ToolMetrics | None = None  # used when the registry has none of its own
    deadline: asyncio.Timeout | None = None  # the running call's time limit

    async def wait_for_user(self, awaitable: Awaitable[T]) -> T:
        """Await something the user answers (an approval) with the time limit paused.

        A person may take longer than `tools.timeout_s` to decide; the limit is for the
        tool's own work. Afterwards the call gets the time it had left (at least 5 s).
        """
        deadline = self.deadline
        when = deadline.when() if deadline is not None else None
        if deadline is None or when is None:
            return await awaitable
        loop = asyncio.get_running_loop()
        remaining = when - loop.time()
        deadline.reschedule(None)
        try:
            return await awaitable
        finally:
            deadline.reschedule(loop.time() + max(remaining, 5.0))


ToolImpl = Callable[[ToolContext, Mapping[str, Any]], Awaitable[ToolOutput]]


@dataclass(frozen=True, slots=True)
class Tool:
    """One tool. `activity` renders the progress line shown while it runs."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    run: ToolImpl
    activity: Callable[[Mapping[str, Any]], str] | None = None

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.parameters)


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The outcome of one call. `content` goes back to the model; `summary` to people."""

    name: str
    arguments: Mapping[str, Any] | None
    ok: bool
    content: str
    summary: str
    # unknown_tool | malformed_arguments | invalid_arguments | refused | declined | failed
    # | timeout; None when the call succeeded
    error: str | None = None
    seconds: float = 0.0


@dataclass
class ToolRegistry:
    """The tools known to Trust, and the one place where calls are checked and run.

    `settings` is read at every call so live configuration changes (enabled tools, time
    limit, output limit, approval policy) apply to the next call.
    """

    settings: Callable[[], Settings] = Settings
    metrics: ToolMetrics | None = None
    _tools: dict[str, Tool] = field(default_factory=dict)
    _validators: dict[str, Draft202012Validator] = field(default_factory=dict)

    def register(self, tool: Tool) -> None:
        """Add a tool; its parameter schema is checked here, once."""
        Draft202012Validator.check_schema(dict(tool.parameters))
        if tool.parameters.get("type") != "object":
            raise ValueError(f"tool {tool.name}: parameters must be an object schema")
        self._tools[tool.name] = tool
        self._validators[tool.name] = Draft202012Validator(dict(tool.parameters))

    def register_all(self, tools: Iterable[Tool]) -> None:
        for tool in tools:
            self.register(tool)

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def enabled_names(self, enabled: Sequence[str] | None = None) -> list[str]:
        """Registered tools that are enabled (`tools.enabled` when `enabled` is None)."""
        wanted = set(self.settings().tools.enabled if enabled is None else enabled)
        return [name for name in self._tools if name in wanted]

    def specs(self, enabled: Sequence[str] | None = None) -> list[ToolSpec]:
        """The enabled tools as `ToolSpec`s, in registration order."""
        return [self._tools[name].spec for name in self.enabled_names(enabled)]

    def activity(self, call: ToolCall) -> str:
        """A short progress line for a call, e.g. "reading src/app.py"."""
        tool = self._tools.get(call.name)
        if tool is not None and tool.activity is not None and call.arguments is not None:
            try:
                return tool.activity(call.arguments)
            except Exception:  # a bad argument shape is reported by execute(), not here
                pass
        return f"calling {call.name}"

    async def execute(
        self, call: ToolCall, context: ToolContext, *, enabled: Sequence[str] | None = None
    ) -> ToolResult:
        """Check and run one call. Never raises for the model's mistakes or tool failures."""
        started = time.monotonic()
        result = await self._execute(call, context, enabled)
        seconds = time.monotonic() - started
        result = ToolResult(
            name=result.name,
            arguments=result.arguments,
            ok=result.ok,
            content=truncate_output(result.content, context.settings.max_output_chars),
            summary=result.summary,
            error=result.error,
            seconds=seconds,
        )
        metrics = self.metrics if self.metrics is not None else context.metrics
        if metrics is not None:
            metrics.record_tool(call.name, seconds, result.error)
        return result

    async def _execute(
        self, call: ToolCall, context: ToolContext, enabled: Sequence[str] | None
    ) -> ToolResult:
        available = self.enabled_names(context.settings.enabled if enabled is None else enabled)
        tool = self._tools.get(call.name)
        if tool is None or call.name not in available:
            listing = ", ".join(available) or "none"
            return _failure(
                call,
                "unknown_tool",
                f"Error: there is no tool named '{call.name}'. Available tools: {listing}.",
                f"unknown tool {call.name}",
            )
        if call.arguments is None:
            return _failure(
                call,
                "malformed_arguments",
                f"Error: the arguments of {call.name} were not a JSON object "
                f"(received: {_clip(call.raw_arguments, 200)!r}). Call it again with a JSON "
                f"object of parameters: {describe_parameters(tool.parameters)}.",
                "malformed arguments",
            )
        problems = _schema_problems(self._validators[tool.name], call.arguments)
        if problems:
            listing = "\n".join(f"- {problem}" for problem in problems)
            return _failure(
                call,
                "invalid_arguments",
                f"Error: invalid arguments for {call.name}:\n{listing}\n"
                f"Parameters: {describe_parameters(tool.parameters)}. Fix the arguments and "
                "call the tool again.",
                "invalid arguments: " + problems[0],
            )
        try:
            async with asyncio.timeout(context.settings.timeout_s) as deadline:
                context.deadline = deadline
                output = await tool.run(context, call.arguments)
        except TimeoutError:
            seconds = context.settings.timeout_s
            return _failure(
                call,
                "timeout",
                f"Error: {call.name} did not finish within {seconds:g} s and was stopped. "
                "Try a narrower request (a smaller path, a more specific pattern).",
                f"timed out after {seconds:g} s",
            )
        except ValidationError as exc:
            return _failure(call, "refused", f"Error: {exc.message}", exc.message)
        except TrustError as exc:
            kind = "declined" if exc.kind == "declined" else "failed"
            return _failure(call, kind, f"Error: {exc.message}", exc.message)
        except Exception as exc:
            # A bug in a tool must not end the chat: log it, tell the model, go on.
            log.exception("tool %s failed", call.name)
            message = f"{call.name} failed: {type(exc).__name__}: {exc}"
            return _failure(call, "failed", f"Error: {message}", message)
        finally:
            context.deadline = None
        return ToolResult(call.name, call.arguments, True, output.text, output.summary)


def _failure(call: ToolCall, kind: str, content: str, summary: str) -> ToolResult:
    return ToolResult(call.name, call.arguments, False, content, _clip(summary, 200), kind)


def _schema_problems(validator: Draft202012Validator, arguments: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    for error in sorted(validator.iter_errors(dict(arguments)), key=lambda e: list(e.path)):
        # For anyOf/oneOf the most relevant sub-error says more than "is not valid under…".
        detail = best_match([error, *error.context]) if error.context else error
        where = ".".join(str(part) for part in error.path)
        problems.append(f"{where}: {detail.message}" if where else detail.message)
    return problems


def describe_parameters(schema: Mapping[str, Any]) -> str:
    """A compact signature of an object schema, e.g. `path (string, required), limit (integer)`."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", ()))
    parts = []
    for name, prop in properties.items():
        kind = prop.get("type", "any") if isinstance(prop, Mapping) else "any"
        kind_text = "/".join(kind) if isinstance(kind, list) else str(kind)
        flag = ", required" if name in required else ""
        parts.append(f"{name} ({kind_text}{flag})")
    return ", ".join(parts) if parts else "none"


def truncate_output(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, with a note that says so."""
    if len(text) <= limit:
        return text
    note = (
        f"\n… [output truncated: {{shown}} of {len(text)} characters shown. "
        "Ask for less: a line range, a narrower path or a more specific pattern.]"
    )
    keep = max(0, limit - len(note.format(shown=limit)))
    cut = text.rfind("\n", 0, keep)
    if cut < keep // 2:  # no line break near the end: cut mid-line rather than lose half
        cut = keep
    return text[:cut] + note.format(shown=cut)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"

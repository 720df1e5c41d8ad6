"""The `Backend` protocol and the typed values that cross it.

Every backend (Ollama native API, OpenAI-compatible HTTP, embedded llama.cpp) takes the same
requests and yields the same stream of events; they differ only in wire format. Cancelling
the task that consumes a stream closes the HTTP response (or stops llama.cpp at the next
token): backends must release everything in `finally` / `async with` blocks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant", "tool"]
Purpose = Literal["chat", "completion"]
FimMode = Literal["suffix", "template", "prefix"]


# --- stream events -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of generated text, in order."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The model asks to run a tool.

    `arguments` is the parsed JSON object, or None when the model produced something that is
    not a JSON object; `raw_arguments` always holds what the model sent (as JSON text), so the
    tool layer can tell the model what was wrong.
    """

    name: str
    arguments: Mapping[str, Any] | None
    raw_arguments: str
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts and timings, when the backend reports them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_ms: float | None = None
    generation_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Done:
    """The stream ended normally. `reason`: stop | length | tool_calls | load."""

    reason: str = "stop"


StreamEvent = TextDelta | ToolCall | Usage | Done


# --- requests ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_name: str | None = None  # for role="tool": which tool produced this result
    tool_call_id: str | None = None  # for role="tool" on OpenAI-compatible servers


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool offered to the model: JSON-schema `parameters` (an object schema)."""

    name: str
    description: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class GenerationOptions:
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: Sequence[Message]
    tools: Sequence[ToolSpec] = ()
    # Name of a tool the model must call (grammar-constrained where the backend needs it).
    tool_choice: str | None = None
    options: GenerationOptions = field(default_factory=GenerationOptions)


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """Code completion at a cursor: the backend chooses how to fill in the middle.

    With `suffix` empty the request is a plain continuation of `prefix`. The backend picks
    the FIM mode per model (see `backends.fim`): the server's own suffix support, the
    family's FIM template sent raw, or prefix only.
    """

    model: str
    prefix: str
    suffix: str = ""
    options: GenerationOptions = field(default_factory=GenerationOptions)


# --- model and health information ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    size: int | None = None
    family: str | None = None
    parameter_size: str | None = None
    quantization: str | None = None
    capabilities: frozenset[str] = frozenset()  # e.g. completion, insert, tools, thinking
    context_length: int | None = None


@dataclass(frozen=True, slots=True)
class HealthStatus:
    ok: bool
    detail: str
    version: str | None = None
    latency_ms: float | None = None


@dataclass(frozen=True, slots=True)
class PullProgress:
    """One step of a model download (Ollama's pull stream)."""

    status: str
    digest: str | None = None
    total: int | None = None
    completed: int | None = None


# --- the protocol --------------------------------------------------------------------------


@runtime_checkable
class Backend(Protocol):
    """What the core needs from a model server."""

    @property
    def name(self) -> str:
        """The configured name: "ollama", "local" or "cloud"."""
        ...

    @property
    def is_cloud(self) -> bool:
        """True when requests leave the machine (subject to the privacy gate)."""
        ...

    def model_for(self, purpose: Purpose) -> str:
        """The configured model for chat or for completion."""
        ...

    def stream_chat(self, request: ChatRequest) -> AsyncIterator[StreamEvent]: ...

    def stream_completion(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]: ...

    async def list_models(self) -> list[ModelInfo]: ...

    async def model_info(self, model: str) -> ModelInfo:
        """Details and capabilities; raises ModelNotFoundError when the model is missing."""
        ...

    async def health(self) -> HealthStatus:
        """A cheap check. Never raises: a failure is `HealthStatus(ok=False, detail=…)`."""
        ...

    async def preheat(self, model: str) -> None:
        """Load the model so the first real request is fast."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class PullableBackend(Backend, Protocol):
    """A backend that can download a missing model (Ollama)."""

    def pull(self, model: str) -> AsyncIterator[PullProgress]: ...

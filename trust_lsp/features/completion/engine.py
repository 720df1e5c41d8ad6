"""The completion engine: what the LSP server calls for inline and classic completion.

One engine per server. Per document it keeps at most one request waiting and one
generation in flight:

- `complete()` (inline completion) answers from the cache when it can (exact position or
  typed along a cached suggestion), shares a generation in flight when the user types along
  it (also across a `$/cancelRequest`, if the next request comes within 50 ms), and
  otherwise waits `completion.debounce_ms` before asking the generator (longer for a slow
  typist: 1.25 × their usual pause between keys, at most twice the setting). A newer
  `complete()` for the same document supersedes the older one, which returns `[]` at once;
  a generation nobody follows any more is cancelled, which closes the backend stream.
- `from_cache()` answers instantly, without the backend (classic completion).
- `complete_in_background()` starts (or joins) a generation whose result lands in the
  cache, for the next `from_cache()`.

Errors never reach the editor: they are logged and the answer is empty.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from trust_lsp.backends.base import Done, GenerationOptions, TextDelta
from trust_lsp.config.settings import CompletionSettings, Settings
from trust_lsp.core.types import GenerationRequest, GeneratorEvent, RequestKind, Selected
from trust_lsp.errors import TrustError
from trust_lsp.features.completion.cache import CompletionCache, CursorKey
from trust_lsp.features.completion.context import WindowIndex, build_prompt
from trust_lsp.features.completion.postprocess import (
    CursorContext,
    complete_lines,
    completion_mode,
    drop_unfinished_line,
    is_finished,
    postprocess,
    stop_sequences,
)
from trust_lsp.features.completion.scheduler import (
    Generation,
    KeystrokeRhythm,
    Tickets,
    adaptive_debounce,
    unless_superseded,
)
from trust_lsp.features.completion.types import DocumentSnapshot, Suggestion

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

# Text around the cursor kept for post-processing and cache keys (the prompt builder sees
# the whole document).
CURSOR_WINDOW_CHARS = 4096
# The same failure is logged at WARNING once per this many seconds, then at DEBUG.
FAILURE_LOG_INTERVAL_S = 60.0
# After $/cancelRequest, how long a generation waits for the next request to join it.
ADOPT_GRACE_S = 0.05
# How much of "text before the cursor + suggestion" identifies a suggestion for counting.
SHOWN_IDENTITY_CHARS = 256


class CompletionGenerator(Protocol):
    """What the engine needs from `trust_lsp.core.generator.Generator`."""

    def stream(self, request: GenerationRequest) -> AsyncIterator[GeneratorEvent]: ...


class CompletionMetrics(Protocol):
    """What the engine needs from `trust_lsp.core.metrics.Metrics`."""

    def record_completion_shown(self, count: int = 1) -> None: ...


@dataclass(frozen=True, slots=True)
class _Cursor:
    doc: DocumentSnapshot
    offset: int
    key: CursorKey
    ctx: CursorContext

    @property
    def before(self) -> str:
        return self.ctx.prefix

    @property
    def after(self) -> str:
        return self.ctx.suffix


class CompletionEngine:
    """Inline and classic AI completion for the documents of one server."""

    def __init__(
        self,
        generator: CompletionGenerator,
        settings: Callable[[], Settings],
        *,
        metrics: CompletionMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """`settings` is read on every request, so configuration changes apply at once.

        `clock` (seconds, monotonic) drives the cache's time-to-live; `sleep` the debounce.
        Tests inject both.
        """
        self._generator = generator
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep
        self._cache = CompletionCache(lambda: settings().completion.cache_size, clock=clock)
        self._tickets = Tickets()
        self._inflight: dict[str, Generation] = {}
        self._background: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[object]] = set()
        self._edited: dict[str, float] = {}
        self._rhythm = KeystrokeRhythm()
        self._windows = WindowIndex()
        self._last_shown: dict[str, str] = {}
        self._last_failure: tuple[str, float] | None = None

    # --- public API -------------------------------------------------------------------------

    async def complete(
        self,
        doc: DocumentSnapshot,
        offset: int,
        *,
        others: Sequence[DocumentSnapshot] = (),
    ) -> list[Suggestion]:
        """Suggestions for the cursor at `offset` (a Python string index into `doc.text`).

        Returns `[]` at once when a newer request for the same document arrives. Cancelling
        the calling task cancels the generation (unless another request shares it).
        """
        cfg = self._settings().completion
        ticket = self._tickets.take(doc.uri)
        self.note_edit(doc.uri)
        self._rhythm.note(doc.uri, self._clock())
        try:
            if not cfg.enabled:
                return []
            cursor = self._cursor(doc, offset, cfg)
            logger.debug(
                "complete %s v%d at %d (%s)", doc.uri, doc.version, offset, cursor.ctx.mode
            )
            debounced = False
            while True:
                found = self._cache.get(doc.uri, cursor.before, cursor.after)
                if found is not None:
                    return self._shown(cursor, found)
                if cursor.ctx.mode == "none":
                    return []
                generation = self._shareable(cursor)
                if generation is None:
                    if not debounced:
                        debounced = True
                        pause = self._sleep(self._debounce_s(doc.uri, cfg))
                        done, _ = await unless_superseded(pause, ticket)
                        if not done:
                            return []
                        continue  # the cache or a generation may serve this position now
                    generation = self._start(cursor, others, cfg, keep=False)
                    logger.debug("completion request for %s at %d", doc.uri, cursor.offset)
                generation.waiters += 1
                try:
                    done, result = await unless_superseded(_outcome(generation), ticket)
                except asyncio.CancelledError:
                    self._release_after_grace(generation)
                    raise
                generation.release()
                if not done or result is None:
                    return []
                if generation.key == cursor.key:
                    return self._shown(cursor, list(result))
                # Shared along typed text: the loop serves the rest of the suggestion from
                # the cache, or (when the output went elsewhere) asks again at once.
                debounced = True
        finally:
            self._tickets.release(ticket)

    def from_cache(self, doc: DocumentSnapshot, offset: int) -> list[Suggestion] | None:
        """Cached suggestions for the cursor (exact or typed along), None on a miss.

        Never contacts the backend; takes microseconds.
        """
        cfg = self._settings().completion
        if not cfg.enabled:
            return []
        cursor = self._cursor(doc, offset, cfg)
        found = self._cache.get(doc.uri, cursor.before, cursor.after)
        return None if found is None else self._shown(cursor, found)

    def complete_in_background(
        self,
        doc: DocumentSnapshot,
        offset: int,
        others: Sequence[DocumentSnapshot] = (),
    ) -> None:
        """Start (after the debounce) or join a generation whose result lands in the cache.

        For classic completion: the handler answers from `from_cache()` and calls this on a
        miss; a later request at this position (or typed along) finds the result. Must be
        called from the event loop's thread; returns at once.
        """
        cfg = self._settings().completion
        if not cfg.enabled:
            return
        self.note_edit(doc.uri)
        self._rhythm.note(doc.uri, self._clock())
        previous = self._background.pop(doc.uri, None)
        if previous is not None:
            previous.cancel()
        cursor = self._cursor(doc, offset, cfg)
        task = self._spawn(self._run_background(cursor, tuple(others), cfg))
        self._background[doc.uri] = task
        task.add_done_callback(lambda t: self._forget_background(doc.uri, t))

    def is_generating(self, uri: str) -> bool:
        """True while a generation (or a debounce before one) is pending for the document;
        the server answers classic completion with `isIncomplete: true` meanwhile."""
        generation = self._inflight.get(uri)
        if generation is not None and generation.running:
            return True
        pending = self._background.get(uri)
        return pending is not None and not pending.done()

    def note_edit(self, uri: str) -> None:
        """Record that a document was just edited (ranks it first among `others`)."""
        self._edited[uri] = self._clock()

    def cancel(self, uri: str) -> None:
        """Stop all work for a document: waiting requests return `[]`, streams close."""
        self._tickets.supersede(uri)
        pending = self._background.pop(uri, None)
        if pending is not None:
            pending.cancel()
        generation = self._inflight.pop(uri, None)
        if generation is not None:
            generation.cancel()

    def close_document(self, uri: str) -> None:
        """The document was closed: cancel its work and forget its cached completions."""
        self.cancel(uri)
        self._cache.evict(uri)
        self._edited.pop(uri, None)
        self._rhythm.forget(uri)
        self._windows.forget(uri)
        self._last_shown.pop(uri, None)

    def close(self) -> None:
        """Cancel everything (waiting requests return `[]`). Does not wait."""
        self._tickets.supersede_all()
        for task in list(self._tasks):
            task.cancel()
        self._inflight.clear()
        self._background.clear()

    async def aclose(self) -> None:
        """Cancel everything and wait until every task has finished."""
        tasks = list(self._tasks)
        self.close()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- internals --------------------------------------------------------------------------

    def _cursor(self, doc: DocumentSnapshot, offset: int, cfg: CompletionSettings) -> _Cursor:
        offset = max(0, min(offset, len(doc.text)))
        before = doc.text[max(0, offset - CURSOR_WINDOW_CHARS) : offset]
        after = doc.text[offset : offset + CURSOR_WINDOW_CHARS]
        mode = completion_mode(before, after, cfg.multiline)
        ctx = CursorContext(
            prefix=before,
            suffix=after,
            mode=mode,
            language_id=doc.language_id,
            stops=stop_sequences(mode, doc.language_id),
        )
        return _Cursor(doc, offset, CursorKey.of(doc.uri, before, after), ctx)

    def _debounce_s(self, uri: str, cfg: CompletionSettings) -> float:
        return adaptive_debounce(cfg.debounce_ms / 1000, self._rhythm.intervals(uri))

    def _release_after_grace(self, generation: Generation) -> None:
        """The caller was cancelled ($/cancelRequest): stop the generation unless the next
        request joins it within ADOPT_GRACE_S.

        Editors such as VS Code cancel the pending request on every keystroke, just before
        sending the next one; when that one types along the output, it keeps the stream.
        """
        generation.waiters -= 1
        if generation.waiters > 0 or generation.keep or not generation.running:
            return

        async def stop_unless_joined() -> None:
            await self._sleep(ADOPT_GRACE_S)
            if generation.waiters <= 0 and not generation.keep:
                generation.cancel()

        self._spawn(stop_unless_joined())

    def _shareable(self, cursor: _Cursor) -> Generation | None:
        """The document's generation in flight if this cursor follows it; a generation the
        cursor has moved away from is cancelled."""
        generation = self._inflight.get(cursor.doc.uri)
        if generation is None:
            return None
        if generation.running and generation.follows(cursor.before, cursor.after):
            return generation
        generation.cancel()
        del self._inflight[cursor.doc.uri]
        return None

    def _start(
        self,
        cursor: _Cursor,
        others: Sequence[DocumentSnapshot],
        cfg: CompletionSettings,
        *,
        keep: bool,
    ) -> Generation:
        uri = cursor.doc.uri
        generation = Generation(key=cursor.key, ctx=cursor.ctx, keep=keep)
        task = self._spawn(self._generate(generation, cursor, others, cfg))
        generation.task = task
        self._inflight[uri] = generation

        def finished(_: object) -> None:
            if self._inflight.get(uri) is generation:
                del self._inflight[uri]

        task.add_done_callback(finished)
        return generation

    def _request(
        self, cursor: _Cursor, others: Sequence[DocumentSnapshot], cfg: CompletionSettings
    ) -> GenerationRequest:
        prompt = build_prompt(
            cursor.doc, cursor.offset, cfg, self._by_recency(others), self._windows
        )
        return GenerationRequest(
            kind=RequestKind.COMPLETION,
            completion=prompt,
            options=GenerationOptions(
                max_tokens=cfg.max_tokens,
                temperature=cfg.temperature,
                stop=cursor.ctx.stops,
            ),
            group=cursor.doc.uri,
            timeout_s=cfg.timeout_s,
        )

    async def _generate(
        self,
        generation: Generation,
        cursor: _Cursor,
        others: Sequence[DocumentSnapshot],
        cfg: CompletionSettings,
    ) -> tuple[Suggestion, ...] | None:
        """Build the prompt and stream one generation; the post-processed result goes to
        the cache. None means it failed (logged; not cached, so the next request retries).
        """
        uri = generation.key.uri
        try:
            request = self._request(cursor, others, cfg)
            async with asyncio.timeout(cfg.timeout_s):
                await self._consume(generation, request)
            suggestion = postprocess(generation.partial, generation.ctx)
        except asyncio.CancelledError:
            self._salvage(generation)
            raise
        except TimeoutError:
            self._log_failure(uri, f"no complete answer within {cfg.timeout_s:g} s")
            return self._salvage(generation)
        except TrustError as error:
            self._log_failure(uri, str(error))
            return None
        except Exception:
            logger.exception("completion failed for %s (a bug)", uri)
            return None
        result = () if suggestion is None else (suggestion,)
        self._cache.put(generation.key, result)
        return result

    def _salvage(self, generation: Generation) -> tuple[Suggestion, ...] | None:
        """Cache the complete lines of a stream that was cut short.

        A user who typed a wrong key and deleted it is back on this generation's path: the
        lines that had arrived are then served from the cache instead of being paid for
        again. The incomplete last line is dropped (it may end mid-word).
        """
        kept = complete_lines(generation.partial)
        if kept is None:
            return None
        try:
            suggestion = postprocess(kept, generation.ctx)
        except Exception:
            logger.exception("completion post-processing failed (a bug)")
            return None
        if suggestion is None:
            return None
        self._cache.put(generation.key, (suggestion,))
        return (suggestion,)

    async def _consume(self, generation: Generation, request: GenerationRequest) -> None:
        stream = self._generator.stream(request)
        try:
            async for event in stream:
                if isinstance(event, TextDelta):
                    generation.partial += event.text
                    # Judged on complete lines only, so checking at line ends is enough;
                    # leaving early closes the stream: no tokens paid for text we'd cut.
                    if "\n" in event.text and is_finished(generation.partial, generation.ctx):
                        return
                elif isinstance(event, Done) and event.reason == "length":
                    generation.partial = drop_unfinished_line(generation.partial, generation.ctx)
                elif isinstance(event, Selected):
                    logger.debug(
                        "completion for %s from %s/%s",
                        generation.key.uri,
                        event.backend,
                        event.model,
                    )
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _run_background(
        self, cursor: _Cursor, others: Sequence[DocumentSnapshot], cfg: CompletionSettings
    ) -> None:
        for first in (True, False):
            if self._cache.get(cursor.doc.uri, cursor.before, cursor.after) is not None:
                return
            if cursor.ctx.mode == "none":
                return
            generation = self._shareable(cursor)
            if generation is not None:
                generation.keep = True
                return
            if first:
                await self._sleep(self._debounce_s(cursor.doc.uri, cfg))
        self._start(cursor, others, cfg, keep=True)

    def _forget_background(self, uri: str, task: asyncio.Task[None]) -> None:
        if self._background.get(uri) is task:
            del self._background[uri]

    def _spawn(self, coro: Awaitable[_T]) -> asyncio.Task[_T]:
        task: asyncio.Task[_T] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_task_error)
        return task

    def _by_recency(self, others: Sequence[DocumentSnapshot]) -> list[DocumentSnapshot]:
        """Most recently edited first; documents never seen keep their order, after."""
        order = {id(doc): i for i, doc in enumerate(others)}
        return sorted(
            others,
            key=lambda d: (-self._edited.get(d.uri, float("-inf")), order[id(d)]),
        )

    def _shown(self, cursor: _Cursor, suggestions: list[Suggestion]) -> list[Suggestion]:
        """Count suggestions shown, each once: typing along a suggestion shows its rest
        again and again, but it is still the same suggestion (acceptance = accepted/shown).
        """
        if not suggestions or self._metrics is None:
            return suggestions
        # The text the suggestion would complete to is the same while typing along it.
        completed = (cursor.before + suggestions[0].text)[-SHOWN_IDENTITY_CHARS:]
        if self._last_shown.get(cursor.doc.uri) != completed:
            self._last_shown[cursor.doc.uri] = completed
            self._metrics.record_completion_shown(len(suggestions))
        return suggestions

    def _log_failure(self, uri: str, message: str) -> None:
        now = self._clock()
        last = self._last_failure
        repeated = (
            last is not None and last[0] == message and now - last[1] < FAILURE_LOG_INTERVAL_S
        )
        if repeated:
            logger.debug("completion failed for %s: %s", uri, message)
            return
        self._last_failure = (message, now)
        logger.warning("completion failed for %s: %s (no suggestion shown)", uri, message)


async def _outcome(generation: Generation) -> tuple[Suggestion, ...] | None:
    """The generation's result; None when it failed or was cancelled by someone else."""
    assert generation.task is not None
    try:
        return await asyncio.shield(generation.task)
    except asyncio.CancelledError:
        if generation.task.cancelled():
            return None
        raise


def _log_task_error(task: asyncio.Task[object]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("completion task failed", exc_info=task.exception())

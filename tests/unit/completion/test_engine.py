"""The completion engine with a fake generator and a manual clock (no real waiting)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from tests.unit.completion.fakes import FakeGenerator, ManualClock, settle
from trust_lsp.config.settings import Settings
from trust_lsp.core.types import GenerationRequest, RequestKind
from trust_lsp.errors import NoBackendAvailableError
from trust_lsp.features.completion.engine import CompletionEngine
from trust_lsp.features.completion.types import DocumentSnapshot, Suggestion

SettingsFactory = Callable[..., Callable[[], Settings]]
URI = "file:///w/main.py"
BASE = "def total(xs):\n    result = "


class Metrics:
    def __init__(self) -> None:
        self.shown = 0

    def record_completion_shown(self, count: int = 1) -> None:
        self.shown += count


def snap(text: str, uri: str = URI, version: int = 1) -> DocumentSnapshot:
    return DocumentSnapshot(uri, text, "python", version, "/w/main.py")


def at_end(text: str, uri: str = URI) -> tuple[DocumentSnapshot, int]:
    return snap(text + "\n", uri), len(text)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


def engine_for(
    generator: FakeGenerator,
    clock: ManualClock,
    make_settings: SettingsFactory,
    metrics: Metrics | None = None,
    **completion: object,
) -> CompletionEngine:
    return CompletionEngine(
        generator,
        make_settings(**completion),
        metrics=metrics,
        clock=clock,
        sleep=clock.sleep,
    )


async def test_debounce_coalesces_a_burst_into_one_request(
    clock: ManualClock, make_settings: SettingsFactory, metrics: Metrics
) -> None:
    generator = FakeGenerator(["sum(xs)"])
    engine = engine_for(generator, clock, make_settings, metrics, debounce_ms=150)
    typed = "sum(x"
    tasks = []
    for i in range(len(typed) + 1):
        doc, offset = at_end(BASE + typed[:i])
        tasks.append(asyncio.ensure_future(engine.complete(doc, offset)))
        await settle()
        await clock.advance(0.1)  # faster than the debounce
    assert generator.requests == []
    await clock.advance(0.05)
    results = await asyncio.gather(*tasks)
    assert results[:-1] == [[]] * len(typed)
    assert len(generator.requests) == 1
    request = generator.requests[0]
    assert request.kind is RequestKind.COMPLETION
    assert request.group == URI
    assert request.completion is not None
    assert request.completion.prefix.endswith(BASE + typed)
    assert request.options.stop == ("\n",)
    assert request.options.max_tokens == 96
    assert request.options.temperature == pytest.approx(0.2)
    # "sum(xs)" after "sum(x": the request was at the end of the burst.
    assert results[-1] == [Suggestion("sum(xs)")]
    assert metrics.shown == 1


async def test_superseded_request_returns_at_once_and_its_stream_is_cancelled(
    clock: ManualClock, make_settings: SettingsFactory
) -> None:
    generator = FakeGenerator(["first_", "part"], hold=True)
    engine = engine_for(generator, clock, make_settings, debounce_ms=100)
    doc, offset = at_end(BASE)
    older = asyncio.ensure_future(engine.complete(doc, offset))
    await settle()
    await clock.advance(0.1)
    assert len(generator.requests) == 1 and not older.done()
    # The user moved on: a different position that does not follow the output.
    doc2, offset2 = at_end(BASE + "len(")
    newer = asyncio.ensure_future(engine.complete(doc2, offset2))
    await settle()
    assert older.done() and older.result() == []
    assert generator.streams[0].closed_early
    assert generator.streams[0].sent == ["first_"]
    newer.cancel()
    await settle()


async def test_superseded_while_debouncing_never_reaches_the_backend(
    clock: ManualClock, make_settings: SettingsFactory
) -> None:
    generator = FakeGenerator(["value"])
    engine = engine_for(generator, clock, make_settings)
    doc, offset = at_end(BASE)
    older = asyncio.ensure_future(engine.complete(doc, offset))
    await settle()
    doc2, offset2 = at_end(BASE + "x")
    newer = asyncio.ensure_future(engine.complete(doc2, offset2))
    await settle()
    assert older.done() and older.result() == []
    await clock.advance(1)
    assert await newer == [Suggestion("value")]
    assert len(generator.requests) == 1


async def test_cancelling_complete_cancels_the_generation(
    clock: ManualClock, make_settings: SettingsFactory
) -> None:
    generator = FakeGenerator(["abc_", "def"], hold=True)
    engine = engine_for(generator, clock, make_settings)
    doc, offset = at_end(BASE)
    task = asyncio.ensure_future(engine.complete(doc, offset))
    await settle()
    await clock.advance(1)
    assert len(generator.requests) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await settle()
    # A short grace lets the next request join the stream (editors cancel, then ask again).
    assert not generator.streams[0].closed_early
    await clock.advance(0.05)
    assert generator.streams[0].closed_early
    assert not engine.is_generating(URI)


async def test_a_request_right_after_a_cancelled_one_joins_its_stream(
    clock: ManualClock, make_settings: SettingsFactory
) -> None:
    generator = FakeGenerator(["sum", "(xs)"], hold=True)
    engine = engine_for(generator, clock, make_settings)
    task = asyncio.ensure_future(engine.complete(*at_end(BASE)))
    await settle()
    await clock.advance(1)
    task.cancel()  # $/cancelRequest, then the next keystroke's request
    await settle()
    typed = asyncio.ensure_future(engine.complete(*at_end(BASE + "s")))
    await settle()
    await clock.advance(0.05)
    assert not generator.streams[0].closed_early
    generator.release()
    assert await typed == [Suggestion("um(xs)")]
    assert len(generator.requests) == 1


async def test_typing_along_a_generation_in_flight_shares_it(
    clock: ManualClock, make_settings: SettingsFactory, metrics: Metrics
) -> None:
    generator = FakeGenerator(["sum", "(xs)", " + 1"], hold=True)
    engine = engine_for(generator, clock, make_settings, metrics)
    doc, offset = at_end(BASE)
    first = asyncio.ensure_future(engine.complete(doc, offset))
    await settle()
    await clock.advance(1)
    # "sum" has arrived; the user types "su" along it.
    doc2, offset2 = at_end(BASE + "su")
    second = asyncio.ensure_future(engine.complete(doc2, offset2))
    await settle()
    assert first.done() and first.result() == []
    assert not generator.streams[0].closed_early
    generator.release()
    assert await second == [Suggestion("m(xs) + 1")]
    assert len(generator.requests) == 1
    assert metrics.shown == 1


async def test_type_through_is_served_from_the_cache(
    clock: ManualClock, make_settings: SettingsFactory
) -> None:
    generator = FakeGenerator(["sum(xs) + 1"])
    engine = engine_for(generator, clock, make_settings)
    doc, offset = at_end(BASE)
    task = asyncio.ensure_future(engine.complete(doc, offset))
    await settle()
    await clock.advance(1)
    assert await task == [Suggestion("sum(xs) + 1")]
    for typed, rest in [("s", "um(xs) + 1"), ("sum(x", "s) + 1")]:
        doc2, offset2 = at_end(BASE + typed)
        assert engine.from_cache(doc2, offset2) == [Suggestion(rest)]
        assert await engine.complete(doc2, offset2) == [Suggestion(rest)]
    assert len(generator.requests) == 1
    # Diverging is a miss: after the debounce, a new request.
    doc3, offset3 = at_end(BASE + "max(")
    assert engine.from_cache(doc3, offset3) is None
    task = asyncio.ensure_future(engine.complete(doc3, offset3))
    await settle()
    await clock.advance(1)
    await task
    assert len(generator.requests) == 2


async def test_shared_generation_that_diverges_asks_again(
    clock: ManualClock, make_settings: SettingsFactory
) -> None:
    # The first output is "s" so far; the user types "sx", within the benefit of the doubt;
    # the finished output "sum" does not continue with "x", so a new request goes out.
    generator = FakeGenerator(["s", "um"], hold=True)
    engine = engine_for(generator, clock, make_settings)
    doc, offset = at_end(BASE)
    first = asyncio.ensure_future(engine.complete(doc, offset))
    await settle()
    await clock.advance(1)
    doc2, offset2 = at_end(BASE + "sx")
    second = asyncio.ensure_future(engine.complete(doc2, offset2))
    await settle()
    assert first.result() == []
    generator.release()
    await settle()
    assert len(generator.requests) == 2
    await second
    assert generator.requests[1].completion is not None
    assert generator.requests[1].completion.prefix.endswith(BASE + "sx")


async def test_background_completion_fills_the_cache(
    clock: ManualClock, make_settings: SettingsFactory, metrics: Metrics
) -> None:
    generator = FakeGenerator(["sum(xs)"])
    engine = engine_for(generator, clock, make_settings, metrics)
    doc, offset = at_end(BASE)
    assert engine.from_cache(doc, offset) is None
    engine.complete_in_background(doc, offset, [])
    assert engine.is_generating(URI)
    await settle()
    assert generator.requests == []  # debounced
    await clock.advance(1)
    await settle()
    assert not engine.is_generating(URI)
    assert engine.from_cache(doc, offset) == [Suggestion("sum(xs)")]
    assert metrics.shown == 1
    engine.complete_in_background(doc, offset, [])  # already cached: nothing to do
    await clock.advance(1)
    assert len(generator.requests) == 1


async def test_background_bursts_coalesce_and_inline_shares_the_generation(
    clock: ManualClock, make_settings: SettingsFactory
) -> None:
    generator = FakeGenerator(["sum", "(xs)"], hold=True)
    engine = engine_for(generator, clock, make_settings)
    for typed in ["", "s", "su"]:
        engine.complete_in_background(*at_end(BASE + typed))
        await settle()
        await clock.advance(0.05)
    await clock.advance(1)
    assert len(generator.requests) == 1
    # Inline completion at the same position joins the background generation.
    task = asyncio.ensure_future(engine.complete(*at_end(BASE + "su")))
    await settle()
    generator.release()
    assert await task == [Suggestion("sum(xs)")]
    assert len(generator.requests) == 1


async def test_background_generation_runs_on_without_waiters(
    clock: ManualClock, make_settings: SettingsFactory
) -> None:
    generator = FakeGenerator(["sum", "(xs)"], hold=True)
    engine = engine_for(generator, clock, make_settings)
    doc, offset = at_end(BASE)
    inline = asyncio.ensure_future(engine.complete(doc, offset))
    await settle()
    await clock.advance(1)
    engine.complete_in_background(doc, offset, [])  # joins and keeps it
    await settle()
    inline.cancel()
    await settle()
    assert not generator.streams[0].closed_early
    generator.release()
    await settle()
    assert engine.from_cache(doc, offset) == [Suggestion("sum(xs)")]


@pytest.mark.parametrize(
    "error",
    [
        NoBackendAvailableError("no backend answered"),
        RuntimeError("boom"),
    ],
)
async def test_errors_give_an_empty_list_and_a_log_line(
    clock: ManualClock,
    make_settings: SettingsFactory,
    caplog: pytest.LogCaptureFixture,
    error: BaseException,
) -> None:
    generator = FakeGenerator(["x"], error=error)
    engine = engine_for(generator, clock, make_settings)
    doc, offset = at_end(BASE)
    with caplog.at_level(logging.WARNING, logger="trust_lsp.features.completion.engine"):
        task = asyncio.ensure_future(engine.complete(doc, offset))
        await settle()
        await clock.advance(1)
        assert await task == []
    assert any("completion failed for file:///w/main.py" in r.getMessage() for r in caplog.records)
    # Failures are not cached: the next request tries again.
    task = asyncio.ensure_future(engine.complete(doc, offset))
    await settle()
    await clock.advance(1)
    assert await task == []
    assert len(generator.requests) == 2


async def test_repeated_failures_are_logged_once_at_warning(
    clock: ManualClock, make_settings: SettingsFactory, caplog: pytest.LogCaptureFixture
) -> None:
    generator = FakeGenerator(error=NoBackendAvailableError("Ollama is down"))
    engine = engine_for(generator, clock, make_settings)
    with caplog.at_level(logging.DEBUG, logger="trust_lsp.features.completion.engine"):
        for i in range(3):
            task = asyncio.ensure_future(engine.complete(*at_end(BASE + "a" * i)))
            await settle()
            await clock.advance(1)
            await task
    levels = [r.levelno for r in caplog.records if "Ollama is down" in r.getMessage()]
    assert levels == [logging.WARNING, logging.DEBUG, logging.DEBUG]


async def test_single_line_stream_is_closed_at_the_first_line_end(
    clock: ManualClock, make_settings: SettingsFactory
) -> None:
    generator = FakeGenerator(["sum(xs)", "\n", "    return result", "\n", "more"])
    engine = engine_for(generator, clock, make_settings)
    task = asyncio.ensure_future(engine.complete(*at_end(BASE)))
    await settle()
    await clock.advance(1)
    assert await task == [Suggestion("sum(xs)")]
    assert generator.streams[0].sent == ["sum(xs)", "\n"]
    assert generator.streams[0].closed_early


async def test_multi_line_block_request_and_dedent_stop(
    clock: ManualClock, make_settings: SettingsFactory
) -> None:
    pieces = ["\n    return sum(xs)", "\n", "def other():", "\n", "    pass"]
    generator = FakeGenerator(pieces)
    engine = engine_for(generator, clock, make_settings)
    text = "def total(xs):"
    task = asyncio.ensure_future(engine.complete(*at_end(text)))
    await settle()
    await clock.advance(1)
    assert await task == [Suggestion("\n    return sum(xs)")]
    stops = generator.requests[0].options.stop
    assert stops[0] == "\n\n\n" and "\ndef " in stops
    assert generator.streams[0].closed_early  # stopped at the dedent, before "pass"


async def test_no_completion_mid_word_and_when_disabled(
    clock: ManualClock, make_settings: SettingsFactory
) -> None:
    generator = FakeGenerator(["x"])
    engine = engine_for(generator, clock, make_settings)
    doc = snap("value = foo_bar\n")
    assert await engine.complete(doc, doc.text.index("bar")) == []
    disabled = engine_for(generator, clock, make_settings, enabled=False)
    assert await disabled.complete(*at_end(BASE)) == []
    assert disabled.from_cache(*at_end(BASE)) == []
    disabled.complete_in_background(*at_end(BASE))
    await clock.advance(1)
    assert generator.requests == []


async def test_prompt_has_snippets_of_other_documents_most_recent_first(
    clock: ManualClock, make_settings: SettingsFactory
) -> None:
    generator = FakeGenerator(["sum(xs)"])
    engine = engine_for(generator, clock, make_settings)
    helpers = DocumentSnapshot(
        "file:///w/helpers.py", "def total_of(xs):\n    return sum(xs)\n", "python", 1, "/w/h.py"
    )
    stale = DocumentSnapshot(
        "file:///w/stale.py", "def total_of(xs):\n    return sum(xs)\n", "python", 1, "/w/s.py"
    )
    engine.note_edit(stale.uri)
    await clock.advance(1)
    engine.note_edit(helpers.uri)
    doc, offset = at_end("from helpers import total_of\n\nxs = [1]\ny = total_of(")
    task = asyncio.ensure_future(engine.complete(doc, offset, others=[stale, helpers]))
    await settle()
    await clock.advance(1)
    await task
    request: GenerationRequest = generator.requests[0]
    assert request.completion is not None
    prefix = request.completion.prefix
    # Equal relevance: the more recently edited one is closer to the cursor.
    assert prefix.index("# Path: w/s.py") < prefix.index("# Path: w/h.py")
    assert prefix.index("# Path: w/h.py") < prefix.index("# Path: w/main.py")


async def test_timeout_gives_the_complete_lines_that_arrived(
    clock: ManualClock, make_settings: SettingsFactory
) -> None:
    generator = FakeGenerator(["\n    y = 1\n    ret", "urn y"], hold=True)
    engine = engine_for(generator, clock, make_settings, timeout_s=0.05)
    task = asyncio.ensure_future(engine.complete(*at_end("def f():")))
    await settle()
    await clock.advance(1)
    assert await asyncio.wait_for(task, 5) == [Suggestion("\n    y = 1")]
    assert generator.streams[0].closed_early


async def test_timeout_of_a_single_line_gives_nothing(
    clock: ManualClock, make_settings: SettingsFactory
) -> None:
    generator = FakeGenerator(["sum(xs)", " + 1"], hold=True)
    engine = engine_for(generator, clock, make_settings, timeout_s=0.05)
    task = asyncio.ensure_future(engine.complete(*at_end(BASE)))
    await settle()
    await clock.advance(1)
    assert await asyncio.wait_for(task, 5) == []  # "sum(xs" could end mid-word


async def test_complete_lines_of_a_cancelled_stream_serve_a_return_to_its_path(
    clock: ManualClock, make_settings: SettingsFactory
) -> None:
    # Typing along a multi-line generation, a typo cancels it; after the backspace the
    # lines that had arrived are served from the cache.
    generator = FakeGenerator(["\n    total = 0\n", "    return total"], hold=True)
    engine = engine_for(generator, clock, make_settings)
    opener = "def f(xs):"
    task = asyncio.ensure_future(engine.complete(*at_end(opener)))
    await settle()
    await clock.advance(1)
    typo = asyncio.ensure_future(engine.complete(*at_end(opener + "\n    q")))
    await settle()
    assert task.result() == []
    assert generator.streams[0].closed_early
    typo.cancel()
    fixed = opener + "\n    "
    assert engine.from_cache(*at_end(fixed)) == [Suggestion("total = 0")]
    assert len(generator.requests) == 1


async def test_cancel_close_document_and_aclose(
    clock: ManualClock, make_settings: SettingsFactory
) -> None:
    generator = FakeGenerator(["sum", "(xs)"], hold=True)
    engine = engine_for(generator, clock, make_settings)
    doc, offset = at_end(BASE)
    task = asyncio.ensure_future(engine.complete(doc, offset))
    await settle()
    await clock.advance(1)
    engine.cancel(URI)
    await settle()
    assert task.result() == []
    assert generator.streams[0].closed_early

    other = asyncio.ensure_future(engine.complete(*at_end(BASE, "file:///w/b.py")))
    engine.complete_in_background(*at_end(BASE, "file:///w/c.py"))
    await settle()
    await engine.aclose()
    assert other.result() == []
    assert not engine.is_generating("file:///w/c.py")


async def test_close_document_forgets_cached_completions(
    clock: ManualClock, make_settings: SettingsFactory
) -> None:
    generator = FakeGenerator(["sum(xs)"])
    engine = engine_for(generator, clock, make_settings)
    doc, offset = at_end(BASE)
    task = asyncio.ensure_future(engine.complete(doc, offset))
    await settle()
    await clock.advance(1)
    await task
    assert engine.from_cache(doc, offset) is not None
    engine.close_document(URI)
    assert engine.from_cache(doc, offset) is None


async def test_debounce_adapts_to_a_slow_typist(
    clock: ManualClock, make_settings: SettingsFactory
) -> None:
    generator = FakeGenerator(["sum(xs)"])
    engine = engine_for(generator, clock, make_settings, debounce_ms=100)
    tasks = []
    for i in range(10):  # one key every 140 ms: slower than the 100 ms debounce
        if i == 5:
            warm_up = len(generator.requests)  # the rhythm is not known at first
        tasks.append(asyncio.ensure_future(engine.complete(*at_end(BASE + "s" * i))))
        await settle()
        await clock.advance(0.14)
    # Now 1.25 × 140 ms = 175 ms: no request between keystrokes.
    assert len(generator.requests) == warm_up
    await clock.advance(0.06)
    assert len(generator.requests) == warm_up + 1
    await asyncio.gather(*tasks)


async def test_a_suggestion_typed_along_is_counted_as_shown_once(
    clock: ManualClock, make_settings: SettingsFactory, metrics: Metrics
) -> None:
    generator = FakeGenerator(["sum(xs) + 1"])
    engine = engine_for(generator, clock, make_settings, metrics)
    task = asyncio.ensure_future(engine.complete(*at_end(BASE)))
    await settle()
    await clock.advance(1)
    await task
    for typed in ["s", "su", "sum("]:
        assert await engine.complete(*at_end(BASE + typed))
    assert engine.from_cache(*at_end(BASE + "sum(x"))
    assert metrics.shown == 1
    task = asyncio.ensure_future(engine.complete(*at_end(BASE + "max(")))
    await settle()
    await clock.advance(1)
    assert await task  # a new suggestion
    assert metrics.shown == 2


async def test_a_bug_in_prompt_building_gives_an_empty_list(
    clock: ManualClock,
    make_settings: SettingsFactory,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("bug")

    monkeypatch.setattr("trust_lsp.features.completion.engine.build_prompt", broken)
    generator = FakeGenerator(["x"])
    engine = engine_for(generator, clock, make_settings)
    with caplog.at_level(logging.ERROR, logger="trust_lsp.features.completion.engine"):
        task = asyncio.ensure_future(engine.complete(*at_end(BASE)))
        await settle()
        await clock.advance(1)
        assert await task == []
    assert "(a bug)" in caplog.text
    assert generator.requests == []


async def test_a_multi_line_answer_cut_by_the_token_limit_loses_its_half_line(
    clock: ManualClock, make_settings: SettingsFactory
) -> None:
    generator = FakeGenerator(
        ["total = 0\n", "    for x in xs:\n", "        total += sum(range("], done_reason="length"
    )
    engine = engine_for(generator, clock, make_settings, debounce_ms=0)
    doc, offset = at_end("def total(xs):\n    ")
    task = asyncio.ensure_future(engine.complete(doc, offset))
    await settle()
    await clock.advance(0.01)
    assert await task == [Suggestion("total = 0\n    for x in xs:")]

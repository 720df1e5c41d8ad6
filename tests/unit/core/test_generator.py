"""Generator over in-memory fake backends: selection, fallback, privacy, pulls, time limits,
cancellation, preheat, health, status. The same rules over real HTTP and the real model are
in tests/integration/core/."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.unit.core.fakes import FakeBackend, FakePullable, chat, completion, store
from trust_lsp.backends.base import PullProgress, TextDelta
from trust_lsp.config.store import ConfigStore, Layer
from trust_lsp.core.generator import Generator, no_backend_message
from trust_lsp.core.types import GeneratorEvent, RequestKind, Selected
from trust_lsp.errors import (
    Attempt,
    AuthenticationError,
    BackendConnectionError,
    BackendTimeoutError,
    NoBackendAvailableError,
    PrivacyError,
    RequestCancelledError,
    ResourceError,
    ValidationError,
)


def trio(**kw: Any) -> tuple[FakePullable, FakeBackend, FakeBackend]:
    ollama = FakePullable("ollama", **kw)
    local = FakeBackend(
        "local", chat_model="gemma.gguf", completion_model="gemma.gguf", models={"gemma.gguf"}
    )
    cloud = FakeBackend(
        "cloud", cloud=True, chat_model="gpt", completion_model="gpt", models={"gpt"}
    )
    return ollama, local, cloud


@pytest.fixture
async def gen_factory() -> AsyncIterator[Any]:
    made: list[Generator] = []

    def make(config: ConfigStore, *backends: FakeBackend) -> Generator:
        gen = Generator(config, {b.name: b for b in backends})
        made.append(gen)
        return gen

    yield make
    for gen in made:
        await gen.aclose()


async def collect(gen: Generator, request: Any) -> list[GeneratorEvent]:
    return [event async for event in gen.stream(request)]


# --- selection and fallback ----------------------------------------------------------------


async def test_first_backend_in_order_answers_and_says_so(gen_factory: Any) -> None:
    ollama, local, cloud = trio()
    gen = gen_factory(store(), ollama, local, cloud)
    result = await gen.generate(chat())
    assert (result.backend, result.model, result.cloud, result.text) == (
        "ollama",
        "chat-m",
        False,
        "ok",
    )
    assert result.skipped == ()
    assert local.calls == [] and cloud.calls == []


async def test_first_event_is_selected(gen_factory: Any) -> None:
    ollama, local, _ = trio()
    ollama.reply("a", "b")
    events = await collect(gen_factory(store(), ollama, local), completion())
    assert events[0] == Selected("ollama", "comp-m", False, ())
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["a", "b"]


async def test_request_backend_and_model_are_honoured(gen_factory: Any) -> None:
    ollama, local, _ = trio()
    gen = gen_factory(store(), ollama, local)
    result = await gen.generate(chat(backend="huggingface"))  # alias of local
    assert result.backend == "local"
    result = await gen.generate(chat(model="comp-m"))
    assert (result.backend, result.model) == ("ollama", "comp-m")


async def test_connection_error_falls_back_and_marks_the_backend_down(gen_factory: Any) -> None:
    ollama, local, _ = trio()
    ollama.open_errors.extend([BackendConnectionError("Ollama is not running")] * 3)
    gen = gen_factory(store(), ollama, local)
    result = await gen.generate(chat())
    assert result.backend == "local"
    assert result.skipped == (Attempt("ollama", "connection", "Ollama is not running"),)
    assert len(ollama.stream_calls) == 3  # tried, retried twice with backoff
    # Known down now: the next request skips it without contacting it.
    before = len(ollama.calls)
    result = await gen.generate(chat())
    assert result.backend == "local"
    assert result.skipped[0].reason == "down"
    assert len(ollama.calls) == before
    assert gen.status()["backends"]["ollama"]["healthy"] is False


async def test_completion_retries_once_at_most(gen_factory: Any) -> None:
    ollama, local, _ = trio()
    ollama.open_errors.extend([BackendConnectionError("refused")] * 3)
    result = await gen_factory(store(), ollama, local).generate(completion())
    assert result.backend == "local"
    assert len(ollama.stream_calls) == 2


async def test_transient_failure_is_retried_on_the_same_backend(gen_factory: Any) -> None:
    ollama, local, _ = trio()
    ollama.open_errors.append(BackendConnectionError("reset"))
    result = await gen_factory(store(), ollama, local).generate(chat())
    assert result.backend == "ollama"
    assert local.calls == []


@pytest.mark.parametrize(
    "error",
    [ResourceError("busy"), BackendTimeoutError("slow")],
)
async def test_recoverable_errors_fall_back(gen_factory: Any, error: Exception) -> None:
    ollama, local, _ = trio()
    ollama.open_errors.append(error)
    result = await gen_factory(store(), ollama, local).generate(chat())
    assert result.backend == "local"
    assert len(ollama.stream_calls) == 1  # not retried: only connection failures are


async def test_error_after_first_token_is_raised_without_fallback(gen_factory: Any) -> None:
    ollama, local, _ = trio()
    ollama.reply("partial", ResourceError("out of memory"))
    gen = gen_factory(store(), ollama, local)
    seen: list[GeneratorEvent] = []
    with pytest.raises(ResourceError):
        await gen.generate(chat(), on_event=seen.append)
    assert seen == [Selected("ollama", "chat-m", False, ()), TextDelta("partial")]
    assert local.calls == []
    assert gen.metrics.snapshot()["requests"]["failed_by_error"] == {"resource": 1}


async def test_non_recoverable_error_is_raised_at_once(gen_factory: Any) -> None:
    ollama, local, _ = trio()
    ollama.open_errors.append(AuthenticationError("bad key"))
    with pytest.raises(AuthenticationError):
        await gen_factory(store(), ollama, local).generate(chat())
    assert local.calls == []


async def test_fallback_disabled_raises_the_first_error(gen_factory: Any) -> None:
    ollama, local, _ = trio()
    ollama.open_errors.append(ResourceError("busy"))
    gen = gen_factory(store(**{"fallback.enabled": False}), ollama, local)
    with pytest.raises(ResourceError):
        await gen.generate(chat())
    assert local.calls == []


async def test_nothing_can_answer_lists_every_attempt(gen_factory: Any) -> None:
    ollama, local, cloud = trio()
    ollama.open_errors.extend([BackendConnectionError("Ollama is not running")] * 3)
    local.open_errors.append(ResourceError("cannot load the model"))
    gen = gen_factory(store(), ollama, local, cloud)
    with pytest.raises(NoBackendAvailableError) as info:
        await gen.generate(chat())
    assert [(a.backend, a.reason) for a in info.value.attempts] == [
        ("ollama", "connection"),
        ("local", "resource"),
        ("cloud", "privacy"),
    ]
    message = str(info.value)
    assert "Ollama is not running" in message and "cannot load the model" in message
    assert "allow-cloud" in message and "ollama serve" in message


def test_no_backend_message_without_attempts() -> None:
    assert "fallback.order" in no_backend_message([])


async def test_invalid_request_is_a_validation_error(gen_factory: Any) -> None:
    ollama, _, _ = trio()
    from trust_lsp.core.types import GenerationRequest

    with pytest.raises(ValidationError):
        await gen_factory(store(), ollama).generate(GenerationRequest(kind=RequestKind.CHAT))


async def test_defaults_fill_unset_options(gen_factory: Any) -> None:
    seen: list[Any] = []

    class Recording(FakeBackend):
        def stream_completion(self, request: Any) -> Any:
            seen.append(request.options)
            return super().stream_completion(request)

    backend = Recording("ollama")
    await gen_factory(store(**{"completion.max_tokens": 33}), backend).generate(completion())
    assert seen[0].max_tokens == 33 and seen[0].temperature == 0.2


# --- privacy -------------------------------------------------------------------------------


async def test_local_mode_never_contacts_the_cloud(gen_factory: Any) -> None:
    ollama, local, cloud = trio()
    ollama.healthy = local.healthy = False
    config = store(**{"server.preheat": True, "health.interval_s": 0.05})
    gen = gen_factory(config, ollama, local, cloud)
    await gen.start()
    await asyncio.sleep(0.2)  # several health rounds and the start-up preheat
    with pytest.raises(NoBackendAvailableError) as info:
        await gen.generate(chat(backend="cloud"))
    assert "privacy.mode" in str(info.value)
    models = await gen.list_models()
    assert "privacy.mode" in str(models["cloud"])
    with pytest.raises(PrivacyError):
        await gen.model_info("cloud", "gpt")
    await gen.preheat()
    status = gen.status()
    assert status["backends"]["cloud"]["allowed"] is False
    assert status["backends"]["cloud"]["healthy"] is None
    assert cloud.calls == []


async def test_allow_cloud_uses_the_cloud_and_marks_the_answer(gen_factory: Any) -> None:
    ollama, local, cloud = trio()
    ollama.open_errors.extend([BackendConnectionError("down")] * 3)
    local.open_errors.append(ResourceError("no model"))
    gen = gen_factory(store(**{"privacy.mode": "allow-cloud"}), ollama, local, cloud)
    result = await gen.generate(chat())
    assert (result.backend, result.cloud) == ("cloud", True)


async def test_privacy_switch_applies_to_the_next_request(gen_factory: Any) -> None:
    _, _, cloud = trio()
    config = store(**{"privacy.mode": "allow-cloud", "fallback.order": ["cloud"]})
    gen = gen_factory(config, cloud)
    assert (await gen.generate(chat())).backend == "cloud"
    config.set_layer(Layer.RUNTIME, {"privacy.mode": "local"})
    calls = len(cloud.calls)
    with pytest.raises(NoBackendAvailableError):
        await gen.generate(chat())
    assert len(cloud.calls) == calls


async def test_a_backend_reporting_is_cloud_is_gated_too(gen_factory: Any) -> None:
    remote = FakeBackend("ollama", cloud=True)
    gen = gen_factory(store(**{"fallback.order": ["ollama"]}), remote)
    with pytest.raises(NoBackendAvailableError):
        await gen.generate(chat())
    assert remote.calls == []


# --- model recovery ------------------------------------------------------------------------


async def test_missing_model_is_pulled_with_progress_then_answered(gen_factory: Any) -> None:
    ollama, local, _ = trio()
    ollama.models.discard("chat-m")
    progress: list[tuple[str, PullProgress]] = []
    gen = gen_factory(store(), ollama, local)
    result = await gen.generate(chat(on_pull_progress=lambda m, p: progress.append((m, p))))
    assert result.backend == "ollama"
    assert [p.status for _, p in progress] == ["pulling abc"] * 3 + ["success"]
    assert {m for m, _ in progress} == {"chat-m"}
    assert ollama.calls == [("chat", "chat-m"), ("pull", "chat-m"), ("chat", "chat-m")]


async def test_failed_pull_falls_back_and_is_remembered(gen_factory: Any) -> None:
    ollama, local, _ = trio(pull_error=BackendConnectionError("registry unreachable"))
    ollama.models.discard("chat-m")
    gen = gen_factory(store(), ollama, local)
    result = await gen.generate(chat())
    assert result.backend == "local"
    assert result.skipped[0].reason == "model_not_found"
    assert "registry unreachable" in (result.skipped[0].error or "")
    calls = len(ollama.calls)
    assert (await gen.generate(chat())).backend == "local"
    assert len(ollama.calls) == calls  # known missing: not asked again for a while


async def test_auto_pull_off_falls_back(gen_factory: Any) -> None:
    ollama, local, _ = trio()
    ollama.models.discard("chat-m")
    gen = gen_factory(store(**{"backends.ollama.auto_pull": False}), ollama, local)
    assert (await gen.generate(chat())).backend == "local"
    assert ("pull", "chat-m") not in ollama.calls


async def test_completion_does_not_wait_for_a_pull(gen_factory: Any) -> None:
    ollama, local, _ = trio(pull_delay=0.05)
    ollama.models.discard("comp-m")
    gen = gen_factory(store(), ollama, local)
    result = await gen.generate(completion())
    assert result.backend == "local"
    assert "pulling it in the background" in (result.skipped[0].error or "")
    # While the pull runs, completions skip Ollama without asking it.
    result = await gen.generate(completion())
    assert result.skipped[0].error == "model 'comp-m' is being pulled"
    await asyncio.sleep(0.4)
    assert (await gen.generate(completion())).backend == "ollama"
    assert [c for c in ollama.calls if c[0] == "pull"] == [("pull", "comp-m")]


async def test_concurrent_requests_share_one_pull(gen_factory: Any) -> None:
    ollama, local, _ = trio(pull_delay=0.02)
    ollama.models.discard("chat-m")
    gen = gen_factory(store(), ollama, local)
    results = await asyncio.gather(*(gen.generate(chat()) for _ in range(3)))
    assert {r.backend for r in results} == {"ollama"}
    assert [c for c in ollama.calls if c[0] == "pull"] == [("pull", "chat-m")]


async def test_explicit_pull_reports_progress_and_cancelling_it_stops(gen_factory: Any) -> None:
    ollama, _, _ = trio(pull_delay=0.01)
    gen = gen_factory(store(), ollama)
    seen: list[PullProgress] = []
    await gen.pull("new-model", seen.append)
    assert seen[-1].status == "success" and "new-model" in ollama.models
    slow, _, _ = trio(pull_delay=10.0)
    gen = gen_factory(store(), slow)
    task = asyncio.create_task(gen.pull("big-model"))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.01)
    assert gen._pulls.running(("ollama", "big-model")) is None


async def test_pull_needs_ollama(gen_factory: Any) -> None:
    _, local, _ = trio()
    with pytest.raises(ValidationError):
        await gen_factory(store(), local).pull("x")


# --- time limits and cancellation ----------------------------------------------------------


async def test_completion_time_limit_before_output(gen_factory: Any) -> None:
    ollama, local, _ = trio()
    ollama.reply(5.0, "late")
    gen = gen_factory(store(**{"completion.timeout_s": 0.1}), ollama, local)
    with pytest.raises(BackendTimeoutError) as info:
        await gen.generate(completion())
    assert info.value.recoverable is True
    assert "completion.timeout_s" in str(info.value)
    assert ollama.closed_streams == 1
    assert gen._queues["ollama"].running == 0


async def test_time_limit_after_output_is_not_recoverable(gen_factory: Any) -> None:
    ollama, _, _ = trio()
    ollama.reply("a", 5.0, "b")
    gen = gen_factory(store(), ollama)
    seen: list[GeneratorEvent] = []
    with pytest.raises(BackendTimeoutError) as info:
        await gen.generate(chat(timeout_s=0.1), on_event=seen.append)
    assert info.value.recoverable is False
    assert TextDelta("a") in seen
    assert ollama.closed_streams == 1


async def test_deadline_while_the_caller_holds_an_event(gen_factory: Any) -> None:
    ollama, _, _ = trio()
    ollama.reply("a", "b")
    gen = gen_factory(store(), ollama)
    stream = gen.stream(chat(timeout_s=0.05))
    assert isinstance(await anext(stream), Selected)
    assert await anext(stream) == TextDelta("a")
    await asyncio.sleep(0.1)  # the caller is slow; the deadline passes meanwhile
    with pytest.raises(BackendTimeoutError):
        await anext(stream)


async def test_cancelling_the_consumer_closes_the_stream(gen_factory: Any) -> None:
    ollama, _, _ = trio()
    ollama.reply("a", asyncio.Event())  # never finishes by itself
    gen = gen_factory(store(), ollama)
    first_text = asyncio.Event()

    async def consume() -> None:
        async for event in gen.stream(chat()):
            if isinstance(event, TextDelta):
                first_text.set()

    task = asyncio.create_task(consume())
    await first_text.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ollama.closed_streams == 1
    assert gen._queues["ollama"].running == 0
    assert gen.metrics.snapshot()["requests"]["cancelled"] == 1


async def test_breaking_out_of_the_stream_releases_everything(gen_factory: Any) -> None:
    ollama, _, _ = trio()
    ollama.reply("a", "b", "c")
    gen = gen_factory(store(), ollama)
    from contextlib import aclosing

    async with aclosing(gen.stream(chat())) as events:
        async for event in events:
            if isinstance(event, TextDelta):
                break
    assert ollama.closed_streams == 1
    assert gen._queues["ollama"].running == 0


async def test_queued_completion_of_a_group_is_superseded(gen_factory: Any) -> None:
    ollama, _, _ = trio()
    hold = asyncio.Event()
    ollama.reply("long", hold)
    gen = gen_factory(store(), ollama)
    long_chat = asyncio.create_task(gen.generate(chat()))
    await asyncio.sleep(0.01)
    old = asyncio.create_task(gen.generate(completion(group="a.py")))
    await asyncio.sleep(0.01)
    new = asyncio.create_task(gen.generate(completion(group="a.py")))
    with pytest.raises(RequestCancelledError):
        await old
    hold.set()
    await long_chat
    assert (await new).backend == "ollama"
    assert ollama.stream_calls == ["chat-m", "comp-m"]  # the superseded one never went out
    assert gen.metrics.snapshot()["requests"]["cancelled"] == 1


# --- preheat, health, status, life cycle ---------------------------------------------------


async def test_concurrent_preheats_load_each_model_once(gen_factory: Any) -> None:
    ollama, local, _ = trio(preheat_delay=0.05)
    gen = gen_factory(store(), ollama, local)
    await asyncio.gather(gen.preheat(), gen.preheat(), gen.preheat())
    await gen.preheat()
    assert ollama.calls == [("preheat", "comp-m"), ("preheat", "chat-m")]
    assert local.calls == []
    assert gen.status()["backends"]["ollama"]["preheated"] == ["chat-m", "comp-m"]


async def test_preheat_walks_on_when_a_backend_cannot_load(gen_factory: Any) -> None:
    ollama, local, _ = trio()
    ollama.models.clear()
    gen = gen_factory(store(), ollama, local)
    await gen.preheat()
    assert ("preheat", "gemma.gguf") in local.calls
    assert ("pull", "comp-m") not in ollama.calls  # preheat never downloads


async def test_config_change_preheats_the_new_model(gen_factory: Any) -> None:
    config = store(**{"server.preheat": True})

    class Configured(FakePullable):
        def model_for(self, purpose: Any) -> str:  # reads the live config, like the real ones
            ollama = config.settings.backends.ollama
            return ollama.chat_model if purpose == "chat" else ollama.completion_model

    ollama = Configured("ollama", models={"qwen2.5-coder:7b", "qwen2.5-coder:1.5b", "bigger"})
    gen = gen_factory(config, ollama)
    await gen.start()
    await asyncio.sleep(0.05)
    assert ("preheat", "qwen2.5-coder:7b") in ollama.calls
    config.set_layer(Layer.RUNTIME, {"backends.ollama.chat_model": "bigger"})
    await asyncio.sleep(0.05)
    assert ("preheat", "bigger") in ollama.calls
    assert ollama.calls.count(("preheat", "qwen2.5-coder:1.5b")) == 1


async def test_health_monitor_skips_a_down_backend_and_returns_to_it(gen_factory: Any) -> None:
    ollama, local, _ = trio()
    gen = gen_factory(store(**{"health.interval_s": 0.02}), ollama, local)
    await gen.start()
    assert (await gen.generate(chat())).backend == "ollama"
    ollama.healthy = False
    await asyncio.sleep(0.1)
    streams = len(ollama.stream_calls)
    result = await gen.generate(chat())
    assert result.backend == "local" and result.skipped[0].reason == "down"
    assert len(ollama.stream_calls) == streams
    ollama.healthy = True
    await asyncio.sleep(0.1)
    assert (await gen.generate(chat())).backend == "ollama"


async def test_down_mark_expires_without_a_monitor(gen_factory: Any) -> None:
    ollama, local, _ = trio()
    ollama.open_errors.extend([BackendConnectionError("down")] * 3)
    gen = gen_factory(store(**{"health.interval_s": 0.02}), ollama, local)
    assert (await gen.generate(chat())).backend == "local"
    await asyncio.sleep(0.06)
    assert (await gen.generate(chat())).backend == "ollama"


async def test_status_is_json_and_complete(gen_factory: Any) -> None:
    ollama, local, cloud = trio()
    gen = gen_factory(store(), ollama, local, cloud)
    await gen.check_health()
    await gen.generate(chat())
    status = json.loads(json.dumps(gen.status()))
    assert status["privacy"] == {"mode": "local"}
    assert status["fallback"] == {"enabled": True, "order": ["ollama", "local", "cloud"]}
    ollama_status = status["backends"]["ollama"]
    assert ollama_status["allowed"] is True and ollama_status["healthy"] is True
    assert ollama_status["models"] == {"completion": "comp-m", "chat": "chat-m"}
    assert ollama_status["queue"] == {"queued": 0, "running": 0, "limit": 1}
    assert isinstance(ollama_status["last_checked"], float)
    assert status["metrics"]["requests"]["ok"] == 1
    assert status["metrics"]["latency"]["chat"]["ollama"]["samples"] == 1
    assert status["metrics"]["queues"] == {"ollama": 0, "local": 0, "cloud": 0}


async def test_model_info_is_cached(gen_factory: Any) -> None:
    ollama, _, _ = trio()
    gen = gen_factory(store(), ollama)
    first = await gen.model_info("ollama", "chat-m")
    assert await gen.model_info("ollama", "chat-m") is first
    assert ollama.calls.count(("info", "chat-m")) == 1
    with pytest.raises(ValidationError):
        await gen.model_info("nope", "x")


async def test_aclose_cancels_background_work_and_closes_backends() -> None:
    ollama, local, _ = trio(preheat_delay=10.0)
    gen = Generator(store(**{"server.preheat": True}), {"ollama": ollama, "local": local})
    await gen.start()
    await gen.start()  # idempotent
    await asyncio.sleep(0.05)
    assert len(gen._tasks) >= 2  # monitor and the hanging preheat
    await gen.aclose()
    assert len(gen._tasks) == 0
    assert ollama.closed and local.closed

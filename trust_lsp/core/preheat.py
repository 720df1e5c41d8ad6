"""Preheating: load models before the first request needs them, once per model.

`SingleFlight` runs one task per key; callers that arrive while it runs await the same
task, so concurrent preheats of one model send one load request. A model that loaded is
remembered until its backend's configuration changes (`forget`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, TypeVar

from trust_lsp.core.tasks import TaskSet

K = TypeVar("K", bound=Hashable)


class SingleFlight(Generic[K]):
    """At most one running task per key; a cancelled caller does not cancel the task."""

    def __init__(self, tasks: TaskSet, name: str) -> None:
        self._tasks = tasks
        self._name = name
        self._inflight: dict[K, asyncio.Task[None]] = {}

    def running(self, key: K) -> asyncio.Task[None] | None:
        return self._inflight.get(key)

    def start(self, key: K, make: Callable[[], Coroutine[Any, Any, None]]) -> asyncio.Task[None]:
        """The task for `key`: the running one, or a new one from `make()`."""
        task = self._inflight.get(key)
        if task is None:
            task = self._tasks.spawn(make(), name=f"{self._name}:{key}", log_errors=False)
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return task

    async def run(self, key: K, make: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Start or join the task for `key` and wait for it (its error is raised here)."""
        await asyncio.shield(self.start(key, make))

    def _finished(self, key: K, task: asyncio.Task[None]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved: joined callers get it; nobody else needs a log line


class Preheater:
    """Loads (backend, model) pairs through `load`, once each."""

    def __init__(
        self, load: Callable[[str, str], Coroutine[Any, Any, None]], tasks: TaskSet
    ) -> None:
        self._load = load
        self._flight: SingleFlight[tuple[str, str]] = SingleFlight(tasks, "preheat")
        self._done: set[tuple[str, str]] = set()

    async def preheat(self, backend: str, model: str) -> None:
        """Load `model` on `backend` unless it already was; raises the backend's error."""
        key = (backend, model)
        if key in self._done:
            return
        await self._flight.run(key, lambda: self._load_and_remember(key))

    def preheated(self, backend: str) -> list[str]:
        return sorted(model for name, model in self._done if name == backend)

    def forget(self, backend: str) -> None:
        """The backend's configuration changed: its models may need loading again."""
        self._done = {key for key in self._done if key[0] != backend}

    async def _load_and_remember(self, key: tuple[str, str]) -> None:
        await self._load(*key)
        self._done.add(key)

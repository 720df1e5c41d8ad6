"""Health monitor: periodic cheap checks whose results feed backend selection.

Selection reads the last known state (a dict lookup, no I/O), so a backend known to be down
is skipped without waiting for a timeout. A request that fails with a connection error marks
its backend down at once; the next periodic check brings it back. A down mark also expires
after two intervals, so a generator whose monitor is not running still tries again.
Backends the privacy mode forbids are never checked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from trust_lsp.backends.base import Backend, HealthStatus

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class BackendHealth:
    """Last known state. `ok` is None while unknown (never checked, or not allowed)."""

    ok: bool | None = None
    detail: str = "not checked yet"
    version: str | None = None
    latency_ms: float | None = None
    checked_at: float | None = None  # monotonic
    checked_wall: float | None = None  # epoch seconds, for display


class HealthMonitor:
    def __init__(
        self,
        backends: Mapping[str, Backend],
        *,
        allowed: Callable[[str], bool],
        interval: Callable[[], float],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._backends = backends
        self._allowed = allowed
        self._interval = interval
        self._clock = clock
        self._states: dict[str, BackendHealth] = {name: BackendHealth() for name in backends}
        self.first_round = asyncio.Event()

    def state(self, name: str) -> BackendHealth:
        return self._states.get(name, BackendHealth())

    def usable(self, name: str) -> bool:
        """False only for a backend known to be down (and not long ago)."""
        state = self._states.get(name)
        if state is None or state.ok is not False:
            return True
        assert state.checked_at is not None
        return self._clock() - state.checked_at > 2 * self._interval()

    def mark_down(self, name: str, detail: str) -> None:
        """A request just failed to connect: skip this backend until a check says otherwise."""
        self._set(name, HealthStatus(ok=False, detail=detail))

    def note_success(self, name: str) -> None:
        """A request just got an answer: the backend is up whatever the last check said."""
        state = self._states.get(name)
        if state is not None and state.ok is False:
            self._set(name, HealthStatus(ok=True, detail="answered a request"))

    async def check(self, name: str) -> BackendHealth:
        """Check one backend now (unless the privacy mode forbids contacting it)."""
        if not self._allowed(name):
            self._states[name] = BackendHealth(detail="not checked: privacy.mode is local")
            return self._states[name]
        backend = self._backends[name]
        started = self._clock()
        try:
            status = await asyncio.wait_for(
                backend.health(), timeout=min(CHECK_TIMEOUT_S, self._interval())
            )
        except TimeoutError:
            status = HealthStatus(ok=False, detail="health check timed out")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # health() must not raise; a backend bug must not kill us
            log.warning("health check of %s raised %r", name, exc)
            status = HealthStatus(ok=False, detail=f"health check failed: {exc}")
        if status.latency_ms is None:
            latency = round((self._clock() - started) * 1000.0, 2)
            status = HealthStatus(status.ok, status.detail, status.version, latency)
        self._set(name, status)
        return self._states[name]

    async def check_all(self) -> None:
        await asyncio.gather(*(self.check(name) for name in self._backends))
        self.first_round.set()

    async def run(self) -> None:
        """Check every backend every `health.interval_s` until cancelled."""
        while True:
            await self.check_all()
            await asyncio.sleep(self._interval())

    def _set(self, name: str, status: HealthStatus) -> None:
        previous = self._states.get(name)
        if previous is not None and previous.ok is not None and previous.ok != status.ok:
            log.info("backend %s is %s: %s", name, "up" if status.ok else "down", status.detail)
        self._states[name] = BackendHealth(
            ok=status.ok,
            detail=status.detail,
            version=status.version,
            latency_ms=status.latency_ms,
            checked_at=self._clock(),
            checked_wall=time.time(),
        )

"""Request metrics with bounded memory.

Latency and time-to-first-token keep the last `window` samples per (kind, backend) series;
every other figure is a counter. Keys that come from outside (kinds, backends, error types,
tool names) are capped: past `max_keys` distinct values, new ones are counted under "other",
so memory stays bounded however long the server runs.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

OTHER = "other"


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (`q` in 0..100) of `values`; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 2)


@dataclass(slots=True)
class _Series:
    window: int
    latency: deque[float] = field(init=False)
    ttft: deque[float] = field(init=False)
    outcomes: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.latency = deque(maxlen=self.window)
        self.ttft = deque(maxlen=self.window)


@dataclass(slots=True)
class _Tool:
    count: int = 0
    errors: int = 0
    total_s: float = 0.0


class Metrics:
    """Counters and latency windows for `trust.status`, `trust status` and logs."""

    def __init__(self, *, window: int = 512, max_keys: int = 64) -> None:
        self._window = window
        self._max_keys = max_keys
        self._outcomes: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self._series: dict[tuple[str, str], _Series] = {}
        self._tokens_in = 0
        self._tokens_out = 0
        self._fallbacks: Counter[str] = Counter()
        self._tools: dict[str, _Tool] = {}
        self._shown = 0
        self._accepted = 0
        self._gauges: dict[str, Callable[[], int]] = {}

    def _key(self, existing: Any, key: str) -> str:
        """`key` itself while there is room for it, else "other" (bounds memory)."""
        if key in existing or len(existing) < self._max_keys:
            return key
        return OTHER

    def record_request(
        self,
        *,
        kind: str,
        backend: str,
        outcome: str,
        latency_s: float,
        ttft_s: float | None,
        tokens_in: int,
        tokens_out: int,
        error: str | None = None,
    ) -> None:
        """One finished request. `outcome`: ok | failed | cancelled."""
        self._outcomes[outcome] += 1
        if outcome == "failed":
            self._errors[self._key(self._errors, error or "unknown")] += 1
        pair = (kind, backend)
        if pair not in self._series and len(self._series) >= self._max_keys:
            pair = (OTHER, OTHER)
        series = self._series.get(pair)
        if series is None:
            series = self._series[pair] = _Series(self._window)
        series.outcomes[outcome] += 1
        if outcome == "ok":
            series.latency.append(latency_s)
            if ttft_s is not None:
                series.ttft.append(ttft_s)
        self._tokens_in += tokens_in
        self._tokens_out += tokens_out

    def record_fallback(self, from_backend: str, reason: str) -> None:
        """A request moved on from `from_backend` (skipped or failed) to the next backend."""
        self._fallbacks[self._key(self._fallbacks, f"{from_backend}:{reason}")] += 1

    def record_tool(self, name: str, seconds: float, error: str | None) -> None:
        """One tool execution; `error` is its error type, None on success."""
        key = self._key(self._tools, name)
        tool = self._tools.get(key)
        if tool is None:
            tool = self._tools[key] = _Tool()
        tool.count += 1
        tool.total_s += seconds
        if error is not None:
            tool.errors += 1

    def record_completion_shown(self, count: int = 1) -> None:
        self._shown += count

    def record_completion_accepted(self) -> None:
        self._accepted += 1

    def add_gauge(self, name: str, read: Callable[[], int]) -> None:
        """A value read at snapshot time (e.g. a queue length)."""
        self._gauges[name] = read

    @property
    def acceptance_rate(self) -> float | None:
        return None if self._shown == 0 else self._accepted / self._shown

    def snapshot(self) -> dict[str, Any]:
        """Everything, JSON-friendly. Times are in milliseconds."""
        latency: dict[str, dict[str, Any]] = {}
        for (kind, backend), series in sorted(self._series.items()):
            lat, ttft = list(series.latency), list(series.ttft)
            latency.setdefault(kind, {})[backend] = {
                "requests": dict(series.outcomes),
                "samples": len(lat),
                "p50_ms": _ms(percentile(lat, 50)),
                "p95_ms": _ms(percentile(lat, 95)),
                "ttft_p50_ms": _ms(percentile(ttft, 50)),
                "ttft_p95_ms": _ms(percentile(ttft, 95)),
            }
        total = sum(self._outcomes.values())
        rate = self.acceptance_rate
        return {
            "requests": {
                "total": total,
                "ok": self._outcomes["ok"],
                "failed": self._outcomes["failed"],
                "cancelled": self._outcomes["cancelled"],
                "failed_by_error": dict(self._errors),
            },
            "latency": latency,
            "tokens": {"in": self._tokens_in, "out": self._tokens_out},
            "fallbacks": {"total": sum(self._fallbacks.values()), **dict(self._fallbacks)},
            "tools": {
                name: {
                    "count": t.count,
                    "errors": t.errors,
                    "mean_ms": _ms(t.total_s / t.count) if t.count else None,
                }
                for name, t in sorted(self._tools.items())
            },
            "completions": {
                "shown": self._shown,
                "accepted": self._accepted,
                "acceptance_rate": None if rate is None else round(rate, 4),
            },
            "queues": {name: read() for name, read in self._gauges.items()},
        }

"""Metrics: percentiles, outcomes, bounded memory, acceptance rate, JSON snapshot."""

from __future__ import annotations

import json

import pytest

from trust_lsp.core.metrics import Metrics, percentile


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 50, None),
        ([7.0], 50, 7.0),
        ([7.0], 95, 7.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
        ([4.0, 3.0, 2.0, 1.0], 50, 2.0),
        ([float(i) for i in range(1, 101)], 95, 95.0),
        ([float(i) for i in range(1, 101)], 100, 100.0),
        ([1.0, 2.0], 0, 1.0),
    ],
)
def test_percentile(values: list[float], q: float, expected: float | None) -> None:
    assert percentile(values, q) == expected


def ok(m: Metrics, kind: str = "completion", backend: str = "ollama", s: float = 0.1) -> None:
    m.record_request(
        kind=kind,
        backend=backend,
        outcome="ok",
        latency_s=s,
        ttft_s=s / 2,
        tokens_in=10,
        tokens_out=5,
    )


def test_outcomes_errors_tokens_and_latency() -> None:
    m = Metrics()
    for i in range(1, 11):
        ok(m, s=i / 100)
    m.record_request(
        kind="chat",
        backend="local",
        outcome="failed",
        latency_s=1,
        ttft_s=None,
        tokens_in=0,
        tokens_out=0,
        error="timeout",
    )
    m.record_request(
        kind="chat",
        backend="none",
        outcome="cancelled",
        latency_s=1,
        ttft_s=None,
        tokens_in=0,
        tokens_out=0,
    )
    snap = m.snapshot()
    assert snap["requests"] == {
        "total": 12,
        "ok": 10,
        "failed": 1,
        "cancelled": 1,
        "failed_by_error": {"timeout": 1},
    }
    series = snap["latency"]["completion"]["ollama"]
    assert series["samples"] == 10
    assert series["p50_ms"] == 50.0
    assert series["p95_ms"] == 100.0
    assert series["ttft_p50_ms"] == 25.0
    assert snap["latency"]["chat"]["local"]["requests"] == {"failed": 1}
    assert snap["tokens"] == {"in": 100, "out": 50}
    json.dumps(snap)


def test_window_keeps_the_last_samples_only() -> None:
    m = Metrics(window=512)
    for _ in range(5000):
        ok(m, s=10.0)
    for _ in range(512):
        ok(m, s=0.001)
    series = m.snapshot()["latency"]["completion"]["ollama"]
    assert series["samples"] == 512
    assert series["p95_ms"] == 1.0
    assert series["requests"] == {"ok": 5512}


def test_outside_keys_are_capped() -> None:
    m = Metrics(max_keys=8)
    for i in range(100):
        ok(m, backend=f"b{i}")
        m.record_fallback(f"b{i}", "connection")
        m.record_tool(f"tool{i}", 0.01, None)
        m.record_request(
            kind="chat",
            backend="x",
            outcome="failed",
            latency_s=0,
            ttft_s=None,
            tokens_in=0,
            tokens_out=0,
            error=f"e{i}",
        )
    snap = m.snapshot()
    series = [b for kind in snap["latency"].values() for b in kind]
    assert len(series) <= 9
    assert len(snap["tools"]) <= 9
    assert len(snap["requests"]["failed_by_error"]) <= 9
    assert snap["fallbacks"]["total"] == 100
    assert sum(t["count"] for t in snap["tools"].values()) == 100


def test_tools_completions_and_gauges() -> None:
    m = Metrics()
    m.record_tool("grep", 0.02, None)
    m.record_tool("grep", 0.04, "tool_execution")
    assert m.acceptance_rate is None
    m.record_completion_shown(4)
    m.record_completion_accepted()
    queued = [3]
    m.add_gauge("ollama", lambda: queued[0])
    snap = m.snapshot()
    assert snap["tools"]["grep"] == {"count": 2, "errors": 1, "mean_ms": 30.0}
    assert snap["completions"] == {"shown": 4, "accepted": 1, "acceptance_rate": 0.25}
    assert snap["queues"] == {"ollama": 3}
    queued[0] = 0
    assert m.snapshot()["queues"] == {"ollama": 0}

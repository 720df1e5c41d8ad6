import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { emptyState, isFromWebview, reduce } from "../src/chatState";
import { answerFooter, backendsOf, summarizeStatus } from "../src/status";

describe("summarizeStatus", () => {
  const status = {
    version: "0.1.0",
    acceptanceRate: 0.25,
    privacy: { mode: "local" },
    fallback: { order: ["ollama", "local", "cloud"] },
    backends: {
      cloud: { allowed: false, healthy: false, detail: "privacy.mode is local" },
      local: { allowed: true, health: { ok: true, detail: "ready" }, models: { completion: "gemma-3-270m", chat: "gemma-3-270m" } },
      ollama: { allowed: true, health: { ok: false, detail: "connection refused" }, models: { chat: "qwen2.5-coder:7b", completion: "qwen2.5-coder:1.5b" } },
    },
  };

  test("reads backends in fallback order", () => {
    assert.deepEqual(backendsOf(status).map((b) => [b.name, b.allowed, b.healthy, b.inOrder]), [
      ["ollama", true, false, true],
      ["local", true, true, true],
      ["cloud", false, false, true],
    ]);
  });

  test("the first healthy allowed backend is the active one; falling back is a warning", () => {
    const summary = summarizeStatus(status);
    assert.equal(summary.text, "$(sparkle) local · gemma-3-270m");
    assert.equal(summary.level, "warning");
    assert.equal(summary.version, "0.1.0");
    assert.match(summary.tooltip, /✗ ollama \(qwen2\.5-coder:1\.5b, qwen2\.5-coder:7b\): connection refused/);
    assert.match(summary.tooltip, /– cloud: privacy\.mode is local/);
    assert.match(summary.tooltip, /completions accepted: 25%/);
  });

  test("a backend left out of fallback.order never counts as the active one", () => {
    const onlyOllama = {
      fallback: { order: ["ollama"] },
      backends: { ollama: { healthy: false, detail: "down" }, local: { healthy: true, models: { chat: "g" } } },
    };
    const summary = summarizeStatus(onlyOllama);
    assert.equal(summary.level, "error");
    assert.equal(summary.active, undefined);
    assert.match(summary.tooltip, /✓ local \(g\) \[not in fallback\.order\]/);
  });

  test("the preferred backend healthy is ok", () => {
    const healthy = { backends: { ollama: { healthy: true, models: ["m"] } } };
    assert.deepEqual([summarizeStatus(healthy).level, summarizeStatus(healthy).text], ["ok", "$(sparkle) ollama · m"]);
  });

  test("nothing healthy (or garbage) is an error", () => {
    assert.equal(summarizeStatus({ backends: { ollama: { healthy: false } } }).level, "error");
    assert.equal(summarizeStatus(null).text, "$(warning) Trust: no backend");
  });
});

describe("answerFooter", () => {
  const cases: Array<[Parameters<typeof answerFooter>[0], string]> = [
    [{ backend: "ollama", model: "qwen2.5-coder:7b" }, "ollama · qwen2.5-coder:7b"],
    [{ backend: "cloud", model: "gpt-x", cloud: true }, "☁ cloud · gpt-x"],
    [{ backend: "vllm", model: "m", cloud: true }, "☁ vllm · m (cloud)"],
    [{ backend: "local", model: "gemma", interrupted: true }, "local · gemma (stopped)"],
    [{}, ""],
  ];
  for (const [input, expected] of cases) test(expected || "empty", () => assert.equal(answerFooter(input), expected));
});

describe("chat state", () => {
  test("a turn streams, ends and keeps its footer", () => {
    let state = emptyState();
    state = reduce(state, { type: "turnStart", id: 1, prompt: "hi", context: "a.py:1-2" });
    assert.equal(state.busy, true);
    state = reduce(state, { type: "delta", id: 1, text: "Hel" });
    state = reduce(state, { type: "delta", id: 1, text: "lo" });
    assert.equal(state.turns[0]?.text, "Hello");
    state = reduce(state, { type: "turnEnd", id: 1, text: "Hello!", footer: "ollama · m", cloud: false, interrupted: false });
    assert.deepEqual(state, {
      busy: false,
      turns: [{ id: 1, prompt: "hi", context: "a.py:1-2", text: "Hello!", streaming: false, footer: "ollama · m", cloud: false, interrupted: false }],
    });
    // A late delta after the end changes nothing.
    assert.deepEqual(reduce(state, { type: "delta", id: 1, text: "x" }), state);
  });

  test("errors end the turn; cleared empties; restore replaces", () => {
    let state = reduce(emptyState(), { type: "turnStart", id: 2, prompt: "q" });
    state = reduce(state, { type: "turnError", id: 2, message: "no backend" });
    assert.equal(state.turns[0]?.error, "no backend");
    assert.equal(state.busy, false);
    assert.deepEqual(reduce(state, { type: "cleared" }), emptyState());
    assert.deepEqual(reduce(emptyState(), { type: "restore", state }), state);
  });

  test("messages from the webview are validated", () => {
    assert.ok(isFromWebview({ type: "send", prompt: "x" }));
    assert.ok(isFromWebview({ type: "stop" }));
    assert.ok(!isFromWebview({ type: "send" }));
    assert.ok(!isFromWebview({ type: "insert", code: 1 }));
    assert.ok(!isFromWebview({ type: "eval", code: "x" }));
    assert.ok(!isFromWebview("send"));
  });
});

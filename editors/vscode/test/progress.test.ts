import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { StreamAssembler, pullStep } from "../src/progress";

describe("StreamAssembler", () => {
  test("concatenates report messages in arrival order", () => {
    const a = new StreamAssembler();
    const added = [
      a.apply({ kind: "begin", title: "Trust" }),
      a.apply({ kind: "report", message: "Hello" }),
      a.apply({ kind: "report", message: ", " }),
      a.apply({ kind: "report" }),
      a.apply({ kind: "report", message: "world\n" }),
      a.apply({ kind: "end" }),
    ];
    assert.deepEqual(added, ["", "Hello", ", ", "", "world\n", ""]);
    assert.equal(a.text, "Hello, world\n");
    assert.equal(a.deltas, 3);
    assert.ok(a.began && a.ended);
  });

  test("ignores reports after end", () => {
    const a = new StreamAssembler();
    a.apply({ kind: "report", message: "a" });
    a.apply({ kind: "end" });
    assert.equal(a.apply({ kind: "report", message: "late" }), "");
    assert.equal(a.text, "a");
  });

  test("settle prefers the command result's full text", () => {
    const a = new StreamAssembler();
    a.apply({ kind: "report", message: "partial" });
    assert.equal(a.settle("partial and the rest"), "partial and the rest");
    assert.equal(a.text, "partial and the rest");
    const b = new StreamAssembler();
    b.apply({ kind: "report", message: "only streamed" });
    assert.equal(b.settle(undefined), "only streamed");
  });
});

describe("pullStep", () => {
  const cases: Array<[string, number, Parameters<typeof pullStep>[1], ReturnType<typeof pullStep>]> = [
    ["begin with title", 0, { kind: "begin", title: "Pulling qwen" }, { message: "Pulling qwen", percentage: 0 }],
    ["report with percentage", 10, { kind: "report", message: "downloading", percentage: 35 }, { message: "downloading", increment: 25, percentage: 35 }],
    ["no percentage keeps the last one", 35, { kind: "report", message: "verifying" }, { message: "verifying", percentage: 35 }],
    ["a percentage going back adds nothing", 50, { kind: "report", percentage: 20 }, { percentage: 20 }],
    ["over 100 is clamped", 90, { kind: "report", percentage: 140 }, { increment: 10, percentage: 100 }],
    ["end completes the bar", 80, { kind: "end", message: "success" }, { message: "success", increment: 20, percentage: 100 }],
  ];
  for (const [name, last, value, expected] of cases) {
    test(name, () => assert.deepEqual(pullStep(last, value), expected));
  }
});

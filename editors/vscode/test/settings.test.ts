import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { CHAT_VIEW_ID } from "../src/chatState";
import { CLIENT_ONLY_KEYS, affectsServer, explicitSettings, explicitValue, serverKeys, setPath } from "../src/settings";

const packageJson = JSON.parse(readFileSync(`${__dirname}/../../package.json`, "utf8"));
const properties: Record<string, unknown> = packageJson.contributes.configuration.properties;

describe("serverKeys", () => {
  test("strips the prefix and leaves out client-only settings", () => {
    assert.deepEqual(
      serverKeys({ "trust.serverPath": {}, "trust.trace.server": {}, "trust.backends.ollama.url": {}, "other.x": {} }),
      ["backends.ollama.url"],
    );
  });

  test("package.json declares every client-only key and server keys in sections", () => {
    for (const key of CLIENT_ONLY_KEYS) assert.ok(`trust.${key}` in properties, key);
    const keys = serverKeys(properties);
    assert.ok(keys.includes("backends.ollama.url"));
    assert.ok(keys.includes("privacy.mode"));
    assert.ok(keys.every((key) => key.includes(".")));
  });
});

describe("explicitValue", () => {
  const cases: Array<[string, Parameters<typeof explicitValue>[0], ReturnType<typeof explicitValue>]> = [
    ["nothing set", { defaultValue: 1 }, undefined],
    ["undefined inspect", undefined, undefined],
    ["user value", { defaultValue: 1, globalValue: 2 }, { value: 2 }],
    ["workspace beats user", { globalValue: 2, workspaceValue: 3 }, { value: 3 }],
    ["folder beats workspace", { globalValue: 2, workspaceValue: 3, workspaceFolderValue: 4 }, { value: 4 }],
    ["explicit null is a value", { defaultValue: "x", globalValue: null }, { value: null }],
    ["explicit false is a value", { defaultValue: true, workspaceValue: false }, { value: false }],
  ];
  for (const [name, input, expected] of cases) {
    test(name, () => assert.deepEqual(explicitValue(input), expected));
  }
});

describe("explicitSettings", () => {
  test("nests explicitly set keys and leaves defaults out", () => {
    const inspected: Record<string, Parameters<typeof explicitValue>[0]> = {
      "backends.ollama.url": { defaultValue: "http://127.0.0.1:11434", workspaceValue: "http://127.0.0.1:9" },
      "backends.ollama.chat_model": { defaultValue: "qwen2.5-coder:7b" },
      "fallback.order": { defaultValue: ["ollama", "local", "cloud"], globalValue: ["ollama"] },
      "privacy.mode": { defaultValue: "local" },
    };
    assert.deepEqual(explicitSettings(Object.keys(inspected), (key) => inspected[key]), {
      backends: { ollama: { url: "http://127.0.0.1:9" } },
      fallback: { order: ["ollama"] },
    });
  });

  test("nothing set gives an empty object (the server's own layers apply)", () => {
    assert.deepEqual(explicitSettings(serverKeys(properties), () => ({ defaultValue: 1 })), {});
  });
});

test("setPath replaces a non-object on the way", () => {
  const target: Record<string, unknown> = { a: 1 };
  setPath(target, "a.b.c", true);
  assert.deepEqual(target, { a: { b: { c: true } } });
});

test("affectsServer checks each server key with its prefix", () => {
  const seen: string[] = [];
  assert.equal(affectsServer(["a.b", "c.d"], (s) => (seen.push(s), s === "trust.c.d")), true);
  assert.deepEqual(seen, ["trust.a.b", "trust.c.d"]);
  assert.equal(affectsServer(["a.b"], () => false), false);
});

test("package.json declares the chat view the extension registers", () => {
  const views = packageJson.contributes.views.trust.map((v: { id: string }) => v.id);
  assert.deepEqual(views, [CHAT_VIEW_ID]);
  assert.equal(packageJson.contributes.menus["view/title"][0].when, `view == ${CHAT_VIEW_ID}`);
});

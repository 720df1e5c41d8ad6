// The extension's protocol logic against the real trust-lsp (run from pytest, which starts
// the Ollama test server): the same requests the extension sends — initializationOptions from
// the settings mapping, inline completion with its accept command, `trust.chat` with a
// work-done token assembled by StreamAssembler, cancellation, `trust.status` summarized for
// the status bar. VS Code itself cannot run here; this is the closest stand-in.
//
// Environment: TRUST_TEST_LSP (the server), TRUST_TEST_OLLAMA (its URL),
// TRUST_TEST_WORKDIR (a folder), TRUST_TEST_DATA (JSON: scripted replies).

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, test } from "node:test";
import {
  CancellationTokenSource,
  type MessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
  createMessageConnection,
} from "vscode-jsonrpc/node";
import {
  ConfigurationRequest,
  DidOpenTextDocumentNotification,
  ExecuteCommandRequest,
  InitializeRequest,
  InitializedNotification,
  RegistrationRequest,
  WorkDoneProgress,
  WorkDoneProgressCreateRequest,
} from "vscode-languageserver-protocol";
import { renderMarkdown } from "../../src/markdown";
import { type ProgressValue, StreamAssembler } from "../../src/progress";
import { explicitSettings } from "../../src/settings";
import { summarizeStatus } from "../../src/status";

const env = (name: string): string => {
  const value = process.env[name];
  assert.ok(value, `${name} is not set`);
  return value;
};
const data = JSON.parse(process.env.TRUST_TEST_DATA ?? "{}") as {
  completion: string;
  reply: string;
  longReply: string;
};

let server: ChildProcess;
let connection: MessageConnection;
let serverCapabilities: Record<string, unknown> = {};
const configurationRequests: unknown[] = [];
const uri = pathToFileURL(join(env("TRUST_TEST_WORKDIR"), "calc.py")).toString();

// What VS Code would hold after the user set these three settings (others left at default).
const userSettings: Record<string, { globalValue?: unknown; workspaceValue?: unknown; defaultValue?: unknown }> = {
  "backends.ollama.url": { defaultValue: "http://127.0.0.1:11434", workspaceValue: env("TRUST_TEST_OLLAMA") },
  "fallback.order": { defaultValue: ["ollama", "local", "cloud"], globalValue: ["ollama"] },
  "server.preheat": { defaultValue: true, globalValue: false },
  "privacy.mode": { defaultValue: "local" },
};
const settings = explicitSettings(Object.keys(userSettings), (key) => userSettings[key]);

before(async () => {
  server = spawn(env("TRUST_TEST_LSP"), [], { stdio: ["pipe", "pipe", "inherit"] });
  assert.ok(server.stdout && server.stdin);
  connection = createMessageConnection(new StreamMessageReader(server.stdout), new StreamMessageWriter(server.stdin));
  connection.onRequest(ConfigurationRequest.type, (params) => {
    configurationRequests.push(params);
    return params.items.map((item) => (item.section === "trust" ? settings : null));
  });
  connection.onRequest(WorkDoneProgressCreateRequest.type, () => null);
  connection.onRequest(RegistrationRequest.type, () => null);
  connection.listen();
  const result = await connection.sendRequest(InitializeRequest.type, {
    processId: process.pid,
    rootUri: pathToFileURL(env("TRUST_TEST_WORKDIR")).toString(),
    workspaceFolders: [{ uri: pathToFileURL(env("TRUST_TEST_WORKDIR")).toString(), name: "work" }],
    initializationOptions: settings,
    capabilities: {
      window: { workDoneProgress: true },
      workspace: { configuration: true, applyEdit: true, workspaceEdit: { documentChanges: true } },
      textDocument: {
        // What vscode-languageclient 9 announces with registerProposedFeatures().
        inlineCompletion: { dynamicRegistration: true },
        codeAction: { dataSupport: true, resolveSupport: { properties: ["edit"] } },
      },
    } as never,
  });
  serverCapabilities = result.capabilities as Record<string, unknown>;
  await connection.sendNotification(InitializedNotification.type, {});
  const text = "def add(a, b):\n    return ";
  writeFileSync(new URL(uri), text);
  await connection.sendNotification(DidOpenTextDocumentNotification.type, {
    textDocument: { uri, languageId: "python", version: 1, text },
  });
});

after(async () => {
  try {
    await connection.sendRequest("shutdown");
    await connection.sendNotification("exit");
  } finally {
    connection.dispose();
    server.kill();
  }
});

test("the settings mapping sends only what the user set", () => {
  assert.deepEqual(settings, {
    backends: { ollama: { url: env("TRUST_TEST_OLLAMA") } },
    fallback: { order: ["ollama"] },
    server: { preheat: false },
  });
});

test("the server offers what the extension uses", () => {
  assert.ok(serverCapabilities.inlineCompletionProvider, "inline completion");
  const commands = (serverCapabilities.executeCommandProvider as { commands: string[] }).commands;
  for (const command of ["trust.chat", "trust.ask", "trust.newSession", "trust.status", "trust.pullModel", "trust.acceptCompletion"]) {
    assert.ok(commands.includes(command), command);
  }
  // The extension's own command ids must not clash with these (vscode-languageclient
  // registers every advertised command as a VS Code command).
  for (const own of ["trust.openChat", "trust.askAboutSelection", "trust.showStatus", "trust.pull", "trust.newChatSession", "trust.restartServer"]) {
    assert.ok(!commands.includes(own), own);
  }
});

test("inline completion items carry the accept command, which the server takes", async () => {
  const list = (await connection.sendRequest("textDocument/inlineCompletion", {
    textDocument: { uri },
    position: { line: 1, character: 11 },
    context: { triggerKind: 1 },
  })) as { items: Array<{ insertText: string; command: { command: string; arguments: unknown[] } }> };
  assert.equal(list.items[0]?.insertText, data.completion);
  const command = list.items[0]?.command;
  assert.equal(command?.command, "trust.acceptCompletion");
  const accepted = await connection.sendRequest(ExecuteCommandRequest.type, {
    command: command.command,
    arguments: command.arguments,
  });
  assert.deepEqual(accepted, { accepted: true });
});

test("trust.chat streams deltas on the panel's token; they add up to the result", async () => {
  const token = "trust-chat-test-1";
  const assembler = new StreamAssembler();
  const seen: string[] = [];
  const listener = connection.onProgress(WorkDoneProgress.type, token, (value) => {
    const delta = assembler.apply(value as ProgressValue);
    if (delta) seen.push(delta);
  });
  const result = (await connection.sendRequest(ExecuteCommandRequest.type, {
    command: "trust.chat",
    arguments: [{ prompt: "hello", uri }],
    workDoneToken: token,
  })) as { text: string; backend: string; model: string; sessionId: string; cloud: boolean };
  listener.dispose();
  assert.ok(seen.length > 1, `several deltas (${seen.length})`);
  assert.equal(assembler.text, data.reply);
  assert.equal(result.text, data.reply);
  assert.equal(assembler.settle(result.text), data.reply);
  assert.equal(result.backend, "ollama");
  assert.equal(result.cloud, false);
  assert.ok(result.sessionId);
  const rendered = renderMarkdown(result.text);
  assert.equal(rendered.codeBlocks.length, 1);
  assert.match(rendered.html, /Insert at cursor/);
});

test("Stop cancels the request; the partial answer is kept", async () => {
  const token = "trust-chat-test-2";
  const assembler = new StreamAssembler();
  const cancel = new CancellationTokenSource();
  const listener = connection.onProgress(WorkDoneProgress.type, token, (value) => {
    assembler.apply(value as ProgressValue);
    if (assembler.deltas === 2) cancel.cancel();
  });
  let outcome: string;
  try {
    const result = (await connection.sendRequest(
      ExecuteCommandRequest.type,
      { command: "trust.chat", arguments: [{ prompt: "a long story" }], workDoneToken: token },
      cancel.token,
    )) as { interrupted?: boolean; text: string };
    outcome = result.interrupted ? "interrupted result" : "complete result";
    assert.ok(result.interrupted, "the result says the answer was interrupted");
    assert.ok(data.longReply.startsWith(result.text));
  } catch (error) {
    outcome = `error ${(error as { code?: number }).code}`;
    assert.equal((error as { code?: number }).code, -32800);
  }
  listener.dispose();
  console.log(`cancelled chat: ${outcome}, ${assembler.deltas} deltas shown`);
  assert.ok(assembler.text.length > 0 && assembler.text.length < data.longReply.length);
});

test("trust.status summarizes into the status bar text", async () => {
  let summary = summarizeStatus(undefined);
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const status = await connection.sendRequest(ExecuteCommandRequest.type, { command: "trust.status", arguments: [] });
    summary = summarizeStatus(status);
    if (summary.level === "ok") break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.equal(summary.level, "ok");
  assert.equal(summary.text, "$(sparkle) ollama · qwen2.5-coder:1.5b");
  assert.match(summary.tooltip, /trust-lsp 0\./);
});

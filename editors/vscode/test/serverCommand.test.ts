import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type ServerLookup, resolveServerCommand } from "../src/serverCommand";

function lookup(overrides: Partial<ServerLookup>, executables: string[] = []): ServerLookup {
  return {
    configured: "",
    args: [],
    pathEnv: "/usr/local/bin:/usr/bin",
    workspaceFolders: ["/work/project"],
    platform: "linux",
    home: "/home/me",
    isExecutable: (file) => executables.includes(file),
    ...overrides,
  };
}

describe("resolveServerCommand", () => {
  test("the setting wins, with ~ and ${workspaceFolder} expanded", () => {
    assert.deepEqual(resolveServerCommand(lookup({ configured: "~/bin/trust-lsp", args: ["--log-level", "debug"] }, ["/home/me/bin/trust-lsp"])), {
      command: "/home/me/bin/trust-lsp",
      args: ["--log-level", "debug"],
      source: "setting",
    });
    assert.deepEqual(
      resolveServerCommand(lookup({ configured: "${workspaceFolder}/env/bin/trust-lsp" }, ["/work/project/env/bin/trust-lsp"])),
      { command: "/work/project/env/bin/trust-lsp", args: [], source: "setting" },
    );
  });

  test("a relative setting is relative to the workspace; a bare name is left to PATH", () => {
    const found = resolveServerCommand(lookup({ configured: "tools/trust-lsp" }, ["/work/project/tools/trust-lsp"]));
    assert.deepEqual(found, { command: "/work/project/tools/trust-lsp", args: [], source: "setting" });
    assert.deepEqual(resolveServerCommand(lookup({ configured: "trust-lsp" })), { command: "trust-lsp", args: [], source: "setting" });
  });

  test("a setting pointing nowhere is an error naming the path", () => {
    const result = resolveServerCommand(lookup({ configured: "/nope/trust-lsp" }));
    assert.ok("error" in result && result.error.includes("/nope/trust-lsp"));
  });

  test("PATH comes before the workspace .venv", () => {
    const both = ["/usr/bin/trust-lsp", "/work/project/.venv/bin/trust-lsp"];
    assert.deepEqual(resolveServerCommand(lookup({}, both)), { command: "/usr/bin/trust-lsp", args: [], source: "path" });
    assert.deepEqual(resolveServerCommand(lookup({}, both.slice(1))), {
      command: "/work/project/.venv/bin/trust-lsp",
      args: [],
      source: "workspace",
    });
  });

  test("Windows: ; separated PATH and Scripts\\trust-lsp.exe", () => {
    const win = lookup({ platform: "win32", pathEnv: "C:\\a;C:\\b", workspaceFolders: ["C:\\p"] }, ["C:\\p/.venv/Scripts/trust-lsp.exe"]);
    const result = resolveServerCommand(win);
    assert.ok("command" in result && result.source === "workspace" && result.command.endsWith("trust-lsp.exe"));
  });

  test("not found anywhere: an error saying what to do", () => {
    const result = resolveServerCommand(lookup({}));
    assert.ok("error" in result && result.error.includes("trust.serverPath"));
  });
});

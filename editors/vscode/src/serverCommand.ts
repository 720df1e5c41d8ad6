// Where the `trust-lsp` executable is: the `trust.serverPath` setting, else `PATH`, else the
// workspace's virtual environment. Pure: the file system is reached through `isExecutable`.

import * as path from "node:path";

export interface ServerLookup {
  /** `trust.serverPath` ("" when unset); may use `~` and `${workspaceFolder}`. */
  configured: string;
  args: readonly string[];
  pathEnv: string;
  workspaceFolders: readonly string[];
  platform: string;
  home: string;
  isExecutable: (file: string) => boolean;
}

export type ServerCommand =
  | { command: string; args: string[]; source: "setting" | "path" | "workspace" }
  | { error: string };

function executableNames(platform: string): string[] {
  return platform === "win32" ? ["trust-lsp.exe", "trust-lsp.cmd", "trust-lsp"] : ["trust-lsp"];
}

function expand(configured: string, lookup: ServerLookup): string {
  const folder = lookup.workspaceFolders[0] ?? "";
  let value = configured.replace(/\$\{workspaceFolder\}/g, folder);
  if (value === "~" || value.startsWith("~/")) value = lookup.home + value.slice(1);
  if (!path.isAbsolute(value) && folder && /[\\/]/.test(value)) value = path.join(folder, value);
  return value;
}

/** Resolve the command that starts the server, or explain why none was found. */
export function resolveServerCommand(lookup: ServerLookup): ServerCommand {
  const args = [...lookup.args];
  const configured = lookup.configured.trim();
  if (configured) {
    const command = expand(configured, lookup);
    // A bare name ("trust-lsp") is looked up on PATH by the process spawner itself.
    if (!/[\\/]/.test(command) || lookup.isExecutable(command)) {
      return { command, args, source: "setting" };
    }
    return { error: `trust.serverPath points to ${command}, which is not an executable file.` };
  }
  const separator = lookup.platform === "win32" ? ";" : ":";
  const names = executableNames(lookup.platform);
  for (const dir of lookup.pathEnv.split(separator).filter(Boolean)) {
    for (const name of names) {
      const candidate = path.join(dir, name);
      if (lookup.isExecutable(candidate)) return { command: candidate, args, source: "path" };
    }
  }
  const venvBin = lookup.platform === "win32" ? path.join(".venv", "Scripts") : path.join(".venv", "bin");
  for (const folder of lookup.workspaceFolders) {
    for (const name of names) {
      const candidate = path.join(folder, venvBin, name);
      if (lookup.isExecutable(candidate)) return { command: candidate, args, source: "workspace" };
    }
  }
  return {
    error:
      "trust-lsp was not found on PATH or in the workspace's .venv. Install it " +
      "(pip install -e . in the trust-lsp checkout) or set trust.serverPath.",
  };
}

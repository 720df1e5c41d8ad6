// Mapping between VS Code's flat `trust.*` settings and the server's nested configuration
// keys. Pure: no `vscode` import.
//
// Only values the user set explicitly are sent. Sending every default would put them in the
// server's "client" layer, above the user's and the workspace's config files and the
// environment, and silently override those.

/** Settings that only the extension reads; they are never sent to the server. */
export const CLIENT_ONLY_KEYS: ReadonlySet<string> = new Set([
  "serverPath",
  "serverArgs",
  "trace.server",
]);

/** What `WorkspaceConfiguration.inspect()` returns (the parts used here). */
export interface Inspected {
  defaultValue?: unknown;
  globalValue?: unknown;
  workspaceValue?: unknown;
  workspaceFolderValue?: unknown;
}

/** Server keys (without the `trust.` prefix) from package.json's configuration properties. */
export function serverKeys(properties: Record<string, unknown>): string[] {
  return Object.keys(properties)
    .filter((key) => key.startsWith("trust."))
    .map((key) => key.slice("trust.".length))
    .filter((key) => !CLIENT_ONLY_KEYS.has(key));
}

/** The most specific value the user set (folder > workspace > user), if any. */
export function explicitValue(inspected: Inspected | undefined): { value: unknown } | undefined {
  if (!inspected) return undefined;
  for (const value of [
    inspected.workspaceFolderValue,
    inspected.workspaceValue,
    inspected.globalValue,
  ]) {
    if (value !== undefined) return { value };
  }
  return undefined;
}

/** Put a value at a dotted path in a nested object (creating the sections on the way). */
export function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split(".");
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== "object" || next === null || Array.isArray(next)) {
      node[part] = {};
    }
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1] ?? dotted] = value;
}

/**
 * The explicitly set server settings as the nested object the server reads from
 * `initializationOptions`, `workspace/configuration` (section `trust`) and
 * `workspace/didChangeConfiguration`.
 */
export function explicitSettings(
  keys: readonly string[],
  inspect: (key: string) => Inspected | undefined,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const found = explicitValue(inspect(key));
    if (found) setPath(out, key, found.value);
  }
  return out;
}

/** Does a configuration change touch a setting that the server reads? */
export function affectsServer(
  keys: readonly string[],
  affects: (section: string) => boolean,
): boolean {
  return keys.some((key) => affects(`trust.${key}`));
}

// Trust LSP for VS Code: starts `trust-lsp` over stdio and wires its LSP surface into the
// editor — inline completions (ghost text), "Ask Trust" code actions, the chat panel, the
// status bar, and the Trust commands. Logic that needs no `vscode` lives in the pure modules
// next to this file (unit-tested with node's test runner).

import * as fs from "node:fs";
import * as os from "node:os";
import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  type LanguageClientOptions,
  type ServerOptions,
  State,
  WorkDoneProgress,
} from "vscode-languageclient/node";
import packageJson from "../package.json";
import { CHAT_VIEW_ID, type ChatTarget, ChatViewProvider, selectionLabel } from "./chatView";
import { type ProgressValue, pullStep } from "./progress";
import { resolveServerCommand } from "./serverCommand";
import { affectsServer, explicitSettings, serverKeys } from "./settings";
import { summarizeStatus } from "./status";

const SERVER_KEYS = serverKeys(packageJson.contributes.configuration.properties);
const STATUS_REFRESH_MS = 30_000;

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The explicitly set `trust.*` server settings, nested as the server reads them. */
function currentSettings(): Record<string, unknown> {
  const config = vscode.workspace.getConfiguration("trust");
  return explicitSettings(SERVER_KEYS, (key) => config.inspect(key));
}

class TrustExtension implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private readonly output = vscode.window.createOutputChannel("Trust LSP");
  private readonly statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  private readonly chat: ChatViewProvider;
  private readonly disposables: vscode.Disposable[] = [];
  private statusTimer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly context: vscode.ExtensionContext) {
    this.chat = new ChatViewProvider(context.extensionUri, () => this.runningClient(), () => void this.refreshStatus());
    this.statusItem.command = "trust.showStatus";
    this.statusItem.text = "$(loading~spin) Trust";
    this.statusItem.show();
    this.disposables.push(
      this.output,
      this.statusItem,
      this.chat,
      vscode.window.registerWebviewViewProvider(CHAT_VIEW_ID, this.chat),
      vscode.commands.registerCommand("trust.openChat", () => this.chat.reveal()),
      vscode.commands.registerCommand("trust.askAboutSelection", () => this.askAboutSelection()),
      vscode.commands.registerCommand("trust.showStatus", () => this.showStatus()),
      vscode.commands.registerCommand("trust.pull", () => this.pullModel()),
      vscode.commands.registerCommand("trust.newChatSession", () => this.chat.newSession()),
      vscode.commands.registerCommand("trust.restartServer", () => this.restart()),
      vscode.workspace.onDidChangeConfiguration((event) => this.onConfigurationChanged(event)),
    );
  }

  private runningClient(): LanguageClient | undefined {
    return this.client?.state === State.Running ? this.client : undefined;
  }

  async start(): Promise<void> {
    const config = vscode.workspace.getConfiguration("trust");
    const resolved = resolveServerCommand({
      configured: config.get<string>("serverPath", ""),
      args: config.get<string[]>("serverArgs", []),
      pathEnv: process.env.PATH ?? "",
      workspaceFolders: (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath),
      platform: process.platform,
      home: os.homedir(),
      isExecutable,
    });
    if ("error" in resolved) {
      this.statusItem.text = "$(error) Trust";
      this.statusItem.tooltip = resolved.error;
      void vscode.window.showErrorMessage(`Trust: ${resolved.error}`, "Open Settings").then((pick) => {
        if (pick) void vscode.commands.executeCommand("workbench.action.openSettings", "trust.serverPath");
      });
      return;
    }
    this.output.appendLine(`Starting ${resolved.command} ${resolved.args.join(" ")} (found via ${resolved.source})`);
    const serverOptions: ServerOptions = {
      // No `transport` field: stdio is the server's default, and setting it would add `--stdio`.
      command: resolved.command,
      args: resolved.args,
      options: { cwd: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? os.homedir() },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
      outputChannel: this.output,
      initializationOptions: () => currentSettings(),
      middleware: {
        workspace: {
          // Answer `workspace/configuration` (section "trust") with the explicit settings only.
          configuration: async (params, token, next) => {
            const defaults = await next(params, token);
            if (!Array.isArray(defaults)) return defaults;
            return params.items.map((item, index) =>
              item.section === "trust" ? currentSettings() : defaults[index],
            );
          },
        },
        // The "Explain" and "Custom prompt" code actions run `trust.ask`: stream it into the chat.
        executeCommand: async (command, args, next) => {
          if (command === "trust.ask" || command === "trust.chat") return this.askFromCommand(command, args);
          return next(command, args);
        },
      },
    };
    const client = new LanguageClient("trust", "Trust LSP", serverOptions, clientOptions);
    // vscode-languageclient 9 ships inline completion (LSP 3.18) as a proposed feature.
    client.registerProposedFeatures();
    this.client = client;
    try {
      await client.start();
    } catch (error) {
      this.statusItem.text = "$(error) Trust";
      this.statusItem.tooltip = `trust-lsp failed to start: ${String(error)}`;
      void vscode.window.showErrorMessage(`Trust: trust-lsp failed to start: ${String(error)}`);
      return;
    }
    await this.ensureAcceptCommand();
    void this.refreshStatus();
    // The server checks its backends right after start: look again soon, then periodically.
    for (const delay of [1_500, 5_000]) setTimeout(() => void this.refreshStatus(), delay);
    this.statusTimer ??= setInterval(() => void this.refreshStatus(), STATUS_REFRESH_MS);
  }

  /**
   * Inline items carry `trust.acceptCompletion`, which VS Code runs on acceptance. The client
   * registers every command the server advertises; register a passthrough if it did not.
   */
  private async ensureAcceptCommand(): Promise<void> {
    const commands = await vscode.commands.getCommands(true);
    if (commands.includes("trust.acceptCompletion")) return;
    this.disposables.push(
      vscode.commands.registerCommand("trust.acceptCompletion", async (...args: unknown[]) => {
        await this.runningClient()?.sendRequest(ExecuteCommandRequest.type, {
          command: "trust.acceptCompletion",
          arguments: args,
        });
      }),
    );
  }

  private async restart(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await client.stop().catch(() => undefined);
    await this.start();
  }

  private onConfigurationChanged(event: vscode.ConfigurationChangeEvent): void {
    if (event.affectsConfiguration("trust.serverPath") || event.affectsConfiguration("trust.serverArgs")) {
      void vscode.window
        .showInformationMessage("Trust: restart the language server to use the new server path?", "Restart")
        .then((pick) => pick && this.restart());
      return;
    }
    const client = this.runningClient();
    if (client && affectsServer(SERVER_KEYS, (section) => event.affectsConfiguration(section))) {
      void client
        .sendNotification(DidChangeConfigurationNotification.type, { settings: { trust: currentSettings() } })
        .then(() => setTimeout(() => void this.refreshStatus(), 500));
    }
  }

  private async command<T>(command: string, args: unknown[] = []): Promise<T | undefined> {
    const client = this.runningClient();
    if (!client) return undefined;
    return (await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args })) as T;
  }

  private async refreshStatus(): Promise<void> {
    try {
      const status = await this.command<unknown>("trust.status");
      if (status === undefined) return;
      const summary = summarizeStatus(status);
      this.statusItem.text = summary.text;
      this.statusItem.tooltip = `${summary.tooltip}\n\nClick for details`;
      this.statusItem.backgroundColor =
        summary.level === "error" ? new vscode.ThemeColor("statusBarItem.errorBackground")
        : summary.level === "warning" ? new vscode.ThemeColor("statusBarItem.warningBackground")
        : undefined;
    } catch (error) {
      this.statusItem.text = "$(warning) Trust";
      this.statusItem.tooltip = `trust.status failed: ${String(error)}`;
    }
  }

  private async showStatus(): Promise<void> {
    let status: unknown;
    try {
      status = await this.command<unknown>("trust.status");
    } catch (error) {
      void vscode.window.showErrorMessage(`Trust: status failed: ${String(error)}`);
      return;
    }
    if (status === undefined) {
      void vscode.window.showWarningMessage("Trust: the language server is not running.", "Restart").then(
        (pick) => pick && this.restart(),
      );
      return;
    }
    const summary = summarizeStatus(status);
    this.statusItem.text = summary.text;
    const headline = summary.active
      ? `Trust answers with ${summary.active.name}${summary.active.models[0] ? ` (${summary.active.models[0]})` : ""}.`
      : "Trust: no backend can answer right now.";
    const pick = await vscode.window.showInformationMessage(
      headline,
      { modal: true, detail: summary.tooltip },
      "Open Chat",
      "Pull Model",
      "Show Log",
    );
    if (pick === "Open Chat") await this.chat.reveal();
    else if (pick === "Pull Model") await this.pullModel();
    else if (pick === "Show Log") this.output.show();
  }

  private async askAboutSelection(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor || editor.selection.isEmpty) {
      void vscode.window.showInformationMessage("Trust: select some code first.");
      return;
    }
    const prompt = await vscode.window.showInputBox({
      title: "Ask Trust about the selection",
      prompt: selectionLabel(editor.document, editor.selection),
      value: "Explain this code.",
      valueSelection: [0, "Explain this code.".length],
    });
    if (!prompt) return;
    const client = this.runningClient();
    const target: ChatTarget = {
      uri: editor.document.uri.toString(),
      label: selectionLabel(editor.document, editor.selection),
    };
    if (client) target.range = client.code2ProtocolConverter.asRange(editor.selection);
    await this.chat.ask("trust.chat", prompt, target);
  }

  /** A code action's `trust.ask` / `trust.chat` command: ask for a prompt if it has none. */
  private async askFromCommand(command: "trust.ask" | "trust.chat", args: unknown[]): Promise<unknown> {
    const first = (args[0] ?? {}) as Record<string, unknown> & {
      prompt?: unknown;
      uri?: unknown;
      range?: ChatTarget["range"];
    };
    let prompt = typeof first.prompt === "string" ? first.prompt : "";
    if (!prompt) {
      prompt = (await vscode.window.showInputBox({ title: "Ask Trust", prompt: "What should Trust do with the selection?" })) ?? "";
      if (!prompt) return undefined;
    }
    const target: ChatTarget = {};
    if (typeof first.uri === "string") {
      target.uri = first.uri;
      const name = first.uri.split("/").pop() ?? first.uri;
      target.label = first.range ? `${name}:${first.range.start.line + 1}-${first.range.end.line + 1}` : name;
    }
    if (first.range) target.range = first.range;
    const { prompt: _prompt, uri: _uri, range: _range, ...extra } = first;
    await this.chat.ask(command, prompt, target, extra);
    return undefined;
  }

  private async pullModel(): Promise<void> {
    const client = this.runningClient();
    if (!client) {
      void vscode.window.showErrorMessage("Trust: the language server is not running.");
      return;
    }
    const configured = vscode.workspace.getConfiguration("trust").get<string>("backends.ollama.chat_model", "");
    const model = await vscode.window.showInputBox({
      title: "Pull an Ollama model",
      prompt: "Model name, e.g. qwen2.5-coder:1.5b",
      value: configured,
    });
    if (!model) return;
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Pulling ${model}`, cancellable: true },
      async (progress, cancel) => {
        const token = `trust-pull-${Date.now()}`;
        let last = 0;
        const listener = client.onProgress(WorkDoneProgress.type, token, (value) => {
          const step = pullStep(last, value as ProgressValue);
          last = step.percentage;
          const report: { message?: string; increment?: number } = {};
          if (step.message) report.message = step.message;
          if (step.increment) report.increment = step.increment;
          progress.report(report);
        });
        try {
          await client.sendRequest(
            ExecuteCommandRequest.type,
            { command: "trust.pullModel", arguments: [{ model }], workDoneToken: token },
            cancel,
          );
          void vscode.window.showInformationMessage(`Trust: ${model} is ready.`);
        } catch (error) {
          if (!cancel.isCancellationRequested) {
            void vscode.window.showErrorMessage(`Trust: pulling ${model} failed: ${(error as Error).message}`);
          }
        } finally {
          listener.dispose();
          void this.refreshStatus();
        }
      },
    );
  }

  private disposed = false;

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    if (this.statusTimer) clearInterval(this.statusTimer);
    for (const d of this.disposables) d.dispose();
    await this.client?.stop().catch(() => undefined);
  }
}

let extension: TrustExtension | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  extension = new TrustExtension(context);
  context.subscriptions.push({ dispose: () => void extension?.dispose() });
  await extension.start();
}

export async function deactivate(): Promise<void> {
  await extension?.dispose();
  extension = undefined;
}

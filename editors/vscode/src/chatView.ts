// The chat panel: a webview view in the side bar. It sends `trust.chat` (or `trust.ask`) with a
// work-done token of its own, shows the `$/progress` deltas as they arrive, and cancels the
// request when the user presses Stop. The state lives here, so the panel can be hidden, shown
// again or reloaded without losing the conversation.

import * as path from "node:path";
import * as vscode from "vscode";
import {
  ExecuteCommandRequest,
  type LanguageClient,
  type Range as LspRange,
  WorkDoneProgress,
} from "vscode-languageclient/node";
import { CHAT_VIEW_ID, type ChatState, emptyState, isFromWebview, reduce, type ToWebview } from "./chatState";

export { CHAT_VIEW_ID };
import { type ProgressValue, StreamAssembler } from "./progress";
import { answerFooter } from "./status";

/** What a chat request may point at. */
export interface ChatTarget {
  uri?: string;
  range?: LspRange;
  /** Shown under the prompt, e.g. "app.py:3-9". */
  label?: string;
}

interface Running {
  id: number;
  cancel: vscode.CancellationTokenSource;
  assembler: StreamAssembler;
}

/** The result of `trust.chat` / `trust.ask` (see docs/lsp.md). */
interface ChatResult {
  text?: string;
  backend?: string;
  model?: string;
  sessionId?: string;
  cloud?: boolean;
  interrupted?: boolean;
}

const REQUEST_CANCELLED = -32800;

function nonce(): string {
  const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  let out = "";
  for (let i = 0; i < 32; i += 1) out += chars.charAt(Math.floor(Math.random() * chars.length));
  return out;
}

export class ChatViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  private view: vscode.WebviewView | undefined;
  private state: ChatState = emptyState();
  private sessionId: string | undefined;
  private running: Running | undefined;
  private nextId = 1;
  private lastEditor: vscode.TextEditor | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly client: () => LanguageClient | undefined,
    private readonly onAnswered: () => void,
  ) {
    this.lastEditor = vscode.window.activeTextEditor;
    this.disposables.push(
      vscode.window.onDidChangeActiveTextEditor((editor) => {
        // Keep the last real editor: the webview itself takes focus when clicked.
        if (editor) this.lastEditor = editor;
      }),
    );
  }

  dispose(): void {
    this.running?.cancel.cancel();
    for (const d of this.disposables) d.dispose();
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    const media = vscode.Uri.joinPath(this.extensionUri, "media");
    const dist = vscode.Uri.joinPath(this.extensionUri, "dist");
    view.webview.options = { enableScripts: true, localResourceRoots: [media, dist] };
    view.webview.html = this.html(view.webview);
    view.webview.onDidReceiveMessage((message: unknown) => this.onMessage(message));
    view.onDidDispose(() => {
      if (this.view === view) this.view = undefined;
    });
  }

  private html(webview: vscode.Webview): string {
    const n = nonce();
    const css = webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, "media", "chat.css"));
    const js = webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, "dist", "webview.js"));
    // Strict CSP: only this extension's stylesheet and this one script (by nonce); no remote
    // resources, no inline styles or scripts, no images.
    const csp = [
      "default-src 'none'",
      `style-src ${webview.cspSource}`,
      `font-src ${webview.cspSource}`,
      `script-src 'nonce-${n}'`,
    ].join("; ");
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${css.toString()}">
<title>Trust Chat</title>
</head>
<body>
<div id="log" role="log" aria-live="polite"></div>
<p id="empty" class="empty">Ask about your code. Answers stream in as they are generated;
the backend that answered is shown under each answer.</p>
<div id="composer">
<textarea id="prompt" rows="3" placeholder="Ask Trust… (Enter to send, Shift+Enter for a new line)"></textarea>
<div class="buttons">
<button id="send">Send</button>
<button id="stop" class="secondary" hidden>Stop</button>
<button id="new" class="secondary" title="Start a new chat session">New session</button>
</div>
</div>
<script nonce="${n}" src="${js.toString()}"></script>
</body>
</html>`;
  }

  private post(message: ToWebview): void {
    this.state = reduce(this.state, message);
    void this.view?.webview.postMessage(message);
  }

  private onMessage(message: unknown): void {
    if (!isFromWebview(message)) return;
    switch (message.type) {
      case "ready":
        void this.view?.webview.postMessage({ type: "restore", state: this.state });
        break;
      case "send":
        void this.ask("trust.chat", message.prompt, this.currentFile());
        break;
      case "stop":
        this.stop();
        break;
      case "newSession":
        void this.newSession();
        break;
      case "insert":
        void this.insert(message.code);
        break;
      case "copy":
        void vscode.env.clipboard.writeText(message.code);
        break;
    }
  }

  private currentFile(): ChatTarget {
    const editor = this.lastEditor;
    return editor ? { uri: editor.document.uri.toString() } : {};
  }

  /** Show the panel (and create it if it was never opened). */
  async reveal(): Promise<void> {
    await vscode.commands.executeCommand(`${CHAT_VIEW_ID}.focus`);
  }

  /** Stop the answer being generated: `$/cancelRequest` for the running request. */
  stop(): void {
    this.running?.cancel.cancel();
  }

  async newSession(): Promise<void> {
    this.stop();
    this.sessionId = undefined;
    const client = this.client();
    if (client) {
      try {
        const result = (await client.sendRequest(ExecuteCommandRequest.type, {
          command: "trust.newSession",
          arguments: [],
        })) as { sessionId?: string } | null;
        if (result?.sessionId) this.sessionId = result.sessionId;
      } catch (error) {
        void vscode.window.showWarningMessage(`Trust: could not start a new session: ${String(error)}`);
      }
    }
    this.post({ type: "cleared" });
  }

  private async insert(code: string): Promise<void> {
    const editor = this.lastEditor;
    if (!editor || editor.document.isClosed) {
      void vscode.window.showInformationMessage("Trust: open an editor to insert the code into.");
      return;
    }
    await vscode.window.showTextDocument(editor.document, editor.viewColumn);
    await editor.edit((edit) => {
      for (const selection of editor.selections) edit.replace(selection, code);
    });
  }

  /**
   * Ask a question in the panel: `trust.chat` continues the session, `trust.ask` is one-shot
   * (the "Explain" and "Custom prompt" code actions use it).
   */
  async ask(
    command: "trust.chat" | "trust.ask",
    prompt: string,
    target: ChatTarget,
    extra: Record<string, unknown> = {},
  ): Promise<void> {
    const client = this.client();
    if (!client) {
      void vscode.window.showErrorMessage("Trust: the language server is not running.");
      return;
    }
    if (this.running) this.stop();
    await this.reveal();
    const id = this.nextId++;
    const start: ToWebview = { type: "turnStart", id, prompt };
    if (target.label) start.context = target.label;
    this.post(start);

    const cancel = new vscode.CancellationTokenSource();
    const assembler = new StreamAssembler();
    const running: Running = { id, cancel, assembler };
    this.running = running;
    const token = `trust-chat-${Date.now()}-${id}`;
    const progress = client.onProgress(WorkDoneProgress.type, token, (value) => {
      const delta = assembler.apply(value as ProgressValue);
      if (delta) this.post({ type: "delta", id, text: delta });
    });
    // `extra` carries what a code action's command had besides the prompt (e.g. its "action").
    const args: Record<string, unknown> = { ...extra, prompt };
    if (command === "trust.chat" && this.sessionId) args.sessionId = this.sessionId;
    if (target.uri) args.uri = target.uri;
    if (target.range) args.range = target.range;
    try {
      const result = (await client.sendRequest(
        ExecuteCommandRequest.type,
        { command, arguments: [args], workDoneToken: token },
        cancel.token,
      )) as ChatResult | null;
      if (result?.sessionId && command === "trust.chat") this.sessionId = result.sessionId;
      const text = assembler.settle(result?.text);
      this.post({
        type: "turnEnd",
        id,
        text,
        footer: answerFooter(result ?? {}),
        cloud: result?.cloud === true,
        interrupted: result?.interrupted === true || cancel.token.isCancellationRequested,
      });
    } catch (error) {
      const code = (error as { code?: number }).code;
      if (cancel.token.isCancellationRequested || code === REQUEST_CANCELLED) {
        // The server keeps the partial answer in the session; show what arrived.
        this.post({
          type: "turnEnd",
          id,
          text: assembler.text,
          footer: "stopped",
          cloud: false,
          interrupted: true,
        });
      } else {
        this.post({ type: "turnError", id, message: (error as Error).message ?? String(error) });
      }
    } finally {
      progress.dispose();
      cancel.dispose();
      if (this.running === running) this.running = undefined;
      this.onAnswered();
    }
  }
}

/** "app.py:3-9" for a selection (1-based lines, as editors show them). */
export function selectionLabel(document: vscode.TextDocument, selection: vscode.Selection): string {
  const name = path.basename(document.uri.fsPath || document.uri.path);
  const first = selection.start.line + 1;
  const last = selection.end.line + (selection.end.character === 0 && selection.end.line > selection.start.line ? 0 : 1);
  return first === last ? `${name}:${first}` : `${name}:${first}-${last}`;
}

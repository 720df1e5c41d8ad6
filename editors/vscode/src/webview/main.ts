// The chat panel's script, running inside the webview (a browser context with a strict CSP:
// this bundled file is the only script, no remote resources). It renders the state kept by the
// extension and sends the user's actions back; all text goes through the escaping renderer.

import { type ChatState, type FromWebview, type ToWebview, emptyState, reduce, type Turn } from "../chatState";
import { type CodeBlock, renderMarkdown } from "../markdown";
import { escapeHtml } from "../highlight";

interface VsCodeApi {
  postMessage(message: FromWebview): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const log = document.getElementById("log") as HTMLDivElement;
const prompt = document.getElementById("prompt") as HTMLTextAreaElement;
const sendButton = document.getElementById("send") as HTMLButtonElement;
const stopButton = document.getElementById("stop") as HTMLButtonElement;
const newButton = document.getElementById("new") as HTMLButtonElement;

let state: ChatState = emptyState();
const codeBlocks = new Map<number, CodeBlock[]>();
const dirty = new Set<number>();
let frame = 0;

function turnHtml(turn: Turn): string {
  const context = turn.context ? `<span class="context">${escapeHtml(turn.context)}</span>` : "";
  return (
    `<div class="prompt">${escapeHtml(turn.prompt)}${context}</div>` +
    `<div class="answer"></div><div class="footer"></div>`
  );
}

function renderTurn(turn: Turn): void {
  let element = log.querySelector<HTMLDivElement>(`.turn[data-id="${turn.id}"]`);
  if (!element) {
    element = document.createElement("div");
    element.className = "turn";
    element.dataset.id = String(turn.id);
    element.innerHTML = turnHtml(turn);
    log.appendChild(element);
  }
  const rendered = renderMarkdown(turn.text);
  codeBlocks.set(turn.id, rendered.codeBlocks);
  const answer = element.querySelector(".answer") as HTMLDivElement;
  const cursor = '<span class="cursor">▍</span>';
  // While streaming, the cursor goes at the end of the last paragraph (or after the last block).
  answer.innerHTML = !turn.streaming
    ? rendered.html
    : rendered.html.endsWith("</p>")
      ? `${rendered.html.slice(0, -"</p>".length)}${cursor}</p>`
      : rendered.html + cursor;
  const footer = element.querySelector(".footer") as HTMLDivElement;
  footer.textContent = turn.error ? `Error: ${turn.error}` : (turn.footer ?? "");
  footer.classList.toggle("error", Boolean(turn.error));
  element.classList.toggle("cloud", turn.cloud === true);
  element.classList.toggle("interrupted", turn.interrupted === true);
}

function renderAll(): void {
  log.innerHTML = "";
  codeBlocks.clear();
  for (const turn of state.turns) renderTurn(turn);
  renderControls();
}

function renderControls(): void {
  stopButton.hidden = !state.busy;
  sendButton.disabled = state.busy;
  const empty = document.getElementById("empty");
  if (empty) empty.hidden = state.turns.length > 0;
}

function flush(): void {
  frame = 0;
  const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  for (const id of dirty) {
    const turn = state.turns.find((t) => t.id === id);
    if (turn) renderTurn(turn);
  }
  dirty.clear();
  renderControls();
  if (nearBottom) log.scrollTop = log.scrollHeight;
}

function schedule(id: number): void {
  dirty.add(id);
  // Deltas can arrive faster than frames: render at most once per frame.
  if (!frame) frame = requestAnimationFrame(flush);
}

window.addEventListener("message", (event: MessageEvent<ToWebview>) => {
  const message = event.data;
  state = reduce(state, message);
  if (message.type === "cleared" || message.type === "restore") {
    renderAll();
    log.scrollTop = log.scrollHeight;
  } else {
    schedule(message.id);
  }
});

log.addEventListener("click", (event) => {
  const target = event.target as HTMLElement;
  const button = target.closest<HTMLButtonElement>("button.code-action");
  if (!button) return;
  const turn = button.closest<HTMLElement>(".turn");
  const block = codeBlocks.get(Number(turn?.dataset.id))?.[Number(button.dataset.index)];
  if (!block) return;
  vscode.postMessage({ type: button.dataset.action === "insert" ? "insert" : "copy", code: block.code });
  if (button.dataset.action === "copy") {
    button.textContent = "Copied";
    setTimeout(() => (button.textContent = "Copy"), 1200);
  }
});

function send(): void {
  const text = prompt.value.trim();
  if (!text || state.busy) return;
  vscode.postMessage({ type: "send", prompt: text });
  prompt.value = "";
}

sendButton.addEventListener("click", send);
stopButton.addEventListener("click", () => vscode.postMessage({ type: "stop" }));
newButton.addEventListener("click", () => vscode.postMessage({ type: "newSession" }));
prompt.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  }
});

vscode.postMessage({ type: "ready" });

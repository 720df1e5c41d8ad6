// The chat panel's messages (extension ⇄ webview) and its state, as a pure reducer shared by
// both sides: the webview renders the state, unit tests drive the reducer.

/** The chat panel's view id (package.json `contributes.views`). */
export const CHAT_VIEW_ID = "trust.chatView";

export interface Turn {
  id: number;
  prompt: string;
  /** Where the question points, e.g. "app.py:3-9" for a selection. */
  context?: string;
  text: string;
  streaming: boolean;
  footer?: string;
  cloud?: boolean;
  interrupted?: boolean;
  error?: string;
}

export interface ChatState {
  turns: Turn[];
  busy: boolean;
}

/** Extension → webview. */
export type ToWebview =
  | { type: "turnStart"; id: number; prompt: string; context?: string }
  | { type: "delta"; id: number; text: string }
  | {
      type: "turnEnd";
      id: number;
      text: string;
      footer: string;
      cloud: boolean;
      interrupted: boolean;
    }
  | { type: "turnError"; id: number; message: string }
  | { type: "cleared" }
  | { type: "restore"; state: ChatState };

/** Webview → extension. */
export type FromWebview =
  | { type: "ready" }
  | { type: "send"; prompt: string }
  | { type: "stop" }
  | { type: "insert"; code: string }
  | { type: "copy"; code: string }
  | { type: "newSession" };

export const emptyState = (): ChatState => ({ turns: [], busy: false });

function update(state: ChatState, id: number, change: (turn: Turn) => Turn): ChatState {
  return { ...state, turns: state.turns.map((turn) => (turn.id === id ? change(turn) : turn)) };
}

/** Apply one message from the extension to the panel's state. */
export function reduce(state: ChatState, message: ToWebview): ChatState {
  switch (message.type) {
    case "turnStart": {
      const turn: Turn = { id: message.id, prompt: message.prompt, text: "", streaming: true };
      if (message.context) turn.context = message.context;
      return { turns: [...state.turns, turn], busy: true };
    }
    case "delta":
      return update(state, message.id, (turn) =>
        turn.streaming ? { ...turn, text: turn.text + message.text } : turn,
      );
    case "turnEnd":
      return {
        ...update(state, message.id, (turn) => ({
          ...turn,
          text: message.text,
          streaming: false,
          footer: message.footer,
          cloud: message.cloud,
          interrupted: message.interrupted,
        })),
        busy: false,
      };
    case "turnError":
      return {
        ...update(state, message.id, (turn) => ({
          ...turn,
          streaming: false,
          error: message.message,
        })),
        busy: false,
      };
    case "cleared":
      return emptyState();
    case "restore":
      return message.state;
    default:
      return state;
  }
}

/** Is this value a message the webview may send? (The webview is untrusted input.) */
export function isFromWebview(value: unknown): value is FromWebview {
  if (typeof value !== "object" || value === null) return false;
  const message = value as Record<string, unknown>;
  switch (message.type) {
    case "ready":
    case "stop":
    case "newSession":
      return true;
    case "send":
      return typeof message.prompt === "string";
    case "insert":
    case "copy":
      return typeof message.code === "string";
    default:
      return false;
  }
}

// Work-done progress (`$/progress`) as the server uses it for streaming: `begin`, one
// `report` per text delta (`message` = the delta), `end`. Pure: no `vscode` import.

export interface ProgressBegin {
  kind: "begin";
  title?: string;
  message?: string;
  percentage?: number;
  cancellable?: boolean;
}
export interface ProgressReport {
  kind: "report";
  message?: string;
  percentage?: number;
  cancellable?: boolean;
}
export interface ProgressEnd {
  kind: "end";
  message?: string;
}
export type ProgressValue = ProgressBegin | ProgressReport | ProgressEnd;

/** Assembles an answer from the deltas of one progress token, in arrival order. */
export class StreamAssembler {
  private parts: string[] = [];
  began = false;
  ended = false;

  /** Apply one progress value; returns the text it added ("" for begin/end). */
  apply(value: ProgressValue): string {
    switch (value.kind) {
      case "begin":
        this.began = true;
        return "";
      case "report": {
        // Reports after `end` belong to nobody: the stream is over.
        if (this.ended || !value.message) return "";
        this.parts.push(value.message);
        return value.message;
      }
      case "end":
        this.ended = true;
        return "";
      default:
        return "";
    }
  }

  get text(): string {
    return this.parts.join("");
  }

  get deltas(): number {
    return this.parts.length;
  }

  /**
   * The text to show once the command's result is in: the result's `text` is the whole answer,
   * so it wins when the stream missed something (a dropped notification, or no stream at all).
   */
  settle(resultText: string | undefined): string {
    const text = resultText ?? this.text;
    this.parts = [text];
    return text;
  }
}

/**
 * For "Trust: Pull Model": turn a progress value into what VS Code's progress notification
 * takes: a message and an increment (VS Code adds increments up; percentages are absolute).
 */
export function pullStep(
  lastPercentage: number,
  value: ProgressValue,
): { message?: string; increment?: number; percentage: number } {
  const message = value.kind === "begin" ? (value.message ?? value.title) : value.message;
  const percentage =
    value.kind === "end"
      ? 100
      : typeof value.percentage === "number"
        ? Math.max(0, Math.min(100, value.percentage))
        : lastPercentage;
  const increment = percentage > lastPercentage ? percentage - lastPercentage : undefined;
  const step: { message?: string; increment?: number; percentage: number } = { percentage };
  if (message) step.message = message;
  if (increment !== undefined) step.increment = increment;
  return step;
}

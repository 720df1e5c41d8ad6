// Turning the `trust.status` command's result into the status bar item and the
// "Trust: Show Status" report. Pure: no `vscode` import. The result is read defensively:
// a server of another version may add or leave out fields.

export interface BackendSummary {
  name: string;
  allowed: boolean;
  /** Listed in fallback.order (a backend left out of it never answers). */
  inOrder: boolean;
  healthy: boolean;
  detail: string;
  models: string[];
}

export interface StatusSummary {
  /** Status bar text (with a codicon). */
  text: string;
  tooltip: string;
  level: "ok" | "warning" | "error";
  /** The backend that would answer now (first healthy, allowed one in fallback order). */
  active?: BackendSummary;
  backends: BackendSummary[];
  version?: string;
  privacy?: string;
  acceptanceRate?: number;
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

function healthOf(info: Json): { healthy: boolean; detail: string } {
  const health = info.health;
  if (typeof info.healthy === "boolean") {
    return { healthy: info.healthy, detail: String(info.detail ?? "") };
  }
  if (isObject(health)) {
    const ok = health.ok ?? health.healthy;
    return { healthy: ok === true, detail: String(health.detail ?? info.detail ?? "") };
  }
  if (typeof health === "boolean") return { healthy: health, detail: String(info.detail ?? "") };
  if (typeof health === "string") return { healthy: /^(ok|healthy|up)$/i.test(health), detail: health };
  return { healthy: false, detail: String(info.detail ?? "unknown") };
}

function modelsOf(info: Json): string[] {
  const models = info.models ?? info.model;
  if (typeof models === "string") return [models];
  if (Array.isArray(models)) return models.filter((m): m is string => typeof m === "string");
  if (isObject(models)) {
    // e.g. {completion: "…", chat: "…"}: completion first, it is what the ghost text uses.
    const ordered = ["completion", "chat", ...Object.keys(models)];
    const out: string[] = [];
    for (const key of ordered) {
      const value = models[key];
      if (typeof value === "string" && value && !out.includes(value)) out.push(value);
    }
    return out;
  }
  return [];
}

/** Read the backends in fallback order (when the status names it), else as listed. */
export function backendsOf(status: unknown): BackendSummary[] {
  if (!isObject(status) || !isObject(status.backends)) return [];
  const backends = status.backends;
  const fallback = isObject(status.fallback) ? status.fallback.order : status.order;
  const order = Array.isArray(fallback)
    ? fallback.filter((n): n is string => typeof n === "string" && n in backends)
    : [];
  const listed = Array.isArray(fallback) ? new Set(order) : undefined;
  for (const name of Object.keys(backends)) if (!order.includes(name)) order.push(name);
  return order.map((name) => {
    const info = isObject(backends[name]) ? (backends[name] as Json) : {};
    const { healthy, detail } = healthOf(info);
    return {
      name,
      allowed: info.allowed !== false,
      inOrder: listed ? listed.has(name) : true,
      healthy,
      detail,
      models: modelsOf(info),
    };
  });
}

/** Summarize a `trust.status` result for the status bar. */
export function summarizeStatus(status: unknown): StatusSummary {
  const backends = backendsOf(status);
  const json = isObject(status) ? status : {};
  const privacy = isObject(json.privacy)
    ? String(json.privacy.mode ?? "")
    : typeof json.privacy === "string"
      ? json.privacy
      : undefined;
  const version = typeof json.version === "string" ? json.version : undefined;
  const rate = typeof json.acceptanceRate === "number" ? json.acceptanceRate : undefined;
  const usable = backends.filter((b) => b.allowed && b.inOrder);
  const active = usable.find((b) => b.healthy);
  const lines = backends.map((b) => {
    const mark = !b.allowed ? "–" : b.healthy ? "✓" : "✗";
    const models = b.models.length ? ` (${b.models.join(", ")})` : "";
    const detail = b.detail ? `: ${b.detail}` : "";
    const unused = b.inOrder ? "" : " [not in fallback.order]";
    return `${mark} ${b.name}${models}${detail}${unused}`;
  });
  if (privacy) lines.push(`privacy: ${privacy}`);
  if (rate !== undefined) lines.push(`completions accepted: ${Math.round(rate * 100)}%`);
  if (version) lines.push(`trust-lsp ${version}`);
  const summary: StatusSummary = {
    text: active
      ? `$(sparkle) ${active.name}${active.models[0] ? ` · ${active.models[0]}` : ""}`
      : "$(warning) Trust: no backend",
    tooltip: lines.join("\n") || "Trust LSP",
    level: active ? (active === usable[0] ? "ok" : "warning") : "error",
    backends,
  };
  if (active) summary.active = active;
  if (version) summary.version = version;
  if (privacy) summary.privacy = privacy;
  if (rate !== undefined) summary.acceptanceRate = rate;
  return summary;
}

/** The footer under a chat answer: which backend and model answered, cloud marked. */
export function answerFooter(result: {
  backend?: unknown;
  model?: unknown;
  cloud?: unknown;
  interrupted?: unknown;
}): string {
  const parts: string[] = [];
  if (typeof result.backend === "string" && result.backend) parts.push(result.backend);
  if (typeof result.model === "string" && result.model) parts.push(result.model);
  let text = parts.join(" · ");
  if (result.cloud === true) text = result.backend === "cloud" ? `☁ ${text}` : `☁ ${text} (cloud)`;
  if (result.interrupted === true) text += text ? " (stopped)" : "stopped";
  return text;
}

// A small markdown renderer for chat answers: headings, paragraphs, lists, block quotes,
// pipe tables, rules, fenced code (highlighted, with Insert/Copy buttons) and inline code,
// emphasis and links. Every piece of text is HTML-escaped; nothing loads remote resources
// (no images). It tolerates half-written input, because answers are re-rendered as they
// stream in: an unclosed fence is shown as a code block that is still growing.

import { escapeHtml, highlight } from "./highlight";

export interface CodeBlock {
  /** The fence's info string, e.g. "python". */
  lang: string;
  code: string;
  /** False while the closing fence has not arrived yet. */
  complete: boolean;
}

export interface Rendered {
  html: string;
  codeBlocks: CodeBlock[];
}

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
const BULLET = /^(\s*)([-*+])\s+(.*)$/;
const ORDERED = /^(\s*)(\d{1,9})[.)]\s+(.*)$/;
const QUOTE = /^ {0,3}>\s?(.*)$/;
const TABLE_DIVIDER = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;

const SAFE_URL = /^(https?:|mailto:)/i;

/** Render inline markdown (code spans, bold, italic, links) to escaped HTML. */
export function renderInline(text: string): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === "\\" && i + 1 < text.length && /[\\`*_[\]()#+\-.!|>~]/.test(text[i + 1] ?? "")) {
      out += escapeHtml(text[i + 1] ?? "");
      i += 2;
      continue;
    }
    if (ch === "`") {
      let ticks = 1;
      while (text[i + ticks] === "`") ticks += 1;
      const fence = "`".repeat(ticks);
      const end = text.indexOf(fence, i + ticks);
      if (end > 0) {
        const code = text.slice(i + ticks, end).replace(/^ (.*) $/, "$1");
        out += `<code>${escapeHtml(code)}</code>`;
        i = end + ticks;
        continue;
      }
    }
    if ((ch === "*" || ch === "_") && text[i + 1] === ch) {
      const marker = ch + ch;
      const end = text.indexOf(marker, i + 2);
      if (end > i + 2) {
        out += `<strong>${renderInline(text.slice(i + 2, end))}</strong>`;
        i = end + 2;
        continue;
      }
    }
    if (ch === "*" || (ch === "_" && !/\w/.test(text[i - 1] ?? ""))) {
      const end = text.indexOf(ch, i + 1);
      const inner = end > i + 1 ? text.slice(i + 1, end) : "";
      if (inner && !/^\s|\s$/.test(inner) && (ch === "*" || !/\w/.test(text[end + 1] ?? ""))) {
        out += `<em>${renderInline(inner)}</em>`;
        i = end + 1;
        continue;
      }
    }
    if (ch === "[") {
      const link = /^\[([^\]]*)\]\(([^)\s]*)\)/.exec(text.slice(i));
      if (link) {
        const [whole, label = "", url = ""] = link;
        out += SAFE_URL.test(url)
          ? `<a href="${escapeHtml(url)}" title="${escapeHtml(url)}">${renderInline(label)}</a>`
          : renderInline(label);
        i += whole.length;
        continue;
      }
    }
    out += escapeHtml(ch ?? "");
    i += 1;
  }
  return out;
}

function splitRow(line: string): string[] {
  let row = line.trim();
  if (row.startsWith("|")) row = row.slice(1);
  if (row.endsWith("|") && !row.endsWith("\\|")) row = row.slice(0, -1);
  return row.split(/(?<!\\)\|/).map((cell) => cell.trim());
}

function codeBlockHtml(block: CodeBlock, index: number): string {
  const lang = block.lang ? `<span class="code-lang">${escapeHtml(block.lang)}</span>` : "";
  return (
    `<div class="code-block" data-index="${index}">` +
    `<div class="code-toolbar">${lang}` +
    `<button class="code-action" data-action="insert" data-index="${index}">Insert at cursor</button>` +
    `<button class="code-action" data-action="copy" data-index="${index}">Copy</button></div>` +
    `<pre><code>${highlight(block.code, block.lang)}</code></pre></div>`
  );
}

/** Render a whole markdown document; code blocks are numbered in order of appearance. */
export function renderMarkdown(source: string): Rendered {
  const codeBlocks: CodeBlock[] = [];
  const html = renderBlocks(source.replace(/\r\n?/g, "\n").split("\n"), codeBlocks);
  return { html, codeBlocks };
}

function renderBlocks(lines: string[], codeBlocks: CodeBlock[]): string {
  const out: string[] = [];
  let paragraph: string[] = [];
  const flushParagraph = (): void => {
    if (paragraph.length) {
      out.push(`<p>${paragraph.map(renderInline).join("<br>")}</p>`);
      paragraph = [];
    }
  };
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] ?? "";
    const fence = FENCE.exec(line);
    if (fence) {
      flushParagraph();
      const marker = fence[1] ?? "```";
      const body: string[] = [];
      let j = i + 1;
      let complete = false;
      while (j < lines.length) {
        const current = lines[j] ?? "";
        if (current.trim().startsWith(marker) && current.trim().replace(/[`~]/g, "") === "") {
          complete = true;
          break;
        }
        body.push(current);
        j += 1;
      }
      const block: CodeBlock = { lang: fence[2] ?? "", code: body.join("\n"), complete };
      codeBlocks.push(block);
      out.push(codeBlockHtml(block, codeBlocks.length - 1));
      i = j + 1;
      continue;
    }
    if (line.trim() === "") {
      flushParagraph();
      i += 1;
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      flushParagraph();
      const level = heading[1]?.length ?? 1;
      out.push(`<h${level}>${renderInline(heading[2] ?? "")}</h${level}>`);
      i += 1;
      continue;
    }
    if (RULE.test(line)) {
      flushParagraph();
      out.push("<hr>");
      i += 1;
      continue;
    }
    if (QUOTE.test(line)) {
      flushParagraph();
      const quoted: string[] = [];
      while (i < lines.length && QUOTE.test(lines[i] ?? "")) {
        quoted.push(QUOTE.exec(lines[i] ?? "")?.[1] ?? "");
        i += 1;
      }
      out.push(`<blockquote>${renderBlocks(quoted, codeBlocks)}</blockquote>`);
      continue;
    }
    if (line.includes("|") && TABLE_DIVIDER.test(lines[i + 1] ?? "") && lines[i + 1]?.includes("-")) {
      flushParagraph();
      const head = splitRow(line);
      const rows: string[][] = [];
      i += 2;
      while (i < lines.length && (lines[i] ?? "").includes("|") && (lines[i] ?? "").trim()) {
        rows.push(splitRow(lines[i] ?? ""));
        i += 1;
      }
      const th = head.map((cell) => `<th>${renderInline(cell)}</th>`).join("");
      const body = rows
        .map((row) => `<tr>${row.map((cell) => `<td>${renderInline(cell)}</td>`).join("")}</tr>`)
        .join("");
      out.push(`<table><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table>`);
      continue;
    }
    const bullet = BULLET.exec(line);
    const ordered = bullet ? null : ORDERED.exec(line);
    if (bullet || ordered) {
      flushParagraph();
      const pattern = bullet ? BULLET : ORDERED;
      const tag = bullet ? "ul" : "ol";
      const start = ordered && ordered[2] !== "1" ? ` start="${Number(ordered[2])}"` : "";
      const baseIndent = (bullet ?? ordered)?.[1]?.length ?? 0;
      const items: string[][] = [];
      while (i < lines.length) {
        const current = lines[i] ?? "";
        const match = pattern.exec(current);
        if (match && (match[1]?.length ?? 0) <= baseIndent + 1) {
          items.push([match[3] ?? ""]);
        } else if (current.trim() === "") {
          // A blank line ends the list unless the next line continues it (indented or a new item).
          const next = lines[i + 1] ?? "";
          if (!(pattern.exec(next) || /^\s{2,}\S/.test(next))) break;
          items[items.length - 1]?.push("");
        } else if (/^\s+\S/.test(current) || !FENCE.test(current)) {
          if (!/^\s/.test(current) && (HEADING.test(current) || RULE.test(current))) break;
          items[items.length - 1]?.push(current.replace(/^\s{1,4}/, ""));
        } else {
          break;
        }
        i += 1;
      }
      const rendered = items.map((item) => {
        const inner = renderBlocks(item, codeBlocks);
        // A one-paragraph item is shown without its <p> wrapper, like most renderers do.
        const tight = /^<p>((?:(?!<p>).)*)<\/p>$/s.exec(inner);
        return `<li>${tight ? tight[1] : inner}</li>`;
      });
      out.push(`<${tag}${start}>${rendered.join("")}</${tag}>`);
      continue;
    }
    paragraph.push(line.trim());
    i += 1;
  }
  flushParagraph();
  return out.join("\n");
}

// A small syntax highlighter for the chat panel's code blocks: keywords, strings, comments
// and numbers for the languages models answer in most. Pure (no DOM, no `vscode`), so it is
// unit-tested with node's test runner and bundled into the webview without remote resources.

export interface LanguageSpec {
  keywords: ReadonlySet<string>;
  /** Literals such as true/false/null, shown like numbers. */
  constants: ReadonlySet<string>;
  lineComments: readonly string[];
  blockComments: ReadonlyArray<readonly [string, string]>;
  /** String delimiters, longest first (e.g. `"""` before `"`). */
  strings: readonly string[];
}

const words = (text: string): ReadonlySet<string> => new Set(text.split(/\s+/).filter(Boolean));

const C_LIKE_COMMENTS = {
  lineComments: ["//"],
  blockComments: [["/*", "*/"]] as ReadonlyArray<readonly [string, string]>,
};

const PYTHON: LanguageSpec = {
  keywords: words(`and as assert async await break class continue def del elif else except
    finally for from global if import in is lambda match case nonlocal not or pass raise return
    try while with yield self`),
  constants: words("True False None"),
  lineComments: ["#"],
  blockComments: [],
  strings: ['"""', "'''", '"', "'"],
};

const JAVASCRIPT: LanguageSpec = {
  keywords: words(`async await break case catch class const continue debugger default delete do
    else export extends finally for from function if import in instanceof let new of return
    static super switch this throw try typeof var void while with yield interface type enum
    implements private protected public readonly abstract declare namespace as keyof`),
  constants: words("true false null undefined NaN Infinity"),
  ...C_LIKE_COMMENTS,
  strings: ["`", '"', "'"],
};

const RUST: LanguageSpec = {
  keywords: words(`as async await break const continue crate dyn else enum extern fn for if impl
    in let loop match mod move mut pub ref return self Self static struct super trait type
    unsafe use where while`),
  constants: words("true false None Some Ok Err"),
  ...C_LIKE_COMMENTS,
  strings: ['"'],
};

const GO: LanguageSpec = {
  keywords: words(`break case chan const continue default defer else fallthrough for func go
    goto if import interface map package range return select struct switch type var`),
  constants: words("true false nil iota"),
  ...C_LIKE_COMMENTS,
  strings: ["`", '"', "'"],
};

const C_FAMILY: LanguageSpec = {
  keywords: words(`auto break case catch char class const continue default delete do double else
    enum extern final float for friend goto if inline int long namespace new operator private
    protected public return short signed sizeof static struct switch template this throw try
    typedef typename union unsigned using virtual void volatile while bool boolean byte extends
    implements import interface package super synchronized throws var val fun when object
    override internal string async await foreach in out ref readonly`),
  constants: words("true false null nullptr NULL"),
  ...C_LIKE_COMMENTS,
  strings: ['"', "'"],
};

const LUA: LanguageSpec = {
  keywords: words(`and break do else elseif end for function goto if in local not or repeat
    return then until while`),
  constants: words("true false nil"),
  lineComments: ["--"],
  blockComments: [["--[[", "]]"]],
  strings: ['"', "'"],
};

const SHELL: LanguageSpec = {
  keywords: words(`if then else elif fi for while until do done case esac in function return
    local export set unset echo cd exit source`),
  constants: words("true false"),
  lineComments: ["#"],
  blockComments: [],
  strings: ['"', "'"],
};

const JSON_SPEC: LanguageSpec = {
  keywords: new Set(),
  constants: words("true false null"),
  lineComments: [],
  blockComments: [],
  strings: ['"'],
};

const PLAIN: LanguageSpec = {
  keywords: new Set(),
  constants: new Set(),
  lineComments: [],
  blockComments: [],
  strings: [],
};

const LANGUAGES: Record<string, LanguageSpec> = {
  python: PYTHON,
  py: PYTHON,
  javascript: JAVASCRIPT,
  js: JAVASCRIPT,
  jsx: JAVASCRIPT,
  typescript: JAVASCRIPT,
  ts: JAVASCRIPT,
  tsx: JAVASCRIPT,
  rust: RUST,
  rs: RUST,
  go: GO,
  golang: GO,
  c: C_FAMILY,
  h: C_FAMILY,
  cpp: C_FAMILY,
  "c++": C_FAMILY,
  cc: C_FAMILY,
  java: C_FAMILY,
  kotlin: C_FAMILY,
  kt: C_FAMILY,
  csharp: C_FAMILY,
  cs: C_FAMILY,
  "c#": C_FAMILY,
  lua: LUA,
  sh: SHELL,
  bash: SHELL,
  shell: SHELL,
  zsh: SHELL,
  json: JSON_SPEC,
  jsonc: { ...JSON_SPEC, ...C_LIKE_COMMENTS },
};

/** The spec for a fence's info string ("py", "TypeScript", "rust ignore"…); plain if unknown. */
export function languageSpec(info: string): LanguageSpec {
  const name = info.trim().split(/\s+/)[0]?.toLowerCase() ?? "";
  return LANGUAGES[name] ?? PLAIN;
}

/** Escape text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

export type TokenKind = "kw" | "str" | "com" | "num" | "const" | "text";
export interface Token {
  kind: TokenKind;
  text: string;
}

const IDENT = /[A-Za-z_$][\w$]*/y;
const NUMBER = /(?:0[xX][\da-fA-F_]+|0[bB][01_]+|\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?)[a-zA-Z]*/y;

/** Split code into tokens; concatenating the tokens' text gives the code back unchanged. */
export function tokenize(code: string, spec: LanguageSpec): Token[] {
  const tokens: Token[] = [];
  let plain = "";
  const flush = (): void => {
    if (plain) {
      tokens.push({ kind: "text", text: plain });
      plain = "";
    }
  };
  const push = (kind: TokenKind, text: string): void => {
    flush();
    tokens.push({ kind, text });
  };
  let i = 0;
  outer: while (i < code.length) {
    for (const [open, close] of spec.blockComments) {
      if (code.startsWith(open, i)) {
        const end = code.indexOf(close, i + open.length);
        const stop = end < 0 ? code.length : end + close.length;
        push("com", code.slice(i, stop));
        i = stop;
        continue outer;
      }
    }
    for (const marker of spec.lineComments) {
      if (code.startsWith(marker, i)) {
        const end = code.indexOf("\n", i);
        const stop = end < 0 ? code.length : end;
        push("com", code.slice(i, stop));
        i = stop;
        continue outer;
      }
    }
    for (const quote of spec.strings) {
      if (code.startsWith(quote, i)) {
        let j = i + quote.length;
        const multiline = quote.length > 1 || quote === "`";
        while (j < code.length && !code.startsWith(quote, j)) {
          if (code[j] === "\\") j += 1;
          else if (code[j] === "\n" && !multiline) break;
          j += 1;
        }
        const stop = code.startsWith(quote, j) ? j + quote.length : Math.min(j, code.length);
        push("str", code.slice(i, stop));
        i = stop;
        continue outer;
      }
    }
    const ch = code[i] ?? "";
    if (/[A-Za-z_$]/.test(ch)) {
      IDENT.lastIndex = i;
      const word = IDENT.exec(code)?.[0] ?? ch;
      if (spec.keywords.has(word)) push("kw", word);
      else if (spec.constants.has(word)) push("const", word);
      else plain += word;
      i += word.length;
      continue;
    }
    if (/\d/.test(ch) && spec !== PLAIN) {
      NUMBER.lastIndex = i;
      const num = NUMBER.exec(code)?.[0] ?? ch;
      push("num", num);
      i += num.length;
      continue;
    }
    plain += ch;
    i += 1;
  }
  flush();
  return tokens;
}

/** Highlighted HTML for a code block (all text escaped; classes `tok-kw`, `tok-str`…). */
export function highlight(code: string, info: string): string {
  return tokenize(code, languageSpec(info))
    .map((token) =>
      token.kind === "text"
        ? escapeHtml(token.text)
        : `<span class="tok-${token.kind}">${escapeHtml(token.text)}</span>`,
    )
    .join("");
}

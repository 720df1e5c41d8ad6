import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { escapeHtml, highlight, languageSpec, tokenize } from "../src/highlight";
import { renderInline, renderMarkdown } from "../src/markdown";

describe("renderInline", () => {
  const cases: Array<[string, string]> = [
    ["plain text", "plain text"],
    ["a <b> & c", "a &lt;b&gt; &amp; c"],
    ["use `x < y` here", "use <code>x &lt; y</code> here"],
    ["**bold** and *it*", "<strong>bold</strong> and <em>it</em>"],
    ["__bold__ and _it_", "<strong>bold</strong> and <em>it</em>"],
    ["snake_case_name stays", "snake_case_name stays"],
    ["[docs](https://example.org/a?b=1&c=2)", '<a href="https://example.org/a?b=1&amp;c=2" title="https://example.org/a?b=1&amp;c=2">docs</a>'],
    ["[x](javascript:alert(1))", "x)"],
    ["\\*not italic\\*", "*not italic*"],
    ["2 * 3 * 4", "2 * 3 * 4"],
  ];
  for (const [input, expected] of cases) {
    test(JSON.stringify(input), () => assert.equal(renderInline(input), expected));
  }
});

describe("renderMarkdown", () => {
  test("headings, paragraphs and line breaks", () => {
    const { html } = renderMarkdown("# Title\n\nfirst line\nsecond line\n\n---");
    assert.equal(html, "<h1>Title</h1>\n<p>first line<br>second line</p>\n<hr>");
  });

  test("fenced code becomes a highlighted block with Insert and Copy buttons", () => {
    const { html, codeBlocks } = renderMarkdown("Try:\n```python\ndef f(x):\n    return x  # id\n```\nDone.");
    assert.deepEqual(codeBlocks, [{ lang: "python", code: "def f(x):\n    return x  # id", complete: true }]);
    assert.match(html, /<span class="tok-kw">def<\/span> f\(x\):/);
    assert.match(html, /<span class="tok-com"># id<\/span>/);
    assert.match(html, /data-action="insert" data-index="0">Insert at cursor<\/button>/);
    assert.match(html, /data-action="copy" data-index="0">Copy<\/button>/);
    assert.match(html, /<p>Done.<\/p>$/);
  });

  test("an unclosed fence (still streaming) renders as a growing code block", () => {
    const { codeBlocks } = renderMarkdown("```js\nconst a = 1;\nconst b");
    assert.deepEqual(codeBlocks, [{ lang: "js", code: "const a = 1;\nconst b", complete: false }]);
  });

  test("HTML in code and text is escaped, never interpreted", () => {
    const { html } = renderMarkdown("<img src=x onerror=alert(1)>\n```html\n<script>alert(1)</script>\n```");
    assert.ok(!html.includes("<img"));
    assert.ok(!html.includes("<script"));
    assert.match(html, /&lt;img src=x onerror=alert\(1\)&gt;/);
    assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  });

  test("lists, nested code in items, and ordered lists with a start", () => {
    const { html, codeBlocks } = renderMarkdown("- one\n- two\n  ```sh\n  ls\n  ```\n\n3. three\n4. four");
    assert.match(html, /^<ul><li>one<\/li><li><p>two<\/p>\n<div class="code-block"/);
    assert.equal(codeBlocks[0]?.code, "ls");
    assert.match(html, /<ol start="3"><li>three<\/li><li>four<\/li><\/ol>$/);
  });

  test("block quotes and pipe tables", () => {
    const { html } = renderMarkdown("> quoted *text*\n\n| a | b |\n|---|:-:|\n| 1 | `x` |");
    assert.equal(
      html,
      "<blockquote><p>quoted <em>text</em></p></blockquote>\n" +
        "<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>1</td><td><code>x</code></td></tr></tbody></table>",
    );
  });

  test("code blocks are numbered in order across the document", () => {
    const { codeBlocks } = renderMarkdown("```\na\n```\ntext\n~~~rust\nfn main() {}\n~~~");
    assert.deepEqual(codeBlocks.map((b) => [b.lang, b.code]), [["", "a"], ["rust", "fn main() {}"]]);
  });
});

describe("highlight", () => {
  test("tokens concatenate back to the source", () => {
    const source = 'let s = "a \\" b"; // c\n/* d */ x = 0x1F + 2.5e3';
    const tokens = tokenize(source, languageSpec("ts"));
    assert.equal(tokens.map((t) => t.text).join(""), source);
    assert.deepEqual(
      tokens.filter((t) => t.kind !== "text").map((t) => [t.kind, t.text]),
      [["kw", "let"], ["str", '"a \\" b"'], ["com", "// c"], ["com", "/* d */"], ["num", "0x1F"], ["num", "2.5e3"]],
    );
  });

  test("python triple-quoted strings span lines; keywords are whole words", () => {
    const html = highlight('"""doc\nmore"""\nimported = None', "py");
    assert.equal(html, '<span class="tok-str">&quot;&quot;&quot;doc\nmore&quot;&quot;&quot;</span>\nimported = <span class="tok-const">None</span>');
  });

  test("an unknown language is only escaped", () => {
    assert.equal(highlight("if <x> 1", "brainfudge"), escapeHtml("if <x> 1"));
  });
});

// Bundles the extension (Node, CommonJS; `vscode` is provided by the editor) and the chat
// panel's script (browser, IIFE), and with --tests the unit tests of the pure modules.
import { readdirSync } from "node:fs";
import * as esbuild from "esbuild";

const args = new Set(process.argv.slice(2));
const common = { bundle: true, sourcemap: true, logLevel: "info", target: "es2022" };

const builds = args.has("--tests")
  ? [
      {
        ...common,
        entryPoints: readdirSync("test")
          .filter((f) => f.endsWith(".test.ts"))
          .map((f) => `test/${f}`),
        outdir: "out/test",
        platform: "node",
        format: "cjs",
      },
    ]
  : [
      {
        ...common,
        entryPoints: ["src/extension.ts"],
        outfile: "dist/extension.js",
        platform: "node",
        format: "cjs",
        external: ["vscode"],
        minify: args.has("--production"),
      },
      {
        ...common,
        entryPoints: ["src/webview/main.ts"],
        outfile: "dist/webview.js",
        platform: "browser",
        format: "iife",
        minify: args.has("--production"),
      },
    ];

if (args.has("--watch")) {
  for (const options of builds) await (await esbuild.context(options)).watch();
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
}

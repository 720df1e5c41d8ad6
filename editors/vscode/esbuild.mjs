// Bundles the extension (Node, CommonJS; `vscode` is provided by the editor) and the chat
// panel's script (browser, IIFE); with --tests the unit tests of the pure modules, with
// --server-tests the protocol tests against a running trust-lsp (run from pytest).
import { readdirSync } from "node:fs";
import * as esbuild from "esbuild";

const args = new Set(process.argv.slice(2));
const common = { bundle: true, sourcemap: true, logLevel: "info", target: "es2022" };

const testBuild = (dir, suffix, outdir) => ({
  ...common,
  entryPoints: readdirSync(dir)
    .filter((f) => f.endsWith(suffix))
    .map((f) => `${dir}/${f}`),
  outdir,
  platform: "node",
  format: "cjs",
});

const builds = args.has("--tests")
  ? [testBuild("test", ".test.ts", "out/test")]
  : args.has("--server-tests")
    ? [testBuild("test/server", ".integration.ts", "out/server-test")]
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

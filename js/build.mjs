// Bundle one ESM entry per widget into ../xai_widgets/static/<name>.js (anywidget format).
import * as esbuild from "esbuild";
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outdir = resolve(here, "../xai_widgets/static");
const entries = ["heatmap_overlay", "text_heatmap", "force_plot", "attention_view", "explorer", "summary_plot", "generation_heatmap"];
const watch = process.argv.includes("--watch");

mkdirSync(outdir, { recursive: true });
const options = {
  entryPoints: Object.fromEntries(entries.map((e) => [e, resolve(here, "src", `${e}.ts`)])),
  outdir,
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["es2020"],
  minify: !watch,
  sourcemap: watch ? "inline" : false,
  legalComments: "none",
  logLevel: "info",
};

// The standalone runtime (save_html, make docs): every widget in one classic
// script, so a saved page needs no module loading and no network.
const standalone = {
  ...options,
  entryPoints: { standalone: resolve(here, "src", "standalone.ts") },
  format: "iife",
};

if (watch) {
  await (await esbuild.context(options)).watch();
  await (await esbuild.context(standalone)).watch();
} else {
  await esbuild.build(options);
  await esbuild.build(standalone);
}

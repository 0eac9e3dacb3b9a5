// Builds the tiny apps of tests/e2e/packaging.test.mjs with each bundler, in parallel, from
// the linked package (node_modules/omnitrail -> js/): `node build.mjs OUT_DIR`.
// Writes OUT_DIR/{vite,webpack,esbuild}/ (static sites) and OUT_DIR/ssr/ (a Vite SSR build),
// and prints {bundler: {ms, files: {name: bytes}}} as JSON on stdout.
import { build as viteBuild } from "vite";
import webpack from "webpack";
import { build as esbuild } from "esbuild";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const apps = join(here, "apps");
const out = resolve(process.argv[2] ?? join(here, "../out/packaging"));

const page = (bundler, attrs) => readFileSync(join(apps, "static.html"), "utf8")
  .replace("BUNDLER", bundler).replace("SCRIPT_ATTRS", attrs);

function files(dir) {
  const list = {};
  const walk = (d) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else list[relative(dir, p)] = statSync(p).size;
    }
  };
  walk(dir);
  return list;
}

async function timed(name, fn) {
  const dir = join(out, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const t = Date.now();
  await fn(dir);
  return [name, { ms: Date.now() - t, files: files(dir) }];
}

const wasmAtStart = readFileSync(join(here, "node_modules/omnitrail/dist/omnitrail_bg.wasm"));
const builds = [
  timed("vite", (dir) => viteBuild({
    root: join(apps, "vite"), configFile: false, logLevel: "error", // (it notes /config.js stays unbundled)
    build: { outDir: dir, emptyOutDir: true },
  })),
  timed("webpack", (dir) => new Promise((ok, fail) => {
    webpack({
      mode: "production", context: apps, entry: "./webpack/main.js",
      output: { path: dir, filename: "main.js" },
      infrastructureLogging: { level: "warn" },
    }, (err, stats) => {
      if (err || stats.hasErrors()) return fail(err ?? new Error(stats.toString("errors-only")));
      writeFileSync(join(dir, "index.html"), page("webpack", "defer"));
      ok();
    });
  })),
  timed("esbuild", async (dir) => {
    await esbuild({
      entryPoints: [join(apps, "esbuild/main.js")], bundle: true, format: "esm", minify: true,
      loader: { ".wasm": "file" }, outfile: join(dir, "main.js"), logLevel: "warning",
    });
    writeFileSync(join(dir, "index.html"), page("esbuild", 'type="module"'));
  }),
  timed("ssr", (dir) => viteBuild({
    root: join(apps, "ssr"), configFile: false, logLevel: "warn",
    build: { ssr: join(apps, "ssr/entry.js"), outDir: dir, emptyOutDir: true },
  })),
];
const results = Object.fromEntries(await Promise.all(builds));
// What the bundlers were given (js/dist may be rebuilt by someone else right after).
results.wasmSha256 = createHash("sha256").update(wasmAtStart).digest("hex");
console.log(JSON.stringify(results, null, 2));

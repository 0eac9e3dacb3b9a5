// Builds the npm entry: js/src/index.js + the wasm-bindgen glue -> js/dist/index.js (one ES
// module, not minified: the app's bundler minifies), and ships js/src/index.d.ts as
// js/dist/index.d.ts. The wasm is the optimized js/dist/omnitrail_bg.wasm the script tag uses.
//
// The glue's own fallback `new URL('omnitrail_bg.wasm', import.meta.url)` is removed so that a
// bundler sees exactly one reference to the wasm (the entry's, which is always passed in).
import { build } from "esbuild";
import { copyFileSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const js = join(dirname(fileURLToPath(import.meta.url)), "..");
const FALLBACK = "module_or_path = new URL('omnitrail_bg.wasm', import.meta.url);";

const stripGlueFallback = {
  name: "strip-glue-wasm-fallback",
  setup(b) {
    b.onLoad({ filter: /[\\/]pkg[\\/]omnitrail\.js$/ }, (args) => {
      const text = readFileSync(args.path, "utf8");
      if (!text.includes(FALLBACK)) {
        return { errors: [{ text: `wasm-bindgen glue changed: "${FALLBACK}" not found (update js/scripts/build-npm.mjs)` }] };
      }
      const contents = text.replace(FALLBACK,
        'throw new Error("omnitrail: no wasm given");');
      return { contents, loader: "js" };
    });
  },
};

await build({
  entryPoints: [join(js, "src/index.js")],
  outfile: join(js, "dist/index.js"),
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2020",
  logLevel: "warning",
  legalComments: "none",
  plugins: [stripGlueFallback],
});
copyFileSync(join(js, "src/index.d.ts"), join(js, "dist/index.d.ts"));
statSync(join(js, "dist/omnitrail_bg.wasm")); // built by scripts/build.sh before this step

// Prints the shipped sizes (raw, gzip -9, brotli max) of every file the script tag serves, and
// of what each kind of page downloads:
//   tracking  snippet + loader (with the small core's glue) + the small core's wasm
//   cart      snippet + loader + the full build (a cart stored or called before the SDK loaded)
//   switched  a tracking page whose first `cart.*` call came later: it also gets the full build
// `total` is the tracking page (what the benchmarks report).
import { readFileSync } from "node:fs";
import { gzipSync, brotliCompressSync, constants } from "node:zlib";
const dir = process.argv[2] ?? "js/dist";
// The toolchain the wasm was built with (scripts/build.sh): "nightly" (the pinned one) or
// "stable" (the fallback); scripts/check-size.mjs picks the budget by it.
const toolchain = process.argv[3] ?? "stable";
const SHARED = ["snippet.min.js", "omnitrail.js"];
const CORE = ["omnitrail_core_bg.wasm"];
const FULL = ["omnitrail_full.js", "omnitrail_bg.wasm"];
const PAGES = { tracking: [...SHARED, ...CORE], cart: [...SHARED, ...FULL], switched: [...SHARED, ...CORE, ...FULL] };
const files = {};
for (const f of [...SHARED, ...CORE, ...FULL]) {
  const b = readFileSync(`${dir}/${f}`);
  files[f] = {
    raw: b.length,
    gzip: gzipSync(b, { level: 9 }).length,
    brotli: brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  };
}
const pages = {};
for (const [page, list] of Object.entries(PAGES)) {
  pages[page] = { files: list, raw: 0, gzip: 0, brotli: 0 };
  for (const f of list) for (const k of ["raw", "gzip", "brotli"]) pages[page][k] += files[f][k];
}
const { files: _, ...total } = pages.tracking;
console.log(JSON.stringify({ toolchain, files, pages, total }, null, 2));

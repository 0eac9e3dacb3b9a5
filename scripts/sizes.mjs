// Prints the shipped sizes (raw, gzip -9, brotli max) of the files a track-only page downloads.
import { readFileSync } from "node:fs";
import { gzipSync, brotliCompressSync, constants } from "node:zlib";
const dir = process.argv[2] ?? "js/dist";
// The toolchain the wasm was built with (scripts/build.sh): "nightly" (the pinned one) or
// "stable" (the fallback); scripts/check-size.mjs picks the budget by it.
const toolchain = process.argv[3] ?? "stable";
const files = ["omnitrail.js", "omnitrail_bg.wasm", "snippet.min.js"];
const sizes = { toolchain };
let total = { raw: 0, gzip: 0, brotli: 0 };
for (const f of files) {
  const b = readFileSync(`${dir}/${f}`);
  const s = {
    raw: b.length,
    gzip: gzipSync(b, { level: 9 }).length,
    brotli: brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  };
  sizes[f] = s;
  for (const k of Object.keys(total)) total[k] += s[k];
}
sizes.total = total;
console.log(JSON.stringify(sizes, null, 2));

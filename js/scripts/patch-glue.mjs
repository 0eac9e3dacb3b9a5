// Makes wasm-bindgen's glue (js/dist/pkg/omnitrail.js) need no method of the page's
// String.prototype when it copies a string into the wasm: a host page may have broken
// `String.prototype.slice` (tests/e2e/hostile-pages.test.mjs). Run by scripts/build.sh after
// wasm-bindgen, before either bundle. Fails the build when the glue changed shape.
//
// The glue copies the ASCII prefix by char codes, then hands the rest, `arg.slice(offset)`, to
// TextEncoder.encodeInto. Patched: on the first non-ASCII char the whole string goes to
// encodeInto from the start (same bytes; the prefix is encoded twice, natively).
import { readFileSync, writeFileSync } from "node:fs";

const file = process.argv[2];
const FROM = "arg = arg.slice(offset);";
const TO = "offset = 0; // patched by js/scripts/patch-glue.mjs: no String.prototype.slice";
const text = readFileSync(file, "utf8");
if (!text.includes(TO)) {
  if (text.split(FROM).length !== 2) {
    console.error(`${file}: wasm-bindgen glue changed: expected "${FROM}" once (update js/scripts/patch-glue.mjs)`);
    process.exit(1);
  }
  writeFileSync(file, text.replace(FROM, TO));
}

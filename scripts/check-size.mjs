// Fails when a shipped file, or what a kind of page downloads (scripts/sizes.mjs: the
// tracking page, the cart page, a tracking page switched to the cart), grows past its gzip -9
// budget in tests/size-budget.json. Raise a budget deliberately, in the commit that earns
// the bytes.
//
// The budgets are measured on the wasm built with the pinned nightly (scripts/build.sh). A
// build that fell back to stable (another nightly served, or OMNITRAIL_WASM_TOOLCHAIN=stable)
// keeps std's panic formatter: each wasm may then be `stableFallbackExtra` larger (the measured
// difference, tests/size-budget.json's note; a page once per wasm it downloads), and says so.
import { readFileSync } from "node:fs";
const sizes = JSON.parse(readFileSync("js/dist/sizes.json", "utf8"));
const budget = JSON.parse(readFileSync("tests/size-budget.json", "utf8"));
const fallback = sizes.toolchain !== "nightly";
const extra = (names) => (fallback ? names.filter((f) => f.endsWith(".wasm")).length * budget.stableFallbackExtra : 0);
const rows = [
  ...Object.entries(sizes.files).map(([f, s]) => [f, s, budget.files[f], extra([f])]),
  ...Object.entries(sizes.pages).map(([p, s]) => [`${p} page`, s, budget.pages[p], extra(s.files)]),
];
let failed = false;
for (const [what, s, limit, more] of rows) {
  if (limit === undefined) {
    console.error(`FAIL ${what}: no budget in tests/size-budget.json`);
    failed = true;
    continue;
  }
  const line = `${what}: ${s.raw} B raw, ${s.gzip} B gzip, ${s.brotli} B brotli (budget ${limit + more} B gzip${more ? `, STABLE fallback build: ${limit} + ${more}` : ""})`;
  if (s.gzip > limit + more) {
    console.error(`FAIL ${line}: over budget by ${s.gzip - limit - more} B`);
    failed = true;
  } else {
    console.log(`ok ${line}`);
  }
}
if (failed) process.exit(1);

// Fails when the shipped SDK (loader + glue + wasm + snippet, gzip -9) grows past the budget
// recorded in tests/size-budget.json. Raise the budget deliberately, in the commit that
// earns the bytes.
//
// The budget is measured on the wasm built with the pinned nightly (scripts/build.sh). A build
// that fell back to stable (another nightly served, or OMNITRAIL_WASM_TOOLCHAIN=stable) keeps
// std's panic formatter: it is checked against the budget plus `stableFallbackExtra`, the
// measured difference (tests/size-budget.json's note), and says so.
import { readFileSync } from "node:fs";
const sizes = JSON.parse(readFileSync("js/dist/sizes.json", "utf8"));
const budget = JSON.parse(readFileSync("tests/size-budget.json", "utf8"));
const gz = sizes.total.gzip;
const fallback = sizes.toolchain !== "nightly";
const limit = budget.gzipTotal + (fallback ? budget.stableFallbackExtra : 0);
const on = fallback ? `, STABLE fallback build: nightly budget ${budget.gzipTotal} + ${budget.stableFallbackExtra}` : "";
const line = `shipped size: ${sizes.total.raw} B raw, ${gz} B gzip, ${sizes.total.brotli} B brotli (budget ${limit} B gzip${on})`;
if (gz > limit) {
  console.error(`FAIL ${line}: over budget by ${gz - limit} B`);
  process.exit(1);
}
console.log(`ok ${line}`);

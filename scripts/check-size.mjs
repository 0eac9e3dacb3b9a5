// Fails when the shipped SDK (loader + glue + wasm + snippet, gzip -9) grows past the budget
// recorded in tests/size-budget.json. Raise the budget deliberately, in the commit that
// earns the bytes.
import { readFileSync } from "node:fs";
const sizes = JSON.parse(readFileSync("js/dist/sizes.json", "utf8"));
const budget = JSON.parse(readFileSync("tests/size-budget.json", "utf8"));
const gz = sizes.total.gzip;
const line = `shipped size: ${sizes.total.raw} B raw, ${gz} B gzip, ${sizes.total.brotli} B brotli (budget ${budget.gzipTotal} B gzip)`;
if (gz > budget.gzipTotal) {
  console.error(`FAIL ${line}: over budget by ${gz - budget.gzipTotal} B`);
  process.exit(1);
}
console.log(`ok ${line}`);

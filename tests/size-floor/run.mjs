// The tracking path's size floor (BENCHMARKS.md, "The tracking path's size floor"): a program
// run on demand, not a test. Builds tests/size-floor (the SDK's core logic a landing page
// runs, no browser layer) as scripts/build.sh builds the small core, runs two page visits on
// it in node and checks them, then prints raw / gzip -9 / brotli beside the shipped core wasm
// and writes tests/out/size-floor.json.
//   node tests/size-floor/run.mjs [--ablations] [--modules] [--only NAME]
// --ablations also builds each variant of tests/size-floor/variants.mjs (one build each);
// --modules a build with names, broken down by module with twiggy (~/.cargo/bin/twiggy).
// Owns: the sizes (raw, gzip -9, brotli 11), the module breakdown, the table and the JSON.
// Must never: report a build whose visits were not checked.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { gzipSync, brotliCompressSync, constants } from "node:zlib";
import { ROOT, buildVariant, checkSameBuild } from "./build.mjs";
import { checkVisits } from "./check.mjs";
import { VARIANTS } from "./variants.mjs";

const args = process.argv.slice(2);
const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : null;
const wanted = VARIANTS.filter((v) => (only ? v.name === only : v.name === "floor" || args.includes("--ablations")));
if (wanted.length === 0) throw new Error(`no variant ${only}; known: ${VARIANTS.map((v) => v.name).join(", ")}`);

const sizes = (file) => {
  const b = readFileSync(file);
  return {
    raw: b.length,
    gzip: gzipSync(b, { level: 9 }).length,
    brotli: brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  };
};

checkSameBuild();
const results = [];
for (const v of wanted) {
  const started = Date.now();
  const built = buildVariant(v);
  const visits = checkVisits(built, v.expect);
  // The checks can fail: a build without a part fails the floor's own expectations.
  let missed = null;
  if (JSON.stringify(v.expect) !== JSON.stringify(VARIANTS[0].expect)) {
    try {
      checkVisits(built, VARIANTS[0].expect);
    } catch (e) {
      missed = e.message.split("\n")[0];
    }
    if (!missed) throw new Error(`${v.name}: the floor's checks pass on a build without a part: they check too little`);
  }
  results.push({ name: v.name, what: v.what, ...sizes(built.wasm), visits, missed, buildSeconds: Math.round((Date.now() - started) / 1000) });
  console.error(`[size-floor] ${v.name}: built and checked${missed ? ` (the floor's checks fail on it: ${missed})` : ""}`);
}

// The shipped small core, for the web layer's share (built by ./scripts/build.sh).
const core = existsSync(`${ROOT}/js/dist/sizes.json`) ? JSON.parse(readFileSync(`${ROOT}/js/dist/sizes.json`, "utf8")) : null;
const coreWasm = core?.files["omnitrail_core_bg.wasm"] ?? null;

let modules = null;
if (args.includes("--modules")) {
  const built = buildVariant(VARIANTS[0], { names: true });
  checkVisits(built, VARIANTS[0].expect);
  const top = JSON.parse(execFileSync(`${process.env.HOME}/.cargo/bin/twiggy`, ["top", "-n", "1000000", "-f", "json", built.wasm], { encoding: "utf8", maxBuffer: 1 << 28 }));
  // Shallow bytes by owner. The floor's phases (src/lib.rs: configure, start, open_page, …)
  // hold the SDK code the optimizers inlined into them (its only caller): `start` is
  // Tracker::new with the loads of the identity, session, consent, journey and outbox. The
  // name section is left out (the shipped wasm has none).
  const groups = new Map();
  let nameSection = 0;
  for (const item of top) {
    const n = item.name;
    if (/subsection"?$/.test(n) || /^"?(function|data|global|module|local|type) names"? subsection/.test(n)) {
      nameSection += item.shallow_size;
      continue;
    }
    let g;
    const sdk = n.match(/omnitrail::(tracker::\w+|\w+)/);
    const phase = n.match(/^omnitrail_size_floor::(configure|start|open_page|choose|lead|calls|tick|leave|report)::/);
    if (phase) g = `(phase ${phase[1]}: the SDK code inlined into it)`;
    else if (n === "run" || n === "alloc") g = "(the floor's own ports, input and output)";
    else if (/omnitrail_size_floor/.test(n)) g = "(the floor's own ports, input and output)";
    else if (sdk && !/^<?(core|alloc|std)::/.test(n)) g = sdk[1];
    else if (/^data segment/.test(n)) g = "(data segments)";
    else if (/talc/.test(n)) g = "talc";
    else if (/uuid/.test(n)) g = "uuid";
    else if (/\b(core|alloc|std|compiler_builtins)::/.test(n)) g = "std / core / alloc";
    else g = "(unnamed code, types, exports, headers)";
    const e = groups.get(g) ?? { module: g, bytes: 0, items: 0 };
    e.bytes += item.shallow_size;
    e.items += 1;
    groups.set(g, e);
  }
  modules = { wasm: built.wasm, ...sizes(built.wasm), nameSection, groups: [...groups.values()].sort((a, b) => b.bytes - a.bytes) };
}

const floor = results.find((r) => r.name === "floor");
console.log(`\nsize floor of the tracking path (wasm, gzip -9 / brotli 11):`);
console.log(`| build | raw | gzip | brotli | gzip vs floor |`);
console.log(`|---|---:|---:|---:|---:|`);
for (const r of results) console.log(`| ${r.name} | ${r.raw} | ${r.gzip} | ${r.brotli} | ${floor ? r.gzip - floor.gzip : ""} |`);
if (coreWasm) console.log(`| shipped core wasm (js/dist) | ${coreWasm.raw} | ${coreWasm.gzip} | ${coreWasm.brotli} | ${floor ? coreWasm.gzip - floor.gzip : ""} |`);
if (modules) {
  console.log(`\nmodules of the floor (twiggy, shallow bytes; build with names: ${modules.raw} B raw, ${modules.raw - modules.nameSection} without its name section):`);
  for (const g of modules.groups) console.log(`  ${String(g.bytes).padStart(7)}  ${g.module} (${g.items})`);
}
mkdirSync(`${ROOT}/tests/out`, { recursive: true });
const out = { toolchain: readFileSync(`${ROOT}/scripts/wasm-nightly.txt`, "utf8").trim(), results, shippedCoreWasm: coreWasm, modules };
writeFileSync(`${ROOT}/tests/out/size-floor.json`, JSON.stringify(out, null, 2));
console.log(`\nwrote tests/out/size-floor.json`);

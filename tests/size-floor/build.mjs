// Builds the size floor's wasm (tests/size-floor/src/lib.rs) exactly as scripts/build.sh builds
// the small core's: the pinned nightly (scripts/wasm-nightly.txt), its RUSTFLAGS, std rebuilt
// with immediate-abort panics, the `wasm-release` profile, talc, and the same wasm-opt passes.
// The SDK crate is compiled from a copy without `src/web` (and without its wasm32-only
// dependencies): the browser layer is what the floor leaves out, and a dependency's
// `#[wasm_bindgen]` exports would otherwise stay in the cdylib. An ablation also replaces
// calls in that copy (`patches`); every replacement must match exactly once, so a change of
// the SDK's source fails the build here instead of silently measuring something else.
// Owns: the build of one variant (the SDK copy, its patches, cargo, wasm-opt) and the check
// that it is still scripts/build.sh's build. Must never: edit src/, or build with flags of its own.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const FLOOR = `${ROOT}/tests/size-floor`;
export const WORK = `${ROOT}/target/size-floor`;
const WASM_OPT = `${ROOT}/js/node_modules/.bin/wasm-opt`;
// scripts/build.sh's flags, in its order.
const RUSTFLAGS = "-Zunstable-options -Cpanic=immediate-abort -Csymbol-mangling-version=legacy -Zlocation-detail=none";
const OPT_PASSES = ["--one-caller-inline-max-function-size=20", "--always-inline-max-function-size=4", "--low-memory-unused", "-Oz", "--flatten", "--rereloop", "-Oz", "-Oz", "--flatten", "--rereloop", "-Oz", "-Oz"];
const OPT_FEATURES = [
  "--enable-bulk-memory", "--enable-bulk-memory-opt", "--enable-nontrapping-float-to-int",
  "--enable-sign-ext", "--enable-reference-types", "--enable-multivalue", "--enable-mutable-globals",
  "--enable-call-indirect-overlong",
];

/** Fails unless scripts/build.sh still runs these flags (the floor must be built as the core is). */
export function checkSameBuild() {
  const sh = readFileSync(`${ROOT}/scripts/build.sh`, "utf8");
  const want = [
    `RUSTFLAGS="${RUSTFLAGS}"`,
    "-Zbuild-std=std,panic_abort --target wasm32-unknown-unknown",
    "--profile wasm-release",
    `wasm-opt ${OPT_PASSES.join(" ")} \\\n    --minify-imports-and-exports-and-modules \\\n    ${OPT_FEATURES.slice(0, 3).join(" ")}`,
    "--strip-producers --strip-target-features",
  ];
  for (const w of want) if (!sh.includes(w)) throw new Error(`scripts/build.sh no longer has: ${w}\nupdate tests/size-floor/build.mjs to build as it does`);
  const profile = (toml) => toml.match(/\[profile\.wasm-release\]\n([^[]*)/)?.[1].trim();
  const sdk = profile(readFileSync(`${ROOT}/Cargo.toml`, "utf8"));
  const floor = profile(readFileSync(`${FLOOR}/Cargo.toml`, "utf8"));
  if (!sdk || sdk !== floor) throw new Error(`[profile.wasm-release] differs:\nSDK:\n${sdk}\nfloor:\n${floor}`);
  const pinned = readFileSync(`${ROOT}/scripts/wasm-nightly.txt`, "utf8").trim();
  let served = "";
  try { served = execFileSync("rustup", ["run", "nightly", "rustc", "-V"], { encoding: "utf8" }).trim(); } catch {}
  if (served !== pinned) throw new Error(`the pinned nightly is not served (pinned ${pinned}, served ${served || "none"}): the floor is only comparable to the core built with it`);
  const talc = (toml) => toml.match(/^talc = .*$/m)?.[0];
  if (talc(readFileSync(`${ROOT}/Cargo.toml`, "utf8")) !== talc(readFileSync(`${FLOOR}/Cargo.toml`, "utf8"))) throw new Error("talc is not pinned alike in Cargo.toml and tests/size-floor/Cargo.toml");
}

function replaceOnce(text, from, to, where) {
  const n = text.split(from).length - 1;
  if (n !== 1) throw new Error(`${where}: expected exactly one ${JSON.stringify(from)}, found ${n}: the SDK changed, update the patch in tests/size-floor/variants.mjs`);
  return text.replace(from, () => to);
}

/** The SDK crate without its browser layer, with `patches` ({ file, from, to }) applied. */
function sdkCopy(dir, patches) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(`${ROOT}/src`, `${dir}/src`, { recursive: true });
  let toml = readFileSync(`${ROOT}/Cargo.toml`, "utf8");
  toml = replaceOnce(toml, '[workspace]\nmembers = [".", "examples/collector"]\nresolver = "2"\n', "", "Cargo.toml");
  toml = replaceOnce(toml, 'crate-type = ["cdylib", "rlib"]', 'crate-type = ["rlib"]', "Cargo.toml");
  // The browser layer's dependencies (wasm-bindgen, js-sys, web-sys, gloo-timers, talc).
  const deps = toml.match(/\[target\.'cfg\(target_arch = "wasm32"\)'\.dependencies\][\s\S]*?\n(?=\[)/);
  if (!deps) throw new Error("Cargo.toml: the wasm32 dependencies table was not found");
  toml = toml.replace(deps[0], "");
  writeFileSync(`${dir}/Cargo.toml`, toml);
  const all = [{ file: "src/lib.rs", from: '#[cfg(target_arch = "wasm32")]\nmod web;\n', to: "" }, ...patches];
  for (const p of all) {
    const f = `${dir}/${p.file}`;
    writeFileSync(f, replaceOnce(readFileSync(f, "utf8"), p.from, p.to, p.file));
  }
}

/**
 * Builds one variant ({ name, features: null for the defaults or a list, patches }) into
 * `${WORK}/${name}`; `names` also keeps the name section (twiggy). Returns the optimized wasm's path.
 */
export function buildVariant(v, { names = false } = {}) {
  // With names: the same build, wasm-opt keeping the name section (`-g`, docs/size.md's recipe)
  // and not inlining functions into their only caller, so the floor's phases (src/lib.rs)
  // stay functions of their own; run.mjs prints how far its size is from the floor's.
  const optNames = names ? ["-g", "--one-caller-inline-max-function-size", "0"] : ["--minify-imports-and-exports-and-modules"];
  const dir = `${WORK}/${v.name}`;
  sdkCopy(`${dir}/omnitrail`, v.patches ?? []);
  rmSync(`${dir}/floor`, { recursive: true, force: true });
  mkdirSync(`${dir}/floor`, { recursive: true });
  cpSync(`${FLOOR}/src`, `${dir}/floor/src`, { recursive: true });
  const toml = replaceOnce(readFileSync(`${FLOOR}/Cargo.toml`, "utf8"), 'path = "../.."', 'path = "../omnitrail"', "tests/size-floor/Cargo.toml");
  writeFileSync(`${dir}/floor/Cargo.toml`, toml);
  // The SDK's resolved versions (uuid, talc), not whatever the registry serves today.
  cpSync(`${ROOT}/Cargo.lock`, `${dir}/floor/Cargo.lock`);
  const feat = v.features ? ["--no-default-features", ...(v.features.length ? ["--features", v.features.join(",")] : [])] : [];
  execFileSync("cargo", ["+nightly", "build", "-q", "-Zbuild-std=std,panic_abort", "--target", "wasm32-unknown-unknown",
    "--profile", "wasm-release", "--manifest-path", `${dir}/floor/Cargo.toml`, ...feat], {
    stdio: "inherit",
    // One target directory for every variant: std is built once.
    env: { ...process.env, RUSTFLAGS, CARGO_TARGET_DIR: `${WORK}/target` },
  });
  const built = `${WORK}/target/wasm32-unknown-unknown/wasm-release/omnitrail_size_floor.wasm`;
  const out = `${dir}/floor${names ? ".names" : ""}.wasm`;
  // With names (twiggy) the exports keep theirs; otherwise wasm-opt prints the short names.
  const printed = execFileSync(WASM_OPT, [...OPT_PASSES, ...optNames, ...OPT_FEATURES, "--strip-producers", "--strip-target-features", built, "-o", out], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  const exports = names ? { memory: "memory", alloc: "alloc", run: "run" } : Object.fromEntries(JSON.parse(printed).exports);
  return { wasm: out, exports };
}

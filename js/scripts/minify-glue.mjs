// Renames the wasm's imports, exports and import module in wasm-bindgen's glue after wasm-opt
// gave them one- or two-letter names (`--minify-imports-and-exports-and-modules`, the last pass
// of scripts/build.sh). The long names (`./omnitrail_core_bg.js` as the module of ~95 imports,
// `__wbg_set_credentials_bb5277b4006149d4`, `omnitrail_track`, …) cost bytes in the wasm and
// in the glue, and nothing reads them but the glue.
//   node js/scripts/minify-glue.mjs <glue.js> <names.json (wasm-opt's stdout)> <the minified .wasm>
// Rewrites the glue in place: the import object's keys, its module key, and every
// `wasm.<export>`. Fails the build unless the glue then provides exactly the wasm's imports and
// calls only its exports, so a new wasm-bindgen glue shape cannot ship with a mismatched wasm.
import { readFileSync, writeFileSync } from "node:fs";

const [file, namesFile, wasmFile] = process.argv.slice(2);
const fail = (why) => {
  console.error(`${file}: ${why} (update js/scripts/minify-glue.mjs)`);
  process.exit(1);
};
const { imports, exports } = JSON.parse(readFileSync(namesFile, "utf8"));
let text = readFileSync(file, "utf8");

// Exports: the glue calls them only as `wasm.<name>`.
const exported = new Map(exports);
text = text.replace(/\bwasm\.(\w+)\b/g, (all, name) => {
  const short = exported.get(name);
  if (short === undefined) fail(`wasm.${name} is not an export of the wasm`);
  return `wasm.${short}`;
});

// Imports: one module, its functions the keys of `import0` (`<name>: function(`).
const modules = new Set(imports.map(([module]) => module));
if (modules.size !== 1) fail(`expected the imports of one module, got ${[...modules].join(", ")}`);
const [module] = modules;
for (const [, name, short] of imports) {
  const key = new RegExp(`^( +)${name}: function\\(`, "m");
  if (!key.test(text)) fail(`import ${name} is not a key of the import object`);
  text = text.replace(key, (_, indent) => `${indent}${short}: function(`);
}
// The module: `"<module>": import0` in the object `__wbg_get_imports` returns; its new name is
// read from the minified wasm (names.json does not say it).
const wasm = new WebAssembly.Module(readFileSync(wasmFile));
const wanted = WebAssembly.Module.imports(wasm);
const shortModules = new Set(wanted.map((i) => i.module));
if (shortModules.size !== 1) fail(`expected the minified wasm to import from one module`);
const [shortModule] = shortModules;
const moduleKey = `"${module}": import0,`;
if (text.split(moduleKey).length !== 2) fail(`expected ${moduleKey} once`);
text = text.replace(moduleKey, `${JSON.stringify(shortModule)}: import0,`);

// The check: the import object's keys are exactly the wasm's imports, and every `wasm.<name>`
// is one of its exports.
const block = text.split("const import0 = {")[1]?.split("\n    };\n")[0] ?? fail("no import0 object");
const keys = [...block.matchAll(/^ {8}(\S+): function\(/gm)].map((m) => m[1]).sort();
const names = wanted.map((i) => i.name).sort();
if (keys.join() !== names.join()) fail(`the import object's keys are not the wasm's imports`);
const exportNames = new Set(WebAssembly.Module.exports(wasm).map((e) => e.name));
for (const [, name] of text.matchAll(/\bwasm\.(\w+)/g)) if (!exportNames.has(name)) fail(`wasm.${name} is not an export`);
writeFileSync(file, text);

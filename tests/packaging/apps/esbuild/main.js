// esbuild does not follow `new URL(…, import.meta.url)`: the wasm is imported with the `file`
// loader (`--loader:.wasm=file`) and passed explicitly.
import wasm from "omnitrail/omnitrail_bg.wasm";
import { run } from "../common.js";
run("esbuild", wasm);

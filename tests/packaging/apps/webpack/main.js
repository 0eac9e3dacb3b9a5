// webpack 5: the wasm is found through the package's `new URL("./omnitrail_bg.wasm", import.meta.url)`.
import { run } from "../common.js";
run("webpack");

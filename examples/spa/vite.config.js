import { defineConfig } from "vite";

export default defineConfig({
  // The dev server pre-bundles dependencies into node_modules/.vite, which would move the
  // package away from its wasm: let it serve omnitrail as is (production builds need nothing).
  optimizeDeps: { exclude: ["omnitrail"] },
});

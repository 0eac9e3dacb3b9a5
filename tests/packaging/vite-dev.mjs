// `node vite-dev.mjs ROOT`: serves ROOT with the Vite dev server (as `npm run dev` would, with
// the package excluded from dependency pre-bundling as README.md says), prints
// `ready <url>`, and runs until killed.
import { createServer } from "vite";

const server = await createServer({
  root: process.argv[2], configFile: false, logLevel: "error",
  cacheDir: process.argv[2] + "/.vite-cache",
  server: { host: "127.0.0.1", port: 0, strictPort: false },
  optimizeDeps: { exclude: ["omnitrail"] },
});
await server.listen();
console.log("ready " + server.resolvedUrls.local[0]);
process.on("SIGTERM", () => server.close().then(() => process.exit(0)));

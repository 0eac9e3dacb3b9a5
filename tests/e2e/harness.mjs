// Test harness shared by the end-to-end tests, the demo and the benchmarks: the reference
// collector (a real process on 127.0.0.1), a static site server (examples/shop + the built
// SDK under /omnitrail/), and Debian's Chromium driven by playwright-core.
import { spawn } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { existsSync } from "node:fs";
import { extname, join, normalize, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export const CHROMIUM_FLAGS = [
  "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run",
];

/**
 * Starts the reference collector; resolves with { url, pid, stop(), stats(), messages(), fault(), reset() }.
 * `store`: `--store` (default an in-memory SQLite database; a `postgres://` URL for PostgreSQL).
 */
export async function startCollector({ profile = "debug", store = ":memory:", extraArgs = [] } = {}) {
  const bin = join(ROOT, "target", profile, "omnitrail-collector");
  if (!existsSync(bin)) throw new Error(`collector binary missing: ${bin} (cargo build -p omnitrail-collector)`);
  const child = spawn(bin, ["--addr", "127.0.0.1:0", "--store", store, "--test-control", ...extraArgs], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => { stderr = (stderr + d).slice(-20000); });
  const url = await new Promise((ok, fail) => {
    let buf = "";
    const timer = setTimeout(() => fail(new Error("collector did not start in 20 s:\n" + stderr)), 20000);
    child.stdout.on("data", (d) => {
      buf += d;
      const m = buf.match(/listening on (http:\/\/\S+)/);
      if (m) { clearTimeout(timer); ok(m[1]); }
    });
    child.on("exit", (code) => { clearTimeout(timer); fail(new Error(`collector exited ${code}:\n${stderr}`)); });
  });
  const api = async (path, body) => {
    const r = await fetch(url + path, body === undefined ? {} : { method: "POST", body: JSON.stringify(body) });
    if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
    return r.json();
  };
  return {
    url,
    pid: child.pid,
    stats: () => api("/test/stats"),
    messages: async () => (await api("/test/messages")).messages,
    fault: (spec) => api("/test/fault", spec),
    reset: () => api("/test/reset", {}),
    logs: () => stderr,
    stop: () => new Promise((ok) => { child.once("exit", ok); child.kill("SIGTERM"); setTimeout(() => child.kill("SIGKILL"), 3000); }),
  };
}

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm", ".css": "text/css", ".json": "application/json", ".svg": "image/svg+xml" };

/**
 * Serves a site on 127.0.0.1: `/omnitrail/*` from js/dist, `/config.js` with the SDK config,
 * everything else from `root` (examples/shop by default); with `cartSecret`, `/cart-token?user=`
 * answers `{ token }` for cart sync, as the site's backend would.
 */
export async function startSite({ root = join(ROOT, "examples/shop"), config = {}, port = 0, host = "127.0.0.1", csp = null, cartSecret = null } = {}) {
  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url, "http://x");
      const path = decodeURIComponent(url.pathname);
      // The site's backend minting the signed-in user's cart token (collector README, "Cart
      // sync"); a real site checks its session first.
      if (path === "/cart-token" && cartSecret) {
        const user = url.searchParams.get("user") ?? "";
        const token = createHmac("sha256", cartSecret).update(`${config.writeKey}:${user}`).digest("hex");
        res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
        res.end(JSON.stringify({ token }));
        return;
      }
      if (path === "/config.js") {
        res.writeHead(200, { "content-type": TYPES[".js"], "cache-control": "no-store" });
        res.end(`window.OMNITRAIL_CONFIG=${JSON.stringify({ src: "/omnitrail/omnitrail.js", ...config })};`);
        return;
      }
      let file = path.startsWith("/omnitrail/")
        ? join(ROOT, "js/dist", normalize(path.slice("/omnitrail/".length)))
        : join(root, normalize(path));
      if ((await stat(file).catch(() => null))?.isDirectory()) file = join(file, "index.html");
      let body = await readFile(file);
      if (file.endsWith(".html")) {
        // Pages carry the snippet inline, as a site would after pasting it.
        const snippet = await readFile(join(ROOT, "js/dist/snippet.min.js"), "utf8");
        body = body.toString().replace("<!-- omnitrail:snippet -->", `<script>${snippet.trim()}</script>`);
      }
      const headers = { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-cache" };
      if (csp && file.endsWith(".html")) headers["content-security-policy"] = csp(body.toString());
      res.writeHead(200, headers);
      res.end(body);
    } catch {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found");
    }
  });
  await new Promise((ok) => server.listen(port, host, ok));
  const url = `http://${host}:${server.address().port}`;
  return { url, stop: () => new Promise((ok) => { server.closeAllConnections?.(); server.close(ok); }) };
}

export async function launchBrowser(opts = {}) {
  return chromium.launch({ executablePath: "/usr/bin/chromium", args: [...CHROMIUM_FLAGS, ...(opts.args ?? [])], ...opts.launch });
}

/** Opens `url` in `context` and waits for the SDK to be ready. Console warnings/errors are collected. */
export async function openPage(context, url) {
  const page = await context.newPage();
  page.logs = [];
  page.on("console", (m) => page.logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => page.logs.push(`pageerror: ${e.message}`));
  await page.goto(url);
  await page.evaluate(() => window.omnitrail.ready);
  return page;
}

/** Polls `fn` until it returns a truthy value (bounded); returns that value or throws with `what`. */
export async function waitFor(fn, what, { timeout = 20000, interval = 100 } = {}) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, interval));
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}

/** Counts of messageIds among `messages`: { total, unique, duplicated }. */
export function idCounts(messages) {
  const seen = new Map();
  for (const m of messages) seen.set(m.messageId, (seen.get(m.messageId) ?? 0) + 1);
  return { total: messages.length, unique: seen.size, duplicated: [...seen.values()].filter((n) => n > 1).length };
}

/**
 * A strict Content-Security-Policy for a page: scripts only from the site itself and the
 * hashes of its inline scripts, wasm allowed, Trusted Types enforced with the SDK's policy,
 * and connections only to the site and `collector`.
 */
export function strictCsp(collector) {
  return (html) => {
    const hashes = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)]
      .map((m) => `'sha256-${createHash("sha256").update(m[1]).digest("base64")}'`);
    return [
      "default-src 'self'",
      `script-src 'self' 'wasm-unsafe-eval' ${hashes.join(" ")}`,
      `connect-src 'self' ${collector}`,
      "style-src 'self'",
      "img-src 'self' data:",
      "require-trusted-types-for 'script'",
      "trusted-types omnitrail",
    ].join("; ");
  };
}

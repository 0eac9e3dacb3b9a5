// Time to ready, A/B of builds of the SDK (a program, not a test): compare.mjs's pages (the
// plain-JS floor and Omnitrail's script-tag install, one page per given js/dist directory),
// cold (a fresh browser context each load), with compare.mjs's blocking of other hosts (they do
// not resolve; --intercept: Playwright routing of every request instead, compare.mjs's method
// before 2026-12-06; --both: each page both ways, "~i" the routed one), the loads of one round
// interleaved. Prints per build the median time to ready from
// navigation and, paired by round, the median difference to the first build and the median
// ratio to the floor (pairing cancels most of a shared machine's drift).
//   node tests/bench/compare.mjs --rounds 1 --only plain     # builds the floor's page once
//   node tests/bench/ready-ab.mjs --runs 25 --dists js/dist,/tmp/other-dist[#mp]
// A directory may be any copy of js/dist (another snippet, loader, …); "#mp" after it adds the
// README's modulepreload hint for the loader to its page. BENCHMARKS.md, "Where the time to
// ready goes", has what it measured.
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { join, extname, normalize } from "node:path";
import { loadavg } from "node:os";
import { launchBrowser, ROOT } from "../e2e/harness.mjs";
const args = process.argv.slice(2);
const opt = (n, d) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : d; };
const runs = +opt("--runs", 15);
const RAW = opt("--dists", join(ROOT, "js/dist")).split(",");
const DISTS = RAW.map((d) => d.split("#")[0]), MP = RAW.map((d) => d.endsWith("#mp"));
const BOTH = args.includes("--both"), ROUTE = BOTH || args.includes("--intercept");
const SITE = join(ROOT, "tests/out/bench-compare/site");
const HEAD = `<!doctype html><meta charset="utf-8"><title>bench</title>
<script>window.__lt=[];try{new PerformanceObserver(function(l){for(const e of l.getEntries())__lt.push([e.startTime,e.duration])}).observe({type:"longtask",buffered:true})}catch(e){}</script><script>window.BENCH={sink:"http://127.0.0.1:9"}</script>`;
const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".wasm": "application/wasm" };
const server = createServer(async (req, res) => {
  try {
    const p = decodeURIComponent(new URL(req.url, "http://x").pathname);
    let body, file;
    let m;
    if ((m = p.match(/^\/o(\d+)\/$/))) {
      const dist = DISTS[+m[1]];
      const snippet = (await readFile(join(dist, "snippet.min.js"), "utf8")).trim();
      const cfg = { writeKey: "bench", endpoint: "http://127.0.0.1:9", src: `/o${m[1]}/omnitrail.js` };
      body = `${MP[+m[1]] ? HEAD.replace('<meta charset="utf-8">', `<meta charset="utf-8"><link rel="modulepreload" href="/o${m[1]}/omnitrail.js">`) : HEAD}\n<script>window.OMNITRAIL_CONFIG=${JSON.stringify(cfg)};</script>\n<script>${snippet}</script>\n<script>omnitrail.ready.then(function(){window.__bench={readyAt:performance.now()}});</script>`;
      file = "x.html";
    } else if ((m = p.match(/^\/o(\d+)\/(.+)$/))) { file = join(DISTS[+m[1]], normalize(m[2])); body = await readFile(file); }
    else if (p === "/plain/") { file = "x.html"; body = await readFile(join(SITE, "plain/index.html"), "utf8"); }
    else { file = join(SITE, normalize(p)); body = await readFile(file); }
    res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
    res.end(body);
  } catch (e) { res.writeHead(404); res.end(); }
});
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const base = `http://127.0.0.1:${server.address().port}`;
const browser = await launchBrowser({ args: ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"] });
const load0 = loadavg().map((x) => x.toFixed(2)).join("/");
const keys = ["plain", ...DISTS.map((_, i) => `o${i}`)].flatMap((k) => (BOTH ? [k, k + "~i"] : [k]));
const res = Object.fromEntries(keys.map((k) => [k, []])), files = {};
// The order within a round rotates each round: with a fixed order, swapping two builds' places
// moved their paired difference by 28 ms (-17.4 / +11.1 ms, 25 rounds each, load 8).
for (let r = 0; r < runs; r++) for (const k of keys.map((_, i) => keys[(i + r) % keys.length])) {
  const ctx = await browser.newContext();
  if (ROUTE && (!BOTH || k.endsWith("~i"))) await ctx.route("**/*", (route) => { const u = new URL(route.request().url()); if (u.hostname === "127.0.0.1" && u.port !== "9") return route.continue(); return route.abort("blockedbyclient"); });
  const page = await ctx.newPage();
  const got = []; page.on("request", (q) => got.push(new URL(q.url()).pathname));
  await page.goto(k.startsWith("plain") ? `${base}/plain/` : `${base}/${k.split("~")[0]}/`);
  if (k.startsWith("plain")) await page.waitForFunction(() => window.__bench || window.__track, null, { timeout: 20000 });
  else await page.waitForFunction(() => window.__bench, null, { timeout: 20000 });
  res[k].push(await page.evaluate(() => (window.__bench && window.__bench.readyAt) ?? performance.now()));
  files[k] = got; await ctx.close();
}
await browser.close(); server.close();
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return +s[Math.floor(s.length / 2)].toFixed(1); };
console.log(`runs ${runs}, ${BOTH ? "routed and not" : ROUTE ? "routed" : "not routed"}, load ${load0} -> ${loadavg().map((x) => x.toFixed(2)).join("/")}`);
// Each page against the first build and the floor loaded the same way (routed or not).
const same = (k, base) => (k.endsWith("~i") ? base + "~i" : base);
for (const k of keys) if (!k.startsWith("o0") && !k.startsWith("plain")) console.log(k.padEnd(6), "paired median (k - o0) ms", med(res[k].map((x, i) => x - res[same(k, "o0")][i])), "paired median ratio to plain", med(res[k].map((x, i) => x / res[same(k, "plain")][i])));
if (BOTH) for (const k of keys) if (k.endsWith("~i")) console.log(k.padEnd(6), "paired median (routed - not) ms", med(res[k].map((x, i) => x - res[k.slice(0, -2)][i])));
for (const k of keys) console.log(k.padEnd(6), "median", med(res[k]), "min", med([Math.min(...res[k])]), "max", med([Math.max(...res[k])]), "ratio", (med(res[k]) / med(res[same(k, "plain")])).toFixed(2), "paired median ratio", med(res[k].map((x, i) => x / res[same(k, "plain")][i])), JSON.stringify(files[k]));
const J = opt("--json"); if (J) (await import("node:fs")).writeFileSync(J, JSON.stringify(res));

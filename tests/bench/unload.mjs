// Unload benchmark (a program, not a test): Omnitrail's side of issue 17's table, in headless
// Chromium against the reference collector on 127.0.0.1. For each configuration (the defaults,
// `compression: "gzip"`, `compression: "none"`) and each way of leaving (`page.goto` after the
// calls; the calls and `location.href = …` in one task), 50 `track` calls with a 13-property
// event, then navigation; then the site is opened again. Reports what arrived from the page that
// left, what the reopened page sent again, the copies the collector discarded at unload, and
// the wire bytes per event of the left page's requests (bodies as received by the collector). Prints a table and writes tests/out/bench-unload.json.
//   node tests/bench/unload.mjs [--rounds 3]
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadavg } from "node:os";
import { startCollector, startSite, launchBrowser, openPage, ROOT } from "../e2e/harness.mjs";
import { leave, settle, WAYS } from "./unload-scenario.mjs";

const argv = process.argv.slice(2);
const ROUNDS = Number(argv.includes("--rounds") ? argv[argv.indexOf("--rounds") + 1] : 3);

const collector = await startCollector();
const base = { writeKey: "demo", endpoint: collector.url, autoPage: false };
const configs = {
  defaults: await startSite({ config: base }),
  gzip: await startSite({ config: { ...base, compression: "gzip" } }),
  none: await startSite({ config: { ...base, compression: "none" } }),
};
const browser = await launchBrowser();
// Only "Leave" events are tracked after the reset: every message received is one of their copies.
const probe = async () => { const s = await collector.stats(); return { distinct: s.byEvent?.Leave ?? 0, copies: s.received }; };

async function once(cfg, how) {
  const site = configs[cfg];
  const ctx = await browser.newContext();
  try {
    const page = await openPage(ctx, site.url + "/");
    // The defaults negotiate gzip on the first answer: a first batch, as a visitor's page view.
    await page.evaluate(() => { for (let i = 0; i < 20; i++) omnitrail.track("Warm", { i }); return omnitrail.flush(); });
    await collector.reset();
    await leave(page, how);
    await settle(probe, { giveUpMs: 5000, maxMs: 8000 });
    const s1 = await collector.stats();
    const arrived = s1.byEvent?.Leave ?? 0;
    const back = await openPage(ctx, site.url + "/");
    await back.evaluate(() => omnitrail.flush());
    const s2 = await collector.stats();
    // The collector counts request bodies as received (gzipped or not) and every copy of a
    // message; a copy of a stored message is a duplicate (only "Leave" events can be).
    return { cfg, how, arrived, afterReopen: s2.byEvent?.Leave ?? 0, leftRequests: s1.requests, leftCopies: s1.received,
      duplicatesAtUnload: s1.duplicates, sentAgainByNextPage: s2.duplicates - s1.duplicates,
      wireBytesPerEvent: s1.received ? s1.bodyBytes / s1.received : null };
  } finally {
    await ctx.close();
  }
}

const load0 = loadavg().map((x) => +x.toFixed(2));
const runs = [];
for (let r = 0; r < ROUNDS; r++) {
  for (const cfg of Object.keys(configs)) {
    for (const how of WAYS) {
      const res = await once(cfg, how);
      runs.push({ round: r, ...res });
      console.error(JSON.stringify(runs.at(-1)));
    }
  }
}
const load1 = loadavg().map((x) => +x.toFixed(2));
const chromium = browser.version();
await browser.close();
for (const s of Object.values(configs)) await s.stop();
await collector.stop();

const range = (xs) => { const v = xs.filter((x) => x != null); if (!v.length) return "—"; const lo = Math.min(...v), hi = Math.max(...v); return lo === hi ? `${Math.round(lo)}` : `${Math.round(lo)}–${Math.round(hi)}`; };
const rows = [];
for (const cfg of Object.keys(configs)) {
  const of = (how) => runs.filter((r) => r.cfg === cfg && r.how === how);
  const cell = (how) => `${range(of(how).map((r) => r.arrived))} / ${range(of(how).map((r) => r.afterReopen))}; sent again by the next page ${range(of(how).map((r) => r.sentAgainByNextPage))}; second copies at unload ${range(of(how).map((r) => r.duplicatesAtUnload))}`;
  rows.push(`| Omnitrail, ${cfg} | ${cell("goto")} | ${cell("same-task")} | ${range(runs.filter((r) => r.cfg === cfg).map((r) => r.wireBytesPerEvent))} |`);
}
const md = ["| | unload, `page.goto`: arrived / after reopen | unload, same task | wire bytes per event (13 properties, the left page's requests, every copy) |", "|---|---|---|---|", ...rows].join("\n");
console.log(`\n${ROUNDS} rounds, Chromium ${chromium}, load ${load0.join(" ")} → ${load1.join(" ")}; ranges over rounds\n`);
console.log(md);
mkdirSync(join(ROOT, "tests/out"), { recursive: true });
writeFileSync(join(ROOT, "tests/out/bench-unload.json"), JSON.stringify({ date: new Date().toISOString(), rounds: ROUNDS, chromium, load0, load1, table: md, runs }, null, 2));
console.log("\nwrote tests/out/bench-unload.json");

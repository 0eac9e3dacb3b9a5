// Investigation program (not a test): the reliability suite's five-tab scenario (five tabs of
// one site track 200 events each; every request held 200 ms at the collector; the delivering
// tab is closed midway), run N times, each in a fresh Chromium writing a net log. For every
// batch request the browser made it records when it started (relative to the close), whether it
// was the closing tab's keepalive request (started during `page.close()`), its upload size, how
// it ended (net error, HTTP status) and which events its body carried (read from the socket
// bytes the net log captures). Per run: events lost, duplicates the collector dropped, and
// whether each closing-tab keepalive request reached the collector. Prints a table, writes
// tests/out/five-tabs-close.json.
//   node tests/bench/five-tabs-close.mjs [--runs 20] [--no-netlog] [--keep-logs]
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, startCollector, startSite, launchBrowser, waitFor } from "../e2e/harness.mjs";
import { fiveTabs, bursts } from "../e2e/five-tabs.mjs";

const argv = process.argv.slice(2);
const opt = (name, dflt) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : dflt; };
const RUNS = Number(opt("--runs", 20));
const NETLOG = !argv.includes("--no-netlog");
const KEEP = argv.includes("--keep-logs");
const SDK = { writeKey: "demo", flushInterval: 200, requestTimeout: 2000, retry: { baseMs: 200, maxMs: 2000 } };
// A directory of this run's own: two runs at once (or another user's) never share log files.
const LOGDIR = mkdtempSync(join(tmpdir(), "omnitrail-netlog-"));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const stats = (p) => p.evaluate(() => omnitrail.stats());

/** Page renderer processes of the browser started with `marker` in its arguments (how many the five tabs share). */
function renderers(marker) {
  try {
    const out = execFileSync("ps", ["-eo", "pid,ppid,args"], { encoding: "utf8" });
    const rows = out.split("\n").slice(1).map((l) => l.trim().match(/^(\d+)\s+(\d+)\s+(.*)$/)?.slice(1)).filter(Boolean);
    const pid = rows.find(([, , a]) => a.includes(marker) && !a.includes("--type="))?.[0];
    if (!pid) return -1;
    const kids = new Map();
    for (const [p, pp, args] of rows) (kids.get(pp) ?? kids.set(pp, []).get(pp)).push([p, args]);
    let n = 0;
    const walk = (p) => { for (const [c, args] of kids.get(String(p)) ?? []) { if (args.includes("--type=renderer") && !args.includes("--top-chrome-webui")) n++; walk(c); } };
    walk(pid);
    return n;
  } catch { return -1; }
}

/** Parses a Chromium net log (possibly cut short) into the batch requests it shows. */
function parseNetLog(file, collectorUrl) {
  let text = readFileSync(file, "utf8").trimEnd();
  let log;
  try { log = JSON.parse(text); } catch {
    text = text.replace(/,\s*$/, "");
    try { log = JSON.parse(text + "]}"); } catch { log = JSON.parse(text + "\n]}"); }
  }
  const T = Object.fromEntries(Object.entries(log.constants.logEventTypes).map(([k, v]) => [v, k]));
  const base = Number(log.constants.timeTickOffset ?? 0);
  const bySource = new Map();
  for (const e of log.events) (bySource.get(e.source.id) ?? bySource.set(e.source.id, []).get(e.source.id)).push(e);
  // Socket bytes per socket source; which socket a request's stream used.
  const sent = new Map();
  for (const e of log.events) {
    if (T[e.type] === "SOCKET_BYTES_SENT" && e.params?.bytes) {
      const b = Buffer.from(e.params.bytes, "base64").toString("latin1");
      sent.set(e.source.id, (sent.get(e.source.id) ?? "") + b);
    }
  }
  const requests = [];
  for (const [id, evs] of bySource) {
    const start = evs.find((e) => T[e.type] === "URL_REQUEST_START_JOB" && e.params?.url?.startsWith(collectorUrl + "/v1/batch"));
    if (!start) continue;
    const r = { id, url: start.params.url.slice(collectorUrl.length), t: base + Number(start.time), method: start.params.method };
    const alive = evs.filter((e) => T[e.type] === "REQUEST_ALIVE");
    const end = alive.find((e) => e.phase === 2);
    r.endT = end ? base + Number(end.time) : null;
    r.netError = end?.params?.net_error ?? (evs.find((e) => e.params?.net_error !== undefined)?.params.net_error ?? 0);
    const hdr = evs.find((e) => T[e.type] === "HTTP_TRANSACTION_READ_RESPONSE_HEADERS");
    r.status = hdr ? Number(String(hdr.params.headers[0]).split(" ")[1]) : null;
    const up = evs.find((e) => T[e.type] === "UPLOAD_DATA_STREAM_INIT" && e.phase === 2);
    r.upload = up?.params?.total_size ?? null;
    r.cancelled = evs.some((e) => T[e.type] === "CANCELLED");
    const body = evs.filter((e) => T[e.type] === "URL_REQUEST_JOB_FILTERED_BYTES_READ" && e.params?.bytes)
      .map((e) => Buffer.from(e.params.bytes, "base64").toString("utf8")).join("");
    try { const a = JSON.parse(body); r.answer = { received: a.received, stored: a.stored, duplicates: a.duplicates }; } catch { r.answer = null; }
    // The socket this request's stream was bound to (through the stream job).
    r.sockets = [];
    const deps = evs.map((e) => e.params?.source_dependency?.id).filter((x) => x !== undefined);
    const seen = new Set();
    const follow = (sid, depth) => {
      if (seen.has(sid) || depth > 4) return;
      seen.add(sid);
      if (sent.has(sid)) r.sockets.push(sid);
      for (const e of bySource.get(sid) ?? []) { const d = e.params?.source_dependency?.id; if (d !== undefined) follow(d, depth + 1); }
    };
    for (const d of deps) follow(d, 0);
    requests.push(r);
  }
  return { requests, sent };
}

/** The "R3 t i" event names in an HTTP/1.1 byte stream, per request (split on "POST "). */
function bodiesOn(stream) {
  return stream.split(/(?=POST \/v1\/batch)/).filter((s) => s.startsWith("POST")).map((s) => ({
    head: s.slice(0, s.indexOf("\r\n")),
    events: [...s.matchAll(/"event":"(R3 \d+ \d+)"/g)].map((m) => m[1]),
  }));
}

async function run(i, collector, site) {
  const file = join(LOGDIR, `run-${i}.json`);
  rmSync(file, { force: true });
  const browser = await launchBrowser({ args: NETLOG ? [`--log-net-log=${file}`, "--net-log-capture-mode=Everything"] : [] });
  const ctx = await browser.newContext();
  const { tabs, leader } = await fiveTabs(ctx, site);
  await tabs[leader].evaluate(() => omnitrail.flush());
  await collector.reset();
  await collector.fault({ mode: "hang", delayMs: 200 });
  const processes = renderers(file);
  const t0 = Date.now();
  const runs = bursts(tabs, leader);
  await runs[leader];
  const atClose = await stats(tabs[leader]);
  const closeStart = Date.now();
  const gone = new Promise((r) => tabs[leader].once("close", r));
  await tabs[leader].close({ runBeforeUnload: true });
  await gone;
  const closeEnd = Date.now();
  await Promise.all(runs.filter((_, t) => t !== leader));
  const followers = tabs.filter((_, t) => t !== leader);
  const expected = [];
  for (let t = 0; t < 5; t++) for (let k = 0; k < 200; k++) expected.push(`R3 ${t} ${k}`);
  let count = new Map();
  const countNow = async () => {
    count = new Map();
    for (const m of await collector.messages()) if (m.type === "track" && m.event.startsWith("R3 ")) count.set(m.event, (count.get(m.event) ?? 0) + 1);
    return expected.every((e) => count.has(e));
  };
  let complete = true;
  try { await waitFor(countNow, "all 1000 stored", { timeout: 20000, interval: 200 }); } catch { complete = false; }
  await sleep(800);
  await countNow();
  const s = await collector.stats();
  const queued = (await Promise.all(followers.map(stats))).reduce((n, x) => n + x.queued, 0);
  await ctx.close();
  await browser.close();
  const lost = expected.filter((e) => !count.has(e));
  const row = { run: i, renderers: processes, leader, lost: lost.length, duplicates: s.duplicates, requests: s.requests,
    leaderQueuedAtClose: atClose.queued, closeMs: closeEnd - closeStart, complete, queuedAfter: queued,
    lostSample: lost.slice(0, 6) };
  if (NETLOG && existsSync(file)) {
    const { requests, sent } = parseNetLog(file, collector.url);
    // Net log times are ms since the epoch once timeTickOffset is added.
    const rel = (t) => Math.round(t - closeStart);
    const closing = requests.filter((r) => r.t >= closeStart - 5 && r.t <= closeEnd + 5);
    // Bodies from sockets: map every request's events by matching the k-th POST on its socket.
    const bodies = new Map();
    for (const [sid, stream] of sent) bodies.set(sid, bodiesOn(stream));
    row.netlog = {
      batchRequests: requests.length,
      failed: requests.filter((r) => r.netError !== 0 || r.status !== 200)
        .map((r) => ({ t: rel(r.t), end: r.endT && rel(r.endT), netError: r.netError, status: r.status, cancelled: r.cancelled, upload: r.upload })),
      // Duplicates the collector reported in the answers: to the closing tab's keepalive
      // requests, and to the requests that started after the close (the new delivering tab).
      dupClosing: closing.reduce((n, r) => n + (r.answer?.duplicates ?? 0), 0),
      dupAfter: requests.filter((r) => r.t > closeEnd + 5).reduce((n, r) => n + (r.answer?.duplicates ?? 0), 0),
      duringClose: closing.map((r) => ({ t: rel(r.t), end: r.endT && rel(r.endT), netError: r.netError, status: r.status, upload: r.upload, answer: r.answer })),
      around: requests.filter((r) => r.t >= closeStart - 600 && r.t <= closeEnd + 2000)
        .map((r) => `${rel(r.t)}..${r.endT && rel(r.endT)} ${r.upload}B ${r.url.includes("gzip") ? "gz" : "plain"} ${r.cancelled ? "CANCELLED" : r.status ?? "-"} err${r.netError}${r.answer ? ` recv${r.answer.received}/dup${r.answer.duplicates}` : ""}`),
    };
    // Which events the closing tab's keepalive requests carried, and were those all stored?
    const carried = [];
    for (const r of closing) for (const sid of r.sockets) for (const b of bodies.get(sid) ?? []) carried.push(...b.events);
    row.netlog.closingEvents = new Set(carried).size;
    row.netlog.closingEventsLost = carried.filter((e) => !count.has(e)).length;
    if (!KEEP) rmSync(file, { force: true });
  }
  return row;
}

const collector = await startCollector();
const site = await startSite({ config: { ...SDK, endpoint: collector.url } });
const rows = [];
const load0 = loadavg()[0];
try {
  for (let i = 0; i < RUNS; i++) {
    await collector.fault({ clear: true });
    await collector.reset();
    const row = await run(i, collector, site);
    rows.push(row);
    console.log(JSON.stringify(row));
  }
} finally {
  await site.stop();
  await collector.stop();
}
const out = { sdk: SDK, runs: RUNS, netlog: NETLOG, loadBefore: load0, loadAfter: loadavg()[0],
  lost: rows.map((r) => r.lost), duplicates: rows.map((r) => r.duplicates), rows };
mkdirSync(join(ROOT, "tests/out"), { recursive: true });
writeFileSync(join(ROOT, "tests/out/five-tabs-close.json"), JSON.stringify(out, null, 2) + "\n");
console.log(`\nlost per run: ${out.lost.join(" ")}\nduplicates per run: ${out.duplicates.join(" ")}\nload ${load0.toFixed(1)} -> ${out.loadAfter.toFixed(1)}`);
if (KEEP) console.log(`net logs kept in ${LOGDIR}`);
else rmSync(LOGDIR, { recursive: true, force: true });

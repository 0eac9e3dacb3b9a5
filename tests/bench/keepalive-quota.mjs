// Investigation program (not a test): how Chromium treats a page's keepalive quota (64 KB of
// request bodies in flight per document), with 40 KB `fetch(..., {keepalive: true})` bodies
// against the real collector. A: two at once: when does the second's refusal reach the page,
// relative to a microtask queued right after the call (the SDK's hand-over runs there)? B: the
// first answered, its body unread, 300 ms later. C: the first answered and its body read. D: the
// first answered, its body unread, at once. Prints the order of what the page saw.
//   node tests/bench/keepalive-quota.mjs
import { startCollector, startSite, launchBrowser } from "../e2e/harness.mjs";
const c = await startCollector();
const site = await startSite({ config: { writeKey: "demo", endpoint: c.url } });
const b = await launchBrowser();
const ctx = await b.newContext();
const page = await ctx.newPage();
await page.goto(site.url + "/about.html");
const out = await page.evaluate(async (url) => {
  const init = (n) => ({ method: "POST", body: "x".repeat(n), keepalive: true, mode: "cors", credentials: "omit" });
  const res = {};
  // A: two 40 KB keepalive requests at once: when does the second's refusal arrive?
  let order = [];
  fetch(url, init(40000)).then((r) => order.push("k1 " + r.status), () => order.push("k1 rejected"));
  fetch(url, init(40000)).then((r) => order.push("k2 " + r.status), (e) => order.push("k2 rejected: " + e.message));
  Promise.resolve().then(() => order.push("microtask queued after"));
  setTimeout(() => order.push("next task"), 0);
  await new Promise((r) => setTimeout(r, 800));
  res.A = order;
  // B: a 40 KB keepalive answered, body not read; then another 40 KB one.
  order = [];
  const r1 = await fetch(url, init(40000));
  order.push("r1 answered " + r1.status);
  await new Promise((r) => setTimeout(r, 300));
  fetch(url, init(40000)).then((r) => order.push("k3 " + r.status), (e) => order.push("k3 rejected: " + e.message));
  Promise.resolve().then(() => order.push("microtask queued after"));
  await new Promise((r) => setTimeout(r, 800));
  res.B_unread = order;
  // C: same, with the first body read.
  order = [];
  await new Promise((r) => setTimeout(r, 500));
  const r2 = await fetch(url, init(40000));
  await r2.text();
  order.push("r2 answered and read " + r2.status);
  fetch(url, init(40000)).then((r) => order.push("k4 " + r.status), (e) => order.push("k4 rejected: " + e.message));
  await new Promise((r) => setTimeout(r, 800));
  res.C_read = order;
  // D: answered, body unread, right away (no 300 ms pause)
  order = [];
  await new Promise((r) => setTimeout(r, 500));
  const r3 = await fetch(url, init(40000));
  fetch(url, init(40000)).then((r) => order.push("k5 " + r.status), (e) => order.push("k5 rejected: " + e.message));
  Promise.resolve().then(() => order.push("microtask queued after"));
  await new Promise((r) => setTimeout(r, 800));
  res.D_unread_at_once = order;
  return res;
}, c.url + "/v1/batch");
console.log(JSON.stringify(out, null, 1));
await b.close(); await site.stop(); await c.stop();

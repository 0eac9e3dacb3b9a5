// Three collector instances on one PostgreSQL database behind Debian's nginx (round robin), with
// the SDK's real traffic from Chromium going through nginx: three tabs of one browser and two
// devices signed in as one customer track events and edit the shared cart. Every event is
// stored exactly once, requests reach every instance (one of them answers 503 to its first
// requests, so the SDK's retries land on another), and the two devices' carts converge — read
// back through each instance.
//
// Needs /usr/lib/postgresql/15/bin and /usr/sbin/nginx (scripts/setup.sh installs both); the
// file is skipped with a message only when they are missing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { startCollector, startSite, launchBrowser, openPage, waitFor } from "./harness.mjs";
import { missingLbParts, startPostgres, startNginx } from "./lb.mjs";

const SECRET = "e2e-cluster-cart-secret";
const token = (userId) => createHmac("sha256", SECRET).update(`demo:${userId}`).digest("hex");
const EVENTS_PER_PAGE = 60;
const missing = missingLbParts();
if (missing) console.log(`SKIPPED: cluster.test.mjs (PostgreSQL + nginx): ${missing}`);

let pg, nginx, site, browser;
const collectors = [];
const figures = {};

before(async () => {
  if (missing) return;
  const t0 = Date.now();
  pg = await startPostgres();
  // Three instances starting together: they migrate the empty database once (advisory lock).
  const args = ["--cart-secret", SECRET, "--max-connections-per-ip", "0", "--rate-limit", "0"];
  collectors.push(...await Promise.all([0, 1, 2].map(() => startCollector({ store: pg.url(), extraArgs: args }))));
  nginx = await startNginx({ upstreams: collectors.map((c) => new URL(c.url).host) });
  site = await startSite({
    config: { writeKey: "demo", endpoint: nginx.url, flushInterval: 100, maxBatchEvents: 10, cart: { syncDelay: 200 } },
    cartSecret: SECRET,
  });
  browser = await launchBrowser();
  figures.startMs = Date.now() - t0;
}, { timeout: 90000 });

after(async () => {
  if (!missing) console.log("cluster figures:", JSON.stringify(figures));
  await browser?.close().catch(() => {});
  await site?.stop().catch(() => {});
  await nginx?.stop().catch(() => {});
  await Promise.all(collectors.map((c) => c.stop()));
  pg?.stop();
});

const TEE = { product_id: "tee-blue", variant: "M", name: "Blue tee", price: 19, currency: "EUR" };
const MUG = { product_id: "mug-red", name: "Red mug", price: 9.5, currency: "EUR" };
const qty = (page, id = "tee-blue", variant = "M") =>
  page.evaluate(([id, variant]) => omnitrail.cart.get().products.find((p) => p.product_id === id && (p.variant ?? "") === variant)?.quantity ?? 0, [id, variant]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test("SDK traffic through nginx to 3 collectors on one PostgreSQL: every event stored once, every instance used, carts converge", { skip: missing ?? false, timeout: 120000 }, async () => {
  // Instance 0 refuses its first requests: the SDK retries, and nginx sends the retry on.
  await collectors[0].fault({ status: 503, count: 2, retryAfter: 1 });

  const tabs = await browser.newContext();
  const phone = await browser.newContext();
  const laptop = await browser.newContext();
  const pages = [
    ...await Promise.all(["/", "/product.html?id=mug-red", "/checkout.html"].map((path) => openPage(tabs, site.url + path))),
    await openPage(phone, site.url + "/"),
    await openPage(laptop, site.url + "/"),
  ];
  const [p, l] = pages.slice(3);

  // Every page tracks its events in small bursts (several batches each), all pages at once.
  await Promise.all(pages.map(async (page, n) => {
    for (let i = 0; i < EVENTS_PER_PAGE; i += 10) {
      await page.evaluate(([n, i]) => { for (let k = i; k < i + 10; k++) omnitrail.track("Cluster Event", { page: n, i: k }); }, [n, i]);
      await sleep(60);
    }
  }));

  // The cart: the laptop signed in with a mug, the phone shops as a guest and signs in, then
  // both add the same line at the same moment (their syncs reach different instances).
  await l.evaluate(([m, tok]) => { omnitrail.identify("user-7"); omnitrail.cart.connect(tok); omnitrail.cart.add(m); }, [MUG, token("user-7")]);
  assert.equal(await l.evaluate(() => omnitrail.cart.sync()), true);
  await p.evaluate((t) => omnitrail.cart.add(t), TEE);
  await p.evaluate((tok) => { omnitrail.identify("user-7"); omnitrail.cart.connect(tok); }, token("user-7"));
  await waitFor(async () => (await qty(p, "mug-red", "")) === 1, "the saved mug on the phone");
  await Promise.all([p.evaluate((m) => omnitrail.cart.add(m), MUG), l.evaluate((m) => omnitrail.cart.add(m), MUG)]);
  for (let round = 0; round < 2; round++) {
    assert.deepEqual(await Promise.all([p.evaluate(() => omnitrail.cart.sync()), l.evaluate(() => omnitrail.cart.sync())]), [true, true]);
  }
  for (const [dev, name] of [[p, "phone"], [l, "laptop"]]) {
    assert.equal(await qty(dev, "mug-red", ""), 3, `${name}: 1 + 1 + 1 mugs`);
    assert.equal(await qty(dev), 1, `${name}: the phone's tee`);
  }
  // Every instance reads the same merged cart from the database.
  for (const c of collectors) {
    const r = await fetch(`${c.url}/v1/cart/user-7?writeKey=demo`, { headers: { "X-Omnitrail-Cart-Token": token("user-7") } });
    assert.equal(r.status, 200);
    const saved = (await r.json()).cart;
    assert.deepEqual(saved.products.map((x) => [x.product_id, x.quantity]).sort(), [["mug-red", 3], ["tee-blue", 1]], `the cart as ${c.url} reads it`);
  }

  // Every event once: counted in the database and through each instance's test endpoint.
  await Promise.all(pages.map((page) => page.evaluate(() => omnitrail.flush())));
  const expected = pages.length * EVENTS_PER_PAGE;
  const count = () => pg.psql("SELECT count(*) || ' ' || count(DISTINCT message_id) FROM messages WHERE event = 'Cluster Event'");
  const [rows, distinct] = (await waitFor(async () => { const c = count(); return c.startsWith(`${expected} `) && c; }, `${expected} events in PostgreSQL`, { timeout: 45000, interval: 250 }))
    .split(" ").map(Number);
  await sleep(500); // nothing arrives late (a retry stored twice would show here)
  assert.equal(count(), `${expected} ${expected}`, "still exactly once");
  assert.equal(rows, distinct);
  for (const c of collectors) {
    const msgs = (await c.messages()).filter((m) => m.event === "Cluster Event");
    assert.equal(msgs.length, expected, `${c.url} sees every event`);
    const keys = new Set(msgs.map((m) => `${m.properties.page}:${m.properties.i}`));
    assert.equal(keys.size, expected, "every (page, i) once");
    assert.equal(new Set(msgs.map((m) => m.messageId)).size, expected, "distinct messageIds");
  }
  // Local cart adds were tracked once each (4), merges from the other device emitted nothing.
  await waitFor(() => pg.psql("SELECT count(*) FROM messages WHERE event = 'Product Added'") === "4", "4 Product Added");

  // Requests reached every instance; instance 0's refusals were retried.
  const stats = await Promise.all(collectors.map((c) => c.stats()));
  const hits = stats.map((s) => s.requests);
  figures.events = expected;
  figures.storedRows = rows;
  figures.ingestRequestsPerInstance = hits;
  figures.faulted = stats.map((s) => s.faulted);
  figures.duplicatesAnswered = stats.reduce((n, s) => n + s.duplicates, 0);
  figures.nginxRequests = nginx.accessLog().trim().split("\n").length;
  figures.nginxByPath = Object.fromEntries(Object.entries(nginx.accessLog().trim().split("\n").reduce((acc, line) => {
    const path = (line.match(/"[A-Z]+ (\/[^ ?]*)/)?.[1] ?? "?").replace(/\/cart\/.*/, "/cart/*");
    acc[path] = (acc[path] ?? 0) + 1;
    return acc;
  }, {})));
  assert.ok(hits.every((n) => n > 0), `every instance received ingestion requests: ${hits}`);
  assert.equal(stats[0].faulted, 2, "instance 0 refused two requests");
  const pageErrors = pages.flatMap((pg) => pg.logs.filter((x) => x.startsWith("pageerror")));
  assert.deepEqual(pageErrors, []);
  await Promise.all([tabs.close(), phone.close(), laptop.close()]);
});

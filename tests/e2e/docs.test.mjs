// The README against the real thing (issue 20): every call and option it names exists in the
// types, in the snippet's stub before load and on the loaded SDK (script tag and npm); every
// cookie and localStorage key a real page writes is in its storage table; the figures it
// quotes (snippet size, tested bundler versions) are the build's and the tests'; no link leaves
// the repository.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { createHmac } from "node:crypto";
import { ROOT, startCollector, startSite, launchBrowser, openPage, waitFor } from "./harness.mjs";

const README = readFileSync(join(ROOT, "README.md"), "utf8");
const DTS = readFileSync(join(ROOT, "js/src/index.d.ts"), "utf8");
const SECRET = "docs-cart-secret";

/** The text of the README section `## title` (to the next `## `). */
function section(title) {
  const start = README.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `README has "## ${title}"`);
  const end = README.indexOf("\n## ", start + 4);
  return README.slice(start, end < 0 ? undefined : end);
}

/** The first cells of a markdown table's rows. */
const firstCells = (text) => text.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| ---")).slice(1).map((l) => l.split(" | ")[0].slice(2));

/** Member names of a TypeScript block `start … \n}`. */
function members(start) {
  const from = DTS.indexOf(start);
  assert.ok(from >= 0, `index.d.ts has ${start}`);
  const body = DTS.slice(from + start.length, DTS.indexOf("\n}", from));
  return new Set([...body.matchAll(/^ {2}(?:static )?(?:readonly )?(\w+)\??[(:]/gm)].map((m) => m[1]));
}

// The calls of the API table: "track", "cart.add", "consent.get", …
const CALLS = [...new Set(firstCells(section("API")).flatMap((cell) => [...cell.matchAll(/`([\w.]+)\(/g)].map((m) => m[1])))];

let collector, site, browser;
before(async () => {
  collector = await startCollector({ extraArgs: ["--cart-secret", SECRET] });
  site = await startSite({ config: { writeKey: "demo", endpoint: collector.url, flushInterval: 100 }, cartSecret: SECRET });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await site?.stop();
  await collector?.stop();
});

test("every call the README's API table names is typed, stubbed by the snippet before load, and on the loaded SDK", async () => {
  assert.ok(CALLS.length >= 30 && CALLS.includes("consent.onChange") && CALLS.includes("cart.sync"), `the API table's calls: ${CALLS}`);
  const typed = { "": members("export declare class Omnitrail {"), cart: members("export interface Cart {"), consent: members("export interface Consent {") };
  for (const call of CALLS) {
    const [ns, name] = call.includes(".") ? call.split(".") : ["", call];
    assert.ok(typed[ns]?.has(name), `index.d.ts declares ${call}`);
  }
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  // The SDK never loads: what the page meets is the snippet's stub.
  await page.route("**/omnitrail/omnitrail.js", (route) => route.abort());
  await page.goto(site.url + "/about.html");
  const probe = (calls) => {
    const out = {};
    for (const call of calls) {
      const [ns, name] = call.includes(".") ? call.split(".") : [null, call];
      const fn = ns ? window.omnitrail[ns]?.[name] : window.omnitrail[name];
      if (typeof fn !== "function") { out[call] = "missing"; continue; }
      try {
        const r = fn.call(ns ? window.omnitrail[ns] : window.omnitrail);
        if (r && typeof r.then === "function") r.then(() => {}, () => {});
        out[call] = "ok";
      } catch (e) { out[call] = "throws " + e.message; }
    }
    return out;
  };
  const stub = await page.evaluate(probe, CALLS);
  assert.deepEqual(Object.entries(stub).filter(([, v]) => v !== "ok"), [], "every call on the stub exists and does not throw");
  await ctx.close();

  const ctx2 = await browser.newContext();
  const loaded = await openPage(ctx2, site.url + "/about.html");
  const real = await loaded.evaluate(probe, CALLS);
  assert.deepEqual(Object.entries(real).filter(([, v]) => v !== "ok"), [], "every call on the loaded SDK exists and does not throw");
  await ctx2.close();
});

test("every option the README's configuration table names is typed, and every typed option is in the README", () => {
  const documented = new Set(firstCells(section("Configuration")).flatMap((cell) => [...cell.matchAll(/`(\w+)(?:\.\w+)?`/g)].map((m) => m[1])));
  const typed = members("export interface OmnitrailConfig {");
  for (const o of documented) assert.ok(typed.has(o), `OmnitrailConfig in index.d.ts has the README's ${o}`);
  for (const o of typed) assert.ok(documented.has(o) || README.includes("`" + o + ":") || README.includes("`" + o + "`"), `the README documents ${o}`);
});

test("every cookie and localStorage key a real page writes is in the README's storage table", async () => {
  const rows = firstCells(section("Cookies and storage")).flatMap((cell) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]));
  const patterns = rows.map((k) => new RegExp("^" + k.replace(/[.]/g, "\\.").replace(/\{\w+\}/g, "[^.]+") + "$"));
  const documented = (k) => patterns.some((p) => p.test(k));
  const seen = new Set();
  const collect = async (page, ctx) => {
    for (const k of await page.evaluate(() => Object.keys(localStorage))) seen.add(k);
    for (const c of await ctx.cookies()) seen.add(c.name);
  };
  // Everything a visit can write: identity, session, journey (a campaign), consent, the cart
  // and its sync, gzip negotiation, and events waiting while offline.
  const ctx = await browser.newContext();
  const page = await openPage(ctx, site.url + "/about.html?utm_source=news&utm_medium=email");
  const token = createHmac("sha256", SECRET).update("demo:docs-user").digest("hex");
  await page.evaluate((token) => {
    omnitrail.identify("docs-user", { plan: "pro" });
    omnitrail.group("docs-group", { name: "Acme" });
    omnitrail.consent.set({ marketing: true });
    omnitrail.cart.connect(token);
    omnitrail.cart.add({ product_id: "tee", price: 19 });
    for (let i = 0; i < 20; i++) omnitrail.track("Docs " + i, { pad: "x".repeat(100) }); // a batch over 1 KB: gzip is learnt
    return omnitrail.flush();
  }, token);
  await waitFor(() => page.evaluate(() => localStorage.getItem("ot1.gz") !== null && localStorage.getItem("ot1.cs") !== null), "ot1.gz and ot1.cs");
  await ctx.setOffline(true);
  await page.evaluate(() => { omnitrail.track("Waiting Offline"); return new Promise((r) => setTimeout(r, 200)); });
  await waitFor(() => page.evaluate(() => Object.keys(localStorage).some((k) => k.startsWith("ot1.q."))), "an outbox chunk");
  await collect(page, ctx);
  await ctx.close();
  // Without Web Locks, the storage lease elects the delivering tab.
  const ctx2 = await browser.newContext();
  await ctx2.addInitScript(() => { Object.defineProperty(Navigator.prototype, "locks", { get: () => undefined }); });
  const leased = await openPage(ctx2, site.url + "/about.html");
  await waitFor(() => leased.evaluate(() => localStorage.getItem("ot1.lease") !== null), "ot1.lease");
  await collect(leased, ctx2);
  await ctx2.close();
  for (const k of ["omnitrail_aid", "ot1.aid", "ot1.uid", "ot1.gid", "ot1.traits", "ot1.sess", "ot1.j1", "ot1.consent", "ot1.c1", "ot1.cs", "ot1.gz", "ot1.lead", "ot1.lease"]) {
    assert.ok(seen.has(k), `the visit wrote ${k}: ${[...seen]}`);
  }
  assert.deepEqual([...seen].filter((k) => !documented(k)), [], "keys written but missing from the README's table");
});

test("the figures the README quotes are the build's and the tests': snippet size, bundler versions; no link leaves the repository", () => {
  const sizes = JSON.parse(readFileSync(join(ROOT, "js/dist/sizes.json"), "utf8")).files["snippet.min.js"];
  const fmt = (n) => n.toLocaleString("en-US");
  const quoted = `\`js/dist/snippet.min.js\`, ${fmt(sizes.raw)} bytes, ${fmt(sizes.gzip)} gzipped`;
  assert.ok(README.replace(/\s+/g, " ").includes(quoted), `README.md quotes the snippet as "${quoted}" (js/dist/sizes.json)`);
  const pkg = JSON.parse(readFileSync(join(ROOT, "tests/packaging/package.json"), "utf8")).devDependencies;
  for (const [name, label] of [["vite", "Vite"], ["webpack", "webpack"], ["esbuild", "esbuild"], ["typescript", "TypeScript"], ["react", "React"]]) {
    assert.ok(README.replace(/\s+/g, " ").includes(`${label} ${pkg[name]}`), `README.md names the tested ${label} ${pkg[name]} (tests/packaging/package.json)`);
  }
  for (const doc of ["README.md", "ARCHITECTURE.md"]) {
    const text = readFileSync(join(ROOT, doc), "utf8");
    assert.ok(!/\.\.\/\w/.test(text), `${doc} points outside the repository (../)`);
    for (const [, target] of text.matchAll(/\]\(([^)#\s]+)[^)]*\)/g)) {
      if (/^[a-z]+:/.test(target)) continue;
      assert.ok(existsSync(join(ROOT, dirname(doc), target)), `${doc} links to ${target}, which exists`);
    }
  }
});

test("the README starts with exactly the two set-up commands: the demo, then every test (the commands CI and a newcomer run)", () => {
  const block = README.match(/^# Omnitrail\n\n```sh\n([\s\S]*?)```\n/);
  assert.ok(block, "the README's first lines after the title must be one ```sh block");
  const commands = block[1].trim().split("\n").map((l) => l.split("#")[0].trim());
  assert.deepEqual(commands, ["./scripts/demo.sh", "./scripts/test.sh"]);
  for (const c of commands) assert.ok(existsSync(join(ROOT, c)), c);
  assert.match(readFileSync(join(ROOT, ".ci/run"), "utf8"), /scripts\/test\.sh/, ".ci/run calls the README's test command");
});

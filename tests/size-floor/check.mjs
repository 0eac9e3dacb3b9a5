// The two page visits every build of the floor must get right (tests/size-floor/run.mjs): a
// first visit on a campaign landing page whose collector fails (503), then the same visitor
// 40 minutes later from a search engine, restoring what the first visit stored, the collector
// answering 200. Without these checks the linker could drop logic the inputs never reach and
// the floor would mean nothing; a check fails the run with what was missing.
// Owns: the two visits' inputs and what their output must show for a variant's `expect`.
// Must never: accept a build whose output misses a part its variant keeps.
import assert from "node:assert/strict";
import { visit } from "./visit.mjs";

const T1 = Date.UTC(2026, 0, 1);
const T2 = T1 + 40 * 60_000; // past the 30 min session timeout: a new session
const CAMPAIGN = { name: "winter_sale", source: "newsletter", medium: "email", gclid: "Cj0KCQiA" };
const LANDING = {
  url: "https://shop.example.com/landing?utm_source=newsletter&utm_medium=email&utm_campaign=winter_sale&gclid=Cj0KCQiA",
  path: "/landing",
  search: "?utm_source=newsletter&utm_medium=email&utm_campaign=winter_sale&gclid=Cj0KCQiA",
  title: "Winter sale",
  referrer: "https://mail.google.com/",
  userAgent: "Mozilla/5.0 (size floor)",
  host: "shop.example.com",
  locale: "en-US",
  timeZone: "Europe/Berlin",
  writeKey: "wk_floor",
  endpoint: "https://t.example.com/",
  event: "Signup Clicked",
  properties: '{"plan":"pro","price":9.5}',
  userId: "user-42",
  traits: '{"email":"a@example.com"}',
  route: "https://shop.example.com/docs/start",
  routePath: "/docs/start",
};
const RETURN = {
  ...LANDING,
  url: "https://shop.example.com/pricing",
  path: "/pricing",
  search: "",
  title: "Pricing",
  referrer: "https://www.google.com/",
  event: "Signed Up", // a default conversion event: it carries the whole journey
};

/** The messages a visit produced: what it sent, or (no delivery) what its outbox stored. */
function messages(r, expect) {
  if (expect.delivery) return [...r.batches, ...r.unload].flatMap((b) => b.batch);
  return [...r.storage].filter(([k]) => k.startsWith("ot1.q.")).flatMap(([, v]) => v.split("\n").map((l) => JSON.parse(l)));
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Runs both visits on `built` ({ wasm, exports }) and checks them against `expect`. */
export function checkVisits(built, expect) {
  const prefs = (marketing) => ({ necessary: true, analytics: true, marketing });
  const consent = expect.consent ? { analytics: true, marketing: false } : undefined;
  const r1 = visit(built, { now: T1, flags: { consent, status: 503 }, page: LANDING, stored: [] });
  assert.equal(r1.error, null);
  const m1 = messages(r1, expect);
  const types = (ms) => ms.map((m) => m.type);
  assert.ok(m1.some((m) => m.type === "page" && m.properties.url === LANDING.url), `visit 1: no page view in ${types(m1)}`);
  assert.ok(m1.some((m) => m.type === "track" && m.event === LANDING.event && m.properties.plan === "pro"), "visit 1: no track");
  assert.ok(m1.some((m) => m.type === "identify" && m.userId === "user-42" && m.traits.email === "a@example.com"), "visit 1: no identify");
  const anon = m1[0].anonymousId;
  assert.match(anon, UUID);
  for (const m of m1) {
    assert.equal(m.anonymousId, anon);
    assert.match(m.messageId, UUID);
    assert.equal(m.context.sessionId, T1, "visit 1: the session");
    assert.ok(m.context.page.url === LANDING.url || (expect.rest && m.context.page.url === LANDING.route), "visit 1: context.page");
    assert.equal(m.context.userAgent, LANDING.userAgent);
    assert.deepEqual(m.context.consent.categoryPreferences, prefs(!expect.consent), "visit 1: consent");
    const landing = m.context.page.url === LANDING.url;
    assert.deepEqual(m.context.campaign, expect.campaign && landing ? CAMPAIGN : undefined, "visit 1: context.campaign");
  }
  assert.equal(m1[0].context.sessionStart, true, "visit 1: the session's start");
  const page1 = m1.find((m) => m.type === "page");
  if (expect.journey) assert.equal(page1.context.omnitrail?.touch?.channel, expect.channel ? "paid_search" : "direct", "visit 1: the touch");
  else assert.equal(page1.context.omnitrail, undefined);
  if (expect.delivery) {
    assert.ok(r1.batches.length >= 1, "visit 1: no batch");
    for (const b of [...r1.batches, ...r1.unload]) assert.equal(b.writeKey, "wk_floor");
  }
  assert.equal(r1.unload.length > 0, expect.unload, "visit 1: pagehide's keepalive batch");
  // The rest of the API (`all-calls`): a route change, screen, group, alias, outbound link, decorate.
  const has = (f) => m1.some(f);
  const rest = [
    has((m) => m.type === "page" && m.properties.url === LANDING.route && m.properties.referrer === LANDING.url),
    has((m) => m.type === "page" && m.category === "Docs"),
    has((m) => m.type === "screen" && m.name === LANDING.event),
    has((m) => m.type === "group" && m.groupId === "user-42"),
    has((m) => m.type === "alias" && m.previousId === "user-42"),
    has((m) => m.event === "Outbound Link Clicked"),
    r1.decorated.some((u) => u.startsWith(LANDING.route) && u.includes(`_ot=${anon}.`)),
  ];
  assert.deepEqual(rest, rest.map(() => expect.rest), "visit 1: the rest of the API (route, page(), screen, group, alias, outbound, decorate)");
  if (expect.persist) assert.equal(r1.storage.get("ot1.aid"), anon, "visit 1: the stored anonymous id");
  if (expect.persist) assert.equal(r1.cookies.get("omnitrail_aid"), anon, "visit 1: the cookie");
  // Events the failing collector did not take stay in the outbox for the next page load.
  const pending = messages({ storage: r1.storage }, { delivery: false }).map((m) => m.messageId);
  if (expect.persist || expect.unload) assert.ok(pending.length > 0, "visit 1: nothing left in the stored outbox");

  const stored = [...r1.storage, ...[...r1.cookies].map(([k, v]) => [`=${k}`, v])];
  const r2 = visit(built, { now: T2, flags: { status: 200, reset: true }, page: RETURN, stored });
  assert.equal(r2.error, null);
  const m2 = messages(r2, expect);
  const fresh = m2.filter((m) => m.context.sessionId === T2);
  assert.ok(fresh.some((m) => m.type === "track" && m.event === "Signed Up"), "visit 2: no track");
  assert.ok(fresh.some((m) => m.type === "page" && m.properties.url === RETURN.url), "visit 2: no page view");
  for (const m of fresh) assert.equal(m.context.campaign, undefined, "visit 2: no campaign on the search visit");
  assert.equal(fresh[0].context.sessionStart, true, "visit 2: a new session");
  // Without `persist()` visit 1 stored only its outbox (at pagehide): nothing else to restore.
  if (!expect.persist) return summary(r1, m1, r2, m2);
  for (const m of m2) assert.equal(m.anonymousId, anon, "visit 2: the anonymous id restored");
  for (const m of fresh) {
    assert.equal(m.userId, "user-42", "visit 2: the user id restored");
    assert.deepEqual(m.context.consent.categoryPreferences, prefs(!expect.consent), "visit 2: the consent record restored");
  }
  // The failed events of visit 1 go out (or stay stored) on visit 2.
  const ids2 = new Set(expect.delivery ? m2.map((m) => m.messageId) : messages({ storage: r2.storage }, { delivery: false }).map((m) => m.messageId));
  for (const id of pending) assert.ok(ids2.has(id), `visit 2: visit 1's stored event ${id} was not restored`);
  const conversion = fresh.find((m) => m.event === "Signed Up");
  if (expect.journey) {
    const journey = conversion.context.omnitrail?.journey;
    assert.ok(journey, "visit 2: the conversion carries no journey");
    const text = JSON.stringify(journey);
    assert.ok(text.includes(expect.channel ? "paid_search" : "direct") && text.includes("winter_sale"), `visit 2: visit 1's touch was not restored: ${text}`);
    // The automatic page view comes after the page's own first calls: it records the search touch.
    const page2 = fresh.find((m) => m.type === "page");
    assert.equal(page2.context.omnitrail?.touch?.channel, expect.channel ? "organic_search" : "direct", "visit 2: the search touch");
  } else {
    assert.equal(conversion.context.omnitrail, undefined);
  }
  if (expect.delivery) assert.equal(r2.storage.get("ot1.gz"), "https://t.example.com/v1/batch", "visit 2: gzip advertised by the 200");
  return summary(r1, m1, r2, m2);
}

function summary(r1, m1, r2, m2) {
  return {
    visit1: { messages: m1.length, batches: r1.batches.length, unload: r1.unload.length },
    visit2: { messages: m2.length, batches: r2.batches.length, unload: r2.unload.length },
  };
}

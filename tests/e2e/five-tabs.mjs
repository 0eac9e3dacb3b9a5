// Owns: the five-tab scenario shared by tests/e2e/reliability.test.mjs (tests 3 and 3b) and
// tests/bench/five-tabs-close.mjs: five tabs of one site whose roles are decided (exactly one
// delivers), and the interleaved bursts the tabs track (the delivering tab's 200 in 10 rounds,
// the others' in 20 slower ones, so that it has a batch in flight when it closes).
// Must never: count or judge deliveries (each caller asserts or prints at its own collector).
import assert from "node:assert/strict";
import { openPage, waitFor } from "./harness.mjs";

/** Five tabs of `site` in `ctx`, once their roles are decided: `{ tabs, leader }`. */
export async function fiveTabs(ctx, site) {
  const tabs = [];
  for (let i = 0; i < 5; i++) tabs.push(await openPage(ctx, site.url + "/"));
  const roles = await waitFor(async () => {
    const r = await Promise.all(tabs.map((p) => p.evaluate(() => omnitrail.stats().role)));
    return !r.includes("undecided") && r;
  }, "roles decided");
  assert.equal(roles.filter((r) => r === "leader").length, 1, roles.join());
  return { tabs, leader: roles.indexOf("leader") };
}

/** Each tab tracks `R3 <tab> <i>` for i < 200; resolves with one promise per tab. */
export function bursts(tabs, leader) {
  const burst = (page, tab, rounds, pause) => page.evaluate(async ({ tab, rounds, pause }) => {
    const per = 200 / rounds;
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < per; i++) omnitrail.track(`R3 ${tab} ${r * per + i}`);
      await new Promise((ok) => setTimeout(ok, pause));
    }
  }, { tab, rounds, pause });
  return tabs.map((p, t) => (t === leader ? burst(p, t, 10, 45) : burst(p, t, 20, 50)));
}

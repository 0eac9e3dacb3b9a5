// Owns: the unload scenario of issue 17 shared by tests/bench/unload.mjs (Omnitrail's
// configurations) and tests/bench/compare.mjs --unload (every SDK): the event (13 properties),
// how many calls, the two ways of leaving, and the bounded wait for what arrives.
// Must never: count anything itself (each benchmark counts at its own receiver: the collector's
// stats, or the comparison's sink) or assert (benchmarks print numbers).

/** Calls made before leaving. */
export const N = 50;
/** The event's properties besides `i` (its index, the 13th property). */
export const PROPS = { sku: "tee-blue", name: "Tee, blue", category: "shirts", brand: "Omni", variant: "M",
  price: 19.0, quantity: 1, currency: "EUR", coupon: "SPRING", position: 3, url: "/p/tee-blue", image_url: "/i/tee-blue.jpg" };
/** "goto": the calls, then `page.goto` from outside; "same-task": the calls and `location.href = …` in one task. */
export const WAYS = ["goto", "same-task"];
export const EVENT = "Leave";

/**
 * N track calls of EVENT on `page`, then navigation to `to` as `how` says. The page's track
 * function is `window.__track(event, props)` (the comparison's pages) or `omnitrail.track`.
 */
export async function leave(page, how, to = "about:blank") {
  const calls = page.evaluate(([n, p, name, sameTask, to]) => {
    const track = window.__track ?? ((e, q) => window.omnitrail.track(e, q));
    for (let i = 0; i < n; i++) track(name, { ...p, i });
    if (sameTask) location.href = to;
  }, [N, PROPS, EVENT, how === "same-task", to]);
  if (how === "same-task") {
    await calls.catch(() => {}); // the navigation may destroy the context before the answer
    await page.waitForURL(to);
  } else {
    await calls;
    await page.goto(to);
  }
}

/**
 * Waits (bounded) for deliveries to stop: `probe()` answers { distinct, copies }; returns when
 * all N distinct events are in and no copy came for `idleMs`, or nothing new came for
 * `giveUpMs`, or after `maxMs`. Resolves with the last probe.
 */
export async function settle(probe, { idleMs = 1500, giveUpMs = 5000, maxMs = 15000 } = {}) {
  const t0 = Date.now();
  let last = await probe(), lastChange = t0;
  while (Date.now() - t0 < maxMs) {
    await new Promise((r) => setTimeout(r, 100));
    const now = await probe();
    if (now.copies !== last.copies || now.distinct !== last.distinct) lastChange = Date.now();
    last = now;
    const idle = Date.now() - lastChange;
    if ((last.distinct >= N && idle >= idleMs) || idle >= giveUpMs) break;
  }
  return last;
}

// Type-checked only (tsc --noEmit --strict): the shipped types accept what the SDK accepts and
// reject what it rejects at the type level.
import Default, { Omnitrail, type OmnitrailConfig, type Stats, type User } from "omnitrail";

export async function usage(): Promise<void> {
  const config: OmnitrailConfig = {
    writeKey: "k", endpoint: "https://collect.example.com", flushAt: 20, flushInterval: 1000,
    maxBatchEvents: 1000, maxBatchBytes: 512000, maxQueueBytes: 16 << 20, maxPersistBytes: 1 << 20,
    requestTimeout: 30000, retry: { baseMs: 1000, maxMs: 60000 }, storagePrefix: "ot1",
    sessionTimeout: 30 * 60_000, sessionStartedEvent: true, cookieName: "omnitrail_aid",
    cookieDomain: "example.com", cookieMaxAgeDays: 365, identityEndpoint: "https://collect.example.com/v1/identity",
    linkedDomains: ["example.org"], handoverMaxAge: 120_000, autoDecorate: false,
    autoPage: true, spaPageViews: true, hashPageViews: false, declarative: true, outboundLinks: false,
    redactParams: ["email", "token"], conversionEvents: ["Order Completed"], internalHosts: ["pay.example.com"],
    maxTouches: 10, channelRules: [{ channel: "paid_social", source: ["tiktok"], medium: ["cpc"] }, { channel: "direct", noReferrer: [] }],
    cookieless: false, consent: { mode: "opt-in", categories: ["necessary", "analytics", "marketing"], gpc: true, dnt: false,
      changedEvent: true, buffer: { maxEvents: 1000, maxBytes: 1 << 20, ttl: 600_000 } },
  };
  const ot: Omnitrail = await Omnitrail.load({ ...config, wasm: new URL("https://cdn.example.com/o.wasm") });
  await Omnitrail.load({ ...config, wasm: "/omnitrail_bg.wasm" });
  await Omnitrail.load({ ...config, wasm: fetch("/omnitrail_bg.wasm") });
  await Omnitrail.load({ ...config, wasm: new Uint8Array(8) });
  const ready: boolean = await Omnitrail.init();
  const supported: boolean = Omnitrail.supported;
  const direct = new Default(config);
  ot.track("Order Completed", { total: 10 }, { timestamp: new Date(), context: { a: 1 }, integrations: { All: true } });
  ot.track(42);
  ot.page();
  ot.page("Home");
  ot.page("Docs", "Install", { section: 1 }, { timestamp: 1 });
  ot.page({ title: "x" });
  ot.page(null, { title: "x" });
  ot.screen("Home", { a: 1 });
  ot.screen({ a: 1 });
  ot.identify("u1", { plan: "pro" });
  ot.identify({ plan: "pro" });
  ot.identify();
  ot.group("g1", { name: "Acme" });
  ot.alias("u2");
  ot.alias("u2", "u1", { timestamp: "2026-01-01T00:00:00Z" });
  ot.reset();
  const link: string = ot.decorate("https://example.org/");
  ot.consent.set({ analytics: true, marketing: false });
  const granted: boolean | undefined = ot.consent.get()?.analytics;
  ot.consent.onChange((prefs) => { const m: boolean | undefined = prefs.marketing; void m; });
  const ok: boolean = await ot.flush();
  const id: string = ot.anonymousId();
  ot.setAnonymousId("a-1");
  const user: User = ot.user();
  const userId: string | null = user.userId;
  const stats: Stats = ot.stats();
  const n: number = stats.tracked + stats.delivered + stats.rejected + stats.batches + stats.retries + stats.queued
    + stats.dropped + stats.corrupt + stats.storageFailures + stats.invalidCalls + stats.queuedBytes + stats.persistedBytes;
  const role: "leader" | "follower" | "undecided" | "noop" = stats.role;
  ot.replay("track", ["Queued", {}], Date.now());
  direct.free();
  void [ok, id, userId, n, role, ready, supported, link, granted];

  // @ts-expect-error writeKey and endpoint are required
  await Omnitrail.load({ writeKey: "k" });
  // @ts-expect-error an unknown option
  await Omnitrail.load({ ...config, flushEvery: 3 });
  // @ts-expect-error flushAt is a number
  await Omnitrail.load({ ...config, flushAt: "20" });
  // @ts-expect-error consent choices are booleans
  ot.consent.set({ analytics: "yes" });
  // @ts-expect-error not a consent mode
  await Omnitrail.load({ ...config, consent: { mode: "implied" } });
  // @ts-expect-error not a channel
  await Omnitrail.load({ ...config, channelRules: [{ channel: "tv", source: ["x"] }] });
  // @ts-expect-error sessionStartedEvent is a boolean
  await Omnitrail.load({ ...config, sessionStartedEvent: "yes" });
  // @ts-expect-error the event name is required
  ot.track();
  // @ts-expect-error properties are an object
  ot.track("x", "y");
  // @ts-expect-error group needs an id
  ot.group();
  // @ts-expect-error not a method of the SDK
  ot.trackLink("a");
}

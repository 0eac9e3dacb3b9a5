// The floor and its ablations: each one build (tests/size-floor/build.mjs). `features: null` is
// the floor crate's defaults; a list builds with only those. `patches` replace one call each in
// the build's copy of the SDK (never in src/): the part is then neither run nor compiled.
// `expect` says what the two visits must show (run.mjs checks it), so each build is proven to
// still run everything it keeps.
// Owns: the list of builds and the SDK source each ablation replaces. Must never: replace
// anything but a call or its result (the rest of the SDK stays as it ships).
const J = "src/journey.rs";
const A = "src/tracker/attribution.rs";
const T = "src/tracker.rs";

// Every touch gets the channel `direct`: the classifier (GA4's rule table and source lists) is
// never called.
const NO_CHANNEL = [{ file: J, from: "cfg.classifier.classify(&campaign, &referrer, &landing)", to: "crate::channel::Channel::Direct" }];
// No touchpoints: the journey is neither restored, recorded (so no channel), rendered nor stored.
const NO_JOURNEY = [
  { file: T, from: "Journey::load(&cfg.storage_prefix, cfg.max_touches, store.read())", to: "Journey::new(cfg.max_touches)" },
  { file: J, from: "let recorded = self.should_record(pv.session_id, pv.session_start, &campaign);", to: "let recorded = false;" },
  { file: A, from: "let _ = self.journey.persist(storage);", to: "let _ = storage;" },
  { file: A, from: "if self.journey.touch_json().is_some() {", to: "if false {" },
  { file: A, from: "if !(conversion && self.journey.touch_json().is_some()) {", to: "if conversion || true {" },
];
// Also no `context.campaign` (the URL's utm_* and click ids): attribution is gone but for the
// URL redaction, which is privacy.
const NO_ATTRIBUTION = [
  ...NO_JOURNEY,
  { file: A, from: "self.campaign = crate::campaign::Campaign::from_url(url);", to: "let _ = url;" },
  { file: J, from: "let campaign = Campaign::from_url(&landing);", to: "let campaign = Campaign::default();" },
];

const ALL = { delivery: true, persist: true, consent: true, unload: true, journey: true, channel: true, campaign: true, rest: false };
export const VARIANTS = [
  { name: "floor", what: "the floor: everything a landing page runs", features: null, expect: ALL },
  { name: "no-delivery", what: "without delivery (no role, batches, answers, wake-up, unload: messages stored only)",
    features: ["persist", "consent", "opaque-config"], expect: { ...ALL, delivery: false, unload: false } },
  { name: "no-unload", what: "without the page leaving (pagehide's keepalive batch, the hand-over)",
    features: ["delivery", "persist", "consent", "opaque-config"], expect: { ...ALL, unload: false } },
  { name: "no-persist", what: "without the outbox persistence (`persist()`; pagehide still stores the outbox)",
    features: ["delivery", "consent", "unload", "opaque-config"], expect: { ...ALL, persist: false } },
  { name: "no-consent", what: "without a consent choice (`consent.set`; the default, the record's restore and GPC stay)",
    features: ["delivery", "persist", "unload", "opaque-config"], expect: { ...ALL, consent: false } },
  { name: "no-channel", what: "without the channel classifier", features: null, patches: NO_CHANNEL, expect: { ...ALL, channel: false } },
  { name: "no-journey", what: "without the journey (touchpoints, their restore and storage, hence no channel)",
    features: null, patches: NO_JOURNEY, expect: { ...ALL, journey: false, channel: false } },
  { name: "no-attribution", what: "without the journey and `context.campaign`", features: null, patches: NO_ATTRIBUTION,
    expect: { ...ALL, journey: false, channel: false, campaign: false } },
  { name: "folded-config", what: "with the configuration a compile-time constant (no `black_box`: other option values' branches folded away)",
    features: ["delivery", "persist", "consent", "unload"], expect: ALL },
  { name: "messages-only", what: "all of the above removed: messages with identity and session, stored",
    features: ["persist", "opaque-config"], patches: NO_ATTRIBUTION,
    expect: { delivery: false, persist: true, consent: false, unload: false, journey: false, channel: false, campaign: false, rest: false } },
  { name: "all-calls", what: "the floor plus every other call the small core's browser layer makes into the core (not a landing page's path)",
    features: ["all-calls", "opaque-config"], expect: { ...ALL, rest: true } },
];

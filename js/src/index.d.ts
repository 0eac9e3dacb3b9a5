// Types of the npm entry. One-to-one with the wasm-bindgen surface (src/web/api.rs); the
// options follow README.md's Configuration table and `stats()` the counters the wasm reports.

/** An id or a name: a string, or a finite number (Segment accepts numeric ids). */
export type Id = string | number;

/** A JSON-serialisable plain object (properties, traits, context, integrations). */
export type JsonObject = Record<string, unknown>;

/** Where the wasm comes from: by default `new URL("./omnitrail_bg.wasm", import.meta.url)`. */
export type WasmSource =
  | URL
  | string
  | Request
  | Response
  | PromiseLike<Response>
  | BufferSource
  | WebAssembly.Module;

export interface RetryOptions {
  /** First backoff ceiling in ms (default 1000). */
  baseMs?: number;
  /** Cap of the backoff ceiling in ms (default 60000). */
  maxMs?: number;
}

/** The configuration of `new Omnitrail(config)` (read by src/web/convert.rs); see README.md, "Configuration". */
export interface OmnitrailConfig {
  /** Identifies the source at the collector. Required. */
  writeKey: string;
  /** Collector base URL (`http(s)://…`); batches go to `{endpoint}/v1/batch`. Required. */
  endpoint: string;
  /** Send as soon as this many events wait (default 20). */
  flushAt?: number;
  /** ms; send at the latest this long after an event was tracked (default 1000). */
  flushInterval?: number;
  /** Events per request (default 1000). */
  maxBatchEvents?: number;
  /** Bytes per request (default 512000). */
  maxBatchBytes?: number;
  /** Memory budget of the outbox in bytes (default 16 MiB); past it the oldest events are evicted. */
  maxQueueBytes?: number;
  /** Storage budget of the outbox in bytes (default 1 MiB). */
  maxPersistBytes?: number;
  /** ms before an unanswered request is retried (default 30000). */
  requestTimeout?: number;
  /** Exponential backoff with full jitter, capped; `Retry-After` is a floor. */
  retry?: RetryOptions;
  /** `"auto"` (default): plain until the collector advertised that it reads gzip (`Accept-Encoding: gzip` on a 2xx, exposed through CORS; the reference collector does), then batches of 1 KB or more leave gzipped (CompressionStream), marked `?compression=gzip`; remembered per endpoint. `"gzip"`: always, without asking, for collectors known to read that mark. `"none"`: never. See README.md. */
  compression?: "auto" | "gzip" | "none";
  /** Namespace (and version) of every localStorage key (default `ot1`). */
  storagePrefix?: string;
  /** ms of inactivity that end a session (default 30 minutes). */
  sessionTimeout?: number;
  /** Send a `Session Started` track event when a session starts (default false). */
  sessionStartedEvent?: boolean;
  /** Name of the first-party anonymous-id cookie (default `omnitrail_aid`). */
  cookieName?: string;
  /** `Domain=` of that cookie; by default the registrable domain, found by probing. */
  cookieDomain?: string;
  /** Lifetime of the cookie in days (default 365). */
  cookieMaxAgeDays?: number;
  /** The collector's identity endpoint (`…/v1/identity`), asked once per session to re-issue the cookie server-side. */
  identityEndpoint?: string;
  /** Other sites of yours that share this visitor's identity through `decorate(url)`; a page adopts a hand-over only if its own domain is listed (the script tag then loads the full build). */
  linkedDomains?: string[];
  /** ms within which a decorated link's identity is adopted by the receiving site (default 120000). */
  handoverMaxAge?: number;
  /** Decorate clicked links to `linkedDomains` automatically (default false). */
  autoDecorate?: boolean;
  /** A page view when the SDK starts, unless the page calls `page()` first (default true). */
  autoPage?: boolean;
  /** A page view on `history.pushState`/`replaceState`/`popstate` to a new URL (default true); a call made on the new route before it sends it first, so the call carries its page; a `page()` of your own on the route replaces it. */
  spaPageViews?: boolean;
  /** Fragment changes count as new URLs, for hash routers (default false). */
  hashPageViews?: boolean;
  /** `data-ot-event` elements send their event on click / submit (default true). */
  declarative?: boolean;
  /** Clicks on links to other sites send `Outbound Link Clicked` (default false). */
  outboundLinks?: boolean;
  /** Query parameters removed from every URL and referrer before they leave the page. */
  redactParams?: string[];
  /** Track events that carry the whole journey (`context.omnitrail.journey`). */
  conversionEvents?: string[];
  /** Hosts counted as your own site for channel classification. */
  internalHosts?: string[];
  /** Recent touchpoints kept in the journey (default 10). */
  maxTouches?: number;
  /**
   * The built-in channel table: `"ga4"` (default) follows Google Analytics 4's default
   * channel group; `"omnitrail-extended"` adds heuristics GA4 does not have (a `newsletter`
   * medium or source as email, `podcast` as audio, `partner` as affiliate, web mail
   * referrers, other ad networks' click ids, …). See docs/channels.md. Set (even to
   * `"ga4"`), the script tag loads the full build.
   */
  channelPreset?: "ga4" | "omnitrail-extended";
  /** Custom channel rules, tried before the preset's table (the script tag then loads the full build). */
  channelRules?: ChannelRule[];
  /** Keep the anonymous id out of cookies (localStorage only). */
  cookieless?: boolean;
  /** Consent: categories, opt-in or opt-out, Global Privacy Control, Do-Not-Track. */
  consent?: ConsentOptions;
  /** In a native app's web view, hand batches to the app over the bridge instead of sending them (default false). */
  nativeEvents?: boolean;
  /** The shared cart: its consent category and device sync. */
  cart?: CartOptions;
}

export interface CartOptions {
  /** Consent category the cart's storage and device sync need (default `"necessary"`: kept whatever the analytics choice; its events still follow analytics consent). */
  category?: string;
  /** Base URL of the collector's cart endpoint (default `{endpoint}/v1/cart`). */
  syncEndpoint?: string;
  /** ms to wait after a cart change before pushing it to the collector (default 1000). */
  syncDelay?: number;
}

/** A Segment e-commerce product: `product_id` required; every other member is kept with the line. */
export interface Product {
  product_id: Id;
  variant?: string | null;
  name?: string;
  /** Unit price in major units (`19.99`). */
  price?: number;
  currency?: string;
  /** Units (a non-negative integer; default 1). */
  quantity?: number;
  sku?: string;
  category?: string;
  brand?: string;
  url?: string;
  image_url?: string;
  [property: string]: unknown;
}

/** A cart line: its product id, or `{ product_id, variant? }`. */
export type CartLine = Id | { product_id: Id; variant?: string | null; quantity?: number };

/** A line as `cart.get()` and the events list it. */
export interface CartProduct extends Product {
  quantity: number;
}

/** `cart.get()` and what `cart.onChange` listeners receive. */
export interface CartSnapshot {
  cart_id?: string;
  currency?: string;
  coupon?: string;
  products: CartProduct[];
  /** Units in the cart. */
  quantity: number;
  /** Subtotal in major units. */
  value: number;
}

/** `cart.orderCompleted(order)`: `order_id` required; other members are added to the event. */
export interface OrderInput {
  order_id: Id;
  shipping?: number;
  tax?: number;
  discount?: number;
  [property: string]: unknown;
}

/** `sdk.cart`: the shared cart (one per site, across tabs, page loads, devices and the app). */
export interface Cart {
  /** Adds units of a product (`quantity` argument, else `product.quantity`, else 1): `Product Added`. */
  add(product: Product, quantity?: number): void;
  /** Removes `quantity` units, or the whole line: `Product Removed`. */
  remove(line: CartLine, quantity?: number): void;
  /** Sets a line's quantity (0 removes it): `Product Added`/`Product Removed` with the difference. */
  setQuantity(line: CartLine, quantity: number): void;
  /** Merges product properties into a line (no event). */
  update(line: CartLine, properties: JsonObject): void;
  /** `Coupon Applied`. */
  applyCoupon(code: string): void;
  /** `Coupon Removed`. */
  removeCoupon(): void;
  /** The cart's currency (ISO 4217). */
  setCurrency(code: string): void;
  /** Empties the cart: `Product Removed` per line. */
  clear(): void;
  /** `Cart Viewed` (extra properties optional). */
  view(properties?: JsonObject | null): void;
  /** `Checkout Started` (extra properties optional). */
  checkout(properties?: JsonObject | null): void;
  /** `Order Completed`; then the cart is empty everywhere. */
  orderCompleted(order: OrderInput): void;
  /** Syncs the signed-in user's cart through the collector with the token your backend minted (see the collector README). */
  connect(token: string): void;
  /** The cart now (`null` while the SDK is busy or off the browser). */
  get(): CartSnapshot | null;
  /** Calls `callback(cart)` after every change: here, in another tab, on another device, in the app. */
  onChange(callback: (cart: CartSnapshot) => void): void;
  /** Exchanges the cart with the collector now: `true` once merged, `false` if not connected or the attempt failed (retried). */
  sync(): Promise<boolean>;
}

/** Consent categories and their state, e.g. `{ necessary: true, analytics: false, marketing: false }`. */
export type ConsentPreferences = Record<string, boolean>;

/** `sdk.consent` (and `omnitrail.consent` of the script tag): the visitor's consent choice. */
export interface Consent {
  /** Records the visitor's choice, e.g. `{ analytics: true, marketing: false }` (other categories keep theirs). */
  set(choices: ConsentPreferences): void;
  /** The preferences now, e.g. `{ necessary: true, analytics: false, marketing: false }`; `null` off the browser, while the SDK is busy, and from the script-tag snippet before `ready`. */
  get(): ConsentPreferences | null;
  /** Calls `callback(preferences)` after every consent change: here, in another tab, or in the app around the web view. */
  onChange(callback: (preferences: ConsentPreferences) => void): void;
}

export interface ConsentOptions {
  /** `"opt-in"`: nothing is stored or sent before consent; `"opt-out"`: allowed until denied. */
  mode?: "opt-in" | "opt-out";
  /** The consent categories (at least `necessary`, `analytics`, `marketing`). */
  categories?: string[];
  /** Global Privacy Control: `true` (default) honours it, `false` ignores it, a list names the categories it denies. */
  gpc?: boolean | string[];
  /** Honour Do-Not-Track. */
  dnt?: boolean;
  /** Send an event when consent changes. */
  changedEvent?: boolean;
  /** Bounds of the events that wait in memory for consent. */
  buffer?: { maxEvents?: number; maxBytes?: number; ttl?: number };
}

/** The marketing channels a touchpoint is classified into. */
export type ChannelName =
  | "direct" | "internal" | "organic_search" | "paid_search" | "organic_social" | "paid_social"
  | "email" | "sms" | "mobile_push" | "display" | "affiliate" | "referral" | "video"
  | "paid_video" | "audio" | "cross_network" | "offline" | "paid_other" | "unassigned";

/**
 * `{ channel, <condition>: [terms], … }`: the channel when every condition holds. Text
 * conditions take a non-empty list of lower-case terms; the flag conditions (`noCampaign`,
 * `noUtm`, `noReferrer`, `sameSiteReferrer`, `crossSiteReferrer`, `shoppingCampaign`) take `[]`.
 */
export interface ChannelRule {
  channel: ChannelName;
  medium?: string[];
  source?: string[];
  sourceOrMedium?: string[];
  campaign?: string[];
  sourceSite?: string[];
  sourceIn?: string[];
  referrerSite?: string[];
  app?: string[];
  clickId?: string[];
  noCampaign?: string[];
  noUtm?: string[];
  noReferrer?: string[];
  sameSiteReferrer?: string[];
  crossSiteReferrer?: string[];
  shoppingCampaign?: string[];
}

/** `Omnitrail.load` options: the configuration, plus where to find the wasm. */
export interface LoadOptions extends OmnitrailConfig {
  /** Overrides the bundler-located wasm (e.g. a URL of your CDN, or the bytes). */
  wasm?: WasmSource;
}

/** The last argument of every message call. */
export interface CallOptions {
  /** When it happened: ms since the epoch, an ISO-8601 string or a `Date`. */
  timestamp?: number | string | Date;
  /** Extra members merged into the message's `context`. */
  context?: JsonObject;
  /** The message's `integrations`. */
  integrations?: JsonObject;
}

export interface User {
  anonymousId: string;
  userId: string | null;
  groupId: string | null;
}

/** Delivery counters (diagnostics, tests, benchmarks). */
export interface Stats {
  tracked: number;
  delivered: number;
  rejected: number;
  batches: number;
  retries: number;
  invalidCalls: number;
  queued: number;
  queuedBytes: number;
  persistedBytes: number;
  dropped: number;
  corrupt: number;
  storageFailures: number;
  /** Cart sync requests to the collector, answers merged, and failures. */
  cartSyncRequests: number;
  cartSyncMerged: number;
  cartSyncFailures: number;
  /** Whether this tab delivers; `"noop"` for the inert instance `load()` gives off the browser. */
  role: "leader" | "follower" | "undecided" | "noop";
}

/**
 * The names `replay` accepts (the calls the script-tag snippet queues). `replay` also takes a
 * cart operation as `"cart"` + its name as is (`"cartadd"`, `"cartsetQuantity"`): the snippet
 * queues that form, built without the page's `String.prototype`.
 */
export type ReplayMethod =
  | "track" | "page" | "screen" | "identify" | "group" | "alias" | "reset" | "flush" | "setAnonymousId"
  | "consentSet" | "consentOnChange" | "setConsent" | "cartAdd" | "cartRemove" | "cartSetQuantity" | "cartUpdate" | "cartApplyCoupon"
  | "cartRemoveCoupon" | "cartSetCurrency" | "cartClear" | "cartView" | "cartCheckout" | "cartOrderCompleted"
  | "cartConnect" | "cartOnChange";

export declare class Omnitrail {
  /**
   * Starts the SDK. Throws only for an invalid configuration, or (in a browser) when the wasm
   * has not been loaded yet: prefer `await Omnitrail.load(config)`. Off the browser it gives
   * an inert instance.
   */
  constructor(config: OmnitrailConfig);

  /**
   * Loads the wasm (once per page) and starts the SDK, or shares the instance already running
   * in this page with the same `storagePrefix` (React StrictMode loads twice). On the server (no `window`/`document`)
   * it resolves to an inert instance: calls do nothing, `flush()` resolves `true`, and
   * `stats().role` is `"noop"`. Rejects only if the wasm cannot be fetched or compiled, or the
   * configuration is invalid.
   */
  static load(options: LoadOptions): Promise<Omnitrail>;

  /** Instantiates the wasm once (later calls share the first); resolves `false` off the browser. */
  static init(wasm?: WasmSource): Promise<boolean>;

  /** `false` where `load()` gives an inert instance (server-side rendering). */
  static readonly supported: boolean;

  /** A `track` message. */
  track(event: Id, properties?: JsonObject | null, options?: CallOptions | null): void;

  /** A `page` message: `page([category], [name], [properties], [options])`. */
  page(category: Id, name: Id, properties?: JsonObject | null, options?: CallOptions | null): void;
  page(name?: Id | null, properties?: JsonObject | null, options?: CallOptions | null): void;
  page(properties: JsonObject | null, options?: CallOptions | null): void;

  /** A `screen` message: `screen([name], [properties], [options])`. */
  screen(name?: Id | null, properties?: JsonObject | null, options?: CallOptions | null): void;
  screen(properties: JsonObject | null, options?: CallOptions | null): void;

  /** Sets and persists the user id: `identify([userId], [traits], [options])`. */
  identify(userId?: Id | null, traits?: JsonObject | null, options?: CallOptions | null): void;
  identify(traits: JsonObject | null, options?: CallOptions | null): void;

  /** A `group` message; the group id is persisted. */
  group(groupId: Id, traits?: JsonObject | null, options?: CallOptions | null): void;

  /** `alias(userId, [previousId], [options])`: `previousId` defaults to the user id, else the anonymous id. */
  alias(userId: Id, previousId?: Id, options?: CallOptions | null): void;
  alias(userId: Id, options?: CallOptions | null): void;

  /** Forgets the user and the group and starts a new anonymous id. */
  reset(): void;

  /** Sends now; `true` once everything is acknowledged (a follower tab: once the delivering tab had its events acknowledged), `false` if an attempt failed first (it is retried) or a batch was rejected (dropped). */
  flush(): Promise<boolean>;

  /** The visitor's consent: `sdk.consent.set(choices)`, `sdk.consent.get()`, `sdk.consent.onChange(fn)`. */
  readonly consent: Consent;

  /** The shared cart: `sdk.cart.add(product)`, `sdk.cart.get()`, … */
  readonly cart: Cart;

  /** `url` carrying this visitor's identity for a linked site (adopted there if it arrives within `handoverMaxAge`). */
  decorate(url: string): string;

  anonymousId(): string;
  setAnonymousId(id: Id): void;
  /** `{ anonymousId, userId, groupId }` */
  user(): User;
  stats(): Stats;

  /** Replays a call queued before the SDK loaded, with its original time (ms since the epoch). */
  replay(method: ReplayMethod, args: unknown[], timestamp?: number): void;

  /** Releases this handle; calls made through it afterwards do nothing. The instance it shared lives on as long as the page (other handles, a later `load`). */
  free(): void;
}

export default Omnitrail;

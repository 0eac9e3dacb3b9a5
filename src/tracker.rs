//! The core state machine: the SDK minus the browser, as a coordinator of components.
//!
//! Owns: routing calls to the components (`each_component!` lists them: the cart, the
//! visitor, attribution, delivery; consent lives in the [`Store`]), composing messages
//! (`calls.rs`), consent changes (each component reacts to its own category; revoking sweeps
//! every other key), and the web layer's questions (what to send, when to wake, whether
//! `flush()` is settled). It is fed calls, the time (`Clock`), ids (`IdSource`), persisted
//! state (`Storage`, reached only through the store's consent-scoped handles) and delivery
//! outcomes as data ([`Answer`]), and answers with [`BatchRequest`]s and a wake-up time.
//! Hand-over with the app: `handover.rs`, across domains: `cross_domain.rs`; the `cart.*`
//! calls: `cart.rs`.
//!
//! Must never: perform I/O other than through the ports, write storage inside `track()` and
//! friends, hand a component storage other than its category's handle, or panic on any input.

use crate::config::Config;
use crate::consent::{Collection, Consent};
use crate::error::InputError;
use crate::identity::{check_id, CookieConfig, Identity};
use crate::journey::Journey;
use crate::json::{self, Kind};
use crate::message::{self, Body, ContextTemplate, Envelope, Environment, Ids, PageContext};
use crate::outbox::OutboxStats;
use crate::ports::{Clock, IdSource, Storage};
use crate::session::{Mark, Session};
use crate::store::Store;
use crate::wire::MAX_MESSAGE_BYTES;

mod attribution;
mod calls;
#[cfg_attr(not(feature = "cart"), path = "tracker/cart_off.rs")]
mod cart;
#[cfg(feature = "cart")]
mod cart_component;
mod component;
#[cfg_attr(not(feature = "handover"), path = "tracker/cross_domain_off.rs")]
mod cross_domain;
mod delivery;
mod handover;
mod visitor;
use attribution::Attribution;
pub use cart::{CartChanges, CartSource};
#[cfg(feature = "cart")]
use cart_component::CartComponent;
use component::Component;
pub use component::ConsentChange;
use delivery::Delivery;
pub use delivery::{Answer, BatchRequest, DeliveryStats, Succession, SUCCESSION_WAIT_MS};
use visitor::Visitor;

/// Which part of delivery this tab plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Undecided,
    Leader,
    Follower,
}

/// Per-call options (`options` argument of the API calls).
#[derive(Clone, Copy, Debug, Default)]
pub struct CallOptions<'a> {
    /// When the call really happened (replayed calls from the snippet), ms since the epoch.
    pub timestamp_ms: Option<f64>,
    /// Extra `context` members, as JSON object text.
    pub context: Option<&'a str>,
    /// `integrations`, as JSON object text.
    pub integrations: Option<&'a str>,
}

/// Counters for diagnostics, tests and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub tracked: u64,
    pub delivered: u64,
    pub rejected: u64,
    pub batches: u64,
    pub retries: u64,
    pub invalid_calls: u64,
    pub outbox: OutboxStats,
    pub cart_sync: crate::cart_sync::SyncStats,
}

/// Runs `$body` once per component, in order (the cart, the visitor, attribution, delivery),
/// with static calls: `$c` is the component, `$store` the [`Store`], `$ids` the id source.
/// The list of components the tracker coordinates is this one; adding a component adds its
/// field here and edits no other component.
macro_rules! each_component {
    ($me:expr, |$c:ident, $store:ident, $ids:ident| $body:expr) => {{
        let Tracker {
            #[cfg(feature = "cart")]
            cart,
            visitor,
            attribution,
            delivery,
            store: $store,
            ids: $ids,
            ..
        } = $me;
        #[cfg(feature = "cart")]
        {
            let $c = cart;
            $body;
        }
        {
            let $c = visitor;
            $body;
        }
        {
            let $c = attribution;
            $body;
        }
        {
            let $c = delivery;
            $body;
        }
    }};
}

pub struct Tracker<S: Storage, C: Clock, I: IdSource> {
    cfg: Config,
    /// First-party storage and the consent state: written only through handles scoped to a
    /// consent category.
    store: Store<S>,
    clock: C,
    ids: I,
    delivery: Delivery,
    visitor: Visitor,
    attribution: Attribution,
    page: PageContext,
    env: Environment,
    context: ContextTemplate,
    /// The tracker's own counters (the components keep theirs).
    stats: Stats,
    scratch: String,
    tab: String,
    /// `,"consent":{"categoryPreferences":{…}}`, rendered on change.
    consent_members: String,
    /// The shared cart and its device sync.
    #[cfg(feature = "cart")]
    cart: CartComponent,
}

impl Stats {
    /// The counters in the order of [`crate::names::STATS_COUNTERS`].
    pub fn counters(&self) -> [u64; crate::names::STATS_COUNTERS.len()] {
        let (o, c) = (&self.outbox, &self.cart_sync);
        [
            self.tracked,
            self.delivered,
            self.rejected,
            self.batches,
            self.retries,
            self.invalid_calls,
            o.queued as u64,
            o.queued_bytes as u64,
            o.persisted_bytes as u64,
            o.dropped,
            o.corrupt,
            o.storage_failures,
            c.requests,
            c.merged,
            c.failures,
        ]
    }
}

/// What a consent change did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsentOutcome {
    pub changed: bool,
    pub collection: Collection,
}

impl<S: Storage, C: Clock, I: IdSource> Tracker<S, C, I> {
    /// Starts the core: loads the identity. `tab` is this writer's id (unique per page load).
    pub fn new(cfg: Config, storage: S, clock: C, mut ids: I, tab: &str, env: Environment) -> Self {
        let mut store = Store::new(storage, &cfg.storage_prefix, &cfg.consent, env.signals);
        let cookie = CookieConfig {
            name: cfg.cookie_name.clone(),
            domain: cfg.cookie_domain.clone(),
            max_age_s: (cfg.cookie_max_age_days * 86_400.0) as u64,
            host: env.host.clone(),
            disabled: cfg.cookieless,
        };
        let identity = Identity::load(&cfg.storage_prefix, cookie, store.collecting(), &mut ids);
        let session = Session::load(&cfg.storage_prefix, cfg.session_timeout_ms, store.read());
        let visitor = Visitor::new(identity, session, tab, cfg.identity_endpoint.is_some());
        let journey = Journey::load(&cfg.storage_prefix, cfg.max_touches, store.read());
        let attribution = Attribution::new(&cfg, journey);
        let delivery = Delivery::new(&cfg, tab, store.read());
        #[cfg(feature = "cart")]
        let cart = CartComponent::new(&cfg, tab, &store);
        let page = PageContext::default();
        let context = ContextTemplate::new(&page, &env);
        #[cfg_attr(not(feature = "cart"), allow(unused_mut))]
        let mut me = Tracker {
            cfg,
            clock,
            ids,
            delivery,
            visitor,
            attribution,
            page,
            env,
            context,
            stats: Stats::default(),
            scratch: String::new(),
            tab: tab.to_owned(),
            consent_members: {
                let mut s = String::new();
                store.consent().push_context_member(&mut s);
                s
            },
            store,
            #[cfg(feature = "cart")]
            cart,
        };
        #[cfg(feature = "cart")]
        {
            let now = me.clock.now_ms();
            me.cart.load_credentials(&me.store, me.visitor.identity.user_id.as_deref(), now);
        }
        me
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }
    pub fn identity(&self) -> &Identity {
        &self.visitor.identity
    }
    pub fn role(&self) -> Role {
        self.delivery.role()
    }
    pub fn page(&self) -> &PageContext {
        &self.page
    }
    pub fn storage(&self) -> &S {
        self.store.read()
    }
    /// Storage for the delivery lease, as consent allows collection.
    pub fn lease_storage(&mut self) -> &mut dyn Storage {
        self.store.collecting()
    }
    pub fn consent(&self) -> &Consent {
        self.store.consent()
    }

    /// The visitor's consent choice. Granting releases the pre-consent buffer (stored and
    /// sent from now on); denying discards it; revoking after collection deletes every key
    /// and cookie the SDK wrote (the consent record stays: it is necessary) and stops
    /// collection, after one `Consent Changed` event if configured.
    pub fn set_consent(&mut self, choices: &[(String, bool)]) -> ConsentOutcome {
        let before = self.store.collection();
        // The decision itself is always recorded (necessary).
        let changed = self.store.set_consent(choices);
        self.after_consent_change(before, changed)
    }

    fn after_consent_change(&mut self, before: Collection, changed: bool) -> ConsentOutcome {
        let now = self.store.collection();
        let mut s = String::new();
        self.store.consent().push_context_member(&mut s);
        self.consent_members = s;
        let keep_last = self.cfg.consent.changed_event;
        if changed && keep_last && (before == Collection::Allowed || now == Collection::Allowed) {
            let mut props = String::from("{\"categoryPreferences\":");
            self.store.consent().push_prefs_json(&mut props);
            props.push('}');
            let _ = self.enqueue_anyway(&Body::Track { event: "Consent Changed", properties: &props });
        }
        let change = ConsentChange { before, now, keep_last };
        if change.revoked() {
            self.revoke();
        }
        let t = self.clock.now_ms();
        each_component!(self, |c, store, ids| Component::<S>::on_consent(c, change, store, ids, t));
        ConsentOutcome { changed, collection: now }
    }

    /// Deletes everything the SDK stored except the consent record and the keys of
    /// components whose category stays allowed, and forgets the visitor.
    fn revoke(&mut self) {
        let consent_key = self.store.consent().key().to_owned();
        let prefix = {
            let mut p = self.cfg.storage_prefix.clone();
            p.push('.');
            p
        };
        let keys = self.store.read().keys(&prefix);
        for key in keys {
            let mut kept = key == consent_key;
            each_component!(self, |c, store, _ids| {
                kept |= store.allows(Component::<S>::category(c)) && Component::<S>::owns_key(c, &key)
            });
            if !kept {
                self.store.eraser().remove(&key);
            }
        }
    }

    /// Queues a message even when collection is denied (the final consent record).
    fn enqueue_anyway(&mut self, body: &Body<'_>) -> Result<(), InputError> {
        let now = self.clock.now_ms();
        let mark = self.visitor.session.touch(now);
        self.push_message(body, &CallOptions::default(), now, mark)
    }
    /// This writer's id (unique per page load).
    pub fn tab(&self) -> &str {
        &self.tab
    }
    pub fn stats(&self) -> Stats {
        let d = self.delivery.stats();
        Stats {
            delivered: d.delivered,
            rejected: d.rejected,
            batches: d.batches,
            retries: d.retries,
            outbox: self.delivery.outbox_stats(),
            #[cfg(feature = "cart")]
            cart_sync: self.cart.sync.stats,
            ..self.stats
        }
    }

    /// The page changed (load, SPA navigation): later messages carry the new `context.page`
    /// and `context.campaign`. URLs, the referrer and the query are redacted here, before
    /// anything is built from them.
    pub fn set_page(&mut self, page: PageContext) {
        let clean = self.attribution.redacted(&page);
        let changed = clean != self.page;
        if changed {
            self.page = clean;
            self.context = ContextTemplate::new(&self.page, &self.env);
        }
        self.attribution.set_page(page, changed.then_some(self.page.url.as_str()));
    }

    /// Sends the automatic page view if it is still due (call once the page's own first
    /// calls had their chance, i.e. in the first tick).
    pub fn send_auto_page(&mut self) {
        if self.attribution.take_auto_page() {
            let _ = self.page_view(None, None, None, &CallOptions::default());
        }
    }

    /// A single-page app changed its URL (`href` with the fragment). Sends a page view with
    /// the previous in-app URL as referrer, unless the URL is the same as the last one.
    pub fn on_route_change(&mut self, page: PageContext, href: &str) -> bool {
        let Some(referrer) = self.attribution.route_change(href) else { return false };
        self.set_page(PageContext { referrer, ..page });
        self.page_view(None, None, None, &CallOptions::default()).is_ok()
    }

    /// Whether the page is at a route (`href`) whose page view has not been sent yet: a call
    /// made now must first send it ([`Tracker::on_route_change`]), so that the call carries
    /// the page it was made on and is stored after that page's view (an app that tracks in
    /// the same task as its `history.pushState`). One string comparison.
    pub fn is_new_route(&self, href: &str) -> bool {
        self.attribution.is_new_route(href)
    }

    /// An explicit `page()` at `href`: it is that route's page view (no automatic one follows).
    pub fn page_view_at(&mut self, href: &str) {
        let _ = self.attribution.route_change(href);
    }

    /// The customer journey so far.
    pub fn journey(&self) -> &Journey {
        &self.attribution.journey
    }

    // ---- scheduling ------------------------------------------------------------------------

    /// Asks for everything waiting to go out now (ignores count/age thresholds, not backoff).
    pub fn flush(&mut self) {
        self.delivery.flush();
    }

    /// True when nothing waits or is in flight.
    pub fn is_idle(&self) -> bool {
        self.delivery.is_idle()
    }

    pub fn set_online(&mut self, online: bool) {
        self.delivery.set_online(online);
        #[cfg(feature = "cart")]
        if online {
            self.cart.sync.on_online();
        }
    }

    /// Writes what is new to storage (coalesced: call at most once per task).
    pub fn persist(&mut self) {
        let now = self.clock.now_ms();
        each_component!(self, |c, store, _ids| {
            if store.allows(Component::<S>::category(c)) {
                Component::<S>::persist(c, &mut store.scope(Component::<S>::category(c)), now);
            }
        });
    }

    /// This tab delivers; the lock (or lease) was free when it asked.
    pub fn become_leader(&mut self) {
        self.lead(Succession::Free);
    }

    /// This tab delivers, `how` it came to (taking over, the last removals of the tab that
    /// delivered before may reach this tab's storage view later: see [`Delivery::become_leader`]).
    pub fn lead(&mut self, how: Succession) {
        let now = self.clock.now_ms();
        self.delivery.become_leader(self.store.collecting(), now, how);
    }

    /// The page is leaving (perhaps into the back/forward cache): it gave up the delivery
    /// lock, so it queues and persists but sends nothing until elected again.
    pub fn suspend(&mut self) {
        self.delivery.suspend();
    }

    pub fn become_follower(&mut self) {
        let now = self.clock.now_ms();
        self.delivery.become_follower(self.store.collecting(), now);
    }

    /// Another tab wrote `key` (a `storage` event).
    // The first component whose key it is takes it: `each_component!` expands one early return
    // per component, and the last one is the function's tail.
    #[allow(clippy::needless_return)]
    pub fn on_storage_change(&mut self, key: &str, value: Option<&str>) {
        if key == self.store.consent().key() {
            let before = self.store.collection();
            let old = self.store.consent().prefs().to_vec();
            self.store.on_consent_storage_change(key, value);
            let changed = old != self.store.consent().prefs();
            // The other tab already sent its own `Consent Changed`: do not repeat it.
            let changed_event = std::mem::replace(&mut self.cfg.consent.changed_event, false);
            self.after_consent_change(before, changed);
            self.cfg.consent.changed_event = changed_event;
            return;
        }
        let now = self.clock.now_ms();
        #[cfg(feature = "cart")]
        if self.cart.on_credentials_change(key, value, self.visitor.identity.user_id.as_deref(), now) {
            return;
        }
        each_component!(self, |c, store, _ids| if Component::<S>::on_storage_change(c, key, value, store, now) {
            return;
        });
    }

    /// The next request to perform now, if any. Call until it returns `None`, then schedule
    /// a wake-up at [`Tracker::next_wake`].
    pub fn poll(&mut self) -> Option<BatchRequest> {
        let now = self.clock.now_ms();
        let collection = self.store.collection();
        self.delivery.poll(now, collection, self.store.collecting(), &mut self.ids)
    }

    /// When the web layer should call `poll` again even if nothing else happens.
    pub fn next_wake(&self) -> Option<f64> {
        let delivery = self.delivery.wake(self.store.collection());
        #[cfg(feature = "cart")]
        let delivery = [delivery, self.cart.sync.next_wake()].into_iter().flatten().reduce(f64::min);
        delivery
    }

    /// Whether to send `send` gzipped (the `compression` rule with what the endpoint
    /// advertised, unless the collector refused a compressed batch before); records it for
    /// [`Tracker::on_response`]. The gzipped request leaves only if [`Tracker::compressed`]
    /// still agrees when the body is ready.
    pub fn compress(&mut self, send: &BatchRequest) -> bool {
        self.delivery.compress(send)
    }

    /// A batch's body is gzipped, `gzipped` bytes (0: compression failed): whether its request
    /// may leave now (no once `pagehide` sent its events plain), and whether with keepalive.
    pub fn compressed(&mut self, batch_id: u64, gzipped: usize) -> Option<bool> {
        self.delivery.compressed(batch_id, gzipped)
    }

    /// The HTTP answer to a request: status (0 for no answer), the `Retry-After` and
    /// `Accept-Encoding` headers.
    /// Returns a refusal the page's developer must be told about (once per status).
    pub fn on_response(
        &mut self,
        batch_id: u64,
        status: u16,
        retry_after: Option<&str>,
        accept_encoding: Option<&str>,
    ) -> Option<crate::delivery::Refusal> {
        let answer = if status == 0 { Answer::NoAnswer } else { Answer::Http { status, retry_after, accept_encoding } };
        self.on_delivery(batch_id, answer);
        self.delivery.take_refusal()
    }

    /// The page has read the answer's body to `batch_id` to the end (or failed to): see
    /// [`delivery::Delivery::answer_read`].
    pub fn answer_read(&mut self, batch_id: u64) {
        self.delivery.answer_read(batch_id);
    }

    /// How a batch's delivery ended (the collector's answer, none, or the app's bridge): the
    /// core decides what it means.
    pub fn on_delivery(&mut self, batch_id: u64, answer: Answer<'_>) {
        let now = self.clock.now_ms();
        self.delivery.on_answer(batch_id, answer, now, self.store.collecting(), &mut self.ids);
    }

    /// Settles `flush()` at the end of a tick (`sent`: requests went out in it); see
    /// [`delivery::Delivery::settle_flush`].
    pub fn settle_flush(&mut self, sent: bool) -> Option<bool> {
        let quiet = !sent && self.next_wake().is_none();
        self.delivery.settle_flush(quiet)
    }

    /// The page is being hidden (`leaving`: `pagehide`, maybe for good): persist synchronously
    /// and return what should go out with `keepalive` now, within the browser's 64 KB
    /// keepalive budget (see [`delivery::Delivery::on_hidden`] for gzipped batches).
    pub fn on_hidden(&mut self, leaving: bool) -> Vec<BatchRequest> {
        let now = self.clock.now_ms();
        let collection = self.store.collection();
        self.delivery.on_hidden(now, collection, self.store.collecting(), leaving).map_or_else(Vec::new, |b| vec![b])
    }

    /// The requests `on_hidden` returned were handed to the browser: see
    /// [`delivery::Delivery::hand_over`] (exactly once at unload, and when it stays at least once).
    pub fn hand_over(&mut self) {
        self.delivery.hand_over(self.store.collecting());
    }
}

/// Validates an optional JSON-object argument; `None` means `{}`.
fn object_arg<'a>(what: &'static str, v: Option<&'a str>) -> Result<&'a str, InputError> {
    match v {
        None => Ok("{}"),
        Some(s) if s.len() > MAX_MESSAGE_BYTES => Err(InputError::TooLarge),
        Some(s) if json::validate(s) == Some(Kind::Object) => Ok(s),
        Some(_) => Err(InputError::NotAnObject(what)),
    }
}

#[cfg(test)]
mod tests;

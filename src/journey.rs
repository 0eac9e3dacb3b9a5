//! The customer journey: touchpoints (where a visit came from) recorded when a session starts
//! or a page carries new campaign data, kept bounded, persisted first-party, and rendered for
//! `context.omnitrail.touch` (every event; without the landing URL, which can be 1 KB) and
//! `context.omnitrail.journey` (conversions; every touch with its landing URL).
//!
//! Owns: the decision "record a touchpoint?", the [`Journey`] (first touch, last non-direct
//! touch, the last N touches), its JSON, and its persisted form under
//! `{prefix}.`[`JOURNEY_KEY`] (versioned text, see [`Journey::encode`]). Page views come in
//! through [`Journey::on_page_view`], which also redacts the URL, extracts
//! `context.campaign` and classifies the channel.
//! Must never: keep an unredacted URL, grow without bound (touch count, field lengths,
//! accepted storage size), trust what it reads back from storage (a corrupt value is
//! dropped, never a panic), or touch storage outside [`Journey::load`],
//! [`Journey::persist`] and [`Journey::clear`] (never on the event path).
//!
//! Integration (tracker and web layer):
//! - start-up: `Journey::load(prefix, cfg.max_touches, storage)`;
//! - every page view (full load and SPA route change), after the session mark of that call:
//!   `on_page_view(&cfg, &PageView { url: location.href, referrer, at_ms, session_id:
//!   mark.id, session_start: mark.start })`, with `referrer` = `document.referrer` on a full
//!   load and the previous in-app URL on a route change. The returned `campaign` is that
//!   page's `context.campaign` ([`Campaign::push_json`], omitted when empty); `recorded`
//!   means the cached touch JSON changed;
//! - every event: [`Journey::push_context_members`] inside `context.omnitrail`, with
//!   `conversion = cfg.is_conversion(event)` for track calls and the page's campaign (the
//!   touch omits a `campaign` equal to the message's `context.campaign`);
//! - the once-per-task persist: [`Journey::persist`]; a `storage` event:
//!   [`Journey::on_storage_change`]; consent revoked or `reset()`: [`Journey::clear`];
//! - `context.page.url`, `referrer` and `search` go through [`AttributionConfig::redact`].

use std::collections::VecDeque;

use crate::campaign::Campaign;
use crate::channel::{Channel, Classifier};
use crate::error::StorageError;
use crate::json::{push_key, push_str, push_u64};
use crate::ports::Storage;
use crate::text::{self, push_escaped};
use crate::time::push_iso8601;
use crate::url;

/// Storage key suffix: the journey lives under `{prefix}.j1`. Bump the version when the
/// encoding changes incompatibly (an old value then reads as corrupt and is replaced).
pub const JOURNEY_KEY: &str = "j1";
/// First line of the encoding (the same version).
const HEADER: &str = "J1 ";
/// Default number of recent touches kept.
pub const DEFAULT_MAX_TOUCHES: usize = 10;
/// Upper bound of the configurable number of recent touches.
pub const MAX_TOUCHES_LIMIT: usize = 100;
/// Longest landing URL kept, in bytes (cut on a character boundary).
pub const MAX_URL_LEN: usize = 1024;
/// Longest referrer host kept, in bytes.
pub const MAX_HOST_LEN: usize = 255;
/// A stored value longer than this is treated as corrupt.
pub const MAX_ENCODED_LEN: usize = 512 * 1024;

/// Event names that carry the full journey by default (Segment spec names).
pub const DEFAULT_CONVERSION_EVENTS: &[&str] = &["Order Completed", "Signed Up", "Account Created", "Trial Started"];

/// The storage key of the journey for a storage prefix (`ot1` → `ot1.j1`).
pub fn storage_key(prefix: &str) -> String {
    [prefix, ".", JOURNEY_KEY].concat()
}

/// One touchpoint: how a visit began.
#[derive(Clone, Debug, PartialEq)]
pub struct Touchpoint {
    /// When it was recorded (ms since the epoch, whole milliseconds).
    pub at_ms: f64,
    /// The session it began (`context.sessionId`, ms); 0 when unknown.
    pub session_id: f64,
    pub channel: Channel,
    /// `context.campaign` of the landing page.
    pub campaign: Campaign,
    /// The landing page URL, redacted and capped at [`MAX_URL_LEN`].
    pub landing_url: String,
    /// The referrer's host, lower-case (an app referrer's package); empty for none.
    pub referrer_host: String,
}

impl Touchpoint {
    /// Appends the touch as a JSON object: `{"channel":…,"at":…,"sessionId":…,"campaign":{…},
    /// "landingUrl":…,"referrerHost":…}` (`referrerHost` only when known; `landingUrl` only
    /// with `landing_url`: the journey has it, the per-event touch does not).
    pub fn push_json(&self, out: &mut String, landing_url: bool) {
        self.push_fields(out, TouchFields { landing_url, campaign: true });
    }

    fn push_fields(&self, out: &mut String, f: TouchFields) {
        let landing_url = f.landing_url;
        out.push('{');
        push_key(out, "channel");
        push_str(out, self.channel.as_str());
        out.push_str(",\"at\":\"");
        push_iso8601(out, self.at_ms);
        out.push_str("\",\"sessionId\":");
        push_u64(out, to_u64(self.session_id));
        if f.campaign {
            out.push(',');
            push_key(out, "campaign");
            self.campaign.push_json(out);
        }
        if landing_url {
            out.push(',');
            push_key(out, "landingUrl");
            push_str(out, &self.landing_url);
        }
        if !self.referrer_host.is_empty() {
            out.push(',');
            push_key(out, "referrerHost");
            push_str(out, &self.referrer_host);
        }
        out.push('}');
    }
}

/// Which optional members [`Touchpoint::push_fields`] writes.
#[derive(Clone, Copy, Debug)]
struct TouchFields {
    landing_url: bool,
    campaign: bool,
}

/// Attribution settings (the integrator builds them from the SDK configuration).
#[derive(Clone, Debug)]
pub struct AttributionConfig {
    pub classifier: Classifier,
    /// Query parameters removed from every URL and referrer (case-insensitive names).
    pub redact_params: Vec<String>,
    /// Recent touches kept (1..=[`MAX_TOUCHES_LIMIT`]; clamped).
    pub max_touches: usize,
    /// Track event names that get `context.omnitrail.journey` (exact match).
    pub conversion_events: Vec<String>,
}

impl Default for AttributionConfig {
    fn default() -> Self {
        AttributionConfig {
            classifier: Classifier::default(),
            redact_params: crate::text::owned(url::DEFAULT_REDACT_PARAMS),
            max_touches: DEFAULT_MAX_TOUCHES,
            conversion_events: crate::text::owned(DEFAULT_CONVERSION_EVENTS),
        }
    }
}

impl AttributionConfig {
    /// `url` without the redacted query parameters.
    pub fn redact<'a>(&self, url: &'a str) -> std::borrow::Cow<'a, str> {
        // As `&[&str]`: the instantiation of `url::redact` the rest of the SDK already has.
        let mut params = Vec::with_capacity(self.redact_params.len());
        for p in &self.redact_params {
            params.push(p.as_str());
        }
        url::redact(url, &params)
    }

    /// Whether a track event with this name carries the whole journey.
    pub fn is_conversion(&self, event: &str) -> bool {
        self.conversion_events.iter().any(|e| e == event)
    }
}

/// A page view as the browser layer sees it (raw, unredacted).
#[derive(Clone, Copy, Debug)]
pub struct PageView<'a> {
    /// `location.href`.
    pub url: &'a str,
    /// `document.referrer` on a full load; the previous in-app URL on an SPA route change.
    pub referrer: &'a str,
    pub at_ms: f64,
    /// The current session's id (`Mark::id`).
    pub session_id: f64,
    /// This page view starts the session (`Mark::start`).
    pub session_start: bool,
}

/// What a page view yields besides the journey update.
#[derive(Clone, Debug, PartialEq)]
pub struct PageOutcome {
    /// `context.campaign` of this page (empty when the URL has no campaign data).
    pub campaign: Campaign,
    /// A touchpoint was recorded: the journey needs a [`Journey::persist`], and whatever
    /// caches the touch JSON must re-render it.
    pub recorded: bool,
}

/// First touch, last non-direct touch, and the last N touches (oldest first), and where
/// they are stored.
#[derive(Clone, Debug)]
pub struct Journey {
    first: Option<Touchpoint>,
    last_non_direct: Option<Touchpoint>,
    recent: VecDeque<Touchpoint>,
    max_touches: usize,
    /// Touchpoints ever recorded (including those that fell out of `recent`).
    total: u64,
    /// `context.omnitrail.touch` rendered once per change; empty without a touch.
    touch_json: String,
    /// Storage key (`{prefix}.j1`); empty for a journey that is never persisted.
    key: String,
    /// Recorded since the last successful persist.
    dirty: bool,
}

/// Equal content (touches, bound, count); the storage key and the dirty flag are ignored.
impl PartialEq for Journey {
    fn eq(&self, o: &Journey) -> bool {
        self.first == o.first
            && self.last_non_direct == o.last_non_direct
            && self.recent == o.recent
            && self.max_touches == o.max_touches
            && self.total == o.total
    }
}

fn clamp_max(n: usize) -> usize {
    n.clamp(1, MAX_TOUCHES_LIMIT)
}

/// Largest time or count stored (15 digits: year 33658, exact in an `f64`).
const MAX_MS: f64 = 999_999_999_999_999.0;
/// Most digits of a stored number: 15 (exact in an `f64`).
const MAX_DIGITS: usize = 15;

fn to_u64(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        ms.min(MAX_MS) as u64
    } else {
        0
    }
}

impl Journey {
    /// An empty, memory-only journey keeping `max_touches` recent touches (clamped to
    /// 1..=100). [`Journey::load`] gives one that persists.
    pub fn new(max_touches: usize) -> Journey {
        Journey {
            first: None,
            last_non_direct: None,
            recent: VecDeque::new(),
            max_touches: clamp_max(max_touches),
            total: 0,
            touch_json: String::new(),
            key: String::new(),
            dirty: false,
        }
    }

    /// The current touch: the latest recorded.
    pub fn current(&self) -> Option<&Touchpoint> {
        self.recent.back()
    }

    pub fn first(&self) -> Option<&Touchpoint> {
        self.first.as_ref()
    }

    /// The latest touch whose channel [`Channel::is_attributable`].
    pub fn last_non_direct(&self) -> Option<&Touchpoint> {
        self.last_non_direct.as_ref()
    }

    /// The last touches, oldest first.
    pub fn recent(&self) -> impl Iterator<Item = &Touchpoint> {
        self.recent.iter()
    }

    /// Touchpoints ever recorded.
    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.recent.is_empty()
    }

    /// Whether a page view records a touchpoint: there is no touch yet, the session is new
    /// (`session_start`, or the current touch belongs to another session), or the page
    /// carries campaign data that differs from the current touch's. Internal navigation
    /// (no campaign data, same session) never records.
    pub fn should_record(&self, session_id: f64, session_start: bool, campaign: &Campaign) -> bool {
        match self.current() {
            None => true,
            Some(cur) => {
                session_start || to_u64(cur.session_id) != to_u64(session_id) || (!campaign.is_empty() && *campaign != cur.campaign)
            }
        }
    }

    /// Appends a touchpoint: it becomes the current touch, the first touch if there was none,
    /// and the last non-direct touch if its channel is attributable; the oldest recent touch
    /// is dropped past the bound. Fields are capped here.
    pub fn record(&mut self, mut tp: Touchpoint) {
        cap_string(&mut tp.landing_url, MAX_URL_LEN);
        cap_string(&mut tp.referrer_host, MAX_HOST_LEN);
        tp.at_ms = to_u64(tp.at_ms) as f64;
        tp.session_id = to_u64(tp.session_id) as f64;
        if self.first.is_none() {
            self.first = Some(tp.clone());
        }
        if tp.channel.is_attributable() {
            self.last_non_direct = Some(tp.clone());
        }
        self.recent.push_back(tp);
        while self.recent.len() > self.max_touches {
            self.recent.pop_front();
        }
        self.total = self.total.saturating_add(1);
        self.dirty = true;
        self.render_touch();
    }

    /// Handles a page view: redacts the URL and referrer, extracts `context.campaign`,
    /// and records a touchpoint (with its channel) when [`Journey::should_record`] says so.
    pub fn on_page_view(&mut self, cfg: &AttributionConfig, pv: &PageView<'_>) -> PageOutcome {
        let landing = cfg.redact(pv.url);
        let campaign = Campaign::from_url(&landing);
        let recorded = self.should_record(pv.session_id, pv.session_start, &campaign);
        if recorded {
            let referrer = cfg.redact(pv.referrer);
            let channel = cfg.classifier.classify(&campaign, &referrer, &landing);
            let host = url::parse(&referrer).host;
            let referrer_host = host.trim_end_matches('.').to_ascii_lowercase();
            self.record(Touchpoint {
                at_ms: pv.at_ms,
                session_id: pv.session_id,
                channel,
                campaign: campaign.clone(),
                landing_url: landing.into_owned(),
                referrer_host,
            });
        }
        PageOutcome { campaign, recorded }
    }

    /// `context.omnitrail.touch` as JSON object text (rendered once per change), without the
    /// landing URL (every message carries it: the URL stays in the journey); `None` before
    /// the first touch.
    pub fn touch_json(&self) -> Option<&str> {
        (!self.touch_json.is_empty()).then_some(self.touch_json.as_str())
    }

    fn render_touch(&mut self) {
        self.touch_json.clear();
        if let Some(tp) = self.recent.back() {
            let mut s = std::mem::take(&mut self.touch_json);
            tp.push_json(&mut s, false);
            self.touch_json = s;
        }
    }

    /// Appends `context.omnitrail.journey`: `{"first":{…},"lastNonDirect":{…},
    /// "touches":[…oldest first],"touchCount":n}` (`first`/`lastNonDirect` only when known).
    pub fn push_journey_json(&self, out: &mut String) {
        out.push('{');
        if let Some(f) = &self.first {
            push_key(out, "first");
            f.push_json(out, true);
            out.push(',');
        }
        if let Some(l) = &self.last_non_direct {
            push_key(out, "lastNonDirect");
            l.push_json(out, true);
            out.push(',');
        }
        push_key(out, "touches");
        out.push('[');
        for (i, t) in self.recent.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            t.push_json(out, true);
        }
        out.push_str("],");
        push_key(out, "touchCount");
        push_u64(out, self.total);
        out.push('}');
    }

    /// Appends the journey's members of `context.omnitrail`: `"touch":{…}` and, for a
    /// conversion, `,"journey":{…}`. Writes nothing (and returns false) before the first
    /// touch. The touch leaves out its `campaign` when it equals the message's own
    /// `context.campaign` (`page_campaign`; both empty counts as equal): a reader takes a
    /// touch without `campaign` to have the message's `context.campaign` (none when absent).
    pub fn push_context_members(&self, out: &mut String, conversion: bool, page_campaign: &Campaign) -> bool {
        let (Some(touch), Some(tp)) = (self.touch_json(), self.recent.back()) else { return false };
        push_key(out, "touch");
        if tp.campaign == *page_campaign {
            tp.push_fields(out, TouchFields { landing_url: false, campaign: false });
        } else {
            out.push_str(touch);
        }
        if conversion {
            out.push(',');
            push_key(out, "journey");
            self.push_journey_json(out);
        }
        true
    }

    /// The persisted form: a header line `J1 {total}`, then one line per touch: `R` lines
    /// for the recent touches (oldest first), `F` for the first touch and `L` for the last
    /// non-direct one. `F`/`L` are `@{i}` when they equal recent touch `i`. A touch line is
    /// tab-separated: `at`, `sessionId`, channel name, referrer host, landing URL, then
    /// `key=value` campaign fields; `\`, tab, CR and LF in text are escaped (`\\`, `\t`,
    /// `\r`, `\n`).
    pub fn encode(&self) -> String {
        let mut s = String::with_capacity(64 + self.recent.len() * 160);
        s.push_str(HEADER);
        push_u64(&mut s, self.total);
        s.push('\n');
        for (tag, tp) in [('F', &self.first), ('L', &self.last_non_direct)] {
            let Some(tp) = tp else { continue };
            s.push(tag);
            s.push(' ');
            match self.recent.iter().position(|r| r == tp) {
                Some(i) => {
                    s.push('@');
                    push_u64(&mut s, i as u64);
                }
                None => encode_touch(&mut s, tp),
            }
            s.push('\n');
        }
        for tp in &self.recent {
            s.push_str("R ");
            encode_touch(&mut s, tp);
            s.push('\n');
        }
        s
    }

    /// Reads [`Journey::encode`]'s output back. `None` when the text is not a well-formed
    /// journey of this version (the caller then starts empty); never panics. Keeps the
    /// newest `max_touches` recent touches when more were stored.
    pub fn decode(text: &str, max_touches: usize) -> Option<Journey> {
        if text.len() > MAX_ENCODED_LEN {
            return None;
        }
        let mut lines = text.split('\n');
        let total = text::parse_u64(lines.next()?.strip_prefix(HEADER)?, MAX_DIGITS)?;
        enum Slot {
            Touch(Touchpoint),
            Ref(usize),
        }
        let (mut first, mut last): (Option<Slot>, Option<Slot>) = (None, None);
        let mut recent: VecDeque<Touchpoint> = VecDeque::new();
        for line in lines {
            if line.is_empty() {
                continue;
            }
            let (tag, rest) = line.split_once(' ')?;
            let slot = match rest.strip_prefix('@') {
                Some(i) => Slot::Ref(usize::try_from(text::parse_u64(i, MAX_DIGITS)?).ok()?),
                None => Slot::Touch(decode_touch(rest)?),
            };
            match (tag, slot) {
                ("F", s) if first.is_none() && recent.is_empty() => first = Some(s),
                ("L", s) if last.is_none() && recent.is_empty() => last = Some(s),
                ("R", Slot::Touch(t)) => {
                    if recent.len() == MAX_TOUCHES_LIMIT {
                        return None;
                    }
                    recent.push_back(t);
                }
                _ => return None,
            }
        }
        let resolve = |s: Option<Slot>| -> Option<Option<Touchpoint>> {
            match s {
                None => Some(None),
                Some(Slot::Touch(t)) => Some(Some(t)),
                Some(Slot::Ref(i)) => recent.get(i).cloned().map(Some),
            }
        };
        let first = resolve(first)?;
        let last_non_direct = resolve(last)?;
        if recent.is_empty() != first.is_none() || recent.len() as u64 > total {
            return None;
        }
        let max_touches = clamp_max(max_touches);
        while recent.len() > max_touches {
            recent.pop_front();
        }
        let mut j =
            Journey { first, last_non_direct, recent, max_touches, total, touch_json: String::new(), key: String::new(), dirty: false };
        j.render_touch();
        Some(j)
    }

    /// Loads the journey stored under `{prefix}.j1` (empty when absent or corrupt); it
    /// persists there.
    pub fn load(prefix: &str, max_touches: usize, storage: &dyn Storage) -> Journey {
        let key = storage_key(prefix);
        let mut j = storage.get(&key).and_then(|v| Journey::decode(&v, max_touches)).unwrap_or_else(|| Journey::new(max_touches));
        j.key = key;
        j
    }

    /// Writes the journey if a touch was recorded since the last successful write (call it
    /// from the tracker's once-per-task persist). A failed write is retried on the next call.
    /// A memory-only journey ([`Journey::new`]) writes nothing.
    pub fn persist(&mut self, storage: &mut dyn Storage) -> Result<(), StorageError> {
        if !self.dirty || self.key.is_empty() {
            return Ok(());
        }
        storage.set(&self.key, &self.encode())?;
        self.dirty = false;
        Ok(())
    }

    /// Another tab wrote (or removed) the journey. Returns true if `key` was ours. A removed
    /// value (consent revoked, reset in another tab) empties this one; a written value
    /// replaces this one unless it is corrupt or has fewer touches than this tab's (then this
    /// tab's is written back on the next persist). Two tabs recording at the same moment:
    /// the last write wins.
    pub fn on_storage_change(&mut self, key: &str, value: Option<&str>) -> bool {
        if self.key.is_empty() || key != self.key {
            return false;
        }
        match value.map(|v| Journey::decode(v, self.max_touches)) {
            None => self.reset(),
            Some(Some(other)) if other.total >= self.total => {
                self.first = other.first;
                self.last_non_direct = other.last_non_direct;
                self.recent = other.recent;
                self.total = other.total;
                self.dirty = false;
                self.render_touch();
            }
            Some(_) => self.dirty = true,
        }
        true
    }

    /// Forgets every touch, in memory and in storage (consent revoked, `reset()`).
    pub fn clear(&mut self, storage: &mut dyn Storage) {
        self.reset();
        if !self.key.is_empty() {
            storage.remove(&self.key);
        }
    }

    fn reset(&mut self) {
        self.first = None;
        self.last_non_direct = None;
        self.recent.clear();
        self.total = 0;
        self.dirty = false;
        self.touch_json.clear();
    }
}

fn cap_string(s: &mut String, max: usize) {
    let keep = url::truncate(s, max).len();
    s.truncate(keep);
}

fn encode_touch(s: &mut String, tp: &Touchpoint) {
    push_u64(s, to_u64(tp.at_ms));
    s.push('\t');
    push_u64(s, to_u64(tp.session_id));
    s.push('\t');
    s.push_str(tp.channel.as_str());
    s.push('\t');
    push_escaped(s, &tp.referrer_host);
    s.push('\t');
    push_escaped(s, &tp.landing_url);
    for (k, v) in tp.campaign.fields() {
        s.push('\t');
        s.push_str(k);
        s.push('=');
        push_escaped(s, v);
    }
}

fn decode_touch(line: &str) -> Option<Touchpoint> {
    let mut f = line.split('\t');
    let at_ms = text::parse_u64(f.next()?, MAX_DIGITS)? as f64;
    let session_id = text::parse_u64(f.next()?, MAX_DIGITS)? as f64;
    let channel = Channel::from_name(f.next()?)?;
    let referrer_host = text::unescape(f.next()?, MAX_HOST_LEN, true)?;
    let landing_url = text::unescape(f.next()?, MAX_URL_LEN, true)?;
    let mut campaign = Campaign::default();
    for field in f {
        let (k, v) = field.split_once('=')?;
        if campaign.get(k).is_some() || !campaign.set(k, &text::unescape(v, crate::campaign::MAX_VALUE_LEN, true)?) {
            return None;
        }
    }
    Some(Touchpoint { at_ms, session_id, channel, campaign, landing_url, referrer_host })
}

#[cfg(test)]
mod tests;

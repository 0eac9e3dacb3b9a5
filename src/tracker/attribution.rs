//! The attribution component: campaign, channel, journey, page views and their members.
//!
//! Owns: the journey (`{prefix}.j1`, consent category: collection), the attribution settings
//! (channel classifier, redaction, conversions), the page's raw URL and referrer, the
//! automatic and route-change page-view decisions, and the `,"campaign":…,"omnitrail":…`
//! context members every message carries (rendered on change, not per message).
//! Must never: let an unredacted URL into a message, or record a touch for a page view the
//! visitor's consent does not allow (the tracker asks only when collection is not denied).

use super::component::{Component, ConsentChange};
use crate::config::{Config, PageViews};
use crate::journey::{AttributionConfig, Journey, PageView};
use crate::message::PageContext;
use crate::ports::{IdSource, Storage};
use crate::session::Mark;
use crate::store::{Category, Store};

pub struct Attribution {
    pub(super) cfg: AttributionConfig,
    page_views: PageViews,
    pub(super) journey: Journey,
    /// The page's URL and referrer as the browser reported them (redacted before use).
    raw_page: (String, String),
    /// `context.campaign` of the redacted page URL (the touch leaves out a campaign equal
    /// to it).
    campaign: crate::campaign::Campaign,
    /// `,"campaign":{…},"omnitrail":{"touch":{…}}` for every message, rendered on change.
    members: String,
    /// The length of the `,"campaign":{…}` part of `members` (conversions replace what
    /// follows it; kept here so no substring search is needed).
    campaign_len: usize,
    /// The automatic page view is due (no explicit `page()` came first).
    auto_page_due: bool,
    /// The URL (with the fragment if hash changes count) of the last page view, for
    /// de-duplicating route changes.
    route_key: String,
}

impl Attribution {
    #[inline(always)]
    pub fn new(cfg: &Config, journey: Journey) -> Attribution {
        let mut channels = cfg.channels.clone();
        // The business's other domains are not referrers.
        channels.internal_hosts.extend(cfg.link.linked_domains.iter().cloned());
        Attribution {
            cfg: AttributionConfig {
                classifier: crate::channel::Classifier::new(channels),
                redact_params: cfg.redact_params.clone(),
                max_touches: cfg.max_touches,
                conversion_events: cfg.conversion_events.clone(),
            },
            page_views: cfg.page_views,
            journey,
            raw_page: (String::new(), String::new()),
            campaign: Default::default(),
            members: String::new(),
            campaign_len: 0,
            auto_page_due: false,
            route_key: String::new(),
        }
    }

    /// `page` with its URLs and query redacted.
    pub fn redacted(&self, page: &PageContext) -> PageContext {
        let redact = |s: &str| self.cfg.redact(s).into_owned();
        PageContext {
            url: redact(&page.url),
            referrer: redact(&page.referrer),
            search: redact(&page.search),
            path: page.path.clone(),
            title: page.title.clone(),
        }
    }

    /// The page changed (`page` as the browser reported it; `clean`, its redacted form, is
    /// new when `changed`).
    #[inline(always)]
    pub fn set_page(&mut self, page: PageContext, clean_url: Option<&str>) {
        if self.route_key.is_empty() {
            self.route_key = page.url.clone();
            self.auto_page_due = self.page_views.on_load;
        }
        self.raw_page = (page.url, page.referrer);
        if let Some(url) = clean_url {
            self.campaign = crate::campaign::Campaign::from_url(url);
            self.render();
        }
    }

    /// Renders the attribution members every message carries.
    fn render(&mut self) {
        let mut s = std::mem::take(&mut self.members);
        s.clear();
        if !self.campaign.is_empty() {
            s.push_str(",\"campaign\":");
            self.campaign.push_json(&mut s);
        }
        self.campaign_len = s.len();
        if self.journey.touch_json().is_some() {
            s.push_str(",\"omnitrail\":{");
            self.journey.push_context_members(&mut s, false, &self.campaign);
            s.push('}');
        }
        self.members = s;
    }

    /// Whether the automatic page view is still due (true once).
    pub fn take_auto_page(&mut self) -> bool {
        std::mem::take(&mut self.auto_page_due)
    }

    /// A route change to `href`: the previous raw URL (the new page view's referrer), or
    /// `None` when route changes are off or the URL is the same as the last one.
    #[inline(always)]
    pub fn route_change(&mut self, href: &str) -> Option<String> {
        if !self.is_new_route(href) {
            return None;
        }
        self.route_key(href).clone_into(&mut self.route_key);
        Some(self.raw_page.0.clone())
    }

    /// Whether `href` is a route without its page view yet (route changes on, a new URL).
    pub fn is_new_route(&self, href: &str) -> bool {
        self.page_views.on_route_change && self.route_key(href) != self.route_key
    }

    /// `href` as route changes compare it: without the fragment unless hash changes count.
    fn route_key<'a>(&self, href: &'a str) -> &'a str {
        if self.page_views.on_hash_change {
            href
        } else {
            href.split('#').next().unwrap_or(href)
        }
    }

    /// A page view at `at_ms` in the session `mark`: records a touchpoint when due.
    #[inline(always)]
    pub fn on_page_view(&mut self, at_ms: f64, mark: Mark) {
        self.auto_page_due = false;
        let (url, referrer) = &self.raw_page;
        let pv = PageView { url, referrer, at_ms, session_id: mark.id, session_start: mark.start };
        if self.journey.on_page_view(&self.cfg, &pv).recorded {
            self.render();
        }
    }

    /// An explicit `page()` call came first: no automatic page view.
    pub fn cancel_auto_page(&mut self) {
        self.auto_page_due = false;
    }

    /// The attribution members of a message: conversions (`event` named in
    /// `conversionEvents`) carry the whole journey, everything else the cached members.
    pub fn members(&self, conversion_event: Option<&str>) -> std::borrow::Cow<'_, str> {
        let conversion = conversion_event.is_some_and(|e| self.cfg.is_conversion(e));
        if !(conversion && self.journey.touch_json().is_some()) {
            return std::borrow::Cow::Borrowed(&self.members);
        }
        let mut s = String::with_capacity(self.members.len() + 1024);
        // The campaign part only: its keys are fixed and its values JSON strings, so the
        // cached members' `,"omnitrail":` (when present) starts right after it.
        s.push_str(self.members.get(..self.campaign_len).unwrap_or_default());
        s.push_str(",\"omnitrail\":{");
        self.journey.push_context_members(&mut s, true, &self.campaign);
        s.push('}');
        std::borrow::Cow::Owned(s)
    }
}

impl<S: Storage> Component<S> for Attribution {
    fn category(&self) -> Category<'_> {
        Category::Collection
    }

    fn persist(&mut self, storage: &mut dyn Storage, _now: f64) {
        let _ = self.journey.persist(storage);
    }

    fn on_consent(&mut self, change: ConsentChange, store: &mut Store<S>, _ids: &mut dyn IdSource, _now: f64) {
        if change.revoked() {
            self.journey.clear(&mut store.eraser());
            self.render();
        }
    }

    fn on_storage_change(&mut self, key: &str, value: Option<&str>, _store: &mut Store<S>, _now: f64) -> bool {
        let ours = self.journey.on_storage_change(key, value);
        if ours {
            self.render();
        }
        ours
    }
}

#[cfg(test)]
mod tests;

//! The tracker without the cross-domain hand-over (the small core: built without the
//! `handover` feature; the script-tag loader serves it to pages without `linkedDomains`, and
//! the full build to a page with them: js/src/variant.js).
//!
//! Owns: what a page without `linkedDomains` does with the hand-over, the same as the full
//! build there: an incoming `_ot` is removed from the URL and not adopted (a page adopts only
//! when its own domain is linked), and no link is auto-decorated. `decorate(url)` works as in
//! the full build (tracker/handover.rs): the linked site adopts what it carries.
//! Must never: adopt an id from a URL, or leave `_ot` in the address bar or the page view.

use super::*;

impl<S: Storage, C: Clock, I: IdSource> Tracker<S, C, I> {
    /// The landing URL without its `_ot` parameter, if it had one (never adopted here).
    pub fn adopt_handover(&mut self, page_url: &str) -> Option<String> {
        crate::linker::without_handover(page_url)
    }

    /// No link is auto-decorated without `linkedDomains`.
    pub fn should_decorate(&self, _href: &str, _current_host: &str) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ManualClock, MemoryStorage, SeqIds};

    #[test]
    fn an_incoming_handover_is_removed_not_adopted_and_links_still_decorate() {
        let cfg = Config::new("wk", "http://127.0.0.1:9").validated().unwrap();
        let now = 1_795_399_445_000.0;
        let mut t = Tracker::new(cfg, MemoryStorage::default(), ManualClock::at(now), SeqIds::seeded(1), "A", Environment::default());
        let before = t.identity().anonymous_id.clone();
        let landing = crate::linker::decorate("https://pay.test/c?x=1#h", "0a1b2c3d-0000-4000-8000-000000000001", now);
        assert_eq!(t.adopt_handover(&landing).as_deref(), Some("https://pay.test/c?x=1#h"));
        assert_eq!(t.identity().anonymous_id, before);
        assert_eq!(t.adopt_handover("https://pay.test/c?x=1"), None);
        assert_eq!(t.decorate("https://shop.test/?a=1"), ["https://shop.test/?a=1&_ot=", &before, ".1795399445"].concat());
        assert!(!t.should_decorate("https://shop.test/", "pay.test"));
    }
}

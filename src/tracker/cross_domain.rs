//! The cross-domain hand-over (`_ot`, src/linker.rs) in the tracker: adopting an incoming one,
//! auto-decorating links to linked sites (`decorate` itself is in every build: handover.rs).
//! Behind the `handover` feature: the small core has `cross_domain_off.rs` instead (the loader
//! serves the full build to a page with `linkedDomains`, js/src/variant.js).
//!
//! Owns: the visitor's side of the hand-over. Must never: adopt an invalid, stale or foreign id.

use super::*;

impl<S: Storage, C: Clock, I: IdSource> Tracker<S, C, I> {
    /// Examines the landing URL for a cross-domain hand-over and adopts it if it is fresh and
    /// this site is linked. Returns the URL to show without the parameter, if it had one.
    pub fn adopt_handover(&mut self, page_url: &str) -> Option<String> {
        let now = self.clock.now_ms();
        match crate::linker::examine(page_url, now, &self.cfg.link) {
            crate::linker::Handover::Absent => None,
            crate::linker::Handover::Reject { clean_url, .. } => Some(clean_url),
            crate::linker::Handover::Adopt { anonymous_id, clean_url } => {
                if anonymous_id != self.visitor.identity.anonymous_id {
                    self.visitor.identity.set_anonymous_id(&anonymous_id, self.store.collecting());
                }
                Some(clean_url)
            }
        }
    }

    /// Whether auto-decoration should rewrite a clicked link to `href`.
    pub fn should_decorate(&self, href: &str, current_host: &str) -> bool {
        self.cfg.auto_decorate && crate::linker::should_decorate(href, current_host, &self.cfg.link)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ManualClock, MemoryStorage, SeqIds};

    const AID: &str = "0a1b2c3d-0000-4000-8000-000000000001";

    fn tracker(linked: &[&str]) -> Tracker<MemoryStorage, ManualClock, SeqIds> {
        let mut cfg = Config::new("wk", "http://127.0.0.1:9");
        cfg.link.linked_domains = linked.iter().map(|d| (*d).to_owned()).collect();
        let cfg = cfg.validated().unwrap();
        Tracker::new(cfg, MemoryStorage::default(), ManualClock::at(1_795_399_445_000.0), SeqIds::seeded(1), "A", Environment::default())
    }

    #[test]
    fn a_linked_site_adopts_a_fresh_handover_and_decorates_links() {
        let mut t = tracker(&["shop.test", "pay.test"]);
        let landing = crate::linker::decorate("https://pay.test/c?x=1", AID, 1_795_399_440_000.0);
        assert_eq!(t.adopt_handover(&landing).as_deref(), Some("https://pay.test/c?x=1"));
        assert_eq!(t.identity().anonymous_id, AID);
        assert_eq!(t.decorate("https://shop.test/"), format!("https://shop.test/?_ot={AID}.1795399445"));
        assert!(!t.should_decorate("https://shop.test/", "pay.test"), "autoDecorate is off by default");
    }

    #[test]
    fn a_site_without_linked_domains_removes_the_handover_and_keeps_its_id() {
        let mut t = tracker(&[]);
        let before = t.identity().anonymous_id.clone();
        let landing = crate::linker::decorate("https://pay.test/c?x=1", AID, 1_795_399_440_000.0);
        assert_eq!(t.adopt_handover(&landing).as_deref(), Some("https://pay.test/c?x=1"));
        assert_eq!(t.identity().anonymous_id, before);
    }
}

//! Consent: which categories of processing the visitor allows, and what the SDK may do.
//!
//! Owns: the categories (at least `necessary`, `analytics`, `marketing`; extensible), the
//! mode (`opt-in`: nothing until granted; `opt-out`: allowed until denied), the defaults from
//! Global Privacy Control (denies `marketing` by default) and, optionally, Do Not Track
//! (denies everything but `necessary`), the persisted record `{prefix}.consent`, and the
//! resulting [`Collection`] state. `analytics` gates collection: without it nothing is stored
//! (no cookie, no storage write) and nothing is sent.
//! Must never: write the record before the visitor decided (opt-in), or treat a corrupt
//! record as consent.

use crate::json::{push_key, push_str};
use crate::ports::Storage;

/// The category that gates collection.
pub const ANALYTICS: &str = "analytics";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    OptIn,
    OptOut,
}

/// Consent settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsentConfig {
    pub mode: Mode,
    /// Known categories, in order; `necessary` is always granted.
    pub categories: Vec<String>,
    /// Categories Global Privacy Control denies by default (empty: GPC ignored).
    pub gpc_denies: Vec<String>,
    /// Honour `navigator.doNotTrack == "1"` by denying every category but `necessary`.
    pub honor_dnt: bool,
    /// Send one `Consent Changed` track event when the visitor changes their choice.
    pub changed_event: bool,
    /// Bounds of the in-memory buffer while consent is pending (opt-in).
    pub buffer: BufferLimits,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BufferLimits {
    pub max_events: usize,
    pub max_bytes: usize,
    /// Buffered events older than this are dropped (ms).
    pub ttl_ms: f64,
}

impl Default for ConsentConfig {
    fn default() -> Self {
        ConsentConfig {
            mode: Mode::OptOut,
            categories: ["necessary", "analytics", "marketing"].map(str::to_owned).to_vec(),
            gpc_denies: vec!["marketing".to_owned()],
            honor_dnt: false,
            changed_event: false,
            buffer: BufferLimits { max_events: 200, max_bytes: 256 * 1024, ttl_ms: 30.0 * 60_000.0 },
        }
    }
}

/// What the browser says before the visitor chooses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Signals {
    pub gpc: bool,
    pub dnt: bool,
}

/// What the SDK may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Collection {
    /// Collect, store and send.
    Allowed,
    /// Opt-in without a decision: keep events in memory (bounded), store and send nothing.
    Pending,
    /// No collection: nothing stored, nothing sent, calls ignored.
    Denied,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Consent {
    /// (category, granted), in the configured order, then any extra categories set.
    prefs: Vec<(String, bool)>,
    /// The visitor (or a stored record) decided.
    decided: bool,
    key: String,
    mode: Mode,
}

fn parse_record(v: &str) -> Option<Vec<(String, bool)>> {
    let body = v.strip_prefix("c1|")?;
    let mut out = Vec::new();
    for item in body.split(',').filter(|s| !s.is_empty()) {
        let (k, b) = item.split_once('=')?;
        let ok = !k.is_empty() && k.len() <= 64 && k.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
        if !ok || out.len() >= 32 {
            return None;
        }
        out.push((
            k.to_owned(),
            match b {
                "1" => true,
                "0" => false,
                _ => return None,
            },
        ));
    }
    Some(out)
}

/// A category name: 1–64 of `[A-Za-z0-9_-]`.
pub fn valid_category(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Consent {
    /// The stored record if any, else the defaults for the mode and the browser's signals.
    pub fn load(prefix: &str, cfg: &ConsentConfig, signals: Signals, storage: &dyn Storage) -> Consent {
        let key = [prefix, ".consent"].concat();
        let defaults = |c: &str| -> bool {
            if c == "necessary" {
                return true;
            }
            if cfg.honor_dnt && signals.dnt {
                return false;
            }
            if signals.gpc && cfg.gpc_denies.iter().any(|d| d == c) {
                return false;
            }
            cfg.mode == Mode::OptOut
        };
        let mut prefs = Vec::with_capacity(cfg.categories.len() + 1);
        for c in &cfg.categories {
            prefs.push((c.clone(), defaults(c)));
        }
        if !prefs.iter().any(|(c, _)| c == "necessary") {
            prefs.insert(0, ("necessary".to_owned(), true));
        }
        let stored = storage.get(&key).as_deref().and_then(parse_record);
        let decided = stored.is_some() || (cfg.honor_dnt && signals.dnt);
        let mut me = Consent { prefs, decided, key, mode: cfg.mode };
        for (k, v) in stored.unwrap_or_default() {
            me.put(&k, v);
        }
        me
    }

    fn put(&mut self, category: &str, granted: bool) {
        let granted = granted || category == "necessary";
        match self.prefs.iter_mut().find(|(c, _)| c == category) {
            Some(slot) => slot.1 = granted,
            None => self.prefs.push((category.to_owned(), granted)),
        }
    }

    pub fn granted(&self, category: &str) -> bool {
        self.prefs.iter().any(|(c, g)| c == category && *g)
    }

    pub fn prefs(&self) -> &[(String, bool)] {
        &self.prefs
    }

    pub fn collection(&self) -> Collection {
        if self.granted(ANALYTICS) {
            Collection::Allowed
        } else if self.mode == Mode::OptIn && !self.decided {
            Collection::Pending
        } else {
            Collection::Denied
        }
    }

    /// The visitor's choice (categories not named keep their value). Returns true if
    /// anything changed. Stores the record (a decision is kept, even a denial: it is
    /// necessary to not ask again).
    pub fn set(&mut self, choices: &[(String, bool)], storage: &mut dyn Storage) -> bool {
        let before = (self.prefs.clone(), self.decided);
        for (k, v) in choices {
            self.put(k, *v);
        }
        self.decided = true;
        let _ = storage.set(&self.key, &self.record());
        before != (self.prefs.clone(), self.decided)
    }

    fn record(&self) -> String {
        let mut r = String::from("c1|");
        for (i, (k, v)) in self.prefs.iter().enumerate() {
            if i > 0 {
                r.push(',');
            }
            r.push_str(k);
            r.push_str(if *v { "=1" } else { "=0" });
        }
        r
    }

    /// `"consent":{"categoryPreferences":{…}}` with a leading comma (a `context` member).
    pub fn push_context_member(&self, out: &mut String) {
        out.push_str(",\"consent\":{\"categoryPreferences\":");
        self.push_prefs_json(out);
        out.push('}');
    }

    /// `{"necessary":true,"analytics":false,…}`
    pub fn push_prefs_json(&self, out: &mut String) {
        out.push('{');
        for (i, (k, v)) in self.prefs.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_key_escaped(out, k);
            out.push_str(if *v { "true" } else { "false" });
        }
        out.push('}');
    }

    /// Another tab stored a decision. Returns true if `key` was ours.
    pub fn on_storage_change(&mut self, key: &str, value: Option<&str>) -> bool {
        if key != self.key {
            return false;
        }
        if let Some(stored) = value.and_then(parse_record) {
            for (k, v) in stored {
                self.put(&k, v);
            }
            self.decided = true;
        }
        true
    }

    pub fn key(&self) -> &str {
        &self.key
    }
}

fn push_key_escaped(out: &mut String, k: &str) {
    if k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        push_key(out, k);
    } else {
        push_str(out, k);
        out.push(':');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryStorage;

    fn cfg(mode: Mode) -> ConsentConfig {
        ConsentConfig { mode, ..ConsentConfig::default() }
    }

    #[test]
    fn opt_in_is_pending_until_decided_and_stores_nothing_before() {
        let mut st = MemoryStorage::default();
        let mut c = Consent::load("ot1", &cfg(Mode::OptIn), Signals::default(), &st);
        assert_eq!(c.collection(), Collection::Pending);
        assert!(st.dump().is_empty());
        assert!(c.set(&[("analytics".into(), true)], &mut st));
        assert_eq!(c.collection(), Collection::Allowed);
        assert_eq!(st.get("ot1.consent").as_deref(), Some("c1|necessary=1,analytics=1,marketing=0"));
        let again = Consent::load("ot1", &cfg(Mode::OptIn), Signals::default(), &st);
        assert_eq!(again.collection(), Collection::Allowed, "the decision persists");
    }

    #[test]
    fn opt_in_denial_is_final_and_remembered() {
        let mut st = MemoryStorage::default();
        let mut c = Consent::load("ot1", &cfg(Mode::OptIn), Signals::default(), &st);
        c.set(&[("analytics".into(), false)], &mut st);
        assert_eq!(c.collection(), Collection::Denied);
        assert_eq!(Consent::load("ot1", &cfg(Mode::OptIn), Signals::default(), &st).collection(), Collection::Denied);
    }

    #[test]
    fn opt_out_allows_until_denied_and_gpc_denies_marketing() {
        let st = MemoryStorage::default();
        let c = Consent::load("ot1", &cfg(Mode::OptOut), Signals::default(), &st);
        assert_eq!(c.collection(), Collection::Allowed);
        assert!(c.granted("marketing"));
        let gpc = Consent::load("ot1", &cfg(Mode::OptOut), Signals { gpc: true, dnt: false }, &st);
        assert!(!gpc.granted("marketing"));
        assert!(gpc.granted("analytics"));
        let mut no_gpc = cfg(Mode::OptOut);
        no_gpc.gpc_denies.clear();
        assert!(Consent::load("ot1", &no_gpc, Signals { gpc: true, dnt: false }, &st).granted("marketing"));
        let dnt_ignored = Consent::load("ot1", &cfg(Mode::OptOut), Signals { gpc: false, dnt: true }, &st);
        assert_eq!(dnt_ignored.collection(), Collection::Allowed, "DNT is optional");
        let mut dnt = cfg(Mode::OptOut);
        dnt.honor_dnt = true;
        assert_eq!(Consent::load("ot1", &dnt, Signals { gpc: false, dnt: true }, &st).collection(), Collection::Denied);
    }

    #[test]
    fn necessary_cannot_be_denied_and_extra_categories_are_kept() {
        let mut st = MemoryStorage::default();
        let mut c = Consent::load("ot1", &cfg(Mode::OptIn), Signals::default(), &st);
        c.set(&[("necessary".into(), false), ("personalisation".into(), true)], &mut st);
        let mut s = String::new();
        c.push_context_member(&mut s);
        assert_eq!(
            s,
            r#","consent":{"categoryPreferences":{"necessary":true,"analytics":false,"marketing":false,"personalisation":true}}"#
        );
    }

    #[test]
    fn corrupt_records_are_not_consent() {
        for bad in ["", "analytics=1", "c1|analytics=yes", "c1|=1", "c1|a b=1", "c2|analytics=1"] {
            let st = MemoryStorage::default();
            st.plant("ot1.consent", bad);
            let c = Consent::load("ot1", &cfg(Mode::OptIn), Signals::default(), &st);
            assert_eq!(c.collection(), Collection::Pending, "{bad:?}");
        }
    }

    #[test]
    fn tabs_share_the_decision() {
        let mut st = MemoryStorage::default();
        let mut a = Consent::load("ot1", &cfg(Mode::OptIn), Signals::default(), &st);
        let mut b = Consent::load("ot1", &cfg(Mode::OptIn), Signals::default(), &st);
        a.set(&[("analytics".into(), true)], &mut st);
        assert!(b.on_storage_change("ot1.consent", st.get("ot1.consent").as_deref()));
        assert_eq!(b.collection(), Collection::Allowed);
    }
}

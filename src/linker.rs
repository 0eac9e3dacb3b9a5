//! Cross-domain identity hand-over (first-party, no third-party cookie).
//!
//! Owns: the `_ot=<anonymousId>.<unix seconds>` parameter: adding it to a URL (`decorate`),
//! deciding whether a landing page adopts it (fresh, well-formed, and this site is one of the
//! configured linked domains), and the URL without it (for `history.replaceState`), and
//! which links auto-decoration rewrites.
//! Must never: adopt a stale, malformed or foreign hand-over, or leave the parameter in the
//! address bar (a shared link must not carry someone's id).

use crate::json::{parse_decimal, push_u64};
use crate::ports::is_uuid;
use crate::url;

/// The query parameter carrying the hand-over.
pub const PARAM: &str = "_ot";

/// `url` with `_ot=<aid>.<seconds>` (replacing any existing one), before the fragment.
pub fn decorate(target: &str, anonymous_id: &str, now_ms: f64) -> String {
    let clean = url::redact(target, &[PARAM]);
    let (base, fragment) = match clean.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (clean.as_ref(), None),
    };
    let mut out = String::with_capacity(target.len() + 56);
    out.push_str(base);
    out.push(if base.contains('?') { '&' } else { '?' });
    out.push_str(PARAM);
    out.push('=');
    out.push_str(anonymous_id);
    out.push('.');
    push_u64(&mut out, (now_ms.max(0.0) / 1000.0) as u64);
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// What a landing page makes of its URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handover {
    /// No `_ot` parameter.
    Absent,
    /// Adopt this anonymous id; show `clean_url`.
    Adopt { anonymous_id: String, clean_url: String },
    /// Ignored (why); still show `clean_url`.
    Reject { reason: &'static str, clean_url: String },
}

/// Rules for adopting a hand-over.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// Domains that share identity (`shop.example`, `pay.example`); a host matches a domain
    /// if it is the domain or one of its subdomains.
    pub linked_domains: Vec<String>,
    /// Oldest hand-over adopted (ms).
    pub max_age_ms: f64,
}

/// True if `host` is `domain` or a subdomain of it (case-insensitive).
fn within(host: &str, domain: &str) -> bool {
    let (h, d) = (host.to_ascii_lowercase(), domain.trim_start_matches('.').to_ascii_lowercase());
    !d.is_empty()
        && (h == d
            || h.ends_with(&{
                let mut s = String::with_capacity(d.len() + 1);
                s.push('.');
                s.push_str(&d);
                s
            }))
}

fn linked(host: &str, cfg: &LinkConfig) -> bool {
    cfg.linked_domains.iter().any(|d| within(host, d))
}

/// The landing URL without its hand-over, if it had one: what a page without `linkedDomains`
/// shows (the small core, tracker/cross_domain_off.rs; `examine` rejects the same URL with
/// the same `clean_url`, tied by a test).
pub fn without_handover(page_url: &str) -> Option<String> {
    url::query_get(url::parse(page_url).query, PARAM)?;
    Some(url::redact(page_url, &[PARAM]).into_owned())
}

/// Examines the landing URL.
pub fn examine(page_url: &str, now_ms: f64, cfg: &LinkConfig) -> Handover {
    let parts = url::parse(page_url);
    let Some(value) = url::query_get(parts.query, PARAM) else { return Handover::Absent };
    let clean_url = url::redact(page_url, &[PARAM]).into_owned();
    let reject = |reason| Handover::Reject { reason, clean_url: clean_url.clone() };
    let Some((aid, ts)) = crate::text::rsplit_once(&value, b'.') else { return reject("malformed") };
    if !is_uuid(aid) {
        return reject("malformed");
    }
    let Some(secs) = parse_decimal(ts) else { return reject("malformed") };
    let age = now_ms - secs * 1000.0;
    // One second of rounding plus a minute of clock skew between the two sites.
    if age > cfg.max_age_ms + 1_000.0 || age < -60_000.0 {
        return reject("stale");
    }
    if !linked(parts.host, cfg) {
        return reject("domain not linked");
    }
    Handover::Adopt { anonymous_id: aid.to_owned(), clean_url }
}

/// Whether auto-decoration should rewrite a link to `href` clicked on `current_host`: an
/// http(s) link to another host within a linked domain.
pub fn should_decorate(href: &str, current_host: &str, cfg: &LinkConfig) -> bool {
    let u = url::parse(href);
    matches!(u.scheme, "http" | "https")
        && !u.host.eq_ignore_ascii_case(current_host)
        && linked(u.host, cfg)
        && !linked_same(u.host, current_host, cfg)
}

/// Both hosts fall under the same linked domain (they share the cookie already).
fn linked_same(a: &str, b: &str, cfg: &LinkConfig) -> bool {
    cfg.linked_domains.iter().any(|d| within(a, d) && within(b, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AID: &str = "0a1b2c3d-0000-4000-8000-000000000001";
    const NOW: f64 = 1_795_399_445_000.0;

    fn cfg() -> LinkConfig {
        LinkConfig { linked_domains: vec!["shop.test".into(), "pay.test".into()], max_age_ms: 120_000.0 }
    }

    #[test]
    fn decorate_adds_or_replaces_the_parameter_before_the_fragment() {
        assert_eq!(decorate("https://pay.test/c", AID, NOW), format!("https://pay.test/c?_ot={AID}.1795399445"));
        assert_eq!(decorate("https://pay.test/c?x=1#top", AID, NOW), format!("https://pay.test/c?x=1&_ot={AID}.1795399445#top"));
        let twice = decorate(&decorate("https://pay.test/?a=b", "old", 0.0), AID, NOW);
        assert_eq!(twice, format!("https://pay.test/?a=b&_ot={AID}.1795399445"));
    }

    #[test]
    fn adopts_fresh_handovers_on_linked_domains_only() {
        let landing = decorate("https://www.pay.test/c?x=1#h", AID, NOW - 30_000.0);
        assert_eq!(
            examine(&landing, NOW, &cfg()),
            Handover::Adopt { anonymous_id: AID.into(), clean_url: "https://www.pay.test/c?x=1#h".into() }
        );
        let stale = decorate("https://pay.test/", AID, NOW - 180_000.0);
        assert_eq!(examine(&stale, NOW, &cfg()), Handover::Reject { reason: "stale", clean_url: "https://pay.test/".into() });
        let future = decorate("https://pay.test/", AID, NOW + 600_000.0);
        assert!(matches!(examine(&future, NOW, &cfg()), Handover::Reject { reason: "stale", .. }));
        let foreign = decorate("https://evil.test/", AID, NOW);
        assert!(matches!(examine(&foreign, NOW, &cfg()), Handover::Reject { reason: "domain not linked", .. }));
        let lookalike = decorate("https://notpay.test/", AID, NOW);
        assert!(matches!(examine(&lookalike, NOW, &cfg()), Handover::Reject { reason: "domain not linked", .. }));
        assert_eq!(examine("https://pay.test/?a=1", NOW, &cfg()), Handover::Absent);
    }

    #[test]
    fn malformed_handovers_are_rejected_and_removed() {
        for v in [
            "",
            "x",
            "not-a-uuid.1795399445",
            "0a1b2c3d-0000-4000-8000-000000000001",
            &format!("{AID}.abc"),
            &format!("{AID}.-5"),
            "%00%ff.1",
            &format!("\"><script>.{}", 1),
        ] {
            let u = format!("https://pay.test/p?_ot={v}&keep=1");
            match examine(&u, NOW, &cfg()) {
                Handover::Reject { reason, clean_url } => {
                    assert_eq!(reason, "malformed", "{v}");
                    assert_eq!(clean_url, "https://pay.test/p?keep=1");
                }
                other => panic!("{v}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_page_without_linked_domains_shows_the_same_url_the_full_check_would() {
        let unlinked = LinkConfig { linked_domains: Vec::new(), max_age_ms: 120_000.0 };
        let fresh = decorate("https://pay.test/c?x=1#h", AID, NOW);
        for u in [
            fresh.as_str(),
            "https://pay.test/p?_ot=x&keep=1",
            "https://pay.test/p?keep=1&_ot=",
            "https://pay.test/p?a=1",
            "https://pay.test/p#_ot=1",
            "not a url ?_ot=1",
        ] {
            let full = match examine(u, NOW, &unlinked) {
                Handover::Absent => None,
                Handover::Reject { clean_url, .. } => Some(clean_url),
                Handover::Adopt { .. } => panic!("{u}: adopted without linked domains"),
            };
            assert_eq!(without_handover(u), full, "{u}");
        }
    }

    #[test]
    fn auto_decoration_targets_other_linked_sites_only() {
        let c = cfg();
        assert!(should_decorate("https://pay.test/checkout", "www.shop.test", &c));
        assert!(!should_decorate("https://app.shop.test/", "www.shop.test", &c), "same linked domain: the cookie is shared");
        assert!(!should_decorate("https://other.test/", "www.shop.test", &c));
        assert!(!should_decorate("mailto:a@pay.test", "www.shop.test", &c));
        assert!(!should_decorate("/relative", "www.shop.test", &c));
    }
}

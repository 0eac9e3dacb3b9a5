//! `context.campaign` (Segment spec): the `utm_*` parameters and the ad click ids of a
//! landing URL.
//!
//! Owns: which query parameters are campaign data, what they are called in
//! `context.campaign` (`utm_campaign` → `name`, `utm_source` → `source`, … and the click ids
//! under their own names), and their canonical order. Parameter names are matched
//! case-insensitively after percent-decoding; values are percent-decoded (`+` is a space),
//! trimmed, capped at [`MAX_VALUE_LEN`] bytes, and kept in their original case.
//! Must never: read anything but the URL's query (no fragment, no cookies), lower-case or
//! otherwise rewrite values (classification lower-cases its own copy), or panic on any input.

use crate::json::{push_key, push_str};

/// `(query parameter, context.campaign key)`, in output order. The first six are the Segment
/// spec's; the rest are ad click ids kept under their own name.
pub const KEYS: &[(&str, &str)] = &[
    ("utm_campaign", "name"),
    ("utm_source", "source"),
    ("utm_medium", "medium"),
    ("utm_term", "term"),
    ("utm_content", "content"),
    ("utm_id", "id"),
    // Google Ads (web, iOS app-to-web, web-to-app), Campaign Manager / DV360, Search Ads 360.
    ("gclid", "gclid"),
    ("gbraid", "gbraid"),
    ("wbraid", "wbraid"),
    ("dclid", "dclid"),
    ("gclsrc", "gclsrc"),
    // Meta (added to organic links too), Microsoft Ads, TikTok, X/Twitter, LinkedIn,
    // Pinterest, Reddit, Snapchat.
    ("fbclid", "fbclid"),
    ("msclkid", "msclkid"),
    ("ttclid", "ttclid"),
    ("twclid", "twclid"),
    ("li_fat_id", "li_fat_id"),
    ("epik", "epik"),
    ("rdt_cid", "rdt_cid"),
    ("sccid", "sccid"),
    // Yandex Direct, Impact (affiliate), Klaviyo (email), Mailchimp (email).
    ("yclid", "yclid"),
    ("irclid", "irclid"),
    ("_kx", "_kx"),
    ("mc_cid", "mc_cid"),
];

/// Number of UTM entries at the start of [`KEYS`]; the rest are click ids.
pub const UTM_COUNT: usize = 6;

/// Longest value kept, in bytes (cut on a character boundary).
pub const MAX_VALUE_LEN: usize = 256;

/// The campaign data of one landing URL: `(context.campaign key, value)` pairs in [`KEYS`]
/// order, each key at most once, values non-empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Campaign {
    fields: Vec<(&'static str, String)>,
}

impl Campaign {
    /// Reads the campaign parameters of a URL's query (absolute or relative URL, or a bare
    /// `?query`). The first occurrence of a parameter wins; empty values are ignored.
    pub fn from_url(url: &str) -> Campaign {
        Campaign::from_query(crate::url::parse(url).query)
    }

    /// Like [`Campaign::from_url`] for a query string without `?`.
    pub fn from_query(query: &str) -> Campaign {
        let mut c = Campaign::default();
        for (name, value) in crate::url::raw_pairs(query) {
            // Cheap pre-filter before decoding: every known name is ≤ 12 bytes decoded.
            if name.len() > 36 || value.is_empty() {
                continue;
            }
            let name = crate::url::decode(name);
            if let Some(&(_, key)) = KEYS.iter().find(|(p, _)| name.eq_ignore_ascii_case(p)) {
                if c.get(key).is_none() {
                    c.set(key, &crate::url::decode(value));
                }
            }
        }
        c
    }

    /// Sets `key` (a `context.campaign` key such as `source` or `gclid`) to `value` (trimmed,
    /// capped). Unknown keys and empty values are ignored; returns whether it was stored.
    pub fn set(&mut self, key: &str, value: &str) -> bool {
        let Some(rank) = KEYS.iter().position(|(_, k)| *k == key) else { return false };
        let value = crate::url::truncate(value.trim(), MAX_VALUE_LEN).trim_end();
        if value.is_empty() {
            return false;
        }
        let key = KEYS.get(rank).map_or("", |(_, k)| *k);
        let at = self.fields.iter().position(|(k, _)| rank_of(k) >= rank).unwrap_or(self.fields.len());
        match self.fields.get_mut(at) {
            Some((k, v)) if *k == key => *v = value.to_owned(),
            _ => self.fields.insert(at, (key, value.to_owned())),
        }
        true
    }

    /// The value under a `context.campaign` key (`name`, `source`, `medium`, `term`,
    /// `content`, `id`, or a click id such as `gclid`).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str())
    }

    /// `utm_source`.
    pub fn source(&self) -> Option<&str> {
        self.get("source")
    }

    /// `utm_medium`.
    pub fn medium(&self) -> Option<&str> {
        self.get("medium")
    }

    /// `utm_campaign`.
    pub fn name(&self) -> Option<&str> {
        self.get("name")
    }

    /// No campaign data at all.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// At least one `utm_*` parameter.
    pub fn has_utm(&self) -> bool {
        self.fields.iter().any(|(k, _)| rank_of(k) < UTM_COUNT)
    }

    /// The click ids present, as `(name, value)`.
    pub fn click_ids(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.fields.iter().filter(|(k, _)| rank_of(k) >= UTM_COUNT).map(|(k, v)| (*k, v.as_str()))
    }

    /// All `(key, value)` pairs in output order.
    pub fn fields(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.fields.iter().map(|(k, v)| (*k, v.as_str()))
    }

    /// Appends the `context.campaign` object (`{}` when empty).
    pub fn push_json(&self, out: &mut String) {
        out.push('{');
        for (i, (k, v)) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_key(out, k);
            push_str(out, v);
        }
        out.push('}');
    }

    /// The `context.campaign` object as JSON text.
    pub fn to_json(&self) -> String {
        let mut s = String::with_capacity(2 + self.fields.iter().map(|(k, v)| k.len() + v.len() + 6).sum::<usize>());
        self.push_json(&mut s);
        s
    }
}

fn rank_of(key: &str) -> usize {
    KEYS.iter().position(|(_, k)| *k == key).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(url: &str) -> String {
        Campaign::from_url(url).to_json()
    }

    #[test]
    fn maps_utm_parameters_to_segment_names() {
        assert_eq!(
            json("https://shop.example/?utm_source=google&utm_medium=cpc&utm_campaign=spring_sale&utm_term=running+shoes&utm_content=ad1&utm_id=42"),
            r#"{"name":"spring_sale","source":"google","medium":"cpc","term":"running shoes","content":"ad1","id":"42"}"#
        );
    }

    #[test]
    fn click_ids_are_extra_keys_in_canonical_order() {
        let c = Campaign::from_url("/?msclkid=M&utm_source=bing&gclid=G&_kx=K&mc_cid=C&li_fat_id=L");
        assert_eq!(c.to_json(), r#"{"source":"bing","gclid":"G","msclkid":"M","li_fat_id":"L","_kx":"K","mc_cid":"C"}"#);
        assert!(c.has_utm());
        assert_eq!(c.click_ids().map(|(k, _)| k).collect::<Vec<_>>(), ["gclid", "msclkid", "li_fat_id", "_kx", "mc_cid"]);
        for (param, _) in KEYS {
            let c = Campaign::from_query(&[param, "=v"].concat());
            assert_eq!(c.fields().count(), 1, "{param}");
        }
    }

    #[test]
    fn names_are_case_insensitive_and_values_decoded() {
        let c = Campaign::from_url("https://a.b/?UTM_SOURCE=News%20Letter&Utm_Medium=E-Mail&%75tm_campaign=caf%C3%A9+%26+tea&GCLID=abc");
        assert_eq!(c.source(), Some("News Letter"));
        assert_eq!(c.medium(), Some("E-Mail"));
        assert_eq!(c.name(), Some("café & tea"));
        assert_eq!(c.get("gclid"), Some("abc"));
    }

    #[test]
    fn first_occurrence_wins_and_empty_values_are_ignored() {
        let c = Campaign::from_url("/?utm_source=&utm_source=first&utm_source=second&utm_medium=%20%20&gclid");
        assert_eq!(c.to_json(), r#"{"source":"first"}"#);
    }

    #[test]
    fn ignores_fragment_and_unknown_params() {
        assert!(Campaign::from_url("https://a.b/?q=1&utm_sourcex=2#utm_source=x").is_empty());
        assert_eq!(json("https://a.b/"), "{}");
        assert_eq!(json(""), "{}");
    }

    #[test]
    fn caps_values_and_escapes_json() {
        let long = "é".repeat(300);
        let c = Campaign::from_query(&["utm_term=", &long].concat());
        let v = c.get("term").unwrap_or_default();
        assert!(v.len() <= MAX_VALUE_LEN && v.len() >= MAX_VALUE_LEN - 1 && v.chars().all(|ch| ch == 'é'));
        let j = json("/?utm_content=%22%5C%0A%01");
        assert_eq!(j, r#"{"content":"\"\\\n\u0001"}"#);
        assert_eq!(crate::json::validate(&j), Some(crate::json::Kind::Object));
        assert_eq!(json("/?utm_content=%FF"), r#"{"content":"%FF"}"#);
    }

    #[test]
    fn set_keeps_order_and_rejects_unknown_keys() {
        let mut c = Campaign::default();
        assert!(c.set("gclid", "g"));
        assert!(c.set("name", "n"));
        assert!(c.set("source", "s"));
        assert!(c.set("name", "n2"));
        assert!(!c.set("utm_source", "x"));
        assert!(!c.set("bogus", "x"));
        assert!(!c.set("term", "  "));
        assert_eq!(c.to_json(), r#"{"name":"n2","source":"s","gclid":"g"}"#);
        assert_eq!(c, Campaign::from_query("source=x&gclid=g&utm_source=s&utm_campaign=n2"));
    }
}

//! Declarative tracking for script-tag users: `data-ot-event="Name"` elements send that event
//! on click (or submit, for forms), with properties from `data-ot-prop-*` attributes; and the
//! optional outbound-link event.
//!
//! Owns: turning attributes into properties (`data-ot-prop-product-id="x"` →
//! `"product_id":"x"`; numbers and booleans stay strings: attributes are text), and the
//! outbound-link decision. Must never: read the DOM (the web layer passes attributes in).

use crate::json::{push_key, push_str};
use crate::url;

/// The attribute naming the event.
pub const EVENT_ATTR: &str = "data-ot-event";
/// Prefix of property attributes.
pub const PROP_PREFIX: &str = "data-ot-prop-";
/// Event sent for clicks on links to other sites (when enabled).
pub const OUTBOUND_EVENT: &str = "Outbound Link Clicked";

/// Properties JSON from an element's attributes (name, value), in attribute order.
pub fn properties<'a>(attrs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::from("{");
    for (name, value) in attrs {
        let Some(prop) = name.strip_prefix(PROP_PREFIX).filter(|p| !p.is_empty()) else { continue };
        if out.len() > 1 {
            out.push(',');
        }
        let mut key = String::with_capacity(prop.len());
        for c in prop.chars() {
            key.push(if c == '-' { '_' } else { c });
        }
        push_str(&mut out, &key);
        out.push(':');
        push_str(&mut out, value);
    }
    out.push('}');
    out
}

/// Properties of an outbound link click, if `href` leads to another site than `page_url`.
pub fn outbound(href: &str, page_url: &str, text: &str) -> Option<String> {
    let target = url::parse(href);
    if !matches!(target.scheme, "http" | "https") {
        return None;
    }
    let page = url::parse(page_url);
    if url::same_site(target.host, page.host) {
        return None;
    }
    let mut out = String::from("{");
    push_key(&mut out, "url");
    push_str(&mut out, href);
    out.push(',');
    push_key(&mut out, "text");
    push_str(&mut out, url::truncate(text.trim(), 200));
    out.push('}');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_from_data_attributes() {
        let attrs = [
            ("class", "btn"),
            ("data-ot-event", "Product Added"),
            ("data-ot-prop-product-id", "tee-blue"),
            ("data-ot-prop-price", "19"),
            ("data-ot-prop-", "ignored"),
            ("data-ot-prop-note", "say \"hi\""),
        ];
        assert_eq!(properties(attrs.into_iter()), r#"{"product_id":"tee-blue","price":"19","note":"say \"hi\""}"#);
        assert_eq!(properties([("id", "x")].into_iter()), "{}");
    }

    #[test]
    fn outbound_links() {
        let page = "https://www.shop.test/p";
        assert!(outbound("https://partner.example/x", page, " Partner ").unwrap().contains(r#""text":"Partner""#));
        assert_eq!(outbound("https://app.shop.test/x", page, ""), None, "same site");
        assert_eq!(outbound("/relative", page, ""), None);
        assert_eq!(outbound("mailto:a@b.c", page, ""), None);
    }
}

//! Where the identity cookie lives: the registrable domain, found by probing.
//!
//! Owns: the candidate `Domain=` values for a host and the probe. Candidates go from the
//! shortest suffix of two labels up to the full host (`co.uk`, `example.co.uk`, …); the
//! browser silently refuses a cookie on a public suffix, so the first candidate that reads
//! back is the registrable domain — the same technique analytics libraries use, without
//! shipping the Public Suffix List. `localhost`, single-label hosts and IP addresses get a
//! host-only cookie.
//! Must never: set a cookie on a public suffix (the browser refuses it; the probe value is
//! random so a stale cookie cannot fake success), or leave the probe cookie behind.

use crate::ports::{CookieSpec, Storage};

/// True for hosts that take a host-only cookie: no dot, an IPv4 address, or an IPv6 literal.
pub fn host_only(host: &str) -> bool {
    !host.contains('.') || host.contains(':') || host.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// `Domain=` candidates for `host`, shortest first. Empty for host-only hosts.
pub fn candidates(host: &str) -> Vec<&str> {
    if host_only(host) {
        return Vec::new();
    }
    let mut out = Vec::new();
    // A suffix starting after a dot has one label more than the dots after it; start with two
    // labels: skip the last dot. (Dots are ASCII, so `d + 1` is a char boundary.)
    let mut last = true;
    for (d, b) in host.bytes().enumerate().rev() {
        if b == b'.' {
            if !last {
                if let Some(s) = host.get(d + 1..) {
                    out.push(s);
                }
            }
            last = false;
        }
    }
    out.push(host);
    out
}

/// Finds the registrable domain of `host` by writing a probe cookie with each candidate
/// `Domain=` until one reads back. `None`: use a host-only cookie.
pub fn probe(storage: &mut dyn Storage, host: &str, probe_name: &str, nonce: &str) -> Option<String> {
    for domain in candidates(host) {
        let spec = CookieSpec { domain: Some(domain), max_age_s: 10 };
        if storage.set_cookie(probe_name, nonce, &spec) && storage.cookie(probe_name).as_deref() == Some(nonce) {
            storage.set_cookie(probe_name, "", &CookieSpec { domain: Some(domain), max_age_s: 0 });
            return Some(domain.to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryStorage, FAKE_PUBLIC_SUFFIXES};

    #[test]
    fn candidates_go_from_two_labels_to_the_host() {
        assert_eq!(candidates("shop.example.co.uk"), vec!["co.uk", "example.co.uk", "shop.example.co.uk"]);
        assert_eq!(candidates("www.shop.test"), vec!["shop.test", "www.shop.test"]);
        assert_eq!(candidates("example.com"), vec!["example.com"]);
        for h in ["localhost", "127.0.0.1", "[::1]", "::1", "intranet"] {
            assert!(candidates(h).is_empty(), "{h}");
        }
    }

    #[test]
    fn probe_finds_the_registrable_domain_and_never_lands_on_a_public_suffix() {
        for (host, want) in [
            ("shop.example.co.uk", Some("example.co.uk")),
            ("www.shop.test", Some("shop.test")),
            ("app.shop.test", Some("shop.test")),
            ("user.github.io", Some("user.github.io")),
            ("localhost", None),
            ("127.0.0.1", None),
        ] {
            let mut st = MemoryStorage::default();
            st.set_host(host);
            assert_eq!(probe(&mut st, host, "_ot_probe", "n1").as_deref(), want, "{host}");
            assert!(st.cookies().is_empty(), "the probe cookie is removed ({host})");
            for c in st.cookies() {
                assert!(!FAKE_PUBLIC_SUFFIXES.contains(&c.2.as_deref().unwrap_or("")));
            }
        }
    }

    #[test]
    fn a_stale_probe_cookie_cannot_fake_success() {
        let mut st = MemoryStorage::default();
        st.set_host("a.example.com");
        // A leftover probe cookie with another value is visible, but the nonce differs.
        st.set_cookie("_ot_probe", "old", &CookieSpec { domain: Some("example.com"), max_age_s: 10 });
        assert_eq!(probe(&mut st, "a.example.com", "_ot_probe", "new").as_deref(), Some("example.com"));
    }
}

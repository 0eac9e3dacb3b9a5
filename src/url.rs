//! The little URL handling the SDK needs: split a URL into scheme, host, path, query and
//! fragment; read query parameters (percent-decoding, `+` as space); compare hosts for
//! "same site"; and strip sensitive query parameters (redaction).
//!
//! Owns: URL text. Must never: panic on any input (every input here is page-controlled or
//! attacker-controlled: `location.href`, `document.referrer`), normalise or re-encode what it
//! keeps (redaction leaves every byte it does not remove as it was), or pull in the `url`
//! crate (wasm size).

use std::borrow::Cow;

/// Query parameters removed from every URL and referrer by default (compared
/// case-insensitively, after percent-decoding the name). The `Attribution` configuration
/// replaces this list.
pub const DEFAULT_REDACT_PARAMS: &[&str] = &[
    "email",
    "e-mail",
    "mail",
    "token",
    "access_token",
    "id_token",
    "refresh_token",
    "password",
    "passwd",
    "pwd",
    "pass",
    "secret",
    "auth",
    "authorization",
    "code",
    "api_key",
    "apikey",
    "key",
    "session",
    "sessionid",
    "sid",
];

/// The parts of a URL, borrowed from the input. Parts that are absent are empty. `host`
/// keeps the input's case (use [`normalize_host`] to compare).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Url<'a> {
    /// Without the `:` (`https`, `android-app`); empty for a relative URL.
    pub scheme: &'a str,
    /// Without user info and port; empty when there is no `//authority`.
    pub host: &'a str,
    /// Everything from the end of the authority to `?`/`#`.
    pub path: &'a str,
    /// Without the `?`.
    pub query: &'a str,
    /// Without the `#`.
    pub fragment: &'a str,
}

/// Splits `s` (absolute, protocol-relative `//host/…`, or relative `/path?q`, `?q`) into its
/// parts. Leading and trailing whitespace is ignored. Never fails: text that is not a URL at
/// all comes back as a path.
#[allow(clippy::disallowed_methods)] // `find` with char patterns only (CharSearcher; no StrSearcher)
pub fn parse(s: &str) -> Url<'_> {
    let s = s.trim();
    let (rest, fragment) = s.split_once('#').unwrap_or((s, ""));
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (scheme, rest) = match rest.split_once(':') {
        Some((sch, r)) if is_scheme(sch) => (sch, r),
        _ => ("", rest),
    };
    let (host, path) = match rest.strip_prefix("//") {
        Some(auth_path) => {
            let end = auth_path.find(['/', '\\']).unwrap_or(auth_path.len());
            let (auth, path) = auth_path.split_at_checked(end).unwrap_or((auth_path, ""));
            (host_of_authority(auth), path)
        }
        None => ("", rest),
    };
    Url { scheme, host, path, query, fragment }
}

fn is_scheme(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic()) && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
}

/// `user:pass@host:port` → `host` (IPv6 literals keep their brackets).
#[allow(clippy::disallowed_methods)] // `find` with a char pattern (CharSearcher; no StrSearcher)
fn host_of_authority(auth: &str) -> &str {
    let host_port = crate::text::rsplit_once(auth, b'@').map_or(auth, |(_, h)| h);
    if host_port.starts_with('[') {
        return match host_port.find(']') {
            Some(i) => host_port.get(..=i).unwrap_or(host_port),
            None => host_port,
        };
    }
    host_port.split_once(':').map_or(host_port, |(h, _)| h)
}

/// Lowercases `host`, drops a trailing dot and a leading `www.` (`WWW.Example.com.` →
/// `example.com`).
pub fn normalize_host(host: &str) -> String {
    let h = host.trim_end_matches('.');
    let h = if h.len() > 4 && h.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("www.")) { h.get(4..).unwrap_or(h) } else { h };
    h.to_ascii_lowercase()
}

/// The "site" of a normalised host: its last two labels (`shop.example.com` →
/// `example.com`), or three when the host ends in a two-letter country code preceded by a
/// short generic label (`a.example.co.uk` → `example.co.uk`, `x.example.com.au` →
/// `example.com.au`). IP addresses and single-label hosts (`localhost`) are their own site.
///
/// Limits: this is a heuristic, not the Public Suffix List. Hosts under multi-tenant suffixes
/// (`github.io`, `herokuapp.com`, `blogspot.com`) are all one site, and some second-level
/// country domains with long labels (`example.gouv.fr`) come out as the suffix. Extra sites
/// can be declared same-site through `ChannelConfig::internal_hosts`.
pub fn site(host: &str) -> &str {
    if host.starts_with('[') || crate::text::rsplit_once(host, b'.').map_or(host, |(_, l)| l).bytes().all(|b| b.is_ascii_digit()) {
        return host; // IPv6 / IPv4 literal (or all-numeric junk)
    }
    let mut dots = (0..host.len()).rev().filter(|&i| host.as_bytes().get(i) == Some(&b'.'));
    let Some(last) = dots.next() else { return host };
    let Some(second) = dots.next() else { return host };
    let tld = host.get(last + 1..).unwrap_or("");
    let sld = host.get(second + 1..last).unwrap_or("");
    let take_three = tld.len() == 2
        && matches!(
            sld,
            "co" | "com" | "net" | "org" | "gov" | "edu" | "ac" | "or" | "ne" | "go" | "gob" | "nic" | "mil" | "ltd" | "plc" | "sch"
        );
    if !take_three {
        return host.get(second + 1..).unwrap_or(host);
    }
    match dots.next() {
        Some(third) => host.get(third + 1..).unwrap_or(host),
        None => host,
    }
}

/// True when two hosts belong to the same site ([`site`] of their normalised forms). Empty
/// hosts are never same-site.
pub fn same_site(a: &str, b: &str) -> bool {
    if a.is_empty() || b.is_empty() {
        return false;
    }
    let (a, b) = (normalize_host(a), normalize_host(b));
    a == b || site(&a) == site(&b)
}

/// The raw `(name, value)` pairs of a query string (no `?`), split on `&`; empty pieces are
/// skipped. Nothing is decoded.
pub fn raw_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query.split('&').filter(|p| !p.is_empty()).map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// Percent-decodes `s`, with `+` as a space (form encoding). Malformed escapes are kept as
/// they are; when the escapes do not decode to UTF-8 (`%FF`), `s` comes back as written.
/// Borrows when there is nothing to decode.
pub fn decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'+' => out.push(b' '),
            b'%' => match (b.get(i + 1).and_then(|h| hex(*h)), b.get(i + 2).and_then(|l| hex(*l))) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            _ => out.push(c),
        }
        i += 1;
    }
    // Escapes that do not form UTF-8 (`%FF`): keep the text as written rather than carry
    // the lossy decoder in the wasm.
    String::from_utf8(out).map_or(Cow::Borrowed(s), Cow::Owned)
}

/// Appends `s` percent-encoded as a URL path segment or query value (everything but
/// `A-Z a-z 0-9 - . _ ~` is escaped, as `encodeURIComponent` does plus `!'()*`).
#[allow(clippy::indexing_slicing)] // a nibble (0..=15) indexes the 16-byte HEX table
pub fn push_encoded(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decoded `(name, value)` pairs of a query string.
pub fn pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    raw_pairs(query).map(|(n, v)| (decode(n), decode(v)))
}

/// The decoded value of the first parameter named `name` (ASCII case-insensitive, compared
/// after decoding the name).
pub fn query_get<'a>(query: &'a str, name: &str) -> Option<Cow<'a, str>> {
    raw_pairs(query).find(|(n, _)| decode(n).eq_ignore_ascii_case(name)).map(|(_, v)| decode(v))
}

/// Removes from `url` every query parameter whose decoded name equals one of `params`
/// (ASCII case-insensitive), in the query and in a query-like fragment (`#a=b&c=d` or
/// `#/route?a=b`, which OAuth implicit flows and hash routers use). Every other byte is kept
/// as it was, including the order and encoding of the remaining parameters; a query or
/// fragment left empty loses its `?` or `#`. Works on absolute URLs, relative ones, and bare
/// query strings (`?a=b`). Returns the input unchanged (borrowed) when nothing matches.
pub fn redact<'a, S: AsRef<str>>(url: &'a str, params: &[S]) -> Cow<'a, str> {
    if params.is_empty() || !url.contains(['?', '#']) {
        return Cow::Borrowed(url);
    }
    let (before_frag, fragment) = match url.split_once('#') {
        Some((a, f)) => (a, Some(f)),
        None => (url, None),
    };
    let (base, query) = match before_frag.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (before_frag, None),
    };
    let new_query = query.map(|q| filter_query(q, params));
    // The fragment's query part: after its first `?`, or the whole fragment when it has `=`.
    let new_fragment = fragment.map(|f| match f.split_once('?') {
        Some((route, q)) => {
            let q2 = filter_query(q, params);
            match q2 {
                Cow::Borrowed(_) => Cow::Borrowed(f),
                Cow::Owned(q2) if q2.is_empty() => Cow::Owned(route.to_owned()),
                Cow::Owned(q2) => Cow::Owned(join3(route, "?", &q2)),
            }
        }
        None if f.contains('=') && !f.contains('/') => filter_query(f, params),
        None => Cow::Borrowed(f),
    });
    let unchanged = matches!(new_query, None | Some(Cow::Borrowed(_))) && matches!(new_fragment, None | Some(Cow::Borrowed(_)));
    if unchanged {
        return Cow::Borrowed(url);
    }
    let mut out = String::with_capacity(url.len());
    out.push_str(base);
    if let Some(q) = new_query.filter(|q| !q.is_empty()) {
        out.push('?');
        out.push_str(&q);
    }
    if let Some(f) = new_fragment.filter(|f| !f.is_empty()) {
        out.push('#');
        out.push_str(&f);
    }
    Cow::Owned(out)
}

fn join3(a: &str, b: &str, c: &str) -> String {
    let mut s = String::with_capacity(a.len() + b.len() + c.len());
    s.push_str(a);
    s.push_str(b);
    s.push_str(c);
    s
}

/// The query `q` without the pieces named in `params`; borrowed when nothing was removed.
fn filter_query<'a, S: AsRef<str>>(q: &'a str, params: &[S]) -> Cow<'a, str> {
    let drop = |piece: &str| {
        let name = decode(piece.split_once('=').map_or(piece, |(n, _)| n));
        params.iter().any(|p| name.eq_ignore_ascii_case(p.as_ref()))
    };
    if !q.split('&').any(drop) {
        return Cow::Borrowed(q);
    }
    let mut out = String::with_capacity(q.len());
    for piece in q.split('&').filter(|p| !p.is_empty() && !drop(p)) {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(piece);
    }
    Cow::Owned(out)
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_parts() {
        let cases: &[(&str, Url)] = &[
            (
                "https://user:pw@WWW.Example.com:8443/a/b?x=1&y=2#frag",
                Url { scheme: "https", host: "WWW.Example.com", path: "/a/b", query: "x=1&y=2", fragment: "frag" },
            ),
            ("http://example.com", Url { scheme: "http", host: "example.com", ..Url::default() }),
            ("http://example.com?q", Url { scheme: "http", host: "example.com", query: "q", ..Url::default() }),
            (
                "android-app://com.google.android.gm/",
                Url { scheme: "android-app", host: "com.google.android.gm", path: "/", ..Url::default() },
            ),
            ("//cdn.example.com/x", Url { host: "cdn.example.com", path: "/x", ..Url::default() }),
            ("/path?a=b", Url { path: "/path", query: "a=b", ..Url::default() }),
            ("?a=b", Url { query: "a=b", ..Url::default() }),
            ("http://[::1]:8080/p", Url { scheme: "http", host: "[::1]", path: "/p", ..Url::default() }),
            ("http://127.0.0.1:3000/", Url { scheme: "http", host: "127.0.0.1", path: "/", ..Url::default() }),
            ("mailto:a@b.c", Url { scheme: "mailto", path: "a@b.c", ..Url::default() }),
            ("  https://a.b/  ", Url { scheme: "https", host: "a.b", path: "/", ..Url::default() }),
            (
                "https://a.b/x?u=http://c.d/?e#f?g",
                Url { scheme: "https", host: "a.b", path: "/x", query: "u=http://c.d/?e", fragment: "f?g" },
            ),
            ("", Url::default()),
            ("1http://x", Url { path: "1http://x", ..Url::default() }),
            ("http://[::1", Url { scheme: "http", host: "[::1", ..Url::default() }),
            ("https:\\\\evil.com\\x", Url { scheme: "https", path: "\\\\evil.com\\x", ..Url::default() }),
        ];
        for (s, want) in cases {
            assert_eq!(parse(s), *want, "{s}");
        }
    }

    #[test]
    fn decodes() {
        assert_eq!(decode("a+b%20c%2Bd"), "a b c+d");
        assert_eq!(decode("caf%C3%A9"), "café");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz%4"), "%zz%4");
        assert_eq!(decode("%FF%fe"), "%FF%fe");
        assert!(matches!(decode("plain"), Cow::Borrowed("plain")));
        assert_eq!(decode("%e2%82+x"), "%e2%82+x");
    }

    #[test]
    fn query_lookup_is_case_insensitive() {
        let q = "UTM_Source=Goo+gle&utm_medium=cpc&utm_medium=second&%75tm_term=a%26b&empty&=v";
        assert_eq!(query_get(q, "utm_source").as_deref(), Some("Goo gle"));
        assert_eq!(query_get(q, "utm_medium").as_deref(), Some("cpc"));
        assert_eq!(query_get(q, "utm_term").as_deref(), Some("a&b"));
        assert_eq!(query_get(q, "empty").as_deref(), Some(""));
        assert_eq!(query_get(q, "missing"), None);
        assert_eq!(pairs("a=1&&b").count(), 2);
    }

    #[test]
    fn sites() {
        for (host, want) in [
            ("shop.example.com", "example.com"),
            ("example.com", "example.com"),
            ("a.b.example.co.uk", "example.co.uk"),
            ("example.co.uk", "example.co.uk"),
            ("co.uk", "co.uk"),
            ("x.example.com.au", "example.com.au"),
            ("localhost", "localhost"),
            ("127.0.0.1", "127.0.0.1"),
            ("[::1]", "[::1]"),
            ("", ""),
            ("a.b.c.de", "c.de"),
        ] {
            assert_eq!(site(host), want, "{host}");
        }
        assert!(same_site("www.example.com", "example.com"));
        assert!(same_site("blog.example.com", "WWW.EXAMPLE.COM."));
        assert!(same_site("localhost", "localhost"));
        assert!(!same_site("example.com", "example.org"));
        assert!(!same_site("shop.example.co.uk", "other.co.uk"));
        assert!(!same_site("10.0.0.1", "10.0.0.2"));
        assert!(!same_site("", ""));
        assert_eq!(normalize_host("WWW.Example.COM."), "example.com");
        assert_eq!(normalize_host("www."), "www");
    }

    #[test]
    fn redacts_only_the_named_params() {
        let p = DEFAULT_REDACT_PARAMS;
        let cases = [
            ("https://a.com/p?email=x%40y.z&utm_source=g&Token=abc#top", "https://a.com/p?utm_source=g#top"),
            ("https://a.com/p?utm_source=g&%65mail=x", "https://a.com/p?utm_source=g"),
            ("https://a.com/p?EMAIL=x", "https://a.com/p"),
            ("https://a.com/p?email=x#frag", "https://a.com/p#frag"),
            ("https://a.com/p?a=1&&password=2&b=%41+c", "https://a.com/p?a=1&b=%41+c"),
            ("https://a.com/cb#access_token=t&state=s", "https://a.com/cb#state=s"),
            ("https://a.com/#/login?code=1&next=%2F", "https://a.com/#/login?next=%2F"),
            ("https://a.com/#/login?code=1", "https://a.com/#/login"),
            ("https://a.com/#id_token=1", "https://a.com/"),
            ("?auth=1&x=2", "?x=2"),
            ("/p?code", "/p"),
            ("https://a.com/p?emails=1&myemail=2", "https://a.com/p?emails=1&myemail=2"),
            ("https://a.com/p?x=1&y=2", "https://a.com/p?x=1&y=2"),
            ("https://a.com/#section", "https://a.com/#section"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input, p), want, "{input}");
        }
        let untouched = "https://a.com/p?Ä=%zz&b=1";
        assert!(matches!(redact(untouched, p), Cow::Borrowed(_)));
        assert_eq!(redact("https://a.com/?email=1", &[] as &[&str]), "https://a.com/?email=1");
        assert_eq!(redact("https://a.com/?Custom=1&b=2", &["custom".to_string()]), "https://a.com/?b=2");
    }

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("abc", 10), "abc");
        assert_eq!(truncate("😀", 3), "");
    }

    #[test]
    fn never_panics_on_odd_input() {
        let odd = ["%", "%%%", "?", "#", "?#", "://", "a:", "[", "http://@", "http://:", "http://[", "?=&=&", "%C3", "é?é=é#é", "\u{0}"];
        for s in odd {
            let u = parse(s);
            let _ = (site(u.host), normalize_host(u.host), same_site(u.host, "a.com"));
            let _ = pairs(u.query).count();
            let _ = redact(s, DEFAULT_REDACT_PARAMS);
            let _ = decode(s);
        }
    }
}

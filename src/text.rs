//! Text helpers shared by the persisted forms (the cart's `C1` in `cart.rs`, the journey in
//! `journey.rs`): backslash escaping of tab-separated fields and strict decimal parsing; and
//! `rsplit_once` at an ASCII byte and `owned` (a default list of texts as `Vec<String>`) for the
//! whole crate. One copy of each in the wasm instead of one per module.
//!
//! Owns: the escape alphabet (`\\`, `\t`, `\n`, `\r`), which both stored formats depend on.
//! Must never: panic on any input, or change the alphabet (stored values would stop reading).

/// The texts of a built-in list (the default redaction and conversion lists) as owned
/// strings, by a loop: one function for every such list, not one `Vec::from_iter` per site.
pub fn owned(list: &[&str]) -> Vec<String> {
    let mut out = Vec::with_capacity(list.len());
    for s in list {
        out.push((*s).to_owned());
    }
    out
}

/// Appends `s` with `\`, tab, LF and CR escaped (`\\`, `\t`, `\n`, `\r`).
/// `s` split at its last `sep`, an ASCII byte (so both sides are `str`s): what
/// `str::rsplit_once(char)` does, without the reverse `CharSearcher` it brings into the wasm
/// (its UTF-8 matching is ~700 B raw).
pub fn rsplit_once(s: &str, sep: u8) -> Option<(&str, &str)> {
    let i = s.bytes().rposition(|b| b == sep)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

pub fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// Reverses [`push_escaped`]; `None` on a dangling or unknown escape before `max` bytes of
/// output. A longer result is cut to `max` bytes (on a character boundary) when `cut`, else
/// `None`.
pub fn unescape(s: &str, max: usize, cut: bool) -> Option<String> {
    let mut out = String::with_capacity(s.len().min(max));
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        let c = match c {
            '\\' => match chars.next()? {
                '\\' => '\\',
                't' => '\t',
                'n' => '\n',
                'r' => '\r',
                _ => return None,
            },
            c => c,
        };
        if out.len() + c.len_utf8() > max {
            return cut.then_some(out);
        }
        out.push(c);
    }
    Some(out)
}

/// ASCII decimal digits only (no sign, no space), 1 to `max_digits` (at most 19) of them.
pub fn parse_u64(s: &str, max_digits: usize) -> Option<u64> {
    if s.is_empty() || s.len() > max_digits || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |v, b| v * 10 + u64::from(b - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_unescapes() {
        let mut s = String::new();
        push_escaped(&mut s, "a\\b\tc\nd\re€");
        assert_eq!(s, "a\\\\b\\tc\\nd\\re€");
        assert_eq!(unescape(&s, 100, false).as_deref(), Some("a\\b\tc\nd\re€"));
        for bad in ["\\", "a\\x", "\\q"] {
            assert_eq!(unescape(bad, 100, false), None, "{bad:?}");
            assert_eq!(unescape(bad, 100, true), None, "{bad:?}");
        }
        // Longer than `max`: cut on a character boundary, or refused.
        assert_eq!(unescape("ab€c", 4, true).as_deref(), Some("ab"));
        assert_eq!(unescape("ab€c", 4, false), None);
        assert_eq!(unescape("ab€", 5, false).as_deref(), Some("ab€"));
        // What follows the cut is not read.
        assert_eq!(unescape("abc\\q", 2, true).as_deref(), Some("ab"));
        assert_eq!(unescape("abc\\q", 2, false), None);
    }

    #[test]
    fn parses_plain_decimals() {
        assert_eq!(parse_u64("0", 15), Some(0));
        assert_eq!(parse_u64("007", 15), Some(7));
        assert_eq!(parse_u64("999999999999999", 15), Some(999_999_999_999_999));
        assert_eq!(parse_u64("1000000000000000", 15), None);
        assert_eq!(parse_u64("999999999999999999", 18), Some(999_999_999_999_999_999));
        for bad in ["", "-1", "+1", " 1", "1a", "١"] {
            assert_eq!(parse_u64(bad, 18), None, "{bad:?}");
        }
    }

    #[test]
    fn splits_at_the_last_byte_as_str_rsplit_once_does() {
        #[allow(clippy::disallowed_methods)] // the std behaviour it replaces
        fn std(s: &str, c: char) -> Option<(&str, &str)> {
            s.rsplit_once(c)
        }
        for (s, c) in [("a.b.c", '.'), ("abc", '.'), ("", '.'), (".", '.'), ("é.ü€.ø", '.'), ("u\tt", '\t'), ("x@y@z", '@')] {
            assert_eq!(rsplit_once(s, c as u8), std(s, c), "{s:?}");
        }
    }
}

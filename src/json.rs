//! The SDK's JSON: a string escaper for building messages, and a syntax validator for text the
//! core did not produce itself (properties handed over as JSON text, persisted outbox lines that
//! may be corrupted).
//!
//! Owns: JSON text. Must never: allocate per character, recurse without a depth bound, or panic
//! on any input.

/// Appends `s` to `out` as a JSON string literal (with quotes).
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xf) as usize] as char);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Appends `"key":` to `out`. `key` must not need escaping.
pub fn push_key(out: &mut String, key: &str) {
    out.push('"');
    out.push_str(key);
    out.push_str("\":");
}

/// Appends a finite number; non-finite numbers become `null` (JSON has no NaN).
pub fn push_num(out: &mut String, n: f64) {
    use core::fmt::Write;
    if !n.is_finite() {
        out.push_str("null");
    } else if n.fract() == 0.0 && n.abs() < 9.0e15 {
        let _ = write!(out, "{}", n as i64);
    } else {
        let _ = write!(out, "{n}");
    }
}

/// Maximum nesting accepted by [`validate`].
pub const MAX_DEPTH: usize = 64;

/// What kind of JSON value a text holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Object,
    Array,
    Scalar,
}

/// Checks that `s` is exactly one well-formed JSON value (surrounding whitespace allowed) with
/// nesting at most [`MAX_DEPTH`], and says what kind it is. Iterative: no recursion.
pub fn validate(s: &str) -> Option<Kind> {
    let b = s.as_bytes();
    let mut i = skip_ws(b, 0);
    let kind = match b.get(i) {
        Some(b'{') => Kind::Object,
        Some(b'[') => Kind::Array,
        Some(_) => Kind::Scalar,
        None => return None,
    };
    // Stack of open containers: true = object.
    let mut stack: [bool; MAX_DEPTH] = [false; MAX_DEPTH];
    let mut depth = 0usize;
    // State machine: expecting a value (or, right after an opener, a closer).
    let mut expect_value = true;
    loop {
        i = skip_ws(b, i);
        if expect_value {
            let c = *b.get(i)?;
            match c {
                b'{' | b'[' => {
                    if depth == MAX_DEPTH {
                        return None;
                    }
                    stack[depth] = c == b'{';
                    depth += 1;
                    i = skip_ws(b, i + 1);
                    let close = if c == b'{' { b'}' } else { b']' };
                    if b.get(i) == Some(&close) {
                        depth -= 1;
                        i += 1;
                        expect_value = false;
                        continue;
                    }
                    if c == b'{' {
                        i = object_key(b, i)?;
                    }
                    continue;
                }
                b'"' => i = string_end(b, i)?,
                b't' => i = literal(b, i, b"true")?,
                b'f' => i = literal(b, i, b"false")?,
                b'n' => i = literal(b, i, b"null")?,
                b'-' | b'0'..=b'9' => i = number_end(b, i)?,
                _ => return None,
            }
            expect_value = false;
        } else {
            if depth == 0 {
                return if skip_ws(b, i) == b.len() { Some(kind) } else { None };
            }
            let in_object = stack[depth - 1];
            match (b.get(i)?, in_object) {
                (b',', true) => {
                    i = object_key(b, skip_ws(b, i + 1))?;
                    expect_value = true;
                }
                (b',', false) => {
                    i += 1;
                    expect_value = true;
                }
                (b'}', true) | (b']', false) => {
                    depth -= 1;
                    i += 1;
                }
                _ => return None,
            }
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        i += 1;
    }
    i
}

/// Parses `"key"` then `:`; returns the index after the colon.
fn object_key(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let i = skip_ws(b, string_end(b, i)?);
    if b.get(i) != Some(&b':') {
        return None;
    }
    Some(i + 1)
}

fn string_end(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1; // opening quote
    loop {
        match *b.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => {
                match *b.get(i + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                    b'u' => {
                        let hex = b.get(i + 2..i + 6)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        i += 6;
                    }
                    _ => return None,
                }
            }
            0..=0x1f => return None,
            _ => i += 1,
        }
    }
}

fn literal(b: &[u8], i: usize, lit: &[u8]) -> Option<usize> {
    (b.get(i..i + lit.len())? == lit).then_some(i + lit.len())
}

fn number_end(b: &[u8], mut i: usize) -> Option<usize> {
    let digits = |b: &[u8], mut i: usize| {
        let s = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        (i > s).then_some(i)
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    if b.get(i) == Some(&b'0') {
        i += 1;
    } else {
        i = digits(b, i)?;
    }
    if b.get(i) == Some(&b'.') {
        i = digits(b, i + 1)?;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        i = digits(b, i)?;
    }
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_strings() {
        let mut s = String::new();
        push_str(&mut s, "a\"b\\c\nd\u{1}é😀");
        assert_eq!(s, r#""a\"b\\c\nd\u0001é😀""#);
        assert_eq!(validate(&s), Some(Kind::Scalar));
    }

    #[test]
    fn numbers() {
        let mut s = String::new();
        push_num(&mut s, 3.0);
        s.push(',');
        push_num(&mut s, -0.5);
        s.push(',');
        push_num(&mut s, f64::NAN);
        assert_eq!(s, "3,-0.5,null");
    }

    #[test]
    fn validates_good_json() {
        for ok in [
            "{}", "[]", " { } ", r#"{"a":1,"b":[true,false,null,"x",-1.5e3,{"c":{}}]}"#, "0", "\"\\u00e9\"",
            r#"[{"a":[]},[],[[]]]"#,
        ] {
            assert!(validate(ok).is_some(), "{ok}");
        }
        assert_eq!(validate(r#"{"a":1}"#), Some(Kind::Object));
        assert_eq!(validate("[1]"), Some(Kind::Array));
    }

    #[test]
    fn rejects_bad_json() {
        for bad in [
            "", "{", "}", "{\"a\"}", "{\"a\":}", "{a:1}", "[1,]", "[1 2]", "{\"a\":1,}", "01", "1.", "-",
            "\"abc", "\"\\x\"", "tru", "{}{}", "[}", "{]", "\"\u{1}\"", "{\"a\":1]", "nul",
        ] {
            assert_eq!(validate(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn bounds_depth_without_recursion() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert_eq!(validate(&deep), None);
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert_eq!(validate(&ok), Some(Kind::Array));
    }
}

//! The SDK's JSON: a string escaper for building messages, and a syntax validator for text the
//! core did not produce itself (properties handed over as JSON text, persisted outbox lines that
//! may be corrupted).
//!
//! Owns: JSON text. Must never: allocate per character, recurse without a depth bound, or panic
//! on any input.

/// Appends `s` to `out` as a JSON string literal (with quotes).
#[allow(clippy::indexing_slicing)] // a nibble (0..=15) indexes the 16-byte HEX table
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
        // `get` instead of indexing: `i` is always a char boundary (an ASCII byte), and `get`
        // keeps the panic-message machinery (Unicode tables) out of the wasm.
        out.push_str(s.get(start..i).unwrap_or_default());
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
    out.push_str(s.get(start..).unwrap_or_default());
    out.push('"');
}

/// Appends `"key":` to `out`. `key` must not need escaping.
pub fn push_key(out: &mut String, key: &str) {
    out.push('"');
    out.push_str(key);
    out.push_str("\":");
}

/// Appends a finite number; non-finite numbers become `null` (JSON has no NaN).
///
/// Integers print exactly; other numbers with up to 6 decimals (the SDK only formats
/// screen sizes, densities, numeric ids and config limits). Hand-written so the wasm does
/// not carry the ~25 KB of `f64` Display.
pub fn push_num(out: &mut String, n: f64) {
    if !n.is_finite() {
        out.push_str("null");
        return;
    }
    if n < 0.0 {
        out.push('-');
    }
    let a = n.abs();
    if a >= 1e15 {
        // Integral at this size: mantissa and exponent.
        let mut e = 0;
        let mut m = a;
        while m >= 1e15 {
            m /= 10.0;
            e += 1;
        }
        push_u64(out, m.round() as u64);
        out.push('e');
        push_u64(out, e);
        return;
    }
    // Integer and fraction apart: scaling the whole number would lose precision for large
    // integers (epoch milliseconds).
    let mut int = a.trunc() as u64;
    let mut frac = ((a - a.trunc()) * 1e6).round() as u64;
    if frac >= 1_000_000 {
        int += 1;
        frac -= 1_000_000;
    }
    push_micro_units(out, int, frac);
}

/// Appends `int` and a fraction in millionths (`19`, `990000` → `19.99`), trailing zeros
/// trimmed. `frac_micros` must be below 1,000,000.
pub fn push_micro_units(out: &mut String, int: u64, frac_micros: u64) {
    push_u64(out, int);
    let mut frac = frac_micros % 1_000_000;
    if frac != 0 {
        out.push('.');
        let mut div = 100_000;
        while frac != 0 {
            out.push((b'0' + (frac / div) as u8) as char);
            frac %= div;
            div /= 10;
        }
    }
}

/// Appends an unsigned integer in decimal.
pub fn push_u64(out: &mut String, mut v: u64) {
    // Digits from the right; u64::MAX has 20. Iterators and `get`: no bounds-check panics.
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    for slot in buf.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        i -= 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &b in buf.get(i..).unwrap_or_default() {
        out.push(b as char);
    }
}

/// Parses a non-negative decimal number (`12`, `1.5`); nothing else. Hand-written for size.
pub fn parse_decimal(s: &str) -> Option<f64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, "0"));
    if int.is_empty()
        || frac.is_empty()
        || int.len() > 15
        || frac.len() > 9
        || !(int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let mut v = 0.0;
    for b in int.bytes() {
        v = v * 10.0 + f64::from(b - b'0');
    }
    let mut scale = 0.1;
    for b in frac.bytes() {
        v += f64::from(b - b'0') * scale;
        scale /= 10.0;
    }
    Some(v)
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
#[allow(clippy::indexing_slicing)] // `stack[depth]` after `depth < MAX_DEPTH` is checked, `stack[depth - 1]` after `depth > 0`
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

/// The top-level members of a JSON object text, as (raw key token with quotes, raw value
/// text). `None` if `s` is not a valid object.
pub fn members(s: &str) -> Option<Vec<(&str, &str)>> {
    if validate(s)? != Kind::Object {
        return None;
    }
    let b = s.as_bytes();
    let mut i = skip_ws(b, 0) + 1;
    let mut out = Vec::new();
    loop {
        i = skip_ws(b, i);
        match b.get(i)? {
            b'}' => return Some(out),
            b',' => i = skip_ws(b, i + 1),
            _ => {}
        }
        let key_end = string_end(b, i)?;
        let key = s.get(i..key_end)?;
        let v = skip_ws(b, skip_ws(b, key_end) + 1);
        let v_end = value_end(b, v)?;
        out.push((key, s.get(v..v_end)?));
        i = v_end;
    }
}

/// The raw value of member `name` of a JSON object text (see [`members`]).
pub fn member<'a>(object: &'a str, name: &str) -> Option<&'a str> {
    members(object)?.into_iter().find(|(k, _)| k.get(1..k.len() - 1) == Some(name)).map(|(_, v)| v)
}

/// Decodes a JSON string token (with its quotes) to its text: `\uXXXX` escapes and surrogate
/// pairs included; a lone surrogate becomes U+FFFD. `None` if `raw` is not a valid string.
pub fn string_value(raw: &str) -> Option<String> {
    let b = raw.as_bytes();
    if b.first() != Some(&b'"') || string_end(b, 0)? != b.len() {
        return None;
    }
    let inner = raw.get(1..raw.len() - 1)?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    let hex4 = |chars: &mut core::str::Chars<'_>| -> Option<u32> {
        let mut v = 0;
        for _ in 0..4 {
            v = v * 16 + chars.next()?.to_digit(16)?;
        }
        Some(v)
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let c = match chars.next()? {
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'u' => {
                let hi = hex4(&mut chars)?;
                let code = if (0xD800..0xDC00).contains(&hi) {
                    // A low surrogate must follow; else U+FFFD and what follows is read as is.
                    // (`hex4` again rather than `from_str_radix`: one hex reader in the wasm.)
                    let mut after = chars.as_str().strip_prefix("\\u").unwrap_or_default().chars();
                    match hex4(&mut after) {
                        Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                            chars = after;
                            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                        }
                        _ => 0xFFFD,
                    }
                } else {
                    hi
                };
                char::from_u32(code).unwrap_or('\u{FFFD}')
            }
            c => c, // `"`, `\\`, `/`
        };
        out.push(c);
    }
    Some(out)
}

/// End of the (already validated) value starting at `i`.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match *b.get(j)? {
                    b'"' => {
                        j = string_end(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        b't' | b'n' => Some(i + 4),
        b'f' => Some(i + 5),
        _ => number_end(b, i),
    }
}

/// Merges two JSON objects: members of `patch` replace same-named members of `base`.
/// Falls back to `patch` (or `{}`) if either is not an object.
pub fn merge_objects(base: &str, patch: &str) -> String {
    let (Some(a), Some(p)) = (members(base), members(patch)) else {
        return if validate(patch) == Some(Kind::Object) { patch.to_owned() } else { "{}".to_owned() };
    };
    let mut out = String::with_capacity(base.len() + patch.len());
    out.push('{');
    let kept = a.iter().filter(|(k, _)| !p.iter().any(|(pk, _)| pk == k));
    for (i, (k, v)) in kept.chain(p.iter()).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push(':');
        out.push_str(v);
    }
    out.push('}');
    out
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
            b'\\' => match *b.get(i + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                b'u' => {
                    let hex = b.get(i + 2..i + 6)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    i += 6;
                }
                _ => return None,
            },
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
        let cases = [
            (3.0, "3"),
            (-0.5, "-0.5"),
            (f64::NAN, "null"),
            (0.0, "0"),
            (1.25, "1.25"),
            (2.0 / 3.0, "0.666667"),
            (1440.0, "1440"),
            (123_456_789_012.0, "123456789012"),
            (1e20, "100000000000000e6"),
            (-7.0, "-7"),
            (f64::INFINITY, "null"),
            (0.000_000_1, "0"),
            (1_795_399_445_123.0, "1795399445123"),
            (999_999_999_999.5, "999999999999.5"),
            (1.999_999_9, "2"),
            (1_700_000_000_000.25, "1700000000000.25"),
        ];
        for (n, want) in cases {
            let mut s = String::new();
            push_num(&mut s, n);
            assert_eq!(s, want, "{n}");
            if want != "null" {
                let back: f64 = s.parse().unwrap();
                assert!((back - n).abs() <= n.abs() * 1e-6 + 1e-6, "{n} -> {s}");
            }
        }
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal("12"), Some(12.0));
        assert_eq!(parse_decimal("1.5"), Some(1.5));
        assert_eq!(parse_decimal("0.25"), Some(0.25));
        for bad in ["", "-1", "1e3", "1.", ".5", "a", "1.2.3", " 1"] {
            assert_eq!(parse_decimal(bad), None, "{bad}");
        }
    }

    #[test]
    fn validates_good_json() {
        for ok in ["{}", "[]", " { } ", r#"{"a":1,"b":[true,false,null,"x",-1.5e3,{"c":{}}]}"#, "0", "\"\\u00e9\"", r#"[{"a":[]},[],[[]]]"#]
        {
            assert!(validate(ok).is_some(), "{ok}");
        }
        assert_eq!(validate(r#"{"a":1}"#), Some(Kind::Object));
        assert_eq!(validate("[1]"), Some(Kind::Array));
    }

    #[test]
    fn rejects_bad_json() {
        for bad in [
            "",
            "{",
            "}",
            "{\"a\"}",
            "{\"a\":}",
            "{a:1}",
            "[1,]",
            "[1 2]",
            "{\"a\":1,}",
            "01",
            "1.",
            "-",
            "\"abc",
            "\"\\x\"",
            "tru",
            "{}{}",
            "[}",
            "{]",
            "\"\u{1}\"",
            "{\"a\":1]",
            "nul",
        ] {
            assert_eq!(validate(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn members_and_merge() {
        let m = members(r#" { "a" : 1, "b":{"x":[1,"}",{}]}, "c":"s\"q", "d":null,"e":-1.5e2 } "#).unwrap();
        let keys: Vec<&str> = m.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, vec!["\"a\"", "\"b\"", "\"c\"", "\"d\"", "\"e\""]);
        assert_eq!(m[1].1, r#"{"x":[1,"}",{}]}"#);
        assert_eq!(m[4].1, "-1.5e2");
        assert_eq!(members("{}"), Some(vec![]));
        assert_eq!(members("[1]"), None);
        assert_eq!(merge_objects(r#"{"a":1,"b":2}"#, r#"{"b":3,"c":{"d":4}}"#), r#"{"a":1,"b":3,"c":{"d":4}}"#);
        assert_eq!(merge_objects("{}", "{}"), "{}");
        assert_eq!(merge_objects("garbage", r#"{"a":1}"#), r#"{"a":1}"#);
        let merged = merge_objects(r#"{"plan":"free","n":[1]}"#, r#"{"plan":"pro"}"#);
        assert_eq!(validate(&merged), Some(Kind::Object));
        assert_eq!(merged, r#"{"n":[1],"plan":"pro"}"#);
    }

    #[test]
    fn decodes_strings_and_finds_members() {
        for v in ["", "a\"b\\c/", "tab\tline\n\u{1}", "é€😀", "\u{8}\u{c}"] {
            let mut raw = String::new();
            push_str(&mut raw, v);
            assert_eq!(string_value(&raw).as_deref(), Some(v), "{raw}");
        }
        assert_eq!(string_value(r#""\u00e9\ud83d\ude00\/""#).as_deref(), Some("é😀/"));
        assert_eq!(string_value(r#""\ud83dx""#).as_deref(), Some("\u{FFFD}x"), "lone surrogate");
        for bad in ["", "\"", "\"a", "a\"", "\"\\q\"", "\"\\u12\"", "\"a\"b\""] {
            assert_eq!(string_value(bad), None, "{bad:?}");
        }
        let o = r#"{"state":"C1\t5\n","cart":{"x":1},"n":2}"#;
        assert_eq!(member(o, "state").and_then(string_value).as_deref(), Some("C1\t5\n"));
        assert_eq!(member(o, "cart"), Some(r#"{"x":1}"#));
        assert_eq!(member(o, "nope"), None);
        assert_eq!(member("[]", "state"), None);
    }

    #[test]
    fn bounds_depth_without_recursion() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert_eq!(validate(&deep), None);
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert_eq!(validate(&ok), Some(Kind::Array));
    }
}

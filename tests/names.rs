//! Every JavaScript copy of a name list the Rust side owns is checked here, natively and in
//! milliseconds: the `cart.*` and `consent.*` operations (src/names.rs) in
//! js/src/namespaces.js, the snippet, index.d.ts; the `stats()` counters in index.d.ts and the
//! inert instance of js/src/index.js; one method filter for the loader and the npm entry; the
//! app bridges the loader looks for (js/src/variant.js).

use std::collections::BTreeSet;

use omnitrail::names::{CartOp, ConsentOp, CART_OPERATIONS, CONSENT_OPERATIONS, STATS_COUNTERS};

fn read(path: &str) -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/").to_owned() + path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The text between `start` and the next `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap_or_else(|| panic!("no {start:?}")) + start.len();
    let len = text[from..].find(end).unwrap_or_else(|| panic!("no {end:?} after {start:?}"));
    &text[from..from + len]
}

fn set<'a>(names: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    names.into_iter().map(str::to_owned).collect()
}

/// Member names of a TypeScript interface body (`  name(…` or `  name:` / `  name?:`).
fn members(body: &str) -> BTreeSet<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("  "))
        .filter(|l| l.starts_with(|c: char| c.is_ascii_alphabetic()))
        .map(|l| l.split(|c: char| !c.is_ascii_alphanumeric()).next().unwrap_or_default().to_owned())
        .collect()
}

fn rust_cart() -> BTreeSet<String> {
    set(CART_OPERATIONS.iter().copied())
}

fn queued_cart() -> BTreeSet<String> {
    set(CART_OPERATIONS.iter().copied().filter(|n| !CartOp::parse(n).unwrap().answers()))
}

#[test]
fn cart_operations_parse_back_to_distinct_operations() {
    let ops: Vec<CartOp> = CART_OPERATIONS.iter().map(|n| CartOp::parse(n).unwrap()).collect();
    for (i, a) in ops.iter().enumerate() {
        assert!(!ops[..i].contains(a), "{a:?} twice");
    }
    assert_eq!(CartOp::parse("nope"), None);
}

#[test]
fn the_cart_namespace_lists_the_rust_operations() {
    let js = read("js/src/namespaces.js");
    let list = between(&js, "export const CART = [\"", "\"];");
    assert_eq!(set(list.split("\", \"")), rust_cart(), "CART in js/src/namespaces.js = CART_OPERATIONS in src/names.rs");
}

fn rust_consent() -> BTreeSet<String> {
    set(CONSENT_OPERATIONS.iter().copied())
}

fn queued_consent() -> BTreeSet<String> {
    set(CONSENT_OPERATIONS.iter().copied().filter(|n| !ConsentOp::parse(n).unwrap().answers()))
}

/// Checks that ReplayMethod in index.d.ts has `{namespace}{Name}` for every queued name.
fn replay_has(namespace: &str, queued: &BTreeSet<String>) {
    let dts = read("js/src/index.d.ts");
    let replay = between(&dts, "export type ReplayMethod =", ";");
    for name in queued {
        let queued = ["\"", namespace, &name[..1].to_ascii_uppercase(), &name[1..], "\""].concat();
        assert!(replay.contains(&queued), "ReplayMethod in index.d.ts lacks {queued}");
    }
}

#[test]
fn the_snippet_queues_every_cart_operation_that_answers_nothing() {
    let js = read("js/src/snippet.js");
    let list = between(&js, "ns(\"cart\", \"", "\")");
    assert_eq!(set(list.split(' ')), queued_cart(), "the snippet's cart names = CART_OPERATIONS without get/sync");
    replay_has("cart", &queued_cart());
}

#[test]
fn the_consent_namespace_is_the_rust_list_in_every_copy() {
    let js = read("js/src/namespaces.js");
    let list = between(&js, "export const CONSENT = [\"", "\"];");
    assert_eq!(set(list.split("\", \"")), rust_consent(), "CONSENT in js/src/namespaces.js = CONSENT_OPERATIONS in src/names.rs");
    let snippet = read("js/src/snippet.js");
    let queued = between(&snippet, "ns(\"consent\", \"", "\")");
    assert_eq!(set(queued.split(' ')), queued_consent(), "the snippet queues consent.* but get");
    // The snippet answers the calls it cannot queue, in both namespaces.
    assert!(
        snippet.contains("{ get: nil }") && snippet.contains("function nil() { return null; }"),
        "the snippet's namespaces answer get() with null"
    );
    replay_has("consent", &queued_consent());
    let dts = read("js/src/index.d.ts");
    assert_eq!(members(between(&dts, "export interface Consent {\n", "\n}")), rust_consent(), "interface Consent in index.d.ts");
    for old in ["setConsent(", "getConsent(", "onConsentChange("] {
        assert!(!dts.contains(old), "index.d.ts still declares {old}: the API is consent.*");
    }
}

#[test]
fn the_types_declare_the_rust_cart_operations_and_stats() {
    let dts = read("js/src/index.d.ts");
    assert_eq!(members(between(&dts, "export interface Cart {\n", "\n}")), rust_cart(), "interface Cart in index.d.ts");
    let mut stats = set(STATS_COUNTERS);
    stats.insert("role".to_owned());
    assert_eq!(members(between(&dts, "export interface Stats {\n", "\n}")), stats, "interface Stats in index.d.ts");
}

#[test]
fn the_inert_instance_answers_every_stats_counter() {
    let js = read("js/src/index.js");
    let body = between(&js, "stats: () => ({", "})");
    let keys = set(body.split(',').filter_map(|kv| kv.split(':').next()).map(str::trim).filter(|k| !k.is_empty()));
    let mut stats = set(STATS_COUNTERS);
    stats.insert("role".to_owned());
    assert_eq!(keys, stats, "NOOP.stats in js/src/index.js = STATS_COUNTERS + role");
}

#[test]
fn the_loader_and_the_npm_entry_share_one_method_filter() {
    for path in ["js/src/loader.js", "js/src/index.js"] {
        let js = read(path);
        assert!(js.contains("= wasmMethods("), "{path} takes its methods from wasmMethods (js/src/namespaces.js)");
        assert!(!js.contains("getOwnPropertyNames"), "{path} filters the wasm's methods itself");
    }
}

#[test]
fn the_loader_serves_the_full_build_where_the_bridge_finds_an_app() {
    let js = read("js/src/variant.js");
    let list = between(&js, "export const BRIDGES = [", "];");
    let js: Vec<String> = list.split(", ").map(|s| s.trim_matches('"').to_owned()).collect();
    // src/web/native_bridge.rs reads each candidate as nested `get(…, "key")` calls, one per
    // line (a dotted path in the wasm would cost bytes on every page): the quoted keys of each
    // line, joined by dots.
    let rust = read("src/web/native_bridge.rs");
    let candidates = between(&rust, "let candidates = [", "];");
    let rust: Vec<String> =
        candidates.lines().filter(|l| l.contains('"')).map(|l| l.split('"').skip(1).step_by(2).collect::<Vec<_>>().join(".")).collect();
    assert_eq!(js, rust, "BRIDGES in js/src/variant.js = the candidates of src/web/native_bridge.rs, in order");
}

#[test]
fn the_loader_looks_for_the_stored_cart_under_its_key() {
    let js = read("js/src/variant.js");
    let key = between(&js, "w.localStorage.getItem(prefix + \".", "\")");
    assert_eq!(key, omnitrail::cart::CART_KEY, "the stored cart's key in js/src/variant.js = CART_KEY in src/cart.rs");
}

//! Building Segment-spec messages as JSON text.
//!
//! Owns: the shape of every message the SDK emits (field names and order, the `context`
//! object). The page/environment part of `context` is rendered once per page and reused, so
//! a `track()` only writes its own fields.
//! Must never: touch storage, or re-serialise anything that was already JSON text.

use crate::json::{push_key, push_num, push_str};
use crate::time::push_iso8601;
use crate::wire::{MessageType, LIBRARY_NAME, LIBRARY_VERSION};

/// `context.page`: where the call happened.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PageContext {
    pub url: String,
    pub path: String,
    pub search: String,
    pub title: String,
    pub referrer: String,
}

/// The device/browser part of `context`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Environment {
    pub user_agent: String,
    /// The page's host (for first-party cookies; not sent).
    pub host: String,
    /// The browser's privacy signals (Global Privacy Control, Do Not Track).
    pub signals: crate::consent::Signals,
    pub locale: String,
    pub timezone: String,
    /// width, height, density
    pub screen: Option<(f64, f64, f64)>,
}

/// `context` rendered once: everything except the closing brace, so per-message fields can
/// follow.
#[derive(Clone, Debug, Default)]
pub struct ContextTemplate {
    open: String,
}

impl ContextTemplate {
    pub fn new(page: &PageContext, env: &Environment) -> ContextTemplate {
        let mut o = String::with_capacity(256 + page.url.len() * 2 + env.user_agent.len());
        o.push('{');
        push_key(&mut o, "library");
        o.push_str("{\"name\":\"");
        o.push_str(LIBRARY_NAME);
        o.push_str("\",\"version\":\"");
        o.push_str(LIBRARY_VERSION);
        o.push_str("\"},");
        push_key(&mut o, "page");
        push_page_fields(&mut o, page);
        o.push('}');
        for (k, v) in [("userAgent", &env.user_agent), ("locale", &env.locale), ("timezone", &env.timezone)] {
            if !v.is_empty() {
                o.push(',');
                push_key(&mut o, k);
                push_str(&mut o, v);
            }
        }
        if let Some((w, h, d)) = env.screen {
            o.push(',');
            push_key(&mut o, "screen");
            o.push_str("{\"width\":");
            push_num(&mut o, w);
            o.push_str(",\"height\":");
            push_num(&mut o, h);
            o.push_str(",\"density\":");
            push_num(&mut o, d);
            o.push('}');
        }
        ContextTemplate { open: o }
    }
}

/// Writes `{"path":…,"referrer":…,"search":…,"title":…,"url":…` (no closing brace).
fn push_page_fields(o: &mut String, page: &PageContext) {
    o.push('{');
    let fields = [("path", &page.path), ("referrer", &page.referrer), ("search", &page.search), ("title", &page.title), ("url", &page.url)];
    for (i, (k, v)) in fields.into_iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        push_key(o, k);
        push_str(o, v);
    }
}

/// The type-specific part of a call. JSON arguments (`properties`, `traits`) are object text
/// that the caller already validated.
#[derive(Clone, Copy, Debug)]
pub enum Body<'a> {
    Track { event: &'a str, properties: &'a str },
    Page { category: Option<&'a str>, name: Option<&'a str>, properties: &'a str, page: &'a PageContext },
    Screen { name: Option<&'a str>, properties: &'a str },
    Identify { traits: &'a str },
    Group { group_id: &'a str, traits: &'a str },
    Alias { previous_id: &'a str },
}

impl Body<'_> {
    pub fn kind(&self) -> MessageType {
        match self {
            Body::Track { .. } => MessageType::Track,
            Body::Page { .. } => MessageType::Page,
            Body::Screen { .. } => MessageType::Screen,
            Body::Identify { .. } => MessageType::Identify,
            Body::Group { .. } => MessageType::Group,
            Body::Alias { .. } => MessageType::Alias,
        }
    }
}

/// Who the message is about.
#[derive(Clone, Copy, Debug)]
pub struct Ids<'a> {
    pub message_id: &'a str,
    pub anonymous_id: &'a str,
    pub user_id: Option<&'a str>,
}

/// Everything [`encode`] needs besides the body.
#[derive(Clone, Copy, Debug)]
pub struct Envelope<'a> {
    pub ids: Ids<'a>,
    pub timestamp_ms: f64,
    pub context: &'a ContextTemplate,
    /// Extra `context` members as JSON object text (`{"a":1}`), from the call's options.
    pub extra_context: Option<&'a str>,
    /// `integrations` as JSON object text; `{}` when absent.
    pub integrations: Option<&'a str>,
    /// `context.sessionId` and whether this message starts the session.
    pub session: Option<crate::session::Mark>,
    /// More `context` members, already rendered with a leading comma
    /// (`,"campaign":{…},"omnitrail":{…}`).
    pub attribution: &'a str,
    /// `,"consent":{"categoryPreferences":{…}}` (or empty).
    pub consent: &'a str,
}

/// Encodes one message into `out` (appending). Returns where in `out` `env.consent` was
/// written (so that a message buffered before consent can be stamped again when it is granted).
pub fn encode(out: &mut String, body: &Body<'_>, env: &Envelope<'_>) -> usize {
    out.push_str("{\"type\":\"");
    out.push_str(body.kind().as_str());
    out.push_str("\",\"messageId\":\"");
    out.push_str(env.ids.message_id);
    out.push_str("\",\"timestamp\":\"");
    push_iso8601(out, env.timestamp_ms);
    out.push_str("\",\"anonymousId\":");
    push_str(out, env.ids.anonymous_id);
    if let Some(uid) = env.ids.user_id {
        out.push(',');
        push_key(out, "userId");
        push_str(out, uid);
    }
    match *body {
        Body::Track { event, properties } => {
            out.push(',');
            push_key(out, "event");
            push_str(out, event);
            out.push(',');
            push_key(out, "properties");
            out.push_str(properties);
        }
        Body::Page { category, name, properties, page } => {
            if let Some(c) = category {
                out.push(',');
                push_key(out, "category");
                push_str(out, c);
            }
            if let Some(n) = name {
                out.push(',');
                push_key(out, "name");
                push_str(out, n);
            }
            out.push(',');
            push_key(out, "properties");
            // Segment puts the page fields into `properties` too; the caller's win on conflict.
            push_page_fields(out, page);
            push_object_members(out, properties);
            out.push('}');
        }
        Body::Screen { name, properties } => {
            if let Some(n) = name {
                out.push(',');
                push_key(out, "name");
                push_str(out, n);
            }
            out.push(',');
            push_key(out, "properties");
            out.push_str(properties);
        }
        Body::Identify { traits } => {
            out.push(',');
            push_key(out, "traits");
            out.push_str(traits);
        }
        Body::Group { group_id, traits } => {
            out.push(',');
            push_key(out, "groupId");
            push_str(out, group_id);
            out.push(',');
            push_key(out, "traits");
            out.push_str(traits);
        }
        Body::Alias { previous_id } => {
            out.push(',');
            push_key(out, "previousId");
            push_str(out, previous_id);
        }
    }
    out.push(',');
    push_key(out, "context");
    out.push_str(&env.context.open);
    if let Some(s) = env.session {
        out.push_str(",\"sessionId\":");
        push_num(out, s.id);
        if s.start {
            out.push_str(",\"sessionStart\":true");
        }
    }
    let consent_at = out.len();
    out.push_str(env.consent);
    out.push_str(env.attribution);
    if let Some(extra) = env.extra_context {
        push_object_members(out, extra);
    }
    out.push('}');
    out.push(',');
    push_key(out, "integrations");
    out.push_str(env.integrations.unwrap_or("{}"));
    out.push('}');
    consent_at
}

/// Appends the members of a JSON object text (`{"a":1}` → `,"a":1`); nothing for `{}`.
fn push_object_members(out: &mut String, object: &str) {
    let inner = object.trim();
    let inner = inner.strip_prefix('{').and_then(|s| s.strip_suffix('}')).unwrap_or("").trim();
    if !inner.is_empty() {
        out.push(',');
        out.push_str(inner);
    }
}

/// Wraps encoded messages into a batch request body.
pub fn batch_body<'a>(messages: impl Iterator<Item = &'a str>, sent_at_ms: f64, write_key: &str, capacity: usize) -> String {
    let mut b = String::with_capacity(capacity + 96);
    b.push_str("{\"batch\":[");
    for (i, m) in messages.enumerate() {
        if i > 0 {
            b.push(',');
        }
        b.push_str(m);
    }
    b.push_str("],\"sentAt\":\"");
    push_iso8601(&mut b, sent_at_ms);
    b.push_str("\",\"writeKey\":");
    push_str(&mut b, write_key);
    b.push('}');
    b
}

/// Bytes a batch body adds around its messages (envelope + separators), for size planning.
pub const BATCH_OVERHEAD: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{validate, Kind};

    fn ctx() -> ContextTemplate {
        let page = PageContext {
            url: "http://shop.test/p?q=1".into(),
            path: "/p".into(),
            search: "?q=1".into(),
            title: "Shop \"best\"".into(),
            referrer: String::new(),
        };
        let env = Environment {
            user_agent: "UA".into(),
            host: "shop.test".into(),
            signals: Default::default(),
            locale: "en-US".into(),
            timezone: "Europe/Paris".into(),
            screen: Some((1280.0, 720.0, 2.0)),
        };
        ContextTemplate::new(&page, &env)
    }

    fn env(c: &ContextTemplate) -> Envelope<'_> {
        Envelope {
            ids: Ids { message_id: "m1", anonymous_id: "a1", user_id: Some("u1") },
            timestamp_ms: 0.0,
            context: c,
            extra_context: Some(r#"{"ip":"0.0.0.0"}"#),
            integrations: None,
            session: Some(crate::session::Mark { id: 1_700_000_000_000.0, start: true }),
            attribution: r#","campaign":{"source":"x"}"#,
            consent: "",
        }
    }

    #[test]
    fn every_type_encodes_valid_json() {
        let c = ctx();
        let page = PageContext { url: "u".into(), ..Default::default() };
        for body in [
            Body::Track { event: "E", properties: r#"{"a":1}"# },
            Body::Page { category: Some("c"), name: Some("n"), properties: r#"{"url":"x"}"#, page: &page },
            Body::Page { category: None, name: None, properties: "{}", page: &page },
            Body::Screen { name: None, properties: "{ }" },
            Body::Identify { traits: "{}" },
            Body::Group { group_id: "g", traits: r#"{"n":[1]}"# },
            Body::Alias { previous_id: "p" },
        ] {
            let mut out = String::new();
            encode(&mut out, &body, &env(&c));
            assert_eq!(validate(&out), Some(Kind::Object), "{out}");
            assert!(out.starts_with(&format!("{{\"type\":\"{}\"", body.kind().as_str())));
        }
    }

    #[test]
    fn batch_body_is_valid() {
        let b = batch_body(["{}", "{\"a\":1}"].into_iter(), 0.0, "k\"ey", 10);
        assert_eq!(b, r#"{"batch":[{},{"a":1}],"sentAt":"1970-01-01T00:00:00.000Z","writeKey":"k\"ey"}"#);
    }
}

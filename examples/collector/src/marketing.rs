//! The marketer's answers, computed from the store's rows (`store/marketing.rs`): the
//! attribution report (which channels bring the orders), a customer profile (who is this
//! customer, across devices), and segments (whom to talk to now).
//!
//! Rules that are not obvious:
//! - one person = the ids `people.rs` links (identify, alias, and ids seen together);
//! - a person's *first touch* is their earliest touch; their *last touch* is the latest
//!   touch that is not `direct`/`internal`, else the latest (the journey's "last non-direct");
//! - an *open cart* is the person's latest `cart_id` with more added than removed and no
//!   `Order Completed` for it (nor any order after its last change); it is *abandoned* when
//!   that last change is older than the asked number of hours;
//! - *consent* is the latest `categoryPreferences` the person was seen with; a segment for
//!   marketing keeps only people whose latest `marketing` is `true`.
//!
//! Owns: those rules and the answers' shapes. Must never: do I/O, or show a person outside
//! the rows it was given (the rows are already scoped to the admin token's write keys).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::attribution::{self, Conversion, Credit, Model, Settings, Touch};
use crate::people::People;
use crate::store::marketing::{EventRow, TouchRow};
use crate::store::{AttributionRows, ProfileRows, SegmentRows, TimelineRow};
use crate::timefmt;

/// Epoch ms of a stored time string (0 for one that does not parse: never from the store).
/// The stored format (`YYYY-MM-DDTHH:MM:SS.mmmZ`) is read directly (the views convert every
/// touch's time); anything else goes through the full parser.
pub fn ms(t: &str) -> i64 {
    stored_ms(t).unwrap_or_else(|| timefmt::parse(t).map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64).unwrap_or(0))
}

fn stored_ms(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() != 24 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[19] != b'.' || b[23] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter().try_fold(0i64, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0')))
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss, ms) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hh) * 60 + mm) * 60_000 + ss * 1000 + ms)
}

fn people_of(links: &[(String, String)], touches: &[TouchRow], events: &[EventRow]) -> People {
    let mut p = People::new();
    for (a, b) in links {
        p.link(a, b);
    }
    for t in touches {
        p.link(&t.anonymous_id, &t.user_id);
    }
    for e in events {
        p.link(&e.anonymous_id, &e.user_id);
    }
    p
}

/// Touches grouped by person, in time order, each touch once: the store keeps a touch per
/// (anonymousId, userId) pair it was seen with, so one touch seen before and after sign-in is
/// two rows of one person.
fn touches_by_person<'r>(p: &mut People, touches: impl IntoIterator<Item = &'r TouchRow>) -> HashMap<usize, Vec<Touch>> {
    let mut rows: HashMap<usize, Vec<&TouchRow>> = HashMap::new();
    for t in touches {
        if let Some(person) = p.person_of(&t.anonymous_id, &t.user_id) {
            rows.entry(person).or_default().push(t);
        }
    }
    rows.into_iter()
        .map(|(person, v)| {
            let v = distinct(v);
            (person, v.into_iter().map(|t| Touch { at_ms: ms(&t.at), channel: t.channel.clone() }).collect())
        })
        .collect()
}

#[derive(Debug, Serialize)]
pub struct ChannelCredit {
    pub channel: String,
    pub conversions: f64,
    pub revenue: f64,
}

#[derive(Debug, Serialize)]
pub struct AttributionReport {
    pub from: String,
    pub to: String,
    #[serde(rename = "lookbackDays")]
    pub lookback_days: f64,
    pub events: Vec<String>,
    pub conversions: usize,
    pub revenue: f64,
    /// Conversions with no touch in their window.
    #[serde(rename = "withoutTouch")]
    pub without_touch: usize,
    /// Model name → channels, most revenue first.
    pub models: BTreeMap<&'static str, Vec<ChannelCredit>>,
}

/// The attribution report under `models`.
pub fn attribution_report(rows: &AttributionRows, models: &[Model], s: &Settings, from: &str, to: &str, events: &[String]) -> AttributionReport {
    // People from the links and the conversions' own id pairs; only converting people's
    // touches are gathered (most touches belong to people who did not convert).
    let mut p = people_of(&rows.links, &[], &rows.conversions);
    let converting: std::collections::HashSet<usize> =
        rows.conversions.iter().filter_map(|c| p.person_of(&c.anonymous_id, &c.user_id)).collect();
    let wanted: Vec<&TouchRow> = rows
        .touches
        .iter()
        .filter(|t| p.person_of(&t.anonymous_id, &t.user_id).is_some_and(|x| converting.contains(&x)))
        .collect();
    let plain = touches_by_person(&mut p, wanted);
    let none: Vec<Touch> = Vec::new();
    let conversions: Vec<Conversion<'_>> = rows
        .conversions
        .iter()
        .map(|c| {
            let person = p.person_of(&c.anonymous_id, &c.user_id);
            let touches = person.and_then(|x| plain.get(&x)).unwrap_or(&none);
            Conversion { at_ms: ms(&c.at), revenue: c.revenue, touches }
        })
        .collect();
    let without_touch = conversions
        .iter()
        .filter(|c| attribution::weights(Model::FirstTouch, c.touches, c.at_ms, s)[0].0 == attribution::NO_TOUCH)
        .count();
    let mut out = BTreeMap::new();
    for &m in models {
        let mut list: Vec<ChannelCredit> = attribution::report(m, &conversions, s)
            .into_iter()
            .map(|(channel, Credit { conversions, revenue })| ChannelCredit { channel, conversions: round(conversions), revenue: round(revenue) })
            .collect();
        list.sort_by(|a, b| b.revenue.total_cmp(&a.revenue).then(b.conversions.total_cmp(&a.conversions)).then(a.channel.cmp(&b.channel)));
        out.insert(m.as_str(), list);
    }
    AttributionReport {
        from: from.to_string(),
        to: to.to_string(),
        lookback_days: s.lookback_ms as f64 / 86_400_000.0,
        events: events.to_vec(),
        conversions: rows.conversions.len(),
        revenue: round(rows.conversions.iter().map(|c| c.revenue).sum()),
        without_touch,
        models: out,
    }
}

fn round(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

// --- segments ------------------------------------------------------------------------------

/// The cart events segments read (and `Order Completed`).
pub const CART_EVENTS: [&str; 4] = ["Product Added", "Product Removed", "Cart Cleared", "Order Completed"];

/// A segment's conditions (all must hold). Windows are in ms before `now`.
#[derive(Clone, Debug, Default)]
pub struct SegmentFilter {
    pub first_channel: Option<String>,
    pub last_channel: Option<String>,
    pub did: Option<(String, i64)>,
    pub not_did: Option<(String, i64)>,
    /// Open cart whose last change is at least this old.
    pub abandoned_cart_ms: Option<i64>,
    /// Only people whose latest consent allows marketing.
    pub marketing_only: bool,
}

impl SegmentFilter {
    /// The events the rows must include, and from when.
    pub fn events(&self, now_ms: i64) -> (Vec<String>, Option<i64>) {
        let mut names = Vec::new();
        let mut since = Some(now_ms);
        for (e, within) in self.did.iter().chain(self.not_did.iter()) {
            names.push(e.clone());
            since = since.map(|s| s.min(now_ms - within));
        }
        if self.abandoned_cart_ms.is_some() {
            names.extend(CART_EVENTS.iter().map(|s| s.to_string()));
            since = None; // a cart may have been left long ago
        }
        (names, since)
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TouchSummary {
    pub channel: String,
    pub at: String,
    pub source: Option<String>,
    pub medium: Option<String>,
    pub campaign: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct OpenCart {
    #[serde(rename = "cartId")]
    pub cart_id: String,
    pub items: f64,
    #[serde(rename = "lastChange")]
    pub last_change: String,
}

/// One person of a segment.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Member {
    /// The user id when known, else the most recently seen anonymous id.
    pub id: String,
    #[serde(rename = "userIds")]
    pub user_ids: Vec<String>,
    #[serde(rename = "anonymousIds")]
    pub anonymous_ids: Vec<String>,
    #[serde(rename = "firstTouch")]
    pub first_touch: Option<TouchSummary>,
    #[serde(rename = "lastTouch")]
    pub last_touch: Option<TouchSummary>,
    #[serde(rename = "lastSeen")]
    pub last_seen: String,
    #[serde(rename = "marketingConsent")]
    pub marketing_consent: Option<bool>,
    pub cart: Option<OpenCart>,
}

fn summary(t: &TouchRow) -> TouchSummary {
    TouchSummary { channel: t.channel.clone(), at: t.at.clone(), source: t.source.clone(), medium: t.medium.clone(), campaign: t.campaign.clone() }
}

/// First and last (non-direct) touch of a set of touches (indices into `rows`).
fn first_last<'r>(rows: &'r [TouchRow], idx: &[usize]) -> (Option<&'r TouchRow>, Option<&'r TouchRow>) {
    let mut sorted: Vec<&TouchRow> = idx.iter().map(|&i| &rows[i]).collect();
    sorted.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.channel.cmp(&b.channel)));
    let first = sorted.first().copied();
    let last = sorted.iter().rev().find(|t| !matches!(t.channel.as_str(), "direct" | "internal")).or(sorted.last()).copied();
    (first, last)
}

/// The open cart of a person's cart events (any order), if any.
fn open_cart(events: &[&EventRow]) -> Option<OpenCart> {
    let latest = events.iter().filter(|e| e.event != "Order Completed" && e.cart_id.is_some()).max_by(|a, b| a.at.cmp(&b.at))?;
    let cart_id = latest.cart_id.clone()?;
    let mut mine: Vec<&&EventRow> = events.iter().filter(|e| e.cart_id.as_deref() == Some(cart_id.as_str())).collect();
    mine.sort_by(|a, b| a.at.cmp(&b.at));
    let mut items = 0.0;
    for e in &mine {
        match e.event.as_str() {
            "Product Added" => items += e.quantity.max(0.0),
            "Product Removed" => items -= e.quantity.max(0.0),
            "Cart Cleared" => items = 0.0,
            _ => {}
        }
    }
    let last_change = latest.at.clone();
    let ordered = events.iter().any(|e| e.event == "Order Completed" && (e.cart_id.as_deref() == Some(cart_id.as_str()) || e.at >= last_change));
    (!ordered && items > 0.0).then_some(OpenCart { cart_id, items, last_change })
}

/// The people matching `f`, most recently seen first.
pub fn segment(rows: &SegmentRows, f: &SegmentFilter, now_ms: i64) -> Vec<Member> {
    let mut p = people_of(&rows.links, &rows.touches, &rows.events);
    for c in &rows.consents {
        p.link(&c.anonymous_id, &c.user_id);
    }
    let mut touches: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, t) in rows.touches.iter().enumerate() {
        if let Some(x) = p.person_of(&t.anonymous_id, &t.user_id) {
            touches.entry(x).or_default().push(i);
        }
    }
    let mut events: HashMap<usize, Vec<&EventRow>> = HashMap::new();
    for e in &rows.events {
        if let Some(x) = p.person_of(&e.anonymous_id, &e.user_id) {
            events.entry(x).or_default().push(e);
        }
    }
    let mut consent: HashMap<usize, (&str, Option<bool>)> = HashMap::new();
    for c in &rows.consents {
        if let Some(x) = p.person_of(&c.anonymous_id, &c.user_id) {
            let slot = consent.entry(x).or_insert((c.at.as_str(), c.marketing));
            if c.at.as_str() >= slot.0 {
                *slot = (c.at.as_str(), c.marketing);
            }
        }
    }
    let did = |evs: Option<&Vec<&EventRow>>, (name, within): &(String, i64)| {
        evs.is_some_and(|v| v.iter().any(|e| &e.event == name && ms(&e.at) >= now_ms - within))
    };
    let user_set: std::collections::HashSet<&str> = rows
        .touches
        .iter()
        .map(|x| x.user_id.as_str())
        .chain(rows.events.iter().map(|x| x.user_id.as_str()))
        .chain(rows.links.iter().map(|(_, u)| u.as_str()))
        .chain(rows.consents.iter().map(|x| x.user_id.as_str()))
        .filter(|u| !u.is_empty())
        .collect();
    let groups = p.groups();
    let mut out = Vec::new();
    for (root, members) in groups {
        let t = touches.get(&root).map(Vec::as_slice).unwrap_or(&[]);
        let (first, last) = first_last(&rows.touches, t);
        if let Some(want) = &f.first_channel {
            if first.map(|x| &x.channel) != Some(want) {
                continue;
            }
        }
        if let Some(want) = &f.last_channel {
            if last.map(|x| &x.channel) != Some(want) {
                continue;
            }
        }
        let evs = events.get(&root);
        if f.did.as_ref().is_some_and(|d| !did(evs, d)) || f.not_did.as_ref().is_some_and(|d| did(evs, d)) {
            continue;
        }
        let marketing = consent.get(&root).and_then(|c| c.1);
        if f.marketing_only && marketing != Some(true) {
            continue;
        }
        let cart_events: Vec<&EventRow> = evs.map(|v| v.iter().copied().filter(|e| CART_EVENTS.contains(&e.event.as_str())).collect()).unwrap_or_default();
        let cart = open_cart(&cart_events);
        if let Some(age) = f.abandoned_cart_ms {
            if !cart.as_ref().is_some_and(|c| ms(&c.last_change) <= now_ms - age) {
                continue;
            }
        }
        // Ids: user ids are those seen as a userId; the rest are anonymous ids.
        let names: Vec<String> = members.iter().map(|&i| p.name(i).to_string()).collect();
        let (mut user_ids, mut anonymous_ids): (Vec<String>, Vec<String>) = names.into_iter().partition(|n| user_set.contains(n.as_str()));
        user_ids.sort();
        anonymous_ids.sort();
        let mut last_seen = String::new();
        for &i in t {
            last_seen = last_seen.max(rows.touches[i].at.clone());
        }
        for e in evs.into_iter().flatten() {
            last_seen = last_seen.max(e.at.clone());
        }
        let id = user_ids.first().cloned().or_else(|| anonymous_ids.first().cloned()).unwrap_or_default();
        out.push(Member {
            id,
            user_ids,
            anonymous_ids,
            first_touch: first.map(summary),
            last_touch: last.map(summary),
            last_seen,
            marketing_consent: marketing,
            cart,
        });
    }
    out.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then_with(|| a.id.cmp(&b.id)));
    out
}

/// A segment as CSV (RFC 4180 quoting; cells that a spreadsheet would run as a formula are
/// prefixed with `'`).
pub fn segment_csv(members: &[Member]) -> String {
    fn cell(out: &mut String, v: &str) {
        let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{v}") } else { v.to_string() };
        if v.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&v.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&v);
        }
    }
    let mut out = String::from("id,userIds,anonymousIds,firstChannel,firstTouchAt,lastChannel,lastTouchAt,lastSeen,marketingConsent,cartItems,cartLastChange\r\n");
    for m in members {
        let opt = |t: &Option<TouchSummary>, f: fn(&TouchSummary) -> &str| t.as_ref().map(|t| f(t).to_string()).unwrap_or_default();
        let cells = [
            m.id.clone(),
            m.user_ids.join(" "),
            m.anonymous_ids.join(" "),
            opt(&m.first_touch, |t| &t.channel),
            opt(&m.first_touch, |t| &t.at),
            opt(&m.last_touch, |t| &t.channel),
            opt(&m.last_touch, |t| &t.at),
            m.last_seen.clone(),
            m.marketing_consent.map(|b| b.to_string()).unwrap_or_default(),
            m.cart.as_ref().map(|c| c.items.to_string()).unwrap_or_default(),
            m.cart.as_ref().map(|c| c.last_change.clone()).unwrap_or_default(),
        ];
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            cell(&mut out, c);
        }
        out.push_str("\r\n");
    }
    out
}

// --- profile -------------------------------------------------------------------------------

/// Touches in time order, each touch once (same client time and channel).
fn distinct(mut v: Vec<&TouchRow>) -> Vec<&TouchRow> {
    v.sort_by(|a, b| (&a.client_at, &a.channel, &a.at).cmp(&(&b.client_at, &b.channel, &b.at)));
    v.dedup_by(|a, b| a.client_at == b.client_at && a.channel == b.channel);
    v.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.channel.cmp(&b.channel)));
    v
}

/// One person's profile document.
pub fn profile(rows: &ProfileRows, asked: &str, timeline_limit: usize) -> Value {
    let mut anonymous: Vec<&str> = Vec::new();
    let mut users: Vec<&str> = Vec::new();
    for m in &rows.messages {
        if let Some(a) = m.anonymous_id.as_deref().filter(|a| !anonymous.contains(a)) {
            anonymous.push(a);
        }
        if let Some(u) = m.user_id.as_deref().filter(|u| !users.contains(u)) {
            users.push(u);
        }
    }
    for id in &rows.ids {
        if !anonymous.contains(&id.as_str()) && !users.contains(&id.as_str()) && !rows.aliases.contains(id) {
            users.push(id);
        }
    }
    // Traits: identify traits, oldest first, later values win.
    let mut traits = Map::new();
    let mut consent = Value::Null;
    let mut sessions: BTreeMap<String, (String, String, u64, Vec<String>)> = BTreeMap::new();
    let mut orders = Vec::new();
    for m in rows.messages.iter().rev() {
        let raw: Value = serde_json::from_str(&m.raw).unwrap_or(Value::Null);
        if m.kind == "identify" {
            if let Some(Value::Object(t)) = raw.get("traits") {
                for (k, v) in t {
                    traits.insert(k.clone(), v.clone());
                }
            }
        }
        if let Some(c) = raw.pointer("/context/consent/categoryPreferences").filter(|c| c.is_object()) {
            consent = json!({"categoryPreferences": c, "at": m.at});
        }
        if let Some(s) = &m.session_id {
            let e = sessions.entry(s.clone()).or_insert_with(|| (m.at.clone(), m.at.clone(), 0, Vec::new()));
            e.1 = e.1.clone().max(m.at.clone());
            e.2 += 1;
            if let Some(a) = m.anonymous_id.as_ref().filter(|a| !e.3.contains(a)) {
                e.3.push(a.clone());
            }
        }
        if m.kind == "track" && m.event.as_deref() == Some("Order Completed") {
            let p = raw.get("properties");
            orders.push(json!({
                "orderId": p.and_then(|p| p.get("order_id")),
                "at": m.at,
                "revenue": p.and_then(|p| p.get("revenue").or_else(|| p.get("total"))),
                "currency": p.and_then(|p| p.get("currency")),
                "products": p.and_then(|p| p.get("products")).and_then(Value::as_array).map(Vec::len),
                "anonymousId": m.anonymous_id,
            }));
        }
    }
    let cart = rows
        .carts
        .iter()
        .max_by(|a, b| a.2.cmp(&b.2))
        .and_then(|(user, state, at)| {
            let c = omnitrail::cart::Cart::decode(state, crate::store::CART_REPLICA)?;
            let snapshot: Value = serde_json::from_str(&c.snapshot_json()).ok()?;
            Some(json!({"userId": user, "updatedAt": at, "cart": snapshot}))
        });
    let timeline: Vec<crate::viewer::Entry> = rows
        .messages
        .iter()
        .take(timeline_limit)
        .map(|m| {
            crate::viewer::classify(&TimelineRow {
                kind: m.kind.clone(),
                event: m.event.clone(),
                name: m.name.clone(),
                timestamp: m.at.clone(),
                received_at: m.received_at.clone(),
                raw: m.raw.clone(),
            })
        })
        .collect();
    let (first, last) = first_last(&rows.touches, &(0..rows.touches.len()).collect::<Vec<_>>());
    json!({
        "id": asked,
        "ids": {"anonymousIds": anonymous, "userIds": users, "aliases": rows.aliases, "linked": rows.ids},
        "traits": traits,
        "consent": consent,
        "firstTouch": first.map(summary),
        "lastTouch": last.map(summary),
        "touches": distinct(rows.touches.iter().collect()).into_iter().map(|t| json!({"at": t.at, "channel": t.channel, "source": t.source, "medium": t.medium, "campaign": t.campaign, "anonymousId": t.anonymous_id})).collect::<Vec<_>>(),
        "sessions": sessions.into_iter().rev().map(|(id, (start, end, n, devices))| json!({"sessionId": id, "start": start, "end": end, "messages": n, "anonymousIds": devices})).collect::<Vec<_>>(),
        "orders": orders.into_iter().rev().collect::<Vec<_>>(),
        "cart": cart,
        "messages": rows.messages.len(),
        "timeline": timeline,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::marketing::ConsentRow;

    fn touch(a: &str, u: &str, at: &str, ch: &str) -> TouchRow {
        TouchRow { anonymous_id: a.into(), user_id: u.into(), client_at: at.into(), at: at.into(), channel: ch.into(), source: None, medium: None, campaign: None }
    }

    fn ev(a: &str, u: &str, at: &str, event: &str, revenue: f64, cart: Option<&str>, qty: f64) -> EventRow {
        EventRow {
            anonymous_id: a.into(),
            user_id: u.into(),
            at: at.into(),
            event: event.into(),
            revenue,
            order_id: None,
            cart_id: cart.map(str::to_string),
            quantity: qty,
            currency: None,
        }
    }

    /// Ada: paid social on her phone (day 1), email on her laptop (day 5), signs in on both,
    /// orders on the laptop (day 6, 120). Bob: direct only, orders (day 6, 30). Cy: orders with
    /// no touch in the window (her only touch is 40 days earlier).
    fn shop() -> AttributionRows {
        AttributionRows {
            links: vec![("phone".into(), "ada".into()), ("laptop".into(), "ada".into())],
            touches: vec![
                touch("phone", "", "2024-05-01T10:00:00.000Z", "paid_social"),
                touch("laptop", "", "2024-05-05T10:00:00.000Z", "email"),
                touch("bob-anon", "", "2024-05-06T09:00:00.000Z", "direct"),
                touch("cy-anon", "", "2024-03-01T09:00:00.000Z", "organic_search"),
            ],
            conversions: vec![
                ev("laptop", "ada", "2024-05-06T10:00:00.000Z", "Order Completed", 120.0, None, 1.0),
                ev("bob-anon", "", "2024-05-06T10:00:00.000Z", "Order Completed", 30.0, None, 1.0),
                ev("cy-anon", "", "2024-05-06T10:00:00.000Z", "Order Completed", 10.0, None, 1.0),
            ],
        }
    }

    fn credit(r: &AttributionReport, model: &str, channel: &str) -> (f64, f64) {
        r.models[model].iter().find(|c| c.channel == channel).map(|c| (c.conversions, c.revenue)).unwrap_or((0.0, 0.0))
    }

    #[test]
    fn stored_times_read_fast_agree_with_the_parser() {
        for t in ["1970-01-01T00:00:00.000Z", "2024-02-29T23:59:59.999Z", "2000-03-01T00:00:00.001Z", "0001-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z", "2026-12-06T04:30:00.123Z"] {
            let slow = timefmt::parse(t).map(|x| (x.unix_timestamp_nanos() / 1_000_000) as i64).unwrap();
            assert_eq!(stored_ms(t), Some(slow), "{t}");
        }
        assert_eq!(stored_ms("2024-05-01T12:00:00Z"), None);
        assert_eq!(ms("2024-05-01T14:00:00+02:00"), ms("2024-05-01T12:00:00.000Z"));
    }

    #[test]
    fn a_touch_seen_before_and_after_sign_in_counts_once() {
        let mut rows = shop();
        // The laptop's email touch again, now with the user id (a second row in the store).
        rows.touches.push(touch("laptop", "ada", "2024-05-05T10:00:00.000Z", "email"));
        let r = attribution_report(&rows, &[Model::Linear], &Settings::default(), "2024-05-01", "2024-05-31", &[]);
        assert_eq!(credit(&r, "linear", "email"), (0.5, 60.0));
        assert_eq!(credit(&r, "linear", "paid_social"), (0.5, 60.0));
    }

    #[test]
    fn cross_device_journeys_are_credited_under_every_model() {
        let r = attribution_report(&shop(), &Model::ALL, &Settings::default(), "2024-05-01", "2024-05-31", &["Order Completed".into()]);
        assert_eq!((r.conversions, r.revenue, r.without_touch), (3, 160.0, 1));
        // Ada's touches: paid_social (phone, 5 days before) then email (laptop, 1 day before).
        assert_eq!(credit(&r, "last_non_direct", "email"), (1.0, 120.0));
        assert_eq!(credit(&r, "first_touch", "paid_social"), (1.0, 120.0));
        assert_eq!(credit(&r, "linear", "paid_social"), (0.5, 60.0));
        assert_eq!(credit(&r, "position_based", "email"), (0.5, 60.0));
        // Time decay: ages 5 and 1 days → 2^(-5/7) : 2^(-1/7).
        let (a, b) = (0.5f64.powf(5.0 / 7.0), 0.5f64.powf(1.0 / 7.0));
        let expected = round(a / (a + b) * 120.0);
        assert_eq!(credit(&r, "time_decay", "paid_social").1, expected);
        // Bob: direct only → direct under every model (last non-direct falls back to it).
        for m in Model::ALL {
            assert_eq!(credit(&r, m.as_str(), "direct"), (1.0, 30.0), "{m:?}");
            assert_eq!(credit(&r, m.as_str(), attribution::NO_TOUCH), (1.0, 10.0), "{m:?}: Cy's only touch is out of the window");
        }
    }

    #[test]
    fn segments_filter_by_touch_events_cart_and_consent() {
        let now = ms("2024-05-10T12:00:00.000Z");
        let rows = SegmentRows {
            links: vec![("phone".into(), "ada".into())],
            touches: vec![
                touch("phone", "", "2024-05-01T10:00:00.000Z", "paid_social"),
                touch("phone", "ada", "2024-05-08T10:00:00.000Z", "direct"),
                touch("bob-anon", "", "2024-05-02T10:00:00.000Z", "organic_search"),
            ],
            events: vec![
                ev("phone", "ada", "2024-05-08T10:00:00.000Z", "Product Added", 0.0, Some("c1"), 2.0),
                ev("phone", "ada", "2024-05-08T10:05:00.000Z", "Product Removed", 0.0, Some("c1"), 1.0),
                ev("bob-anon", "", "2024-05-09T10:00:00.000Z", "Product Added", 0.0, Some("c2"), 1.0),
                ev("bob-anon", "", "2024-05-09T10:10:00.000Z", "Order Completed", 20.0, Some("c2"), 1.0),
            ],
            consents: vec![
                ConsentRow { anonymous_id: "phone".into(), user_id: "".into(), at: "2024-05-01T10:00:00.000Z".into(), analytics: Some(true), marketing: Some(false) },
                ConsentRow { anonymous_id: "phone".into(), user_id: "ada".into(), at: "2024-05-08T10:00:00.000Z".into(), analytics: Some(true), marketing: Some(true) },
                ConsentRow { anonymous_id: "bob-anon".into(), user_id: "".into(), at: "2024-05-02T10:00:00.000Z".into(), analytics: Some(true), marketing: Some(false) },
            ],
        };
        let ids = |f: SegmentFilter| segment(&rows, &f, now).into_iter().map(|m| m.id).collect::<Vec<_>>();
        assert_eq!(ids(SegmentFilter::default()), ["bob-anon", "ada"]);
        assert_eq!(ids(SegmentFilter { first_channel: Some("paid_social".into()), ..Default::default() }), ["ada"]);
        // Ada's last touch is direct, so her last non-direct is paid social.
        assert_eq!(ids(SegmentFilter { last_channel: Some("paid_social".into()), ..Default::default() }), ["ada"]);
        let day = 86_400_000;
        assert_eq!(ids(SegmentFilter { did: Some(("Order Completed".into(), 7 * day)), ..Default::default() }), ["bob-anon"]);
        assert_eq!(ids(SegmentFilter { not_did: Some(("Order Completed".into(), 7 * day)), ..Default::default() }), ["ada"]);
        // Ada's cart (1 item left) has not changed for 2 days; Bob ordered his.
        assert_eq!(ids(SegmentFilter { abandoned_cart_ms: Some(24 * 3_600_000), ..Default::default() }), ["ada"]);
        assert_eq!(ids(SegmentFilter { abandoned_cart_ms: Some(3 * day), ..Default::default() }), Vec::<String>::new());
        // Only Ada's latest consent allows marketing.
        assert_eq!(ids(SegmentFilter { marketing_only: true, ..Default::default() }), ["ada"]);
        let ada = segment(&rows, &SegmentFilter { marketing_only: true, ..Default::default() }, now).remove(0);
        assert_eq!((ada.user_ids, ada.anonymous_ids), (vec!["ada".to_string()], vec!["phone".to_string()]));
        assert_eq!(ada.cart.unwrap().items, 1.0);
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let m = Member {
            id: "=HYPERLINK(\"x\")".into(),
            user_ids: vec![],
            anonymous_ids: vec!["a,b".into()],
            first_touch: None,
            last_touch: None,
            last_seen: "t".into(),
            marketing_consent: Some(true),
            cart: None,
        };
        let csv = segment_csv(&[m]);
        let line = csv.lines().nth(1).unwrap();
        assert!(line.starts_with("\"'=HYPERLINK(\"\"x\"\")\",,\"a,b\""), "{line}");
    }
}

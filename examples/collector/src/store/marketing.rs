//! The rows the marketer views are computed from (attribution report, profiles, segments),
//! whichever store loads them. The views' rules live in `attribution.rs`, `people.rs` and
//! `marketing.rs`; each backend only loads these rows (SQLite: `store/sqlite/marketing.rs`).
//!
//! Owns: the marketer views' row types. Must never: hold SQL, compute credit or decide who is
//! one person.

use serde::Serialize;

/// A pair of ids that belong to one person (identify/alias links, and the anonymousId/userId
/// pairs seen together on touches, conversions and consents). `""` = absent.
pub type Link = (String, String);

#[derive(Clone, Debug, Serialize)]
pub struct TouchRow {
    #[serde(rename = "anonymousId")]
    pub anonymous_id: String,
    #[serde(rename = "userId")]
    pub user_id: String,
    /// The touch's time as the SDK sent it (the same on every copy of the touch).
    #[serde(skip)]
    pub client_at: String,
    /// That time with its batch's skew correction (what the views compare).
    pub at: String,
    pub channel: String,
    pub source: Option<String>,
    pub medium: Option<String>,
    pub campaign: Option<String>,
}

/// A tracked event of interest (a conversion, a cart event, an order).
#[derive(Clone, Debug, Serialize)]
pub struct EventRow {
    #[serde(rename = "anonymousId")]
    pub anonymous_id: String,
    #[serde(rename = "userId")]
    pub user_id: String,
    pub at: String,
    pub event: String,
    /// `properties.revenue`, else `properties.total` (numbers or numeric strings), else 0.
    pub revenue: f64,
    #[serde(rename = "orderId")]
    pub order_id: Option<String>,
    #[serde(rename = "cartId")]
    pub cart_id: Option<String>,
    /// `properties.quantity` (cart events), else 1.
    pub quantity: f64,
    pub currency: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ConsentRow {
    #[serde(rename = "anonymousId")]
    pub anonymous_id: String,
    #[serde(rename = "userId")]
    pub user_id: String,
    pub at: String,
    pub analytics: Option<bool>,
    pub marketing: Option<bool>,
}

/// Messages of a set of ids (newest first), raw: the profile's traits, sessions and timeline.
#[derive(Clone, Debug)]
pub struct MessageRow {
    pub kind: String,
    pub event: Option<String>,
    pub name: Option<String>,
    pub anonymous_id: Option<String>,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub at: String,
    pub received_at: String,
    pub raw: String,
}

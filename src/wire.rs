//! The wire format: Segment-spec batches as sent to `POST {endpoint}/v1/batch`.
//!
//! Owns: the message types and the fields each one requires, the size limits, the paths and the
//! content type — everything the SDK and the collector must agree on. With the `serde` feature
//! it also provides serde-derived [`Batch`]/[`Message`] types for Rust consumers (the reference
//! collector). The SDK itself encodes messages with `json::Writer` (no serde in the wasm);
//! the golden fixtures in `tests/fixtures/` pin both to the same bytes-level shape.
//!
//! Must never: do I/O, or depend on a browser.

/// Path of the batch endpoint, relative to the configured collector endpoint.
pub const BATCH_PATH: &str = "/v1/batch";
/// Content type of SDK requests: CORS-simple, so no preflight, and usable by `sendBeacon`.
pub const CONTENT_TYPE: &str = "text/plain";
/// Segment's limit for one message, in bytes of JSON.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;
/// Segment's limit for one batch request body, in bytes.
pub const MAX_BATCH_BYTES: usize = 500 * 1024;
/// The budget browsers give all in-flight `keepalive` fetches / beacons of a page together.
pub const KEEPALIVE_BYTES: usize = 64 * 1024;
/// Query parameter marking a gzip body (`{endpoint}/v1/batch?compression=gzip`): unlike a
/// `Content-Encoding` header it keeps the request CORS-simple (no preflight). The body
/// also starts with gzip's magic bytes, which the reference collector detects as well; being
/// bytes, it carries no `Content-Type` (still CORS-simple).
pub const GZIP_QUERY: &str = "compression=gzip";
/// Whether an `Accept-Encoding` response header (RFC 7694: the request codings a server
/// reads; the reference collector sends `gzip` on every 2xx and exposes it through CORS)
/// lists gzip, e.g. `gzip`, `br, gzip;q=0.8`.
pub fn advertises_gzip(accept_encoding: &str) -> bool {
    accept_encoding.split(',').any(|c| c.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("gzip"))
}
/// Smallest batch body (bytes, uncompressed) worth gzipping: below it (a single small event)
/// gzip saves under ~350 bytes, less than the request's own headers, for an extra
/// asynchronous step before the request can leave.
pub const GZIP_MIN_BYTES: usize = 1024;
/// Path of the first-party identity endpoint (re-issues the anonymous-id cookie server-side).
pub const IDENTITY_PATH: &str = "/v1/identity";
/// Default name of the anonymous-id cookie; the collector's identity endpoint uses the same.
pub const DEFAULT_COOKIE_NAME: &str = "omnitrail_aid";
/// Library name reported in `context.library.name`.
pub const LIBRARY_NAME: &str = "omnitrail";
/// Library version reported in `context.library.version`.
pub const LIBRARY_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The Segment message types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    Track,
    Page,
    Screen,
    Identify,
    Group,
    Alias,
}

impl MessageType {
    pub const ALL: [MessageType; 6] =
        [MessageType::Track, MessageType::Page, MessageType::Screen, MessageType::Identify, MessageType::Group, MessageType::Alias];

    /// The value of the `type` field.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Track => "track",
            MessageType::Page => "page",
            MessageType::Screen => "screen",
            MessageType::Identify => "identify",
            MessageType::Group => "group",
            MessageType::Alias => "alias",
        }
    }

    pub fn parse(s: &str) -> Option<MessageType> {
        MessageType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Fields the Segment spec requires for this type, beyond the common
    /// `type`, `messageId`, `timestamp` and one of `userId`/`anonymousId`.
    pub fn required_fields(self) -> &'static [&'static str] {
        match self {
            MessageType::Track => &["event"],
            MessageType::Group => &["groupId"],
            MessageType::Alias => &["userId", "previousId"],
            MessageType::Page | MessageType::Screen | MessageType::Identify => &[],
        }
    }
}

#[cfg(feature = "serde")]
pub use typed::*;

#[cfg(feature = "serde")]
mod typed {
    use serde::{Deserialize, Serialize};
    use serde_json::{Map, Value};

    /// A batch request body.
    #[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
    pub struct Batch {
        pub batch: Vec<Value>,
        #[serde(rename = "sentAt", default, skip_serializing_if = "Option::is_none")]
        pub sent_at: Option<String>,
        #[serde(rename = "writeKey", default, skip_serializing_if = "Option::is_none")]
        pub write_key: Option<String>,
    }

    /// One message, with the fields every type shares typed and the rest kept verbatim.
    #[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
    pub struct Message {
        #[serde(rename = "type")]
        pub kind: String,
        #[serde(rename = "messageId")]
        pub message_id: String,
        #[serde(rename = "anonymousId", default, skip_serializing_if = "Option::is_none")]
        pub anonymous_id: Option<String>,
        #[serde(rename = "userId", default, skip_serializing_if = "Option::is_none")]
        pub user_id: Option<String>,
        /// Optional in the Segment spec (clients such as RudderStack send only
        /// `originalTimestamp`); empty when absent.
        #[serde(default)]
        pub timestamp: String,
        #[serde(default)]
        pub context: Map<String, Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub integrations: Option<Map<String, Value>>,
        /// Type-specific fields: `event`, `properties`, `name`, `traits`, `groupId`, `previousId`, …
        #[serde(flatten)]
        pub rest: Map<String, Value>,
    }
}

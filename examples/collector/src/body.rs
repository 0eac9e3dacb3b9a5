//! Reading a request body: the size limit (before and after decompression) and gzip.
//!
//! Owns: `Content-Length` pre-checks, the streaming limit, `Content-Encoding: gzip` /
//! `?compression=gzip` / gzip magic-byte detection, and a decompressed-size cap (no zip bombs).
//! Must never: buffer more than the limit, or interpret the bytes (that is `ingest`'s job).

use std::io::Read;

use axum::body::{Body, Bytes};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::header::{HeaderMap, CONTENT_ENCODING, CONTENT_LENGTH};

#[derive(Debug)]
pub enum BodyError {
    TooLarge { limit: usize },
    UnsupportedEncoding(String),
    BadGzip(String),
    Read(String),
    /// The client did not finish sending the body within [`READ_TIMEOUT`].
    Timeout,
}

/// Longest time a client may take to send a body (slow-loris guard; headers have their own
/// timeout in the connection layer).
pub const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge { limit } => write!(f, "request body exceeds {limit} bytes"),
            BodyError::UnsupportedEncoding(e) => write!(f, "unsupported Content-Encoding {e:?} (gzip or identity)"),
            BodyError::BadGzip(e) => write!(f, "invalid gzip body: {e}"),
            BodyError::Read(e) => write!(f, "could not read the request body: {e}"),
            BodyError::Timeout => write!(f, "request body not received within {} s", READ_TIMEOUT.as_secs()),
        }
    }
}

/// What a body looked like on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wire {
    /// Bytes as received (compressed when `gzip`).
    pub len: usize,
    /// The body was gzip (by header, query or magic bytes) and was decompressed.
    pub gzip: bool,
}

/// Reads at most `limit` bytes, decompressing gzip to at most `limit` bytes as well.
pub async fn read(body: Body, headers: &HeaderMap, query_gzip: bool, limit: usize) -> Result<Bytes, BodyError> {
    read_wire(body, headers, query_gzip, limit).await.map(|(b, _)| b)
}

/// [`read`], also telling how the body travelled.
pub async fn read_wire(body: Body, headers: &HeaderMap, query_gzip: bool, limit: usize) -> Result<(Bytes, Wire), BodyError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let header_gzip = match headers.get(CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase()) {
        None => false,
        Some(e) if e.is_empty() || e == "identity" => false,
        Some(e) if e == "gzip" || e == "x-gzip" => true,
        Some(e) => return Err(BodyError::UnsupportedEncoding(e)),
    };
    let bytes = match tokio::time::timeout(READ_TIMEOUT, Limited::new(body, limit).collect()).await {
        Err(_) => return Err(BodyError::Timeout),
        Ok(Ok(c)) => c.to_bytes(),
        Ok(Err(e)) if e.is::<LengthLimitError>() => return Err(BodyError::TooLarge { limit }),
        Ok(Err(e)) => return Err(BodyError::Read(e.to_string())),
    };
    let magic = bytes.len() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
    let wire = Wire { len: bytes.len(), gzip: header_gzip || query_gzip || magic };
    if wire.gzip {
        gunzip(&bytes, limit).map(|b| (Bytes::from(b), wire))
    } else {
        Ok((bytes, wire))
    }
}

fn gunzip(data: &[u8], limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    let decoder = flate2::read::MultiGzDecoder::new(data);
    decoder
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| BodyError::BadGzip(e.to_string()))?;
    if out.len() > limit {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(out)
}

/// Whether the query string asks for gzip (`compression=gzip`), for beacons that cannot set
/// `Content-Encoding`.
pub fn query_wants_gzip(query: Option<&str>) -> bool {
    query.is_some_and(|q| q.split('&').any(|kv| kv.eq_ignore_ascii_case(omnitrail::wire::GZIP_QUERY)))
}

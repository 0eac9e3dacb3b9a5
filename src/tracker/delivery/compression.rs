//! The gzip decision of the delivery component, per batch: whether a batch goes gzipped
//! (`compression` with what the endpoint advertised), what its gzipped size means for
//! keepalive, and the negotiation learnt from the collector's answers (`{prefix}.gz`).
//!
//! Owns: `Delivery::compress`, `Delivery::compressed`, `Delivery::learn_encoding`.
//! Must never: let a batch leave gzipped after the page sent its events plain at unload, or
//! compress for an endpoint that has not advertised gzip under `"auto"`.

use super::{BatchRequest, Delivery};
use crate::config::Compression;
use crate::ports::Storage;

impl Delivery {
    /// Whether to send `send` gzipped (the `compression` rule with what the endpoint
    /// advertised, unless the collector refused a compressed batch before); records it for
    /// [`Delivery::on_answer`]. A gzipped request leaves only once [`Delivery::compressed`]
    /// says so.
    pub fn compress(&mut self, send: &BatchRequest) -> bool {
        let yes = !self.compression_refused && self.set.compression.applies(send.body.len(), send.unload, self.gzip_advertised);
        if let Some(f) = self.in_flight.iter_mut().find(|f| f.batch_id == send.batch_id) {
            f.compressed = yes;
            f.compressing = yes;
            // Whether it goes with keepalive is decided on its gzipped size.
            f.keepalive &= !yes;
        }
        yes
    }

    /// The body of a batch being gzipped is ready, `gzipped` bytes (0: compressing failed and
    /// the plain body is ready to go): whether the request may leave now, and if so whether with
    /// keepalive (the quota counts the bytes sent: [`Delivery::keepalive_fits`]). It may not
    /// once the page going away has sent its events plain ([`Delivery::on_hidden`]), so they
    /// are not sent twice.
    pub fn compressed(&mut self, batch_id: u64, gzipped: usize) -> Option<bool> {
        let pos = self.in_flight.iter().position(|f| f.batch_id == batch_id && f.compressing)?;
        let bytes = self.in_flight.get(pos).map_or(0, |f| if gzipped > 0 { gzipped } else { f.bytes });
        let keepalive = bytes <= self.keepalive_fits();
        let f = self.in_flight.get_mut(pos)?;
        (f.compressing, f.keepalive, f.bytes) = (false, keepalive, bytes);
        Some(keepalive)
    }

    /// `compression: "auto"`: a 2xx says whether the endpoint reads gzip (its
    /// `Accept-Encoding`); a change is remembered for the next page loads.
    /// After a refusal on this page it is not learnt again before the next page load.
    pub(super) fn learn_encoding(&mut self, accepts_gzip: bool, storage: &mut dyn Storage) {
        let accepts_gzip = accepts_gzip && !self.compression_refused;
        if self.set.compression != Compression::Auto || accepts_gzip == self.gzip_advertised {
            return;
        }
        self.gzip_advertised = accepts_gzip;
        if accepts_gzip {
            let _ = storage.set(&self.gzip_key, &self.set.url);
        } else {
            storage.remove(&self.gzip_key);
        }
    }
}

//! Retention (`--retention-days N`): a background task that deletes, about every hour (and
//! shortly after start), the events received more than N days ago and the rows derived from
//! them (touches, identity links last seen before the cutoff); consents and carts are the
//! current state of a person and are kept. Every instance runs it; on PostgreSQL their deletes
//! simply find less to do.
//!
//! Owns: when the purge runs, its cutoff, and slicing it. Must never: delete anything received
//! after the cutoff, or hold the store for long (it deletes [`PURGE_SLICE`] rows per table per
//! call and yields between calls, so ingests interleave).

use std::time::Duration;

use crate::config::Retention;
use crate::log;
use crate::store::{Purged, Store, StoreError};
use crate::timefmt;

/// Most rows per table one purge call deletes.
pub const PURGE_SLICE: u32 = 10_000;
/// The first purge runs this long after start (not in the way of a starting instance).
const FIRST_RUN_AFTER: Duration = Duration::from_secs(10);

/// The cutoff `days` before `now`, in the stores' time format.
pub fn cutoff(now: time::OffsetDateTime, days: u32) -> String {
    timefmt::format(now - time::Duration::days(i64::from(days)))
}

/// Deletes everything older than `before`, slice by slice; the rows deleted.
pub async fn purge_before(store: &Store, before: &str) -> Result<Purged, StoreError> {
    let mut total = Purged::default();
    loop {
        let p = store.purge(before.to_string(), PURGE_SLICE).await?;
        total.messages += p.messages;
        total.touches += p.touches;
        total.links += p.links;
        total.keys += p.keys;
        if !p.more(PURGE_SLICE) {
            return Ok(total);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Starts the retention task; abort the handle at shutdown.
pub fn spawn(store: Store, retention: Retention, logging: bool) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::time::sleep(FIRST_RUN_AFTER.min(retention.every)).await;
        loop {
            let before = cutoff(timefmt::now(), retention.days);
            match purge_before(&store, &before).await {
                Ok(p) if logging && p != Purged::default() => log::info(
                    "retention purge",
                    crate::fields! {"before" => before, "messages" => p.messages, "touches" => p.touches, "links" => p.links, "keys" => p.keys},
                ),
                Ok(_) => {}
                Err(e) if logging => log::warn("retention purge failed; retried at the next run", crate::fields! {"error" => e.to_string()}),
                Err(_) => {}
            }
            tokio::time::sleep(retention.every).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreSpec;
    use crate::store::{IngestBatch, MessageFilter};

    fn batch(received_at: time::OffsetDateTime, ids: &[&str]) -> IngestBatch {
        let messages = ids
            .iter()
            .map(|id| {
                let raw = format!(
                    r#"{{"type":"identify","messageId":"{id}","anonymousId":"a-{id}","userId":"u","timestamp":"2024-05-01T12:00:00Z",
                        "context":{{"omnitrail":{{"touch":{{"at":"2024-05-01T12:00:00Z","channel":"email"}}}}}}}}"#
                );
                crate::validate::validate(&raw).expect("valid")
            })
            .collect();
        IngestBatch { write_key: "demo".into(), received_at, sent_at: None, context: None, integrations: None, messages }
    }

    #[test]
    fn cutoff_is_days_before_now() {
        let now = time::macros::datetime!(2026-03-10 12:00:00 UTC);
        assert_eq!(cutoff(now, 30), timefmt::format(time::macros::datetime!(2026-02-08 12:00:00 UTC)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn purge_deletes_only_what_is_older_than_the_cutoff_in_slices() {
        let (store, thread) = Store::open(&StoreSpec::Sqlite(":memory:".into())).await.unwrap();
        let now = timefmt::now();
        let old = now - time::Duration::days(40);
        let ids: Vec<String> = (0..25).map(|i| format!("old{i}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        store.ingest(batch(old, &refs)).await.unwrap();
        store.ingest(batch(now, &["new1"])).await.unwrap();
        let before = cutoff(now, 30);
        // Slices of 10: three calls for 25 rows.
        let p = store.purge(before.clone(), 10).await.unwrap();
        // (Touches go by their own time, 2024 here: the new message's touch is old too.)
        assert_eq!(p, Purged { messages: 10, touches: 10, links: 10, keys: 0 });
        assert!(p.more(10));
        let p = purge_before(&store, &before).await.unwrap();
        assert_eq!(p, Purged { messages: 15, touches: 16, links: 15, keys: 0 });
        let left = store.messages(MessageFilter::default()).await.unwrap();
        assert_eq!(left.len(), 1);
        assert!(left[0].contains("new1"));
        assert_eq!(store.purge(before, 10).await.unwrap(), Purged::default());
        store.close().await;
        thread.join();
    }
}

//! The delivery component alone, with the fakes: no tracker, no consent beyond the store.

use super::*;
use crate::config::Compression;
use crate::consent::Signals;
use crate::testing::{MemoryStorage, SeqIds};

fn setup() -> (Delivery, Store<MemoryStorage>, MemoryStorage, SeqIds) {
    let cfg = Config::new("wk", "http://127.0.0.1:9").validated().unwrap();
    let st = MemoryStorage::default();
    let store = Store::new(st.clone(), &cfg.storage_prefix, &cfg.consent, Signals::default());
    (Delivery::new(&cfg, "A", &st), store, st, SeqIds::seeded(1))
}

fn queue_n(d: &mut Delivery, store: &mut Store<MemoryStorage>, n: usize, now: f64) {
    for i in 0..n {
        let json = ["{\"type\":\"track\",\"i\":", if i % 2 == 0 { "0" } else { "1" }, "}"].concat();
        d.queue(json, 0..0, now, Collection::Allowed, &mut store.scope(Category::Collection));
    }
}

const A: Collection = Collection::Allowed;

#[test]
fn sends_nothing_until_elected_then_one_batch_at_a_time() {
    let (mut d, mut store, _, mut ids) = setup();
    queue_n(&mut d, &mut store, 20, 0.0);
    assert!(d.poll(1.0, A, &mut store.scope(Category::Collection), &mut ids).is_none(), "undecided");
    d.become_leader(&mut store.scope(Category::Collection), 1.0, Succession::Free);
    let b = d.poll(1.0, A, &mut store.scope(Category::Collection), &mut ids).expect("flushAt reached");
    assert_eq!((b.batch_id, b.events, b.keepalive, b.unload), (1, 20, true, false), "small: with keepalive");
    queue_n(&mut d, &mut store, 20, 2.0);
    assert!(d.poll(2.0, A, &mut store.scope(Category::Collection), &mut ids).is_none(), "one in flight");
    d.on_outcome(b.batch_id, Outcome::Ack, 3.0, &mut store.scope(Category::Collection), &mut ids);
    assert_eq!(d.stats().delivered, 20);
    assert!(d.poll(3.0, A, &mut store.scope(Category::Collection), &mut ids).is_some());
}

#[test]
fn retries_back_off_and_a_413_splits_the_batch() {
    let (mut d, mut store, _, mut ids) = setup();
    d.become_leader(&mut store.scope(Category::Collection), 0.0, Succession::Free);
    queue_n(&mut d, &mut store, 20, 0.0);
    let b = d.poll(0.0, A, &mut store.scope(Category::Collection), &mut ids).unwrap();
    let answer = Answer::Http { status: 503, retry_after: Some("10"), accept_encoding: None };
    d.on_answer(b.batch_id, answer, 0.0, &mut store.scope(Category::Collection), &mut ids);
    assert_eq!(d.stats().retries, 1);
    assert!(d.poll(5_000.0, A, &mut store.scope(Category::Collection), &mut ids).is_none(), "Retry-After is a floor");
    assert!(d.wake(A).is_some_and(|t| t >= 10_000.0));
    let b = d.poll(20_000.0, A, &mut store.scope(Category::Collection), &mut ids).unwrap();
    d.on_outcome(b.batch_id, Outcome::TooLarge, 20_000.0, &mut store.scope(Category::Collection), &mut ids);
    let half = d.poll(20_000.0, A, &mut store.scope(Category::Collection), &mut ids).unwrap();
    assert_eq!(half.events, 10);
}

#[test]
fn pending_consent_sends_nothing_and_a_follower_hands_persisted_events_over() {
    let (mut d, mut store, st, mut ids) = setup();
    d.become_leader(&mut store.scope(Category::Collection), 0.0, Succession::Free);
    queue_n(&mut d, &mut store, 25, 0.0);
    assert!(d.poll(0.0, Collection::Pending, &mut store.scope(Category::Collection), &mut ids).is_none());
    assert_eq!(d.wake(Collection::Pending), None);
    d.become_follower(&mut store.scope(Category::Collection), 0.0);
    assert!(st.dump().keys().any(|k| k.starts_with("ot1.q.A.")), "persisted for the leader");
    assert!(d.poll(0.0, A, &mut store.scope(Category::Collection), &mut ids).is_none(), "nothing of its own left");
}

#[test]
fn the_hidden_page_sends_with_keepalive_and_keeps_no_copy_unless_refused() {
    let (mut d, mut store, st, mut ids) = setup();
    d.become_leader(&mut store.scope(Category::Collection), 0.0, Succession::Free);
    queue_n(&mut d, &mut store, 3, 0.0);
    Component::<MemoryStorage>::persist(&mut d, &mut store.scope(Category::Collection), 0.0);
    assert_eq!(st.keys("ot1.q.").len(), 1, "persisted");
    let b = d.on_hidden(1.0, A, &mut store.scope(Category::Collection), true).unwrap();
    assert!(b.keepalive);
    assert_eq!(b.events, 3);
    // The browser refused it at once (over the keepalive quota): nothing to hand over.
    d.on_answer(b.batch_id, Answer::NoAnswer, 1.0, &mut store.scope(Category::Collection), &mut ids);
    d.hand_over(&mut store.scope(Category::Collection));
    Component::<MemoryStorage>::persist(&mut d, &mut store.scope(Category::Collection), 1.0);
    assert_eq!(st.dump().values().map(|v| v.lines().count()).sum::<usize>(), 3, "kept for the next page");
    // Shown again and elected: they go again; taken this time.
    d.become_leader(&mut store.scope(Category::Collection), 2.0, Succession::Free);
    let b = d.on_hidden(3.0, A, &mut store.scope(Category::Collection), true).unwrap();
    assert_eq!(b.events, 3);
    d.hand_over(&mut store.scope(Category::Collection));
    assert!(st.dump().is_empty(), "handed to the browser: no copy for the next page");
    Component::<MemoryStorage>::persist(&mut d, &mut store.scope(Category::Collection), 3.0);
    assert!(st.dump().is_empty(), "and none written back while in flight");
    // The page is gone: the browser detaches the request (its promise may reject): sent.
    d.on_answer(b.batch_id, Answer::NoAnswer, 4.0, &mut store.scope(Category::Collection), &mut ids);
    Component::<MemoryStorage>::persist(&mut d, &mut store.scope(Category::Collection), 4.0);
    assert!(st.dump().is_empty() && d.is_idle());
}

#[test]
fn flush_settles_on_the_cores_answer_and_the_app_reports_real_outcomes() {
    let (mut d, mut store, _, mut ids) = setup();
    d.become_leader(&mut store.scope(Category::Collection), 0.0, Succession::Free);
    queue_n(&mut d, &mut store, 2, 0.0);
    d.flush();
    let b = d.poll(0.0, A, &mut store.scope(Category::Collection), &mut ids).unwrap();
    assert_eq!(d.settle_flush(false), None, "in flight");
    d.on_answer(b.batch_id, Answer::Handed { accepted: false }, 1.0, &mut store.scope(Category::Collection), &mut ids);
    assert_eq!(d.settle_flush(d.wake(A).is_none()), Some(false), "the app did not take it: failed, retried later");
    assert_eq!(d.stats().retries, 1);
    let b = d.poll(60_000.0, A, &mut store.scope(Category::Collection), &mut ids).unwrap();
    d.on_answer(b.batch_id, Answer::Handed { accepted: true }, 60_001.0, &mut store.scope(Category::Collection), &mut ids);
    assert_eq!(d.settle_flush(d.wake(A).is_none()), Some(true), "everything acknowledged");
    assert_eq!(d.stats().delivered, 2);
}

#[test]
fn a_rejected_batch_settles_flush_as_not_delivered() {
    let (mut d, mut store, _, mut ids) = setup();
    d.become_leader(&mut store.scope(Category::Collection), 0.0, Succession::Free);
    queue_n(&mut d, &mut store, 1, 0.0);
    d.flush();
    let b = d.poll(0.0, A, &mut store.scope(Category::Collection), &mut ids).unwrap();
    d.on_answer(
        b.batch_id,
        Answer::Http { status: 400, retry_after: None, accept_encoding: None },
        1.0,
        &mut store.scope(Category::Collection),
        &mut ids,
    );
    assert!(d.is_idle());
    assert_eq!(d.settle_flush(d.wake(A).is_none()), Some(false));
}

fn with_compression(c: Compression, endpoint: &str, st: &MemoryStorage) -> Delivery {
    let mut cfg = Config::new("wk", endpoint).validated().unwrap();
    cfg.compression = c;
    Delivery::new(&cfg, "A", st)
}

/// Queues 20 events (over the gzip threshold) and takes them as a batch.
fn big_batch(d: &mut Delivery, store: &mut Store<MemoryStorage>, ids: &mut SeqIds, now: f64) -> BatchRequest {
    for _ in 0..20 {
        let json = ["{\"type\":\"track\",\"pad\":\"", &"x".repeat(60), "\"}"].concat();
        d.queue(json, 0..0, now, Collection::Allowed, &mut store.scope(Category::Collection));
    }
    let b = d.poll(now, A, &mut store.scope(Category::Collection), ids).expect("flushAt reached");
    assert!(b.body.len() >= crate::wire::GZIP_MIN_BYTES, "{} B", b.body.len());
    b
}

fn answer(d: &mut Delivery, store: &mut Store<MemoryStorage>, ids: &mut SeqIds, b: &BatchRequest, status: u16, enc: Option<&str>) {
    let a = Answer::Http { status, retry_after: None, accept_encoding: enc };
    d.on_answer(b.batch_id, a, 1.0, &mut store.scope(Category::Collection), ids);
}

#[test]
fn accept_encoding_lists_gzip() {
    use crate::wire::advertises_gzip;
    for yes in ["gzip", "GZIP", "br, gzip", " deflate , gzip;q=0.5", "gzip,br"] {
        assert!(advertises_gzip(yes), "{yes}");
    }
    for no in ["", "br", "x-gzip", "gzipped", "identity, deflate", ";gzip"] {
        assert!(!advertises_gzip(no), "{no}");
    }
}

#[test]
fn auto_is_plain_until_the_endpoint_advertises_gzip_and_remembers_it_per_endpoint() {
    let (_, mut store, st, mut ids) = setup();
    let mut d = with_compression(Compression::Auto, "http://127.0.0.1:9", &st);
    d.become_leader(&mut store.scope(Category::Collection), 0.0, Succession::Free);
    let b = big_batch(&mut d, &mut store, &mut ids, 0.0);
    assert!(!d.compress(&b), "nothing advertised yet: plain");
    assert!(d.compressed(b.batch_id, 0).is_none(), "a plain request has nothing to wait for");
    answer(&mut d, &mut store, &mut ids, &b, 200, Some("gzip"));
    assert_eq!(st.dump().get("ot1.gz").map(String::as_str), Some("http://127.0.0.1:9/v1/batch"));
    let b = big_batch(&mut d, &mut store, &mut ids, 1.0);
    assert!(d.compress(&b), "advertised: gzip");
    assert!(d.compressed(b.batch_id, 500).is_some(), "the gzipped request leaves");
    answer(&mut d, &mut store, &mut ids, &b, 200, Some("gzip"));
    assert_eq!(d.stats().delivered, 40);

    // The next page load remembers it for this endpoint, not for another one.
    let mut next = with_compression(Compression::Auto, "http://127.0.0.1:9", &st);
    next.become_leader(&mut store.scope(Category::Collection), 2.0, Succession::Free);
    let b = big_batch(&mut next, &mut store, &mut ids, 2.0);
    assert!(next.compress(&b), "remembered across page loads");
    let mut other = with_compression(Compression::Auto, "http://127.0.0.1:8", &st);
    other.become_leader(&mut store.scope(Category::Collection), 2.0, Succession::Free);
    let b2 = big_batch(&mut other, &mut store, &mut ids, 2.0);
    assert!(!other.compress(&b2), "another endpoint said nothing");

    // A 2xx that no longer advertises it (another collector behind the same URL): plain again.
    answer(&mut next, &mut store, &mut ids, &b, 200, None);
    assert_eq!(st.dump().get("ot1.gz"), None);
    let b = big_batch(&mut next, &mut store, &mut ids, 3.0);
    assert!(!next.compress(&b));
}

#[test]
fn auto_never_compresses_for_an_endpoint_that_never_advertised() {
    let (_, mut store, st, mut ids) = setup();
    let mut d = with_compression(Compression::Auto, "http://127.0.0.1:9", &st);
    d.become_leader(&mut store.scope(Category::Collection), 0.0, Succession::Free);
    for i in 0..5 {
        let b = big_batch(&mut d, &mut store, &mut ids, i as f64 * 100_000.0);
        assert!(!d.compress(&b), "batch {i}");
        // Errors do not teach anything either, whatever they carry.
        answer(&mut d, &mut store, &mut ids, &b, if i == 2 { 503 } else { 200 }, if i == 2 { Some("gzip") } else { Some("br") });
    }
    assert!(!st.dump().keys().any(|k| k == "ot1.gz"));
}

#[test]
fn a_refused_gzip_batch_goes_again_plain_and_the_endpoint_is_forgotten() {
    let (_, mut store, st, mut ids) = setup();
    st.clone().set("ot1.gz", "http://127.0.0.1:9/v1/batch").unwrap();
    let mut d = with_compression(Compression::Auto, "http://127.0.0.1:9", &st);
    d.become_leader(&mut store.scope(Category::Collection), 0.0, Succession::Free);
    let b = big_batch(&mut d, &mut store, &mut ids, 0.0);
    assert!(d.compress(&b), "remembered from an earlier page");
    assert!(d.compressed(b.batch_id, 500).is_some());
    answer(&mut d, &mut store, &mut ids, &b, 415, None);
    assert_eq!(st.dump().get("ot1.gz"), None, "forgotten");
    let again = d.poll(1.0, A, &mut store.scope(Category::Collection), &mut ids).expect("sent again at once");
    assert_eq!(again.events, 20);
    assert!(!d.compress(&again));
    answer(&mut d, &mut store, &mut ids, &again, 200, Some("gzip"));
    assert_eq!((d.stats().delivered, d.stats().rejected), (20, 0));
    assert_eq!(st.dump().get("ot1.gz"), None, "not learnt again on this page");
    let b = big_batch(&mut d, &mut store, &mut ids, 2.0);
    assert!(!d.compress(&b), "not on this page any more, whatever it advertises");
}

#[test]
fn gzip_and_none_ask_nothing_and_store_nothing() {
    for (c, gz) in [(Compression::Gzip, true), (Compression::None, false)] {
        let (_, mut store, st, mut ids) = setup();
        let mut d = with_compression(c, "http://127.0.0.1:9", &st);
        d.become_leader(&mut store.scope(Category::Collection), 0.0, Succession::Free);
        for i in 0..2 {
            let b = big_batch(&mut d, &mut store, &mut ids, i as f64);
            assert_eq!(d.compress(&b), gz, "{c:?}");
            answer(&mut d, &mut store, &mut ids, &b, 200, Some("gzip"));
        }
        assert!(!st.dump().keys().any(|k| k == "ot1.gz"), "{c:?}");
    }
}

#[test]
fn a_batch_still_being_gzipped_goes_plain_with_keepalive_when_the_page_is_hidden() {
    let (_, mut store, st, mut ids) = setup();
    let mut d = with_compression(Compression::Gzip, "http://127.0.0.1:9", &st);
    d.become_leader(&mut store.scope(Category::Collection), 0.0, Succession::Free);
    let b = big_batch(&mut d, &mut store, &mut ids, 0.0);
    assert!(d.compress(&b));
    queue_n(&mut d, &mut store, 3, 1.0);
    // pagehide in the same task (the body is still in the CompressionStream).
    let k = d.on_hidden(2.0, A, &mut store.scope(Category::Collection), false).expect("a keepalive send");
    assert!(k.keepalive && k.events == 23, "{} events", k.events);
    assert_eq!(&k.body[..b.body.len() - 60], &b.body[..b.body.len() - 60], "the batch's events first, in order");
    assert!(!d.compress(&k), "keepalive: plain");
    assert!(d.compressed(b.batch_id, 0).is_none(), "the gzipped request must not leave too");
    // Its (absent) answer changes nothing; the keepalive answer acknowledges all 23.
    d.on_answer(b.batch_id, Answer::NoAnswer, 3.0, &mut store.scope(Category::Collection), &mut ids);
    assert_eq!(d.stats().retries, 0);
    answer(&mut d, &mut store, &mut ids, &k, 200, None);
    assert_eq!(d.stats().delivered, 23);
    assert!(d.is_idle());
}

#[test]
fn a_gzipped_request_too_big_for_keepalive_that_left_is_sent_again_plain_when_the_page_leaves_and_kept_by_none() {
    let (_, mut store, st, mut ids) = setup();
    let mut d = with_compression(Compression::Gzip, "http://127.0.0.1:9", &st);
    d.become_leader(&mut store.scope(Category::Collection), 0.0, Succession::Free);
    let b = big_batch(&mut d, &mut store, &mut ids, 0.0);
    Component::<MemoryStorage>::persist(&mut d, &mut store.scope(Category::Collection), 0.0);
    // Decided on the gzipped size: over half the quota, without keepalive.
    assert!(d.compress(&b));
    assert_eq!(d.compressed(b.batch_id, 40_000), Some(false));
    // pagehide: the browser cancels it; its events leave plain with keepalive now, and the
    // next page load finds no copy.
    let k = d.on_hidden(2.0, A, &mut store.scope(Category::Collection), true).expect("sent again");
    assert!(k.keepalive && k.events == 20 && !d.compress(&k));
    d.hand_over(&mut store.scope(Category::Collection));
    assert!(st.dump().is_empty());
    answer(&mut d, &mut store, &mut ids, &b, 200, None);
    assert_eq!(d.stats().delivered, 0);
    answer(&mut d, &mut store, &mut ids, &k, 200, None);
    assert_eq!(d.stats().delivered, 20);
    assert!(d.is_idle());
}

#[test]
fn a_big_request_is_sent_again_with_keepalive_only_when_the_page_leaves_as_far_as_the_quota_goes() {
    let (_, mut store, st, mut ids) = setup();
    let mut d = with_compression(Compression::Gzip, "http://127.0.0.1:9", &st);
    d.become_leader(&mut store.scope(Category::Collection), 0.0, Succession::Free);
    for _ in 0..20 {
        let json = ["{\"type\":\"track\",\"pad\":\"", &"x".repeat(4_000), "\"}"].concat();
        d.queue(json, 0..0, 0.0, Collection::Allowed, &mut store.scope(Category::Collection));
    }
    let b = d.poll(0.0, A, &mut store.scope(Category::Collection), &mut ids).expect("flushAt reached");
    assert!(!b.keepalive, "{} B", b.body.len());
    assert!(d.compress(&b));
    assert_eq!(d.compressed(b.batch_id, 40_000), Some(false), "gzipped, still over half the quota");
    // Hidden, not leaving (another tab, the app in the background): the page lives on and
    // so does its request.
    assert_eq!(d.on_hidden(1.0, A, &mut store.scope(Category::Collection), false), None, "in flight, nothing else waits");
    assert!(!st.dump().is_empty(), "not handed over: a copy stays");
    // pagehide: the browser will cancel it; its events leave plain with keepalive now.
    let k = d.on_hidden(2.0, A, &mut store.scope(Category::Collection), true).expect("sent again");
    d.hand_over(&mut store.scope(Category::Collection));
    assert!(k.keepalive && (10..20).contains(&k.events) && !d.compress(&k), "{} events", k.events);
    assert_eq!(st.dump().values().map(|v| v.lines().count()).sum::<usize>(), 20 - k.events, "the rest stays for the next page");
    // A late answer to the gzipped one changes nothing; the keepalive answer acknowledges.
    answer(&mut d, &mut store, &mut ids, &b, 200, None);
    assert_eq!(d.stats().delivered, 0);
    answer(&mut d, &mut store, &mut ids, &k, 200, None);
    assert_eq!(d.stats().delivered, k.events as u64);
}

/// A normal batch of `n` events of `pad` bytes each, taken by `flush()`.
fn padded_batch(d: &mut Delivery, store: &mut Store<MemoryStorage>, ids: &mut SeqIds, n: usize, pad: usize, now: f64) -> BatchRequest {
    for _ in 0..n {
        let json = ["{\"type\":\"track\",\"pad\":\"", &"x".repeat(pad), "\"}"].concat();
        d.queue(json, 0..0, now, Collection::Allowed, &mut store.scope(Category::Collection));
    }
    d.flush();
    d.poll(now, A, &mut store.scope(Category::Collection), ids).expect("flushed")
}

#[test]
fn a_normal_batch_that_fits_half_the_quota_goes_with_keepalive_and_is_handed_over_at_pagehide() {
    let (mut d, mut store, st, mut ids) = setup();
    d.become_leader(&mut store.scope(Category::Collection), 0.0, Succession::Free);
    let b = padded_batch(&mut d, &mut store, &mut ids, 30, 900, 0.0);
    assert!(b.keepalive && !b.unload && b.body.len() > 27_000, "{} B", b.body.len());
    Component::<MemoryStorage>::persist(&mut d, &mut store.scope(Category::Collection), 0.0);
    assert!(!st.keys("ot1.q.").is_empty());
    // pagehide while it is in flight: nothing is sent again, and the next page finds no copy.
    assert_eq!(d.on_hidden(1.0, A, &mut store.scope(Category::Collection), true), None, "nothing else waits");
    d.hand_over(&mut store.scope(Category::Collection));
    assert!(st.keys("ot1.q.").is_empty(), "handed over: {:?}", st.dump());
    // Chromium rejects its promise as the page navigates: it counts as sent.
    d.on_answer(b.batch_id, Answer::NoAnswer, 2.0, &mut store.scope(Category::Collection), &mut ids);
    assert_eq!((d.stats().delivered, d.stats().retries), (30, 0));
    assert!(d.is_idle());
}

#[test]
fn a_normal_batch_over_half_the_quota_left_goes_without_keepalive_and_again_at_pagehide() {
    let (mut d, mut store, st, mut ids) = setup();
    d.become_leader(&mut store.scope(Category::Collection), 0.0, Succession::Free);
    // Hidden (not leaving) with 20 KB waiting: a keepalive send uses a third of the quota.
    for _ in 0..20 {
        let json = ["{\"type\":\"track\",\"pad\":\"", &"y".repeat(1_000), "\"}"].concat();
        d.queue(json, 0..0, 0.0, Collection::Allowed, &mut store.scope(Category::Collection));
    }
    let u = d.on_hidden(0.0, A, &mut store.scope(Category::Collection), false).expect("unload send");
    assert!(u.keepalive && u.unload);
    // 22 KB: it would have fitted half of the whole quota, not half of what is left.
    let b = padded_batch(&mut d, &mut store, &mut ids, 22, 970, 1.0);
    assert!(!b.keepalive && (21_500..31_000).contains(&b.body.len()), "{} B", b.body.len());
    Component::<MemoryStorage>::persist(&mut d, &mut store.scope(Category::Collection), 1.0);
    answer(&mut d, &mut store, &mut ids, &u, 200, None);
    d.answer_read(u.batch_id);
    // pagehide: the browser cancels it, its events go again with keepalive.
    let k = d.on_hidden(2.0, A, &mut store.scope(Category::Collection), true).expect("sent again");
    assert_eq!((k.events, k.unload), (22, true));
    d.hand_over(&mut store.scope(Category::Collection));
    assert!(st.keys("ot1.q.").is_empty());
}

#[test]
fn a_gzipped_batch_goes_with_keepalive_by_its_gzipped_size() {
    let (_, mut store, st, mut ids) = setup();
    let mut d = with_compression(Compression::Gzip, "http://127.0.0.1:9", &st);
    d.become_leader(&mut store.scope(Category::Collection), 0.0, Succession::Free);
    let b = padded_batch(&mut d, &mut store, &mut ids, 100, 900, 0.0);
    assert!(b.body.len() > 64 * 1024 && !b.keepalive, "{} B", b.body.len());
    assert!(d.compress(&b));
    assert_eq!(d.compressed(b.batch_id, 4_000), Some(true));
    // The quota counts its 4 KB: a batch of 29 KB beside it fits half of what is left no more.
    assert_eq!(d.keepalive_fits(), (crate::wire::KEEPALIVE_BYTES - 1024 - 4_000) / 2);
    Component::<MemoryStorage>::persist(&mut d, &mut store.scope(Category::Collection), 0.0);
    assert_eq!(d.on_hidden(1.0, A, &mut store.scope(Category::Collection), true), None);
    d.hand_over(&mut store.scope(Category::Collection));
    assert!(st.keys("ot1.q.").is_empty(), "handed over");
    answer(&mut d, &mut store, &mut ids, &b, 200, None);
    assert_eq!(d.stats().delivered, 100);
}

#[test]
fn after_a_normal_keepalive_batch_got_no_answer_normal_batches_go_without_keepalive() {
    let (mut d, mut store, _, mut ids) = setup();
    d.become_leader(&mut store.scope(Category::Collection), 0.0, Succession::Free);
    let b = padded_batch(&mut d, &mut store, &mut ids, 3, 10, 0.0);
    assert!(b.keepalive);
    d.on_answer(b.batch_id, Answer::NoAnswer, 1.0, &mut store.scope(Category::Collection), &mut ids);
    assert_eq!(d.stats().retries, 1);
    let again = d.poll(100_000.0, A, &mut store.scope(Category::Collection), &mut ids).expect("retried");
    assert!(!again.keepalive && again.events == 3);
}

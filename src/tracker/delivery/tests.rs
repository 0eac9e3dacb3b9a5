//! The delivery component alone, with the fakes: no tracker, no consent beyond the store.

use super::*;
use crate::consent::Signals;
use crate::testing::{MemoryStorage, SeqIds};

fn setup() -> (Delivery, Store<MemoryStorage>, MemoryStorage, SeqIds) {
    let cfg = Config::new("wk", "http://127.0.0.1:9").validated().unwrap();
    let st = MemoryStorage::default();
    let store = Store::new(st.clone(), &cfg.storage_prefix, &cfg.consent, Signals::default());
    (Delivery::new(&cfg, "A"), store, st, SeqIds::seeded(1))
}

fn queue_n(d: &mut Delivery, store: &mut Store<MemoryStorage>, n: usize, now: f64) {
    for i in 0..n {
        let json = ["{\"type\":\"track\",\"i\":", if i % 2 == 0 { "0" } else { "1" }, "}"].concat();
        d.queue(json, now, Collection::Allowed, &mut store.scope(Category::Collection));
    }
}

const A: Collection = Collection::Allowed;

#[test]
fn sends_nothing_until_elected_then_one_batch_at_a_time() {
    let (mut d, mut store, _, mut ids) = setup();
    queue_n(&mut d, &mut store, 20, 0.0);
    assert!(d.poll(1.0, A, &mut store.scope(Category::Collection), &mut ids).is_none(), "undecided");
    d.become_leader(&mut store.scope(Category::Collection), 1.0);
    let b = d.poll(1.0, A, &mut store.scope(Category::Collection), &mut ids).expect("flushAt reached");
    assert_eq!((b.batch_id, b.events, b.keepalive), (1, 20, false));
    queue_n(&mut d, &mut store, 20, 2.0);
    assert!(d.poll(2.0, A, &mut store.scope(Category::Collection), &mut ids).is_none(), "one in flight");
    d.on_outcome(b.batch_id, Outcome::Ack, 3.0, &mut store.scope(Category::Collection), &mut ids);
    assert_eq!(d.stats().delivered, 20);
    assert!(d.poll(3.0, A, &mut store.scope(Category::Collection), &mut ids).is_some());
}

#[test]
fn retries_back_off_and_a_413_splits_the_batch() {
    let (mut d, mut store, _, mut ids) = setup();
    d.become_leader(&mut store.scope(Category::Collection), 0.0);
    queue_n(&mut d, &mut store, 20, 0.0);
    let b = d.poll(0.0, A, &mut store.scope(Category::Collection), &mut ids).unwrap();
    let answer = Answer::Http { status: 503, retry_after: Some("10") };
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
    d.become_leader(&mut store.scope(Category::Collection), 0.0);
    queue_n(&mut d, &mut store, 25, 0.0);
    assert!(d.poll(0.0, Collection::Pending, &mut store.scope(Category::Collection), &mut ids).is_none());
    assert_eq!(d.wake(Collection::Pending), None);
    d.become_follower(&mut store.scope(Category::Collection), 0.0);
    assert!(st.dump().keys().any(|k| k.starts_with("ot1.q.A.")), "persisted for the leader");
    assert!(d.poll(0.0, A, &mut store.scope(Category::Collection), &mut ids).is_none(), "nothing of its own left");
}

#[test]
fn the_hidden_page_persists_and_sends_with_keepalive() {
    let (mut d, mut store, st, _) = setup();
    d.become_leader(&mut store.scope(Category::Collection), 0.0);
    queue_n(&mut d, &mut store, 3, 0.0);
    let b = d.on_hidden(1.0, A, &mut store.scope(Category::Collection)).unwrap();
    assert!(b.keepalive);
    assert_eq!(b.events, 3);
    assert!(!st.dump().is_empty());
}

#[test]
fn flush_settles_on_the_cores_answer_and_the_app_reports_real_outcomes() {
    let (mut d, mut store, _, mut ids) = setup();
    d.become_leader(&mut store.scope(Category::Collection), 0.0);
    queue_n(&mut d, &mut store, 2, 0.0);
    d.flush();
    let b = d.poll(0.0, A, &mut store.scope(Category::Collection), &mut ids).unwrap();
    assert_eq!(d.settle_flush(false), None, "in flight");
    d.on_answer(b.batch_id, Answer::App { accepted: false }, 1.0, &mut store.scope(Category::Collection), &mut ids);
    assert_eq!(d.settle_flush(d.wake(A).is_none()), Some(false), "the app did not take it: failed, retried later");
    assert_eq!(d.stats().retries, 1);
    let b = d.poll(60_000.0, A, &mut store.scope(Category::Collection), &mut ids).unwrap();
    d.on_answer(b.batch_id, Answer::App { accepted: true }, 60_001.0, &mut store.scope(Category::Collection), &mut ids);
    assert_eq!(d.settle_flush(d.wake(A).is_none()), Some(true), "everything acknowledged");
    assert_eq!(d.stats().delivered, 2);
}

#[test]
fn a_rejected_batch_settles_flush_as_not_delivered() {
    let (mut d, mut store, _, mut ids) = setup();
    d.become_leader(&mut store.scope(Category::Collection), 0.0);
    queue_n(&mut d, &mut store, 1, 0.0);
    d.flush();
    let b = d.poll(0.0, A, &mut store.scope(Category::Collection), &mut ids).unwrap();
    d.on_answer(b.batch_id, Answer::Http { status: 400, retry_after: None }, 1.0, &mut store.scope(Category::Collection), &mut ids);
    assert!(d.is_idle());
    assert_eq!(d.settle_flush(d.wake(A).is_none()), Some(false));
}

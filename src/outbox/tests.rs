use super::*;
use crate::testing::{MemoryStorage, StorageMode};

fn msg(i: usize) -> String {
    format!("{{\"i\":{i}}}")
}

#[test]
fn push_never_touches_storage_and_persist_appends_one_chunk_per_call() {
    let mut st = MemoryStorage::default();
    let mut ob = Outbox::new("ot1", "tabA", 1 << 20, 1 << 20);
    for i in 0..1000 {
        ob.push(msg(i), 0.0);
    }
    assert_eq!(st.writes(), 0, "push must not write storage");
    ob.persist(&mut st, 0.0).unwrap();
    assert_eq!(st.writes(), 1, "a burst is persisted in one write");
    ob.push(msg(1000), 0.0);
    ob.persist(&mut st, 0.0).unwrap();
    assert_eq!(st.writes(), 2);
    let dump = st.dump();
    assert_eq!(dump["ot1.q.tabA.1"], msg(1000), "second chunk holds only what is new");
    assert_eq!(dump["ot1.q.tabA.0"].lines().count(), 1000);
    // Nothing new: no write at all.
    ob.persist(&mut st, 0.0).unwrap();
    assert_eq!(st.writes(), 2);
}

#[test]
fn acknowledged_chunks_are_removed_and_partial_ones_rewritten() {
    let mut st = MemoryStorage::default();
    let mut ob = Outbox::new("ot1", "t", 1 << 20, 1 << 20);
    for i in 0..5 {
        ob.push(msg(i), 0.0);
    }
    ob.persist(&mut st, 0.0).unwrap();
    let t = ob.take(3, 1 << 20);
    assert_eq!(t.messages, vec![msg(0), msg(1), msg(2)]);
    let ids = t.ids;
    ob.remove(&ids, &mut st);
    assert_eq!(ob.len(), 2);
    ob.persist(&mut st, 0.0).unwrap();
    assert_eq!(st.dump()["ot1.q.t.0"], format!("{}\n{}", msg(3), msg(4)));
    let ids = ob.take(10, 1 << 20).ids;
    ob.remove(&ids, &mut st);
    assert!(st.dump().is_empty(), "fully acknowledged chunk is removed: {:?}", st.dump());
    assert_eq!(ob.stats().persisted_bytes, 0);
    assert_eq!(ob.stats().queued_bytes, 0);
}

#[test]
fn take_respects_count_bytes_and_in_flight() {
    let mut ob = Outbox::new("ot1", "t", 1 << 20, 1 << 20);
    for i in 0..10 {
        ob.push(msg(i), i as f64);
    }
    let a = ob.take(4, 1 << 20).ids;
    assert_eq!(a.len(), 4);
    assert_eq!(ob.waiting(), 6);
    assert_eq!(ob.oldest_waiting_at(), Some(4.0));
    // Byte limit: each message is 7 bytes + 1 separator.
    let b = ob.take(100, 17).ids;
    assert_eq!(b.len(), 2);
    // A single event larger than the byte limit still goes (alone).
    let c = ob.take(100, 1).ids;
    assert_eq!(c.len(), 1);
    ob.release(&a);
    assert_eq!(ob.waiting(), 7);
    let again = ob.take(100, 1 << 20);
    assert_eq!(again.messages[0], msg(0), "released events keep their order");
}

#[test]
fn memory_budget_evicts_oldest_and_counts() {
    let mut st = MemoryStorage::default();
    let mut ob = Outbox::new("ot1", "t", 70, 1 << 20);
    for i in 0..20 {
        ob.push(msg(i), 0.0);
        ob.enforce_budget(&mut st);
    }
    // 7-byte messages (8 for i >= 10): at most 70 bytes stay.
    assert!(ob.stats().queued_bytes <= 70);
    assert_eq!(ob.stats().dropped as usize + ob.len(), 20);
    let t = ob.take(100, 1 << 20);
    assert_eq!(*t.messages.last().unwrap(), msg(19), "the newest survive");
}

#[test]
fn full_storage_degrades_to_memory_and_recovers() {
    let mut st = MemoryStorage::default();
    st.set_mode(StorageMode::Full);
    let mut ob = Outbox::new("ot1", "t", 1 << 20, 1 << 20);
    ob.push(msg(1), 0.0);
    assert_eq!(ob.persist(&mut st, 0.0), Err(StorageError::Full));
    assert_eq!(ob.len(), 1, "nothing lost");
    assert!(ob.has_unpersisted());
    st.set_mode(StorageMode::Normal);
    // Paused for a while after a failure: no hammering of a full storage.
    ob.persist(&mut st, 1000.0).unwrap();
    assert!(ob.has_unpersisted());
    ob.persist(&mut st, 6000.0).unwrap();
    assert!(!ob.has_unpersisted());
    assert_eq!(ob.stats().storage_failures, 1);
}

#[test]
fn persist_budget_keeps_the_rest_in_memory() {
    let mut st = MemoryStorage::default();
    let mut ob = Outbox::new("ot1", "t", 1 << 20, 20);
    for i in 0..5 {
        ob.push(msg(i), 0.0);
    }
    ob.persist(&mut st, 0.0).unwrap();
    assert_eq!(st.dump()["ot1.q.t.0"], format!("{}\n{}", msg(0), msg(1)));
    assert_eq!(ob.stats().unpersisted, 3);
    let ids = ob.take(2, 1 << 20).ids;
    ob.remove(&ids, &mut st);
    ob.persist(&mut st, 0.0).unwrap();
    assert_eq!(ob.stats().unpersisted, 1, "freed room is used");
}

#[test]
fn ingest_skips_corrupt_lines_and_adopt_all_is_ordered_and_idempotent() {
    let mut st = MemoryStorage::default();
    st.plant("ot1.q.old.10", &msg(3));
    st.plant("ot1.q.old.9", &format!("{}\nnot json\n{{\"a\":\n{}", msg(1), msg(2)));
    st.plant("ot1.q.bad.0", "garbage");
    st.plant("ot1.aid", "not a chunk");
    let mut ob = Outbox::new("ot1", "me", 1 << 20, 1 << 20);
    ob.adopt_all(&mut st, 0.0);
    ob.adopt_all(&mut st, 0.0);
    let t = ob.take(100, 1 << 20);
    assert_eq!(t.messages, vec![msg(1), msg(2), msg(3)]);
    let ids = t.ids;
    assert_eq!(ob.stats().corrupt, 3);
    assert!(!st.dump().contains_key("ot1.q.bad.0"), "an all-corrupt chunk is removed");
    ob.remove(&ids, &mut st);
    assert_eq!(st.dump().keys().collect::<Vec<_>>(), vec!["ot1.aid"]);
}

#[test]
fn release_persisted_hands_over_without_touching_storage() {
    let mut st = MemoryStorage::default();
    let mut ob = Outbox::new("ot1", "f", 1 << 20, 1 << 20);
    ob.push(msg(1), 0.0);
    ob.persist(&mut st, 0.0).unwrap();
    ob.push(msg(2), 0.0);
    ob.release_persisted();
    assert_eq!(ob.len(), 1, "unpersisted events stay");
    assert_eq!(st.dump()["ot1.q.f.0"], msg(1), "handed-over chunk stays for the leader");
    let t = ob.take(10, 1 << 20);
    assert_eq!(t.messages, vec![msg(2)]);
}

#[test]
fn broken_storage_never_panics() {
    let mut st = MemoryStorage::default();
    st.set_mode(StorageMode::Broken);
    let mut ob = Outbox::new("ot1", "t", 1 << 20, 1 << 20);
    ob.push(msg(1), 0.0);
    assert!(ob.persist(&mut st, 0.0).is_err());
    ob.adopt_all(&mut st, 0.0);
    let ids = ob.take(1, 100).ids;
    ob.remove(&ids, &mut st);
    assert!(ob.is_empty());
}

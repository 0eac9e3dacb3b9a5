use super::*;
use crate::testing::{ManualClock, MemoryStorage, SeqIds, StorageMode};
use std::collections::BTreeMap;

type T = Tracker<MemoryStorage, ManualClock, SeqIds>;

fn cfg() -> Config {
    Config::new("wk", "http://127.0.0.1:9").validated().unwrap()
}

fn tab(st: &MemoryStorage, clock: &ManualClock, name: &str, seed: u8) -> T {
    Tracker::new(cfg(), st.clone(), clock.clone(), SeqIds::seeded(seed), name, Environment::default())
}

/// A delivering tab "L" and a follower "F" sharing one storage, at time 0.
fn leader_and_follower() -> (T, T, MemoryStorage) {
    let st = MemoryStorage::default();
    let clock = ManualClock::at(0.0);
    let mut lead = tab(&st, &clock, "L", 1);
    let mut fol = tab(&st, &clock, "F", 2);
    lead.become_leader();
    fol.become_follower();
    (lead, fol, st)
}

/// The storage events the follower's persisted chunks raise, delivered to `to`; the keys.
fn forward_follower_chunks(st: &MemoryStorage, to: &mut T) -> Vec<String> {
    let keys = st.keys("ot1.q.F.");
    for k in &keys {
        to.on_storage_change(k, st.get(k).as_deref());
    }
    keys
}

fn leader() -> (T, MemoryStorage, ManualClock) {
    let st = MemoryStorage::default();
    let clock = ManualClock::at(1_000_000.0);
    let mut t = tab(&st, &clock, "A", 1);
    t.become_leader();
    (t, st, clock)
}

fn track_n(t: &mut T, n: usize) {
    for i in 0..n {
        t.track("E", Some(&format!("{{\"i\":{i}}}")), &CallOptions::default()).unwrap();
    }
}

/// `n` events, each with a `pad` property of `pad` bytes (to fill batches and the keepalive quota).
fn track_padded(t: &mut T, n: usize, pad: usize) {
    let props = format!("{{\"pad\":\"{}\"}}", "x".repeat(pad));
    for _ in 0..n {
        t.track("E", Some(&props), &CallOptions::default()).unwrap();
    }
}

/// messageIds of a batch body.
fn ids_of(body: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["batch"].as_array().unwrap().iter().map(|m| m["messageId"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn flushes_on_count() {
    let (mut t, _, _) = leader();
    track_n(&mut t, 19);
    t.persist();
    assert_eq!(t.poll(), None, "19 < flushAt");
    track_n(&mut t, 1);
    let s = t.poll().expect("20 events: send");
    assert_eq!(s.events, 20);
    assert_eq!(s.url, "http://127.0.0.1:9/v1/batch");
    let v: serde_json::Value = serde_json::from_str(&s.body).unwrap();
    assert_eq!(v["writeKey"], "wk");
    assert_eq!(v["batch"][0]["type"], "track");
    assert_eq!(v["batch"][18]["properties"]["i"], 18);
    assert_eq!(v["batch"][19]["properties"]["i"], 0);
}

#[test]
fn flushes_on_age_and_reports_wake_time() {
    let (mut t, _, clock) = leader();
    track_n(&mut t, 1);
    assert_eq!(t.poll(), None);
    assert_eq!(t.next_wake(), Some(1_001_000.0));
    clock.advance(999.0);
    assert_eq!(t.poll(), None);
    clock.advance(1.0);
    assert!(t.poll().is_some());
}

#[test]
fn one_batch_in_flight_and_ack_removes_from_storage() {
    let (mut t, st, _) = leader();
    track_n(&mut t, 45);
    t.persist();
    let first = t.poll().unwrap();
    assert_eq!(first.events, 45, "one batch takes everything waiting up to the limits");
    assert_eq!(t.poll(), None, "only one batch in flight");
    t.on_response(first.batch_id, 200, None, None);
    assert!(t.is_idle());
    assert!(st.keys("ot1.q.").is_empty(), "acknowledged events leave storage");
    assert_eq!(t.stats().delivered, 45);
}

#[test]
fn retries_with_backoff_and_honours_retry_after() {
    let (mut t, _, clock) = leader();
    track_n(&mut t, 20);
    let s = t.poll().unwrap();
    let ids = ids_of(&s.body);
    t.on_response(s.batch_id, 503, Some("5"), None);
    assert_eq!(t.poll(), None);
    assert!(t.next_wake().unwrap() >= 1_005_000.0);
    clock.advance(4_999.0);
    assert_eq!(t.poll(), None, "Retry-After is honoured");
    clock.advance(1.0);
    let again = t.poll().unwrap();
    assert_eq!(ids_of(&again.body), ids, "same events, same messageIds, same order");
    t.on_response(again.batch_id, 0, None, None); // network error
    let wake = t.next_wake().unwrap();
    let now = 1_005_000.0;
    assert!(wake >= now && wake <= now + 2_000.0, "second failure: jitter within 2 s, got {}", wake - now);
    clock.set(wake);
    let third = t.poll().unwrap();
    t.on_response(third.batch_id, 200, None, None);
    assert_eq!(t.stats().delivered, 20);
    assert_eq!(t.stats().retries, 2);
}

#[test]
fn drops_on_non_retryable_status() {
    for status in [400, 401, 403, 422] {
        let (mut t, st, _) = leader();
        track_n(&mut t, 20);
        t.persist();
        let s = t.poll().unwrap();
        t.on_response(s.batch_id, status, None, None);
        assert!(t.is_idle(), "{status}");
        assert_eq!(t.stats().rejected, 20);
        assert!(st.keys("ot1.q.").is_empty());
    }
}

#[test]
fn splits_on_413() {
    let (mut t, _, _) = leader();
    track_n(&mut t, 20);
    let s = t.poll().unwrap();
    t.on_response(s.batch_id, 413, None, None);
    let half = t.poll().unwrap();
    assert_eq!(half.events, 10);
    assert_eq!(ids_of(&half.body), ids_of(&s.body)[..10].to_vec());
    t.on_response(half.batch_id, 200, None, None);
    let rest = t.poll().unwrap();
    assert_eq!(rest.events, 10);
}

#[test]
fn batches_stay_under_500kb() {
    let (mut t, _, _) = leader();
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(30_000));
    for _ in 0..40 {
        t.track("Big", Some(&big), &CallOptions::default()).unwrap();
    }
    t.flush();
    let mut total = 0;
    while let Some(s) = t.poll() {
        assert!(s.body.len() <= crate::wire::MAX_BATCH_BYTES, "{}", s.body.len());
        total += s.events;
        t.on_response(s.batch_id, 200, None, None);
    }
    assert_eq!(total, 40);
}

#[test]
fn oversized_and_invalid_input_is_rejected_without_losing_anything_else() {
    let (mut t, _, _) = leader();
    let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(40_000));
    let o = CallOptions::default();
    assert_eq!(t.track("E", Some(&huge), &o), Err(InputError::TooLarge));
    assert_eq!(t.track("", None, &o), Err(InputError::MissingName("track(): the event name")));
    assert_eq!(t.track("E", Some("[1]"), &o), Err(InputError::NotAnObject("track(): properties")));
    assert_eq!(t.track("E", Some("{bad"), &o), Err(InputError::NotAnObject("track(): properties")));
    assert_eq!(t.identify(Some(" "), None, &o), Err(InputError::MissingName("identify(): userId")));
    assert_eq!(t.group("", None, &o), Err(InputError::MissingName("group(): groupId")));
    let ctx = CallOptions { context: Some("5"), ..o };
    assert!(t.track("E", None, &ctx).is_err());
    track_n(&mut t, 20);
    assert_eq!(t.poll().unwrap().events, 20);
}

#[test]
fn offline_pauses_and_online_resumes_at_once() {
    let (mut t, _, clock) = leader();
    t.set_online(false);
    track_n(&mut t, 50);
    clock.advance(60_000.0);
    assert_eq!(t.poll(), None);
    assert_eq!(t.next_wake(), None, "no timers while offline");
    t.set_online(true);
    assert!(t.poll().is_some());
}

#[test]
fn storage_full_keeps_events_in_memory_and_delivers_them() {
    let (mut t, st, _) = leader();
    st.set_mode(StorageMode::Full);
    track_n(&mut t, 20);
    t.persist();
    let s = t.poll().unwrap();
    assert_eq!(s.events, 20);
    t.on_response(s.batch_id, 200, None, None);
    assert!(t.is_idle());
    assert_eq!(t.stats().outbox.storage_failures, 1);
}

#[test]
fn what_the_browser_took_at_unload_is_not_sent_again_by_the_next_page() {
    let st = MemoryStorage::default();
    let clock = ManualClock::at(1_000.0);
    let mut a = tab(&st, &clock, "page1", 1);
    a.become_leader();
    a.identify(Some("user-1"), Some(r#"{"plan":"pro"}"#), &CallOptions::default()).unwrap();
    track_n(&mut a, 49);
    a.persist();
    let sent = a.on_hidden(true);
    a.hand_over();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].keepalive);
    assert!(sent[0].body.len() <= crate::wire::KEEPALIVE_BYTES);
    assert_eq!(sent[0].events, 50);
    assert!(st.keys("ot1.q.").is_empty(), "handed to the browser while online: no persisted copy");
    let aid = a.identity().anonymous_id.clone();
    drop(a); // navigation: the page is gone before any answer

    let mut b = tab(&st, &clock, "page2", 2);
    assert_eq!(b.identity().anonymous_id, aid);
    assert_eq!(b.identity().user_id.as_deref(), Some("user-1"));
    b.become_leader();
    b.flush();
    assert_eq!(b.poll(), None, "nothing sent again");
}

/// Unloads page 1 after `before` ran on it (`refused`: the browser then refuses its keepalive
/// request); returns the messageIds page 1 sent and those page 2 sends.
fn unload_then_reload(refused: bool, before: impl FnOnce(&mut T)) -> (Vec<String>, Vec<String>) {
    let st = MemoryStorage::default();
    let clock = ManualClock::at(1_000.0);
    let mut a = tab(&st, &clock, "page1", 1);
    a.become_leader();
    track_n(&mut a, 30);
    before(&mut a);
    let sends = a.on_hidden(true);
    if refused {
        // Over the keepalive quota: the promise rejects before the page is gone.
        a.on_delivery(sends[0].batch_id, Answer::NoAnswer);
    }
    a.hand_over();
    a.persist();
    drop(a);
    let mut b = tab(&st, &clock, "page2", 2);
    b.become_leader();
    b.flush();
    let sent = sends.iter().flat_map(|s| ids_of(&s.body)).collect();
    (sent, b.poll().map(|s| ids_of(&s.body)).unwrap_or_default())
}

#[test]
fn unload_stays_at_least_once_offline_after_a_failure_or_when_the_browser_refuses() {
    // Offline: nothing is handed over; the next page sends everything.
    let (sent, again) = unload_then_reload(false, |a| a.set_online(false));
    assert_eq!((sent.len(), again.len()), (0, 30));
    // The collector's last answer was a failure: sent at unload, and kept for the next page.
    let (sent, again) = unload_then_reload(false, |a| {
        let s = a.poll().unwrap();
        a.on_response(s.batch_id, 503, None, None);
    });
    assert_eq!((sent.len(), again.len()), (30, 30));
    assert_eq!(sent, again);
    // The browser refused the keepalive request: persisted again.
    let (sent, again) = unload_then_reload(true, |_| {});
    assert_eq!((sent.len(), again.len()), (30, 30));
    assert_eq!(sent, again);
    // The navigation cancelled the request in flight (no answer: not the collector failing):
    // it goes again at unload, and not again after.
    let (sent, again) = unload_then_reload(false, |a| {
        let s = a.poll().unwrap();
        a.on_delivery(s.batch_id, Answer::NoAnswer);
    });
    assert_eq!((sent.len(), again.len()), (30, 0));
    // Online, healthy, taken: not again.
    let (sent, again) = unload_then_reload(false, |_| {});
    assert_eq!((sent.len(), again.len()), (30, 0));
}

#[test]
fn an_unanswered_request_goes_again_with_keepalive_when_the_page_leaves_as_far_as_the_quota_goes() {
    let (mut t, st, _) = leader();
    track_padded(&mut t, 20, 4_000);
    let s = t.poll().expect("flushAt");
    assert!(!s.keepalive, "{} B", s.body.len());
    track_n(&mut t, 5);
    // Hidden, not leaving: the request lives on, only the 5 go (handed over).
    let hidden = t.on_hidden(false);
    t.hand_over();
    assert_eq!(hidden.iter().map(|k| k.events).collect::<Vec<_>>(), [5]);
    // pagehide: the browser cancels the plain request; its first events go with keepalive
    // now, as many as the quota left beside the 5 holds; the rest stay for the next page.
    let k = t.on_hidden(true);
    t.hand_over();
    assert_eq!(k.len(), 1);
    let (went, all) = (ids_of(&k[0].body), ids_of(&s.body));
    assert!(went.len() >= 10 && all.starts_with(&went), "{} of 20", went.len());
    assert!(k[0].body.len() + hidden[0].body.len() <= crate::wire::KEEPALIVE_BYTES, "within the quota together");
    let kept: usize = st.keys("ot1.q.").iter().map(|k| st.get(k).unwrap().lines().count()).sum();
    assert_eq!(kept, 20 - went.len());
    // A late answer to the cancelled one changes nothing; the keepalive answers count.
    t.on_response(s.batch_id, 200, None, None);
    assert_eq!(t.stats().delivered, 0);
    t.on_response(hidden[0].batch_id, 200, None, None);
    t.on_response(k[0].batch_id, 200, None, None);
    assert_eq!(t.stats().delivered, 5 + went.len() as u64);
}

#[test]
fn an_answered_keepalive_request_keeps_its_share_of_the_quota_until_its_body_is_read() {
    // Hidden: a full keepalive batch goes. Shown again, it is answered; the page leaves a
    // moment later, before it has read that answer's body: Chromium still counts those bytes
    // (its refusal of a request over the quota arrives after the hand-over, and once the page
    // has left a failure counts as sent: the events would be lost). Nothing goes then.
    let (mut t, st, _) = leader();
    track_padded(&mut t, 120, 1_000);
    let k1 = t.on_hidden(false);
    t.hand_over();
    assert_eq!(k1.len(), 1);
    assert!(k1[0].body.len() > crate::wire::KEEPALIVE_BYTES / 2);
    t.become_leader(); // shown again: still the delivering tab
    t.on_response(k1[0].batch_id, 200, None, None);
    let k2 = t.on_hidden(true);
    t.hand_over();
    assert!(k2.is_empty(), "no room while the answer is unread: {:?}", k2.iter().map(|s| s.body.len()).collect::<Vec<_>>());
    let lines: usize = st.keys("ot1.q.").iter().map(|k| st.get(k).unwrap().lines().count()).sum();
    assert_eq!(lines, 120 - k1[0].events, "what is left stays persisted for the next page");
    // Once read, the room is back.
    t.answer_read(k1[0].batch_id);
    t.become_leader();
    let k3 = t.on_hidden(true);
    assert_eq!(k3.iter().map(|s| s.events).sum::<usize>(), k1[0].events, "a full batch again");
}

#[test]
fn unload_respects_the_keepalive_budget() {
    let (mut t, st, _) = leader();
    track_padded(&mut t, 200, 1_000);
    let sent = t.on_hidden(true);
    t.hand_over();
    let bytes: usize = sent.iter().map(|s| s.body.len()).sum();
    assert!(bytes <= crate::wire::KEEPALIVE_BYTES, "{bytes}");
    assert!(sent[0].events > 10);
    // What did not fit stays persisted for the next page; what went, does not.
    let lines: usize = st.keys("ot1.q.").iter().map(|k| st.get(k).unwrap().lines().count()).sum();
    assert_eq!(lines, 200 - sent[0].events);
}

#[test]
fn followers_hand_over_and_exactly_one_tab_sends_each_event() {
    let (mut lead, mut fol, st) = leader_and_follower();
    track_n(&mut fol, 30);
    fol.persist();
    assert_eq!(fol.poll(), None, "a follower sends nothing it could persist");
    // The storage event reaches the leader.
    forward_follower_chunks(&st, &mut lead);
    track_n(&mut lead, 10);
    lead.flush();
    let s = lead.poll().unwrap();
    assert_eq!(s.events, 40);
    let mut ids = ids_of(&s.body);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40);
    lead.on_response(s.batch_id, 200, None, None);
    assert!(st.keys("ot1.q.").is_empty());
}

#[test]
fn a_new_leader_adopts_what_the_old_one_left() {
    let st = MemoryStorage::default();
    let clock = ManualClock::at(0.0);
    let mut old = tab(&st, &clock, "L", 1);
    let mut next = tab(&st, &clock, "F", 2);
    old.become_leader();
    next.become_follower();
    track_n(&mut old, 5);
    old.persist();
    let _in_flight = old.poll();
    drop(old); // tab closed mid-flight
    track_n(&mut next, 5);
    next.persist();
    next.become_leader();
    next.flush();
    let s = next.poll().unwrap();
    assert_eq!(s.events, 10);
}

/// Another renderer's view of `st`: a copy, changed afterwards only by what is replayed to it.
fn view_of(st: &MemoryStorage) -> MemoryStorage {
    let view = MemoryStorage::default();
    for (k, v) in st.dump() {
        view.plant(&k, &v);
    }
    view
}

/// Replays to `view` (and its tab) what changed in `st` since `before`, in the order the
/// leaving tab wrote it: its chunks first, its succession marker last.
fn replay_changes(before: &BTreeMap<String, String>, st: &MemoryStorage, view: &MemoryStorage, to: &mut T) {
    let after = st.dump();
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort_by_key(|k| (k.as_str() == "ot1.lead", k.as_str()));
    keys.dedup();
    for k in keys {
        let now = after.get(k);
        if before.get(k) == now {
            continue;
        }
        match now {
            Some(v) => view.plant(k, v),
            None => view.clone().remove(k),
        }
        to.on_storage_change(k, now.map(String::as_str));
    }
}

/// Two tabs in two renderer processes: "L" delivers and leaves with 30 events handed to the
/// browser (keepalive); "F" follows with 5 events of its own persisted, and gets the lock
/// before L's removals reach its storage view. Returns F, its view, and what L changed.
fn take_over_before_the_removals() -> (T, MemoryStorage, MemoryStorage, BTreeMap<String, String>, ManualClock) {
    let clock = ManualClock::at(0.0);
    let st = MemoryStorage::default();
    let mut lead = tab(&st, &clock, "L", 1);
    lead.become_leader();
    let view = view_of(&st);
    let mut fol = tab(&view, &clock, "F", 2);
    fol.become_follower();
    track_n(&mut fol, 5);
    fol.persist();
    for k in view.keys("ot1.q.F.") {
        st.plant(&k, &view.get(&k).unwrap());
    }
    track_n(&mut lead, 30);
    lead.persist();
    for (k, v) in st.dump() {
        view.plant(&k, &v); // F saw L's chunk written
    }
    let before = st.dump();
    let sent = lead.on_hidden(true);
    lead.hand_over();
    assert_eq!(sent.iter().map(|s| s.events).sum::<usize>(), 30, "L's 30 handed to the browser");
    assert!(st.get("ot1.lead").is_none(), "L's marker goes with its hand-over");
    assert!(view.get("ot1.lead").is_some(), "F still sees it");
    fol.lead(Succession::TakeOver);
    fol.flush();
    (fol, view, st, before, clock)
}

#[test]
fn a_tab_taking_over_adopts_once_the_leaving_tabs_removals_are_in_its_view() {
    let (mut fol, view, st, before, _clock) = take_over_before_the_removals();
    assert_eq!(fol.poll(), None, "nothing adopted while L's marker is in view");
    assert_eq!(fol.settle_flush(false), None, "flush() waits");
    replay_changes(&before, &st, &view, &mut fol);
    let s = fol.poll().expect("F's own events, adopted back");
    assert_eq!(s.events, 5, "the 30 L handed to the browser are not sent again");
    fol.on_response(s.batch_id, 200, None, None);
    assert_eq!(fol.poll(), None);
    assert_eq!(view.get("ot1.lead").as_deref(), Some("F"), "F is the delivering tab now");
}

#[test]
fn a_tab_taking_over_adopts_everything_persisted_when_the_marker_never_goes() {
    // L's removals never arrive (it crashed, or they are late): after the wait, F adopts what
    // its view holds. At least once: L's 30 go again (the collector drops copies by messageId).
    let (mut fol, _view, _st, _before, clock) = take_over_before_the_removals();
    assert_eq!(fol.poll(), None);
    assert_eq!(fol.next_wake(), Some(crate::tracker::SUCCESSION_WAIT_MS));
    clock.advance(crate::tracker::SUCCESSION_WAIT_MS);
    let s = fol.poll().expect("adopted after the wait");
    assert_eq!(s.events, 35);
}

#[test]
fn a_tab_leaving_while_it_waits_to_take_over_stops_waiting() {
    // No wake-up left pending on a suspended page (it would poll in a loop for nothing).
    let (mut fol, _view, _st, _before, _clock) = take_over_before_the_removals();
    assert!(fol.next_wake().is_some());
    fol.on_hidden(true);
    fol.suspend();
    assert_eq!(fol.next_wake(), None);
}

#[test]
fn a_tab_that_finds_the_lock_free_adopts_at_once() {
    // A page load after a crash: a stale marker does not hold a tab that was not waiting.
    let (mut t, st, _clock) = leader();
    track_n(&mut t, 3);
    t.persist();
    drop(t);
    assert_eq!(st.get("ot1.lead").as_deref(), Some("A"), "left behind without pagehide");
    let mut b = tab(&st, &ManualClock::at(1_000_000.0), "B", 2);
    b.become_leader();
    b.flush();
    assert_eq!(b.poll().map(|s| s.events), Some(3));
}

#[test]
fn a_late_storage_event_for_an_acknowledged_chunk_does_not_bring_it_back() {
    // `storage` events arrive asynchronously: a tab that becomes the leader adopts every chunk
    // in storage, and may deliver one and remove it before the event of that chunk's write
    // reaches it. The event's value is stale by then and must not queue the events again.
    let st = MemoryStorage::default();
    let clock = ManualClock::at(0.0);
    let mut fol = tab(&st, &clock, "F", 2);
    let mut next = tab(&st, &clock, "N", 3);
    fol.become_follower();
    next.become_follower();
    track_n(&mut fol, 5);
    fol.persist();
    let written: Vec<(String, String)> = st.keys("ot1.q.F.").into_iter().map(|k| (k.clone(), st.get(&k).unwrap())).collect();
    assert_eq!(written.len(), 1);
    next.become_leader(); // adopts F's chunk
    next.flush();
    let s = next.poll().unwrap();
    assert_eq!(s.events, 5);
    next.on_response(s.batch_id, 200, None, None);
    assert!(st.keys("ot1.q.").is_empty(), "acknowledged: removed from storage");
    for (k, v) in &written {
        next.on_storage_change(k, Some(v)); // the event of F's write, late
    }
    next.flush();
    assert_eq!(next.poll(), None, "acknowledged events are not sent again");
    assert!(next.is_idle());
    // A chunk that is still there is taken over from the event as before.
    track_n(&mut fol, 3);
    fol.persist();
    forward_follower_chunks(&st, &mut next);
    next.flush();
    assert_eq!(next.poll().unwrap().events, 3);
}

#[test]
fn follower_that_cannot_persist_delivers_itself() {
    let st = MemoryStorage::default();
    let clock = ManualClock::at(0.0);
    let mut fol = tab(&st, &clock, "F", 2);
    fol.become_follower();
    st.set_mode(StorageMode::Broken);
    track_n(&mut fol, 20);
    fol.persist();
    let s = fol.poll().expect("unpersisted events are this tab's to send");
    assert_eq!(s.events, 20);
}

#[test]
fn undecided_tab_queues_and_persists_but_sends_nothing() {
    let st = MemoryStorage::default();
    let clock = ManualClock::at(0.0);
    let mut t = tab(&st, &clock, "U", 3);
    track_n(&mut t, 25);
    t.persist();
    assert_eq!(t.poll(), None);
    assert!(t.on_hidden(true).is_empty());
    assert_eq!(st.keys("ot1.q.U.").len(), 1);
    t.become_leader();
    assert_eq!(t.poll().unwrap().events, 25, "its own events are not adopted twice");
}

#[test]
fn identify_as_a_different_user_starts_a_fresh_identity() {
    let (mut t, st, _) = leader();
    let o = CallOptions::default();
    let aid0 = t.identity().anonymous_id.clone();
    t.identify(Some("u1"), None, &o).unwrap();
    assert_eq!(t.identity().anonymous_id, aid0, "anonymous → known keeps the anonymous id");
    t.group("g1", None, &o).unwrap();
    t.identify(Some("u2"), None, &o).unwrap();
    assert_ne!(t.identity().anonymous_id, aid0);
    assert_eq!(t.identity().group_id, None);
    t.reset();
    assert_eq!(t.identity().user_id, None);
    assert_eq!(st.get("ot1.uid"), None);
    assert_eq!(st.get("ot1.aid").as_deref(), Some(t.identity().anonymous_id.as_str()));
}

#[test]
fn alias_and_messages_carry_ids_and_replayed_timestamps() {
    let (mut t, _, _) = leader();
    let o = CallOptions::default();
    t.identify(Some("old"), None, &o).unwrap();
    t.alias("new", None, &o).unwrap();
    let replay = CallOptions { timestamp_ms: Some(86_400_000.0), ..o };
    t.track("Replayed", None, &replay).unwrap();
    t.flush();
    let s = t.poll().unwrap();
    let v: serde_json::Value = serde_json::from_str(&s.body).unwrap();
    let alias = &v["batch"][1];
    assert_eq!(alias["type"], "alias");
    assert_eq!(alias["previousId"], "old");
    assert_eq!(alias["userId"], "new");
    assert_eq!(v["batch"][2]["timestamp"], "1970-01-02T00:00:00.000Z");
}

#[test]
fn other_tabs_identity_changes_are_adopted() {
    let st = MemoryStorage::default();
    let clock = ManualClock::at(0.0);
    let mut a = tab(&st, &clock, "A", 1);
    let mut b = tab(&st, &clock, "B", 2);
    a.identify(Some("u9"), None, &CallOptions::default()).unwrap();
    b.on_storage_change("ot1.uid", st.get("ot1.uid").as_deref());
    assert_eq!(b.identity().user_id.as_deref(), Some("u9"));
}

#[test]
fn stuck_requests_time_out_and_are_retried() {
    let (mut t, _, clock) = leader();
    track_n(&mut t, 20);
    let s = t.poll().unwrap();
    clock.advance(t.config().request_timeout_ms + 5_001.0);
    let again = t.poll().or_else(|| {
        clock.advance(t.config().retry.base_ms);
        t.poll()
    });
    assert_eq!(ids_of(&again.unwrap().body), ids_of(&s.body));
    // A late answer for the expired batch changes nothing.
    t.on_response(s.batch_id, 200, None, None);
    assert_eq!(t.stats().delivered, 0);
}

#[test]
fn burst_of_10000_is_one_storage_write_and_all_delivered() {
    let (mut t, st, _) = leader();
    let writes_before = st.writes();
    track_n(&mut t, 10_000);
    assert_eq!(st.writes(), writes_before, "track() never writes storage");
    t.persist();
    assert_eq!(st.writes(), writes_before + 2, "one outbox chunk and the session record");
    assert_eq!(st.keys("ot1.q.").len(), 1);
    let mut delivered = 0;
    while let Some(s) = t.poll() {
        delivered += s.events;
        t.on_response(s.batch_id, 200, None, None);
        t.persist();
    }
    assert_eq!(delivered, 10_000);
    assert!(t.is_idle());
    assert!(st.keys("ot1.q.").is_empty());
}

fn batch_of(t: &mut T) -> serde_json::Value {
    t.flush();
    let s = t.poll().expect("a batch");
    t.on_response(s.batch_id, 200, None, None);
    serde_json::from_str(&s.body).unwrap()
}

#[test]
fn sessions_mark_the_first_event_and_time_out_after_30_minutes() {
    let (mut t, _, clock) = leader();
    track_n(&mut t, 2);
    clock.advance(29.0 * 60_000.0);
    track_n(&mut t, 1);
    let v = batch_of(&mut t);
    let ctx = |i: usize| v["batch"][i]["context"].clone();
    assert_eq!(ctx(0)["sessionId"], 1_000_000);
    assert_eq!(ctx(0)["sessionStart"], true);
    assert!(ctx(1).get("sessionStart").is_none());
    assert_eq!(ctx(2)["sessionId"], 1_000_000, "29 minutes later: same session");
    clock.advance(30.0 * 60_000.0 + 1.0);
    track_n(&mut t, 1);
    let v = batch_of(&mut t);
    assert_eq!(v["batch"][0]["context"]["sessionStart"], true);
    assert_ne!(v["batch"][0]["context"]["sessionId"], 1_000_000);
}

#[test]
fn identity_endpoint_is_asked_once_per_session_not_once_per_page() {
    let st = MemoryStorage::default();
    let clock = ManualClock::at(1_000_000.0);
    let mut cfg = cfg();
    cfg.identity_endpoint = Some("http://127.0.0.1:9/v1/identity".into());
    let mk = |tab: &str| Tracker::new(cfg.clone(), st.clone(), clock.clone(), SeqIds::seeded(1), tab, Environment::default());
    let mut page1 = mk("p1");
    track_n(&mut page1, 3);
    let (url, body) = page1.take_identity_refresh().expect("first session: refresh");
    assert_eq!(url, "http://127.0.0.1:9/v1/identity");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["anonymousId"], page1.identity().anonymous_id.as_str());
    assert_eq!(v["writeKey"], "wk");
    assert_eq!(page1.take_identity_refresh(), None);
    page1.persist();
    // Next page load, same session: no new request.
    let mut page2 = mk("p2");
    clock.advance(60_000.0);
    track_n(&mut page2, 3);
    assert_eq!(page2.take_identity_refresh(), None);
    page2.persist();
    // A new session: one more.
    clock.advance(31.0 * 60_000.0);
    let mut page3 = mk("p3");
    track_n(&mut page3, 1);
    assert!(page3.take_identity_refresh().is_some());
}

#[test]
fn session_started_event_when_enabled() {
    let st = MemoryStorage::default();
    let clock = ManualClock::at(5_000.0);
    let mut c = cfg();
    c.session_started_event = true;
    let mut t = Tracker::new(c, st, clock, SeqIds::seeded(1), "t", Environment::default());
    t.become_leader();
    track_n(&mut t, 2);
    let v = batch_of(&mut t);
    assert_eq!(v["batch"][0]["event"], "Session Started");
    assert_eq!(v["batch"][0]["context"]["sessionStart"], true);
    assert!(v["batch"][1]["context"].get("sessionStart").is_none());
    assert_eq!(v["batch"].as_array().unwrap().len(), 3);
}

#[test]
fn two_tabs_share_a_session() {
    let st = MemoryStorage::default();
    let clock = ManualClock::at(1_000_000.0);
    let mut a = tab(&st, &clock, "A", 1);
    track_n(&mut a, 1);
    a.persist();
    let mut b = tab(&st, &clock, "B", 2);
    clock.advance(20.0 * 60_000.0);
    a.track("E", None, &CallOptions::default()).unwrap();
    a.persist();
    b.on_storage_change("ot1.sess", st.get("ot1.sess").as_deref());
    clock.advance(20.0 * 60_000.0);
    b.track("E", None, &CallOptions::default()).unwrap();
    assert_eq!(b.session().id, 1_000_000.0, "B saw A's activity: no timeout after 40 min");
}

#[test]
fn identify_sends_all_merged_traits() {
    let (mut t, _, _) = leader();
    let o = CallOptions::default();
    t.identify(Some("ada"), Some(r#"{"email":"a@x","plan":"free"}"#), &o).unwrap();
    t.identify(None, Some(r#"{"plan":"pro"}"#), &o).unwrap();
    let v = batch_of(&mut t);
    assert_eq!(v["batch"][1]["traits"], serde_json::json!({"email": "a@x", "plan": "pro"}));
    assert_eq!(v["batch"][1]["userId"], "ada");
}

fn consenting(mode: crate::consent::Mode, changed_event: bool) -> (T, MemoryStorage, ManualClock) {
    let st = MemoryStorage::default();
    st.set_host("www.shop.test");
    let clock = ManualClock::at(1_000_000.0);
    let mut c = cfg();
    c.consent.mode = mode;
    c.consent.changed_event = changed_event;
    let env = Environment { host: "www.shop.test".into(), ..Environment::default() };
    let mut t = Tracker::new(c, st.clone(), clock.clone(), SeqIds::seeded(4), "c", env);
    t.become_leader();
    (t, st, clock)
}

fn grant(analytics: bool) -> Vec<(String, bool)> {
    vec![("analytics".to_owned(), analytics)]
}

#[test]
fn opt_in_stores_and_sends_nothing_before_consent_then_releases_the_buffer() {
    use crate::consent::{Collection, Mode};
    let (mut t, st, _) = consenting(Mode::OptIn, false);
    track_n(&mut t, 5);
    t.persist();
    t.flush();
    assert_eq!(t.poll(), None, "nothing sent before consent");
    assert_eq!(t.next_wake(), None, "no timer: nothing happens until the visitor decides");
    assert!(t.on_hidden(true).is_empty());
    assert!(st.dump().is_empty(), "no storage write at all: {:?}", st.dump());
    assert!(st.cookie_attempts().is_empty(), "no cookie at all");
    let out = t.set_consent(&grant(true));
    assert_eq!(out.collection, Collection::Allowed);
    t.persist();
    assert!(st.get("ot1.aid").is_some());
    assert!(!st.cookies().is_empty());
    t.flush();
    let s = t.poll().expect("the buffer goes out");
    assert_eq!(s.events, 5);
    let v: serde_json::Value = serde_json::from_str(&s.body).unwrap();
    // Buffered before the choice, they carry the consent they are sent under (a downstream
    // consent filter would drop exactly what the visitor allowed otherwise).
    for m in v["batch"].as_array().unwrap() {
        assert_eq!(
            m["context"]["consent"]["categoryPreferences"],
            serde_json::json!({"necessary": true, "analytics": true, "marketing": false})
        );
    }
    track_n(&mut t, 1);
    t.on_response(s.batch_id, 200, None, None);
    t.flush();
    let later: serde_json::Value = serde_json::from_str(&t.poll().unwrap().body).unwrap();
    assert_eq!(later["batch"][0]["context"]["consent"]["categoryPreferences"]["analytics"], true);
}

#[test]
fn opt_in_denial_discards_the_buffer_and_ignores_later_calls() {
    use crate::consent::Mode;
    let (mut t, st, _) = consenting(Mode::OptIn, true);
    track_n(&mut t, 5);
    t.set_consent(&grant(false));
    track_n(&mut t, 5);
    t.persist();
    t.flush();
    assert_eq!(t.poll(), None);
    assert!(t.is_idle());
    assert_eq!(st.dump().keys().collect::<Vec<_>>(), vec!["ot1.consent"], "only the decision is stored");
}

#[test]
fn the_pre_consent_buffer_is_bounded_in_count_and_age() {
    use crate::consent::Mode;
    let (mut t, _, clock) = consenting(Mode::OptIn, false);
    track_n(&mut t, 250);
    assert_eq!(t.stats().outbox.queued, 200, "max 200 events by default");
    clock.advance(31.0 * 60_000.0);
    track_n(&mut t, 1);
    assert_eq!(t.poll(), None);
    assert_eq!(t.stats().outbox.queued, 1, "30-minute TTL");
}

#[test]
fn revoking_deletes_everything_stored_and_sends_one_final_record() {
    use crate::consent::{Collection, Mode};
    let (mut t, st, _) = consenting(Mode::OptOut, true);
    t.identify(Some("ada"), Some(r#"{"plan":"pro"}"#), &CallOptions::default()).unwrap();
    t.page_view(None, None, None, &CallOptions::default()).unwrap();
    track_n(&mut t, 3);
    t.persist();
    assert!(st.keys("ot1.").len() >= 4 && !st.cookies().is_empty());
    let out = t.set_consent(&grant(false));
    assert_eq!(out.collection, Collection::Denied);
    assert_eq!(st.dump().keys().collect::<Vec<_>>(), vec!["ot1.consent"], "identity, outbox, session, journey deleted");
    assert!(st.cookies().is_empty(), "cookie deleted");
    track_n(&mut t, 3);
    t.persist();
    assert_eq!(st.dump().len(), 1);
    t.flush();
    let s = t.poll().expect("the final record");
    let v: serde_json::Value = serde_json::from_str(&s.body).unwrap();
    assert_eq!(s.events, 1);
    assert_eq!(v["batch"][0]["event"], "Consent Changed");
    assert_eq!(v["batch"][0]["properties"]["categoryPreferences"]["analytics"], false);
    t.on_response(s.batch_id, 200, None, None);
    assert!(t.is_idle());
    assert_ne!(t.identity().user_id.as_deref(), Some("ada"), "the visitor is forgotten");
}

#[test]
fn every_event_carries_the_preferences_and_gpc_denies_marketing() {
    let st = MemoryStorage::default();
    let env = Environment { signals: crate::consent::Signals { gpc: true, dnt: false }, ..Environment::default() };
    let mut t = Tracker::new(cfg(), st, ManualClock::at(5.0), SeqIds::seeded(1), "g", env);
    t.become_leader();
    track_n(&mut t, 1);
    let v = batch_of(&mut t);
    assert_eq!(
        v["batch"][0]["context"]["consent"]["categoryPreferences"],
        serde_json::json!({"necessary": true, "analytics": true, "marketing": false})
    );
}

#[test]
fn cookieless_mode_writes_no_cookie_and_keeps_the_identity_in_memory() {
    let st = MemoryStorage::default();
    st.set_host("www.shop.test");
    let mut c = cfg();
    c.cookieless = true;
    let env = Environment { host: "www.shop.test".into(), ..Environment::default() };
    let mut t = Tracker::new(c, st.clone(), ManualClock::at(5.0), SeqIds::seeded(1), "k", env);
    t.become_leader();
    t.identify(Some("ada"), None, &CallOptions::default()).unwrap();
    track_n(&mut t, 2);
    t.persist();
    assert!(st.cookie_attempts().is_empty());
    assert!(st.get("ot1.aid").is_none() && st.get("ot1.uid").is_none());
    assert_eq!(batch_of(&mut t)["batch"][0]["userId"], "ada");
}

#[test]
fn another_tabs_decision_applies_at_once() {
    use crate::consent::Mode;
    let (mut a, st, clock) = consenting(Mode::OptIn, false);
    let mut c = cfg();
    c.consent.mode = Mode::OptIn;
    let mut b = Tracker::new(c, st.clone(), clock.clone(), SeqIds::seeded(9), "b", Environment::default());
    a.set_consent(&grant(true));
    b.on_storage_change("ot1.consent", st.get("ot1.consent").as_deref());
    assert_eq!(b.consent().collection(), crate::consent::Collection::Allowed);
}

#[test]
fn the_app_hears_of_new_sessions_and_its_own_session_is_continued() {
    let (mut t, st, clock) = leader();
    assert_eq!(t.take_session_start_message(), None, "no event, no session");
    t.track("A", None, &CallOptions::default()).unwrap();
    let m = t.take_session_start_message().expect("a session started");
    assert!(m.contains("\"type\":\"session\",\"sessionId\":1000000,"), "{m}");
    assert_eq!(t.take_session_start_message(), None, "once");
    // The app's session is more recent (the customer was in native screens): continue it.
    clock.advance(60_000.0);
    t.adopt_native_session(1_030_000.0, 1_059_000.0);
    t.track("B", None, &CallOptions::default()).unwrap();
    assert_eq!(t.take_session_start_message(), None, "continued, not started");
    t.persist();
    assert!(st.dump()["ot1.sess"].starts_with("1030000 "), "shared with the other tabs");
    let hidden = t.session_message().unwrap();
    assert!(hidden.contains("\"lastActivity\":1060000"), "{hidden}");
}

#[test]
fn a_collector_that_refuses_gzip_gets_the_batch_again_plain() {
    let st = MemoryStorage::default();
    let clock = ManualClock::at(1_000_000.0);
    let mut c = cfg();
    c.compression = crate::config::Compression::Gzip;
    let mut t = Tracker::new(c, st.clone(), clock.clone(), SeqIds::seeded(1), "A", Environment::default());
    t.become_leader();
    track_n(&mut t, 20);
    let s = t.poll().unwrap();
    assert!(t.compress(&s), "a 20-event batch is over the threshold");
    t.on_response(s.batch_id, 400, None, None);
    assert_eq!(t.stats().rejected, 0, "not dropped");
    let again = t.poll().expect("sent again at once");
    assert_eq!(ids_of(&again.body), ids_of(&s.body));
    assert!(!t.compress(&again), "plain from now on");
    t.on_response(again.batch_id, 400, None, None);
    assert_eq!(t.stats().rejected, 20, "a plain 400 is a real rejection");
}

#[test]
fn a_route_is_new_until_its_page_view_whether_automatic_or_explicit() {
    let (mut t, _, _) = leader();
    let page = |url: &str| PageContext { url: url.to_owned(), path: url.to_owned(), ..PageContext::default() };
    t.set_page(page("https://shop.test/"));
    assert!(!t.is_new_route("https://shop.test/#top"), "a fragment is the same route");
    assert!(t.is_new_route("https://shop.test/tee"));
    // The web layer sends the route's page view before a call made on it.
    assert!(t.on_route_change(page("https://shop.test/tee"), "https://shop.test/tee"));
    track_n(&mut t, 1);
    let v = batch_of(&mut t);
    assert_eq!(v["batch"][0]["type"], "page");
    assert_eq!(v["batch"][1]["context"]["page"]["url"], "https://shop.test/tee");
    assert!(!t.is_new_route("https://shop.test/tee"));
    // An explicit page() on a new route is its page view: no automatic one after it.
    t.page_view_at("https://shop.test/cart");
    assert!(!t.is_new_route("https://shop.test/cart"));
}

#[test]
fn buffered_events_are_stamped_once_with_the_consent_they_are_sent_under_even_when_properties_look_like_it() {
    use crate::consent::Mode;
    let (mut t, _, _) = consenting(Mode::OptIn, false);
    // A property that is byte-for-byte the pending consent member must stay as it is.
    let lookalike = r#"{"consent":{"categoryPreferences":{"necessary":true,"analytics":false,"marketing":false}}}"#;
    t.track("Lookalike", Some(lookalike), &CallOptions::default()).unwrap();
    track_n(&mut t, 1);
    t.set_consent(&[("analytics".to_owned(), true), ("marketing".to_owned(), true)]);
    let v = batch_of(&mut t);
    let batch = v["batch"].as_array().unwrap();
    assert_eq!(batch.len(), 2);
    for m in batch {
        assert_eq!(
            m["context"]["consent"]["categoryPreferences"],
            serde_json::json!({"necessary": true, "analytics": true, "marketing": true})
        );
    }
    assert_eq!(batch[0]["properties"]["consent"]["categoryPreferences"]["analytics"], false, "the properties are untouched");
}

#[test]
fn a_refused_batch_is_reported_once_per_status_and_counted() {
    let (mut t, _, _) = leader();
    let answer = |t: &mut T, status: u16| {
        track_n(t, 2);
        t.flush();
        let s = t.poll().expect("a batch");
        t.on_response(s.batch_id, status, None, None)
    };
    assert_eq!(answer(&mut t, 401), Some(crate::delivery::Refusal { status: 401, events: 2 }));
    assert_eq!(answer(&mut t, 401), None, "once per status");
    assert_eq!(answer(&mut t, 403).map(|r| r.status), Some(403));
    assert_eq!(answer(&mut t, 500), None, "retried, not refused");
    assert_eq!(t.stats().rejected, 6);
}

#[test]
fn a_followers_flush_settles_only_once_the_delivering_tab_acknowledged_what_it_handed_over() {
    let (mut lead, mut fol, st) = leader_and_follower();
    track_n(&mut fol, 3);
    fol.flush();
    fol.persist();
    assert_eq!(fol.poll(), None);
    assert_eq!(fol.settle_flush(false), None, "handed over, not acknowledged: flush() waits");
    let keys = forward_follower_chunks(&st, &mut lead);
    lead.flush();
    let s = lead.poll().unwrap();
    assert_eq!(fol.settle_flush(false), None, "in flight at the leader: still waiting");
    lead.on_response(s.batch_id, 200, None, None);
    assert!(st.keys("ot1.q.").is_empty());
    // The leader's removal reaches the follower as storage events.
    for k in &keys {
        fol.on_storage_change(k, None);
    }
    assert_eq!(fol.settle_flush(false), Some(true), "acknowledged by the delivering tab");
    // Another tab's chunk leaving storage is no news for this one's flush.
    assert_eq!(fol.settle_flush(false), Some(true));
}

#[test]
fn a_follower_that_takes_over_delivers_what_it_had_handed_over() {
    let st = MemoryStorage::default();
    let clock = ManualClock::at(0.0);
    let mut fol = tab(&st, &clock, "F", 2);
    fol.become_follower();
    track_n(&mut fol, 4);
    fol.flush();
    fol.persist();
    assert_eq!(fol.settle_flush(false), None);
    fol.become_leader(); // the delivering tab closed without delivering
    let s = fol.poll().expect("its own events, adopted back");
    assert_eq!(s.events, 4);
    fol.on_response(s.batch_id, 200, None, None);
    assert_eq!(fol.settle_flush(false), Some(true));
}

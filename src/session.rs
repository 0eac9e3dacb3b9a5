//! Sessions: 30 minutes of inactivity (configurable) end one; all tabs share it.
//!
//! Owns: the session id (the start time in ms, as Segment's `context.sessionId`), the
//! last-activity time, and their persisted copy `{prefix}.sess` = `"{id} {last}"`. Activity is
//! recorded in memory on each event and persisted coalesced (by the tracker's `persist`), so
//! `track()` never touches storage. Other tabs' activity arrives through `storage` events.
//! Must never: start a new session because of another tab's stale value, or read storage on
//! the event path.

use crate::json::{parse_decimal, push_u64};
use crate::ports::Storage;

#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    /// Start of the current session (ms since the epoch); 0 before the first event.
    pub id: f64,
    /// Last activity of any tab (ms).
    pub last: f64,
    timeout_ms: f64,
    key: String,
    dirty: bool,
}

/// What an event learns from the session.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mark {
    pub id: f64,
    /// This event starts the session.
    pub start: bool,
}

fn parse(v: &str) -> Option<(f64, f64)> {
    let (id, last) = v.split_once(' ')?;
    let (id, last) = (parse_decimal(id)?, parse_decimal(last)?);
    (id > 0.0 && last >= id).then_some((id, last))
}

impl Session {
    pub fn load(prefix: &str, timeout_ms: f64, storage: &dyn Storage) -> Session {
        let key = [prefix, ".sess"].concat();
        let (id, last) = storage.get(&key).as_deref().and_then(parse).unwrap_or((0.0, 0.0));
        Session { id, last, timeout_ms, key, dirty: false }
    }

    /// True if an event at `now` would start a new session.
    pub fn expired(&self, now: f64) -> bool {
        self.id == 0.0 || now - self.last > self.timeout_ms
    }

    /// Records activity at `now` (memory only).
    pub fn touch(&mut self, now: f64) -> Mark {
        let start = self.expired(now);
        if start {
            self.id = now;
        }
        self.last = self.last.max(now);
        self.dirty = true;
        Mark { id: self.id, start }
    }

    /// Writes the session if it changed since the last call.
    pub fn persist(&mut self, storage: &mut dyn Storage) {
        if !self.dirty || self.id == 0.0 {
            return;
        }
        let mut v = String::with_capacity(28);
        push_u64(&mut v, self.id as u64);
        v.push(' ');
        push_u64(&mut v, self.last as u64);
        if storage.set(&self.key, &v).is_ok() {
            self.dirty = false;
        }
    }

    /// Another tab wrote the session. Returns true if `key` was ours.
    pub fn on_storage_change(&mut self, key: &str, value: Option<&str>) -> bool {
        if key != self.key {
            return false;
        }
        if let Some((id, last)) = value.and_then(parse) {
            self.merge(id, last);
        }
        true
    }

    /// Another tab's or the native app's session: the same one extends this one's activity; a
    /// more recent one becomes the current one. Returns true if this session changed.
    pub fn merge(&mut self, id: f64, last: f64) -> bool {
        if !(id > 0.0 && last >= id) {
            return false;
        }
        if id == self.id && last > self.last {
            self.last = last;
        } else if id != self.id && last > self.last {
            self.id = id;
            self.last = last;
        } else {
            return false;
        }
        true
    }

    /// Adopts the native app's session (`merge`), to be written for the other tabs too.
    pub fn adopt(&mut self, id: f64, last: f64) -> bool {
        let changed = self.merge(id, last);
        self.dirty |= changed;
        changed
    }

    /// Forgets the session (consent revoked, reset of everything).
    pub fn clear(&mut self, storage: &mut dyn Storage) {
        self.id = 0.0;
        self.last = 0.0;
        self.dirty = false;
        storage.remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryStorage;

    const MIN: f64 = 60_000.0;

    #[test]
    fn starts_times_out_and_restarts() {
        let mut st = MemoryStorage::default();
        let mut s = Session::load("ot1", 30.0 * MIN, &st);
        let m = s.touch(1_000.0);
        assert_eq!(m, Mark { id: 1_000.0, start: true });
        assert_eq!(s.touch(1_000.0 + 29.0 * MIN), Mark { id: 1_000.0, start: false });
        // 30 minutes after the *last* activity, not the first.
        assert_eq!(s.touch(1_000.0 + 58.0 * MIN), Mark { id: 1_000.0, start: false });
        let late = 1_000.0 + 58.0 * MIN + 30.0 * MIN + 1.0;
        assert_eq!(s.touch(late), Mark { id: late, start: true });
        s.persist(&mut st);
        assert_eq!(st.get("ot1.sess").as_deref(), Some(format!("{} {}", late as u64, late as u64).as_str()));
    }

    #[test]
    fn survives_reload_and_persists_only_when_changed() {
        let mut st = MemoryStorage::default();
        let mut s = Session::load("ot1", 30.0 * MIN, &st);
        s.touch(5_000.0);
        s.persist(&mut st);
        let writes = st.writes();
        s.persist(&mut st);
        assert_eq!(st.writes(), writes, "nothing new, no write");
        let mut again = Session::load("ot1", 30.0 * MIN, &st);
        assert_eq!(again.touch(6_000.0), Mark { id: 5_000.0, start: false });
    }

    #[test]
    fn tabs_share_one_session() {
        let mut st = MemoryStorage::default();
        let mut a = Session::load("ot1", 30.0 * MIN, &st);
        a.touch(1_000.0);
        a.persist(&mut st);
        let mut b = Session::load("ot1", 30.0 * MIN, &st);
        assert_eq!(b.touch(10.0 * MIN).id, 1_000.0, "B joins A's session");
        // A stays active for an hour; B hears about it through storage events.
        for t in 1..=6 {
            a.touch(t as f64 * 10.0 * MIN);
            a.persist(&mut st);
            b.on_storage_change("ot1.sess", st.get("ot1.sess").as_deref());
        }
        assert_eq!(b.touch(65.0 * MIN), Mark { id: 1_000.0, start: false }, "B did not time out");
    }

    #[test]
    fn the_app_session_is_adopted_when_more_recent() {
        let st = MemoryStorage::default();
        let mut s = Session::load("ot1", 30.0 * MIN, &st);
        assert!(s.adopt(1_000.0, 5_000.0), "no session yet: the app's");
        assert_eq!(s.touch(6_000.0), Mark { id: 1_000.0, start: false });
        assert!(!s.adopt(500.0, 2_000.0), "older: ignored");
        assert!(!s.adopt(f64::NAN, 2_000.0));
        assert!(!s.adopt(3_000.0, 2_000.0), "last before id");
        assert!(s.adopt(1_000.0, 9_000.0), "same session, later activity");
        assert_eq!(s.last, 9_000.0);
    }

    #[test]
    fn corrupt_values_are_ignored() {
        for bad in ["", "x", "1", "5 4", "-1 3", "1 2 3", "nan nan"] {
            let st = MemoryStorage::default();
            st.plant("ot1.sess", bad);
            let mut s = Session::load("ot1", 30.0 * MIN, &st);
            assert!(s.touch(100.0).start, "{bad:?}");
            assert!(!s.on_storage_change("other", Some(bad)));
            assert!(s.on_storage_change("ot1.sess", Some(bad)));
            assert_eq!(s.id, 100.0);
        }
    }
}

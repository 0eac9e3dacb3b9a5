//! The delivery lease in storage, for browsers without the Web Locks API.
//!
//! Owns: deciding which tab delivers when `navigator.locks` is missing. The lease is
//! `{prefix}.lease` = `{tab} {expiresAtMs}`. A tab claims a missing or expired lease by
//! writing it, and holds it only if it still reads its own claim on the next tick (so two
//! tabs that claim at once settle on the last writer). The holder renews it every tick.
//! Must never: be used where Web Locks exist (they are exact; this is best effort).

use crate::ports::Storage;

/// Lease lifetime; ticks should run at a third of it.
pub const LEASE_MS: f64 = 6_000.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseState {
    /// This tab holds the lease: it delivers.
    Held,
    /// This tab wrote a claim; the next tick confirms it.
    Claimed,
    /// Another tab holds a live lease.
    Other,
}

#[derive(Clone, Debug)]
pub struct Lease {
    key: String,
    tab: String,
    state: LeaseState,
}

impl Lease {
    pub fn new(prefix: &str, tab: &str) -> Lease {
        Lease { key: [prefix, ".lease"].concat(), tab: tab.to_owned(), state: LeaseState::Other }
    }

    pub fn state(&self) -> LeaseState {
        self.state
    }

    /// Advances the lease protocol at `now`.
    pub fn tick(&mut self, storage: &mut dyn Storage, now: f64) -> LeaseState {
        let current = storage.get(&self.key);
        let (holder, expires) = match current.as_deref().and_then(|v| v.split_once(' ')) {
            Some((h, e)) => (h.to_owned(), crate::json::parse_decimal(e).unwrap_or(0.0)),
            None => (String::new(), 0.0),
        };
        let mine = holder == self.tab;
        let write = |storage: &mut dyn Storage| {
            let mut v = self.tab.clone();
            v.push(' ');
            crate::json::push_u64(&mut v, (now + LEASE_MS).max(0.0) as u64);
            let _ = storage.set(&self.key, &v);
        };
        self.state = if mine && expires > now {
            write(storage);
            LeaseState::Held
        } else if !mine && expires > now {
            LeaseState::Other
        } else {
            write(storage);
            LeaseState::Claimed
        };
        // A confirmed claim: ours survived a full tick.
        if self.state == LeaseState::Held || (mine && self.state == LeaseState::Claimed) {
            self.state = LeaseState::Held;
        }
        self.state
    }

    /// Gives the lease up (page hidden for good).
    pub fn release(&mut self, storage: &mut dyn Storage) {
        if self.state == LeaseState::Held {
            storage.remove(&self.key);
        }
        self.state = LeaseState::Other;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryStorage;

    #[test]
    fn one_holder_at_a_time_and_takeover_after_expiry() {
        let mut st = MemoryStorage::default();
        let (mut a, mut b) = (Lease::new("ot1", "A"), Lease::new("ot1", "B"));
        assert_eq!(a.tick(&mut st, 0.0), LeaseState::Claimed);
        assert_eq!(b.tick(&mut st, 10.0), LeaseState::Other);
        assert_eq!(a.tick(&mut st, 100.0), LeaseState::Held);
        assert_eq!(b.tick(&mut st, 2000.0), LeaseState::Other);
        assert_eq!(a.tick(&mut st, 2000.0), LeaseState::Held);
        // A stops renewing (tab closed): B takes over once it expires.
        assert_eq!(b.tick(&mut st, 2000.0 + LEASE_MS - 1.0), LeaseState::Other);
        assert_eq!(b.tick(&mut st, 2000.0 + LEASE_MS + 1.0), LeaseState::Claimed);
        assert_eq!(b.tick(&mut st, 2000.0 + LEASE_MS + 100.0), LeaseState::Held);
        // A comes back: it sees B's live lease.
        assert_eq!(a.tick(&mut st, 2000.0 + LEASE_MS + 200.0), LeaseState::Other);
    }

    #[test]
    fn simultaneous_claims_settle_on_the_last_writer() {
        let mut st = MemoryStorage::default();
        let (mut a, mut b) = (Lease::new("ot1", "A"), Lease::new("ot1", "B"));
        assert_eq!(a.tick(&mut st, 0.0), LeaseState::Claimed);
        // B read before A wrote (simulated by clearing), then wrote its own claim.
        st.remove("ot1.lease");
        assert_eq!(b.tick(&mut st, 1.0), LeaseState::Claimed);
        assert_eq!(a.tick(&mut st, 100.0), LeaseState::Other);
        assert_eq!(b.tick(&mut st, 101.0), LeaseState::Held);
    }

    #[test]
    fn corrupt_lease_is_claimable() {
        let mut st = MemoryStorage::default();
        let _ = st.set("ot1.lease", "garbage");
        let mut a = Lease::new("ot1", "A");
        assert_eq!(a.tick(&mut st, 0.0), LeaseState::Claimed);
        assert_eq!(a.tick(&mut st, 1.0), LeaseState::Held);
    }
}

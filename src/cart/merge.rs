//! Merging another replica's state: the join of two dot stores.
//!
//! Owns: keeping an entry iff both replicas hold it or the one lacking it never saw it,
//! version-vector union, the cap on live entries after a join, forgetting idle replicas. Must never: emit events, or lose a write
//! one side holds and the other never saw.

use super::*;

impl Cart {
    /// Merges another replica's state into this one (the join of the two states: commutative,
    /// associative, idempotent). Emits no event. Returns true if this state changed.
    pub fn merge(&mut self, other: &Cart) -> bool {
        self.join(other.clone())
    }

    /// [`Cart::merge`] of a state this replica owns (decoded from storage, another tab, the
    /// collector): its entries move instead of being cloned, so the wasm, which only merges
    /// decoded states, holds no `Entry` clone.
    pub(super) fn join(&mut self, other: Cart) -> bool {
        let mut changed = false;
        // One pass over both dot-sorted lists. An entry both hold stays (the same dot with two
        // contents only happens when two writers share a replica id: the larger wins,
        // deterministically); one that only one side holds stays iff the other side has
        // never seen its dot (seen and not held means removed there).
        let mine = std::mem::take(&mut self.entries.0);
        let mut out: Vec<(Dot, Entry)> = Vec::with_capacity(mine.len().max(other.entries.len()));
        let mut theirs = other.entries.0.into_iter().peekable();
        for (d, e) in mine {
            while let Some((od, oe)) = theirs.next_if(|(od, _)| od.cmp(&d).is_lt()) {
                if !has_seen(&self.vv, &od) {
                    out.push((od, oe));
                    changed = true;
                }
            }
            match theirs.next_if(|(od, _)| *od == d) {
                Some((_, oe)) if oe.cmp(&e).is_gt() => {
                    changed = true;
                    out.push((d, oe));
                }
                Some(_) => out.push((d, e)),
                None if has_seen(&other.vv, &d) => changed = true,
                None => out.push((d, e)),
            }
        }
        for (od, oe) in theirs {
            if !has_seen(&self.vv, &od) {
                out.push((od, oe));
                changed = true;
            }
        }
        self.entries.0 = out;
        for (r, s) in other.vv.iter() {
            let mine = self.vv.get_or_insert(r, Seen { ctr: 0, last: 0 });
            if s.ctr > mine.ctr || s.last > mine.last {
                mine.ctr = mine.ctr.max(s.ctr);
                mine.last = mine.last.max(s.last);
                changed = true;
            }
        }
        if other.max_ts > self.max_ts {
            self.max_ts = other.max_ts;
            changed = true;
        }
        self.prune_orders();
        self.cap_entries();
        self.forget_replicas();
        self.dirty |= changed;
        changed
    }

    /// Past [`MAX_ENTRIES`] live entries — only a join of two large states gets there; local
    /// operations stay far below — drops the oldest by `(ts, dot)` until [`MAX_ENTRIES`]
    /// remain, so every merged state still decodes. Deterministic (the same entries go on
    /// every replica that joins the same states), and a dropped dot stays in the version
    /// vector, so it reads as removed everywhere and the replicas still converge. No sort
    /// (bytes): the cut-off time is found by bisection (linear scans), ties go in dot order.
    fn cap_entries(&mut self) {
        let excess = self.entries.len().saturating_sub(MAX_ENTRIES);
        if excess == 0 {
            return;
        }
        // Entries stamped before `t`: one counting loop for the bisection and the ties.
        let before = |t: u64| {
            let mut n = 0;
            for (_, e) in self.entries.iter() {
                n += usize::from(e.ts < t);
            }
            n
        };
        let (mut lo, mut hi) = (0u64, u64::MAX);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            // `ts <= mid` is `ts < mid + 1` (`mid < u64::MAX` here).
            if before(mid + 1) >= excess {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        let tied = core::cell::Cell::new(excess - before(lo));
        // `remove_where` visits entries in dot order.
        self.remove_where(&|e| {
            let tie = e.ts == lo && tied.get() > 0;
            if tie {
                tied.set(tied.get() - 1);
            }
            e.ts < lo || tie
        });
    }

    /// Past [`MAX_REPLICAS`], forgets replicas that hold no live entry, oldest last write
    /// first (never this replica).
    pub(super) fn forget_replicas(&mut self) {
        while self.vv.len() > MAX_REPLICAS {
            let mut victim: Option<(u64, &String)> = None;
            for (r, s) in self.vv.iter() {
                if *r != self.replica
                    && !self.entries.iter().any(|(d, _)| d.r == *r)
                    && victim.map_or(true, |v| (s.last, r).cmp(&v).is_lt())
                {
                    victim = Some((s.last, r));
                }
            }
            let Some((_, r)) = victim else { return };
            let r = r.clone();
            self.vv.remove(r.as_str());
        }
    }

    /// Merges a state received as [`Cart::encode`] text (another tab, the collector).
    /// `None` when the text is corrupt (nothing changes); else whether this state changed.
    pub fn merge_encoded(&mut self, text: &str) -> Option<bool> {
        let other = Cart::decode(text, "_")?;
        Some(self.join(other))
    }
}

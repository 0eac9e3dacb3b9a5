//! Connection admission: the global connection cap, the per-client-address cap, and the choice
//! of which idle connection to evict when the cap is reached.
//!
//! Every accepted socket asks [`ConnTable::admit`] before anything else happens to it. Over the
//! per-address cap it is shed at once; at the global cap the table evicts the connection that
//! has waited longest without a request in flight — connections that never delivered a complete
//! request go first, kept-alive ones after — and only when every slot is busy with a request is
//! the newcomer shed. A [`ConnGuard`] (RAII) holds the connection's place until it is dropped;
//! [`ConnGuard::begin_request`] / [`RequestGuard`] mark the time a request is being handled, so
//! a connection is never evicted with a request in flight.
//!
//! Owns: the counts, the idle-order bookkeeping, eviction signalling, and raising the process's
//! open-file limit. Must never: touch sockets, sleep, or hold its lock across an `.await`.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::Notify;

/// Why a connection was refused at admission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shed {
    /// Its client address already has `max_per_ip` connections open.
    PerIp,
    /// The global cap is reached and every connection has a request in flight.
    Capacity,
}

impl Shed {
    pub fn label(self) -> &'static str {
        match self {
            Shed::PerIp => "per_ip",
            Shed::Capacity => "capacity",
        }
    }
}

/// The result of a successful [`ConnTable::admit`].
pub struct Admitted {
    pub guard: ConnGuard,
    /// Another (idle) connection was evicted to make room.
    pub evicted_other: bool,
}

/// Shared table of open connections. Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct ConnTable {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    max_total: usize,
    /// 0 = unlimited.
    max_per_ip: usize,
    next_id: u64,
    next_seq: u64,
    /// Admitted and not evicted: what the global cap counts.
    counted: usize,
    /// Open sockets per client address (evicted ones count until they are closed).
    per_ip: HashMap<IpAddr, usize>,
    conns: HashMap<u64, Entry>,
    /// Evictable connections, in eviction order: never-served before served, then oldest
    /// idle first. Key: (served, idle sequence number) → connection id.
    idle: BTreeMap<(bool, u64), u64>,
}

struct Entry {
    ip: IpAddr,
    state: State,
    /// When the connection last became idle (accepted, or its last response finished).
    idle_since: Instant,
    served: bool,
    evict: Arc<Notify>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No request in flight; the value is its key in `Inner::idle`.
    Idle(u64),
    Busy,
    Evicted,
}

impl ConnTable {
    /// `max_total` is raised to at least 1; `max_per_ip == 0` means no per-address limit.
    pub fn new(max_total: usize, max_per_ip: usize) -> ConnTable {
        ConnTable {
            inner: Arc::new(Mutex::new(Inner {
                max_total: max_total.max(1),
                max_per_ip,
                next_id: 0,
                next_seq: 0,
                counted: 0,
                per_ip: HashMap::new(),
                conns: HashMap::new(),
                idle: BTreeMap::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits a freshly accepted connection from `ip`, evicting the longest-idle connection if
    /// the global cap is reached, or says why it must be shed. Never waits.
    pub fn admit(&self, ip: IpAddr) -> Result<Admitted, Shed> {
        let mut g = self.lock();
        let inner = &mut *g;
        let on_ip = inner.per_ip.get(&ip).copied().unwrap_or(0);
        if inner.max_per_ip > 0 && on_ip >= inner.max_per_ip {
            return Err(Shed::PerIp);
        }
        let mut evicted_other = false;
        if inner.counted >= inner.max_total {
            let Some((_, victim)) = inner.idle.pop_first() else {
                return Err(Shed::Capacity);
            };
            if let Some(e) = inner.conns.get_mut(&victim) {
                e.state = State::Evicted;
                e.evict.notify_one();
            }
            inner.counted -= 1;
            evicted_other = true;
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let evict = Arc::new(Notify::new());
        inner.conns.insert(
            id,
            Entry {
                ip,
                state: State::Idle(seq),
                idle_since: Instant::now(),
                served: false,
                evict: evict.clone(),
            },
        );
        inner.idle.insert((false, seq), id);
        inner.counted += 1;
        *inner.per_ip.entry(ip).or_insert(0) += 1;
        Ok(Admitted {
            guard: ConnGuard {
                table: self.clone(),
                id,
                evict,
            },
            evicted_other,
        })
    }

    /// Evicts every connection that has no request in flight (used at shutdown: connections
    /// that are idle or still sending headers are closed; busy ones finish their request).
    /// Returns how many were signalled.
    pub fn evict_all_idle(&self) -> usize {
        let mut g = self.lock();
        let inner = &mut *g;
        let mut n = 0;
        while let Some((_, id)) = inner.idle.pop_first() {
            if let Some(e) = inner.conns.get_mut(&id) {
                e.state = State::Evicted;
                e.evict.notify_one();
            }
            inner.counted -= 1;
            n += 1;
        }
        n
    }

    /// Connections counted against the global cap (admitted and not evicted).
    pub fn counted(&self) -> usize {
        self.lock().counted
    }

    /// Open connections from `ip` (including evicted ones not yet closed).
    pub fn open_from(&self, ip: IpAddr) -> usize {
        self.lock().per_ip.get(&ip).copied().unwrap_or(0)
    }
}

/// One admitted connection's place in the table; dropping it releases the place.
pub struct ConnGuard {
    table: ConnTable,
    id: u64,
    evict: Arc<Notify>,
}

impl ConnGuard {
    /// Resolves once the table has evicted this connection; the owner must then close it.
    pub async fn evicted(&self) {
        self.evict.notified().await
    }

    /// Marks a request as in flight (the connection is no longer evictable) until the returned
    /// guard is dropped. `None` when the connection has already been evicted: the request must
    /// not be served.
    pub fn begin_request(&self) -> Option<RequestGuard> {
        let mut g = self.table.lock();
        let inner = &mut *g;
        let e = inner.conns.get_mut(&self.id)?;
        match e.state {
            State::Idle(seq) => {
                inner.idle.remove(&(e.served, seq));
                e.state = State::Busy;
                Some(RequestGuard {
                    table: self.table.clone(),
                    id: self.id,
                })
            }
            // HTTP/1.1 without pipelining has one request at a time; a second concurrent
            // begin is not expected, but would simply share the busy state.
            State::Busy => Some(RequestGuard {
                table: self.table.clone(),
                id: u64::MAX,
            }),
            State::Evicted => None,
        }
    }

    /// Takes a kept-alive connection (one that has served a request) out of the table if it has
    /// been idle for at least `timeout`; it then counts as evicted and must be closed. Atomic
    /// with [`ConnGuard::begin_request`]: a request that began first keeps the connection.
    pub fn expire_if_idle_since(&self, timeout: std::time::Duration) -> bool {
        let mut g = self.table.lock();
        let inner = &mut *g;
        let Some(e) = inner.conns.get_mut(&self.id) else {
            return false;
        };
        match e.state {
            State::Idle(seq) if e.served && e.idle_since.elapsed() >= timeout => {
                inner.idle.remove(&(true, seq));
                e.state = State::Evicted;
                inner.counted -= 1;
                true
            }
            _ => false,
        }
    }

    /// When the connection became idle, or `None` while a request is in flight or once it has
    /// been evicted. The boolean tells whether it has served a request before.
    pub fn idle_since(&self) -> Option<(Instant, bool)> {
        let g = self.table.lock();
        let e = g.conns.get(&self.id)?;
        match e.state {
            State::Idle(_) => Some((e.idle_since, e.served)),
            _ => None,
        }
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut g = self.table.lock();
        let inner = &mut *g;
        let Some(e) = inner.conns.remove(&self.id) else {
            return;
        };
        match e.state {
            State::Idle(seq) => {
                inner.idle.remove(&(e.served, seq));
                inner.counted -= 1;
            }
            State::Busy => inner.counted -= 1,
            State::Evicted => {}
        }
        if let Some(n) = inner.per_ip.get_mut(&e.ip) {
            *n -= 1;
            if *n == 0 {
                inner.per_ip.remove(&e.ip);
            }
        }
    }
}

/// A request in flight on a connection; dropping it makes the connection idle (evictable)
/// again. Keep it alive until the response has been written (e.g. inside the response body).
pub struct RequestGuard {
    table: ConnTable,
    /// `u64::MAX` for a nested guard that does not own the busy state.
    id: u64,
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        if self.id == u64::MAX {
            return;
        }
        let mut g = self.table.lock();
        let inner = &mut *g;
        let seq = inner.next_seq;
        let Some(e) = inner.conns.get_mut(&self.id) else {
            return;
        };
        if e.state != State::Busy {
            return;
        }
        inner.next_seq += 1;
        e.state = State::Idle(seq);
        e.served = true;
        e.idle_since = Instant::now();
        inner.idle.insert((true, seq), self.id);
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, so that many connections do not run the
/// process out of file descriptors before the connection limits apply. Returns the
/// `(before, after)` soft limits.
#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // `rlim_t` is not `u64` on every Unix
pub fn raise_nofile_limit() -> std::io::Result<(u64, u64)> {
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let before = lim.rlim_cur as u64;
        // macOS rejects a soft limit above kern.maxfilesperproc (10240 by default).
        #[cfg(target_os = "macos")]
        let target = lim.rlim_max.min(10240);
        #[cfg(not(target_os = "macos"))]
        let target = lim.rlim_max;
        if target <= lim.rlim_cur {
            return Ok((before, before));
        }
        lim.rlim_cur = target;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok((before, lim.rlim_cur as u64))
    }
}

/// No file-descriptor limit to raise on this platform.
#[cfg(not(unix))]
pub fn raise_nofile_limit() -> std::io::Result<(u64, u64)> {
    Ok((0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
    }

    #[test]
    fn per_ip_limit_sheds_and_is_released_on_drop() {
        let t = ConnTable::new(100, 2);
        let a = t.admit(ip(1)).unwrap().guard;
        let _b = t.admit(ip(1)).unwrap().guard;
        assert_eq!(t.admit(ip(1)).err(), Some(Shed::PerIp));
        let _other = t.admit(ip(2)).unwrap().guard; // other addresses are unaffected
        drop(a);
        assert_eq!(t.open_from(ip(1)), 1);
        assert!(t.admit(ip(1)).is_ok());
        assert_eq!(t.open_from(ip(1)), 1, "the temporary guard was dropped");
    }

    #[test]
    fn zero_means_no_per_ip_limit() {
        let t = ConnTable::new(1000, 0);
        let guards: Vec<_> = (0..500).map(|_| t.admit(ip(1)).unwrap().guard).collect();
        assert_eq!(t.open_from(ip(1)), 500);
        drop(guards);
        assert_eq!(t.open_from(ip(1)), 0);
        assert_eq!(t.counted(), 0);
    }

    #[test]
    fn at_capacity_the_oldest_never_served_connection_is_evicted_first() {
        let t = ConnTable::new(3, 0);
        let served = t.admit(ip(1)).unwrap().guard; // oldest, but has served a request
        drop(served.begin_request().unwrap());
        let old_idle = t.admit(ip(2)).unwrap().guard;
        let new_idle = t.admit(ip(3)).unwrap().guard;
        let a = t.admit(ip(4)).unwrap();
        assert!(a.evicted_other);
        assert!(
            old_idle.begin_request().is_none(),
            "the oldest never-served connection goes first"
        );
        assert!(new_idle.begin_request().is_some());
        assert!(served.idle_since().is_some());
        assert_eq!(t.counted(), 3);
        // Evicted connections still hold their address until closed.
        assert_eq!(t.open_from(ip(2)), 1);
        drop(old_idle);
        assert_eq!(t.open_from(ip(2)), 0);
        assert_eq!(
            t.counted(),
            3,
            "an evicted connection is no longer counted when it closes"
        );
    }

    #[test]
    fn busy_connections_are_never_evicted() {
        let t = ConnTable::new(2, 0);
        let a = t.admit(ip(1)).unwrap().guard;
        let b = t.admit(ip(2)).unwrap().guard;
        let ra = a.begin_request().unwrap();
        let rb = b.begin_request().unwrap();
        assert_eq!(t.admit(ip(3)).err(), Some(Shed::Capacity));
        drop(rb); // b idles after its response
        let c = t.admit(ip(3)).unwrap();
        assert!(c.evicted_other);
        assert!(b.begin_request().is_none(), "b was evicted");
        assert!(a.idle_since().is_none(), "a is still busy");
        drop(ra);
        assert!(a.idle_since().unwrap().1, "a has served a request");
    }

    #[test]
    fn keep_alive_expiry_only_takes_idle_served_connections() {
        let t = ConnTable::new(10, 0);
        let g = t.admit(ip(1)).unwrap().guard;
        let zero = std::time::Duration::ZERO;
        assert!(
            !g.expire_if_idle_since(zero),
            "never served: the header timeout applies instead"
        );
        let r = g.begin_request().unwrap();
        assert!(!g.expire_if_idle_since(zero), "busy");
        drop(r);
        assert!(
            !g.expire_if_idle_since(std::time::Duration::from_secs(60)),
            "not idle long enough"
        );
        assert!(g.expire_if_idle_since(zero));
        assert!(
            g.begin_request().is_none(),
            "an expired connection serves no further request"
        );
        assert_eq!(t.counted(), 0);
        drop(g);
        assert_eq!(t.open_from(ip(1)), 0);
    }

    #[tokio::test]
    async fn eviction_wakes_the_owner() {
        let t = ConnTable::new(1, 0);
        let a = t.admit(ip(1)).unwrap().guard;
        let _b = t.admit(ip(2)).unwrap().guard;
        tokio::time::timeout(std::time::Duration::from_secs(1), a.evicted())
            .await
            .expect("woken");
    }

    #[test]
    fn evict_all_idle_spares_busy_connections() {
        let t = ConnTable::new(10, 0);
        let idle = t.admit(ip(1)).unwrap().guard;
        let busy = t.admit(ip(2)).unwrap().guard;
        let r = busy.begin_request().unwrap();
        assert_eq!(t.evict_all_idle(), 1);
        assert!(idle.begin_request().is_none());
        assert!(busy.idle_since().is_none());
        drop(r);
        drop(idle);
        drop(busy);
        assert_eq!(t.counted(), 0);
    }

    #[cfg(unix)]
    #[test]
    fn nofile_limit_is_raised_to_the_hard_limit() {
        let (before, after) = raise_nofile_limit().unwrap();
        assert!(after >= before);
    }
}

//! Connection admission: the global connection cap, the per-client-address cap, and the choice
//! of which connection to evict when the cap is reached.
//!
//! Every accepted socket asks [`ConnTable::admit`] before anything else happens to it. Over the
//! per-address cap it is shed at once. At the global cap the table evicts, oldest first within
//! each class, a connection that has not delivered a complete request: first those that never
//! sent one (silent, or still sending headers), then idle kept-alive ones, then those whose
//! request body is still arriving (slow bodies). Only when every slot has a delivered request in
//! flight is the newcomer shed. A [`ConnGuard`] (RAII) holds the connection's place until it is
//! dropped; [`ConnGuard::begin_request`] returns a [`RequestGuard`] that keeps the connection
//! unevictable while its request is handled and its response written, except while the handler
//! is waiting for more of the request body ([`BodyWatch`]).
//!
//! Owns: the counts, the eviction order, eviction signalling, and raising the process's
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
    /// The global cap is reached and every connection has a delivered request in flight.
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
    /// Another connection was evicted to make room.
    pub evicted_other: bool,
}

/// Shared table of open connections. Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct ConnTable {
    inner: Arc<Mutex<Inner>>,
}

/// Eviction classes, in eviction order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    /// Never delivered a request: silent, or still sending its first headers.
    Fresh,
    /// Served a request and waits for the next one (or is sending its headers).
    KeptAlive,
    /// A request's handler is waiting for more of its body.
    ReceivingBody,
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
    /// Evictable connections in eviction order: (class, sequence number) → connection id.
    evictable: BTreeMap<(Class, u64), u64>,
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
    /// No request in flight; the value is its sequence number in `Inner::evictable`.
    Idle(u64),
    /// A request whose handler waits for more body; evictable like `Idle`, last.
    Receiving(u64),
    /// A request is handled or its response written: never evicted.
    Busy,
    Evicted,
}

impl Entry {
    fn evictable_key(&self) -> Option<(Class, u64)> {
        match self.state {
            State::Idle(seq) if self.served => Some((Class::KeptAlive, seq)),
            State::Idle(seq) => Some((Class::Fresh, seq)),
            State::Receiving(seq) => Some((Class::ReceivingBody, seq)),
            State::Busy | State::Evicted => None,
        }
    }
}

impl Inner {
    /// Moves connection `id` to `state`, keeping `evictable` in step. Returns false (and
    /// changes nothing) when the connection is gone.
    fn set_state(&mut self, id: u64, state: State) -> bool {
        let Some(e) = self.conns.get_mut(&id) else {
            return false;
        };
        if let Some(k) = e.evictable_key() {
            self.evictable.remove(&k);
        }
        if e.state != State::Evicted && state == State::Evicted {
            self.counted -= 1;
        }
        e.state = state;
        if let Some(k) = e.evictable_key() {
            self.evictable.insert(k, id);
        }
        true
    }

    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn evict(&mut self, id: u64) {
        if self.set_state(id, State::Evicted) {
            if let Some(e) = self.conns.get(&id) {
                e.evict.notify_one();
            }
        }
    }
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
                evictable: BTreeMap::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits a freshly accepted connection from `ip`, evicting a connection without a
    /// delivered request if the global cap is reached, or says why it must be shed. Never waits.
    pub fn admit(&self, ip: IpAddr) -> Result<Admitted, Shed> {
        let ip = client_key(ip);
        let mut inner = self.lock();
        let on_ip = inner.per_ip.get(&ip).copied().unwrap_or(0);
        if inner.max_per_ip > 0 && on_ip >= inner.max_per_ip {
            return Err(Shed::PerIp);
        }
        let mut evicted_other = false;
        if inner.counted >= inner.max_total {
            let Some((_, &victim)) = inner.evictable.first_key_value() else {
                return Err(Shed::Capacity);
            };
            inner.evict(victim);
            evicted_other = true;
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let seq = inner.seq();
        let evict = Arc::new(Notify::new());
        let entry = Entry {
            ip,
            state: State::Idle(seq),
            idle_since: Instant::now(),
            served: false,
            evict: evict.clone(),
        };
        inner.conns.insert(id, entry);
        inner.evictable.insert((Class::Fresh, seq), id);
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

    /// Evicts every connection with no request in flight (used at shutdown: connections that
    /// are idle or still sending headers are closed; requests in flight, even those still
    /// receiving their body, finish). Returns how many were evicted.
    pub fn evict_all_idle(&self) -> usize {
        let mut inner = self.lock();
        let idle: Vec<u64> = inner
            .evictable
            .range(..(Class::ReceivingBody, 0))
            .map(|(_, &id)| id)
            .collect();
        for &id in &idle {
            inner.evict(id);
        }
        idle.len()
    }

    /// Connections counted against the global cap (admitted and not evicted).
    pub fn counted(&self) -> usize {
        self.lock().counted
    }

    /// Open connections from `ip` (including evicted ones not yet closed).
    pub fn open_from(&self, ip: IpAddr) -> usize {
        self.lock()
            .per_ip
            .get(&client_key(ip))
            .copied()
            .unwrap_or(0)
    }
}

/// The "client address" the per-address limit counts: an IPv4 address (also when it arrives
/// IPv4-mapped on a dual-stack socket), or an IPv6 address's /64 prefix — one IPv6 client
/// usually has a whole /64 to pick source addresses from.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut seg = v6.segments();
                seg[4..].fill(0);
                IpAddr::V6(seg.into())
            }
        },
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

    /// Marks a request as in flight (the connection is no longer evictable, except while its
    /// body is awaited, see [`RequestGuard::body_watch`]) until the returned guard is dropped.
    /// `None` when the connection has already been evicted: the request must not be served.
    pub fn begin_request(&self) -> Option<RequestGuard> {
        let mut inner = self.table.lock();
        let state = inner.conns.get(&self.id)?.state;
        match state {
            State::Idle(_) => {
                inner.set_state(self.id, State::Busy);
                Some(RequestGuard {
                    table: self.table.clone(),
                    id: Some(self.id),
                })
            }
            // HTTP/1.1 without pipelining has one request at a time; a second concurrent
            // begin is not expected, but would simply share the in-flight state.
            State::Busy | State::Receiving(_) => Some(RequestGuard {
                table: self.table.clone(),
                id: None,
            }),
            State::Evicted => None,
        }
    }

    /// Takes a kept-alive connection (one that has served a request) out of the table if it has
    /// been idle for at least `timeout`; it then counts as evicted and must be closed. Atomic
    /// with [`ConnGuard::begin_request`]: a request that began first keeps the connection.
    pub fn expire_if_idle_since(&self, timeout: std::time::Duration) -> bool {
        let mut inner = self.table.lock();
        let Some(e) = inner.conns.get(&self.id) else {
            return false;
        };
        let expired =
            matches!(e.state, State::Idle(_)) && e.served && e.idle_since.elapsed() >= timeout;
        if expired {
            inner.set_state(self.id, State::Evicted);
        }
        expired
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
        let mut inner = self.table.lock();
        inner.set_state(self.id, State::Evicted); // uncounts it unless already evicted
        let Some(e) = inner.conns.remove(&self.id) else {
            return;
        };
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
    /// `None` for a nested guard that does not own the in-flight state.
    id: Option<u64>,
}

impl RequestGuard {
    /// A handle for the request body's reader: the connection is evictable while the handler
    /// waits for body data that has not arrived, not once the body is complete.
    pub fn body_watch(&self) -> BodyWatch {
        BodyWatch {
            table: self.table.clone(),
            id: self.id,
        }
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let Some(id) = self.id else { return };
        let mut inner = self.table.lock();
        let Some(state) = inner.conns.get(&id).map(|e| e.state) else {
            return;
        };
        if !matches!(state, State::Busy | State::Receiving(_)) {
            return;
        }
        let seq = inner.seq();
        if let Some(e) = inner.conns.get_mut(&id) {
            e.served = true;
            e.idle_since = Instant::now();
        }
        inner.set_state(id, State::Idle(seq));
    }
}

/// See [`RequestGuard::body_watch`].
#[derive(Clone)]
pub struct BodyWatch {
    table: ConnTable,
    id: Option<u64>,
}

impl BodyWatch {
    /// The handler is reading a body that has not ended: the connection becomes evictable
    /// (after every idle one), because it has not delivered its request yet.
    pub fn waiting(&self) {
        self.transition(|s| matches!(s, State::Busy), true);
    }

    /// The body has ended (or its reader gave up on it): the request is delivered.
    pub fn done(&self) {
        self.transition(|s| matches!(s, State::Receiving(_)), false);
    }

    fn transition(&self, from: impl Fn(State) -> bool, receiving: bool) {
        let Some(id) = self.id else { return };
        let mut inner = self.table.lock();
        let Some(state) = inner.conns.get(&id).map(|e| e.state) else {
            return;
        };
        if from(state) {
            let next = if receiving {
                State::Receiving(inner.seq())
            } else {
                State::Busy
            };
            inner.set_state(id, next);
        }
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
    fn ipv6_clients_are_counted_per_64_prefix_and_mapped_ipv4_as_ipv4() {
        let t = ConnTable::new(100, 2);
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let _g = (t.admit(a).unwrap().guard, t.admit(b).unwrap().guard);
        assert_eq!(
            t.admit("2001:db8:1:2::77".parse().unwrap()).err(),
            Some(Shed::PerIp)
        );
        assert!(t.admit(other).is_ok());
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let _h = t.admit(mapped).unwrap().guard;
        assert_eq!(t.open_from(ip(1)), 1);
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

    #[test]
    fn a_request_waiting_for_its_body_is_evicted_after_idle_connections_only() {
        let t = ConnTable::new(3, 0);
        let slow = t.admit(ip(1)).unwrap().guard;
        let slow_req = slow.begin_request().unwrap();
        slow_req.body_watch().waiting();
        let idle = t.admit(ip(2)).unwrap().guard;
        let done = t.admit(ip(3)).unwrap().guard;
        let done_req = done.begin_request().unwrap();
        let watch = done_req.body_watch();
        watch.waiting();
        watch.done(); // its body is complete: delivered, no longer evictable
        let fourth = t.admit(ip(4)).unwrap();
        assert!(fourth.evicted_other);
        let _r4 = fourth.guard.begin_request().unwrap();
        assert!(
            idle.begin_request().is_none(),
            "the idle connection goes before the slow body"
        );
        let fifth = t.admit(ip(5)).unwrap(); // now the slow body goes
        assert!(fifth.evicted_other);
        let _r5 = fifth.guard.begin_request().unwrap();
        assert!(slow.begin_request().is_none(), "evicted");
        assert!(
            done.begin_request().is_some(),
            "nested guard: still in flight, not evicted"
        );
        assert_eq!(
            t.admit(ip(6)).err(),
            Some(Shed::Capacity),
            "every request is delivered"
        );
        drop(slow_req); // a late drop of an evicted connection's request changes nothing
        assert_eq!(t.counted(), 3);
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

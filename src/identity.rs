//! Who the events are about: `anonymousId`, `userId`, `groupId` and the user's traits, with
//! Segment's semantics, kept first-party.
//!
//! Owns: the identity state and its persisted copies: the anonymous id in a first-party
//! cookie on the registrable domain (shared by `www.` and `shop.`) mirrored in localStorage
//! (`{prefix}.aid`), each repairing the other at start-up; `{prefix}.uid`, `{prefix}.gid`
//! and `{prefix}.traits` (traits never go in a cookie). Storage is read once at start-up and
//! written when the identity changes (identify, alias, group, reset) — never on the
//! `track()` path; cookie writes wait for the tracker's coalesced `persist`.
//! Must never: let one person's identity leak into the next (identifying as a different user
//! starts a fresh anonymous id and clears the traits).

use crate::domain;
use crate::json;
use crate::ports::{CookieSpec, IdSource, Storage};

/// Longest id accepted from storage or the API.
pub const MAX_ID_LEN: usize = 1024;

/// Where and how the anonymous-id cookie is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieConfig {
    /// Cookie name (the collector's identity endpoint re-issues the same name).
    pub name: String,
    /// `Domain=` to use instead of probing for the registrable domain.
    pub domain: Option<String>,
    pub max_age_s: u64,
    /// The page's host (for probing).
    pub host: String,
    /// Write no cookie at all (cookieless mode).
    pub disabled: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub anonymous_id: String,
    pub user_id: Option<String>,
    pub group_id: Option<String>,
    /// The user's traits, a JSON object text.
    pub traits: String,
    keys: Keys,
    cookie: CookieConfig,
    /// Keep the identity in memory only (cookieless mode).
    pub ephemeral: bool,
    /// Probed `Domain=`: `None` until probed, `Some(None)` for host-only.
    cookie_domain: Option<Option<String>>,
    /// The cookie must be (re)written at the next `persist`.
    cookie_due: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Keys {
    aid: String,
    uid: String,
    gid: String,
    traits: String,
}

fn valid_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_ID_LEN && !s.contains(['\n', '\r', ';'])
}

impl Identity {
    /// Loads the persisted identity. The cookie wins over localStorage (it is what other
    /// subdomains see); a missing or corrupt copy is repaired from the other; with neither, a
    /// new anonymous id is created.
    pub fn load(prefix: &str, cookie: CookieConfig, storage: &mut dyn Storage, ids: &mut dyn IdSource) -> Identity {
        let key = |s: &str| {
            let mut k = String::with_capacity(prefix.len() + 8);
            k.push_str(prefix);
            k.push('.');
            k.push_str(s);
            k
        };
        let keys = Keys { aid: key("aid"), uid: key("uid"), gid: key("gid"), traits: key("traits") };
        let read = |k: &str| storage.get(k).filter(|v| valid_id(v));
        let from_cookie = if cookie.disabled { None } else { storage.cookie(&cookie.name).filter(|v| valid_id(v)) };
        let from_store = read(&keys.aid);
        let traits = storage.get(&keys.traits).filter(|t| json::validate(t) == Some(json::Kind::Object)).unwrap_or_else(|| "{}".to_owned());
        let me = Identity {
            anonymous_id: from_cookie.clone().or_else(|| from_store.clone()).unwrap_or_else(|| ids.uuid()),
            user_id: read(&keys.uid),
            group_id: read(&keys.gid),
            traits,
            keys,
            cookie_due: false,
            cookie,
            cookie_domain: None,
            ephemeral: false,
        };
        let mut me = me;
        // Cookieless mode keeps the identity in memory only.
        me.ephemeral = me.cookie.disabled;
        if !me.ephemeral && from_store.as_deref() != Some(me.anonymous_id.as_str()) {
            let _ = storage.set(&me.keys.aid, &me.anonymous_id);
        }
        me.cookie_due = from_cookie.as_deref() != Some(me.anonymous_id.as_str());
        me
    }

    /// Writes every copy now (consent was just granted).
    pub fn store(&mut self, storage: &mut dyn Storage) {
        self.save(storage);
    }

    /// Forgets the visitor (consent revoked): deletes the stored copies and the cookie and
    /// starts a new anonymous id in memory.
    pub fn forget(&mut self, storage: &mut dyn Storage, ids: &mut dyn IdSource) {
        for key in [&self.keys.aid, &self.keys.uid, &self.keys.gid, &self.keys.traits] {
            storage.remove(key);
        }
        if !self.cookie.disabled {
            let domain = self.cookie_domain.clone().flatten().or_else(|| self.cookie.domain.clone());
            storage.set_cookie(&self.cookie.name, "", &CookieSpec { domain: domain.as_deref(), max_age_s: 0 });
            if domain.is_some() {
                storage.set_cookie(&self.cookie.name, "", &CookieSpec { domain: None, max_age_s: 0 });
            }
        }
        self.anonymous_id = ids.uuid();
        self.user_id = None;
        self.group_id = None;
        self.traits = "{}".to_owned();
        self.cookie_due = false;
    }

    fn save(&mut self, storage: &mut dyn Storage) {
        if self.ephemeral {
            return;
        }
        // Failures are tolerated: the identity lives on in memory for this page.
        let _ = storage.set(&self.keys.aid, &self.anonymous_id);
        for (key, v) in [(&self.keys.uid, &self.user_id), (&self.keys.gid, &self.group_id)] {
            match v {
                Some(v) => drop(storage.set(key, v)),
                None => storage.remove(key),
            }
        }
        if self.traits == "{}" {
            storage.remove(&self.keys.traits);
        } else {
            let _ = storage.set(&self.keys.traits, &self.traits);
        }
        self.cookie_due = true;
    }

    /// Asks for the cookie to be rewritten at the next `persist` (e.g. at the start of a
    /// session, which keeps a capped cookie alive).
    pub fn refresh_cookie(&mut self) {
        self.cookie_due = true;
    }

    /// Writes the cookie if due. Probes the registrable domain once per page.
    pub fn persist(&mut self, storage: &mut dyn Storage, nonce: &str) {
        if !self.cookie_due || self.cookie.disabled || self.ephemeral {
            return;
        }
        self.cookie_due = false;
        if self.cookie_domain.is_none() {
            let probed = match &self.cookie.domain {
                Some(d) => Some(d.clone()),
                None => domain::probe(storage, &self.cookie.host, "_ot_probe", nonce),
            };
            self.cookie_domain = Some(probed);
        }
        let domain = self.cookie_domain.as_ref().and_then(|d| d.as_deref());
        let spec = CookieSpec { domain, max_age_s: self.cookie.max_age_s };
        storage.set_cookie(&self.cookie.name, &self.anonymous_id, &spec);
    }

    /// `identify(userId, traits)`: a *different* user than the current one starts a fresh
    /// identity (new anonymous id, no group, no traits) so nothing of the previous person
    /// carries over; traits are merged into the stored ones.
    pub fn identify(&mut self, user_id: Option<&str>, traits: &str, storage: &mut dyn Storage, ids: &mut dyn IdSource) {
        let mut changed = false;
        if let Some(uid) = user_id.filter(|u| self.user_id.as_deref() != Some(*u)) {
            if self.user_id.is_some() {
                self.anonymous_id = ids.uuid();
                self.group_id = None;
                self.traits = "{}".to_owned();
            }
            self.user_id = Some(uid.to_owned());
            changed = true;
        }
        if traits != "{}" {
            self.traits = json::merge_objects(&self.traits, traits);
            changed = true;
        }
        if changed {
            self.save(storage);
        }
    }

    pub fn group(&mut self, group_id: &str, storage: &mut dyn Storage) {
        if self.group_id.as_deref() != Some(group_id) {
            self.group_id = Some(group_id.to_owned());
            self.save(storage);
        }
    }

    /// `alias(userId)`: the current user becomes `user_id`.
    pub fn alias(&mut self, user_id: &str, storage: &mut dyn Storage) {
        self.user_id = Some(user_id.to_owned());
        self.save(storage);
    }

    /// `reset()`: forget the user, the group and the traits; start a new anonymous id.
    pub fn reset(&mut self, storage: &mut dyn Storage, ids: &mut dyn IdSource) {
        self.anonymous_id = ids.uuid();
        self.user_id = None;
        self.group_id = None;
        self.traits = "{}".to_owned();
        self.save(storage);
    }

    pub fn set_anonymous_id(&mut self, id: &str, storage: &mut dyn Storage) {
        self.anonymous_id = id.to_owned();
        self.save(storage);
    }

    /// Another tab changed one of our keys: adopt its value. Returns true if it was ours.
    pub fn on_storage_change(&mut self, key: &str, value: Option<&str>) -> bool {
        let id = value.filter(|v| valid_id(v)).map(str::to_owned);
        if key == self.keys.aid {
            if let Some(v) = id {
                self.anonymous_id = v;
            }
        } else if key == self.keys.uid {
            self.user_id = id;
        } else if key == self.keys.gid {
            self.group_id = id;
        } else if key == self.keys.traits {
            self.traits = value.filter(|t| json::validate(t) == Some(json::Kind::Object)).unwrap_or("{}").to_owned();
        } else {
            return false;
        }
        true
    }
}

pub(crate) fn check_id(what: &'static str, s: &str) -> Result<(), crate::error::InputError> {
    use crate::error::InputError;
    if s.trim().is_empty() {
        Err(InputError::MissingName(what))
    } else if s.len() > MAX_ID_LEN {
        Err(InputError::NameTooLong(what))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests;

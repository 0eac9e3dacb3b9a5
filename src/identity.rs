//! Who the events are about: `anonymousId`, `userId`, `groupId`, with Segment's semantics.
//!
//! Owns: the identity state and its persisted copy under `{prefix}.aid`, `{prefix}.uid`,
//! `{prefix}.gid`. Reads storage once at start-up and writes only when the identity changes
//! (identify, alias, group, reset), never on the `track()` path.
//! Must never: let one person's identity leak into the next (identifying as a different user
//! starts a fresh anonymous id).

use crate::ports::{IdSource, Storage};

/// Longest id accepted from storage or the API.
pub const MAX_ID_LEN: usize = 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub anonymous_id: String,
    pub user_id: Option<String>,
    pub group_id: Option<String>,
    keys: Keys,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Keys {
    aid: String,
    uid: String,
    gid: String,
}

fn valid_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_ID_LEN && !s.contains(['\n', '\r'])
}

impl Identity {
    /// Loads the persisted identity, creating (and persisting) an anonymous id if none is
    /// stored or the stored one is corrupt.
    pub fn load(prefix: &str, storage: &mut dyn Storage, ids: &mut dyn IdSource) -> Identity {
        let keys = Keys { aid: format!("{prefix}.aid"), uid: format!("{prefix}.uid"), gid: format!("{prefix}.gid") };
        let read = |k: &str| storage.get(k).filter(|v| valid_id(v));
        let user_id = read(&keys.uid);
        let group_id = read(&keys.gid);
        let stored = read(&keys.aid);
        let me = Identity {
            anonymous_id: stored.clone().unwrap_or_else(|| ids.uuid()),
            user_id,
            group_id,
            keys,
        };
        if stored.is_none() {
            me.save(storage);
        }
        me
    }

    fn save(&self, storage: &mut dyn Storage) {
        // Failures are tolerated: the identity lives on in memory for this page.
        let _ = storage.set(&self.keys.aid, &self.anonymous_id);
        match &self.user_id {
            Some(u) => drop(storage.set(&self.keys.uid, u)),
            None => storage.remove(&self.keys.uid),
        }
        match &self.group_id {
            Some(g) => drop(storage.set(&self.keys.gid, g)),
            None => storage.remove(&self.keys.gid),
        }
    }

    /// `identify(userId)`: a *different* user than the current one starts a fresh identity
    /// (new anonymous id, no group) so nothing of the previous person carries over.
    pub fn identify(&mut self, user_id: &str, storage: &mut dyn Storage, ids: &mut dyn IdSource) {
        if self.user_id.as_deref() == Some(user_id) {
            return;
        }
        if self.user_id.is_some() {
            self.anonymous_id = ids.uuid();
            self.group_id = None;
        }
        self.user_id = Some(user_id.to_owned());
        self.save(storage);
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

    /// `reset()`: forget the user and the group, start a new anonymous id.
    pub fn reset(&mut self, storage: &mut dyn Storage, ids: &mut dyn IdSource) {
        self.anonymous_id = ids.uuid();
        self.user_id = None;
        self.group_id = None;
        self.save(storage);
    }

    pub fn set_anonymous_id(&mut self, id: &str, storage: &mut dyn Storage) {
        self.anonymous_id = id.to_owned();
        self.save(storage);
    }

    /// Another tab changed one of our keys: adopt its value. Returns true if it was ours.
    pub fn on_storage_change(&mut self, key: &str, value: Option<&str>) -> bool {
        let value = value.filter(|v| valid_id(v)).map(str::to_owned);
        if key == self.keys.aid {
            if let Some(v) = value {
                self.anonymous_id = v;
            }
        } else if key == self.keys.uid {
            self.user_id = value;
        } else if key == self.keys.gid {
            self.group_id = value;
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

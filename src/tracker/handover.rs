//! Hand-over: the visitor's identity between the native app and its web view (bridge
//! messages), `decorate` (in every build), and the identity endpoint's refresh. Adopting an
//! incoming `_ot` and auto-decoration: `cross_domain.rs`.
//!
//! Owns: what is adopted from the app, and the bridge messages the tracker composes
//! (`consent`, `session`). Must never: adopt an invalid id.

use super::*;

impl<S: Storage, C: Clock, I: IdSource> Tracker<S, C, I> {
    /// The identity endpoint request due at the start of a session, once: (url, JSON body).
    /// The web layer sends it with credentials so the collector can set the cookie.
    pub fn take_identity_refresh(&mut self) -> Option<(String, String)> {
        if !std::mem::take(&mut self.visitor.refresh_due) {
            return None;
        }
        let url = self.cfg.identity_endpoint.clone()?;
        let mut body = String::from("{\"anonymousId\":");
        crate::json::push_str(&mut body, &self.visitor.identity.anonymous_id);
        body.push_str(",\"writeKey\":");
        crate::json::push_str(&mut body, &self.cfg.write_key);
        body.push('}');
        Some((url, body))
    }

    /// The identity a native app hands to its web view before the SDK starts.
    pub fn adopt_native(&mut self, anonymous_id: Option<&str>, user_id: Option<&str>) {
        if let Some(aid) = anonymous_id.filter(|a| check_id("native anonymousId", a).is_ok()) {
            if aid != self.visitor.identity.anonymous_id {
                self.visitor.identity.set_anonymous_id(aid, self.store.collecting());
            }
        }
        if let Some(uid) = user_id.filter(|u| check_id("native userId", u).is_ok()) {
            if self.visitor.identity.user_id.as_deref() != Some(uid) {
                self.visitor.identity.alias(uid, self.store.collecting());
            }
        }
    }

    /// `url` carrying this visitor's anonymous id for a linked site.
    pub fn decorate(&self, url: &str) -> String {
        crate::linker::decorate(url, &self.visitor.identity.anonymous_id, self.clock.now_ms())
    }

    /// The current session (`id` 0 before the first event).
    pub fn session(&self) -> &Session {
        &self.visitor.session
    }

    /// The bridge `consent` message with the current preferences.
    pub fn consent_message(&self) -> String {
        let mut prefs = String::with_capacity(64);
        self.store.consent().push_prefs_json(&mut prefs);
        crate::app_protocol::consent_message(&prefs)
    }

    /// The bridge `session` message, once after a session started here.
    pub fn take_session_start_message(&mut self) -> Option<String> {
        std::mem::take(&mut self.visitor.session_started).then(|| self.session_message()).flatten()
    }

    /// The bridge `session` message with the last activity (when the page is being hidden).
    pub fn session_message(&self) -> Option<String> {
        (self.visitor.session.id > 0.0).then(|| crate::app_protocol::session_message(self.visitor.session.id, self.visitor.session.last))
    }

    /// The native app's session: continued here if it is more recent than this one.
    pub fn adopt_native_session(&mut self, id: f64, last: f64) {
        if self.visitor.session.adopt(id, last) {
            self.visitor.session_started = false;
        }
    }
}

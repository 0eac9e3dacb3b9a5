//! The tracker's API calls: validating arguments and composing Segment messages.
//!
//! Owns: `track`, `page`, `screen`, `identify`, `group`, `alias`, `reset`, `setAnonymousId`,
//! and the message pipeline they share (options, the session mark, `Session Started`, the
//! envelope with identity, context, attribution and consent members, the size limit).
//! Must never: touch storage other than through the visitor's handle, or queue a message
//! while collection is denied.

use super::*;

impl<S: Storage, C: Clock, I: IdSource> Tracker<S, C, I> {
    pub fn track(&mut self, event: &str, properties: Option<&str>, opts: &CallOptions<'_>) -> Result<(), InputError> {
        check_id("track(): the event name", event)?;
        let properties = object_arg("track(): properties", properties)?;
        self.enqueue(&Body::Track { event, properties }, opts)
    }

    pub fn page_view(
        &mut self,
        category: Option<&str>,
        name: Option<&str>,
        properties: Option<&str>,
        opts: &CallOptions<'_>,
    ) -> Result<(), InputError> {
        let properties = object_arg("page(): properties", properties)?;
        self.attribution.cancel_auto_page();
        if self.store.collection() == Collection::Denied {
            return Ok(());
        }
        let (timestamp_ms, mark) = self.begin(opts)?;
        self.attribution.on_page_view(timestamp_ms, mark);
        let page = self.page.clone();
        self.push_started(&Body::Page { category, name, properties, page: &page }, opts, timestamp_ms, mark)
    }

    pub fn screen(&mut self, name: Option<&str>, properties: Option<&str>, opts: &CallOptions<'_>) -> Result<(), InputError> {
        let properties = object_arg("screen(): properties", properties)?;
        self.enqueue(&Body::Screen { name, properties }, opts)
    }

    /// `identify(userId?, traits?)`: the message carries all the user's traits (stored and
    /// new, merged), as Segment's analytics.js does.
    pub fn identify(&mut self, user_id: Option<&str>, traits: Option<&str>, opts: &CallOptions<'_>) -> Result<(), InputError> {
        let traits = object_arg("identify(): traits", traits)?;
        if let Some(uid) = user_id {
            check_id("identify(): userId", uid)?;
        }
        let before = self.visitor.identity.user_id.clone();
        self.visitor.identity.identify(user_id, traits, self.store.collecting(), &mut self.ids);
        self.cart_after_user_change(before.as_deref(), false);
        let all = self.visitor.identity.traits.clone();
        self.enqueue(&Body::Identify { traits: &all }, opts)
    }

    pub fn group(&mut self, group_id: &str, traits: Option<&str>, opts: &CallOptions<'_>) -> Result<(), InputError> {
        check_id("group(): groupId", group_id)?;
        let traits = object_arg("group(): traits", traits)?;
        self.visitor.identity.group(group_id, self.store.collecting());
        self.enqueue(&Body::Group { group_id, traits }, opts)
    }

    /// `alias(userId, previousId?)`: `previousId` defaults to the current user id, or the
    /// anonymous id.
    pub fn alias(&mut self, user_id: &str, previous_id: Option<&str>, opts: &CallOptions<'_>) -> Result<(), InputError> {
        check_id("alias(): userId", user_id)?;
        if let Some(p) = previous_id {
            check_id("alias(): previousId", p)?;
        }
        let previous = previous_id
            .map(str::to_owned)
            .or_else(|| self.visitor.identity.user_id.clone())
            .unwrap_or_else(|| self.visitor.identity.anonymous_id.clone());
        let before = self.visitor.identity.user_id.clone();
        self.visitor.identity.alias(user_id, self.store.collecting());
        self.cart_after_user_change(before.as_deref(), true);
        self.enqueue(&Body::Alias { previous_id: &previous }, opts)
    }

    /// Forgets the user (logout): a new anonymous id, and the cart is emptied everywhere
    /// (this browser's tabs; the collector keeps the customer's saved cart).
    pub fn reset(&mut self) {
        self.visitor.identity.reset(self.store.collecting(), &mut self.ids);
        self.forget_cart();
    }

    pub fn set_anonymous_id(&mut self, id: &str) -> Result<(), InputError> {
        check_id("setAnonymousId(): id", id)?;
        self.visitor.identity.set_anonymous_id(id, self.store.collecting());
        Ok(())
    }

    /// Counts a call the web layer rejected before it reached the core.
    pub fn note_invalid_call(&mut self) {
        self.stats.invalid_calls += 1;
    }

    pub(super) fn enqueue(&mut self, body: &Body<'_>, opts: &CallOptions<'_>) -> Result<(), InputError> {
        if self.store.collection() == Collection::Denied {
            return Ok(()); // the visitor said no: nothing is collected
        }
        let (timestamp_ms, mark) = self.begin(opts)?;
        self.push_started(body, opts, timestamp_ms, mark)
    }

    /// Validates the options and records the activity in the session (an invalid call must
    /// not start a session). Returns the message time and the session mark.
    pub(super) fn begin(&mut self, opts: &CallOptions<'_>) -> Result<(f64, Mark), InputError> {
        object_arg("options.context", opts.context)?;
        object_arg("options.integrations", opts.integrations)?;
        let now = self.clock.now_ms();
        let timestamp_ms = opts.timestamp_ms.filter(|t| t.is_finite() && *t > 0.0).unwrap_or(now);
        let mark = self.visitor.begin(timestamp_ms.min(now));
        Ok((timestamp_ms, mark))
    }

    /// Queues `body`, preceded by `Session Started` when enabled and the session is new.
    pub(super) fn push_started(
        &mut self,
        body: &Body<'_>,
        opts: &CallOptions<'_>,
        timestamp_ms: f64,
        mark: Mark,
    ) -> Result<(), InputError> {
        if mark.start && self.cfg.session_started_event {
            self.push_message(&Body::Track { event: "Session Started", properties: "{}" }, opts, timestamp_ms, mark)?;
        }
        self.push_message(body, opts, timestamp_ms, Mark { start: mark.start && !self.cfg.session_started_event, ..mark })
    }

    pub(super) fn push_message(
        &mut self,
        body: &Body<'_>,
        opts: &CallOptions<'_>,
        timestamp_ms: f64,
        mark: Mark,
    ) -> Result<(), InputError> {
        let context = object_arg("options.context", opts.context)?;
        let integrations = object_arg("options.integrations", opts.integrations)?;
        let now = self.clock.now_ms();
        let message_id = self.ids.uuid();
        // Conversions carry the whole journey; everything else the cached members.
        let event = match body {
            Body::Track { event, .. } => Some(*event),
            _ => None,
        };
        let attribution = self.attribution.members(event);
        let identity = &self.visitor.identity;
        let envelope = Envelope {
            ids: Ids { message_id: &message_id, anonymous_id: &identity.anonymous_id, user_id: identity.user_id.as_deref() },
            timestamp_ms,
            context: &self.context,
            extra_context: (context != "{}").then_some(context),
            integrations: opts.integrations.map(|_| integrations),
            session: Some(mark),
            attribution: &attribution,
            consent: &self.consent_members,
        };
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        let consent_at = message::encode(&mut out, body, &envelope);
        let consent = consent_at..consent_at + self.consent_members.len();
        drop(attribution);
        if out.len() > MAX_MESSAGE_BYTES {
            self.scratch = out;
            self.stats.invalid_calls += 1;
            return Err(InputError::TooLarge);
        }
        // Hand over an exactly-sized copy; keep the scratch buffer's capacity for next time.
        let collection = self.store.collection();
        self.delivery.queue(out.as_str().to_owned(), consent, now, collection, self.store.collecting());
        self.scratch = out;
        self.stats.tracked += 1;
        Ok(())
    }
}

//! Typed errors of the core.
//!
//! Owns: every error and warning kind the SDK can report, with the message shown to developers.
//! Must never: carry browser types (those are converted at the wasm boundary).

use core::fmt;

/// A storage write failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageError {
    /// The quota is exhausted (`QuotaExceededError`).
    Full,
    /// Storage is missing, disabled, or threw for another reason.
    Unavailable,
}

/// Invalid configuration: the one case where constructing the SDK throws.
#[derive(Clone, Debug, PartialEq)]
pub enum ConfigError {
    MissingWriteKey,
    InvalidEndpoint(String),
    OutOfRange { option: &'static str, min: f64, max: f64 },
    WrongType { option: &'static str, expected: &'static str },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::MissingWriteKey => f.write_str("omnitrail: config.writeKey is required (a non-empty string)"),
            ConfigError::InvalidEndpoint(e) => {
                write!(f, "omnitrail: config.endpoint must be an http(s) URL, got \"{e}\"")
            }
            ConfigError::OutOfRange { option, min, max } => {
                let mut range = String::new();
                crate::json::push_num(&mut range, *min);
                range.push_str(" and ");
                crate::json::push_num(&mut range, *max);
                write!(f, "omnitrail: config.{option} must be a number between {range}")
            }
            ConfigError::WrongType { option, expected } => write!(f, "omnitrail: config.{option} must be {expected}"),
        }
    }
}

/// Bad input to a public call. The call is ignored (nothing else is lost) and one
/// rate-limited console warning is shown per kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputError {
    /// A name (event, userId, groupId, …) that must be a non-empty string was not.
    MissingName(&'static str),
    /// `properties`/`traits` was not a plain object (or could not be serialised: cyclic,
    /// BigInt, a getter that throws, …).
    NotAnObject(&'static str),
    /// The message would exceed the 32 KB per-message limit of the Segment spec.
    TooLarge,
    /// A string value was too long to be a name or id.
    NameTooLong(&'static str),
    /// A quantity or amount that must be a non-negative number (an integer for quantities).
    InvalidNumber(&'static str),
    /// The call needs a signed-in user (`identify(userId)` first).
    NotIdentified(&'static str),
}

impl InputError {
    /// Stable index, used by the warning rate limiter.
    pub fn kind_index(self) -> usize {
        match self {
            InputError::MissingName(_) => 0,
            InputError::NotAnObject(_) => 1,
            InputError::TooLarge => 2,
            InputError::NameTooLong(_) => 3,
            InputError::InvalidNumber(_) => 4,
            InputError::NotIdentified(_) => 5,
        }
    }
    pub const KINDS: usize = 6;
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::MissingName(what) => write!(f, "omnitrail: {what} must be a non-empty string; call ignored"),
            InputError::NotAnObject(what) => write!(
                f,
                "omnitrail: {what} must be a plain JSON-serialisable object (no cycles, BigInt or throwing getters); call ignored"
            ),
            InputError::TooLarge => f.write_str("omnitrail: message exceeds 32 KB once serialised; call ignored"),
            InputError::NameTooLong(what) => write!(f, "omnitrail: {what} is too long (ids: 1024 characters; cart ids and codes: 200 bytes); call ignored"),
            InputError::InvalidNumber(what) => write!(f, "omnitrail: {what} must be a non-negative number; call ignored"),
            InputError::NotIdentified(what) => {
                write!(f, "omnitrail: {what} needs a signed-in user: call identify(userId) first; call ignored")
            }
        }
    }
}

/// Rate limit of console warnings: the first three of a kind, then the 10th, 100th, 1000th…
pub fn warn_now(nth: u32) -> bool {
    nth <= 3 || (nth >= 10 && 10u32.pow(nth.ilog10()) == nth)
}

#[cfg(test)]
mod tests {
    #[test]
    fn warnings_are_rate_limited() {
        let shown: Vec<u32> = (1..=20_000).filter(|n| super::warn_now(*n)).collect();
        assert_eq!(shown, vec![1, 2, 3, 10, 100, 1000, 10_000]);
    }
}

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

impl ConfigError {
    /// The message thrown by the constructor (also the `Display` text). Built by
    /// concatenation: no `core::fmt` in the wasm for it.
    pub fn message(&self) -> String {
        let mut m = String::from("omnitrail: config.");
        match self {
            ConfigError::MissingWriteKey => m.push_str("writeKey is required (a non-empty string)"),
            ConfigError::InvalidEndpoint(e) => {
                m.push_str("endpoint must be an http(s) URL, got \"");
                m.push_str(e);
                m.push('"');
            }
            ConfigError::OutOfRange { option, min, max } => {
                m.push_str(option);
                m.push_str(" must be a number between ");
                crate::json::push_num(&mut m, *min);
                m.push_str(" and ");
                crate::json::push_num(&mut m, *max);
            }
            ConfigError::WrongType { option, expected } => {
                m.push_str(option);
                m.push_str(" must be ");
                m.push_str(expected);
            }
        }
        m
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
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

/// Lists the kinds of [`InputError`] once: the compiler counts them ([`InputError::KINDS`])
/// and checks that the list is complete (`kind_index` matches every variant).
macro_rules! input_error_kinds {
    ($($kind:ident $(($what:ty))?),* $(,)?) => {
        #[derive(Clone, Copy)]
        enum Kind {
            $($kind),*
        }
        impl InputError {
            /// How many kinds there are (the warning rate limiter's table size).
            pub const KINDS: usize = [$(Kind::$kind),*].len();
            /// Stable index below [`InputError::KINDS`], used by the warning rate limiter.
            pub fn kind_index(self) -> usize {
                match self {
                    $(InputError::$kind $((input_error_kinds!(@any $what)))? => Kind::$kind as usize),*
                }
            }
        }
    };
    (@any $what:ty) => { _ };
}

input_error_kinds!(
    MissingName(&'static str),
    NotAnObject(&'static str),
    TooLarge,
    NameTooLong(&'static str),
    InvalidNumber(&'static str),
    NotIdentified(&'static str),
);

impl InputError {
    /// The console warning (also the `Display` text), built by concatenation.
    pub fn message(self) -> String {
        let (what, rest) = match self {
            InputError::MissingName(what) => (what, " must be a non-empty string; call ignored"),
            InputError::NotAnObject(what) => {
                (what, " must be a plain JSON-serialisable object (no cycles, BigInt or throwing getters); call ignored")
            }
            InputError::TooLarge => ("", "message exceeds 32 KB once serialised; call ignored"),
            InputError::NameTooLong(what) => (what, " is too long (ids: 1024 characters; cart ids and codes: 200 bytes); call ignored"),
            InputError::InvalidNumber(what) => (what, " must be a non-negative number; call ignored"),
            InputError::NotIdentified(what) => (what, " needs a signed-in user: call identify(userId) first; call ignored"),
        };
        ["omnitrail: ", what, rest].concat()
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
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

    #[test]
    fn messages_are_the_texts_the_format_strings_gave() {
        use super::{ConfigError as C, InputError as I};
        let cases: [(String, &str); 10] = [
            (C::MissingWriteKey.to_string(), "omnitrail: config.writeKey is required (a non-empty string)"),
            (C::InvalidEndpoint("ftp://x".into()).to_string(), "omnitrail: config.endpoint must be an http(s) URL, got \"ftp://x\""),
            (
                C::OutOfRange { option: "flushAt", min: 1.0, max: 0.5 }.to_string(),
                "omnitrail: config.flushAt must be a number between 1 and 0.5",
            ),
            (C::WrongType { option: "debug", expected: "a boolean" }.to_string(), "omnitrail: config.debug must be a boolean"),
            (I::MissingName("track(): event").to_string(), "omnitrail: track(): event must be a non-empty string; call ignored"),
            (
                I::NotAnObject("properties").to_string(),
                "omnitrail: properties must be a plain JSON-serialisable object (no cycles, BigInt or throwing getters); call ignored",
            ),
            (I::TooLarge.to_string(), "omnitrail: message exceeds 32 KB once serialised; call ignored"),
            (
                I::NameTooLong("userId").to_string(),
                "omnitrail: userId is too long (ids: 1024 characters; cart ids and codes: 200 bytes); call ignored",
            ),
            (I::InvalidNumber("quantity").to_string(), "omnitrail: quantity must be a non-negative number; call ignored"),
            (I::NotIdentified("x").to_string(), "omnitrail: x needs a signed-in user: call identify(userId) first; call ignored"),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }
}

#[cfg(test)]
mod kind_tests {
    use super::InputError;

    #[test]
    fn every_kind_has_its_own_index_below_the_count() {
        let samples = [
            InputError::MissingName(""),
            InputError::NotAnObject(""),
            InputError::TooLarge,
            InputError::NameTooLong(""),
            InputError::InvalidNumber(""),
            InputError::NotIdentified(""),
        ];
        let mut seen = [false; InputError::KINDS];
        for e in samples {
            assert!(!std::mem::replace(&mut seen[e.kind_index()], true), "{e:?}");
        }
    }
}

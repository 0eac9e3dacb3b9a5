//! The names the JavaScript surface shares with Rust, listed once.
//!
//! Owns: the `cart.*` operation names ([`CartOp`], [`CART_OPERATIONS`]), the `consent.*`
//! ones ([`ConsentOp`], [`CONSENT_OPERATIONS`]), the name the snippet queues a namespaced
//! call under ([`unqueue`]), and the `stats()` counter names ([`STATS_COUNTERS`], in the
//! order of [`crate::Stats::counters`]).
//! js/src/namespaces.js, js/src/snippet.js, js/src/index.d.ts and js/src/index.js repeat
//! them for the page; tests/names.rs checks every copy against these lists.
//! Must never: be reordered without the matching Rust (the compiler ties the counts).

/// Declares a namespace's operations once: the enum, its names in order, and `parse`.
macro_rules! operations {
    ($enum:ident, $list:ident, $doc:literal, $($op:ident = $name:literal),* $(,)?) => {
        #[doc = $doc]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $enum {
            $($op),*
        }
        /// The names, in the enum's order.
        pub const $list: &[&str] = &[$($name),*];
        impl $enum {
            /// By its name in the namespace (`cart.add` → `"add"`).
            pub fn parse(name: &str) -> Option<$enum> {
                match name {
                    $($name => Some($enum::$op),)*
                    _ => None,
                }
            }
        }
    };
}

/// The name within its namespace of a call the snippet queued as `{namespace}{name}` (today's
/// snippet: `"cartadd"`, `"consentonChange"`, built without the page's `String.prototype`) or
/// `{namespace}{Name}` (earlier snippets: `"cartAdd"`) → `"add"`, if `method` has that form.
pub fn unqueue(method: &str, namespace: &str) -> Option<String> {
    let rest = method.strip_prefix(namespace).filter(|r| !r.is_empty())?;
    let mut name = rest.to_owned();
    if let Some(first) = name.get_mut(..1) {
        first.make_ascii_lowercase();
    }
    Some(name)
}

operations!(
    CartOp,
    CART_OPERATIONS,
    "A `cart.*` call.",
    Add = "add",
    Remove = "remove",
    SetQuantity = "setQuantity",
    Update = "update",
    ApplyCoupon = "applyCoupon",
    RemoveCoupon = "removeCoupon",
    SetCurrency = "setCurrency",
    Clear = "clear",
    View = "view",
    Checkout = "checkout",
    OrderCompleted = "orderCompleted",
    Connect = "connect",
    Get = "get",
    OnChange = "onChange",
    Sync = "sync",
);

operations!(ConsentOp, CONSENT_OPERATIONS, "A `consent.*` call.", Set = "set", Get = "get", OnChange = "onChange",);

impl ConsentOp {
    /// It answers something (`get`): the snippet answers it `null` before the SDK has loaded.
    pub fn answers(self) -> bool {
        matches!(self, ConsentOp::Get)
    }
}

impl CartOp {
    /// It answers something (`get`, `sync`): the snippet cannot queue it.
    pub fn answers(self) -> bool {
        matches!(self, CartOp::Get | CartOp::Sync)
    }
}

/// The keys of `stats()` besides `role`, in the order of [`crate::Stats::counters`].
pub const STATS_COUNTERS: [&str; 15] = [
    "tracked",
    "delivered",
    "rejected",
    "batches",
    "retries",
    "invalidCalls",
    "queued",
    "queuedBytes",
    "persistedBytes",
    "dropped",
    "corrupt",
    "storageFailures",
    "cartSyncRequests",
    "cartSyncMerged",
    "cartSyncFailures",
];

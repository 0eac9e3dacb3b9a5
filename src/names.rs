//! The names the JavaScript surface shares with Rust, listed once.
//!
//! Owns: the `cart.*` operation names ([`CartOp`], [`CART_OPERATIONS`]) and the `stats()`
//! counter names ([`STATS_COUNTERS`], in the order of [`crate::Stats::counters`]).
//! js/src/namespaces.js, js/src/snippet.js, js/src/index.d.ts and js/src/index.js repeat
//! them for the page; tests/names.rs checks every copy against these lists.
//! Must never: be reordered without the matching Rust (the compiler ties the counts).

/// Declares the cart operations once: the enum, its names in order, and `parse`.
macro_rules! cart_operations {
    ($($op:ident = $name:literal),* $(,)?) => {
        /// A `cart.*` call.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum CartOp {
            $($op),*
        }
        /// The `cart.*` names, in [`CartOp`] order.
        pub const CART_OPERATIONS: &[&str] = &[$($name),*];
        impl CartOp {
            /// By its name in the namespace (`cart.add` → `"add"`).
            pub fn parse(name: &str) -> Option<CartOp> {
                match name {
                    $($name => Some(CartOp::$op),)*
                    _ => None,
                }
            }
        }
    };
}

cart_operations!(
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

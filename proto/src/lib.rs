//! Generated gRPC clients, servers and messages of Shop's services.
//!
//! The `.proto` files beside this crate are the contract; this crate only
//! compiles them. `FILE_DESCRIPTOR_SET` feeds gRPC server reflection.

/// The encoded descriptors of every Shop service, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/shop_descriptor.bin"));

// One module per service, `shop.<name>.v1` as `shop_proto::<name>`, made by
// build.rs from the `.proto` files under shop/ (product, cart, order, ...).
include!(concat!(env!("OUT_DIR"), "/services.rs"));

/// Names that cross a service boundary outside the messages themselves:
/// gRPC metadata and `google.rpc.ErrorInfo` reasons. One constant each, so
/// the sender and the receiver cannot drift apart.
pub mod names {
    /// Response metadata order-service sets on a PlaceOrder answered by a
    /// replay of its idempotency key (the gateway answers 200, not 201).
    pub const REPLAYED_HEADER: &str = "x-shop-replayed";

    /// ErrorInfo reason of product-service refusing a reservation whose
    /// products are priced in different currencies.
    pub const MIXED_CURRENCY: &str = "MIXED_CURRENCY";

    /// The `PreconditionFailure` violation type of a product that has too
    /// little stock: its subject is the product id.
    pub const STOCK_VIOLATION: &str = "STOCK";

    /// ErrorInfo reasons of a rejected checkout (order-service), also stored
    /// as the order's `rejection_reason`.
    pub mod rejection {
        /// The cart was empty.
        pub const EMPTY_CART: &str = "EMPTY_CART";
        /// Some line had too little stock; the short lines come along.
        pub const INSUFFICIENT_STOCK: &str = "INSUFFICIENT_STOCK";
        /// A product of the cart no longer exists.
        pub const UNKNOWN_PRODUCT: &str = "UNKNOWN_PRODUCT";
        /// The stock held for the order was lost (expired or released).
        pub const RESERVATION_LOST: &str = "RESERVATION_LOST";
        /// Checkout stopped after asking for stock and was given up.
        pub const CHECKOUT_INTERRUPTED: &str = "CHECKOUT_INTERRUPTED";
    }
}

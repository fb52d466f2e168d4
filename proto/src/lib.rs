//! Generated gRPC clients, servers and messages of Shop's three services.
//!
//! The `.proto` files beside this crate are the contract; this crate only
//! compiles them. `FILE_DESCRIPTOR_SET` feeds gRPC server reflection.

/// The encoded descriptors of every Shop service, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/shop_descriptor.bin"));

/// `shop.product.v1`: catalog, inventory and stock reservations.
pub mod product {
    #![allow(missing_docs, clippy::all, missing_debug_implementations)]
    tonic::include_proto!("shop.product.v1");
}

/// `shop.cart.v1`: per-shopper carts.
pub mod cart {
    #![allow(missing_docs, clippy::all, missing_debug_implementations)]
    tonic::include_proto!("shop.cart.v1");
}

/// `shop.order.v1`: orders and the checkout saga.
pub mod order {
    #![allow(missing_docs, clippy::all, missing_debug_implementations)]
    tonic::include_proto!("shop.order.v1");
}

//! Follow-ups: work left after an order's status changed, one row of
//! `order_followups` per pending action. A new reaction is a new [`Kind`]
//! (and its value in the table's CHECK): the worker's `match` in
//! `saga/followups.rs` then asks for its action.

use shop_runtime::stored_enum;

/// What is left to do after a status change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Remove the purchased lines from the cart (enqueued by CONFIRMED).
    ClearCart,
    /// Give the sold stock back (enqueued by CANCELLED).
    ReturnStock,
    /// Checkout was given up after asking for stock: release whatever the
    /// order's reservation holds, then settle the order as REJECTED.
    /// Enqueued on PENDING orders (and on REJECTED ones a late reservation
    /// reached); while it is there, a PENDING order is never confirmed.
    Release,
}

stored_enum!(Kind, "follow-up kind" {
    ClearCart => "CLEAR_CART",
    ReturnStock => "RETURN_STOCK",
    Release => "RELEASE",
});

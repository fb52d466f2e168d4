//! The rules of a cart: limits and the validation of what callers send.

use shop_runtime::validate::FieldError;

/// Most units of one product in a cart.
pub const MAX_QUANTITY: i64 = 99;
/// Most lines in a cart.
pub const MAX_LINES: i64 = 50;

/// A quantity to add: 1..=99.
pub fn add_quantity(raw: i64) -> Result<i32, FieldError> {
    if (1..=MAX_QUANTITY).contains(&raw) {
        Ok(raw as i32)
    } else {
        Err(FieldError::new(
            "quantity",
            format!("must be between 1 and {MAX_QUANTITY}, got {raw}"),
        ))
    }
}

/// A quantity to set: 0..=99, where 0 removes the line.
pub fn set_quantity(raw: i64) -> Result<i32, FieldError> {
    if (0..=MAX_QUANTITY).contains(&raw) {
        Ok(raw as i32)
    } else {
        Err(FieldError::new(
            "quantity",
            format!("must be between 0 and {MAX_QUANTITY}, got {raw}"),
        ))
    }
}

/// A stored cart line: what the shopper wants, before pricing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Product of product-service.
    pub product_id: uuid::Uuid,
    /// Units, 1..=99.
    pub quantity: i32,
}

/// What product-service said about a change's currency, checked again in
/// the transaction that holds the cart lock: the catalog was read before
/// the lock, so a concurrent add may have put another currency in the cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyCheck {
    /// Currency of the product being added or set.
    pub currency: String,
    /// Products the catalog just confirmed to be priced in `currency`: the
    /// one being changed and the cart's lines as they were then.
    pub confirmed: Vec<uuid::Uuid>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_quantity_is_one_to_ninety_nine() {
        assert!(add_quantity(0).is_err());
        assert_eq!(add_quantity(1).unwrap(), 1);
        assert_eq!(add_quantity(99).unwrap(), 99);
        assert!(add_quantity(100).is_err());
        assert!(add_quantity(i64::MAX).is_err());
    }

    #[test]
    fn set_quantity_allows_zero_to_remove() {
        assert_eq!(set_quantity(0).unwrap(), 0);
        assert!(set_quantity(-1).is_err());
        assert!(set_quantity(100).is_err());
    }
}

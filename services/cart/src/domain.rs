//! The rules of a cart: limits, the validation of what callers send, and
//! pricing.
//!
//! A cart is stored as (product, quantity) lines and priced on every read
//! with the catalog's current products ([`price`]): a cart is never shown
//! with a stale or invented price. A cart holds one currency: an add in
//! another one is refused ([`CurrencyCheck::for_product`]), and a cart whose
//! products changed currency after they went in has no price at all rather
//! than a subtotal over two currencies.

use std::collections::HashMap;

use shop_runtime::server::validate::FieldError;
use uuid::Uuid;

use crate::error::{Error, Result};

/// Most units of one product in a cart.
pub const MAX_QUANTITY: i64 = 99;
/// Most lines in a cart.
pub const MAX_LINES: i64 = 50;
/// Most lines in one RemovePurchasedItems call.
pub const MAX_PURCHASED_LINES: usize = 100;

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

/// A quantity an order bought: at least one unit.
pub fn purchased_quantity(raw: i64) -> Result<i32, FieldError> {
    i32::try_from(raw)
        .ok()
        .filter(|q| *q > 0)
        .ok_or_else(|| FieldError::new("items.quantity", "must be a positive number of units"))
}

/// A stored cart line: what the shopper wants, before pricing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub product_id: Uuid,
    /// Units, 1..=99.
    pub quantity: i32,
    /// The unit price when the line was added, once the product's price
    /// changed (a `shop.product.price_changed` event).
    pub previous_unit_price_minor: Option<i64>,
}

/// A product as product-service sells it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub unit_price_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// A cart priced now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PricedCart {
    /// The lines whose product the catalog still sells, oldest first.
    pub items: Vec<PricedLine>,
    /// The one currency of every line; empty for an empty cart.
    pub currency: String,
    /// Sum of the line totals.
    pub subtotal_minor: i64,
}

/// One priced line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedLine {
    pub product: Product,
    pub quantity: i64,
    /// quantity × unit price.
    pub line_total_minor: i64,
    /// The unit price the line was added at, when it is not the price now.
    pub previous_unit_price_minor: Option<i64>,
}

/// Prices `lines` with `products` (by id). A line whose product the catalog
/// no longer has cannot be sold, so it is left out; products in different
/// currencies make the cart FAILED_PRECONDITION, naming each line's.
pub fn price(lines: &[Line], products: &HashMap<Uuid, Product>) -> Result<PricedCart> {
    let mut cart = PricedCart::default();
    for line in lines {
        let Some(product) = products.get(&line.product_id) else {
            tracing::warn!(product_id = %line.product_id, "cart line for an unknown product");
            continue;
        };
        let quantity = i64::from(line.quantity);
        let line_total_minor = product.unit_price_minor * quantity;
        if cart.currency.is_empty() {
            cart.currency = product.currency.clone();
        }
        cart.subtotal_minor += line_total_minor;
        cart.items.push(PricedLine {
            product: product.clone(),
            quantity,
            line_total_minor,
            previous_unit_price_minor: line
                .previous_unit_price_minor
                .filter(|previous| *previous != product.unit_price_minor),
        });
    }
    if cart
        .items
        .iter()
        .any(|l| l.product.currency != cart.currency)
    {
        // A product changed currency after it went into the cart: a
        // subtotal over two currencies would be wrong, so there is none.
        let named: Vec<String> = cart
            .items
            .iter()
            .map(|l| format!("{} in {}", l.product.sku, l.product.currency))
            .collect();
        return Err(Error::FailedPrecondition(format!(
            "the cart holds products priced in different currencies ({}); \
             remove the items of one currency to continue",
            named.join(", ")
        )));
    }
    Ok(cart)
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
    pub confirmed: Vec<Uuid>,
}

impl CurrencyCheck {
    /// Checks that `product_id` exists and that every product of the cart
    /// (in `products`, which holds the cart's products and the new one) is
    /// priced in its currency.
    pub fn for_product(product_id: Uuid, products: &HashMap<Uuid, Product>) -> Result<Self> {
        let product = products
            .get(&product_id)
            .ok_or_else(|| Error::NotFound(format!("product {product_id} not found")))?;
        if let Some(other) = products.values().find(|p| p.currency != product.currency) {
            return Err(Error::FailedPrecondition(format!(
                "the cart holds items priced in {}; product {product_id} is priced in {}",
                other.currency, product.currency
            )));
        }
        Ok(Self {
            currency: product.currency.clone(),
            confirmed: products.keys().copied().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(n: u128, price: i64, currency: &str) -> Product {
        Product {
            id: Uuid::from_u128(n),
            sku: format!("SKU-{n}"),
            name: format!("Product {n}"),
            unit_price_minor: price,
            currency: currency.into(),
        }
    }

    fn by_id(products: &[Product]) -> HashMap<Uuid, Product> {
        products.iter().map(|p| (p.id, p.clone())).collect()
    }

    fn line(n: u128, quantity: i32) -> Line {
        Line {
            product_id: Uuid::from_u128(n),
            quantity,
            previous_unit_price_minor: None,
        }
    }

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

    #[test]
    fn a_cart_is_priced_line_by_line_in_its_one_currency() {
        let products = by_id(&[product(1, 250, "EUR"), product(2, 1000, "EUR")]);
        let cart = price(&[line(1, 3), line(2, 1)], &products).unwrap();
        assert_eq!(cart.currency, "EUR");
        assert_eq!(cart.subtotal_minor, 1750);
        let totals: Vec<i64> = cart.items.iter().map(|l| l.line_total_minor).collect();
        assert_eq!(totals, [750, 1000]);
    }

    #[test]
    fn a_line_the_catalog_no_longer_has_is_left_out() {
        let products = by_id(&[product(1, 250, "EUR")]);
        let cart = price(&[line(1, 1), line(9, 1)], &products).unwrap();
        assert_eq!(cart.items.len(), 1);
        assert_eq!(price(&[], &products).unwrap(), PricedCart::default());
    }

    #[test]
    fn a_cart_in_two_currencies_has_no_price() {
        let products = by_id(&[product(1, 250, "EUR"), product(2, 1000, "USD")]);
        match price(&[line(1, 1), line(2, 1)], &products) {
            Err(Error::FailedPrecondition(m)) => {
                assert!(
                    m.contains("SKU-1 in EUR") && m.contains("SKU-2 in USD"),
                    "{m}"
                )
            }
            other => panic!("expected FAILED_PRECONDITION, got {other:?}"),
        }
    }

    #[test]
    fn an_add_takes_the_currency_of_the_cart_or_is_refused() {
        let same = by_id(&[product(1, 250, "EUR"), product(2, 1000, "EUR")]);
        let check = CurrencyCheck::for_product(Uuid::from_u128(2), &same).unwrap();
        assert_eq!(check.currency, "EUR");
        assert_eq!(check.confirmed.len(), 2);

        let mixed = by_id(&[product(1, 250, "EUR"), product(2, 1000, "USD")]);
        assert!(matches!(
            CurrencyCheck::for_product(Uuid::from_u128(2), &mixed),
            Err(Error::FailedPrecondition(_))
        ));
        assert!(matches!(
            CurrencyCheck::for_product(Uuid::from_u128(3), &same),
            Err(Error::NotFound(_))
        ));
    }
}

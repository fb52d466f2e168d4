//! The cart checkout reads from cart-service, parsed before checkout
//! trusts it.

use uuid::Uuid;

use super::OrderItem;

/// The shopper's cart as checkout reads it: every line a valid
/// [`OrderItem`], all in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cart {
    pub items: Vec<OrderItem>,
    /// ISO 4217 code of every line; empty only for an empty cart.
    pub currency: String,
}

/// A cart line as cart-service sends it, before checkout trusts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartLine<'a> {
    pub product_id: &'a str,
    pub sku: &'a str,
    pub name: &'a str,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub line_total_minor: i64,
}

impl Cart {
    /// Checks every line and the currency. A line that cannot be checked
    /// out refuses the whole cart, naming the line, rather than leaving it
    /// out of the order: the shopper would pay for less than they saw.
    pub fn parse<'a>(
        lines: impl IntoIterator<Item = CartLine<'a>>,
        currency: &str,
    ) -> Result<Self, String> {
        let items = lines
            .into_iter()
            .enumerate()
            .map(|(i, line)| {
                OrderItem::parse(&line)
                    .map_err(|problem| format!("line {} ({:?}) {problem}", i + 1, line.sku))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !items.is_empty() && currency.is_empty() {
            return Err("it names no currency".into());
        }
        Ok(Self {
            items,
            currency: currency.to_string(),
        })
    }
}

impl OrderItem {
    fn parse(line: &CartLine<'_>) -> Result<Self, String> {
        let product_id = Uuid::parse_str(line.product_id)
            .map_err(|_| format!("names no product id but {:?}", line.product_id))?;
        if line.quantity < 1 {
            return Err(format!("holds {} units", line.quantity));
        }
        if line.unit_price_minor < 0 {
            return Err(format!("has a negative price {}", line.unit_price_minor));
        }
        if line.unit_price_minor.checked_mul(line.quantity) != Some(line.line_total_minor) {
            return Err(format!(
                "totals {} for {} × {}",
                line.line_total_minor, line.quantity, line.unit_price_minor
            ));
        }
        Ok(Self {
            product_id,
            sku: line.sku.to_string(),
            name: line.name.to_string(),
            quantity: line.quantity,
            unit_price_minor: line.unit_price_minor,
            line_total_minor: line.line_total_minor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(product_id: &str, quantity: i64, price: i64, total: i64) -> CartLine<'_> {
        CartLine {
            product_id,
            sku: "MUG",
            name: "Mug",
            quantity,
            unit_price_minor: price,
            line_total_minor: total,
        }
    }

    #[test]
    fn a_cart_parses_into_order_items() {
        let id = Uuid::from_u128(7).to_string();
        let cart = Cart::parse([line(&id, 2, 150, 300)], "EUR").unwrap();
        assert_eq!(cart.currency, "EUR");
        assert_eq!(cart.items[0].product_id, Uuid::from_u128(7));
        assert_eq!(cart.items[0].line_total_minor, 300);
        assert_eq!(Cart::parse([], "").unwrap().items, []);
    }

    #[test]
    fn a_cart_with_a_line_that_does_not_parse_is_refused_naming_the_line() {
        let id = Uuid::from_u128(7).to_string();
        let good = line(&id, 1, 100, 100);
        for bad in [
            line("not-a-uuid", 1, 100, 100),
            line(&id, 0, 100, 0),
            line(&id, 1, -1, -1),
            line(&id, 2, 100, 100),
            line(&id, i64::MAX, 100, 0),
        ] {
            let problem = Cart::parse([good.clone(), bad.clone()], "EUR").unwrap_err();
            assert!(
                problem.starts_with("line 2 (\"MUG\")"),
                "{bad:?}: {problem}"
            );
        }
        assert_eq!(Cart::parse([good], "").unwrap_err(), "it names no currency");
    }
}

//! Domain types of the catalog and the rules that validate what callers send.
//!
//! Everything that enters the service is checked here, once, and turned into
//! a typed value ([`Sku`], [`Currency`], [`NewProduct`], [`ReserveRequest`]);
//! the database layer only ever sees valid data. Reservations and their life
//! cycle are in [`reservation`].

mod reservation;

pub use reservation::{
    Reservation, ReservationStatus, ReserveRequest, ReservedLine, Shortage, ttl as reservation_ttl,
};
pub use shop_runtime::server::validate::{text, uuid as parse_id};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shop_runtime::server::validate::FieldError;
use uuid::Uuid;

/// Most ids in one batch get.
pub const MAX_BATCH: usize = 100;
/// Highest unit price: 100 million major units keeps every total far from overflow.
pub const MAX_UNIT_PRICE_MINOR: i64 = 10_000_000_000;
/// Largest single stock adjustment, and largest initial stock.
pub const MAX_STOCK_DELTA: i64 = 1_000_000_000;
/// Image shown for a product created without one.
pub const PLACEHOLDER_IMAGE: &str = "/images/products/placeholder.svg";

/// A catalog entry with its available stock, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Product {
    pub id: Uuid,
    /// Unique stock-keeping unit.
    pub sku: String,
    pub name: String,
    /// Free text shown on the product page and searched by `q`.
    pub description: String,
    /// Category used for filtering.
    pub category: String,
    /// Relative or absolute URL of the image.
    pub image_url: String,
    /// Price of one unit in minor units of `currency`.
    pub unit_price_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Units that can be reserved now.
    pub available: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated new product.
#[derive(Debug, Clone)]
pub struct NewProduct {
    pub sku: Sku,
    pub name: String,
    pub description: String,
    pub category: String,
    /// Never empty: a placeholder stands in.
    pub image_url: String,
    /// Price of one unit in minor units of `currency`.
    pub unit_price_minor: i64,
    pub currency: Currency,
    /// Available stock to start with.
    pub initial_stock: i64,
}

/// A validated partial update: `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct ProductPatch {
    pub sku: Option<Sku>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub image_url: Option<String>,
    pub unit_price_minor: Option<i64>,
    pub currency: Option<Currency>,
}

/// Filters of a product listing.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Exact category.
    pub category: Option<String>,
    /// Case-insensitive substring of name or description.
    pub query: Option<String>,
}

impl ListFilter {
    /// Names the listing, so a page token only works for the filters it was issued for.
    pub fn scope(&self) -> String {
        format!(
            "products\u{0}{}\u{0}{}",
            self.category.as_deref().unwrap_or(""),
            self.query.as_deref().unwrap_or("")
        )
    }

    /// The `ILIKE` pattern of `query`, with `%`, `_` and `\` taken literally.
    pub fn like_pattern(&self) -> Option<String> {
        self.query.as_ref().map(|q| {
            let escaped = q
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        })
    }
}

/// Position after the last product of a page: listings are ordered by (name, id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub name: String,
    pub id: Uuid,
}

impl Cursor {
    /// The position right after `product`.
    pub fn of(product: &Product) -> Self {
        Self {
            name: product.name.clone(),
            id: product.id,
        }
    }
}

/// A stock-keeping unit: 1 to 64 letters, digits, `-`, `_` or `.`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sku(String);

impl Sku {
    /// Checks `raw`, surrounding whitespace ignored.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim();
        let ok = (1..=64).contains(&value.len())
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(Self(value.to_string()))
        } else {
            Err(FieldError::new(
                "sku",
                "must be 1 to 64 letters, digits, '-', '_' or '.'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An ISO 4217 currency code: three upper-case letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currency(String);

impl Currency {
    /// Checks `raw`, surrounding whitespace ignored.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim();
        if value.len() == 3 && value.chars().all(|c| c.is_ascii_uppercase()) {
            Ok(Self(value.to_string()))
        } else {
            Err(FieldError::new(
                "currency",
                format!(
                    "must be an ISO 4217 code like \"USD\", got {}",
                    shop_runtime::server::validate::echo(raw)
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A unit price in minor units: 0 to [`MAX_UNIT_PRICE_MINOR`].
pub fn unit_price(raw: i64) -> Result<i64, FieldError> {
    if (0..=MAX_UNIT_PRICE_MINOR).contains(&raw) {
        Ok(raw)
    } else {
        Err(FieldError::new(
            "unit_price_minor",
            format!("must be between 0 and {MAX_UNIT_PRICE_MINOR}, got {raw}"),
        ))
    }
}

/// The stock a product is created with: 0 to [`MAX_STOCK_DELTA`].
pub fn initial_stock(raw: i64) -> Result<i64, FieldError> {
    if (0..=MAX_STOCK_DELTA).contains(&raw) {
        Ok(raw)
    } else {
        Err(FieldError::new(
            "initial_stock",
            format!("must be between 0 and {MAX_STOCK_DELTA}"),
        ))
    }
}

/// A stock adjustment: non-zero and at most [`MAX_STOCK_DELTA`] in size.
/// Checked without `abs()`, which overflows on `i64::MIN`.
pub fn stock_delta(raw: i64) -> Result<i64, FieldError> {
    if raw != 0 && raw.unsigned_abs() <= MAX_STOCK_DELTA.unsigned_abs() {
        Ok(raw)
    } else {
        Err(FieldError::new(
            "delta",
            format!("must be non-zero and at most {MAX_STOCK_DELTA} in size, got {raw}"),
        ))
    }
}

/// An image URL: a path on the gateway (`/images/x.svg`) or an absolute
/// `http(s)://host/...` URL; empty means the placeholder.
///
/// A path must not start with `//`: browsers read `//host/x` as a URL on
/// another host (protocol-relative), which would let a product page load
/// images from anywhere while looking like a local path. Backslashes and
/// whitespace are refused too, because browsers turn `/\host` into `//host`
/// and drop tabs and newlines inside URLs.
pub fn image_url(raw: &str) -> Result<String, FieldError> {
    let value = text("image_url", raw, 0, 2048)?;
    if value.is_empty() {
        return Ok(PLACEHOLDER_IMAGE.to_string());
    }
    let plain = value.chars().all(|c| c.is_ascii_graphic() && c != '\\');
    let well_formed = match value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
    {
        // An absolute URL names its host.
        Some(after_scheme) => !after_scheme.is_empty() && !after_scheme.starts_with('/'),
        // A site path: one leading slash.
        None => value.starts_with('/') && !value.starts_with("//"),
    };
    if plain && well_formed {
        Ok(value)
    } else {
        Err(FieldError::new(
            "image_url",
            "must be a site path starting with a single '/' or an absolute 'http://' or 'https://' URL, \
             without spaces or backslashes",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_url_takes_site_paths_and_absolute_http_urls() {
        for ok in [
            "/images/products/mug.svg",
            "/static/x.svg",
            "https://cdn.example.com/x.png",
            "http://example.com/x.png?size=2",
        ] {
            assert_eq!(image_url(ok).unwrap(), ok, "{ok}");
        }
        assert_eq!(image_url("").unwrap(), PLACEHOLDER_IMAGE);
    }

    #[test]
    fn image_url_refuses_protocol_relative_and_disguised_host_urls() {
        for bad in [
            "//evil.example/x.png",
            "///evil.example/x.png",
            "/\\evil.example/x.png",
            "/\t/evil.example/x.png",
            "/images/a b.png",
            "https:///evil.example",
            "https://",
            "javascript:alert(1)",
            "data:image/svg+xml,<svg/>",
            "images/x.png",
        ] {
            assert_eq!(
                image_url(bad).map_err(|e| e.field),
                Err("image_url"),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn skus_and_currencies_are_parsed_once_and_trimmed() {
        assert_eq!(Sku::parse(" KIT-MUG.01 ").unwrap().as_str(), "KIT-MUG.01");
        assert_eq!(Sku::parse("a b").unwrap_err().field, "sku");
        assert_eq!(Sku::parse(&"x".repeat(65)).unwrap_err().field, "sku");
        assert_eq!(Currency::parse("EUR ").unwrap().as_str(), "EUR");
        for bad in ["usd", "US", "USDT", ""] {
            assert_eq!(Currency::parse(bad).unwrap_err().field, "currency", "{bad}");
        }
    }

    #[test]
    fn stock_delta_refuses_zero_and_oversized_including_i64_min() {
        assert_eq!(stock_delta(5).unwrap(), 5);
        assert_eq!(stock_delta(-MAX_STOCK_DELTA).unwrap(), -MAX_STOCK_DELTA);
        assert_eq!(stock_delta(MAX_STOCK_DELTA).unwrap(), MAX_STOCK_DELTA);
        for bad in [
            0,
            MAX_STOCK_DELTA + 1,
            -MAX_STOCK_DELTA - 1,
            i64::MIN,
            i64::MAX,
        ] {
            assert!(stock_delta(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn like_pattern_takes_wildcards_literally() {
        let filter = ListFilter {
            query: Some("50%_off\\".into()),
            ..Default::default()
        };
        assert_eq!(filter.like_pattern().unwrap(), "%50\\%\\_off\\\\%");
    }
}

//! Domain types of the catalog and the rules that validate what callers send.
//!
//! Everything that enters the service is checked here, once, and turned into
//! a typed value; the database layer only ever sees valid data.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};

/// Most ids in one batch get.
pub const MAX_BATCH: usize = 100;
/// Most lines in one reservation.
pub const MAX_RESERVATION_LINES: usize = 100;
/// Most units of one product in one reservation.
pub const MAX_LINE_QUANTITY: i64 = 10_000;
/// Highest unit price: 100 million major units keeps every total far from overflow.
pub const MAX_UNIT_PRICE_MINOR: i64 = 10_000_000_000;
/// Largest single stock adjustment, and largest initial stock.
pub const MAX_STOCK_DELTA: i64 = 1_000_000_000;
/// Image shown for a product created without one.
pub const PLACEHOLDER_IMAGE: &str = "/images/products/placeholder.svg";

/// A catalog entry with its available stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// Primary key.
    pub id: Uuid,
    /// Unique stock-keeping unit.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Free text shown on the product page and searched by `q`.
    pub description: String,
    /// Category used for filtering.
    pub category: String,
    /// Relative or absolute URL of the image.
    pub image_url: String,
    /// Price of one unit in minor units.
    pub unit_price_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Units that can be reserved now.
    pub available: i64,
    /// When the product was created.
    pub created_at: DateTime<Utc>,
    /// When the product last changed.
    pub updated_at: DateTime<Utc>,
}

/// A validated new product.
#[derive(Debug, Clone)]
pub struct NewProduct {
    /// Unique stock-keeping unit.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Category.
    pub category: String,
    /// Image URL, never empty (a placeholder stands in).
    pub image_url: String,
    /// Price of one unit in minor units.
    pub unit_price_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Initial available stock.
    pub initial_stock: i64,
}

/// A validated partial update: `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct ProductPatch {
    /// New SKU.
    pub sku: Option<String>,
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New category.
    pub category: Option<String>,
    /// New image URL.
    pub image_url: Option<String>,
    /// New price.
    pub unit_price_minor: Option<i64>,
    /// New currency.
    pub currency: Option<String>,
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
    /// Name of the last product of the page.
    pub name: String,
    /// Id of the last product of the page.
    pub id: Uuid,
}

/// Life cycle of a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservationStatus {
    /// Stock is held until committed, released or expired.
    Held,
    /// Stock is sold.
    Committed,
    /// Stock went back to available on request.
    Released,
    /// Stock went back to available when the TTL ran out.
    Expired,
}

impl ReservationStatus {
    /// The value stored in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Held => "HELD",
            Self::Committed => "COMMITTED",
            Self::Released => "RELEASED",
            Self::Expired => "EXPIRED",
        }
    }

    /// Parses the `status` column.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "HELD" => Ok(Self::Held),
            "COMMITTED" => Ok(Self::Committed),
            "RELEASED" => Ok(Self::Released),
            "EXPIRED" => Ok(Self::Expired),
            other => Err(Error::Internal(anyhow::anyhow!(
                "unknown reservation status {other:?}"
            ))),
        }
    }
}

/// A reservation with the lines it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The caller's idempotency key.
    pub id: Uuid,
    /// Where it stands.
    pub status: ReservationStatus,
    /// Lines with catalog data captured at reservation time.
    pub lines: Vec<ReservedLine>,
    /// When held stock goes back unless committed.
    pub expires_at: DateTime<Utc>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// One line of a reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservedLine {
    /// The product.
    pub product_id: Uuid,
    /// SKU at reservation time.
    pub sku: String,
    /// Name at reservation time.
    pub name: String,
    /// Units held.
    pub quantity: i64,
    /// Unit price at reservation time.
    pub unit_price_minor: i64,
    /// Currency of the price.
    pub currency: String,
}

/// A validated reservation request: lines merged per product, sorted by id.
#[derive(Debug, Clone)]
pub struct ReserveRequest {
    /// Idempotency key.
    pub id: Uuid,
    /// Product ids, ascending, each once.
    pub product_ids: Vec<Uuid>,
    /// Units per product, aligned with `product_ids`.
    pub quantities: Vec<i64>,
    /// How long the stock is held.
    pub ttl: Duration,
}

impl ReserveRequest {
    /// Validates and merges the lines of a reservation.
    pub fn new(
        id: Uuid,
        lines: impl IntoIterator<Item = (Uuid, i64)>,
        ttl: Duration,
    ) -> Result<Self> {
        let mut merged = std::collections::BTreeMap::<Uuid, i64>::new();
        let mut count = 0;
        for (product_id, quantity) in lines {
            count += 1;
            if !(1..=MAX_LINE_QUANTITY).contains(&quantity) {
                return Err(Error::invalid(
                    "lines.quantity",
                    format!("must be between 1 and {MAX_LINE_QUANTITY}, got {quantity}"),
                ));
            }
            let total = merged.entry(product_id).or_default();
            *total += quantity;
            if *total > MAX_LINE_QUANTITY {
                return Err(Error::invalid(
                    "lines.quantity",
                    format!("at most {MAX_LINE_QUANTITY} units of one product"),
                ));
            }
        }
        if count == 0 || count > MAX_RESERVATION_LINES {
            return Err(Error::invalid(
                "lines",
                format!("must hold 1 to {MAX_RESERVATION_LINES} lines, got {count}"),
            ));
        }
        let (product_ids, quantities) = merged.into_iter().unzip();
        Ok(Self {
            id,
            product_ids,
            quantities,
            ttl,
        })
    }
}

pub use shop_runtime::validate::{page_size, text, uuid as parse_id};

/// A SKU: 1 to 64 letters, digits, `-`, `_` or `.`.
pub fn sku(raw: &str) -> Result<String> {
    let value = raw.trim();
    let ok = (1..=64).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(value.to_string())
    } else {
        Err(Error::invalid(
            "sku",
            "must be 1 to 64 letters, digits, '-', '_' or '.'",
        ))
    }
}

/// An ISO 4217 currency code: three upper-case letters.
pub fn currency(raw: &str) -> Result<String> {
    let value = raw.trim();
    if value.len() == 3 && value.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(value.to_string())
    } else {
        Err(Error::invalid(
            "currency",
            format!("must be an ISO 4217 code like \"USD\", got {raw:?}"),
        ))
    }
}

/// A unit price in minor units.
pub fn unit_price(raw: i64) -> Result<i64> {
    if (0..=MAX_UNIT_PRICE_MINOR).contains(&raw) {
        Ok(raw)
    } else {
        Err(Error::invalid(
            "unit_price_minor",
            format!("must be between 0 and {MAX_UNIT_PRICE_MINOR}, got {raw}"),
        ))
    }
}

/// A stock adjustment: non-zero and at most [`MAX_STOCK_DELTA`] in size.
/// Checked without `abs()`, which overflows on `i64::MIN`.
pub fn stock_delta(raw: i64) -> Result<i64> {
    if raw != 0 && raw.unsigned_abs() <= MAX_STOCK_DELTA.unsigned_abs() {
        Ok(raw)
    } else {
        Err(Error::invalid(
            "delta",
            format!("must be non-zero and at most {MAX_STOCK_DELTA} in size, got {raw}"),
        ))
    }
}

/// An image URL: a path on the gateway (`/images/x.svg`) or an absolute
/// `http(s)://host/...` URL; empty means none.
///
/// A path must not start with `//`: browsers read `//host/x` as a URL on
/// another host (protocol-relative), which would let a product page load
/// images from anywhere while looking like a local path. Backslashes and
/// whitespace are refused too, because browsers turn `/\host` into `//host`
/// and drop tabs and newlines inside URLs.
pub fn image_url(raw: &str) -> Result<Option<String>> {
    let value = text("image_url", raw, 0, 2048)?;
    if value.is_empty() {
        return Ok(None);
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
        Ok(Some(value))
    } else {
        Err(Error::invalid(
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
    fn reservation_lines_for_one_product_are_merged_and_sorted() {
        let (a, b) = (Uuid::from_u128(2), Uuid::from_u128(1));
        let req =
            ReserveRequest::new(Uuid::nil(), [(a, 2), (b, 1), (a, 3)], Duration::ZERO).unwrap();
        assert_eq!(req.product_ids, vec![b, a]);
        assert_eq!(req.quantities, vec![1, 5]);
    }

    #[test]
    fn a_reservation_without_lines_or_with_a_zero_quantity_is_invalid() {
        assert!(ReserveRequest::new(Uuid::nil(), [], Duration::ZERO).is_err());
        assert!(ReserveRequest::new(Uuid::nil(), [(Uuid::nil(), 0)], Duration::ZERO).is_err());
        assert!(ReserveRequest::new(Uuid::nil(), [(Uuid::nil(), -1)], Duration::ZERO).is_err());
    }

    #[test]
    fn image_url_takes_site_paths_and_absolute_http_urls() {
        for ok in [
            "/images/products/mug.svg",
            "/static/x.svg",
            "https://cdn.example.com/x.png",
            "http://example.com/x.png?size=2",
        ] {
            assert_eq!(image_url(ok).unwrap().as_deref(), Some(ok), "{ok}");
        }
        assert_eq!(image_url("").unwrap(), None);
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
            assert!(
                matches!(
                    image_url(bad),
                    Err(Error::InvalidArgument {
                        field: "image_url",
                        ..
                    })
                ),
                "{bad:?} was accepted"
            );
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

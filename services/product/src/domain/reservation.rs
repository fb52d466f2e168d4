//! Stock reservations: what a caller may ask to hold, and the life cycle of
//! what is held.

use std::time::Duration;

use chrono::{DateTime, Utc};
use shop_runtime::server::validate::FieldError;
use uuid::Uuid;

/// Most lines in one reservation.
pub const MAX_RESERVATION_LINES: usize = 100;
/// Most units of one product in one reservation.
pub const MAX_LINE_QUANTITY: i64 = 10_000;
/// Longest TTL a caller may ask for: one day.
pub const MAX_TTL_SECONDS: i32 = 86_400;

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

shop_runtime::stored_enum!(ReservationStatus, "reservation status" {
    Held => "HELD",
    Committed => "COMMITTED",
    Released => "RELEASED",
    Expired => "EXPIRED",
});

/// A reservation with the lines it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The caller's idempotency key.
    pub id: Uuid,
    pub status: ReservationStatus,
    /// Lines with catalog data captured at reservation time.
    pub lines: Vec<ReservedLine>,
    /// When held stock goes back unless committed.
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// One line of a reservation, with the product as it was when reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservedLine {
    pub product_id: Uuid,
    pub sku: String,
    pub name: String,
    /// Units held.
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub currency: String,
}

/// A line that cannot be reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortage {
    pub product_id: Uuid,
    /// Units asked for.
    pub requested: i64,
    /// Units available right now.
    pub available: i64,
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
    /// Sold at once (COMMITTED) instead of held.
    pub commit: bool,
}

impl ReserveRequest {
    /// Validates and merges the lines of a reservation.
    pub fn new(
        id: Uuid,
        lines: impl IntoIterator<Item = (Uuid, i64)>,
        ttl: Duration,
    ) -> Result<Self, FieldError> {
        let mut merged = std::collections::BTreeMap::<Uuid, i64>::new();
        let mut count = 0;
        for (product_id, quantity) in lines {
            count += 1;
            if !(1..=MAX_LINE_QUANTITY).contains(&quantity) {
                return Err(FieldError::new(
                    "lines.quantity",
                    format!("must be between 1 and {MAX_LINE_QUANTITY}, got {quantity}"),
                ));
            }
            let total = merged.entry(product_id).or_default();
            *total += quantity;
            if *total > MAX_LINE_QUANTITY {
                return Err(FieldError::new(
                    "lines.quantity",
                    format!("at most {MAX_LINE_QUANTITY} units of one product"),
                ));
            }
        }
        if count == 0 || count > MAX_RESERVATION_LINES {
            return Err(FieldError::new(
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
            commit: false,
        })
    }

    /// The same request, selling the stock at once when `commit`.
    pub fn committing(self, commit: bool) -> Self {
        Self { commit, ..self }
    }
}

/// How long a reservation holds its stock: `default` when the caller sent
/// 0, else 1 to [`MAX_TTL_SECONDS`].
pub fn ttl(raw: i32, default: Duration) -> Result<Duration, FieldError> {
    match raw {
        0 => Ok(default),
        s @ 1..=MAX_TTL_SECONDS => Ok(Duration::from_secs(s as u64)),
        s => Err(FieldError::new(
            "ttl_seconds",
            format!("must be between 0 and {MAX_TTL_SECONDS}, got {s}"),
        )),
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
    fn a_ttl_of_zero_is_the_default_and_more_than_a_day_is_refused() {
        let default = Duration::from_secs(120);
        assert_eq!(ttl(0, default).unwrap(), default);
        assert_eq!(ttl(5, default).unwrap(), Duration::from_secs(5));
        assert_eq!(
            ttl(MAX_TTL_SECONDS + 1, default).unwrap_err().field,
            "ttl_seconds"
        );
        assert!(ttl(-1, default).is_err());
    }

    #[test]
    fn statuses_round_trip() {
        for s in ReservationStatus::ALL {
            assert_eq!(s.as_str().parse::<ReservationStatus>(), Ok(*s));
        }
        assert_eq!(ReservationStatus::ALL.len(), 4);
        assert!("LOST".parse::<ReservationStatus>().is_err());
    }
}

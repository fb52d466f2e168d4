//! Reservations: stock held for every line or none, committed, released,
//! or expired by the sweeper, each exactly once.
//!
//! Stock moves under row locks taken in product id order, so two
//! transactions never wait on each other in a cycle.

use shop_runtime::Failure;
use shop_runtime::db::OnConstraint as _;
use shop_runtime::db::sql;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::Store;
use crate::domain::{Reservation, ReservationStatus, ReserveRequest, ReservedLine, Shortage};
use crate::error::{Error, Result};

impl Store {
    /// Holds stock for every line or none, keyed by the reservation id; with
    /// `req.commit` the stock is sold at once (the reservation COMMITTED).
    #[sql("product.reserve")]
    pub async fn reserve(&self, req: &ReserveRequest) -> Result<Reservation> {
        let mut tx = self.pool.begin().await?;
        let ttl_seconds = req.ttl.as_secs_f64();
        let inserted = sqlx::query!(
            r#"
            INSERT INTO reservations (id, status, expires_at)
            VALUES ($1, CASE WHEN $3 THEN 'COMMITTED' ELSE 'HELD' END, now() + make_interval(secs => $2))
            ON CONFLICT (id) DO NOTHING
            RETURNING expires_at, created_at
            "#,
            req.id,
            ttl_seconds,
            req.commit,
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(head) = inserted else {
            // A retry: the first call's reservation stands, whatever it holds.
            tx.rollback().await?;
            return self.reservation(req.id).await;
        };

        let locked = sqlx::query!(
            "SELECT id, available, currency FROM products WHERE id = ANY($1) ORDER BY id FOR UPDATE",
            &req.product_ids,
        )
        .fetch_all(&mut *tx)
        .await?;
        if locked.len() < req.product_ids.len() {
            let missing: Vec<String> = req
                .product_ids
                .iter()
                .filter(|id| !locked.iter().any(|row| row.id == **id))
                .map(Uuid::to_string)
                .collect();
            return Err(Error::NotFound(format!(
                "unknown product(s): {}",
                missing.join(", ")
            )));
        }
        // Rows are locked: what we read is what we update, and no currency
        // changes before the lines copy it.
        if locked.iter().any(|row| row.currency != locked[0].currency) {
            return Err(Error::MixedCurrency(
                locked
                    .iter()
                    .map(|row| (row.id, row.currency.clone()))
                    .collect(),
            ));
        }
        let shortages: Vec<Shortage> = locked
            .iter()
            .zip(&req.quantities)
            .filter(|(row, qty)| row.available < **qty)
            .map(|(row, qty)| Shortage {
                product_id: row.id,
                requested: *qty,
                available: row.available,
            })
            .collect();
        if !shortages.is_empty() {
            return Err(Error::InsufficientStock(shortages));
        }

        // The stock moves (to held, or to sold when committing) and the
        // lines copy the products as they are now, in one statement.
        let mut lines = sqlx::query_as!(
            ReservedLine,
            r#"
            WITH moved AS (
                UPDATE products p
                SET available = p.available - l.qty,
                    held = p.held + CASE WHEN $4 THEN 0 ELSE l.qty END,
                    sold = p.sold + CASE WHEN $4 THEN l.qty ELSE 0 END,
                    updated_at = now()
                FROM UNNEST($2::uuid[], $3::bigint[]) AS l(id, qty)
                WHERE p.id = l.id
                RETURNING p.id, p.sku, p.name, l.qty, p.unit_price_minor, p.currency
            )
            INSERT INTO reservation_lines (reservation_id, product_id, sku, name, quantity, unit_price_minor, currency)
            SELECT $1, id, sku, name, qty, unit_price_minor, currency FROM moved
            RETURNING product_id, sku, name, quantity, unit_price_minor, currency
            "#,
            req.id,
            &req.product_ids,
            &req.quantities,
            req.commit,
        )
        .fetch_all(&mut *tx)
        .await
        .on_constraint(super::AVAILABLE_NOT_NEGATIVE, super::not_enough_stock)?;
        tx.commit().await?;
        lines.sort_by_key(|line| line.product_id);
        Ok(Reservation {
            id: req.id,
            status: if req.commit {
                ReservationStatus::Committed
            } else {
                ReservationStatus::Held
            },
            lines,
            expires_at: head.expires_at,
            created_at: head.created_at,
        })
    }

    /// A reservation with its lines, in one statement.
    #[sql("product.reservation")]
    pub async fn reservation(&self, id: Uuid) -> Result<Reservation> {
        let rows = sqlx::query!(
            r#"
            SELECT r.status, r.expires_at, r.created_at,
                   l.product_id AS "product_id?", l.sku AS "sku?", l.name AS "name?",
                   l.quantity AS "quantity?", l.unit_price_minor AS "unit_price_minor?", l.currency AS "currency?"
            FROM reservations r LEFT JOIN reservation_lines l ON l.reservation_id = r.id
            WHERE r.id = $1
            ORDER BY l.product_id
            "#,
            id
        )
        .fetch_all(&self.pool)
        .await?;
        let head = rows.first().ok_or_else(|| reservation_not_found(id))?;
        let status = head.status.parse().map_err(Failure::internal)?;
        let (expires_at, created_at) = (head.expires_at, head.created_at);
        let lines = rows
            .into_iter()
            .filter_map(|row| {
                Some(ReservedLine {
                    product_id: row.product_id?,
                    sku: row.sku?,
                    name: row.name?,
                    quantity: row.quantity?,
                    unit_price_minor: row.unit_price_minor?,
                    currency: row.currency?,
                })
            })
            .collect();
        Ok(Reservation {
            id,
            status,
            lines,
            expires_at,
            created_at,
        })
    }

    /// Moves a held reservation's stock to sold. Committing twice is a no-op.
    #[sql("product.commit")]
    pub async fn commit(&self, id: Uuid) -> Result<Reservation> {
        let mut tx = self.pool.begin().await?;
        // The usual case, a held reservation in time, in one conditional
        // update; anything else is looked at under the row's lock.
        let held = sqlx::query_scalar!(
            r#"
            UPDATE reservations SET status = 'COMMITTED', updated_at = now()
            WHERE id = $1 AND status = 'HELD' AND expires_at > now()
            RETURNING id
            "#,
            id
        )
        .fetch_optional(&mut *tx)
        .await?;
        if held.is_some() {
            move_stock(&mut tx, &[id], Move::HeldToSold).await?;
            tx.commit().await?;
            return self.reservation(id).await;
        }
        let (status, expired) = lock_reservation(&mut tx, id).await?;
        match status {
            ReservationStatus::Committed => {}
            ReservationStatus::Held if expired => {
                // Too late: give the stock back now rather than wait for the sweeper.
                move_stock(&mut tx, &[id], Move::HeldToAvailable).await?;
                set_status(&mut tx, &[id], ReservationStatus::Expired).await?;
                tx.commit().await?;
                return Err(Error::FailedPrecondition(format!(
                    "reservation {id} has expired"
                )));
            }
            ReservationStatus::Held => {
                move_stock(&mut tx, &[id], Move::HeldToSold).await?;
                set_status(&mut tx, &[id], ReservationStatus::Committed).await?;
            }
            ReservationStatus::Released | ReservationStatus::Expired => {
                return Err(Error::FailedPrecondition(format!(
                    "reservation {id} is {} and cannot be committed",
                    status.as_str()
                )));
            }
        }
        tx.commit().await?;
        self.reservation(id).await
    }

    /// Gives a reservation's stock back exactly once: held stock of a HELD
    /// reservation, sold stock of a COMMITTED one.
    #[sql("product.release")]
    pub async fn release(&self, id: Uuid) -> Result<Reservation> {
        let mut tx = self.pool.begin().await?;
        // A release of a reservation that does not exist (yet) leaves a
        // tombstone: a RELEASED reservation with no lines. A reserve still
        // in flight then finds its id taken and holds nothing (`reserve`
        // returns the reservation standing under the id).
        let tombstone = sqlx::query_scalar!(
            r#"
            INSERT INTO reservations (id, status, expires_at)
            VALUES ($1, 'RELEASED', now())
            ON CONFLICT (id) DO NOTHING
            RETURNING id
            "#,
            id,
        )
        .fetch_optional(&mut *tx)
        .await?;
        if tombstone.is_some() {
            tx.commit().await?;
            return self.reservation(id).await;
        }
        let (status, _) = lock_reservation(&mut tx, id).await?;
        let movement = match status {
            ReservationStatus::Held => Some(Move::HeldToAvailable),
            ReservationStatus::Committed => Some(Move::SoldToAvailable),
            ReservationStatus::Released | ReservationStatus::Expired => None,
        };
        if let Some(movement) = movement {
            move_stock(&mut tx, &[id], movement).await?;
            set_status(&mut tx, &[id], ReservationStatus::Released).await?;
        }
        tx.commit().await?;
        self.reservation(id).await
    }

    /// Expires up to `batch` held reservations whose TTL ran out and returns
    /// their stock. Reservations locked by a concurrent commit or release are
    /// skipped and looked at again next time. Returns how many expired.
    // Background job: traced at debug level only, so idle services export nothing.
    #[tracing::instrument(level = "debug", name = "sql", skip_all, fields(otel.name = "product.expire_due", db.system = "postgresql"))]
    pub async fn expire_due(&self, batch: i64) -> Result<usize> {
        let mut tx = self.pool.begin().await?;
        let due = sqlx::query_scalar!(
            r#"
            SELECT id FROM reservations
            WHERE status = 'HELD' AND expires_at <= now()
            ORDER BY expires_at
            LIMIT $1
            FOR UPDATE SKIP LOCKED
            "#,
            batch
        )
        .fetch_all(&mut *tx)
        .await?;
        if due.is_empty() {
            return Ok(0);
        }
        move_stock(&mut tx, &due, Move::HeldToAvailable).await?;
        set_status(&mut tx, &due, ReservationStatus::Expired).await?;
        tx.commit().await?;
        Ok(due.len())
    }
}

/// Which stock buckets a reservation's units move between.
#[derive(Debug, Clone, Copy)]
enum Move {
    HeldToSold,
    HeldToAvailable,
    SoldToAvailable,
}

/// Locks a reservation row; returns its status and whether its TTL ran out.
#[sql("product.lock_reservation")]
async fn lock_reservation(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
) -> Result<(ReservationStatus, bool)> {
    let row = sqlx::query!(
        r#"SELECT status, expires_at <= now() AS "expired!" FROM reservations WHERE id = $1 FOR UPDATE"#,
        id
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| reservation_not_found(id))?;
    Ok((
        row.status
            .parse::<ReservationStatus>()
            .map_err(Failure::internal)?,
        row.expired,
    ))
}

/// Moves the units of `reservations` between buckets, locking the products
/// in id order first.
#[sql("product.move_stock")]
async fn move_stock(
    tx: &mut Transaction<'_, Postgres>,
    reservations: &[Uuid],
    movement: Move,
) -> Result<()> {
    sqlx::query!(
        r#"
        SELECT 1 AS "locked!" FROM products
        WHERE id IN (SELECT product_id FROM reservation_lines WHERE reservation_id = ANY($1))
        ORDER BY id FOR UPDATE
        "#,
        reservations
    )
    .fetch_all(&mut **tx)
    .await?;
    let query = match movement {
        Move::HeldToSold => sqlx::query!(
            r#"
            UPDATE products p SET held = p.held - l.qty, sold = p.sold + l.qty, updated_at = now()
            FROM (SELECT product_id, SUM(quantity)::bigint AS qty FROM reservation_lines
                  WHERE reservation_id = ANY($1) GROUP BY product_id) l
            WHERE p.id = l.product_id
            "#,
            reservations
        ),
        Move::HeldToAvailable => sqlx::query!(
            r#"
            UPDATE products p SET held = p.held - l.qty, available = p.available + l.qty, updated_at = now()
            FROM (SELECT product_id, SUM(quantity)::bigint AS qty FROM reservation_lines
                  WHERE reservation_id = ANY($1) GROUP BY product_id) l
            WHERE p.id = l.product_id
            "#,
            reservations
        ),
        Move::SoldToAvailable => sqlx::query!(
            r#"
            UPDATE products p SET sold = p.sold - l.qty, available = p.available + l.qty, updated_at = now()
            FROM (SELECT product_id, SUM(quantity)::bigint AS qty FROM reservation_lines
                  WHERE reservation_id = ANY($1) GROUP BY product_id) l
            WHERE p.id = l.product_id
            "#,
            reservations
        ),
    };
    query.execute(&mut **tx).await?;
    Ok(())
}

#[sql("product.set_status")]
async fn set_status(
    tx: &mut Transaction<'_, Postgres>,
    ids: &[Uuid],
    status: ReservationStatus,
) -> Result<()> {
    sqlx::query!(
        "UPDATE reservations SET status = $2, updated_at = now() WHERE id = ANY($1)",
        ids,
        status.as_str()
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn reservation_not_found(id: Uuid) -> Error {
    Error::NotFound(format!("reservation {id} not found"))
}

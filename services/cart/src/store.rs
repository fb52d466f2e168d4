//! The database of cart-service: every SQL statement it runs.
//!
//! Every change to a cart starts by locking the shopper's `carts` row, so the
//! changes to one cart run one after another: concurrent adds to a line all
//! count, the 50-line and 99-unit limits hold under any race, and a cart
//! keeps one currency (stored on that row and checked under the lock). Every
//! transaction takes the cart lock before it touches `cart_items`, so two
//! changes never wait on each other's lines in a cycle. Purchases are keyed
//! by order id, so removing an order's lines twice removes nothing more.
//! The constraints a caller can run into are mapped to their errors next to
//! the query that may violate them.

use shop_runtime::db::OnConstraint as _;
use shop_runtime::db::sql;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::domain::{CurrencyCheck, Line, MAX_LINES, MAX_QUANTITY};
use crate::error::{Error, Result};

/// A line below 1 or above 99 units.
const QUANTITY_RANGE: &str = "cart_items_quantity_range";

fn quantity_out_of_range() -> Error {
    Error::invalid("quantity", "a line holds 1 to 99 units")
}

/// cart-service's tables.
#[derive(Debug, Clone)]
pub struct Store {
    /// Pool confined to the `cart` schema.
    pool: PgPool,
}

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The lines of a cart, oldest first.
    #[sql("cart.lines")]
    pub async fn lines(&self, user_id: &str) -> Result<Vec<Line>> {
        select_lines(&self.pool, user_id).await
    }

    /// Adds `quantity` to a line, creating it when missing; returns the
    /// cart's lines after the change.
    #[sql("cart.add")]
    pub async fn add(
        &self,
        user_id: &str,
        product_id: Uuid,
        quantity: i32,
        currency: &CurrencyCheck,
    ) -> Result<Vec<Line>> {
        let mut locked = lock_cart(&self.pool, user_id).await?;
        claim_currency(&mut locked, user_id, currency).await?;
        let mut tx = locked.tx;
        // The line changed and the cart's other lines, read in one
        // statement (its snapshot is taken under the cart lock, so it sees
        // every line a concurrent change committed): the CTE's row is the
        // line as written, the rest as stored.
        let lines = sqlx::query_as!(
            Line,
            r#"
            WITH added AS (
                INSERT INTO cart_items (user_id, product_id, quantity) VALUES ($1, $2, $3)
                ON CONFLICT (user_id, product_id)
                DO UPDATE SET quantity = cart_items.quantity + EXCLUDED.quantity
                WHERE cart_items.quantity + EXCLUDED.quantity <= $4
                RETURNING product_id, quantity, previous_unit_price_minor, added_at
            )
            SELECT product_id AS "product_id!", quantity AS "quantity!", previous_unit_price_minor
            FROM (SELECT * FROM added
                  UNION ALL
                  SELECT product_id, quantity, previous_unit_price_minor, added_at
                  FROM cart_items WHERE user_id = $1 AND product_id <> $2) lines
            ORDER BY added_at, product_id
            "#,
            user_id,
            product_id,
            quantity,
            MAX_QUANTITY as i32,
        )
        .fetch_all(&mut *tx)
        .await
        .on_constraint(QUANTITY_RANGE, quantity_out_of_range)?;
        if !lines.iter().any(|line| line.product_id == product_id) {
            // The conditional update left the line alone.
            return Err(Error::invalid(
                "quantity",
                format!("a line holds at most {MAX_QUANTITY} units"),
            ));
        }
        let lines = within_limit(lines)?;
        tx.commit().await?;
        Ok(lines)
    }

    /// Sets a line's quantity (1..=99; [`Store::remove`] takes a line out);
    /// returns the cart's lines after the change.
    #[sql("cart.set")]
    pub async fn set(
        &self,
        user_id: &str,
        product_id: Uuid,
        quantity: i32,
        currency: &CurrencyCheck,
    ) -> Result<Vec<Line>> {
        let mut locked = lock_cart(&self.pool, user_id).await?;
        claim_currency(&mut locked, user_id, currency).await?;
        let mut tx = locked.tx;
        sqlx::query!(
            r#"
            INSERT INTO cart_items (user_id, product_id, quantity) VALUES ($1, $2, $3)
            ON CONFLICT (user_id, product_id) DO UPDATE SET quantity = EXCLUDED.quantity
            "#,
            user_id,
            product_id,
            quantity,
        )
        .execute(&mut *tx)
        .await
        .on_constraint(QUANTITY_RANGE, quantity_out_of_range)?;
        let lines = lines_within_limit(&mut tx, user_id).await?;
        tx.commit().await?;
        Ok(lines)
    }

    /// Removes a line; a missing line is not an error.
    #[sql("cart.remove")]
    pub async fn remove(&self, user_id: &str, product_id: Uuid) -> Result<()> {
        let mut tx = lock_cart(&self.pool, user_id).await?.tx;
        sqlx::query!(
            "DELETE FROM cart_items WHERE user_id = $1 AND product_id = $2",
            user_id,
            product_id
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Empties a cart; it takes any currency again.
    #[sql("cart.clear")]
    pub async fn clear(&self, user_id: &str) -> Result<()> {
        let mut tx = lock_cart(&self.pool, user_id).await?.tx;
        sqlx::query!("DELETE FROM cart_items WHERE user_id = $1", user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query!(
            "UPDATE carts SET currency = NULL WHERE user_id = $1",
            user_id
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes an order's purchased quantities out of the cart, once per order,
    /// and returns the cart's lines after it. Lines bought in full go; a
    /// line the shopper topped up during checkout keeps the extra units;
    /// other lines are untouched.
    #[sql("cart.remove_purchased")]
    pub async fn remove_purchased(
        &self,
        user_id: &str,
        order_id: Uuid,
        bought: &[Line],
    ) -> Result<Vec<Line>> {
        // The cart lock and the purchase's mark in one statement: the mark
        // is inserted from the locked row, so after the lock is held.
        let mut tx = self.pool.begin().await?;
        let first_time = sqlx::query_scalar!(
            r#"
            WITH locked AS (
                INSERT INTO carts (user_id) VALUES ($2)
                ON CONFLICT (user_id) DO UPDATE SET updated_at = now()
                RETURNING user_id
            )
            INSERT INTO purchases (order_id, user_id) SELECT $1, user_id FROM locked
            ON CONFLICT DO NOTHING
            RETURNING order_id
            "#,
            order_id,
            user_id
        )
        .fetch_optional(&mut *tx)
        .await?;
        if first_time.is_none() {
            // Removed before: the cart as it is.
            let lines = select_lines(&mut *tx, user_id).await?;
            tx.commit().await?;
            return Ok(lines);
        }
        let ids: Vec<Uuid> = bought.iter().map(|l| l.product_id).collect();
        let quantities: Vec<i32> = bought.iter().map(|l| l.quantity).collect();
        // Lines bought in full go, lines topped up meanwhile keep the extra:
        // disjoint rows, so one statement does both, and returns the cart
        // after it (the kept lines as updated, the others as stored).
        let lines = sqlx::query_as!(
            Line,
            r#"
            WITH gone AS (
                DELETE FROM cart_items c
                USING UNNEST($2::uuid[], $3::int[]) AS b(product_id, qty)
                WHERE c.user_id = $1 AND c.product_id = b.product_id AND c.quantity <= b.qty
            ), kept AS (
                UPDATE cart_items c SET quantity = c.quantity - b.qty
                FROM UNNEST($2::uuid[], $3::int[]) AS b(product_id, qty)
                WHERE c.user_id = $1 AND c.product_id = b.product_id AND c.quantity > b.qty
                RETURNING c.product_id, c.quantity, c.previous_unit_price_minor, c.added_at
            )
            SELECT product_id AS "product_id!", quantity AS "quantity!", previous_unit_price_minor
            FROM (SELECT * FROM kept
                  UNION ALL
                  SELECT product_id, quantity, previous_unit_price_minor, added_at
                  FROM cart_items WHERE user_id = $1 AND product_id <> ALL($2)) lines
            ORDER BY added_at, product_id
            "#,
            user_id,
            &ids,
            &quantities,
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(lines)
    }
}

/// A transaction holding the lock on the shopper's cart row, and the
/// cart's currency as the lock found it (only changed under the lock).
struct Locked<'a> {
    tx: Transaction<'a, Postgres>,
    currency: Option<String>,
}

/// Begins a transaction holding the lock on the shopper's cart row.
#[sql("cart.lock_cart")]
async fn lock_cart<'a>(pool: &PgPool, user_id: &str) -> Result<Locked<'a>> {
    let mut tx = pool.begin().await?;
    // After waiting for the lock, the update reads the row's latest
    // version: the currency returned is the one every change committed.
    let currency = sqlx::query_scalar!(
        r#"
        INSERT INTO carts (user_id) VALUES ($1)
        ON CONFLICT (user_id) DO UPDATE SET updated_at = now()
        RETURNING currency
        "#,
        user_id
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(Locked { tx, currency })
}

/// Records `check.currency` as the cart's currency, or fails with
/// FAILED_PRECONDITION. Runs under the cart lock, so it sees every line a
/// concurrent change committed: the claim holds when the cart already is in
/// that currency (what the lock read: no statement then), or when every
/// line it holds now is one the catalog just confirmed to be in it (an
/// empty cart, or a cart whose products all moved to a new currency
/// together).
#[sql("cart.claim_currency")]
async fn claim_currency(
    locked: &mut Locked<'_>,
    user_id: &str,
    check: &CurrencyCheck,
) -> Result<()> {
    if locked.currency.as_deref() == Some(check.currency.as_str()) {
        return Ok(());
    }
    let tx = &mut locked.tx;
    let claimed = sqlx::query_scalar!(
        r#"
        UPDATE carts SET currency = $2
        WHERE user_id = $1
          AND (currency = $2
               OR NOT EXISTS (SELECT 1 FROM cart_items
                              WHERE user_id = $1 AND product_id <> ALL($3::uuid[])))
        RETURNING user_id
        "#,
        user_id,
        check.currency,
        &check.confirmed,
    )
    .fetch_optional(&mut **tx)
    .await?;
    if claimed.is_some() {
        return Ok(());
    }
    let current = locked.currency.as_deref().unwrap_or("another currency");
    Err(Error::FailedPrecondition(format!(
        "the cart holds items priced in {current}; this product is priced in {}",
        check.currency
    )))
}

/// The cart's lines, oldest first, read under the cart lock; fails the
/// transaction when the cart now holds more than 50.
#[sql("cart.lines_within_limit")]
async fn lines_within_limit(
    tx: &mut Transaction<'_, Postgres>,
    user_id: &str,
) -> Result<Vec<Line>> {
    within_limit(select_lines(&mut **tx, user_id).await?)
}

/// `lines`, or the error of a cart over 50 lines.
fn within_limit(lines: Vec<Line>) -> Result<Vec<Line>> {
    if lines.len() > MAX_LINES as usize {
        return Err(Error::invalid(
            "product_id",
            format!("a cart holds at most {MAX_LINES} different products"),
        ));
    }
    Ok(lines)
}

/// A cart's lines, oldest first.
async fn select_lines<'e>(db: impl sqlx::PgExecutor<'e>, user_id: &str) -> Result<Vec<Line>> {
    let lines = sqlx::query_as!(
        Line,
        "SELECT product_id, quantity, previous_unit_price_minor FROM cart_items WHERE user_id = $1 ORDER BY added_at, product_id",
        user_id
    )
    .fetch_all(db)
    .await?;
    Ok(lines)
}

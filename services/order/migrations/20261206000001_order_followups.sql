-- Work left after an order's status changed, one row per pending action,
-- instead of the single `followup` column: a new reaction is a new kind of
-- row. A row is enqueued in the same transaction as the status change that
-- makes it, so it exists exactly when that change happened; the request
-- that changed the status tries the action at once, and the follow-up
-- worker (order-service's recovery loop) takes over once the row is a
-- horizon old and past `next_attempt_at`: it claims due rows with FOR
-- UPDATE SKIP LOCKED, deletes a row once its action succeeded, and
-- otherwise counts the attempt, records the error and backs off. A row is
-- deleted only after its action succeeded.
CREATE TABLE order_followups (
    order_id        uuid        NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    -- CLEAR_CART after CONFIRMED, RETURN_STOCK after CANCELLED, RELEASE
    -- after a checkout was given up: order-service's follow-up `Kind`. No
    -- CHECK lists them, so a new reaction is a new kind of row and no
    -- schema change; a kind an instance does not know fails on its own
    -- row, which is kept for an instance that does.
    kind            text        NOT NULL,
    -- Failed attempts so far.
    attempts        integer     NOT NULL DEFAULT 0,
    -- When the worker may next take it: after a failure, the backoff; a
    -- claim pushes it out by a horizon (should the worker vanish).
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- What the last failed attempt said.
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- A reaction is enqueued at most once per order.
    PRIMARY KEY (order_id, kind)
);

-- The worker's work list.
CREATE INDEX order_followups_due_idx ON order_followups (next_attempt_at);

-- Pending follow-ups move over, due when recovery would have taken them: a
-- horizon after the order last changed.
INSERT INTO order_followups (order_id, kind, next_attempt_at, created_at)
SELECT id, followup, updated_at, updated_at
FROM orders WHERE followup IS NOT NULL;

DROP INDEX orders_unfinished_idx;
ALTER TABLE orders DROP COLUMN followup;

-- The recovery loop's work list of PENDING orders.
CREATE INDEX orders_pending_idx ON orders (updated_at) WHERE status = 'PENDING';

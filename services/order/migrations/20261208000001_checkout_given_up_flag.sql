-- A checkout given up (its RELEASE follow-up enqueued) is marked on the
-- order's own row, in the same transaction. A conditional update
-- (`... AND NOT given_up`) that waited for the row's lock re-checks it on
-- the row's latest version, so one statement does what took a lock, a
-- read of the follow-ups and an update (issue 31).
ALTER TABLE orders ADD COLUMN given_up boolean NOT NULL DEFAULT false;
UPDATE orders SET given_up = true
WHERE id IN (SELECT order_id FROM order_followups WHERE kind = 'RELEASE');

-- Recovery finds PENDING orders through this index. Keyed by created_at,
-- which never changes, instead of updated_at, which every step of a
-- checkout touches: an update that changes no indexed column and finds
-- room on its page is HOT (no index entry written), and the fill factor
-- leaves that room.
DROP INDEX orders_pending_idx;
CREATE INDEX orders_pending_idx ON orders (created_at) WHERE status = 'PENDING';
ALTER TABLE orders SET (fillfactor = 80);

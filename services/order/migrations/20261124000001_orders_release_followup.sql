-- A checkout that may have asked product-service for stock is never deleted.
--
-- `stock_requested` is set, conditionally on the order still being PENDING
-- with nothing left to do, right before the saga sends ReserveStock. From then
-- on a reservation may exist, or may still land, so an abandoned order is kept
-- with the follow-up RELEASE: the recovery loop releases its reservation and
-- then settles it as REJECTED (CHECKOUT_INTERRUPTED). Orders that never asked
-- for stock may still be deleted, so the shopper's key can be used again.
ALTER TABLE orders ADD COLUMN stock_requested boolean NOT NULL DEFAULT false;

ALTER TABLE orders DROP CONSTRAINT orders_followup_known;
ALTER TABLE orders ADD CONSTRAINT orders_followup_known
    CHECK (followup IN ('CLEAR_CART', 'RETURN_STOCK', 'RELEASE'));

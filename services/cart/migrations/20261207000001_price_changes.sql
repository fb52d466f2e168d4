-- Price changes, from product-service's shop.product.price_changed events
-- (docs/events.md): the unit price a line had when it was added, kept once
-- the product's price changed, so the cart can say "was $12.00". NULL while
-- the price is the one the line was added at.
ALTER TABLE cart_items ADD COLUMN previous_unit_price_minor bigint;

-- Events this service consumed: an event is applied once, however often
-- it arrives (shop_runtime::events::consumer).
CREATE TABLE inbox (
    consumer    text        NOT NULL,
    event_id    uuid        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- What fulfillment-service tells order-service (shop.fulfillment.shipped,
-- docs/events.md): SHIPPED once the order's shipment left. A shipped order
-- cannot be cancelled.
ALTER TABLE orders ADD COLUMN fulfillment_status text
    CONSTRAINT orders_fulfillment_status_known CHECK (fulfillment_status IN ('SHIPPED'));

-- Events consumed: each applied once (shop_runtime::events::consumer).
CREATE TABLE inbox (
    consumer    text        NOT NULL,
    event_id    uuid        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

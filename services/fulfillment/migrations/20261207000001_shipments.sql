-- Shipments of fulfillment-service. Names are unqualified: they land in
-- schema `fulfillment`. Everything here comes from events (docs/events.md).

-- One shipment per confirmed order.
CREATE TABLE shipments (
    order_id        uuid        PRIMARY KEY,
    user_id         text        NOT NULL,
    status          text        NOT NULL
        CONSTRAINT shipments_status_known CHECK (status IN ('PREPARING', 'SHIPPED', 'CANCELLED')),
    tracking_number text        NOT NULL,
    -- When a PREPARING shipment ships (SHIP_AFTER_SECONDS after the confirm).
    ship_after      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- The shipper takes due PREPARING shipments, oldest first.
CREATE INDEX shipments_due ON shipments (ship_after) WHERE status = 'PREPARING';

-- A cancel that arrived before its confirm: the confirm, when it comes,
-- makes the shipment CANCELLED at once. Arrival order never matters.
CREATE TABLE early_cancellations (
    order_id    uuid        PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- Events consumed: each applied once (shop_runtime::events::consumer).
CREATE TABLE inbox (
    consumer    text        NOT NULL,
    event_id    uuid        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Events published (shop.fulfillment.shipped), relayed to JetStream.
CREATE TABLE outbox (
    id           uuid        PRIMARY KEY,
    subject      text        NOT NULL,
    aggregate_id text        NOT NULL,
    payload      bytea       NOT NULL,
    traceparent  text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text,
    -- A shipment ships once.
    CONSTRAINT outbox_one_event_per_shipment UNIQUE (subject, aggregate_id)
);
CREATE INDEX outbox_unpublished ON outbox (created_at, id) WHERE published_at IS NULL;

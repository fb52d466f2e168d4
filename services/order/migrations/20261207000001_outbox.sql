-- Events order-service publishes (shop.order.confirmed, shop.order.cancelled),
-- written in the transaction of the status change and relayed to NATS
-- JetStream by the outbox relay (shop_runtime::events; docs/events.md).
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
    -- An order is confirmed once and cancelled once: one event each.
    CONSTRAINT outbox_one_event_per_order UNIQUE (subject, aggregate_id)
);

-- The relay reads the unpublished ones, oldest first.
CREATE INDEX outbox_unpublished ON outbox (created_at, id) WHERE published_at IS NULL;

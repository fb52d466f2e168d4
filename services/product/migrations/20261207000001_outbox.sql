-- Events product-service publishes (shop.product.price_changed), written in
-- the transaction of the change and relayed to NATS JetStream by the outbox
-- relay (shop_runtime::events; docs/events.md).
CREATE TABLE outbox (
    id           uuid        PRIMARY KEY,
    subject      text        NOT NULL,
    aggregate_id text        NOT NULL,
    payload      bytea       NOT NULL,
    traceparent  text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text
);

-- The relay reads the unpublished ones, oldest first.
CREATE INDEX outbox_unpublished ON outbox (created_at, id) WHERE published_at IS NULL;

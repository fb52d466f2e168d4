-- Orders of order-service. Names are unqualified: they land in schema `orders`.

-- Human order numbers (SO-000123): from a sequence, never random.
CREATE SEQUENCE order_number_seq;

CREATE TABLE orders (
    id               uuid        PRIMARY KEY,
    number           bigint      NOT NULL DEFAULT nextval('order_number_seq') CONSTRAINT orders_number_key UNIQUE,
    user_id          text        NOT NULL,
    idempotency_key  text        NOT NULL,
    status           text        NOT NULL CONSTRAINT orders_status_known
                                 CHECK (status IN ('PENDING', 'CONFIRMED', 'REJECTED', 'CANCELLED')),
    total_minor      bigint      NOT NULL DEFAULT 0,
    currency         text        NOT NULL DEFAULT '',
    -- Why a REJECTED order was rejected (EMPTY_CART, INSUFFICIENT_STOCK,
    -- RESERVATION_LOST) and, for stock, the short lines: a replay of the key
    -- returns the same rejection.
    rejection_reason text,
    shortages        jsonb,
    -- Work left after the status changed, finished by the request or by the
    -- recovery loop: CLEAR_CART after CONFIRMED, RETURN_STOCK after CANCELLED.
    followup         text        CONSTRAINT orders_followup_known CHECK (followup IN ('CLEAR_CART', 'RETURN_STOCK')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- At most one order per (user, idempotency key).
    CONSTRAINT orders_user_key_unique UNIQUE (user_id, idempotency_key)
);

-- A user's history, newest first, by keyset.
CREATE INDEX orders_user_history_idx ON orders (user_id, created_at DESC, id DESC);
-- The recovery loop's work list.
CREATE INDEX orders_unfinished_idx ON orders (updated_at) WHERE status = 'PENDING' OR followup IS NOT NULL;

CREATE TABLE order_items (
    order_id         uuid   NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id       uuid   NOT NULL,
    sku              text   NOT NULL,
    name             text   NOT NULL,
    quantity         bigint NOT NULL CONSTRAINT order_items_quantity_positive CHECK (quantity > 0),
    unit_price_minor bigint NOT NULL,
    line_total_minor bigint NOT NULL,
    PRIMARY KEY (order_id, product_id)
);

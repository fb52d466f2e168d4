-- Catalog, inventory and reservations of product-service.
-- Names are unqualified: they land in the role's own schema (`product`).

CREATE TABLE products (
    id               uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    sku              text        NOT NULL CONSTRAINT products_sku_key UNIQUE,
    name             text        NOT NULL,
    description      text        NOT NULL DEFAULT '',
    category         text        NOT NULL,
    image_url        text        NOT NULL DEFAULT '',
    unit_price_minor bigint      NOT NULL CONSTRAINT products_price_not_negative CHECK (unit_price_minor >= 0),
    currency         text        NOT NULL CONSTRAINT products_currency_iso4217 CHECK (currency ~ '^[A-Z]{3}$'),
    -- Stock buckets. Units move between them; only AdjustStock changes the total.
    available        bigint      NOT NULL DEFAULT 0 CONSTRAINT products_available_not_negative CHECK (available >= 0),
    held             bigint      NOT NULL DEFAULT 0 CONSTRAINT products_held_not_negative CHECK (held >= 0),
    sold             bigint      NOT NULL DEFAULT 0 CONSTRAINT products_sold_not_negative CHECK (sold >= 0),
    -- Net sum of every restock and write-off, including the initial stock.
    stock_added      bigint      NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- The inventory invariant, kept by the database itself.
    CONSTRAINT products_stock_balanced CHECK (stock_added = available + held + sold)
);

-- Keyset pagination walks (name, id), with or without a category.
CREATE INDEX products_name_id_idx ON products (name, id);
CREATE INDEX products_category_name_id_idx ON products (category, name, id);

CREATE TABLE reservations (
    -- Chosen by the caller (order-service uses the order id): the idempotency key.
    id         uuid        PRIMARY KEY,
    status     text        NOT NULL CONSTRAINT reservations_status_known
                           CHECK (status IN ('HELD', 'COMMITTED', 'RELEASED', 'EXPIRED')),
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The expiry sweeper looks only at held reservations.
CREATE INDEX reservations_held_expiry_idx ON reservations (expires_at) WHERE status = 'HELD';

CREATE TABLE reservation_lines (
    reservation_id   uuid   NOT NULL REFERENCES reservations (id) ON DELETE CASCADE,
    product_id       uuid   NOT NULL REFERENCES products (id),
    -- Catalog data and price captured at reservation time.
    sku              text   NOT NULL,
    name             text   NOT NULL,
    quantity         bigint NOT NULL CONSTRAINT reservation_lines_quantity_positive CHECK (quantity > 0),
    unit_price_minor bigint NOT NULL,
    currency         text   NOT NULL,
    PRIMARY KEY (reservation_id, product_id)
);

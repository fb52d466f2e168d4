-- Carts of cart-service. Names are unqualified: they land in schema `cart`.

-- One row per shopper with a cart. Every change to a cart first locks this
-- row, so changes to one cart are serialized and limits hold under races.
CREATE TABLE carts (
    user_id    text        PRIMARY KEY,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE cart_items (
    user_id    text        NOT NULL REFERENCES carts (user_id) ON DELETE CASCADE,
    -- A product of product-service; checked through its API, never by a foreign key.
    product_id uuid        NOT NULL,
    quantity   integer     NOT NULL CONSTRAINT cart_items_quantity_range CHECK (quantity BETWEEN 1 AND 99),
    added_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, product_id)
);

-- Orders whose purchased lines were removed: makes RemovePurchasedItems idempotent.
CREATE TABLE purchases (
    order_id   uuid        PRIMARY KEY,
    user_id    text        NOT NULL,
    removed_at timestamptz NOT NULL DEFAULT now()
);

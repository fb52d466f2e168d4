-- The currency a cart is priced in, kept on the row every change locks, so
-- that two concurrent adds of products in different currencies cannot both
-- pass the check (the second one sees the first one's currency).
-- NULL for carts created before this column: the first change under the
-- lock sets it. It only binds while the cart holds lines of other products.
ALTER TABLE carts
    ADD COLUMN currency text CONSTRAINT carts_currency_iso4217 CHECK (currency ~ '^[A-Z]{3}$');

#!/bin/sh
# Runs once, after bootstrap.sql, when the PostgreSQL volume is first
# initialised: gives each service role the password from the Secret.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
ALTER ROLE product_svc PASSWORD '${PRODUCT_DB_PASSWORD}';
ALTER ROLE cart_svc PASSWORD '${CART_DB_PASSWORD}';
ALTER ROLE order_svc PASSWORD '${ORDER_DB_PASSWORD}';
ALTER ROLE fulfillment_svc PASSWORD '${FULFILLMENT_DB_PASSWORD}';
SQL

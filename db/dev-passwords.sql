-- DEVELOPMENT VALUES ONLY: the passwords of the service roles in the local
-- docker compose stack. Never use them anywhere that matters; on Kubernetes
-- the passwords come from the `shop-db` Secret.
ALTER ROLE product_svc PASSWORD 'product-dev-password'; -- development value
ALTER ROLE cart_svc PASSWORD 'cart-dev-password'; -- development value
ALTER ROLE order_svc PASSWORD 'order-dev-password'; -- development value
ALTER ROLE fulfillment_svc PASSWORD 'fulfillment-dev-password'; -- development value

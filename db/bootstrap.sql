-- Shop database bootstrap: one login role and one schema per service.
--
-- Run by an administrator (or by `shop up`) in the shop database. It is
-- idempotent: running it again changes nothing. Each role owns its schema and
-- has no other grant, so a service reading another's tables fails at the
-- database. Passwords are set by whoever deploys (`ALTER ROLE ... PASSWORD`);
-- this file holds no secret.

DO $$
DECLARE
    svc text;
BEGIN
    FOREACH svc IN ARRAY ARRAY['product_svc', 'cart_svc', 'order_svc'] LOOP
        BEGIN
            EXECUTE format('CREATE ROLE %I LOGIN', svc);
        EXCEPTION
            -- Another bootstrap created it first: nothing to do.
            WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END LOOP;
END
$$;

CREATE SCHEMA IF NOT EXISTS product AUTHORIZATION product_svc;
CREATE SCHEMA IF NOT EXISTS cart AUTHORIZATION cart_svc;
CREATE SCHEMA IF NOT EXISTS orders AUTHORIZATION order_svc;

-- Unqualified names resolve in the role's own schema, and nowhere else.
ALTER ROLE product_svc SET search_path = product;
ALTER ROLE cart_svc SET search_path = cart;
ALTER ROLE order_svc SET search_path = orders;

-- No service keeps anything in `public`.
REVOKE ALL ON SCHEMA public FROM PUBLIC;

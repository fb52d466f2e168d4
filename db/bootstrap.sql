-- Shop database bootstrap: one login role and one schema per service.
--
-- Run by an administrator (or by `shop up`) in the shop database. It is
-- idempotent: running it again changes nothing. Each role owns its schema and
-- has no other grant, so a service reading another's tables fails at the
-- database. Passwords are set by whoever deploys (`ALTER ROLE ... PASSWORD`);
-- this file holds no secret.
--
-- The list below is the component list's (crates/topology) roles and
-- schemas; a test in crates/pgtemp holds them equal.

DO $$
DECLARE
    svc text[];
BEGIN
    FOREACH svc SLICE 1 IN ARRAY ARRAY[['product_svc', 'product'], ['cart_svc', 'cart'], ['order_svc', 'orders'], ['fulfillment_svc', 'fulfillment']] LOOP
        BEGIN
            EXECUTE format('CREATE ROLE %I LOGIN', svc[1]);
        EXCEPTION
            -- Another bootstrap created it first: nothing to do.
            WHEN duplicate_object OR unique_violation THEN NULL;
        END;
        EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', svc[2], svc[1]);
        -- Unqualified names resolve in the role's own schema, and nowhere else.
        EXECUTE format('ALTER ROLE %I SET search_path = %I', svc[1], svc[2]);
    END LOOP;
END
$$;

-- Extensions, in a schema of their own that no service owns, so a
-- service's schema dumps and restores alone (docs/reliability.md). Only an
-- administrator can create them. Catalog search (`name ILIKE '%q%'`) uses
-- pg_trgm's trigram indexes. Run this file again (it is idempotent) on a
-- database bootstrapped before the search index existed.
CREATE SCHEMA IF NOT EXISTS extensions;
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA extensions;
GRANT USAGE ON SCHEMA extensions TO product_svc;

-- No service keeps anything in `public`.
REVOKE ALL ON SCHEMA public FROM PUBLIC;

-- Catalog search is `name ILIKE '%q%' OR description ILIKE '%q%'`: one
-- trigram index per column, so the search is two index scans (OR-ed)
-- instead of a scan of the whole table. pg_trgm is created in the schema
-- `extensions` by db/bootstrap.sql.
CREATE INDEX products_name_trgm_idx ON products USING gin (name extensions.gin_trgm_ops);
CREATE INDEX products_description_trgm_idx ON products USING gin (description extensions.gin_trgm_ops);

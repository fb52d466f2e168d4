-- A GIN index with fastupdate (the default) queues new entries in a pending
-- list that every search reads in full until a vacuum merges it: after a
-- bulk load of the catalog, a search that should take a millisecond
-- scanned thousands of pending entries, and the planner, costing that,
-- chose a scan of the whole table (bench/search, issue 31). Catalog rows
-- are written rarely (stock updates do not touch these columns and are
-- HOT), searched often: entries go straight into the index.
ALTER INDEX products_name_trgm_idx SET (fastupdate = off);
ALTER INDEX products_description_trgm_idx SET (fastupdate = off);
SELECT gin_clean_pending_list('products_name_trgm_idx');
SELECT gin_clean_pending_list('products_description_trgm_idx');

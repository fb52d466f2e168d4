-- The invariants of the event flow (docs/events.md), checked as an
-- administrator once every outbox is drained and every consumer caught up:
-- one row (what, which) per violation, none when all hold. The event tests
-- read it (services/fulfillment/tests); db/invariants.sql holds the rest.
SELECT 'confirmed order without exactly one shipment' AS what, o.number::text AS which
FROM orders.orders o
WHERE o.status IN ('CONFIRMED', 'CANCELLED')
  AND (SELECT count(*) FROM fulfillment.shipments s WHERE s.order_id = o.id) <> 1
UNION ALL
SELECT 'cancelled order with a live shipment', o.number::text
FROM orders.orders o JOIN fulfillment.shipments s ON s.order_id = o.id
WHERE o.status = 'CANCELLED' AND s.status = 'PREPARING'
UNION ALL
SELECT 'shipment of an order never confirmed', s.order_id::text
FROM fulfillment.shipments s LEFT JOIN orders.orders o ON o.id = s.order_id
WHERE o.status IS NULL OR o.status NOT IN ('CONFIRMED', 'CANCELLED')
UNION ALL
SELECT 'shipped shipment whose order does not know it', s.order_id::text
FROM fulfillment.shipments s JOIN orders.orders o ON o.id = s.order_id
WHERE s.status = 'SHIPPED' AND o.fulfillment_status IS DISTINCT FROM 'SHIPPED'
UNION ALL
SELECT 'unpublished event', subject || ' ' || aggregate_id FROM orders.outbox WHERE published_at IS NULL
UNION ALL
SELECT 'unpublished event', subject || ' ' || aggregate_id FROM fulfillment.outbox WHERE published_at IS NULL
UNION ALL
SELECT 'unpublished event', subject || ' ' || aggregate_id FROM product.outbox WHERE published_at IS NULL;

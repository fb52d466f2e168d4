-- The invariants of docs/contract.md, checked across the three schemas as an
-- administrator: one row (what, which) for every violation, none when all
-- hold. Read by the test kit after every saga test (crates/testkit) and by
-- bench/run after its checkout load.
SELECT 'stock does not balance' AS what, sku AS which
FROM product.products WHERE stock_added <> available + held + sold OR available < 0
UNION ALL
SELECT 'held or sold stock differs from reservations', p.sku
FROM product.products p
LEFT JOIN (SELECT l.product_id,
                  SUM(l.quantity) FILTER (WHERE r.status = 'HELD') AS held,
                  SUM(l.quantity) FILTER (WHERE r.status = 'COMMITTED') AS sold
           FROM product.reservation_lines l JOIN product.reservations r ON r.id = l.reservation_id
           GROUP BY l.product_id) x ON x.product_id = p.id
WHERE p.held <> COALESCE(x.held, 0) OR p.sold <> COALESCE(x.sold, 0)
UNION ALL
SELECT 'confirmed order without a matching committed reservation', o.number::text
FROM orders.orders o
LEFT JOIN product.reservations r ON r.id = o.id
WHERE o.status = 'CONFIRMED' AND (r.status IS DISTINCT FROM 'COMMITTED'
   OR EXISTS (SELECT product_id, quantity FROM orders.order_items WHERE order_id = o.id
              EXCEPT SELECT product_id, quantity FROM product.reservation_lines WHERE reservation_id = o.id)
   OR EXISTS (SELECT product_id, quantity FROM product.reservation_lines WHERE reservation_id = o.id
              EXCEPT SELECT product_id, quantity FROM orders.order_items WHERE order_id = o.id))
UNION ALL
-- order_items has no currency: the lines of a CONFIRMED or CANCELLED order
-- are its reservation's, which carry the currency each was priced in.
SELECT DISTINCT 'order lines priced in another currency than the order', o.number::text
FROM orders.orders o
JOIN product.reservation_lines l ON l.reservation_id = o.id
WHERE o.status IN ('CONFIRMED', 'CANCELLED') AND l.currency <> o.currency
UNION ALL
SELECT 'rejected or cancelled order still holds stock', o.number::text
FROM orders.orders o JOIN product.reservations r ON r.id = o.id
WHERE o.status IN ('REJECTED', 'CANCELLED') AND r.status IN ('HELD', 'COMMITTED')
UNION ALL
SELECT 'committed reservation without a confirmed order', r.id::text
FROM product.reservations r LEFT JOIN orders.orders o ON o.id = r.id
WHERE r.status = 'COMMITTED' AND o.status IS DISTINCT FROM 'CONFIRMED'
UNION ALL
SELECT 'two orders for one (user, idempotency key)', user_id || ' ' || idempotency_key
FROM orders.orders GROUP BY user_id, idempotency_key HAVING count(*) > 1
UNION ALL
SELECT 'order pending or with work left', o.number::text
FROM orders.orders o
WHERE o.status = 'PENDING' OR EXISTS (SELECT 1 FROM orders.order_followups f WHERE f.order_id = o.id)
UNION ALL
-- The outbox (docs/events.md): a confirmed or cancelled order was confirmed
-- once, a cancelled one cancelled once, and nothing else has an event.
SELECT 'order without exactly one confirmed event', o.number::text
FROM orders.orders o
WHERE o.status IN ('CONFIRMED', 'CANCELLED')
  AND (SELECT count(*) FROM orders.outbox e
       WHERE e.subject = 'shop.order.confirmed' AND e.aggregate_id = o.id::text) <> 1
UNION ALL
SELECT 'cancelled order without exactly one cancelled event', o.number::text
FROM orders.orders o
WHERE o.status = 'CANCELLED'
  AND (SELECT count(*) FROM orders.outbox e
       WHERE e.subject = 'shop.order.cancelled' AND e.aggregate_id = o.id::text) <> 1
UNION ALL
SELECT 'event of an order never confirmed or cancelled', e.aggregate_id
FROM orders.outbox e LEFT JOIN orders.orders o ON o.id::text = e.aggregate_id
WHERE o.status IS NULL
   OR (e.subject = 'shop.order.confirmed' AND o.status NOT IN ('CONFIRMED', 'CANCELLED'))
   OR (e.subject = 'shop.order.cancelled' AND o.status <> 'CANCELLED');

-- Stage netd: net dispenses (stage dr, is_net) with their pack dispense (pd_key).
--
-- A whole-pack dispense is one pack dispense.  Split (拆零) dispenses of one code at
-- one site share a pack while their running total of smallest units stays within
-- the product's pack_units: pack index = ceil(running units / pack_units) - 1, so
-- 7 + 7 units of a 14-unit pack are one pack dispense and a further 7 units a second
-- one.  The product is the event's product_code, else the smallest product_code
-- any event of the code carries; when its pack_units is unknown (no products
-- master, product not listed) the limit cannot be judged and all split dispenses of
-- the code at that site count as ONE pack dispense (no finding from split sales alone).
-- Output: the ev columns of each net dispense, and pd_key.
WITH net AS (
  SELECT event_id, trace_code, event_type, event_time, ev_sec, site_id, product_norm, expiry, code_expiry,
         quantity, split_sale, patient_id, prescriber_id, settlement_id, code_product, counterparty,
         fund_money, total_money
  FROM dr
  WHERE is_net
),
split_codes AS (
  SELECT DISTINCT trace_code FROM net WHERE split_sale
),
code_product AS (
  SELECT e.trace_code, MIN(e.product_norm) AS product_norm
  FROM ev e JOIN split_codes s ON s.trace_code = e.trace_code
  WHERE e.product_norm IS NOT NULL
  GROUP BY e.trace_code
),
split_sales AS (
  SELECT n.*, p.pack_units,
         SUM(n.quantity) OVER (PARTITION BY n.trace_code, n.site_id ORDER BY n.event_time, n.event_id
                               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum_units
  FROM net n
  LEFT JOIN code_product cp ON cp.trace_code = n.trace_code
  LEFT JOIN products p ON p.product_norm = COALESCE(n.product_norm, cp.product_norm)
  WHERE n.split_sale
)
SELECT net.*, 'W:' || event_id AS pd_key
FROM net
WHERE NOT split_sale
UNION ALL
SELECT event_id, trace_code, event_type, event_time, ev_sec, site_id, product_norm, expiry, code_expiry,
       quantity, split_sale, patient_id, prescriber_id, settlement_id, code_product, counterparty,
       fund_money, total_money,
       CASE WHEN pack_units IS NULL OR pack_units <= 0 THEN 'S:' || site_id || ':0'
            ELSE 'S:' || site_id || ':' ||
                 CAST(GREATEST(CAST(CEIL(cum_units / pack_units) AS BIGINT) - 1, CAST(0 AS BIGINT)) AS STRING)
       END AS pd_key
FROM split_sales

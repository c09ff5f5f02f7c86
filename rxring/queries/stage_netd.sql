-- Stage netd: net dispenses (stage dr, is_net) with their pack dispense (pd_key).
--
-- A whole-pack dispense is one pack dispense.  Split (拆零) dispenses of one code at
-- one site share a pack while their running total of smallest units stays within
-- the product's pack_units: pack index = ceil(running units / pack_units) - 1, so
-- 7 + 7 units of a 14-unit pack are one pack dispense and a further 7 units a second
-- one.  The product is the event's product_code, else the code's first known
-- product_code; when its pack_units is unknown (no products master, product not
-- listed) the limit cannot be judged and all split dispenses of the code at that
-- site count as ONE pack dispense (no finding from split sales alone).
WITH code_product AS (
  SELECT trace_code, product_norm
  FROM (SELECT trace_code, product_norm,
               ROW_NUMBER() OVER (PARTITION BY trace_code ORDER BY event_time, event_id) AS rn
        FROM ev WHERE product_norm IS NOT NULL) firsts
  WHERE rn = 1
),
net AS (
  SELECT e.*, p.pack_units
  FROM ev e
  JOIN dr ON dr.event_id = e.event_id AND dr.is_net
  LEFT JOIN code_product cp ON cp.trace_code = e.trace_code
  LEFT JOIN products p ON p.product_norm = COALESCE(e.product_norm, cp.product_norm)
),
cumulated AS (
  SELECT net.*,
         SUM(CASE WHEN split_sale THEN quantity ELSE 0.0 END)
           OVER (PARTITION BY trace_code, site_id ORDER BY event_time, event_id
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum_units
  FROM net
)
SELECT cumulated.*,
       CASE WHEN NOT split_sale THEN 'W:' || event_id
            WHEN pack_units IS NULL OR pack_units <= 0 THEN 'S:' || site_id || ':0'
            ELSE 'S:' || site_id || ':' ||
                 CAST(GREATEST(CAST(CEIL(cum_units / pack_units) AS BIGINT) - 1, CAST(0 AS BIGINT)) AS STRING)
       END AS pd_key
FROM cumulated
